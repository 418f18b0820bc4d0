// libFuzzer entry: the zip archive reader and the .npz reader on top of it.
// Every input a reader accepts is read in full and taken through convert, quantize and validate
// (FuzzEntries.WriterRoundTrip). The body is FuzzEntries.npz (Tests/Fuzz/Entries), which `swift test` also
// replays over every committed corpus file; this file only hands libFuzzer's input to it and turns a finding
// into a crash. Built by Tests/Fuzz/build.sh, never by `swift build`.
import FuzzEntries

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let findings = FuzzEntries.npz(UnsafeRawBufferPointer(start: data, count: size))
    if !findings.isEmpty { fatalError(findings.joined(separator: "\n")) }
    return 0
}
