import ConnectorGraph
import ConnectorRuntime
import TensorFormats

/// Translates a bound connector graph into ONNX nodes: the connector's nodes in the runtime's order
/// (`Program.walk`: repeats unrolled, `when` conditions applied, LLM-side and text-path nodes left out),
/// one emitter per operation of the graph language, so the model computes what `connkit run` computes.
/// Nothing here knows a family: every behaviour comes from the graph, its attributes and the dimensions.
final class ConnectorEmitter {
    static let inputName = "image_features"
    static let outputName = "connector_output"

    let bound: BoundConnector
    let dims: [String: Int]
    let options: ExportOptions
    /// The element type of activations and weights (norms and softmax run in f32 regardless).
    let compute: DType
    let builder: GraphBuilder
    let weights: ExportWeights
    /// The graph's values as the nodes (re)bind them.
    var values: [String: ExportValue] = [:]
    /// `[batch]` as int64, for the shapes of broadcast tables.
    private(set) lazy var batchShape = builder.op("Shape", [Self.inputName], scope: "batch",
                                                  [ONNXAttribute("start", .int(0)), ONNXAttribute("end", .int(1))])

    init(bound: BoundConnector, options: ExportOptions) {
        self.bound = bound
        self.options = options
        dims = Self.dimensions(bound)
        compute = options.precision.dtype
        builder = GraphBuilder(opset: options.opset)
        weights = ExportWeights(bound: bound, builder: builder, strict: options.strict)
    }

    /// Every dimension with a value, by symbol.
    static func dimensions(_ bound: BoundConnector) -> [String: Int] {
        var dims: [String: Int] = [:]
        for dimension in bound.dimensions { if let value = dimension.value { dims[dimension.symbol] = value } }
        return dims
    }

    /// The operations whose computation needs the patch grid, so a fixed token count.
    static func needsGrid(_ operation: Operation) -> Bool {
        switch operation {
        case .pixelShuffle, .depthwiseConv, .pooling, .resize: true
        case .positionEmbedding(_, _, let layout): layout == .sincos_2d
        default: false
        }
    }

    /// Emits the whole graph for the input `input` and returns the value bound to the graph's output.
    func emit(input: ExportValue) throws -> ExportValue {
        let graph = bound.graph
        guard let graphInput = graph.inputs.first, let graphOutput = graph.outputs.first else {
            throw RuntimeError(.unsupported("the graph \(graph.name) declares no input or no output"))
        }
        values[graphInput.name] = input
        try Program.walk(graph, dims: dims) { node, name, roles, lookup in
            let inputs = try node.inputs.map { value in
                guard let bound = values[value] else {
                    throw RuntimeError(.unsupported("node \(name) reads \(value), which the connector does not compute (the model's only input is the image features)"))
                }
                return bound
            }
            var slots: [String: String] = [:]
            for (param, role) in zip(node.params, roles) where weights.stored(role) != nil { slots[param.slot] = role }
            if node.optional && slots.isEmpty && !node.params.isEmpty && !node.operation.runsWithoutParameters {
                // An optional node the checkpoint does not hold: its output is its input.
                guard inputs.count == 1 else { return }
                values[node.output] = inputs[0]
                return
            }
            values[node.output] = try withoutActuallyEscaping(lookup) { lookup in
                try emit(NodeContext(node: node, scope: name, slots: slots, lookup: lookup), inputs)
            }
        }
        guard let output = values[graphOutput.name] else {
            throw RuntimeError(.unsupported("the graph's output \(graphOutput.name) is not computed by the connector's nodes"))
        }
        return output
    }

    /// What an operation's emitter needs of its node.
    struct NodeContext {
        let node: OperationNode
        /// The node's instantiated name (`layers.3.attn`), the scope of its ONNX nodes.
        let scope: String
        /// Slot → concrete role, for the parameters the checkpoint holds.
        let slots: [String: String]
        let lookup: (String) -> Int?

        func value(_ expr: DimExpr) throws -> Int {
            guard let value = expr.value(lookup), value > 0 else {
                throw RuntimeError(.unsupported("node \(scope): \(expr) has no positive value for this connector"))
            }
            return value
        }

        func role(_ slot: String) throws -> String {
            guard let role = slots[slot] else { throw RuntimeError(.weight("node \(scope): parameter \(slot) is missing")) }
            return role
        }
    }

