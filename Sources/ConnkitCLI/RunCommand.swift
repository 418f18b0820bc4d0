import ArgumentParser
import ConnectorGraph
import ConnectorRuntime
import TensorFormats
#if canImport(Glibc)
import Glibc
#endif

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a checkpoint's connector on vision-encoder features (float32 forward pass).",
        discussion: """
            CKPT is anything `validate` reads; the connector is detected and bound exactly as `validate` does, \
            with the same dimension options. A connector with validation errors is not run (exit 1, the \
            diagnostics); warnings are printed and the run goes on.

            FEATURES is any file connkit reads holding one floating tensor (or the one --input-tensor names), \
            [T, D_enc] or [B, T, D_enc]: the tokens `describe` lists as TOKENS IN. --random T uses T tokens of \
            deterministic standard-normal features instead (README: "connkit run"). Families that need the \
            patch grid take it from --grid HxW, else the square root of T.

            The output is what the LLM receives, float32 [B, T_out, D_out] ([T_out, D_out] for 2-D features): \
            written with --output (.npy, .npz or .safetensors, tensor `output`), otherwise summarised.

            Exit status: 0 success, 1 the connector fails validation, 2 unusable input or bad usage.
            """)

    @Argument(help: "The checkpoint file(s) or folder.")
    var paths: [String] = []

    @OptionGroup var features: FeatureOptions

    @Option(help: "Write the output here (.npy, .npz or .safetensors; tensor `output`).")
    var output: String?

    @OptionGroup var connector: ConnectorOptions

    @Flag(help: "Print one JSON object (schema: schemas/run.schema.json).")
    var json = false

    @Flag(help: "With --output, print no summary (the file is the result); warnings and errors are still printed.")
    var quiet = false

    func run() throws {
        if paths.isEmpty { throw CommandFailure.usage("give the checkpoint to run (CKPT...)") }
        try features.validate(required: true)
        if let output { try RunOutput.checkDestination(output, inputs: inputFiles) }
        var clock = Stopwatch()
        let bound = try BoundRun(paths: paths, options: connector)
        guard let model = bound.connector else {
            json ? emitJSON(RunReport(bound: bound, inputs: paths).json) : emitPainted(bound.report.text(style: .forStream(1)))
            throw CheckFailed()
        }
        if !json { bound.printWarnings() }
        let input = try features.features(width: model.inputWidth)
        let bindSeconds = clock.lap()
        let result = try model.run(input, grid: try features.parsedGrid)
        let runSeconds = clock.lap()
        if let output { try result.write(to: output, inputs: inputFiles) }
        var report = RunReport(bound: bound, inputs: paths)
        report.input = (input, try Connector.grid(tokens: input.tokens, given: features.parsedGrid))
        report.output = (result, output)
        report.seconds = (bindSeconds, runSeconds)
        if json {
            emitJSON(report.json)
        } else if !quiet || output == nil {
            emit(report.text)  // without --output the summary is the result: --quiet never drops it
        }
    }

    /// Every file read: the checkpoint's and the features'.
    var inputFiles: [String] { paths + (features.input.map { [$0] } ?? []) }
}

extension Run: JSONCommand {}

/// The features options of `run`, `compare` and `validate --run`.
struct FeatureOptions: ParsableArguments {
    @Option(help: "Features: a file holding one floating tensor [T, D_enc] or [B, T, D_enc].")
    var input: String?

    @Option(name: .customLong("input-tensor"), help: "The tensor of --input to read, when the file holds several.")
    var inputTensor: String?

    @Option(help: "Use T tokens of deterministic standard-normal features instead of --input.")
    var random: Int?

    @Option(help: "The seed of --random (default 0).")
    var seed: UInt64?

    @Option(help: "The patch grid HxW of the tokens (default: the square root of T).")
    var grid: String?

    func validate(required: Bool) throws {
        if input != nil && random != nil { throw CommandFailure.usage("--input and --random exclude each other") }
        if required && input == nil && random == nil { throw CommandFailure.usage("give the features: --input FEATURES or --random T") }
        if inputTensor != nil && input == nil { throw CommandFailure.usage("--input-tensor names a tensor of --input") }
        if seed != nil && random == nil { throw CommandFailure.usage("--seed goes with --random") }
        if let random, random <= 0 { throw CommandFailure.usage("--random needs a positive token count, got \(random)") }
        _ = try parsedGrid
    }

