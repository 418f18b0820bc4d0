import ArgumentParser
import ConnectorGraph
import ConnectorRuntime
import TensorFormats

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run two checkpoints of one connector on the same features and compare their outputs.",
        discussion: """
            A and B are one path each (a file or a folder); their naming schemes and formats may differ, but \
            they must bind to the same family, variant and dimensions. Both run on the same features \
            (--input, or --random T). Per the whole output and for the worst token: cosine similarity (minimum \
            and mean over tokens, in double precision), relative L2 error ‖a−b‖/‖a‖, and max |a−b| with where \
            it is; `identical` when every output bit agrees.

            Exit status: 0 the minimum cosine is at least --min-cosine, 1 it is below (or a connector fails \
            validation), 2 unusable input, connectors that differ, or bad usage.
            """)

    @Argument(help: "The reference checkpoint (a file or a folder).")
    var a: String

    @Argument(help: "The checkpoint compared with it.")
    var b: String

    @OptionGroup var features: FeatureOptions

    @Option(name: .customLong("min-cosine"), help: "Exit 1 when the minimum per-token cosine is below this (default 0.999).")
    var minCosine: Double = 0.999

    @OptionGroup var connector: ConnectorOptions

    @Flag(help: "Print one JSON object (schema: schemas/compare.schema.json).")
    var json = false

    func run() throws {
        try features.validate(required: true)
        guard minCosine >= -1, minCosine <= 1 else { throw CommandFailure.usage("--min-cosine must be in [-1, 1], got \(minCosine)") }
        var clock = Stopwatch()
        let boundA = try BoundRun(paths: [a], options: connector)
        let boundB = try BoundRun(paths: [b], options: connector)
        guard let modelA = boundA.connector, let modelB = boundB.connector else {
            json ? emitJSON(CompareReport(a: (self.a, boundA), b: (self.b, boundB)).json) : emitPainted(invalidText(boundA, boundB))
            throw CheckFailed()
        }
        try Compare.sameConnector(boundA.report, boundB.report)
        if !json {
            boundA.printWarnings()
            boundB.printWarnings()
        }
        let input = try features.features(width: modelA.inputWidth)
        let grid = try features.parsedGrid
        let bindSeconds = clock.lap()
        let outputA = try modelA.run(input, grid: grid)
        let outputB = try modelB.run(input, grid: grid)
        guard outputA.shape == outputB.shape else {
            throw RuntimeError(.mismatch("A and B are not the same connector: their outputs are \(outputA.shape) and \(outputB.shape)"))
        }
        let runSeconds = clock.lap()
        var report = CompareReport(a: (self.a, boundA), b: (self.b, boundB))
        report.result = (input, try Connector.grid(tokens: input.tokens, given: grid), outputA, Comparison(outputA, outputB), minCosine)
        report.seconds = (bindSeconds, runSeconds)
        json ? emitJSON(report.json) : emit(report.text)
        if !(report.result!.comparison.minCosine >= minCosine) { throw CheckFailed() }
    }

    /// Two reports bind the same connector: family, variant and every dimension both know (the token count
    /// aside: the features set it); else exit 2 naming what differs.
    static func sameConnector(_ a: ValidationReport, _ b: ValidationReport) throws {
        var differences: [String] = []
        if a.family != b.family { differences.append("family \(a.family ?? "?") vs \(b.family ?? "?")") }
        if a.variant != b.variant { differences.append("variant \(a.variant ?? "?") vs \(b.variant ?? "?")") }
        let dimsB = Dictionary(b.dims.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
        for dim in a.dims where dim.key != "tokens" {
            guard let value = dim.value, let other = dimsB[dim.key] ?? nil, value != other else { continue }
            differences.append("\(dim.key) \(value) vs \(other)")
        }
        if !differences.isEmpty {
            throw RuntimeError(.mismatch("A and B are not the same connector: " + differences.joined(separator: ", ")))
        }
    }

    func invalidText(_ a: BoundRun, _ b: BoundRun) -> String {
        [(self.a, a), (self.b, b)].filter { !$0.1.report.valid }.map { path, bound in
            "\(printable(path)):\n" + bound.report.text(style: .forStream(1))
        }.joined(separator: "\n\n")
    }
}

extension Compare: JSONCommand {}

