import TensorFormats

/// A `--type` of `connkit quantize`: a ggml block type (written to GGUF), a plain float cast, or an MLX
/// affine type (written to safetensors). Names are case-insensitive.
public enum QuantizationType: Hashable, Sendable, CustomStringConvertible {
    /// One of `GGMLBlocks.quantizable`.
    case ggml(DType)
    /// f32, f16 or bf16.
    case cast(DType)
    /// MLX affine quantization with 2, 3, 4, 6 or 8 bits.
    case mlx(bits: Int)

    public static let mlxBits = [2, 3, 4, 6, 8]

    /// Every accepted name, in the order `--help` lists them.
    public static let all: [QuantizationType] =
        GGMLBlocks.quantizable.map { .ggml($0) } + [.cast(.f16), .cast(.bf16), .cast(.f32)] + mlxBits.map { .mlx(bits: $0) }

    public static var allNames: [String] { all.map(\.name) }

    public init(parsing text: String) throws {
        let lower = text.lowercased()
        guard let match = QuantizationType.all.first(where: { $0.name == lower }) else {
            throw QuantizationError(.unknownType(text))
        }
        self = match
    }

    public var name: String {
        switch self {
        case .ggml(let dtype), .cast(let dtype): dtype.rawValue
        case .mlx(let bits): "mlx-q\(bits)"
        }
    }

    public var description: String { name }

    /// True for the MLX affine types (written to safetensors).
    public var isMLX: Bool {
        if case .mlx = self { return true }
        return false
    }
}
