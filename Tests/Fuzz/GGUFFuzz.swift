// libFuzzer entry for the GGUF reader. Built by Tests/Fuzz/build.sh against an instrumented
// TensorFormats, never by `swift build`. Each input is written to a file in /dev/shm (the reader
// takes a MappedFile), parsed, and every tensor's bytes are touched, so any range the reader accepted
// but did not validate would fault under AddressSanitizer. Refusals are the expected outcome.
import TensorFormats
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private let inputPath = "/dev/shm/connkit-fuzz-gguf-\(getpid()).gguf"
/// Keeps the byte reads from being optimised away.
nonisolated(unsafe) private var sink: UInt8 = 0

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let descriptor = open(inputPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else { return 0 }
    var written = 0
    while written < size {
        let count = write(descriptor, data + written, size - written)
        if count <= 0 { break }
        written += count
    }
    close(descriptor)
    guard written == size, let file = try? MappedFile(path: inputPath) else { return 0 }
    guard let checkpoint = try? GGUFReader.read(file) else { return 0 }
    for tensor in checkpoint.tensors {
        _ = try? tensor.withBytes { bytes in
            for byte in bytes { sink &+= byte }
        }
    }
    for entry in checkpoint.metadata {
        sink &+= UInt8(truncatingIfNeeded: entry.value.json.serialized().utf8.count)
    }
    return 0
}
