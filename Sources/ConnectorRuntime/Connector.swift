import ConnectorGraph
import TensorFormats

/// A connector ready to run: its graph unrolled for concrete dimensions and bound to float32 weights.
///
/// The whole API: make one (from a bound checkpoint, or from a graph, dimensions and weights), `run`
/// features, read float32 outputs. The same inputs give the same output bits on every run.
public final class Connector: Sendable {
    public let graph: ConnectorGraph
    /// Every dimension by symbol (`D_enc`, `D_llm`, `Q`…).
    public let dims: [String: Int]
    public let weights: WeightStore
    /// What the model's config sets over the graph's node attributes (norm epsilons, shuffle order).
    public let configured: ConfiguredAttributes
    /// The width the features must have (`D_enc`, or `D_enc·F` for concatenated feature layers).
    public let inputWidth: Int
    /// How the input width was decided, for messages (`D_enc (encoder) = 1024 from config.json: …`).
    let inputWidthNote: String
    let program: Program

    /// - Parameter dimensionNotes: where each dimension's value came from, by symbol (for messages).
    public init(graph: ConnectorGraph, dims: [String: Int], weights: WeightStore, configured: ConfiguredAttributes = ConfiguredAttributes(),
                dimensionNotes: [String: String] = [:]) throws {
        self.graph = graph
        self.dims = dims
        self.weights = weights
        self.configured = configured
        program = try Program(graph: graph, dims: dims, weights: weights, configured: configured)
        guard let input = graph.inputs.first, input.shape.count == 2, let width = input.shape[1].value(dims), width > 0 else {
            throw RuntimeError(.unsupported("the width of the graph's input is not known for these dimensions"))
        }
        inputWidth = width
        let symbols = input.shape[1].symbols
        let notes = symbols.map { symbol in
            let key = graph.dimension(symbol)?.key.map { " (\($0))" } ?? ""
            return "\(symbol)\(key) = \(dims[symbol].map(String.init) ?? "?")" + (dimensionNotes[symbol].map { " from \($0)" } ?? "")
        }
        inputWidthNote = symbols.count == 1 && input.shape[1] == .symbol(symbols[0]) ? notes[0]
            : "\(input.shape[1]) = \(width), with " + notes.joined(separator: ", ")
    }

    /// The same connector with one parameter's values replaced (same shape).
    public func replacing(_ role: String, with values: [Float]) throws -> Connector {
        try replacing([role: values])
    }

    /// The same connector with several parameters' values replaced (each of the same shape).
    public func replacing(_ replacements: [String: [Float]]) throws -> Connector {
        try Connector(graph: graph, dims: dims, weights: try weights.replacing(replacements), configured: configured,
                      noteFor: inputWidthNote)
    }

    private init(graph: ConnectorGraph, dims: [String: Int], weights: WeightStore, configured: ConfiguredAttributes, noteFor note: String) throws {
        self.graph = graph
        self.dims = dims
        self.weights = weights
        self.configured = configured
        program = try Program(graph: graph, dims: dims, weights: weights, configured: configured)
        inputWidth = graph.inputs[0].shape[1].value(dims)!
        inputWidthNote = note
    }

    /// Threads the runtime uses (OpenBLAS's pool: `OPENBLAS_NUM_THREADS`, else every online processor).
    public static var threads: Int { BLAS.threads }

    /// The matrix-product kernels in use (OpenBLAS's core name, `Accelerate` on macOS).
    public static var blasCore: String { BLAS.core }

    /// The patch grid for `tokens`: `grid` when given (H·W must equal the token count), else the square
    /// root of the token count when it is a square, else none (kernels that need one say so).
    public static func grid(tokens: Int, given grid: Grid?) throws -> Grid? {
        if let grid {
            guard grid.tokens == tokens else {
                throw RuntimeError(.tokens("--grid \(grid) gives \(grid.tokens.map(String.init) ?? "too many") tokens, the features have \(tokens)"))
            }
            return grid
        }
        let side = Int(Double(tokens).squareRoot())
        for candidate in [side - 1, side, side + 1] where candidate > 0 && candidate * candidate == tokens {
            return Grid(height: candidate, width: candidate)
        }
        return nil
    }

