// libFuzzer entry for the .npy reader (header literal parser, descr mapping, byte-swap / Fortran reordering).
// Built by Tests/Fuzz/build.sh Npy, not by `swift build`.
import TensorFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard let file = try? MappedFile(copying: UnsafeRawBufferPointer(start: data, count: size), path: "fuzz.npy")
    else { return 0 }
    if let checkpoint = try? NpyReader.read(file) {
        // Accepted files must be fully readable, reordered or not.
        for tensor in checkpoint.tensors {
            _ = try? tensor.withBytes { $0.reduce(0) { $0 &+ $1 } }
        }
    }
    return 0
}
