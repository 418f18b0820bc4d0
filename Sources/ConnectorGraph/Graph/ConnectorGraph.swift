/// A typed, declarative description of a connector: its symbolic dimensions, its inputs, an ordered
/// list of typed nodes (each parameter with a symbolic shape), its outputs, and the naming schemes that
/// map its canonical parameter roles onto the tensor names real checkpoints use.
///
/// The same description drives the checker (`validate`), `describe`, and anything later that runs or
/// exports a connector. Built-in families construct these in Swift (`Families/`); users write them in
/// JSON (`schemes/connector-graph.schema.json`), read and written through `Codable`.
///
/// Semantics, shared by every consumer:
/// - Values are named `[tokens, width]` activations for one image. Nodes run in order; a node reads the
///   values named in `inputs` and (re)binds the value named `output`. A `repeat` block runs its body
///   `count` times with its index symbol bound to 0, 1, …; a body node with `when` runs only on the
///   iterations where `index % every == phase`.
/// - Parameter shapes are row-major, PyTorch orientation (`nn.Linear` weight `[out, in]`). How a
///   checkpoint actually stores a parameter (transposed, squeezed, split in parts, under which name) is
///   the naming scheme's business, not the graph's.
public struct ConnectorGraph: Sendable, Equatable {
    public static let formatName = "connkit-connector-graph"
    public static let formatVersion = 1

    public var name: String
    /// One of the built-in family names for built-in graphs; free text for a custom graph.
    public var family: String
    public var variant: String?
    public var description: String?
    public var dimensions: [DimensionDecl]
    public var inputs: [ValueDecl]
    public var nodes: [GraphNode]
    public var outputs: [ValueDecl]
    /// Relations between dimensions that are not visible in any single shape.
    public var constraints: [Constraint]
    /// How checkpoints name the parameters. Empty: every role is itself the tensor name.
    public var schemes: [NamingScheme]

    public init(name: String, family: String, variant: String? = nil, description: String? = nil,
                dimensions: [DimensionDecl], inputs: [ValueDecl], nodes: [GraphNode], outputs: [ValueDecl],
                constraints: [Constraint] = [], schemes: [NamingScheme] = []) {
        self.name = name
        self.family = family
        self.variant = variant
        self.description = description
        self.dimensions = dimensions
        self.inputs = inputs
        self.nodes = nodes
        self.outputs = outputs
        self.constraints = constraints
        self.schemes = schemes
    }

    public func dimension(_ symbol: String) -> DimensionDecl? { dimensions.first { $0.symbol == symbol } }
    public func dimension(key: String) -> DimensionDecl? { dimensions.first { $0.key == key } }
}

/// A named symbolic dimension.
public struct DimensionDecl: Sendable, Equatable {
    /// The symbol used in expressions (`D_enc`).
    public var symbol: String
    /// The standard meaning, shared with flags, presets, configs and reports (`encoder`, `llm`,
    /// `queries`…; see `DimensionKey`). Nil for a purely internal symbol.
    public var key: String?
    public var description: String
    /// The family's published value, used (and reported as an assumption) only when nothing else
    /// fixes the dimension.
    public var defaultValue: Int?

    public init(_ symbol: String, key: String? = nil, _ description: String, default defaultValue: Int? = nil) {
        self.symbol = symbol
        self.key = key
        self.description = description
        self.defaultValue = defaultValue
    }
}

/// A graph input or output value: `[tokens, width]`.
public struct ValueDecl: Sendable, Equatable {
    public var name: String
    public var shape: [DimExpr]
    public var description: String?

    public init(_ name: String, _ shape: [DimExpr], _ description: String? = nil) {
        self.name = name
        self.shape = shape
        self.description = description
    }
}

/// Where a node runs: in the connector proper, inside the LLM (Flamingo-style gated cross-attention
/// layers), or on the connector's text path (InstructBLIP's Q-Former reads the instruction).
public enum Site: String, Sendable, Equatable, CaseIterable, Codable {
    case connector, llm, text
}

/// Runs a body node only on iterations where `index % every == phase`.
public struct Condition: Sendable, Equatable {
    public var index: String
    public var every: DimExpr
    public var phase: DimExpr = 0

    /// Whether iteration `value` runs, given the bindings (nil when `every`/`phase` are unknown).
    func holds(at value: Int, _ lookup: (String) -> Int?) -> Bool? {
        guard let every = every.value(lookup), every > 0, let phase = phase.value(lookup) else { return nil }
        return value % every == phase
    }
}

public enum GraphNode: Sendable, Equatable {
    case operation(OperationNode)
    case repeatBlock(RepeatBlock)

    public var name: String {
        switch self {
        case .operation(let node): node.name
        case .repeatBlock(let block): block.name
        }
    }
}

/// A block of nodes run `count` times; `index` is bound to the iteration number inside the body and
/// appears in the body's parameter roles (`layers.{i}.attn.q.weight`).
public struct RepeatBlock: Sendable, Equatable {
    public var name: String
    public var index: String
    public var count: DimExpr
    public var body: [GraphNode]
}

/// One typed operation with its parameters.
public struct OperationNode: Sendable, Equatable {
    public var name: String
    public var operation: Operation
    public var inputs: [String]
    public var output: String
    /// Parameters, in the operation's slot order. Shapes follow from the operation's attributes.
    public var params: [ParamSpec]
    public var when: Condition?
    public var site: Site
    /// The node may be absent as a whole (all its parameters missing together), e.g. LLaVA-NeXT's
    /// `image_newline` or a resampler's `kv_proj` when the widths already agree.
    public var optional: Bool
    /// The epsilon of a `layer_norm`, `rms_norm` or an attention's q/k norms, as the release's module
    /// sets it; nil means PyTorch's default (1e-5 for LayerNorm, 1e-6 for RMSNorm). A config's
    /// `layer_norm_eps`/`rms_norm_eps` overrides it (`ConfiguredAttributes`).
    public var eps: Double? = nil
    /// The element order of a `pixel_shuffle` (nil: `.rows`).
    public var order: PixelShuffleOrder? = nil
}

