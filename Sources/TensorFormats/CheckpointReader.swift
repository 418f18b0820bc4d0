#if canImport(Glibc)
import Glibc
#endif

/// Opens any tensor file connkit reads, choosing the reader by extension, or by magic bytes when the
/// extension says nothing. A folder is read through its sharded-checkpoint index.
public enum CheckpointReader {
    public static let safetensorsIndexName = "model.safetensors.index.json"

    public static func open(_ path: String) throws -> Checkpoint {
        if isDirectory(path) { return try openFolder(path) }
        if path.hasSuffix(".safetensors.index.json") {
            return try ShardedIndex.read(indexPath: path, shardExtension: ".safetensors", format: .safetensors) { shard in
                try SafetensorsReader.read(MappedFile(path: shard))
            }
        }
        if path.hasSuffix(".bin.index.json") { return try PyTorchReader.readSharded(indexPath: path) }
        let file = try MappedFile(path: path)
        switch fileExtension(path) {
        case "safetensors": return try SafetensorsReader.read(file)
        case "gguf": return try GGUFReader.read(file)
        case "npy": return try NpyReader.read(file)
        case "npz": return try NpzReader.read(file)
        case "bin", "pt", "pth": return try PyTorchReader.read(file)
        case "onnx": return try ONNXReader.read(file)
        default: break
        }
        return try sniff(file)
    }

    private static func openFolder(_ path: String) throws -> Checkpoint {
        let folder = path.hasSuffix("/") ? path : path + "/"
        if exists(folder + safetensorsIndexName) { return try open(folder + safetensorsIndexName) }
        if exists(folder + "model.safetensors") { return try open(folder + "model.safetensors") }
        if exists(folder + "pytorch_model.bin.index.json") { return try open(folder + "pytorch_model.bin.index.json") }
        if exists(folder + "pytorch_model.bin") { return try open(folder + "pytorch_model.bin") }
        if exists(folder + "model.onnx") { return try open(folder + "model.onnx") }
        throw FormatError(.notFound("\(safetensorsIndexName) (or model.safetensors) in this folder"), file: path)
    }

    /// Picks a reader from the first bytes of a file with an unfamiliar extension.
    private static func sniff(_ file: MappedFile) throws -> Checkpoint {
        let head: [UInt8] = file.withBytes { Array($0.prefix(9)) }
        if head.starts(with: Array("GGUF".utf8)) { return try GGUFReader.read(file) }
        if head.starts(with: [0x93] + Array("NUMPY".utf8)) { return try NpyReader.read(file) }
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) || head.starts(with: [0x50, 0x4B, 0x05, 0x06]) {
            if PyTorchReader.isTorchArchive(file) { return try PyTorchReader.read(file) }
            return try NpzReader.read(file)
        }
        if head.count >= 9, head[8] == UInt8(ascii: "{") || head[8] == UInt8(ascii: " ") {
            return try SafetensorsReader.read(file)
        }
        if file.withBytes({ PyTorchReader.hasLegacyMagic($0) }) { return try PyTorchReader.read(file) }
        throw FormatError(.unsupportedFormat(
            "unrecognised file type (expected .safetensors, .npy, .npz, .gguf, .bin/.pt/.pth, .onnx or a sharded-checkpoint folder)"),
            file: file.path)
    }

    /// The lower-cased extension of the path's last component (`""` when it has none).
    public static func fileExtension(_ path: String) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: ".") else { return "" }
        return name[name.index(after: dot)...].lowercased()
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }
}
