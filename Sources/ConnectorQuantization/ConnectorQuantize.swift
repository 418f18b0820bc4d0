import ConnectorGraph
import ConnectorRuntime
import Quantization
import TensorFormats

/// Features a quantization is judged on, as `run` reads them.
public struct EvaluationFeatures: Sendable {
    public var features: Features
    public var grid: Grid?
    /// From `--random` (the report says the figures are on synthetic features).
    public var synthetic: Bool

    public init(features: Features, grid: Grid? = nil, synthetic: Bool) {
        self.features = features
        self.grid = grid
        self.synthetic = synthetic
    }
}

/// Where importance vectors come from.
public enum ImportanceSource: Sendable, Equatable {
    /// `--imatrix`: collected from the original connector's run on the evaluation features.
    case collect
    /// `--imatrix-file F`: read from llama.cpp's GGUF imatrix layout.
    case file(String)
}

/// `connkit quantize` with the connector's output as the measure: `--eval`, `--imatrix`, `--target-cosine`.
public struct OutputQuantizeRequest: Sendable {
    /// The quantization itself (`type`, selection, group size, threads). With `target`, `type` only
    /// decides tensors the search does not assign (it is set to the ladder's first type).
    public var quantize: QuantizeRequest
    /// `--eval`: judge the written file.
    public var evaluate = false
    /// `--min-cosine`: the written file fails the check (exit 1) below it.
    public var minCosine: Double?
    public var target: TargetRequest?
    public var importance: ImportanceSource?
    /// `--imatrix-out`: where to save the importance vectors (GGUF).
    public var importanceOut: String?
    /// `--mlx-config`: also write a model config.json recording the MLX types for mlx-lm/mlx-vlm (MLX types only).
    public var mlxConfig: MLXModelConfig?

    public init(quantize: QuantizeRequest) {
        self.quantize = quantize
    }

    /// Whether a connector and features are needed.
    public var needsConnector: Bool { evaluate || target != nil || importance == .collect }
}

/// The library entry point of issue 13: quantize a checkpoint judged by what its connector outputs.
public enum ConnectorQuantize {
    /// Metadata key: the target's X (float64), written with `--target-cosine`.
    public static let targetCosineKey = "connkit.quantization.target_cosine"
    /// Metadata key: the output tokens the target's cosine was taken over (uint32).
    public static let evalTokensKey = "connkit.quantization.eval_tokens"

