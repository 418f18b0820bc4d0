// libFuzzer entry for the zip archive reader (central directory, Zip64, data descriptors, bounded inflation, CRC)
// and the .npz reader on top of it. Built by Tests/Fuzz/build.sh Npz, not by `swift build`.
import TensorFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard let file = try? MappedFile(copying: UnsafeRawBufferPointer(start: data, count: size), path: "fuzz.npz")
    else { return 0 }
    // Every member of an accepted archive, whatever it holds: prefixes, whole contents, CRC checks.
    // A small inflation cap keeps the fuzzer's memory flat (the ratio check already bounds it by the input).
    if let archive = try? ZipArchive(file: file, maxInflatedBytes: 1 << 24) {
        for entry in archive.entries {
            _ = try? entry.withPrefix(64) { $0.count }
            _ = try? entry.withData { $0.reduce(0) { $0 &+ $1 } }
        }
    }
    if let checkpoint = try? NpzReader.read(file) {
        for tensor in checkpoint.tensors {
            _ = try? tensor.withBytes { $0.reduce(0) { $0 &+ $1 } }
        }
    }
    return 0
}
