import ConnectorGraph
import ConnectorRuntime
import Quantization
import TensorFormats

/// What a quantization is judged against: a checkpoint's connector and the original's output on some
/// features. Quantized weights are given as float32 values of *stored* tensors, named and laid out as the
/// checkpoint stores them (what a written file decodes to); the reference puts them into the connector's
/// canonical layout (parts joined, transposed storage transposed back, squeezed axes restored — the
/// runtime's own `WeightStore`) and runs it from the first step that reads one (`RecordedRun`).
public final class OutputReference {
    public let bound: BoundConnector
    public let connector: Connector
    public let recorded: RecordedRun
    /// The features, as the report describes them.
    public let features: OutputEvaluation.Features
    /// The parameter holding each stored tensor the run reads, by tensor name.
    private let readers: [String: BoundParameter]

    /// Runs `connector` (bound from `bound`) on `features`; `observer` sees the rows entering every matrix
    /// weight of this run (importance collection). `synthetic`: the features come from `--random`.
    public init(bound: BoundConnector, connector: Connector, features: Features, grid: Grid?, synthetic: Bool,
                observer: LinearInputObserver? = nil) throws {
        self.bound = bound
        self.connector = connector
        recorded = try RecordedRun(connector, features: features, grid: grid, observer: observer)
        let usedGrid = try Connector.grid(tokens: features.tokens, given: grid)
        self.features = OutputEvaluation.Features(source: features.origin, synthetic: synthetic, shape: features.shape,
                                                  grid: usedGrid.map { [$0.height, $0.width] })
        var readers: [String: BoundParameter] = [:]
        for role in recorded.roles {
            guard let parameter = bound.parameter(role: role) else { continue }
            for tensor in parameter.tensors where readers[tensor.name] == nil { readers[tensor.name] = parameter }
        }
        self.readers = readers
    }

    /// The same connector and reference on other features (`--eval-input`).
    public func on(_ features: Features, grid: Grid?, synthetic: Bool) throws -> OutputReference {
        try OutputReference(bound: bound, connector: connector, features: features, grid: grid, synthetic: synthetic)
    }

    /// Whether the connector's run reads the stored tensor `name`.
    public func reads(_ name: String) -> Bool { readers[name] != nil }

    /// The first step reading the stored tensor `name` (for ordering work so that restarts share a prefix).
    public func firstStep(reading name: String) -> Int? {
        readers[name].flatMap { recorded.firstStep(reading: $0.role) }
    }

    /// Output tokens the figures are taken over.
    public var outputTokens: Int { recorded.output.rows }

    /// The connector's output with the stored tensors `replacements` (name → float32 values in stored
    /// layout) in place of the checkpoint's. Tensors the run does not read are ignored.
    public func output(replacing replacements: [String: [Float]]) throws -> RunOutput {
        var byRole: [String: [Float]] = [:]
        var parameters: [String: BoundParameter] = [:]
        for name in replacements.keys {
            guard let parameter = readers[name] else { continue }
            parameters[parameter.role] = parameter
        }
        for (role, parameter) in parameters {
            byRole[role] = try canonicalValues(parameter, replacing: replacements)
        }
        return try recorded.output(replacing: byRole)
    }

    /// How `output` differs from the original's, and the comparison behind the figures (per-token cosines).
    public func compare(_ output: RunOutput) -> (figures: OutputErrorFigures, comparison: Comparison) {
        let comparison = Comparison(recorded.output, output)
        return (OutputErrorFigures(tokens: comparison.tokens, minCosine: comparison.minCosine, meanCosine: comparison.meanCosine,
                                   relativeL2: comparison.relativeL2, maxAbsDifference: comparison.maxAbsDifference), comparison)
    }

    /// A parameter's values in canonical layout with some of its stored tensors replaced.
    private func canonicalValues(_ parameter: BoundParameter, replacing replacements: [String: [Float]]) throws -> [Float] {
        let tensors = try parameter.tensors.map { tensor -> Tensor in
            guard let values = replacements[tensor.name] else { return tensor }
            guard values.count == tensor.info.elementCount else {
                throw RuntimeError(.weight("\(tensor.name) holds \(tensor.info.elementCount) values, its replacement \(values.count)"))
            }
            return Tensor(info: try TensorInfo(name: tensor.name, dtype: .f32, shape: tensor.shape), data: HeldFloats(values))
        }
        let shape = parameter.shape.compactMap { $0 }
        let stored = StoredParameter(role: parameter.role, tensors: tensors, transposed: parameter.layout == .transposed, shape: shape)
        guard let values = try WeightStore([stored]).values(parameter.role) else {
            throw RuntimeError(.weight("\(parameter.role) could not be read back"))
        }
        return values
    }
}

/// Float32 values held in memory, read as a tensor's row-major bytes.
struct HeldFloats: TensorData {
    let values: [Float]

    init(_ values: [Float]) { self.values = values }

    var fileRegion: FileRegion? { nil }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try values.withUnsafeBytes(body)
    }
}
