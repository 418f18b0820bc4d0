/// The one element-type table of connkit.
///
/// The raw value is the public, lower-case name used everywhere (`inspect --json`, `--dtype`, reports):
/// the safetensors dtype names in lower case and the ggml type names in lower case. Each case knows its
/// on-disk codes (safetensors string, ggml type id, numpy type code) and its storage geometry, so no other
/// file keeps a copy of these facts.
public enum DType: String, CaseIterable, Sendable, Hashable, Comparable {
    // Plain element types (safetensors names, lower-cased).
    case f64, f32, f16, bf16
    case f8_e4m3, f8_e5m2, f8_e8m0, f8_e4m3fnuz, f8_e5m2fnuz
    case f6_e2m3, f6_e3m2, f4
    case c64
    case i64, i32, i16, i8
    case u64, u32, u16, u8
    case bool
    // ggml block-quantized types (ggml names, lower-cased), in enum order.
    case q4_0, q4_1, q5_0, q5_1, q8_0, q8_1
    case q2_k, q3_k, q4_k, q5_k, q6_k, q8_k
    case iq2_xxs, iq2_xs, iq3_xxs, iq1_s, iq4_nl, iq3_s, iq2_s, iq4_xs, iq1_m
    case tq1_0, tq2_0, mxfp4, nvfp4, q1_0, q2_0

    public static func < (a: DType, b: DType) -> Bool { a.rawValue < b.rawValue }

    public enum Kind: Sendable {
        /// f64, f32, f16, bf16: castable between each other and quantizable.
        case float
        /// 8/6/4-bit micro floats (f8_*, f6_*, f4): stored, never cast.
        case microFloat
        case complex
        case signedInteger
        case unsignedInteger
        case bool
        /// A ggml block type: values exist only as whole blocks along the row.
        case blockQuantized
    }

    /// Storage geometry: `blockBytes` bytes hold `blockElements` consecutive elements.
    /// Plain types have blocks of one element; f4 packs 2 elements per byte, f6 4 elements per 3 bytes.
    public var layout: (blockElements: Int, blockBytes: Int) {
        switch self {
        case .f64, .c64, .i64, .u64: (1, 8)
        case .f32, .i32, .u32: (1, 4)
        case .f16, .bf16, .i16, .u16: (1, 2)
        case .f8_e4m3, .f8_e5m2, .f8_e8m0, .f8_e4m3fnuz, .f8_e5m2fnuz, .i8, .u8, .bool: (1, 1)
        case .f6_e2m3, .f6_e3m2: (4, 3)
        case .f4: (2, 1)
        // ggml `type_traits` (ggml.c), checked against gguf-py and libggml in the tests.
        case .q4_0: (32, 18)
        case .q4_1: (32, 20)
        case .q5_0: (32, 22)
        case .q5_1: (32, 24)
        case .q8_0: (32, 34)
        case .q8_1: (32, 36)
        case .q2_k: (256, 84)
        case .q3_k: (256, 110)
        case .q4_k: (256, 144)
        case .q5_k: (256, 176)
        case .q6_k: (256, 210)
        case .q8_k: (256, 292)
        case .iq2_xxs: (256, 66)
        case .iq2_xs: (256, 74)
        case .iq3_xxs: (256, 98)
        case .iq1_s: (256, 50)
        case .iq4_nl: (32, 18)
        case .iq3_s: (256, 110)
        case .iq2_s: (256, 82)
        case .iq4_xs: (256, 136)
        case .iq1_m: (256, 56)
        case .tq1_0: (256, 54)
        case .tq2_0: (256, 66)
        case .mxfp4: (32, 17)
        case .nvfp4: (64, 36)
        case .q1_0: (128, 18)
        case .q2_0: (64, 18)
        }
    }

