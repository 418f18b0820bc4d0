import ConnectorGraph
import ConnectorRuntime
import TensorFormats

/// Exports a bound connector as an ONNX model that computes what `connkit run` computes.
///
/// The model has one input, `image_features` `[batch, tokens, D_enc]`, and one output, `connector_output`
/// `[batch, tokens_out, D_out]` (`batch` symbolic; `tokens` fixed, or symbolic with `Tokens.dynamic` for a
/// connector whose computation needs no patch grid), built from standard operators of the default domain
/// (`ConnectorEmitter`). Initializers are the connector's parameters under their checkpoint names
/// (`ExportWeights`), streamed from the mapped checkpoint by `ONNXWriter`. `metadata_props` hold
/// `connkit.family`, `connkit.variant`, `connkit.scheme`, `connkit.dims` (a JSON object of every
/// dimension by key) and `connkit.version`; `producer_name` is `connkit`.
///
/// ```swift
/// let report = Validator.validate(request)
/// if report.valid, let connector = report.connector {
///     let summary = try ONNXExport.export(connector, to: "projector.onnx",
///                                         options: ExportOptions(tokens: .fixed(576), producerVersion: "0.1.0"))
/// }
/// ```
public enum ONNXExport {
    public static let producerName = "connkit"

    /// The connector-site nodes whose computation needs the patch grid (so a fixed token count), by name.
    public static func gridNodes(_ bound: BoundConnector) throws -> [String] {
        var names: [String] = []
        try Program.walk(bound.graph, dims: ConnectorEmitter.dimensions(bound)) { node, name, _, _ in
            if ConnectorEmitter.needsGrid(node.operation) { names.append("\(name) (\(node.operation.opName))") }
        }
        return names
    }

    public static func export(_ bound: BoundConnector, to path: String, options: ExportOptions) throws -> ExportSummary {
        guard ExportOptions.opsets.contains(options.opset) else {
            throw RuntimeError(.usage("--opset \(options.opset): export writes opsets \(ExportOptions.opsets.lowerBound) to \(ExportOptions.opsets.upperBound)"))
        }
        let emitter = ConnectorEmitter(bound: bound, options: options)
        guard let graphInput = bound.graph.inputs.first, graphInput.shape.count == 2,
              let width = graphInput.shape[1].value(emitter.dims), width > 0 else {
            throw RuntimeError(.unsupported("the width of the graph's input is not known for these dimensions"))
        }
        let input: ExportValue
        switch options.tokens {
        case .fixed(let tokens):
            guard tokens > 0 else { throw RuntimeError(.usage("--tokens needs a positive token count, got \(tokens)")) }
            let grid = try Connector.grid(tokens: tokens, given: options.grid)
            input = ExportValue(name: ConnectorEmitter.inputName, type: emitter.compute, tokens: .fixed(tokens), width: width, grid: grid)
        case .dynamic:
            if options.grid != nil { throw RuntimeError(.usage("--grid fixes the token count; it does not go with --dynamic")) }
            let needing = try gridNodes(bound)
            guard needing.isEmpty else {
                throw RuntimeError(.usage("--dynamic: the \(bound.family)/\(bound.variant) computation needs the patch grid (\(needing.joined(separator: ", "))); pass --tokens T (and --grid HxW for a grid that is not square)"))
            }
            input = ExportValue(name: ConnectorEmitter.inputName, type: emitter.compute, tokens: .input, width: width, grid: nil)
        }
        let output = try emitter.emit(input: input)
        emitter.builder.op("Identity", [output.name], scope: "output", output: ConnectorEmitter.outputName)

        let inputInfo = ONNXValueInfo(name: ConnectorEmitter.inputName, elementType: emitter.compute,
                                      shape: [.symbolic("batch"), dimension(input.tokens), .fixed(width)])
        let outputInfo = ONNXValueInfo(name: ConnectorEmitter.outputName, elementType: emitter.compute,
                                       shape: [.symbolic("batch"), dimension(output.tokens), .fixed(output.width)])
        let nodes = emitter.builder.nodes
        let initializers = emitter.weights.initializers
        let model = ONNXModelDescription(
            irVersion: ONNXModelDescription.irVersion(opset: options.opset), opset: options.opset, producerName: producerName,
            producerVersion: options.producerVersion, graphName: bound.graph.name, metadata: metadata(bound, version: options.producerVersion, tokens: input.tokens.fixed),
            inputs: [inputInfo], outputs: [outputInfo], nodes: nodes, initializers: initializers)
        var writer = ONNXWriter(path: path)
        writer.placement = options.externalData ? .external : .automatic
        writer.overwrite = options.overwrite
        writer.inputs = options.inputs
        writer.progress = options.progress
        writer.beforeCommit = options.beforeCommit
        let written = try writer.write(model)

        var counts: [String: Int] = [:]
        for node in nodes { counts[node.opType, default: 0] += 1 }
        return ExportSummary(
            path: path, dataFile: written.dataFile, opset: options.opset, precision: options.precision, input: inputInfo, output: outputInfo,
            grid: try gridNodes(bound).isEmpty ? nil : input.grid, nodes: nodes.count, operators: counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            initializers: initializers.count, weightBytes: initializers.reduce(0) { $0 + $1.info.byteCount },
            modelBytes: written.modelBytes, dataBytes: written.dataBytes, embeddedInitializers: written.embeddedTensors,
            externalInitializers: written.externalTensors, warnings: emitter.weights.outputs.warnings)
    }

    /// The declared size of a token axis: its count, `tokens` for the input's own dynamic count, `tokens_out`
    /// for one derived from it.
    private static func dimension(_ tokens: TokenCount) -> ONNXValueInfo.Dimension {
        switch tokens {
        case .fixed(let count): .fixed(count)
        case .input: .symbolic("tokens")
        case .derived: .symbolic("tokens_out")
        }
    }

    /// `metadata_props`: what the connector is and every dimension by key (JSON, in the graph's order; the
    /// encoder's `tokens` are the model's fixed token count, null when dynamic).
    static func metadata(_ bound: BoundConnector, version: String, tokens: Int?) -> [(key: String, value: String)] {
        let dims = JSONValue.object(bound.dimensions.map { dimension in
            let value = dimension.key == "tokens" ? tokens : dimension.value
            return JSONValue.Member(dimension.key ?? dimension.symbol, value.map { .int($0) } ?? .null)
        })
        return [("connkit.family", bound.family), ("connkit.variant", bound.variant), ("connkit.scheme", bound.scheme),
                ("connkit.dims", dims.serialized(pretty: false)), ("connkit.version", version)]
    }
}
