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

private func writeFile(_ path: String, _ data: UnsafeRawPointer, _ size: Int) -> Bool {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else { return false }
    var written = 0
    while written < size {
        let count = write(descriptor, data + written, size - written)
        if count <= 0 { break }
        written += count
    }
    close(descriptor)
    return written == size
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    if !prepared {
        mkdir(folder, 0o700)
        let block = [UInt8](unsafeUninitializedCapacity: 4096) { buffer, count in
            for index in 0..<4096 { buffer[index] = UInt8(truncatingIfNeeded: index &* 31) }
            count = 4096
        }
        prepared = block.withUnsafeBytes { writeFile(folder + "/w.bin", $0.baseAddress!, 4096) }
    }
    guard writeFile(inputPath, data, size), let file = try? MappedFile(path: inputPath) else { return 0 }
    guard let checkpoint = try? ONNXReader.read(file) else { return 0 }
    for tensor in checkpoint.tensors {
        _ = try? tensor.withBytes { bytes in
            for byte in bytes { sink &+= byte }
        }
    }
    for entry in checkpoint.metadata {
        sink &+= UInt8(truncatingIfNeeded: entry.value.json.serialized().utf8.count)
    }
    for note in checkpoint.notes { sink &+= UInt8(truncatingIfNeeded: note.utf8.count) }
    return 0
}
