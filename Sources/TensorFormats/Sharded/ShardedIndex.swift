#if canImport(Glibc)
import Glibc
#endif

/// Reads a sharded checkpoint through its index file (`model.safetensors.index.json`,
/// `pytorch_model.bin.index.json`):
///
///     {"metadata": {"total_size": 123, …}, "weight_map": {"<tensor>": "<shard file>", …}}
///
/// Shard names must be relative paths inside the index's folder (no absolute paths, no `..`) with the
/// expected extension. Every tensor the map lists must be in its shard, and every tensor of every shard
/// must be listed for that shard: anything else is an `.inconsistent` error naming the tensor.
/// The result lists tensors shard by shard (shards in file-name order), each with its shard in `file`;
/// its metadata is the index's `metadata` followed by the shards' own entries, its notes the shards' notes.
public enum ShardedIndex {
    public static let maxIndexSize = 64 << 20

    public static func read(indexPath: String, shardExtension: String, format: FileFormat,
                            openShard: (String) throws -> Checkpoint) throws -> Checkpoint {
        let index = try MappedFile(path: indexPath)
        guard index.size <= maxIndexSize else {
            throw FormatError(.limitExceeded(what: "index size", value: String(index.size), limit: String(maxIndexSize)),
                              file: indexPath)
        }
        let json: JSONValue
        do {
            json = try index.withBytes { try JSONValue.parse($0) }
        } catch let error as JSONParseError {
            if case .duplicateKey(let key) = error.reason {
                throw FormatError(.duplicateName(key), file: indexPath, at: .byte(error.offset))
            }
            throw FormatError(.invalidJSON(error.detail), file: indexPath, at: .byte(error.offset))
        }
        guard let weightMap = json["weight_map"]?.objectMembers else {
            throw FormatError(.invalidHeader("the index has no \"weight_map\" object"), file: indexPath)
        }
        let folder = indexPath.utf8.lastIndex(of: UInt8(ascii: "/")).map { String(indexPath.utf8[...$0])! } ?? ""

        // Tensor names and shard file names are separate name spaces: a tensor may be called like a file.
        // Names are bytes (the JSON parser already refused byte-identical duplicates): the tensor -> shard
        // map and the shard set are keyed by exact UTF-8 bytes, the shards read in byte order.
        var shardOfTensor: [ExactName: String] = [:]
        var shardSet = Set<ExactName>()
        for member in weightMap {
            guard let shard = member.value.stringValue else {
                throw FormatError(.invalidHeader("weight_map value is not a file name"), file: indexPath, at: .tensor(member.key))
            }
            try checkShardName(shard, extension: shardExtension, indexPath: indexPath, tensor: member.key)
            shardSet.insert(ExactName(shard))
            shardOfTensor[ExactName(member.key)] = shard
        }
        let shardNames = shardSet.map(\.string).sorted { $0.precedesName($1) }

        var tensors: [Tensor] = []
        var found = Set<ExactName>()
        var metadata = (json["metadata"]?.objectMembers ?? []).map { MetadataEntry($0.key, metadataValue($0.value)) }
        var notes: [String] = []
        for shard in shardNames {
            let checkpoint = try openShard(folder + shard)
            // Shard-level metadata and notes are kept: a key the index (or an earlier shard) already has
            // with the same value is not repeated; a different value is kept under "<shard>:<key>".
            for entry in checkpoint.metadata {
                switch metadata[entry.key] {
                case nil: metadata.append(entry)
                case entry.value?: break
                default: metadata.append(MetadataEntry("\(shard):\(entry.key)", entry.value))
                }
            }
            notes += checkpoint.notes.map { "\(shard): \($0)" }
            for tensor in checkpoint.tensors {
                guard let listed = shardOfTensor[ExactName(tensor.name)] else {
                    throw FormatError(.inconsistent("tensor is in shard \(shard) but missing from the index's weight_map"),
                                      file: indexPath, at: .tensor(tensor.name))
                }
                guard listed.isSameName(as: shard) else {
                    throw FormatError(.inconsistent("the index puts it in \(listed) but it is (also) in \(shard)"),
                                      file: indexPath, at: .tensor(tensor.name))
                }
                guard found.insert(ExactName(tensor.name)).inserted else {
                    throw FormatError(.duplicateName(tensor.name), file: folder + shard, at: .tensor(tensor.name))
                }
                tensors.append(Tensor(info: tensor.info, data: tensor.data, file: shard))
            }
        }
        for member in weightMap where !found.contains(ExactName(member.key)) {
            throw FormatError(.inconsistent("listed in weight_map for \(shardOfTensor[ExactName(member.key)] ?? "?") but not in that shard"),
                              file: indexPath, at: .tensor(member.key))
        }
        return Checkpoint(path: indexPath, format: format, metadata: metadata, tensors: tensors, notes: notes,
                          shards: shardNames)
    }

    private static func checkShardName(_ name: String, extension ext: String, indexPath: String, tensor: String) throws {
        // By bytes, as the file system splits paths: `Character`s would hide a "/" behind a prepended
        // scalar ("a\u{600}/../x" splits into "a\u{600}/.." and "x") and miss the ".." component.
        let bytes = name.utf8
        let parts = bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        let unsafe = bytes.isEmpty || bytes.first == UInt8(ascii: "/") || bytes.contains(UInt8(ascii: "\\"))
            || bytes.contains(0) || parts.contains(where: { $0.isEmpty || $0.elementsEqual("..".utf8) })
        guard !unsafe, name.hasNameSuffix(ext) else {
            throw FormatError(.refused("shard name \"\(name)\" must be a relative path inside the index's folder ending in \(ext)"),
                              file: indexPath, at: .tensor(tensor))
        }
    }

    /// Index metadata keeps JSON types: integers exact, other values as their JSON text.
    private static func metadataValue(_ value: JSONValue) -> MetadataValue {
        switch value {
        case .string(let text): return .string(text)
        case .bool(let flag): return .bool(flag)
        case .number:
            if let int = value.int64Value { return .int64(int) }
            if let uint = value.uint64Value { return .uint64(uint) }
            return .float64(value.doubleValue ?? 0)
        default: return .string(value.serialized())
        }
    }
}
