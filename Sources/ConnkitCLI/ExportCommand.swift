import ArgumentParser
import Dispatch
import ConnectorExport
import ConnectorGraph
import ConnectorRuntime
import TensorFormats

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a checkpoint's connector as an ONNX model that computes what `connkit run` computes.",
        discussion: """
            CKPT is anything `validate` reads; the connector is detected and bound exactly as `validate` and \
            `run` do, with the same dimension options. A connector with validation errors is not exported (exit 1, \
            the diagnostics).

            The model reads `image_features` [batch, tokens, D_enc] and writes `connector_output` [batch, \
            tokens_out, D_out] with standard ONNX operators of --opset (17 by default); initializers keep the \
            checkpoint's tensor names. The token count is --tokens T, H·W of --grid, or the one `validate` reports \
            for the encoder; --dynamic leaves it symbolic where the computation needs no patch grid (README: \
            "connkit export"). --dtype f16 makes input, output, weights and matrix products f16, with norms and \
            softmax in f32. Initializers of 1 KiB or more go to OUT.onnx.data beside the model with --external-data, \
            or when the model would exceed 2 GiB. Both files are written atomically; existing ones need --force. \
            A weight beyond f16's range becomes ±inf with a warning, or with --strict stops the export (exit 1).

            Exit status: 0 success, 1 the connector fails validation, 2 unusable input or bad usage.
            """)

    @Argument(help: "The checkpoint file(s) or folder.")
    var paths: [String] = []

    @Option(name: [.short, .customLong("output")], help: "The ONNX model to write (OUT.onnx).")
    var output: String?

    @Option(help: "The default-domain opset (17 to 24).")
    var opset = ExportOptions.defaultOpset

    @Option(help: "Element type of the model's input, output, weights and products.")
    var dtype = Choice<ExportOptions.Precision>(argument: ExportOptions.Precision.f32.rawValue)

    @Option(help: "The token count per image (default: the one `validate` reports for the encoder).")
    var tokens: Int?

    @Flag(help: "A symbolic token count (connectors whose computation needs no patch grid).")
    var dynamic = false

    @Option(help: "The patch grid HxW of the tokens (default: the square root of the token count).")
    var grid: String?

    @Flag(name: .customLong("external-data"), help: "Keep initializers of 1 KiB or more in OUT.onnx.data beside the model.")
    var externalData = false

    @OptionGroup var connector: ConnectorOptions

    @Flag(help: "Print one JSON object (schema: schemas/export.schema.json).")
    var json = false

    @OptionGroup var write: WriteFlags

    func run() throws {
        if paths.isEmpty { throw CommandFailure.usage("give the checkpoint to export (CKPT...)") }
        guard let output else { throw CommandFailure.usage("give the model to write: -o OUT.onnx") }
        guard CheckpointReader.fileExtension(output) == "onnx" else {
            throw CommandFailure.usage("-o \(output): the model's name must end in .onnx")
        }
        guard ExportOptions.opsets.contains(opset) else {
            throw CommandFailure.usage("--opset \(opset): export writes opsets \(ExportOptions.opsets.lowerBound) to \(ExportOptions.opsets.upperBound)")
        }
        if dynamic && tokens != nil { throw CommandFailure.usage("--tokens and --dynamic exclude each other") }
        if let tokens, tokens <= 0 { throw CommandFailure.usage("--tokens needs a positive token count, got \(tokens)") }
        let parsedGrid = try grid.map { text in
            guard let grid = Grid(parsing: text) else { throw CommandFailure.usage("--grid \(text): expected HxW with positive sides (e.g. 24x24)") }
            return grid
        }
        let precision = try dtype.value
        // The connector is bound and its shapes checked first; its values are scanned while the weights are
        // written, and the model is put in place only if that full validation passes too (exit 1 otherwise).
        let request = try connector.request(paths, checkValues: false)
        let shapes = Validator.validate(request)
        var valuesRequest = request
        valuesRequest.checkValues = true
        guard shapes.valid, let bound = shapes.connector else {
            throw failedValidation(Validator.validate(valuesRequest))
        }
        let count: ExportOptions.Tokens
        if dynamic {
            count = .dynamic
        } else if let tokens = tokens ?? parsedGrid.flatMap({ $0.height.multipliedReportingOverflow(by: $0.width).partialValue }) ?? shapes.inputTokens {
            count = .fixed(tokens)
        } else {
            throw CommandFailure.usage("nothing fixes the connector's token count (no encoder preset, config or --dim tokens=N gives it): pass --tokens T or --dynamic")
        }
        let scan = BackgroundValidation(valuesRequest)
        var options = ExportOptions(tokens: count, producerVersion: Connkit.version)
        options.opset = opset
        options.precision = precision
        options.grid = parsedGrid
        options.externalData = externalData
        options.overwrite = write.force
        options.strict = write.strict
        options.inputs = request.checkpoint.files
        options.beforeCommit = {
            let report = scan.report
            guard report.valid else { throw ValuesFailed(report: report) }
        }
        let bar = ProgressBar(label: "exporting", quiet: write.quiet || json)
        defer { bar.finish() }
        options.progress = { bar.update(done: $0.tensorsDone, total: $0.tensorsTotal, bytesDone: $0.bytesDone, bytesTotal: $0.bytesTotal) }
        let summary: ExportSummary
        do {
            summary = try ONNXExport.export(bound, to: output, options: options)
        } catch let failed as ValuesFailed {
            bar.finish()
            throw failedValidation(failed.report)
        }
        bar.finish()
        let report = scan.report
        if !json { report.printWarnings() }  // with --json, the report's diagnostics
        summary.warnings.forEach(printWarning)
        if json {
            emitJSON(Self.json(report, inputs: paths, summary: summary))
        } else if !write.quiet {
            emit(Self.text(report, summary))
        }
    }

    /// Prints the report of a connector that fails validation; the error to throw (exit status 1).
    private func failedValidation(_ report: ValidationReport) -> CheckFailed {
        json ? emitJSON(Self.json(report, inputs: paths, summary: nil)) : emit(report.text(style: .forStream(1)))
        return CheckFailed()
    }

    /// The full validation, values included, running on its own thread while the model is written.
    private final class BackgroundValidation: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var result: ValidationReport?
        /// Read and written by the caller's thread only.
        private var finished = false

        init(_ request: ValidationRequest) {
            DispatchQueue.global().async { [self] in
                result = Validator.validate(request)
                done.signal()
            }
        }

        /// Waits for the validation to finish (the semaphore orders the background thread's write first).
        var report: ValidationReport {
            if !finished {
                done.wait()
                finished = true
            }
            return result!
        }
    }

    /// Thrown before the model is put in place when the value checks fail.
    private struct ValuesFailed: Error {
        let report: ValidationReport
    }

    static func shapeText(_ info: ONNXValueInfo) -> String {
        "[" + info.shape.map { dimension in
            switch dimension {
            case .fixed(let value): String(value)
            case .symbolic(let name): name
            }
        }.joined(separator: ", ") + "]"
    }

    static func text(_ report: ValidationReport, _ summary: ExportSummary) -> String {
        let placement = summary.dataFile.map { "\(summary.externalInitializers) in \(printable($0)) (\(formatBytes(summary.dataBytes)))" }
        return [
            "connector: \(report.family ?? "?") / \(report.variant ?? "?") (\(report.scheme ?? "?") names)",
            "wrote \(printable(summary.path)) (\(formatBytes(summary.modelBytes))): opset \(summary.opset), \(summary.precision.rawValue), "
                + "\(summary.nodes) nodes, \(summary.initializers) initializers (\(formatBytes(summary.weightBytes)))"
                + (placement.map { ", " + $0 } ?? ""),
            "input:  \(summary.input.name) \(shapeText(summary.input))" + (summary.grid.map { ", grid \($0)" } ?? ""),
            "output: \(summary.output.name) \(shapeText(summary.output))",
        ].joined(separator: "\n")
    }

    /// The validation report's members, then `export` (null when the connector fails validation).
    static func json(_ report: ValidationReport, inputs: [String], summary: ExportSummary?) -> JSONValue {
        var members = report.json(inputs: inputs).objectMembers ?? []
        members.append(.init("export", summary.map(exportJSON) ?? .null))
        return .object(members)
    }

    static func exportJSON(_ summary: ExportSummary) -> JSONValue {
        func value(_ info: ONNXValueInfo) -> JSONValue {
            .object([.init("name", .string(info.name)), .init("dtype", .string(info.elementType.rawValue)),
                     .init("shape", .array(info.shape.map { dimension in
                         switch dimension {
                         case .fixed(let value): .int(value)
                         case .symbolic(let name): .string(name)
                         }
                     }))])
        }
        return .object([
            .init("file", .string(summary.path)), .init("data_file", summary.dataFile.map { .string($0) } ?? .null),
            .init("opset", .int(summary.opset)), .init("dtype", .string(summary.precision.rawValue)),
            .init("input", value(summary.input)), .init("output", value(summary.output)),
            .init("grid", summary.grid.map { .array([.int($0.height), .int($0.width)]) } ?? .null),
            .init("nodes", .int(summary.nodes)),
            .init("operators", .object(summary.operators.map { .init($0.type, .int($0.count)) })),
            .init("initializers", .int(summary.initializers)), .init("embedded_initializers", .int(summary.embeddedInitializers)),
            .init("external_initializers", .int(summary.externalInitializers)), .init("weight_bytes", .int(summary.weightBytes)),
            .init("model_bytes", .int(summary.modelBytes)), .init("data_bytes", .int(summary.dataBytes)),
            .init("warnings", .array(summary.warnings.map { .string($0) })),
        ])
    }
}

extension Export: JSONCommand {}

extension ExportOptions.Precision: Vocabulary {
    static var noun: String { "export dtype" }
}