    public var kind: Kind {
        switch self {
        case .f64, .f32, .f16, .bf16: .float
        case .f8_e4m3, .f8_e5m2, .f8_e8m0, .f8_e4m3fnuz, .f8_e5m2fnuz, .f6_e2m3, .f6_e3m2, .f4: .microFloat
        case .c64: .complex
        case .i64, .i32, .i16, .i8: .signedInteger
        case .u64, .u32, .u16, .u8: .unsignedInteger
        case .bool: .bool
        default: .blockQuantized
        }
    }

    public var isBlockQuantized: Bool { kind == .blockQuantized }

    /// Size of one element for plain types (nil for sub-byte and block types).
    public var elementSize: Int? {
        let (elements, bytes) = layout
        return elements == 1 ? bytes : nil
    }

    /// Width of the byte-swapped unit for endianness conversion (1 = nothing to swap).
    /// A complex64 swaps each of its two f32 halves.
    public var swapUnit: Int {
        switch self {
        case .c64: 4
        default: elementSize ?? 1
        }
    }

    /// Bytes needed for `elements` elements, or nil when the count is not a whole number of blocks
    /// or the product overflows.
    public func byteCount(elements: Int) -> Int? {
        let (blockElements, blockBytes) = layout
        guard elements >= 0, elements % blockElements == 0 else { return nil }
        let (bytes, overflow) = (elements / blockElements).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }

    // MARK: names in the formats

    /// The dtype's codes in each format's vocabulary (nil: the format has no such type).
    struct Codes {
        /// The dtype string of the safetensors header.
        var safetensors: String? = nil
        /// The `ggml_type` id stored in GGUF tensor infos.
        var ggml: UInt32? = nil
        /// numpy's type code without the byte-order character (`f4`, `i8`, `b1`, `c8`).
        var numpy: String? = nil
        /// torch's dtype name without the `torch.` prefix.
        var torch: String? = nil
        /// The legacy typed-storage class `torch.save` pickles for tensors of this dtype.
        var storage: String? = nil
    }

    /// One row per dtype: the only place these codes are written.
    var codes: Codes {
        switch self {
        case .f64: Codes(safetensors: "F64", ggml: 28, numpy: "f8", torch: "float64", storage: "DoubleStorage")
        case .f32: Codes(safetensors: "F32", ggml: 0, numpy: "f4", torch: "float32", storage: "FloatStorage")
        case .f16: Codes(safetensors: "F16", ggml: 1, numpy: "f2", torch: "float16", storage: "HalfStorage")
        case .bf16: Codes(safetensors: "BF16", ggml: 30, torch: "bfloat16", storage: "BFloat16Storage")
        case .f8_e4m3: Codes(safetensors: "F8_E4M3", torch: "float8_e4m3fn")
        case .f8_e5m2: Codes(safetensors: "F8_E5M2", torch: "float8_e5m2")
        case .f8_e8m0: Codes(safetensors: "F8_E8M0", torch: "float8_e8m0fnu")
        case .f8_e4m3fnuz: Codes(safetensors: "F8_E4M3FNUZ", torch: "float8_e4m3fnuz")
        case .f8_e5m2fnuz: Codes(safetensors: "F8_E5M2FNUZ", torch: "float8_e5m2fnuz")
        case .f6_e2m3: Codes(safetensors: "F6_E2M3")
        case .f6_e3m2: Codes(safetensors: "F6_E3M2")
        case .f4: Codes(safetensors: "F4", torch: "float4_e2m1fn_x2")
        case .c64: Codes(safetensors: "C64", numpy: "c8", torch: "complex64", storage: "ComplexFloatStorage")
        case .i64: Codes(safetensors: "I64", ggml: 27, numpy: "i8", torch: "int64", storage: "LongStorage")
        case .i32: Codes(safetensors: "I32", ggml: 26, numpy: "i4", torch: "int32", storage: "IntStorage")
        case .i16: Codes(safetensors: "I16", ggml: 25, numpy: "i2", torch: "int16", storage: "ShortStorage")
        case .i8: Codes(safetensors: "I8", ggml: 24, numpy: "i1", torch: "int8", storage: "CharStorage")
        case .u64: Codes(safetensors: "U64", numpy: "u8", torch: "uint64")
        case .u32: Codes(safetensors: "U32", numpy: "u4", torch: "uint32")
        case .u16: Codes(safetensors: "U16", numpy: "u2", torch: "uint16")
        case .u8: Codes(safetensors: "U8", numpy: "u1", torch: "uint8", storage: "ByteStorage")
        case .bool: Codes(safetensors: "BOOL", numpy: "b1", torch: "bool", storage: "BoolStorage")
        case .q4_0: Codes(ggml: 2)
        case .q4_1: Codes(ggml: 3)
        case .q5_0: Codes(ggml: 6)
        case .q5_1: Codes(ggml: 7)
        case .q8_0: Codes(ggml: 8)
        case .q8_1: Codes(ggml: 9)
        case .q2_k: Codes(ggml: 10)
        case .q3_k: Codes(ggml: 11)
        case .q4_k: Codes(ggml: 12)
        case .q5_k: Codes(ggml: 13)
        case .q6_k: Codes(ggml: 14)
        case .q8_k: Codes(ggml: 15)
        case .iq2_xxs: Codes(ggml: 16)
        case .iq2_xs: Codes(ggml: 17)
        case .iq3_xxs: Codes(ggml: 18)
        case .iq1_s: Codes(ggml: 19)
        case .iq4_nl: Codes(ggml: 20)
        case .iq3_s: Codes(ggml: 21)
        case .iq2_s: Codes(ggml: 22)
        case .iq4_xs: Codes(ggml: 23)
        case .iq1_m: Codes(ggml: 29)
        case .tq1_0: Codes(ggml: 34)
        case .tq2_0: Codes(ggml: 35)
        case .mxfp4: Codes(ggml: 39)
        case .nvfp4: Codes(ggml: 40)
        case .q1_0: Codes(ggml: 41)
        case .q2_0: Codes(ggml: 42)
        }
    }