    /// Plans a run on `tokens` tokens per image: shapes, buffers and memory, before anything runs.
    public func plan(tokens: Int, grid: Grid? = nil) throws -> RunPlan {
        guard tokens > 0 else { throw RuntimeError(.badFeatures("the features have no tokens")) }
        let input = ValueShape(tokens: tokens, width: inputWidth, grid: try Connector.grid(tokens: tokens, given: grid))
        let plan = try RunPlan(program: program, input: input)
        try MemoryBudget.check(bytes: plan.activationBytes, what: "the activations for \(tokens) tokens")
        return plan
    }

    /// Runs every image of `features`; the output is `[B, T_out, D_out]` (`[T_out, D_out]` for 2-D
    /// features). `observer` sees the rows entering every matrix weight.
    public func run(_ features: Features, grid: Grid? = nil, observer: LinearInputObserver? = nil) throws -> RunOutput {
        let (plan, output) = try prepare(features, grid: grid)
        let (buffers, scratch) = plan.makeBuffers()
        let context = RunContext(observer: observer)
        for image in 0 ..< features.batch {
            plan.execute(features.image(image), into: output.values.pointer + image * output.tokens * output.width, buffers: buffers,
                         scratch: scratch, context: context)
        }
        return output
    }

    /// The plan for `features` and an output to fill, once the features fit and everything fits in memory
    /// (with `extraBytes(plan)` more besides the output and activations).
    func prepare(_ features: Features, grid: Grid?, extraBytes: (RunPlan) throws -> Int = { _ in 0 }) throws -> (RunPlan, RunOutput) {
        guard features.width == inputWidth else {
            throw RuntimeError(.badFeatures("\(features.origin) is \(features.width) wide, the connector reads \(inputWidthNote)"))
        }
        let plan = try self.plan(tokens: features.tokens, grid: grid)
        let extraBytes = try extraBytes(plan)
        guard let perImage = Checked.multiply(plan.outputTokens, plan.outputWidth),
              let total = Checked.multiply(perImage, features.batch), let bytes = Checked.multiply(total, 4),
              let withPlan = checkedSum([bytes, plan.activationBytes, extraBytes]) else {
            throw RuntimeError(.plan("the output for \(features.batch) images overflows the address space"))
        }
        try MemoryBudget.check(bytes: withPlan, what: "the output and activations")
        let output = RunOutput(values: FloatBuffer(count: total), batch: features.batch, tokens: plan.outputTokens,
                               width: plan.outputWidth, batchAxis: features.batchAxis)
        return (plan, output)
    }
}

/// What the LLM receives: `[B, T_out, D_out]` float32 (`[T_out, D_out]` for 2-D features).
public struct RunOutput: Sendable {
    public let values: FloatBuffer
    public let batch: Int
    public let tokens: Int
    public let width: Int
    public let batchAxis: Bool

    public var shape: [Int] { batchAxis ? [batch, tokens, width] : [tokens, width] }
    /// Output tokens over the whole batch.
    public var rows: Int { batch * tokens }
}

extension Connector {
    /// The connector `validate` bound to a checkpoint, ready to run: its parameters read as float32 in
    /// canonical layout (only those the connector's nodes use: LLM-side layers and text paths are not
    /// read). The report must be valid (a connector with validation errors does not run).
    public convenience init(bound: BoundConnector) throws {
        var dims: [String: Int] = [:]
        var notes: [String: String] = [:]
        for dimension in bound.dimensions {
            if let value = dimension.value { dims[dimension.symbol] = value }
            if let source = dimension.source { notes[dimension.symbol] = "\(source)" }
        }
        var parameters: [StoredParameter] = []
        var seen = Set<String>()
        for role in try Program.roles(bound.graph, dims: dims) where seen.insert(role).inserted {
            guard let parameter = bound.parameter(role: role), parameter.layout != .absent else { continue }
            let shape = parameter.shape.compactMap { $0 }
            guard shape.count == parameter.shape.count else {
                throw RuntimeError(.weight("\(role): the shape of \(parameter.tensors.map(\.name).joined(separator: " + ")) is not fully known"))
            }
            parameters.append(StoredParameter(role: role, tensors: parameter.tensors, transposed: parameter.layout == .transposed, shape: shape))
        }
        try self.init(graph: bound.graph, dims: dims, weights: try WeightStore(parameters), configured: bound.attributes,
                      dimensionNotes: notes)
    }
}
