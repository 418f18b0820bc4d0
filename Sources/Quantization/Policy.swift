import TensorFormats

/// The one rule that decides, for every tensor of a checkpoint, whether it is quantized and to what.
/// `QuantizationPolicy.rules` is the text `connkit quantize --help` prints; `decide` implements it.
public struct QuantizationPolicy: Sendable {
    public var type: QuantizationType
    /// `--keep`: more patterns whose tensors stay as they are.
    public var keep: [Glob]
    /// `--only`: when not empty, only tensors matching one of these are quantized.
    public var only: [Glob]
    /// MLX group size (32, 64 or 128).
    public var groupSize: Int
    /// Where the result goes: kept float tensors become f32 in GGUF and keep their dtype in safetensors.
    public var output: OutputFormat
    /// True for a GGUF input (an llama.cpp mmproj, say): tensors that are not re-encoded stay exactly
    /// as they are.
    public var inputIsGGUF: Bool

    public init(type: QuantizationType, keep: [Glob] = [], only: [Glob] = [], groupSize: Int = 64, output: OutputFormat,
                inputIsGGUF: Bool = false) {
        self.type = type
        self.keep = keep
        self.only = only
        self.groupSize = groupSize
        self.output = output
        self.inputIsGGUF = inputIsGGUF
    }

    /// Names whose role must stay precise, kept by default (globs: `*` matches across dots).
    public static let defaultKeep: [(pattern: Glob, role: String)] = [
        (Glob("*query_tokens*"), "learned queries"),
        (Glob("*latents*"), "learned latents"),
        (Glob("*resampler.query"), "learned queries"),
        (Glob("*pos_embed*"), "position table"),
        (Glob("*position*"), "position table"),
        (Glob("*embd*"), "embedding table"),
        (Glob("*embed*"), "embedding table"),
    ]

    /// Gates are kept when effectively 1-D (at most one dimension larger than 1).
    public static let gatePatterns = [Glob("*gate"), Glob("*alpha_*")]

    /// llama.cpp's fallback when a row is not a whole number of the type's blocks.
    public static func fallback(for type: DType) -> DType? {
        GGMLBlocks.fallback(type)
    }

    /// The fallbacks in words, types with the same fallback together: "q2_k/q3_k -> iq4_nl, q4_k -> q5_0, …".
    static var fallbackChain: String {
        var links: [(from: [String], to: DType)] = []
        for quantizer in GGMLBlocks.quantizers {
            guard let to = quantizer.facts.fallback else { continue }
            if let last = links.last, last.to == to {
                links[links.count - 1].from.append(quantizer.dtype.rawValue)
            } else {
                links.append(([quantizer.dtype.rawValue], to))
            }
        }
        return links.map { "\($0.from.joined(separator: "/")) -> \($0.to.rawValue)" }.joined(separator: ", ")
    }

    /// The rule in words (printed by `connkit quantize --help`).
    public static let rules = """
        Which tensors are quantized:
          1. Candidates are floating tensors (f64, f32, f16, bf16) with at least two dimensions larger than 1. \
        Other tensors are copied unchanged (an error if --only names one); so are empty tensors (a zero \
        among their dimensions; reason "empty").
          2. Kept by name, whatever --only says: learned queries and latents (*query_tokens*, *latents*, \
        *resampler.query), position tables (*pos_embed*, *position*), embedding tables (*embd*, *embed*), \
        gates (*gate, *alpha_*) that are effectively 1-D, and every --keep GLOB. With --only GLOB, only \
        matching candidates are quantized. ('*' matches across dots.)
          3. A ggml block type needs the row length (last dimension) to be a multiple of its block size; \
        otherwise the tensor falls back as llama.cpp does: \(fallbackChain), \
        then f16 when even 32 does not divide the row. MLX rows that the group size does not \
        divide stay unquantized.
          4. Kept float tensors are written as f32 in GGUF and keep their dtype in safetensors. Tensors \
        already block-quantized are copied as they are unless --only selects them; then they are \
        dequantized and quantized again.
        Tensor names are preserved. A GGUF input (an llama.cpp mmproj, say) keeps every tensor and key it \
        had: only the selected tensors are re-encoded, the others are copied as they are.
        """

    /// What happens to one tensor.
    public enum Action: Sendable, Equatable {
        /// Quantize to a ggml block type (from float, or re-quantize a block type).
        case ggml(DType)
        /// MLX affine quantization: packed weight, scales and biases.
        case mlx(bits: Int, groupSize: Int)
        /// Write the values as this float type (a cast type, a fallback, or a kept tensor in GGUF).
        case float(DType)
        /// Copy the bytes unchanged.
        case copy
    }

    /// Why, in a form tests can match and the report can print.
    public enum Reason: Sendable, Equatable, CustomStringConvertible {
        /// Quantized as asked.
        case selected
        /// The row length does not fit `type`'s blocks; the next type in llama.cpp's chain was used.
        case fallback(from: DType, rowLength: Int)
        /// The row length does not fit the MLX group size.
        case groupDoesNotDivide(rowLength: Int, groupSize: Int)
        /// Kept by a default pattern.
        case defaultKeep(pattern: String, role: String)
        /// Kept by a `--keep` pattern.
        case keepOption(pattern: String)
        /// A gate that is effectively 1-D.
        case gate(pattern: String)
        /// Fewer than two dimensions larger than 1.
        case notMatrix
        /// `--only` is given and does not match.
        case notSelected
        /// Not a floating type: copied unchanged.
        case notFloat
        /// Already block-quantized and not selected by `--only`: copied unchanged.
        case alreadyQuantized
        /// Block-quantized and selected by `--only`: dequantized, then quantized again.
        case requantized(from: DType)
        /// No elements (a zero among its dimensions): copied unchanged, whatever its other dimensions.
        case empty

