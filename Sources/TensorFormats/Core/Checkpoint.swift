/// The container formats connkit reads.
public enum FileFormat: String, Sendable, CaseIterable {
    case safetensors, npy, npz, gguf, pytorch, onnx
}

/// A parsed, validated tensor file (or a set of shards): its metadata and its tensors, in the order
/// their data lies in the file. Tensor data stays in the mapped file(s).
public struct Checkpoint: Sendable {
    public let path: String
    public let format: FileFormat
    public let metadata: [MetadataEntry]
    public let tensors: [Tensor]
    /// Facts about how the file was read that a user should see (e.g. a stripped `{"model": …}` wrapper).
    public let notes: [String]
    /// For sharded checkpoints: the shard files, in order.
    public let shards: [String]

    public init(path: String, format: FileFormat, metadata: [MetadataEntry], tensors: [Tensor],
                notes: [String] = [], shards: [String] = []) {
        self.path = path
        self.format = format
        self.metadata = metadata
        self.tensors = tensors
        self.notes = notes
        self.shards = shards
    }

    public func tensor(named name: String) -> Tensor? {
        tensors.first(where: { $0.name.isSameName(as: name) })
    }

    public var totalBytes: Int { tensors.reduce(0) { $0 + $1.info.byteCount } }

    /// The files the checkpoint was read from: `path`, then each shard (beside the index).
    public var files: [String] {
        let directory = path.lastIndex(of: "/").map { String(path[...$0]) } ?? ""
        return [path] + shards.map { directory + $0 }
    }
}
