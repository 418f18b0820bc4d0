import ArgumentParser
import Quantization
import TensorFormats

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Quantize a checkpoint: ggml block types into GGUF, MLX affine types into safetensors.",
        discussion: """
            TYPE (case-insensitive): \(GGMLBlocks.quantizable.map(\.rawValue).joined(separator: " ")) \
            (ggml block types, bit-exact with ggml's reference quantizer, written to .gguf); f16 bf16 f32 \
            (plain casts, .gguf or .safetensors); \(QuantizationType.mlxBits.map { "mlx-q\($0)" }.joined(separator: " ")) \
            (MLX affine, written to .safetensors, --group-size 32|64|128, default 64).

            \(QuantizationPolicy.rules)

            GGUF output sets general.quantization_version = 2 and general.file_type (llama.cpp's \
            numbering; the _S variant for q3_k, q4_k, q5_k).

            Prints a table of every tensor (type, reason, bytes before and after, RMSE, max |error|, SNR, \
            cosine against the original values, computed from the written bytes) and totals; --json prints \
            one object (schemas/quantize-report.schema.json). NaN or infinite values are refused, naming \
            the tensor and the first bad element. The output is written to a temporary file and renamed into \
            place, so a failure never leaves a partial OUT.
            """)

    @Argument(help: "Input file or sharded-checkpoint folder (anything `connkit convert` reads).")
    var input: String

    @Argument(help: "Output file: .gguf for ggml types, .safetensors for MLX types, either for casts.")
    var output: String

    @Option(name: .customLong("type"), help: "Quantization type (listed above).")
    var type: String

    @Option(name: .customLong("keep"), help: "Also keep tensors matching this glob unquantized; repeatable.")
    var keep: [String] = []

    @Option(name: .customLong("only"), help: "Quantize only tensors matching this glob; repeatable.")
    var only: [String] = []

    @Option(name: .customLong("exclude"), help: "Leave tensors matching this glob out of the output; repeatable.")
    var exclude: [String] = []

    @Option(name: .customLong("group-size"), help: "MLX group size: 32, 64 or 128 (default 64).")
    var groupSize: Int?

    @Flag(help: "Print the report as one JSON object.")
    var json = false

    @Flag(help: "Replace OUT if it exists (an input is never overwritten).")
    var force = false

    @Flag(help: "No progress bar.")
    var quiet = false

    @OptionGroup var reading: ReadingOptions

    func validate() throws {
        let parsed: QuantizationType
        do {
            parsed = try QuantizationType(parsing: type)
        } catch let error as QuantizationError {
            throw ValidationError(error.message)
        }
        if let groupSize {
            guard parsed.isMLX else { throw ValidationError("--group-size applies to the mlx-q* types only") }
            guard MLXAffine.groupSizes.contains(groupSize) else {
                throw ValidationError("--group-size must be 32, 64 or 128, not \(groupSize)")
            }
        }
    }

    func run() throws {
        var request = QuantizeRequest(type: try QuantizationType(parsing: type))
        request.keep = keep
        request.only = only
        request.exclude = exclude
        if let groupSize { request.groupSize = groupSize }
        let checkpoint = try reading.open(input)
        let bar = ProgressBar(label: "quantizing", quiet: quiet || json)
        let report: QuantizationReport
        do {
            report = try QuantizePipeline.run(checkpoint, to: output, request: request, overwrite: force) { done, total, bytesDone, bytesTotal in
                bar.update(done: done, total: total, bytesDone: bytesDone, bytesTotal: bytesTotal)
            }
            bar.finish()
        } catch let error as QuantizationError {
            bar.finish()
            throw CommandFailure(printable(input) + ": " + printable(error.description))
        } catch {
            bar.finish()
            throw error
        }
        if json {
            emitJSON(report.json)
        } else {
            emit(report.table.split(separator: "\n", omittingEmptySubsequences: false).map { printable(String($0)) }
                .joined(separator: "\n"))
            emit("wrote \(printable(output)) (\(report.format.rawValue))")
        }
    }
}
