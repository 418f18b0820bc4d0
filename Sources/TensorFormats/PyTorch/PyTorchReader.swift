/// Reads PyTorch checkpoints (`.bin`, `.pt`, `.pth`) without executing anything.
///
/// Two containers exist: the zip archive `torch.save` writes since PyTorch 1.6 (`TorchZipReader`) and the
/// older stream of pickles (`TorchLegacyReader`). Both describe their object with a pickle read by the
/// restricted `Unpickler`; storages are referenced from it by key and stay in the mapped file. This file
/// turns the unpickled object into a `Checkpoint`: names and metadata from `TorchStateTree`, tensor data
/// as `TorchTensorData` views, tensors in the order their data lies in the file. What views materialise
/// beyond the storage they cover is capped per checkpoint (`TorchMaterialization`, `ReadOptions`).
public enum PyTorchReader {
    public static func read(_ file: MappedFile, options: ReadOptions = ReadOptions()) throws -> Checkpoint {
        try read(file, budget: TorchMaterialization(limit: options.maxMaterializedBytes))
    }

    static func read(_ file: MappedFile, budget: TorchMaterialization) throws -> Checkpoint {
        if file.withBytes({ isZip($0) }) { return try TorchZipReader.read(file, budget: budget) }
        if file.withBytes({ TorchLegacyReader.hasMagic($0) }) { return try TorchLegacyReader.read(file, budget: budget) }
        if let error = file.withBytes({ FileSniffer.notFormat("PyTorch", $0) }) { throw error.inFile(file.path) }
        let found = file.withBytes { TorchLegacyReader.hexPrefix($0) }
        throw FormatError(.badMagic(expected: "a zip archive (50 4b 03 04) or the legacy torch.save magic number",
                                    found: found), file: file.path, at: .byte(0))
    }

    /// Whether the bytes start with the legacy torch.save magic pickle (a zip archive could also be an npz).
    public static func hasLegacyMagic(_ bytes: UnsafeRawBufferPointer) -> Bool {
        TorchLegacyReader.hasMagic(bytes)
    }

    /// Whether a zip archive is a torch.save one (a `<name>/data.pkl` member) rather than, say, an npz.
    public static func isTorchArchive(_ file: MappedFile) -> Bool {
        guard let archive = try? ZipArchive(file: file) else { return false }
        return archive.entries.contains { entry in
            let parts = entry.name.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
            return parts.count == 2 && parts[1].elementsEqual("data.pkl".utf8)
        }
    }

    /// Reads a sharded checkpoint through its `pytorch_model.bin.index.json`, with the same checks as a
    /// sharded safetensors checkpoint (every listed tensor in its shard, no shard tensor unlisted). The
    /// materialisation cap applies to all shards together.
    public static func readSharded(indexPath: String, options: ReadOptions = ReadOptions()) throws -> Checkpoint {
        let budget = TorchMaterialization(limit: options.maxMaterializedBytes)
        return try ShardedIndex.read(indexPath: indexPath, shardExtension: ".bin", format: .pytorch) { shard in
            try read(MappedFile(path: shard), budget: budget)
        }
    }

    private static func isZip(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 4 && bytes[0] == 0x50 && bytes[1] == 0x4B && bytes[2] == 0x03 && bytes[3] == 0x04
    }

    public static func read(path: String, options: ReadOptions = ReadOptions()) throws -> Checkpoint {
        try read(MappedFile(path: path), options: options)
    }

    /// Builds the checkpoint from an unpickled object. `locate` gives each storage's bytes in the file.
    /// `format` describes the container for the notes.
    static func assemble(file: MappedFile, root: PickleValue, format: String, budget: TorchMaterialization,
                         locate: (TorchStorageRef) throws -> TorchStorageLocation,
                         extraNotes: [String] = []) throws -> Checkpoint {
        let tree = try TorchStateTree(root: root, rootName: stem(of: file.path))
        var placed: [(tensor: Tensor, position: Int, index: Int)] = []
        var storageUsers: [ExactName: Int] = [:]
        var strided = 0
        var views: [TorchMaterialization.View] = []
        views.reserveCapacity(tree.tensors.count)
        for (index, named) in tree.tensors.enumerated() {
            let ref = named.tensor
            let location: TorchStorageLocation
            do { location = try locate(ref.storage) } catch let error as FormatError { throw error.at(.tensor(named.name)) }
            guard location.byteCount == ref.storage.viewByteCount else {
                throw FormatError(.sizeMismatch(expected: ref.storage.viewByteCount, found: location.byteCount),
                                  at: .tensor(named.name))
            }
            let info = try TensorInfo(name: named.name, dtype: ref.dtype, shape: ref.logicalShape)
            let data = TorchTensorData(file: file, name: named.name, storageStart: location.start, storageBytes: location.byteCount,
                                       tensor: ref, byteCount: info.byteCount, bigEndian: location.bigEndian)
            if !data.isContiguous { strided += 1 }
            storageUsers[ExactName(ref.storage.key), default: 0] += 1
            let range = data.touchedRange
            placed.append((Tensor(info: info, data: data), range.offset, index))
            views.append(.init(name: named.name, start: range.offset, span: range.count, bytes: info.byteCount))
        }
        try budget.charge(views)
        placed.sort { ($0.position, $0.index) < ($1.position, $1.index) }
        var notes = [format] + extraNotes + tree.notes
        let shared = storageUsers.values.filter { $0 > 1 }
        if !shared.isEmpty {
            notes.append("\(shared.reduce(0, +)) tensors share \(shared.count) storage\(shared.count > 1 ? "s" : "") (tied weights or views)")
        }
        if strided > 0 {
            notes.append("\(strided) tensor\(strided > 1 ? "s are" : " is a") non-contiguous view\(strided > 1 ? "s" : ""), copied to row-major order when read")
        }
        return Checkpoint(path: file.path, format: .pytorch, metadata: tree.metadata,
                          tensors: placed.map(\.tensor), notes: notes)
    }

    /// The file name without its directory and last extension (`mm_projector.bin` gives `mm_projector`).
    static func stem(of path: String) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
        return String(name[..<dot])
    }
}

/// Where a storage's bytes are: absolute file offset, length, and their byte order.
struct TorchStorageLocation {
    let start: Int
    let byteCount: Int
    let bigEndian: Bool
}
