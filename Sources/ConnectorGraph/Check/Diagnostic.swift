import TensorFormats

public enum Severity: String, Sendable, Equatable, Comparable, CaseIterable {
    case error, warning, note

    private var rank: Int {
        switch self {
        case .error: 0
        case .warning: 1
        case .note: 2
        }
    }
    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// The stable diagnostic codes, each with its severity and what triggers it (the README lists these).
public enum DiagnosticCode: String, Sendable, CaseIterable {
    case noConnector = "no-connector"
    case ambiguousFamily = "ambiguous-family"
    case duplicateConnector = "duplicate-connector"
    case duplicateTensor = "duplicate-tensor"
    case missingTensor = "missing-tensor"
    case unexpectedTensor = "unexpected-tensor"
    case layerCountMismatch = "layer-count-mismatch"
    case wrongRank = "wrong-rank"
    case shapeMismatch = "shape-mismatch"
    case transposedWeight = "transposed-weight"
    case headsIndivisible = "heads-indivisible"
    case queryCountMismatch = "query-count-mismatch"
    case crossAttnLayers = "cross-attn-layers"
    case zeroElements = "zero-elements"
    case packedQuantized = "packed-quantized"
    case unexpectedDType = "unexpected-dtype"
    case dimensionConflict = "dimension-conflict"
    case unresolvedDimension = "unresolved-dimension"
    case nonFinite = "non-finite"
    case allZero = "all-zero"
    case constant = "constant"
    case zeroGate = "zero-gate"
    case f16OverflowRisk = "f16-overflow-risk"
    case projectorTypeMissing = "projector-type-missing"
    case projectorTypeUnknown = "projector-type-unknown"
    case projectorTypeMismatch = "projector-type-mismatch"
    case metadataMismatch = "metadata-mismatch"
    case quantizedCheckpoint = "quantized-checkpoint"
    case assumedDefault = "assumed-default"
    case valuesSkipped = "values-skipped"

    public var severity: Severity {
        switch self {
        case .noConnector, .ambiguousFamily, .duplicateConnector, .duplicateTensor, .missingTensor, .layerCountMismatch,
             .wrongRank, .shapeMismatch, .transposedWeight, .headsIndivisible, .queryCountMismatch, .crossAttnLayers,
             .zeroElements, .packedQuantized, .unexpectedDType, .dimensionConflict, .nonFinite, .projectorTypeUnknown,
             .projectorTypeMismatch:
            .error
        case .unexpectedTensor, .unresolvedDimension, .allZero, .constant, .zeroGate, .f16OverflowRisk, .projectorTypeMissing,
             .metadataMismatch, .quantizedCheckpoint:
            .warning
        case .assumedDefault, .valuesSkipped:
            .note
        }
    }

    /// What triggers the code (README table and `--help`).
    public var trigger: String {
        switch self {
        case .noConnector: "no tensor of any built-in family (or of --family/--graph) was found"
        case .ambiguousFamily: "the tensors fit two families or naming schemes equally well; pass --family"
        case .duplicateConnector: "the same connector is stored twice, under two prefixes (e.g. `multi_modal_projector.` and `model.multi_modal_projector.`)"
        case .duplicateTensor: "one parameter is present under two of its names, or a tensor name occurs twice among the inputs"
        case .missingTensor: "a required parameter of the family is absent"
        case .unexpectedTensor: "a connector-like tensor (under the connector's prefixes) belongs to no parameter"
        case .layerCountMismatch: "tensors exist for more layers than the configured count"
        case .wrongRank: "a tensor has the wrong number of dimensions"
        case .shapeMismatch: "an axis differs from the symbolic shape (the message names the dimension and where its value came from)"
        case .transposedWeight: "a 2-D weight is stored as the transpose of its expected shape"
        case .headsIndivisible: "a width is not a multiple of the attention heads (or heads of the key/value heads)"
        case .queryCountMismatch: "the number of learned queries/latents differs from the configured count"
        case .crossAttnLayers: "cross-attention layer indices disagree with the configured interval (cross_attn_every_n_layers, cross_attention_frequency)"
        case .zeroElements: "a tensor has no elements (a DeepSpeed ZeRO-3 partitioned placeholder such as torch.Size([0]))"
        case .packedQuantized: "an integer tensor with a bitsandbytes-packed shape ([n, 1]) stands where a float weight belongs"
        case .unexpectedDType: "an integer or boolean tensor stands where a float parameter belongs"
        case .dimensionConflict: "two sources (flags, presets, config, LLM checkpoint) give different values for one dimension"
        case .unresolvedDimension: "a shape could not be checked because a dimension is not determined by anything"
        case .nonFinite: "a parameter holds NaN or infinite values"
        case .allZero: "a weight is entirely zero (a connector that was never trained or failed to load)"
        case .constant: "every element of a weight has the same value"
        case .zeroGate: "a tanh gate is exactly zero, so its block is switched off (gates are initialised to zero: never trained)"
        case .f16OverflowRisk: "a bf16/f32 parameter holds magnitudes above 65504, which become infinite in f16"
        case .projectorTypeMissing: "an mmproj GGUF lacks `clip.projector_type` (current llama.cpp refuses it); the type inferred from the tensors is given"
        case .projectorTypeUnknown: "`clip.projector_type` is not a type llama.cpp knows"
        case .projectorTypeMismatch: "the declared projector type (`clip.projector_type`, `mm_projector_type`, `model_type`) disagrees with the tensors"
        case .metadataMismatch: "GGUF metadata disagrees with the tensor shapes (the shapes win)"
        case .quantizedCheckpoint: "the config declares a quantization_config (bitsandbytes/GPTQ/AWQ): shapes may be packed"
        case .assumedDefault: "a dimension was taken from the family's published default"
        case .valuesSkipped: "a parameter's values were not scanned (a block-quantized or integer type)"
        }
    }
}

/// One finding: a stable code, its severity, the tensor (if any), expected vs found, and a hint.
public struct Diagnostic: Sendable, Equatable {
    public var code: DiagnosticCode
    public var severity: Severity
    public var tensor: String?
    public var message: String
    public var expected: [Int?]?
    public var found: [Int]?
    public var hint: String?

    public init(_ code: DiagnosticCode, tensor: String? = nil, _ message: String, expected: [Int?]? = nil, found: [Int]? = nil,
                hint: String? = nil) {
        self.code = code
        severity = code.severity
        self.tensor = tensor
        self.message = message
        self.expected = expected
        self.found = found
        self.hint = hint
    }

    public var json: JSONValue {
        var members = [JSONValue.Member("severity", .string(severity.rawValue)), JSONValue.Member("code", .string(code.rawValue)),
                       JSONValue.Member("tensor", tensor.map { .string($0) } ?? .null), JSONValue.Member("message", .string(message))]
        if let expected { members.append(JSONValue.Member("expected", .array(expected.map { $0.map { .int($0) } ?? .null }))) }
        if let found { members.append(JSONValue.Member("found", .array(found.map { .int($0) }))) }
        if let hint { members.append(JSONValue.Member("hint", .string(hint))) }
        return .object(members)
    }

    /// Compiler-style line: `error[shape-mismatch] model.mm_projector.2.weight: … (hint: …)`.
    public var line: String {
        var text = "\(severity.rawValue)[\(code.rawValue)]"
        if let tensor { text += " \(tensor)" }
        text += ": " + message
        if let hint { text += " (hint: \(hint))" }
        return text
    }
}

func shapeText(_ shape: [Int?]) -> String { "[" + shape.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + "]" }
func shapeText(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
