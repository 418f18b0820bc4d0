import TensorFormats

/// Where a dimension's value came from. Sources rank by precedence: flags > presets > config.json >
/// mmproj GGUF metadata > the LLM checkpoint > the connector's own tensors > the family's default.
public enum DimensionSource: Sendable, Equatable, CustomStringConvertible {
    /// A command-line flag (`--llm-dim`, `--dim queries=64`).
    case flag(String)
    /// A preset for a well-known encoder or LLM.
    case preset(String)
    /// A config.json key path (`text_config.hidden_size`), or a transformers class default for a key
    /// the file leaves out (`detail` says which).
    case config(file: String, key: String, detail: String?)
    /// GGUF metadata of an mmproj file. Advisory: tensor shapes win, a disagreement is a warning.
    case ggufMetadata(key: String)
    /// The mmproj a connector is spliced into (`connkit splice`): what its vision encoder gives the
    /// connector (`clip.vision.embedding_length`, merge sizes, feature layers). Binding, like a flag.
    case mmprojBase(path: String, key: String)
    /// The LLM's embedding width (`--llm-checkpoint`, or an LLM stored in the same checkpoint).
    case llmCheckpoint(path: String, detail: String)
    /// Axis `axis` of a connector tensor.
    case tensor(name: String, axis: Int)
    /// Layer indices present in the tensor names.
    case tensorNames(String)
    /// The family's published default (an assumption, reported as such).
    case familyDefault

    public var precedence: Int {
        switch self {
        case .flag: 0
        case .preset, .mmprojBase: 1
        case .config: 2
        case .ggufMetadata: 3
        case .llmCheckpoint: 4
        case .tensor, .tensorNames: 5
        case .familyDefault: 6
        }
    }

    /// The stable `source` name in JSON reports.
    public var kind: String {
        switch self {
        case .flag: "flag"
        case .preset: "preset"
        case .config: "config"
        case .ggufMetadata: "gguf-metadata"
        case .mmprojBase: "mmproj-base"
        case .llmCheckpoint: "llm-checkpoint"
        case .tensor: "tensor"
        case .tensorNames: "tensor-names"
        case .familyDefault: "default"
        }
    }

    public var description: String {
        switch self {
        case .flag(let flag): flag
        case .preset(let name): "preset \(name)"
        case .config(let file, let key, let detail): detail.map { "\(file): \(key) (\($0))" } ?? "\(file): \(key)"
        case .ggufMetadata(let key): "GGUF metadata \(key)"
        case .mmprojBase(let path, let key): "the base mmproj \(path): \(key)"
        case .llmCheckpoint(let path, let detail): "LLM checkpoint \(path): \(detail)"
        case .tensor(let name, let axis): "\(name) axis \(axis)"
        case .tensorNames(let detail): detail
        case .familyDefault: "family default (assumed)"
        }
    }

    public var json: JSONValue {
        .object([JSONValue.Member("source", .string(kind)), JSONValue.Member("detail", .string(description))])
    }
}

/// A value for a dimension key (`encoder`, `llm`, `queries`…) from one source.
public struct DimensionClaim: Sendable, Equatable {
    public var key: String
    public var value: Int
    public var source: DimensionSource

    public init(key: String, value: Int, source: DimensionSource) {
        self.key = key
        self.value = value
        self.source = source
    }
}

/// What a config file or GGUF metadata says about the connector's kind.
public struct KindHint: Sendable, Equatable {
    public var family: Family?
    public var variant: String?
    /// The text that said it (`mm_projector_type "mlp2x_gelu"`, `clip.projector_type "resampler"`).
    public var evidence: String
    /// True for GGUF `clip.projector_type`, whose value set llama.cpp defines.
    public var fromProjectorType: Bool

    public init(family: Family?, variant: String?, evidence: String, fromProjectorType: Bool = false) {
        self.family = family
        self.variant = variant
        self.evidence = evidence
        self.fromProjectorType = fromProjectorType
    }

    /// Whether a family variant agrees with this hint (`mlpNx_gelu` matches `mlp2x_gelu`).
    func accepts(_ candidate: FamilyVariant, refinedVariant: String? = nil) -> Bool {
        if let family, family != candidate.family { return false }
        guard let variant else { return true }
        return candidate.variant == variant || candidate.variantNames.contains(variant) || refinedVariant == variant
    }
}