/// What `compare` prints.
struct CompareReport {
    let a: (path: String, bound: BoundRun)
    let b: (path: String, bound: BoundRun)
    var result: (features: Features, grid: Grid?, reference: RunOutput, comparison: Comparison, threshold: Double)?
    var seconds: (bind: Double, run: Double)?

    init(a: (String, BoundRun), b: (String, BoundRun)) {
        self.a = a
        self.b = b
    }

    static func side(_ path: String, _ report: ValidationReport) -> JSONValue {
        let full = report.json(inputs: [path])
        let keys = ["valid", "inputs", "family", "variant", "scheme", "prefix", "graph", "diagnostics"]
        return .object((full.objectMembers ?? []).filter { keys.contains($0.key) })
    }

    var json: JSONValue {
        var members: [JSONValue.Member] = [.init("a", CompareReport.side(a.path, a.bound.report)),
                                           .init("b", CompareReport.side(b.path, b.bound.report))]
        let reportJSON = a.bound.report.json(inputs: [a.path])
        members.append(.init("dims", reportJSON["dims"] ?? .null))
        if let result {
            let c = result.comparison
            members += [
                .init("input", RunReport.inputJSON(result.features, grid: result.grid)),
                .init("output_shape", .array(result.reference.shape.map { .int($0) })),
                .init("identical", .bool(c.identical)),
                .init("min_cosine_threshold", .double(result.threshold)),
                .init("passed", .bool(c.minCosine >= result.threshold)),
                .init("tokens", .int(c.tokens)),
                .init("cosine", .object([.init("min", .double(c.minCosine)), .init("mean", .double(c.meanCosine))])),
                .init("relative_l2", .double(c.relativeL2)),
                .init("max_abs_difference", .double(c.maxAbsDifference)),
                .init("max_abs_difference_at", .array(c.maxAbsDifferenceAt.map { .int($0) })),
                .init("worst_token", .object([
                    .init("index", .array(c.worstToken.index.map { .int($0) })), .init("cosine", .double(c.worstToken.cosine)),
                    .init("relative_l2", .double(c.worstToken.relativeL2)),
                    .init("max_abs_difference", .double(c.worstToken.maxAbsDifference)),
                ])),
            ]
        } else {
            members += ["input", "output_shape", "identical", "min_cosine_threshold", "passed", "tokens", "cosine", "relative_l2",
                        "max_abs_difference", "max_abs_difference_at", "worst_token"].map { .init($0, .null) }
        }
        members.append(.init("seconds", seconds.map { .object([.init("bind", .double($0.bind)), .init("run", .double($0.run))]) } ?? .null))
        return .object(members)
    }

    var text: String {
        guard let result else { return "" }
        let c = result.comparison, report = a.bound.report
        var lines = ["connector: \(report.family ?? "?") / \(report.variant ?? "?"): \(a.bound.report.scheme ?? "?") names (A) vs \(b.bound.report.scheme ?? "?") names (B)"]
        lines.append("input:  \(formatShape(result.features.shape)) from \(printable(result.features.origin))" + (result.grid.map { ", grid \($0)" } ?? ""))
        lines.append("output: \(formatShape(result.reference.shape)), \(c.tokens) token\(c.tokens == 1 ? "" : "s")")
        if c.identical {
            lines.append("identical: every output bit agrees")
        } else {
            lines.append("cosine: min \(formatNumber(c.minCosine, digits: 9)), mean \(formatNumber(c.meanCosine, digits: 9))")
            lines.append("relative L2 error: \(formatScientific(c.relativeL2))")
            lines.append("max |a-b|: \(formatScientific(c.maxAbsDifference)) at \(formatShape(c.maxAbsDifferenceAt))")
            lines.append("worst token \(formatShape(c.worstToken.index)): cosine \(formatNumber(c.worstToken.cosine, digits: 9)), "
                         + "relative L2 \(formatScientific(c.worstToken.relativeL2)), max |a-b| \(formatScientific(c.worstToken.maxAbsDifference))")
        }
        lines.append(c.minCosine >= result.threshold ? "passed (minimum cosine >= \(result.threshold))"
                     : "FAILED: minimum cosine \(formatNumber(c.minCosine, digits: 9)) < \(result.threshold)")
        return lines.joined(separator: "\n")
    }
}
