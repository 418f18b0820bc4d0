// libFuzzer entry for the restricted unpickler and the PyTorch readers built on it.
// Built by Tests/Fuzz/build.sh Unpickler, not by `swift build`.
//
// Inputs starting like a checkpoint (a zip archive or the legacy magic pickle) are read as a whole file;
// any other input is the object pickle of a legacy torch.save file, placed after fixed magic, protocol and
// system-info pickles, so mutations reach the unpickler directly (its key list and storages follow it).
import TensorFormats

private let legacyPrefix: [UInt8] =
    [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]  // magic number
    + [0x80, 0x02, 0x4D, 0xE9, 0x03, 0x2E]  // protocol version 1001
    + [0x80, 0x02, 0x7D, 0x2E]  // system info: {}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let isWholeFile = PyTorchReader.hasLegacyMagic(input) || (size >= 2 && input[0] == 0x50 && input[1] == 0x4B)
    let bytes = isWholeFile ? Array(input) : legacyPrefix + Array(input)
    let file = bytes.withUnsafeBytes { try? MappedFile(copying: $0, path: "fuzz.pt") }
    // Views may repeat at most 64 MiB of storage bytes here (4 GiB by default), so every accepted input
    // can be gathered quickly under ASan's memory limits.
    guard let file, let checkpoint = try? PyTorchReader.read(file, options: ReadOptions(maxMaterializedBytes: 64 << 20))
    else { return 0 }
    // Accepted files must be fully readable (strided views gathered, big-endian storages swapped).
    for tensor in checkpoint.tensors {
        _ = try? tensor.withBytes { $0.reduce(0) { $0 &+ $1 } }
    }
    return 0
}
