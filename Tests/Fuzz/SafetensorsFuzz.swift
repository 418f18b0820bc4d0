// libFuzzer entry for the safetensors reader (and, through it, the strict JSON parser).
// Built by Tests/Fuzz/build.sh, not by `swift build`.
import TensorFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard let file = try? MappedFile(copying: UnsafeRawBufferPointer(start: data, count: size), path: "fuzz.safetensors")
    else { return 0 }
    if let checkpoint = try? SafetensorsReader.read(file) {
        // Accepted files must be fully readable.
        for tensor in checkpoint.tensors {
            _ = try? tensor.withBytes { $0.reduce(0) { $0 &+ $1 } }
        }
    }
    return 0
}
