import ArgumentParser
import ConnectorGraph
import ConnectorRuntime
import TensorFormats
#if canImport(Glibc)
import Glibc
#endif

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that a checkpoint's connector fits its vision encoder and LLM.",
        discussion: """
            PATH is any file connkit reads (or a sharded-checkpoint folder); several PATHs are parts of one \
            checkpoint and their tensors are pooled. The connector is found among the tensors by its names \
            (family, variant and naming scheme are detected unless --family or --graph says), and every \
            tensor is checked against the family's symbolic shapes.

            Dimensions come from, in order of precedence: --encoder-dim/--llm-dim/--dim; --encoder/--llm \
            presets; a config.json (--config, or one in the PATH's folder); an mmproj's GGUF metadata \
            (advisory: the shapes win); --llm-checkpoint (or an LLM in the same checkpoint); the tensors \
            themselves; the family's published defaults. Two sources that disagree are an error.

            Exit status: 0 valid (warnings allowed), 1 invalid, 2 unusable input or bad usage.
            """)

    @Argument(help: "The checkpoint file(s) or folder.")
    var paths: [String] = []

    @OptionGroup var connector: ConnectorOptions

    @Flag(name: .customLong("no-values"), help: "Check names and shapes only; do not read tensor values.")
    var noValues = false

    @Flag(name: .customLong("run"),
          help: "Also run the connector on random features of its TOKENS IN (or --input): a non-finite output is an error, a collapsed one a warning.")
    var runCheck = false

    @OptionGroup var features: FeatureOptions

    @Flag(help: "Print one JSON object (schema: schemas/validation-report.schema.json).")
    var json = false

    @Flag(name: .customLong("list-presets"), help: "List the encoder and LLM presets, then exit.")
    var listPresets = false

    func run() throws {
        if listPresets {
            json ? emitJSON(PresetListing.json) : emit(PresetListing.text)
            return
        }
        if paths.isEmpty { throw CommandFailure.usage("give at least one PATH (or --list-presets)") }
        let usesFeatures = features.input != nil || features.random != nil || features.grid != nil
        if usesFeatures && !runCheck { throw CommandFailure.usage("--input, --random and --grid go with --run") }
        try features.validate(required: false)
        var report = Validator.validate(try connector.request(paths, checkValues: !noValues))
        var ran: (features: Features, output: RunOutput)?
        if runCheck, report.valid, let bound = report.connector { (report, ran) = try functionalCheck(report, bound) }
        if json {
            var members = report.json(inputs: paths).objectMembers ?? []
            if let ran {
                members.append(.init("run", .object([
                    .init("input", RunReport.inputJSON(ran.features, grid: try Connector.grid(tokens: ran.features.tokens, given: features.parsedGrid))),
                    .init("output", .object([.init("shape", .array(ran.output.shape.map { .int($0) })),
                                             .init("statistics", RunReport.statisticsJSON(ran.output.statistics))])),
                ])))
            }
            emitJSON(.object(members))
        } else {
            var text = report.text
            if let ran {
                text += "\nrun: \(formatShape(ran.features.shape)) from \(printable(ran.features.origin)) -> \(formatShape(ran.output.shape)), "
                    + "\(ran.output.statistics.nonFinite) non-finite"
            }
            emit(text)
        }
        if !report.valid { throw CheckFailed() }
    }
}

extension Validate: JSONCommand {}

extension Validate {
    /// `--run`: the connector on random features of its TOKENS IN (or `--input`); what the output shows is
    /// added to the report's diagnostics.
    func functionalCheck(_ report: ValidationReport, _ bound: BoundConnector) throws -> (ValidationReport, (Features, RunOutput)) {
        let model = try Connector(bound: bound)
        if features.input == nil, features.random == nil, report.inputTokens == nil {
            throw CommandFailure.usage("--run needs the token count: pass --dim tokens=N, an --encoder preset, --random T or --input")
        }
        let input = try features.features(width: model.inputWidth, tokens: report.inputTokens)
        let output = try model.run(input, grid: try features.parsedGrid)
        var checked = report
        checked.diagnostics += output.functionalDiagnostics(features: input.origin)
        checked.diagnostics = checked.diagnostics.enumerated().sorted { ($0.element.severity, $0.offset) < ($1.element.severity, $1.offset) }.map(\.element)
        return (checked, (input, output))
    }
}

