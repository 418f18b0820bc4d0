import ArgumentParser
import Quantization
import TensorFormats

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Quantize a checkpoint: ggml block types into GGUF, MLX affine types into safetensors.",
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
            """)

    @OptionGroup var io: InputOutput

    @Option(name: .customLong("type"), help: "Quantization type (case-insensitive; described above).")
    var type: Choice<QuantizationType>

    @Option(name: .customLong("keep"), help: "Also keep tensors matching this glob unquantized; repeatable.")
    var keep: [String] = []

    @Option(name: .customLong("only"), help: "Quantize only tensors matching this glob; repeatable.")
    var only: [String] = []

    @Option(name: .customLong("group-size"), help: "MLX group size: 32, 64 or 128 (default 64).")
    var groupSize: Int?

    @Flag(help: "Print the report as one JSON object (schemas/quantize-report.schema.json).")
    var json = false

    @OptionGroup var write: WriteOptions

    @OptionGroup var reading: ReadingOptions

    func run() throws {
        try OutputFile.refuseFolder(io.output)
        var request = QuantizeRequest(type: try type.value)
        if let groupSize {
            guard request.type.isMLX else { throw CommandFailure.usage("--group-size applies to the mlx-q* types only") }
            guard MLXAffine.groupSizes.contains(groupSize) else {
                throw CommandFailure(.usage, .unknownValue, "--group-size must be 32, 64 or 128, not \(groupSize)")
            }
            request.groupSize = groupSize
        }
        request.keep = keep
        request.only = only
        request.exclude = write.exclude
        request.strict = write.strict
        let checkpoint = try reading.open(io.input)
        let bar = ProgressBar(label: "quantizing", quiet: write.quiet || json)
        defer { bar.finish() }
        let report: QuantizationReport
        do {
            report = try QuantizePipeline.run(checkpoint, to: io.output, request: request, overwrite: write.force, progress: bar.update)
        } catch let error as QuantizationError where error.tensor != nil || error.code == .nothingToQuantize {
            throw error.inFile(io.input)  // an error about the input's tensors: the file is the input
        }
        bar.finish()
        report.warnings.forEach(printWarning)
        if json {
            emitJSON(report.json)
        } else {
            emit(report.table)
            if !write.quiet { emit("wrote \(printable(io.output)) (\(report.format.rawValue))") }
        }
    }
}

extension Quantize: JSONCommand {}
