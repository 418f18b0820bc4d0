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

    // MARK: safetensors

    /// The dtype string of the safetensors header (nil: a ggml block type, which safetensors cannot hold).
    public var safetensorsName: String? {
        switch self {
        case .f64: "F64"
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .f8_e4m3: "F8_E4M3"
        case .f8_e5m2: "F8_E5M2"
        case .f8_e8m0: "F8_E8M0"
        case .f8_e4m3fnuz: "F8_E4M3FNUZ"
        case .f8_e5m2fnuz: "F8_E5M2FNUZ"
        case .f6_e2m3: "F6_E2M3"
        case .f6_e3m2: "F6_E3M2"
        case .f4: "F4"
        case .c64: "C64"
        case .i64: "I64"
        case .i32: "I32"
        case .i16: "I16"
        case .i8: "I8"
        case .u64: "U64"
        case .u32: "U32"
        case .u16: "U16"
        case .u8: "U8"
        case .bool: "BOOL"
        default: nil
        }
    }

    public init?(safetensorsName: String) {
        guard let match = DType.allCases.first(where: { $0.safetensorsName == safetensorsName }) else { return nil }
        self = match
    }

    // MARK: ggml / GGUF

    /// The `ggml_type` id stored in GGUF tensor infos (nil: no ggml type holds it).
    public var ggmlType: UInt32? {
        switch self {
        case .f32: 0
        case .f16: 1
        case .q4_0: 2
        case .q4_1: 3
        case .q5_0: 6
        case .q5_1: 7
        case .q8_0: 8
        case .q8_1: 9
        case .q2_k: 10
        case .q3_k: 11
        case .q4_k: 12
        case .q5_k: 13
        case .q6_k: 14
        case .q8_k: 15
        case .iq2_xxs: 16
        case .iq2_xs: 17
        case .iq3_xxs: 18
        case .iq1_s: 19
        case .iq4_nl: 20
        case .iq3_s: 21
        case .iq2_s: 22
        case .iq4_xs: 23
        case .i8: 24
        case .i16: 25
        case .i32: 26
        case .i64: 27
        case .f64: 28
        case .iq1_m: 29
        case .bf16: 30
        case .tq1_0: 34
        case .tq2_0: 35
        case .mxfp4: 39
        case .nvfp4: 40
        case .q1_0: 41
        case .q2_0: 42
        default: nil
        }
    }

    public init?(ggmlType: UInt32) {
        guard let match = DType.allCases.first(where: { $0.ggmlType == ggmlType }) else { return nil }
        self = match
    }

    /// ggml's own spelling (`q4_K`, with an upper-case K), for messages that quote ggml.
    public var ggmlName: String {
        rawValue.hasSuffix("_k") ? String(rawValue.dropLast()) + "K" : rawValue
    }

    // MARK: numpy

    /// numpy's type code without the byte-order character (`f4`, `i8`, `b1`, `c8`); nil where numpy has
    /// no such type (bf16, the f8/f6/f4 families, ggml block types).
    public var numpyCode: String? {
        switch self {
        case .f64: "f8"
        case .f32: "f4"
        case .f16: "f2"
        case .c64: "c8"
        case .i64: "i8"
        case .i32: "i4"
        case .i16: "i2"
        case .i8: "i1"
        case .u64: "u8"
        case .u32: "u4"
        case .u16: "u2"
        case .u8: "u1"
        case .bool: "b1"
        default: nil
        }
    }

    public init?(numpyCode: String) {
        guard let match = DType.allCases.first(where: { $0.numpyCode == numpyCode }) else { return nil }
        self = match
    }
}

// MARK: PyTorch

extension DType {
    /// torch's dtype name without the `torch.` prefix (`float16`, `float8_e4m3fn`); nil where torch has no
    /// such dtype (f6, ggml block types). `float4_e2m1fn_x2` packs two f4 values in one torch element.
    public var torchName: String? {
        switch self {
        case .f64: "float64"
        case .f32: "float32"
        case .f16: "float16"
        case .bf16: "bfloat16"
        case .f8_e4m3: "float8_e4m3fn"
        case .f8_e5m2: "float8_e5m2"
        case .f8_e8m0: "float8_e8m0fnu"
        case .f8_e4m3fnuz: "float8_e4m3fnuz"
        case .f8_e5m2fnuz: "float8_e5m2fnuz"
        case .f4: "float4_e2m1fn_x2"
        case .c64: "complex64"
        case .i64: "int64"
        case .i32: "int32"
        case .i16: "int16"
        case .i8: "int8"
        case .u64: "uint64"
        case .u32: "uint32"
        case .u16: "uint16"
        case .u8: "uint8"
        case .bool: "bool"
        default: nil
        }
    }

    public init?(torchName: String) {
        guard let match = DType.allCases.first(where: { $0.torchName == torchName }) else { return nil }
        self = match
    }

    /// The legacy typed-storage class that `torch.save` pickles for tensors of this dtype (`HalfStorage`);
    /// nil for dtypes torch saves as an untyped storage plus an explicit dtype (uint16-64, float8, float4).
    public var torchStorageClass: String? {
        switch self {
        case .f64: "DoubleStorage"
        case .f32: "FloatStorage"
        case .f16: "HalfStorage"
        case .bf16: "BFloat16Storage"
        case .c64: "ComplexFloatStorage"
        case .i64: "LongStorage"
        case .i32: "IntStorage"
        case .i16: "ShortStorage"
        case .i8: "CharStorage"
        case .u8: "ByteStorage"
        case .bool: "BoolStorage"
        default: nil
        }
    }

    public init?(torchStorageClass: String) {
        guard let match = DType.allCases.first(where: { $0.torchStorageClass == torchStorageClass }) else {
            return nil
        }
        self = match
    }
}
