import ArgumentParser
import ConnectorGraph
import ConnectorQuantization
import ConnectorRuntime
import Quantization
import TensorFormats

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Quantize a checkpoint: ggml block types into GGUF, MLX affine types into safetensors.",
        usage: """
            connkit quantize IN OUT --type TYPE [--eval [--min-cosine X]] [options]
            connkit quantize IN OUT --type TYPE (--imatrix | --imatrix-file F) [--imatrix-out F.gguf] [options]
            connkit quantize IN OUT --target-cosine X [--types T1,T2,...] [--imatrix] [options]
            """,
        discussion: """
            TYPE (case-insensitive): \(GGMLBlocks.quantizable.map(\.rawValue).joined(separator: " ")) \
            (ggml block types, bit-exact with ggml's reference quantizer, written to .gguf); f16 bf16 f32 \
            (plain casts, .gguf or .safetensors; fp16, half, bfloat16, fp32… name them too); \(QuantizationType.mlxBits.map { "mlx-q\($0)" }.joined(separator: " ")) \
            (MLX affine, written to .safetensors, --group-size 32|64|128, default 64).

            \(QuantizationPolicy.rules)

            GGUF output sets general.quantization_version = 2 and general.file_type (llama.cpp's \
            numbering; the _S variant for q3_k, q4_k, q5_k) of the type holding the most bytes among the \
            tensors re-encoded. A request under which no tensor would change type is refused \
            (nothing-to-quantize), naming the --only that selects the block-quantized tensors.

            Prints a table of every tensor (type, reason, bytes before and after, RMSE, max |error|, SNR, \
            cosine against the original values, computed from the written bytes) and totals; --json prints \
            one object (schemas/quantize-report.schema.json). NaN or infinite values are refused, naming \
            the tensor and the first bad element. The output is written to a temporary file and renamed into \
            place, so a failure never leaves a partial OUT.

            Judged by the connector's output (the connector is detected and bound as `validate` does, with the \
            same dimension options; the features are --input FEATURES or --random T, default --random 256):
              --eval reads the written file back and runs it and the original on the same features: output \
            cosine (minimum and mean over tokens), relative L2 error, max |difference|, and per quantized \
            tensor its sensitivity (the same figures with only that tensor quantized). With --min-cosine X a \
            minimum output cosine below X exits 1 (the file is still written). --eval-input F2 adds the \
            figures on held-out features.
              --imatrix collects llama.cpp's importance matrix from the original connector's run (Σx² of each \
            input column of every linear layer, and the token count) and passes in_sum2/counts to the types \
            ggml weights by it; --imatrix-file F reads one (llama.cpp's GGUF layout, the checkpoint's tensor \
            names); --imatrix-out F.gguf saves it.
              --target-cosine X chooses a type per tensor from the ladder --types (default \
            q4_k,q5_k,q6_k,q8_0,f16 for .gguf, mlx-q4,mlx-q6,mlx-q8 for .safetensors) so that the minimum \
            output cosine is at least X and the output is as small as the search finds (README: "Mixed \
            precision by output error"); exit 1, writing nothing, when even the top of the ladder misses X.

            --mlx-config OUT.json (mlx-q* types only) also writes a model config.json for mlx-lm/mlx-vlm, whose \
            loaders read the quantization from config.json, not from the safetensors header: the base config \
            (--config, else the config.json next to IN, else {}) with "quantization" and "quantization_config" \
            set to mlx-lm's object — the base's group_size/bits/mode when it has them (the LLM's), else the \
            file's — and an explicit {"group_size", "bits", "mode"} entry for every module quantized (the \
            tensor name without .weight, and also under mlx-vlm's renamed path: "model.X" also as "X" \
            (Idefics2/Idefics3), "visual.X" as "vision_tower.X" (Qwen2-VL/Qwen2.5-VL), "model.visual.X" as \
            "vision_tower.X" (Qwen3-VL)). Written atomically after the quantization succeeded; never over IN, \
            OUT or the base.

            Exit status: 0 success, 1 the output's minimum cosine is below --min-cosine (the file is written) \
            or no assignment reaches --target-cosine (nothing written), 2 unusable input or bad usage.
            """)

    @OptionGroup var io: InputOutput

    @Option(name: .customLong("type"), help: "Quantization type (case-insensitive; described above).")
    var type: Choice<QuantizationType>?

    @Option(name: .customLong("keep"), help: "Also keep tensors matching this glob unquantized; repeatable.")
    var keep: [String] = []

    @Option(name: .customLong("only"), help: "Quantize only tensors matching this glob; repeatable.")
    var only: [String] = []

    @Option(name: .customLong("group-size"), help: "MLX group size: 32, 64 or 128 (default 64).")
    var groupSize: Int?

    @OptionGroup(title: "Judged by the connector's output") var output: OutputJudgingOptions

    @OptionGroup(title: "Features (with --eval, --imatrix, --target-cosine)") var features: FeatureOptions

    @Flag(help: "Print the report as one JSON object (schemas/quantize-report.schema.json).")
    var json = false

    @OptionGroup var write: WriteOptions

    @OptionGroup(title: "A model config for mlx-lm and mlx-vlm") var mlx: MLXConfigOptions

    @OptionGroup(title: "Connector (with --eval, --imatrix, --target-cosine)") var connector: ConnectorOptions

    func run() throws {
        try OutputFile.refuseFolder(io.output)
        let request = try outputRequest()
        let judged = request.needsConnector || output.evalInput != nil
        try refuseUnused(judged: judged)
        let checkpoint: Checkpoint
        var bound: BoundConnector?
        var model: Connector?
        var evaluation: EvaluationFeatures?
        var heldOut: EvaluationFeatures?
        if judged {
            let validation = try connector.request([io.input], checkValues: true)
            checkpoint = validation.checkpoint
            let report = Validator.validate(validation)
            guard report.valid, let found = report.connector else {
                let first = report.diagnostics.first { $0.severity == .error }.map { ": " + $0.line } ?? ""
                throw OutputQuantizationError(.notRunnable("the connector does not validate (`connkit validate` says why)\(first)"),
                                              file: io.input)
            }
            let runnable = try Connector(bound: found)
            bound = found
            model = runnable
            let grid = try features.parsedGrid
            evaluation = EvaluationFeatures(features: try features.features(width: runnable.inputWidth, tokens: 256), grid: grid,
                                            synthetic: features.input == nil)
            if let path = output.evalInput {
                heldOut = EvaluationFeatures(features: try Features.read(path: path), grid: grid, synthetic: false)
            }
        } else {
            checkpoint = try connector.reading.open(io.input)
        }
        let bar = ProgressBar(label: "quantizing", quiet: write.quiet || json)
        defer { bar.finish() }
        let report: OutputQuantizationReport
        do {
            report = try ConnectorQuantize.run(checkpoint, bound: bound, connector: model, features: evaluation, heldOut: heldOut,
                                               to: io.output, request: request, overwrite: write.force, progress: bar.update)
        } catch let error as QuantizationError where error.tensor != nil || error.failure != .usage {
            throw error.inFile(io.input)  // about a tensor of the input, or its content: the file is the input
        }
        bar.finish()
        report.warnings.forEach(printWarning)
        if json {
            emitJSON(report.json)
        } else {
            emit(report.quantization.table + report.judgedText)
            if !write.quiet { emit("wrote \(printable(io.output)) (\(report.format.rawValue))") }
        }
        if report.evaluation?.passed == false { throw CheckFailed() }
    }

    /// The request the options describe (usage errors for contradictions).
    func outputRequest() throws -> OutputQuantizeRequest {
        let target = try output.targetRequest(output: io.output)
        if type != nil, target != nil { throw CommandFailure.usage("--type and --target-cosine exclude each other") }
        guard let base = try type?.value ?? target?.ladder.first else {
            throw CommandFailure.usage("give --type TYPE or --target-cosine X")
        }
        var quantize = QuantizeRequest(type: base)
        if let groupSize {
            guard ([base] + (target?.ladder ?? [])).contains(where: \.isMLX) else {
                throw CommandFailure.usage("--group-size applies to the mlx-q* types only")
            }
            guard MLXAffine.groupSizes.contains(groupSize) else {
                throw CommandFailure(.usage, .unknownValue, "--group-size must be 32, 64 or 128, not \(groupSize)")
            }
            quantize.groupSize = groupSize
        }
        quantize.keep = keep
        quantize.only = only
        quantize.exclude = write.exclude
        quantize.strict = write.strict
        var request = OutputQuantizeRequest(quantize: quantize)
        request.evaluate = output.eval || output.evalInput != nil
        request.minCosine = output.minCosine
        request.target = target
        if output.imatrix, output.imatrixFile != nil { throw CommandFailure.usage("--imatrix and --imatrix-file exclude each other") }
        request.importance = output.imatrix ? .collect : output.imatrixFile.map { .file($0) }
        request.importanceOut = output.imatrixOut
        request.mlxConfig = try mlx.request(input: io.input, config: connector.config)
        return request
    }

    /// Feature and connector options only mean something when the connector runs.
    func refuseUnused(judged: Bool) throws {
        if judged {
            try features.validate(required: false)
            return
        }
        let given = [features.input == nil ? nil : "--input", features.random == nil ? nil : "--random",
                     features.seed == nil ? nil : "--seed", features.grid == nil ? nil : "--grid",
                     features.inputTensor == nil ? nil : "--input-tensor"].compactMap { $0 }
            + connector.given.filter { $0 != "--max-materialize" && !($0 == "--config" && mlx.path != nil) }
        if let first = given.first {
            throw CommandFailure.usage("\(first) goes with --eval, --imatrix or --target-cosine (it sets how the connector runs)")
        }
    }
}

