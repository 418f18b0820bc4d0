// libFuzzer entry for the ONNX reader (the wire scanner, protobuf-c's unpacking, tensors from initializers,
// Constant nodes and external data). Built by Tests/Fuzz/build.sh against an instrumented TensorFormats,
// never by `swift build`. Each input is written as model.onnx in a folder of its own in /dev/shm that also
// holds a 4 KiB data file `w.bin`, so external-data locations, offsets and lengths are exercised against a
// real file. Every tensor's bytes are touched, so a range the reader accepted but did not validate would
// fault under AddressSanitizer. Refusals are the expected outcome. (libprotobuf-c itself is the system's,
// not instrumented: AddressSanitizer sees its allocations, not its reads.)
import TensorFormats
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private let folder = "/dev/shm/connkit-fuzz-onnx-\(getpid())"
private let inputPath = folder + "/model.onnx"
/// Keeps the byte reads from being optimised away.
nonisolated(unsafe) private var sink: UInt8 = 0
nonisolated(unsafe) private var prepared = false

/// Writes `size` bytes to `path` with stdio (the reader takes a file in a folder, for its external data).
private func writeFile(_ path: String, _ data: UnsafeRawPointer, _ size: Int) -> Bool {
    guard let stream = fopen(path, "wb") else { return false }
    let complete = size == 0 || fwrite(data, 1, size, stream) == size
    return fclose(stream) == 0 && complete
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    if !prepared {
        mkdir(folder, 0o700)
        let block = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        prepared = block.withUnsafeBytes { writeFile(folder + "/w.bin", $0.baseAddress!, 4096) }
    }
    guard writeFile(inputPath, data, size), let file = try? MappedFile(path: inputPath),
          let checkpoint = try? ONNXReader.read(file) else { return 0 }
    // Every byte of every tensor, and every metadata value and note.
    let sums = checkpoint.tensors.map { tensor in (try? tensor.withBytes { $0.reduce(0, &+) }) ?? 0 }
    sink &+= sums.reduce(0, &+)
    sink &+= UInt8(truncatingIfNeeded: checkpoint.metadata.map { $0.value.json.serialized().utf8.count }.reduce(0, +))
    sink &+= UInt8(truncatingIfNeeded: checkpoint.notes.map(\.utf8.count).reduce(0, +))
    return 0
}
