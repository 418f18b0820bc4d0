/// Writes safetensors files exactly as the reference writer (`safetensors.serialize_file`, which
/// `safetensors.torch.save_file` and `safetensors.numpy.save_file` use) lays them out: tensors sorted by
/// dtype, descending in the reference `Dtype` enum order, then by name (bytewise); `__metadata__` first;
/// compact JSON with keys `dtype`, `shape`, `data_offsets`; the header padded with spaces to a multiple
/// of 8 bytes. The same tensors therefore give the same bytes as the reference, whatever the input order.
public enum SafetensorsWriter {
    /// The reference `Dtype` enum's declaration order (its writer sorts by it, descending).
    static let referenceDTypeOrder: [DType] = [.bool, .f4, .f6_e2m3, .f6_e3m2, .u8, .i8, .f8_e5m2, .f8_e4m3, .f8_e8m0,
                                               .f8_e4m3fnuz, .f8_e5m2fnuz, .i16, .u16, .f16, .bf16, .i32, .u32, .f32,
                                               .c64, .f64, .i64, .u64]

    /// `tensors` in the order the reference writer stores them.
    public static func referenceOrder(_ tensors: [OutputTensor]) -> [OutputTensor] {
        func rank(_ dtype: DType) -> Int { referenceDTypeOrder.firstIndex(of: dtype) ?? -1 }
        return tensors.sorted { a, b in
            let (ra, rb) = (rank(a.info.dtype), rank(b.info.dtype))
            return ra != rb ? ra > rb : a.info.name.utf8.lexicographicallyPrecedes(b.info.name.utf8)
        }
    }

    public static func write(tensors unordered: [OutputTensor], metadata: [MetadataEntry], to output: OutputFile) throws {
        let tensors = referenceOrder(unordered)
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