    /// Quantizes `checkpoint` into `path` and returns the report, whose `evaluation`, `target` and
    /// `importance` carry the figures. `bound` is the checkpoint's validated connector (`connector` the
    /// runtime's, when the caller has made it already) and `features` the evaluation features (both
    /// required when `request.needsConnector`); `heldOut` adds figures on features the search did not see. Throws before writing anything for a request that cannot be met
    /// (bad usage, features that do not fit, a target even the top of the ladder misses); a file whose
    /// figures miss `minCosine` is written, and the report says so (`evaluation.passed`).
    public static func run(_ checkpoint: Checkpoint, bound: BoundConnector?, connector: Connector? = nil, features: EvaluationFeatures?,
                           heldOut: EvaluationFeatures? = nil, to path: String, request: OutputQuantizeRequest, overwrite: Bool,
                           progress: ((Int, Int, Int, Int) -> Void)? = nil) throws -> OutputQuantizationReport {
        var quantize = request.quantize
        try check(request, path: path)
        try request.mlxConfig?.checkDestination(output: path, inputs: checkpoint.files, overwrite: overwrite)
        var reference: OutputReference?
        var collector: ImportanceCollector?
        if request.needsConnector || heldOut != nil {
            guard let bound, let features else {
                throw OutputQuantizationError(.usage("--eval, --imatrix and --target-cosine need the checkpoint's connector and features"))
            }
            let connector = try connector ?? Connector(bound: bound)
            collector = request.importance == .collect ? ImportanceCollector() : nil
            reference = try OutputReference(bound: bound, connector: connector, features: features.features, grid: features.grid,
                                             synthetic: features.synthetic, observer: collector?.observer)
        }
        let heldOutReference = try heldOut.map { try reference!.on($0.features, grid: $0.grid, synthetic: $0.synthetic) }

        // Importance vectors.
        var matrix: ImportanceMatrix?
        var summary: ImportanceSummary?
        switch request.importance {
        case .collect:
            let features = features!.features
            matrix = collector!.matrix(for: bound!, datasets: [features.origin], chunkCount: features.batch, chunkSize: features.tokens)
            summary = ImportanceSummary(source: "features", origin: features.origin, tensors: [], written: request.importanceOut)
        case .file(let file):
            matrix = try ImportanceMatrix.read(path: file, for: checkpoint)
            summary = ImportanceSummary(source: "file", origin: file, tensors: [], written: request.importanceOut)
        case nil:
            break
        }
        if let matrix {
            quantize.importance = matrix.vectors
            if let out = request.importanceOut { try matrix.checkWritable(to: out) }
        }

        // The target search.
        var targetSummary: TargetSummary?
        if let target = request.target, let reference {
            quantize.type = target.ladder[0]
            let format = OutputFormat(path: path) ?? .gguf
            let policy = QuantizationPolicy(type: target.ladder[0], keep: quantize.keep.map(Glob.init), only: quantize.only.map(Glob.init),
                                            groupSize: quantize.groupSize, output: format, inputIsGGUF: checkpoint.format == .gguf)
            let exclude = quantize.exclude.map(Glob.init)
            let tensors = checkpoint.tensors.filter { tensor in !exclude.contains { $0.matches(tensor.name) } }
            let search = try TargetSearch(checkpoint: checkpoint, tensors: tensors, reference: reference, request: target, policy: policy,
                                          importance: quantize.importance, threads: quantize.threads)
            let result = try search.run()
            quantize.types = result.types
            quantize.metadata += [MetadataEntry(targetCosineKey, .float64(target.minCosine)),
                                  MetadataEntry(evalTokensKey, .uint32(UInt32(clamping: reference.outputTokens)))]
            targetSummary = result.summary
        }

        var report = OutputQuantizationReport(try QuantizePipeline.run(checkpoint, to: path, request: quantize, overwrite: overwrite, progress: progress))
        if let matrix, let out = request.importanceOut {
            try matrix.write(to: out, overwrite: overwrite, inputs: checkpoint.files + [path])
        }
        if var summary, let matrix {
            summary.tensors = report.entries.map(\.name).filter { matrix.entries[$0] != nil }
            report.importance = summary
        }
        report.target = targetSummary
        if let reference, request.evaluate || request.target != nil {
            let written = try OutputEvaluator.writtenValues(path: path, report: report.quantization, original: checkpoint, threads: quantize.threads)
            let evaluation = try OutputEvaluator.evaluate(written, entries: report.entries, reference: reference)
            let heldOutRun = try heldOutReference.map { try OutputEvaluator.evaluate(written, entries: report.entries, reference: $0) }
            report.evaluation = OutputEvaluation(evaluation: evaluation, heldOut: heldOutRun, threshold: request.minCosine,
                                                 notReached: OutputEvaluator.notReached(report.quantization, reference: reference))
        }
        try request.mlxConfig?.write(report.quantization, overwrite: overwrite, inputs: checkpoint.files + [path])
        return report
    }

    /// Refuses contradictory requests before any work.
    static func check(_ request: OutputQuantizeRequest, path: String) throws {
        if let minCosine = request.minCosine {
            guard request.evaluate || request.target != nil else { throw OutputQuantizationError(.usage("--min-cosine goes with --eval")) }
            guard minCosine >= -1, minCosine <= 1 else {
                throw OutputQuantizationError(.usage("--min-cosine must be in [-1, 1], got \(minCosine)"))
            }
        }
        if let target = request.target { try target.check() }
        let types = request.target?.ladder ?? [request.quantize.type]
        if request.importance != nil, let mlx = types.first(where: \.isMLX) {
            throw OutputQuantizationError(.usage("--imatrix with \(mlx.name): MLX's affine quantizer takes no importance weights"))
        }
        if request.mlxConfig != nil, let other = types.first(where: { !$0.isMLX }) {
            throw OutputQuantizationError(.usage("--mlx-config records MLX types (mlx-q*) for mlx-lm/mlx-vlm, not \(other.name)"))
        }
        if request.importanceOut != nil {
            guard request.importance != nil else { throw OutputQuantizationError(.usage("--imatrix-out goes with --imatrix or --imatrix-file")) }
            guard let out = request.importanceOut, OutputFormat(path: out) == .gguf else {
                throw OutputQuantizationError(.usage("--imatrix-out writes llama.cpp's GGUF layout: name it .gguf"))
            }
            guard out != path else { throw OutputQuantizationError(.usage("--imatrix-out and OUT are the same file")) }
        }
    }
}
