import ArgumentParser
import ConnectorGraph
import Quantization
import TensorFormats

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert between tensor formats and float dtypes, losslessly by default.",
        discussion: """
            The output format follows OUT's extension: .safetensors, .gguf, .npz, or .npy (one tensor). \
            Every tensor keeps its dtype and value bit for bit unless --dtype asks for a cast; a tensor the \
            output cannot hold stops the conversion with an error naming it. The output is written to a \
            temporary file and renamed into place, so a failure never leaves a partial OUT.
            """)

    @OptionGroup var io: InputOutput

    @Option(help: "Cast every floating tensor to this type (integer tensors are never cast).")
    var dtype = Choice<DTypeChoice>(argument: DTypeChoice.keep.rawValue)

    @Option(name: .customLong("only"), help: "Convert only tensors matching this glob ('*' matches across dots); repeatable.")
    var only: [String] = []

    @Flag(help: "Write only the detected connector's tensors (detection as in `validate`).")
    var connector = false

    @OptionGroup var write: WriteOptions

    @OptionGroup var reading: ReadingOptions

    @Flag(help: "Print what was written as one JSON object (schemas/convert.schema.json).")
    var json = false

    func validate() throws {
        if CheckpointReader.fileExtension(io.output) == "onnx" {
            throw ValidationError("an ONNX model is written by `connkit export` (a connector as a runnable model): connkit export \(io.input) -o \(io.output)")
        }
        // An existing folder is refused as such by run().
        guard OutputFormat(path: io.output) != nil || pathExists(io.output) else {
            throw ValidationError("OUT must end in .safetensors, .gguf, .npz or .npy: \(io.output)")
        }
    }

    func run() throws {
        try OutputFile.refuseFolder(io.output)
        var options = ConversionOptions()
        options.dtype = try dtype.value
        options.selection = TensorSelection(only: only.map(Glob.init), exclude: write.exclude.map(Glob.init))
        options.overwrite = write.force
        options.strict = write.strict
        let checkpoint = try reading.open(io.input)
        if connector { options.names = Set(try connectorTensorNames(in: checkpoint)) }
        let bar = ProgressBar(label: "converting", quiet: write.quiet || json)
        defer { bar.finish() }
        options.progress = { bar.update(done: $0, total: $1, bytesDone: $2, bytesTotal: $3) }
        let summary = try Converter.convert(checkpoint, to: io.output, options: options)
        bar.finish()
        summary.warnings.forEach(printWarning)
        if json {
            emitJSON(summary.json(input: checkpoint.path))
        } else if !write.quiet {
            emit(summary.text)
        }
    }
}

extension Convert: JSONCommand {}
