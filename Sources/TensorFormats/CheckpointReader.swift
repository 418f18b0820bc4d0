#if canImport(Glibc)
import Glibc
#endif

/// How checkpoints are read: limits a user may change.
public struct ReadOptions: Sendable, Equatable {
    /// 4 GiB.
    public static let defaultMaxMaterializedBytes = 4 << 30

    /// The most bytes a checkpoint's tensor views may materialise beyond the distinct storage bytes they cover
    /// (expanded/stride-0, overlapping or tied PyTorch views; other formats cover their bytes exactly).
    /// Summed over the files of a sharded checkpoint. `--max-materialize` on the command line.
    public var maxMaterializedBytes: Int

    public init(maxMaterializedBytes: Int = ReadOptions.defaultMaxMaterializedBytes) {
        self.maxMaterializedBytes = maxMaterializedBytes
    }
}

/// Opens any tensor file connkit reads, choosing the reader by extension, or by magic bytes when the
/// extension says nothing. A folder is read through its sharded-checkpoint index. Anything that is not a
/// regular file (a FIFO, socket or device), or a folder, is refused without blocking (`MappedFile`).
public enum CheckpointReader {
    public static let safetensorsIndexName = "model.safetensors.index.json"

    public static func open(_ path: String, options: ReadOptions = ReadOptions()) throws -> Checkpoint {
        if isDirectory(path) { return try openFolder(path, options: options) }
        if path.hasSuffix(".safetensors.index.json") {
            return try ShardedIndex.read(indexPath: path, shardExtension: ".safetensors", format: .safetensors) { shard in
                try SafetensorsReader.read(MappedFile(path: shard))
            }
        }
        if path.hasSuffix(".bin.index.json") { return try PyTorchReader.readSharded(indexPath: path, options: options) }
        let file = try MappedFile(path: path)
        switch fileExtension(path) {
        case "safetensors": return try SafetensorsReader.read(file)
        case "gguf": return try GGUFReader.read(file)
        case "npy": return try NpyReader.read(file)
        case "npz": return try NpzReader.read(file)
        case "bin", "pt", "pth": return try PyTorchReader.read(file, options: options)
        case "onnx": return try ONNXReader.read(file)
        default: break
        }
        return try sniff(file, options: options)
    }

    private static func openFolder(_ path: String, options: ReadOptions) throws -> Checkpoint {
        let folder = path.hasSuffix("/") ? path : path + "/"
        for name in [safetensorsIndexName, "model.safetensors", "pytorch_model.bin.index.json", "pytorch_model.bin",
                     "model.onnx"]
        where exists(folder + name) {
            return try open(folder + name, options: options)
        }
        throw FormatError(.unsupportedFormat("no checkpoint in this folder (none of \(safetensorsIndexName), model.safetensors, "
            + "pytorch_model.bin.index.json, pytorch_model.bin, model.onnx); \(FolderContents.summary(of: path))"), file: path)
    }

    /// Picks a reader from the first bytes of a file with an unfamiliar extension.
    private static func sniff(_ file: MappedFile, options: ReadOptions) throws -> Checkpoint {
        let head: [UInt8] = file.withBytes { Array($0.prefix(9)) }
        if head.starts(with: Array("GGUF".utf8)) { return try GGUFReader.read(file) }
        if head.starts(with: [0x93] + Array("NUMPY".utf8)) { return try NpyReader.read(file) }
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) || head.starts(with: [0x50, 0x4B, 0x05, 0x06]) {
            if PyTorchReader.isTorchArchive(file) { return try PyTorchReader.read(file, options: options) }
            return try NpzReader.read(file)
        }
        if head.count >= 9, head[8] == UInt8(ascii: "{") || head[8] == UInt8(ascii: " ") {
            return try SafetensorsReader.read(file)
        }
        if file.withBytes({ PyTorchReader.hasLegacyMagic($0) }) { return try PyTorchReader.read(file, options: options) }
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