    var parsedGrid: Grid? {
        get throws {
            guard let grid else { return nil }
            guard let parsed = Grid(parsing: grid) else { throw CommandFailure.usage("--grid \(grid): expected HxW with positive sides (e.g. 24x24)") }
            return parsed
        }
    }

    /// The features: read from --input, or --random's (`tokens` when --random is not given).
    func features(width: Int, tokens: Int? = nil) throws -> Features {
        if let input { return try Features.read(path: input, tensorName: inputTensor) }
        guard let count = random ?? tokens else { throw CommandFailure.usage("give the features: --input FEATURES or --random T") }
        return try Features.random(tokens: count, width: width, seed: seed ?? 0)
    }
}

/// A checkpoint validated and, when valid, bound to a runnable connector.
struct BoundRun {
    let report: ValidationReport
    let connector: Connector?

    init(paths: [String], options: ConnectorOptions) throws {
        report = Validator.validate(try options.request(paths, checkValues: true))
        connector = try report.valid ? report.connector.map(Connector.init(bound:)) : nil
    }

    func printWarnings() { report.printWarnings() }
}

extension ValidationReport {
    /// The warnings of a connector that is run or exported (never silenced, `--quiet` included), severities
    /// in colour on a terminal.
    func printWarnings() {
        let style = Style.forStream(2)
        for diagnostic in diagnostics where diagnostic.severity != .note {
            let rest = diagnostic.line.dropFirst(diagnostic.severity.rawValue.count)
            writeStandardError("connkit: \(style.severity(diagnostic.severity))\(printable(String(rest)))\n")
        }
    }
}

/// What `run` prints: the validation summary, input and output, timings.
struct RunReport {
    let bound: BoundRun
    let inputs: [String]
    var input: (features: Features, grid: Grid?)?
    var output: (result: RunOutput, file: String?)?
    var seconds: (bind: Double, run: Double)?

    init(bound: BoundRun, inputs: [String]) {
        self.bound = bound
        self.inputs = inputs
    }

    var json: JSONValue {
        var members = bound.report.json(inputs: inputs).objectMembers ?? []
        members.append(.init("input", input.map { RunReport.inputJSON($0.features, grid: $0.grid) } ?? .null))
        members.append(.init("output", output.map { result, file in
            .object([.init("shape", .array(result.shape.map { .int($0) })), .init("file", file.map { .string($0) } ?? .null),
                     .init("statistics", RunReport.statisticsJSON(result.statistics))])
        } ?? .null))
        members.append(.init("seconds", seconds.map { .object([.init("bind", .double($0.bind)), .init("run", .double($0.run))]) } ?? .null))
        members.append(.init("threads", .int(Connector.threads)))
        members.append(.init("blas", .string(Connector.blasCore)))
        return .object(members)
    }

    static func inputJSON(_ features: Features, grid: Grid?) -> JSONValue {
        .object([.init("shape", .array(features.shape.map { .int($0) })), .init("source", .string(features.origin)),
                 .init("grid", grid.map { .array([.int($0.height), .int($0.width)]) } ?? .null)])
    }

    static func statisticsJSON(_ stats: OutputStatistics) -> JSONValue {
        .object([.init("mean", .double(stats.mean)), .init("std", .double(stats.standardDeviation)),
                 .init("max_abs", .double(stats.maxAbs)), .init("non_finite", .int(stats.nonFinite))])
    }

    var text: String {
        let report = bound.report
        var lines = ["connector: \(report.family ?? "?") / \(report.variant ?? "?") (\(report.scheme ?? "?") names)"]
        if let (features, grid) = input {
            lines.append("input:  \(formatShape(features.shape)) from \(printable(features.origin))" + (grid.map { ", grid \($0)" } ?? ""))
        }
        if let (result, file) = output {
            let stats = result.statistics
            lines.append("output: \(formatShape(result.shape))" + (file.map { " written to \(printable($0))" } ?? ""))
            lines.append("  mean \(formatNumber(stats.mean, digits: 6))  std \(formatNumber(stats.standardDeviation, digits: 6))"
                         + "  max |x| \(formatNumber(stats.maxAbs, digits: 6))  non-finite \(stats.nonFinite)")
        }
        if let seconds {
            lines.append("time: bind \(formatNumber(seconds.bind, digits: 3)) s, run \(formatNumber(seconds.run, digits: 3)) s on \(Connector.threads) thread\(Connector.threads == 1 ? "" : "s") (BLAS: \(Connector.blasCore))")
        }
        return lines.joined(separator: "\n")
    }
}