extension OperationNode {
    /// A node whose parameters follow from the operation's slots; a slot's role is `roles[slot]`, by
    /// default `name.slot`.
    public init(name: String, operation: Operation, inputs: [String], output: String, roles: [String: String],
                when: Condition? = nil, site: Site = .connector, optional: Bool = false, eps: Double? = nil,
                order: PixelShuffleOrder? = nil) {
        let params = operation.parameterSlots.map { slot in
            ParamSpec(slot: slot.slot, role: roles[slot.slot] ?? "\(name).\(slot.slot)", shape: slot.shape, gate: slot.isGate)
        }
        self.init(name: name, operation: operation, inputs: inputs, output: output, params: params, when: when, site: site,
                  optional: optional, eps: eps, order: order)
    }

    /// The epsilon this node normalises with, given what the model's config sets: the config's value
    /// for the norm's kind wins, then the description's `eps`, then PyTorch's default. Nil for a node
    /// that does not normalise.
    public func normEps(_ configured: ConfiguredAttributes = ConfiguredAttributes()) -> Double? {
        let rms: Bool
        switch operation {
        case .layerNorm: rms = false
        case .rmsNorm: rms = true
        case .attention(let a) where a.qkNorm != .none: rms = a.qkNorm == .rms_norm
        default: return nil
        }
        return (rms ? configured.rmsNormEps : configured.layerNormEps) ?? eps ?? (rms ? 1e-6 : 1e-5)
    }

    /// The group a parameter slot is optional with (absent or present together), or nil when the slot is
    /// required: the whole node for an optional node, the q/k norm pair of an attention whose norms are
    /// optional (`node.qk_norm`).
    public func optionalGroup(slot: String, instance: String) -> String? {
        if optional { return instance }
        if case .attention(let a) = operation, a.qkNormOptional, slot.hasPrefix("q_norm.") || slot.hasPrefix("k_norm.") {
            return instance + ".qk_norm"
        }
        return nil
    }

    /// The pixel shuffle's order, given what the model's config sets (InternVL's `ps_version`).
    public func shuffleOrder(_ configured: ConfiguredAttributes = ConfiguredAttributes()) -> PixelShuffleOrder {
        configured.pixelShuffleOrder ?? order ?? .rows
    }
}

/// The element order of a pixel shuffle on an H×W grid by s. Both put patch (s·i + a, s·j + b) into
/// channel block `a·s + b` of the merged token of cell (i, j); they differ in the order of the merged
/// tokens.
public enum PixelShuffleOrder: String, Sendable, Equatable, CaseIterable, Codable {
    /// Cells row by row (token `i·W/s + j`): transformers' InternVL and Idefics3, InternVL's original
    /// `ps_version` "v2".
    case rows
    /// Cells column by column (token `j·H/s + i`): InternVL's original `ps_version` "v1", which does not
    /// swap height and width back.
    case columns
}

/// Node attributes a model's config sets over the graph description's values, with where each came from.
public struct ConfiguredAttributes: Sendable, Equatable {
    /// Every LayerNorm of the connector (BLIP-2's `qformer_config.layer_norm_eps`).
    public var layerNormEps: Double?
    /// Every RMSNorm of the connector (Idefics2's `perceiver_config.rms_norm_eps`).
    public var rmsNormEps: Double?
    public var pixelShuffleOrder: PixelShuffleOrder?
    /// `key = value (from where)`, for reports.
    public var sources: [String]

    public init(layerNormEps: Double? = nil, rmsNormEps: Double? = nil, pixelShuffleOrder: PixelShuffleOrder? = nil,
                sources: [String] = []) {
        self.layerNormEps = layerNormEps
        self.rmsNormEps = rmsNormEps
        self.pixelShuffleOrder = pixelShuffleOrder
        self.sources = sources
    }

    /// The attributes of several configs (one per folder among the inputs): the first value each
    /// attribute is given wins; every source is kept.
    public init(merging all: [ConfiguredAttributes]) {
        self.init(layerNormEps: all.lazy.compactMap(\.layerNormEps).first,
                  rmsNormEps: all.lazy.compactMap(\.rmsNormEps).first,
                  pixelShuffleOrder: all.lazy.compactMap(\.pixelShuffleOrder).first,
                  sources: all.flatMap(\.sources))
    }
}


/// One parameter: the operation's slot (`weight`, `q.weight`…), its canonical role name (what naming
/// schemes map; may contain `{i}` for a repeat index) and its symbolic shape.
public struct ParamSpec: Sendable, Equatable {
    public var slot: String
    public var role: String
    public var shape: [DimExpr]
    /// A tanh gate initialised to zero (Flamingo `attn_gate`, IDEFICS `alpha_*`): all-zero values mean
    /// the block was never trained.
    public var gate: Bool = false
}

/// A relation between dimensions, checked once its symbols are known.
public struct Constraint: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, Codable {
        /// `value` is a multiple of `by`.
        case divisible
        /// `value` equals `by`.
        case equal
    }
    public var kind: Kind
    public var value: DimExpr
    public var by: DimExpr
    /// The diagnostic code reported when it fails.
    public var code: String
    public var message: String

    public init(_ kind: Kind, _ value: DimExpr, _ by: DimExpr, code: String, message: String) {
        self.kind = kind
        self.value = value
        self.by = by
        self.code = code
        self.message = message
    }
}