// MARK: - Shared by validate and describe

func positive(_ value: Int, _ flag: String) throws -> Int {
    guard value > 0 else { throw CommandFailure.usage("\(flag) must be a positive size, got \(value)") }
    return value
}

/// `KEY=N` arguments (`queries=64`, `encoder=1024`).
func parseDimensionArguments(_ arguments: [String], flag: String) throws -> [DimensionClaim] {
    try arguments.map { argument in
        let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, let value = Int(parts[1]) else {
            throw CommandFailure.usage("\(flag) \(argument): expected KEY=N (e.g. queries=64)")
        }
        guard DimensionKey.isKnown(parts[0]) else {
            throw CommandFailure(.usage, .unknownValue,
                                 "\(flag) \(argument): unknown key \(parts[0]) (known: \(DimensionKey.all.map(\.key).joined(separator: ", ")))")
        }
        return DimensionClaim(key: parts[0], value: try positive(value, "\(flag) \(parts[0])"), source: .flag("\(flag) \(argument)"))
    }
}

/// Opens every path and pools their tensors into one checkpoint (parts of one model).
func pooledCheckpoint(_ paths: [String]) throws -> Checkpoint {
    let parts = try paths.map(CheckpointReader.open)
    guard parts.count > 1 else { return parts[0] }
    var tensors: [Tensor] = []
    for (path, part) in zip(paths, parts) {
        for tensor in part.tensors { tensors.append(Tensor(info: tensor.info, data: tensor.data, file: tensor.file ?? path)) }
    }
    return Checkpoint(path: paths.joined(separator: " + "), format: parts[0].format,
                      metadata: parts.flatMap(\.metadata), tensors: tensors, notes: parts.flatMap(\.notes),
                      shards: parts.flatMap(\.shards))
}

/// A config.json in the folder given as PATH, or next to the file given as PATH.
func configNextTo(_ paths: [String]) -> String? {
    for path in paths {
        var info = stat()
        let isFolder = stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
        let folder: String
        if isFolder {
            folder = path.hasSuffix("/") ? path : path + "/"
        } else if let slash = path.lastIndex(of: "/") {
            folder = String(path[...slash])
        } else {
            folder = "./"
        }
        let candidate = folder + "config.json"
        if stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG { return candidate == "./config.json" ? "config.json" : candidate }
    }
    return nil
}

enum PresetListing {
    static var text: String {
        var lines = ["encoder presets:"]
        lines.append(renderTable(["NAME", "WIDTH", "IMAGE", "PATCH", "PATCHES", "CLS", "NOTE"], Presets.encoders.map {
            [$0.name, String($0.width), String($0.imageSize), String($0.patchSize), String($0.patches), $0.classToken ? "yes" : "no", $0.note]
        }, indent: "  "))
        lines.append("llm presets:")
        lines.append(renderTable(["NAME", "HIDDEN", "LAYERS", "FFN", "HF IDS"], Presets.llms.map {
            [$0.name, String($0.hidden), String($0.layers), String($0.ffn), $0.hf.joined(separator: ", ")]
        }, indent: "  "))
        return lines.joined(separator: "\n")
    }

    static var json: JSONValue {
        .object([
            JSONValue.Member("encoders", .array(Presets.encoders.map { preset in
                .object([JSONValue.Member("name", .string(preset.name)), JSONValue.Member("width", .int(preset.width)),
                         JSONValue.Member("image_size", .int(preset.imageSize)), JSONValue.Member("patch_size", .int(preset.patchSize)),
                         JSONValue.Member("patches", .int(preset.patches)), JSONValue.Member("class_token", .bool(preset.classToken)),
                         JSONValue.Member("hf", .array(preset.hf.map { .string($0) }))])
            })),
            JSONValue.Member("llms", .array(Presets.llms.map { preset in
                .object([JSONValue.Member("name", .string(preset.name)), JSONValue.Member("hidden", .int(preset.hidden)),
                         JSONValue.Member("layers", .int(preset.layers)), JSONValue.Member("ffn", .int(preset.ffn)),
                         JSONValue.Member("hf", .array(preset.hf.map { .string($0) }))])
            })),
        ])
    }
}
