import TensorFormats

/// A connector bound to a checkpoint: what `validate` settled and what running the connector needs —
/// the graph chosen, the value of every dimension, and for each parameter the stored tensor(s) and
/// how the naming scheme lays them out.
///
/// `Validator.validate` produces it (`ValidationReport.connector`) whenever it detects a connector.
/// Only a connector whose report is `valid` is complete: every required parameter then has its
/// tensors, with the shapes the dimensions give.
public struct BoundConnector: Sendable {
    /// As reported: the built-in family and variant (`custom` for a `--graph` description).
    public var family: String
    public var variant: String
    /// The naming scheme the tensors were found under (`custom` for a `--graph` description).
    public var scheme: String
    /// The module path the connector's tensor names start with: the scheme's own
    /// (`model.mm_projector.`), another one the names were found under (`projector.`), or empty for a
    /// connector saved on its own (`0.weight`) or a scheme spread over several modules (BLIP-2).
    public var prefix: String
    public var graph: ConnectorGraph
    /// Every dimension the graph declares, in its order.
    public var dimensions: [BoundDimension]
    /// Every parameter the graph holds for this checkpoint, in graph order with repeats unrolled (a
    /// node excluded by its `when` condition has none).
    public var parameters: [BoundParameter]
    /// Node attributes the model's config sets (norm epsilons, a pixel shuffle's order).
    public var attributes = ConfiguredAttributes()

    private var roleIndex: [String: Int]
    private var values: [String: Int]

    init(family: String, variant: String, scheme: String, prefix: String, graph: ConnectorGraph, dimensions: [BoundDimension],
         parameters: [BoundParameter]) {
        self.family = family
        self.variant = variant
        self.scheme = scheme
        self.prefix = prefix
        self.graph = graph
        self.dimensions = dimensions
        self.parameters = parameters
        var roleIndex: [String: Int] = [:]
        for (offset, parameter) in parameters.enumerated() where roleIndex[parameter.role] == nil { roleIndex[parameter.role] = offset }
        self.roleIndex = roleIndex
        values = [:]
        for dimension in dimensions { if let value = dimension.value { values[dimension.symbol] = value } }
    }

    /// The value of a dimension expression, with repeat indices (`i`) bound as given; nil when a symbol
    /// has no value or a division leaves a remainder.
    public func value(_ expr: DimExpr, indices: [String: Int] = [:]) -> Int? {
        expr.value { indices[$0] ?? values[$0] }
    }

    /// A parameter by its concrete role (`layers.3.attn.q.weight`).
    public func parameter(role: String) -> BoundParameter? { roleIndex[role].map { parameters[$0] } }

    /// The parameter of a node's `spec` at the given repeat indices (nil where the node does not run).
    public func parameter(_ spec: ParamSpec, indices: [String: Int] = [:]) -> BoundParameter? {
        guard let role = (try? NameTemplate(spec.role))?.instantiate({ indices[$0] }) else { return nil }
        return parameter(role: role)
    }
}

/// A dimension of the graph with its value (nil: nothing determined it) and where the value came from.
public struct BoundDimension: Sendable {
    public var symbol: String
    public var key: String?
    public var value: Int?
    public var source: DimensionSource?
}

/// One parameter: its concrete role and node, its shape in the graph's orientation (PyTorch's,
/// `nn.Linear` weight `[out, in]`), and the stored tensor(s) holding it.
public struct BoundParameter: Sendable {
    /// How the stored tensors hold the parameter.
    public enum Layout: Sendable, Equatable {
        /// Not stored: its optional node is absent from the checkpoint, or the scheme never stores it.
        case absent
        /// One tensor in the graph's shape and element order.
        case direct
        /// One tensor with size-1 axes dropped (or added): the same elements, to be reshaped.
        case squeezed
        /// One 2-D tensor holding the transpose (a raw `x @ P` parameter).
        case transposed
        /// Split along the first axis into `tensors`, in order (a fused projection stored as q, k, v).
        case parts
    }

    public var role: String
    /// The graph's role template (`layers.{i}.attn.q.weight`) and the repeat indices that give `role`.
    public var roleTemplate: String
    public var indices: [String: Int]
    public var node: String
    /// The operation's slot (`weight`, `q.weight`, `queries`…).
    public var slot: String
    /// Axis sizes; nil for an axis no source determines (the report then warns `unresolved-dimension`).
    public var shape: [Int?]
    public var layout: Layout
    /// The stored tensors: none when absent, the parts in order when split.
    public var tensors: [Tensor]
}

extension BoundConnector {
    /// Binds a finished check: final dimension values and each parameter's tensors.
    init(family: String, variant: String, scheme: String, prefix: String, check: GraphCheck.Result, graph: ConnectorGraph) {
        let binder = check.binder
        let dimensions = graph.dimensions.map { dim in
            BoundDimension(symbol: dim.symbol, key: dim.key, value: binder.value(dim.symbol), source: binder.source(dim.symbol))
        }
        let parameters = check.params.map { param in
            BoundParameter(role: param.role, roleTemplate: param.roleTemplate, indices: param.indices, node: param.node, slot: param.slot, shape: param.shape.map { $0.value(binder.lookup) },
                           layout: param.layout, tensors: param.found)
        }
        self.init(family: family, variant: variant, scheme: scheme, prefix: prefix, graph: graph, dimensions: dimensions,
                  parameters: parameters)
    }
}

extension FoundParam {
    /// How the found tensors hold the parameter.
    var layout: BoundParameter.Layout {
        guard let first = found.first else { return .absent }
        if expected.isParts { return .parts }
        if expected.transposed { return .transposed }
        return first.shape.count == expected.rank ? .direct : .squeezed
    }
}
