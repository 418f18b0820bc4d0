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

            --scheme NAME re-expresses the detected connector in another naming scheme of its family \
            (`connkit schemes` lists them): every parameter is renamed through its role and its storage \
            layout converted (transposed, fused or split, squeezed) by moving bytes, never re-rounding them. \
            Writing the mmproj scheme also writes llama.cpp's connector keys (clip.projector_type…); such a \
            file holds no vision encoder: `connkit splice` puts a connector into an existing mmproj. \
            --only/--exclude match the input's names.
            """)

    @OptionGroup var io: InputOutput

    @Option(help: "Cast every floating tensor to this type (integer tensors are never cast).")
    var dtype = Choice<DTypeChoice>(argument: DTypeChoice.keep.rawValue)

    @Option(name: .customLong("only"), help: "Convert only tensors matching this glob ('*' matches across dots); repeatable.")
    var only: [String] = []

    @Flag(help: "Write only the detected connector's tensors (detection as in `validate`).")
    var connector = false

    @Option(help: "Re-express the detected connector in this naming scheme of its family (`connkit schemes`).")
    var scheme: Choice<SchemeName>?

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
        let selection = TensorSelection(only: only.map(Glob.init), exclude: write.exclude.map(Glob.init))
        options.selection = selection
        options.overwrite = write.force
        options.strict = write.strict
        var checkpoint = try reading.open(io.input)
        var conversion: SchemeConversion?
        if let scheme = try scheme?.value {
            // --only/--exclude pick by the input's names, with the same checks as a plain conversion.
            do { _ = try selection.select(checkpoint.tensors) } catch { throw error.inFile(checkpoint.path) }
            (checkpoint, conversion) = try SchemeConvert.apply(scheme, to: checkpoint, input: io.input, connectorOnly: connector,
                                                               selected: selection.includes, decodeBlocks: options.dtype.target != nil)
            options.selection = TensorSelection()
        } else if connector {
            options.names = Set(try connectorTensorNames(in: checkpoint).map(ExactName.init))
        }
        let bar = ProgressBar(label: "converting", quiet: write.quiet || json)
        defer { bar.finish() }
        options.progress = { bar.update(done: $0, total: $1, bytesDone: $2, bytesTotal: $3) }
        let summary = try Converter.convert(checkpoint, to: io.output, options: options)
        bar.finish()
        summary.warnings.forEach(printWarning)
        if json {
            emitJSON(summary.json(input: checkpoint.path, scheme: conversion))
        } else if !write.quiet {
            emit(summary.text)
        }
    }
}

/// `convert --scheme`: detect and bind the connector as `validate` does, then re-express it.
enum SchemeConvert {
    static func apply(_ scheme: SchemeName, to checkpoint: Checkpoint, input: String, connectorOnly: Bool,
                      selected: (String) -> Bool, decodeBlocks: Bool) throws -> (Checkpoint, SchemeConversion) {
        let configs = try configsNextTo([input]).map { try ConfigReader.read(path: $0) }
        let report = Validator.validate(ValidationRequest(checkpoint: checkpoint, configs: configs, checkValues: false))
        let connector = try boundConnector(report, path: input)
        do {
            let conversion = try SchemeConversion(connector, to: scheme.rawValue, decodeBlocks: decodeBlocks)
            return (try conversion.applied(to: checkpoint, connector: connector, connectorOnly: connectorOnly, selected: selected), conversion)
        } catch let error as SchemeConversionError {
            throw ErrorInFile(file: input, error: error)  // the scheme's refusal names the tensor, not the file
        }
    }

    /// The report's connector when it is usable: none or several candidates is unusable input (exit 2); a
    /// connector that fails its checks prints them (stderr) and fails (exit 1).
    static func boundConnector(_ report: ValidationReport, path: String) throws -> BoundConnector {
        guard let connector = report.connector else {
            if let ambiguous = report.diagnostics.first(where: { $0.code == .ambiguousFamily || $0.code == .multipleConnectors }) {
                throw ConnectorDetectionError.ambiguous("\(path): \(ambiguous.message)")
            }
            throw CommandFailure(.unusableInput, .emptySelection,
                                 "\(path): \(report.diagnostics.first(where: { $0.code == .noConnector })?.message ?? "no connector found")")
        }
        guard report.valid else {
            for diagnostic in report.diagnostics where diagnostic.severity == .error { writeStandardError(printable(diagnostic.line) + "\n") }
            throw CommandFailure(.checkFailed, .checkFailed,
                                 "\(path): the \(connector.family) connector fails its checks (`connkit validate` reports them)")
        }
        return connector
    }
}

extension Convert: JSONCommand {}
