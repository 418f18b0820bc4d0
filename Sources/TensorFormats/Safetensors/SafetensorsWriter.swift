/// Writes safetensors files: `__metadata__` first, then the tensors in the order given (their data in the
/// same order), compact JSON with keys `dtype`, `shape`, `data_offsets`, the header padded with spaces to
/// a multiple of 8 bytes as the reference writer does.
public enum SafetensorsWriter {
    public static func write(tensors: [OutputTensor], metadata: [MetadataEntry], to output: OutputFile) throws {
        let header = try headerBytes(tensors: tensors.map(\.info), metadata: metadata, path: output.path)
        try output.writeLE(UInt64(header.count))
        try output.write(header)
        for tensor in tensors {
            try tensor.write(to: output)
        }
    }

    /// The padded header. Refuses what safetensors cannot hold: block-quantized dtypes, duplicate names,
    /// a tensor named `__metadata__`.
    static func headerBytes(tensors: [TensorInfo], metadata: [MetadataEntry], path: String) throws -> [UInt8] {
        var members: [JSONValue.Member] = []
        if !metadata.isEmpty {
            var seen = Set<String>()
            for entry in metadata where !seen.insert(entry.key).inserted {
                throw FormatError(.duplicateName(entry.key), file: path, at: .key(entry.key))
            }
            members.append(.init("__metadata__", .object(metadata.map { .init($0.key, .string($0.value.text)) })))
        }
        var names = Set<String>()
        var offset = 0
        for info in tensors {
            guard let dtypeName = info.dtype.safetensorsName else {
                throw FormatError(.unconvertible(
                    "safetensors cannot hold \(info.dtype.rawValue) (a ggml block type); use --dtype f32|f16|bf16 to dequantize"),
                    file: path, at: .tensor(info.name))
            }
            guard info.name != "__metadata__", names.insert(info.name).inserted else {
                throw FormatError(.duplicateName(info.name), file: path, at: .tensor(info.name))
            }
            let end = offset + info.byteCount
            members.append(.init(info.name, .object([
                .init("dtype", .string(dtypeName)),
                .init("shape", .array(info.shape.map { .int($0) })),
                .init("data_offsets", .array([.int(offset), .int(end)])),
            ])))
            offset = end
        }
        var header = Array(JSONValue.object(members).serialized().utf8)
        let padding = (8 - header.count % 8) % 8
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding))
        guard header.count <= SafetensorsReader.maxHeaderSize else {
            throw FormatError(.limitExceeded(what: "header length", value: String(header.count),
                                             limit: String(SafetensorsReader.maxHeaderSize)), file: path)
        }
        return header
    }
}