        public var description: String {
            switch self {
            case .selected: "quantized"
            case .fallback(let from, let rowLength):
                "fallback: row length \(rowLength) is not a multiple of \(from.rawValue)'s block size \(from.layout.blockElements)"
            case .groupDoesNotDivide(let rowLength, let groupSize):
                "kept: row length \(rowLength) is not a multiple of the group size \(groupSize)"
            case .defaultKeep(let pattern, let role): "kept: \(role) (\(pattern))"
            case .keepOption(let pattern): "kept: --keep \(pattern)"
            case .gate(let pattern): "kept: 1-D gate (\(pattern))"
            case .notMatrix: "kept: fewer than two dimensions larger than 1"
            case .notSelected: "kept: not selected by --only"
            case .notFloat: "copied: not a floating-point tensor"
            case .alreadyQuantized: "copied: already quantized"
            case .requantized(let from): "re-quantized from \(from.rawValue)"
            case .empty: "empty"
            }
        }

        /// True when the tensor's values were quantized (possibly to a fallback type).
        public var isQuantized: Bool {
            switch self {
            case .selected, .fallback, .requantized: true
            default: false
            }
        }
    }

    public struct Decision: Sendable, Equatable {
        public var action: Action
        public var reason: Reason
    }

    /// Decides for one tensor. Throws `.notFloat` when `--only` explicitly selects a non-float tensor.
    public func decide(_ info: TensorInfo) throws -> Decision {
        // Nothing to quantize, and no size may be derived from the other dimensions of an empty tensor.
        if info.elementCount == 0 { return Decision(action: .copy, reason: .empty) }
        let selected = only.isEmpty || only.contains { $0.matches(info.name) }
        switch info.dtype.kind {
        case .float:
            break
        case .blockQuantized:
            guard !only.isEmpty, selected else { return Decision(action: .copy, reason: .alreadyQuantized) }
            guard GGMLBlocks.dequantizable.contains(info.dtype) else {
                throw QuantizationError(.unsupportedType(info.dtype, operation: "dequantize"), tensor: info.name)
            }
            if let reason = keptReason(info) { return Decision(action: .copy, reason: reason) }
            var decision = target(for: info)
            if decision.reason == .selected { decision.reason = .requantized(from: info.dtype) }
            return decision
        default:
            if !only.isEmpty, selected { throw QuantizationError(.notFloat(info.dtype), tensor: info.name) }
            return Decision(action: .copy, reason: .notFloat)
        }
        if let reason = keptReason(info) { return Decision(action: keptAction(info.dtype), reason: reason) }
        if !selected { return Decision(action: keptAction(info.dtype), reason: .notSelected) }
        return target(for: info)
    }

    /// Why a float tensor is kept by name or shape, or nil.
    func keptReason(_ info: TensorInfo) -> Reason? {
        for (pattern, role) in Self.defaultKeep where pattern.matches(info.name) {
            return .defaultKeep(pattern: pattern.pattern, role: role)
        }
        if let pattern = keep.first(where: { $0.matches(info.name) }) { return .keepOption(pattern: pattern.pattern) }
        let large = info.shape.filter { $0 > 1 }.count
        if large < 2 {
            if let gate = Self.gatePatterns.first(where: { $0.matches(info.name) }) { return .gate(pattern: gate.pattern) }
            return .notMatrix
        }
        return nil
    }

    /// Kept float tensors: f32 in GGUF (unchanged when the input is GGUF), unchanged in safetensors.
    func keptAction(_ dtype: DType) -> Action {
        output == .gguf && !inputIsGGUF && dtype != .f32 ? .float(.f32) : .copy
    }

    /// The type a selected tensor (float or re-quantized) gets, with the fallback chain.
    func target(for info: TensorInfo) -> Decision {
        let rowLength = info.shape.last ?? 1
        switch type {
        case .cast(let dtype):
            return Decision(action: info.dtype == dtype ? .copy : .float(dtype), reason: .selected)
        case .mlx(let bits):
            guard rowLength % groupSize == 0 else {
                let action = info.dtype.isBlockQuantized ? Action.float(.f32) : keptAction(info.dtype)
                return Decision(action: action, reason: .groupDoesNotDivide(rowLength: rowLength, groupSize: groupSize))
            }
            return Decision(action: .mlx(bits: bits, groupSize: groupSize), reason: .selected)
        case .ggml(let wanted):
            var candidate = wanted
            while rowLength % candidate.layout.blockElements != 0 {
                guard let next = Self.fallback(for: candidate) else {
                    return Decision(action: .float(.f16), reason: .fallback(from: wanted, rowLength: rowLength))
                }
                candidate = next
            }
            if candidate == wanted { return Decision(action: .ggml(wanted), reason: .selected) }
            return Decision(action: .ggml(candidate), reason: .fallback(from: wanted, rowLength: rowLength))
        }
    }

    /// llama.cpp's `general.file_type` (`LLAMA_FTYPE_MOSTLY_*`) for a whole-file type; the `_S` value
    /// for a pure k-quant type.
    public static func fileType(_ type: QuantizationType) -> UInt32? {
        switch type {
        case .ggml(let dtype): GGMLBlocks.fileType(dtype)
        case .cast(.f32): 0
        case .cast(.f16): 1
        case .cast(.bf16): 32
        default: nil
        }
    }
}