    private func emit(_ context: NodeContext, _ inputs: [ExportValue]) throws -> ExportValue {
        let node = context.node
        switch node.operation {
        case .linear(let inDim, let outDim, _), .pointwiseConv(let inDim, let outDim, _):
            return try linear(inputs[0], weight: try context.role("weight"), bias: context.slots["bias"],
                              in: try context.value(inDim), out: try context.value(outDim), scope: context.scope)
        case .activation(let function):
            return activation(inputs[0], function, scope: context.scope)
        case .layerNorm:
            return try norm(inputs[0], weight: try context.role("weight"), bias: context.slots["bias"], rms: false,
                            eps: node.normEps(bound.attributes) ?? 0, scope: context.scope)
        case .rmsNorm:
            return try norm(inputs[0], weight: try context.role("weight"), bias: nil, rms: true,
                            eps: node.normEps(bound.attributes) ?? 0, scope: context.scope)
        case .attention(let attention):
            return try self.attention(attention, context, inputs)
        case .feedForward(let f):
            return try feedForward(f, context, inputs[0])
        case .learnedQueries(let count, let dim, _):
            return try learnedQueries(try context.role("queries"), count: try context.value(count), dim: try context.value(dim),
                                      scope: context.scope)
        case .residual(let gated):
            return try residual(inputs[0], inputs[1], gate: gated ? try context.role("gate") : nil, scope: context.scope)
        case .pixelShuffle(let factor):
            return try pixelShuffle(inputs[0], factor: try context.value(factor), columns: node.shuffleOrder(bound.attributes) == .columns,
                                    scope: context.scope)
        case .spatialMerge(let factor):
            return try spatialMerge(inputs[0], factor: try context.value(factor), scope: context.scope)
        case .depthwiseConv(let channels, let kernel, let stride, _):
            return try depthwiseConv(inputs[0], weight: try context.role("weight"), bias: context.slots["bias"],
                                     channels: try context.value(channels), kernel: kernel, stride: stride, scope: context.scope)
        case .squeezeExcite(let channels, let hidden):
            return try squeezeExcite(inputs[0], context, channels: try context.value(channels), hidden: try context.value(hidden))
        case .pooling(let kind, let stride, let cells):
            return try pooling(inputs[0], kind: kind, stride: stride, cells: cells, scope: context.scope)
        case .positionEmbedding(_, let dim, let layout):
            return try positions(inputs[0], table: context.slots["table"], layout: layout, dim: try context.value(dim), scope: context.scope)
        case .resize:
            return try resize(inputs[0], to: inputs[1], scope: context.scope)
        case .imageNewline:
            return try imageNewline(inputs[0], newline: try context.role("newline"), scope: context.scope)
        case .embedding:
            throw RuntimeError(.unsupported("node \(context.scope) looks up token ids; the exported model reads image features only"))
        }
    }

    // MARK: - Helpers shared by the emitters

    /// `x` as the same value with another ONNX name, type or shape.
    func derived(_ x: ExportValue, _ name: String, type: DType? = nil, tokens: TokenCount? = nil, width: Int? = nil,
                 grid: Grid?? = nil) -> ExportValue {
        ExportValue(name: name, type: type ?? x.type, tokens: tokens ?? x.tokens, width: width ?? x.width, grid: grid ?? x.grid)
    }

    /// A width the graph's shapes guarantee for a validated connector; a custom graph can still break it.
    func expectWidth(_ x: ExportValue, _ expected: Int, scope: String, input: Int = 0) throws {
        guard x.width == expected else {
            throw RuntimeError(.unsupported("node \(scope): input \(input) is \(x.width) wide, the operation expects \(expected)"))
        }
    }

    /// The patch grid a node needs: the value's own (from `--grid` or the square root of the token count).
    func requireGrid(_ x: ExportValue, scope: String, operation: String, square: Bool = true) throws -> Grid {
        guard let grid = x.grid else {
            let tokens = x.tokens.fixed.map { "\($0) tokens form no square grid: pass --grid HxW" } ?? "the token count is dynamic: pass --tokens T"
            throw RuntimeError(.tokens("\(operation) (node \(scope)) needs the patch grid, but \(tokens)"))
        }
        if square && grid.height != grid.width {
            throw RuntimeError(.tokens("\(operation) (node \(scope)) needs a square patch grid, got \(grid) (this release supports no other)"))
        }
        return grid
    }

    /// A fixed token count a node's shape computation needs.
    func fixedTokens(_ x: ExportValue, scope: String, operation: String) throws -> Int {
        guard let tokens = x.tokens.fixed else {
            throw RuntimeError(.tokens("\(operation) (node \(scope)) needs a fixed token count: pass --tokens T"))
        }
        return tokens
    }
}