    /// The dtype whose code in `column` is `code`.
    private init?<Code: Equatable>(matching column: KeyPath<Codes, Code?>, _ code: Code) {
        guard let match = DType.allCases.first(where: { $0.codes[keyPath: column] == code }) else { return nil }
        self = match
    }

    // The codes one at a time (nil: the format has no such type): the safetensors header's dtype string
    // (none for ggml block types); the GGUF tensor info's `ggml_type` id; numpy's type code without the
    // byte-order character (`f4`, `i8`, `b1`, `c8`; none for bf16, the f8/f6/f4 families and block
    // types); torch's dtype name without `torch.` (`float16`, `float8_e4m3fn`; `float4_e2m1fn_x2` packs two
    // f4 values in one torch element); the legacy typed-storage class `torch.save` pickles (`HalfStorage`;
    // none where torch saves an untyped storage plus an explicit dtype: uint16-64, float8, float4).
    public var safetensorsName: String? { codes.safetensors }
    public var ggmlType: UInt32? { codes.ggml }
    public var numpyCode: String? { codes.numpy }
    public var torchName: String? { codes.torch }
    public var torchStorageClass: String? { codes.storage }

    // The dtype a format's code names, case-sensitively (nil: none).
    public init?(safetensorsName: String) { self.init(matching: \.safetensors, safetensorsName) }
    public init?(ggmlType: UInt32) { self.init(matching: \.ggml, ggmlType) }
    public init?(numpyCode: String) { self.init(matching: \.numpy, numpyCode) }
    public init?(torchName: String) { self.init(matching: \.torch, torchName) }
    public init?(torchStorageClass: String) { self.init(matching: \.storage, torchStorageClass) }

    /// ggml's own spelling (`q4_K`, with an upper-case K), for messages that quote ggml.
    public var ggmlName: String {
        rawValue.hasSuffix("_k") ? String(rawValue.dropLast()) + "K" : rawValue
    }
}
