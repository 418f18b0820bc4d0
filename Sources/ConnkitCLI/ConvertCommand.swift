import ArgumentParser
import ConnectorGraph
import Quantization
import TensorFormats

extension DTypeChoice: ExpressibleByArgument {}

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert between tensor formats and float dtypes, losslessly by default.",
        discussion: """
            The output format follows OUT's extension: .safetensors, .gguf, .npz, or .npy (one tensor). \
            Every tensor keeps its dtype and value bit for bit unless --dtype asks for a cast; a tensor the \
            output cannot hold stops the conversion with an error naming it. The output is written to a \
            temporary file and renamed into place, so a failure never leaves a partial OUT.
            """)

    @Argument(help: "Input file or sharded-checkpoint folder.")
    var input: String

    @Argument(help: "Output file (.safetensors, .gguf, .npz or .npy).")
    var output: String

    @Option(help: "Cast every floating tensor to this type (integer tensors are never cast).")
    var dtype: DTypeChoice = .keep

    @Option(name: .customLong("only"), help: "Convert only tensors matching this glob ('*' matches across dots); repeatable.")
    var only: [String] = []

    @Option(name: .customLong("exclude"), help: "Leave out tensors matching this glob; repeatable.")
    var exclude: [String] = []

    @Flag(help: "Write only the detected connector's tensors (detection as in `validate`).")
    var connector = false

    @Flag(help: "Replace OUT if it exists (an input is never overwritten).")
    var force = false

    @Flag(help: "No progress bar.")
    var quiet = false

    func validate() throws {
        guard OutputFormat(path: output) != nil else {
            throw ValidationError("OUT must end in .safetensors, .gguf, .npz or .npy: \(output)")
        }
    }

    func run() throws {
        let checkpoint = try CheckpointReader.open(input)
        var options = ConversionOptions()
        options.dtype = dtype
        options.selection = TensorSelection(only: only.map(Glob.init), exclude: exclude.map(Glob.init))
        options.overwrite = force
        if connector {
            do {
                options.names = Set(try connectorTensorNames(in: checkpoint))
            } catch let error as ConnectorDetectionError {
                throw CommandFailure(error.description)
            }
        }
        let bar = ProgressBar(label: "converting", quiet: quiet)
        options.progress = { done, total, bytesDone, bytesTotal in
            bar.update(done: done, total: total, bytesDone: bytesDone, bytesTotal: bytesTotal)
        }
        let summary: ConversionSummary
        do {
            summary = try Converter.convert(checkpoint, to: output, options: options)
            bar.finish()
        } catch {
            bar.finish()
            throw error
        }
        for warning in summary.warnings { writeStandardError("connkit: warning: \(warning)\n") }
        let cast = summary.tensors.filter { $0.from != $0.to }.count
        emit("wrote \(printable(summary.output)) (\(summary.format.rawValue)): \(summary.tensors.count) tensors"
            + (cast > 0 ? ", \(cast) cast" : "") + ", \(formatBytes(summary.bytesWritten))")
    }
}