extension Quantize: JSONCommand {}

/// `--eval`, `--imatrix` and `--target-cosine` (README: "Judged by the connector's output").
struct OutputJudgingOptions: ParsableArguments {
    @Flag(help: "Run the written file and the original on the same features; report output and per-tensor figures.")
    var eval = false

    @Option(name: .customLong("min-cosine"), help: "With --eval: exit 1 when the minimum output cosine is below this (the file is written).")
    var minCosine: Double?

    @Option(name: .customLong("eval-input"), help: "Also report the figures on these held-out features.")
    var evalInput: String?

    @Option(name: .customLong("target-cosine"), help: "Choose a type per tensor so that the minimum output cosine is at least X.")
    var targetCosine: Double?

    @Option(name: .customLong("types"), help: "The ladder of --target-cosine, cheapest first (comma-separated).")
    var types: String?

    @Option(name: .customLong("search"), help: "--target-cosine's search: knapsack (default) or greedy (the plain baseline).")
    var search: String?

    @Flag(help: "Importance-weighted quantization from the original connector's activations (llama.cpp's imatrix).")
    var imatrix = false

    @Option(name: .customLong("imatrix-file"), help: "Read the importance matrix from this GGUF (llama.cpp's layout).")
    var imatrixFile: String?

    @Option(name: .customLong("imatrix-out"), help: "Save the importance matrix to this .gguf (llama.cpp's layout).")
    var imatrixOut: String?

    /// `--target-cosine X [--types …] [--search …]`, or nil.
    func targetRequest(output: String) throws -> TargetRequest? {
        guard let targetCosine else {
            if types != nil { throw CommandFailure.usage("--types goes with --target-cosine") }
            if search != nil { throw CommandFailure.usage("--search goes with --target-cosine") }
            return nil
        }
        var ladder = TargetRequest.defaultLadder(for: OutputFormat(path: output) ?? .gguf)
        if let types {
            ladder = try types.split(separator: ",", omittingEmptySubsequences: false).map { name in
                let trimmed = String(name.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
                guard !trimmed.isEmpty else { throw CommandFailure.usage("--types \(types): an empty type name") }
                return try QuantizationType.parse(trimmed)
            }
        }
        var strategy = TargetRequest.Strategy.knapsack
        if let search {
            guard let chosen = TargetRequest.Strategy(rawValue: search) else {
                throw CommandFailure(.usage, .unknownValue, "unknown search '\(search)' (known: knapsack, greedy)")
            }
            strategy = chosen
        }
        return TargetRequest(minCosine: targetCosine, ladder: ladder, strategy: strategy)
    }
}
