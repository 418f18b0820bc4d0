// Linked into every libFuzzer entry by Tests/Fuzz/build.sh (sanitizer builds only).
//
// Global tables that are built on first use (the built-in connector families, compiled once) live for the
// whole process, but LeakSanitizer does not recognise every pointer to them: Swift stores enum payload
// pointers with tag bits set. Building them here, with leak tracking off, keeps the first input that needs
// them from being reported as a leak; every allocation made while fuzzing is still tracked. connkit's signal
// handlers are installed at the first input, not here: libFuzzer sets its own after this function, and
// would not chain to ours (FuzzEntries.installsProcessGuard).
import FuzzEntries

@_silgen_name("__lsan_disable") func lsanDisable()
@_silgen_name("__lsan_enable") func lsanEnable()

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    lsanDisable()
    FuzzEntries.warmUp()
    lsanEnable()
    FuzzEntries.installsProcessGuard = true
    WriterRoundTrip.maxBytes = 256 << 10
    return 0
}
