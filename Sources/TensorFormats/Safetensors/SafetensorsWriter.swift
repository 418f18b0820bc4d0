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
        referenceOrder(tensors.map(\.info)).map { tensors[$0] }
    }

    /// The indices of `infos` in the order the reference writer stores them.
    static func referenceOrder(_ infos: [TensorInfo]) -> [Int] {
        func rank(_ dtype: DType) -> Int { referenceDTypeOrder.firstIndex(of: dtype) ?? -1 }
        return infos.indices.sorted { i, j in
            let (a, b) = (infos[i], infos[j])
            let (ra, rb) = (rank(a.dtype), rank(b.dtype))
            return ra != rb ? ra > rb : a.name.precedesName(b.name)
        }
    }

    public static func write(tensors unordered: [OutputTensor], metadata: [MetadataEntry], to output: OutputFile) throws {
        let tensors = referenceOrder(unordered)
        let header = try attributing(to: output.path) { try headerBytes(tensors: tensors.map(\.info), metadata: metadata) }
        try write(tensors: tensors, header: header, to: output)
    }

    /// Writes `header` (from `headerBytes` of these tensors, in reference order) and the tensors' bytes.
    static func write(tensors: [OutputTensor], header: [UInt8], to output: OutputFile) throws {
        try output.writeLE(UInt64(header.count))
        try output.write(header)
        for tensor in tensors {
            try tensor.write(to: output)
        }
    }

    /// The padded header of `tensors` (in the order given). Refuses what connkit's `SafetensorsReader`
    /// refuses, so whatever is written reads back: block-quantized dtypes, duplicate names and keys
    /// (compared as bytes), a tensor named `__metadata__`, more than `maxDimensions` dimensions, a header
    /// over `maxHeaderSize`. Errors name the tensor or key but no file.
    static func headerBytes(tensors: [TensorInfo], metadata: [MetadataEntry]) throws -> [UInt8] {
        var members: [JSONValue.Member] = []
        if !metadata.isEmpty {
            var seen = Set<ExactName>()
            for entry in metadata where !seen.insert(ExactName(entry.key)).inserted {
                throw FormatError(.duplicateName(entry.key), at: .key(entry.key))
            }
            members.append(.init("__metadata__", .object(metadata.map { .init($0.key, .string($0.value.text)) })))
        }
        var names = Set<ExactName>()
        var offset = 0
        for info in tensors {
            guard let dtypeName = info.dtype.safetensorsName else {
                throw FormatError(.unconvertible(
                    "safetensors cannot hold \(info.dtype.rawValue) (a ggml block type); use --dtype f32|f16|bf16 to dequantize"),
                    at: .tensor(info.name))
            }
            guard !info.name.isSameName(as: "__metadata__"), names.insert(ExactName(info.name)).inserted else {
                throw FormatError(.duplicateName(info.name), at: .tensor(info.name))
            }
            guard info.shape.count <= SafetensorsReader.maxDimensions else {
                throw FormatError(.tooManyDimensions(count: info.shape.count, limit: SafetensorsReader.maxDimensions),
                                  at: .tensor(info.name))
            }
            guard let end = Checked.add(offset, info.byteCount) else {
                throw FormatError(.overflow(what: "the data offsets"), at: .tensor(info.name))
            }
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
                                             limit: String(SafetensorsReader.maxHeaderSize)))
        }
        return header
    }
}
