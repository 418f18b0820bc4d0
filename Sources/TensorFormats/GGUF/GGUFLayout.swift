/// Constants of the GGUF layout shared by `GGUFReader` and `GGUFWriter`, with where each comes from.
public enum GGUFLayout {
    /// The first four bytes of every GGUF file, in either byte order.
    public static let magic: [UInt8] = Array("GGUF".utf8)
    /// The version connkit writes (ggml's `GGUF_VERSION`).
    public static let writtenVersion: UInt32 = 3
    /// `GGUF_DEFAULT_ALIGNMENT`, used when `general.alignment` is absent.
    public static let defaultAlignment = 32
    public static let alignmentKey = "general.alignment"
    public static let architectureKey = "general.architecture"
    /// `GGML_MAX_DIMS`.
    public static let maxDimensions = 4
    /// ggml stores names in `char name[GGML_MAX_NAME]` (64) with a NUL, so a name has at most 63 bytes.
    public static let maxTensorNameBytes = 63

    // Limits of connkit's reader (ggml's are 1 GiB for both strings and array element counts).

    /// Longest string (key, name or value) accepted, as in ggml's `GGUF_MAX_STRING_LENGTH`.
    public static let maxStringBytes = 1 << 30
    /// Total number of metadata values (array elements included) in one file. Each value becomes a Swift
    /// enum, several times larger than its bytes in the file, so this bounds memory; the largest real
    /// tokenizer arrays hold well under a million entries.
    public static let maxMetadataValues = 1 << 24
    /// Arrays nested deeper than this are refused (ggml refuses any nesting; gguf-py reads any depth).
    public static let maxArrayNesting = 16

    /// The alignment of tensor data: `general.alignment` (a u32 non-zero power of two) or the default 32;
    /// anything else is refused, in reading and in writing alike.
    static func alignment(of metadata: [MetadataEntry]) throws -> Int {
        guard let value = metadata[alignmentKey] else { return defaultAlignment }
        guard case .uint32(let alignment) = value, alignment != 0, alignment & (alignment - 1) == 0 else {
            throw FormatError(.invalidHeader(
                "general.alignment must be a u32 non-zero power of two, found \(value.type) \(value.json.serialized())"),
                              at: .key(alignmentKey))
        }
        return Int(alignment)
    }
}
