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
            checkpoint and their tensors are pooled (two connectors among them are an error). The connector \
            is found among the tensors by its names (family, variant and naming scheme are detected unless \
            --family or --graph says), under the scheme's own prefix or, failing that, any other (a connector \
            saved on its own), and every tensor is checked against the family's symbolic shapes.

            Dimensions come from, in order of precedence: --encoder-dim/--llm-dim/--dim; --encoder/--llm \
            presets; a config.json (--config, or the one in each PATH's folder); an mmproj's GGUF metadata \
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
            // Listing the presets reads no checkpoint: anything that would be about one is meaningless.
            let usesFeatures = features.input != nil || features.random != nil || features.grid != nil
            let ignored: [String?] = [paths.isEmpty ? nil : "PATH"] + connector.given.map { Optional($0) }
                + [noValues ? "--no-values" : nil, runCheck ? "--run" : nil, usesFeatures ? "--input/--random/--grid" : nil]
            let ignoredFlags = ignored.compactMap { $0 }
            if let first = ignoredFlags.first {
                throw CommandFailure.usage("--list-presets lists the presets and checks nothing: drop \(first)\(ignoredFlags.count > 1 ? " (and \(ignoredFlags.dropFirst().joined(separator: ", ")))" : "")")
            }
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
            var text = report.text(style: .forStream(1))
            if let ran {
                text += "\nrun: \(formatShape(ran.features.shape)) from \(printable(ran.features.origin)) -> \(formatShape(ran.output.shape)), "
                    + "\(ran.output.statistics.nonFinite) non-finite"
            }
            emitPainted(text)
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
        let key: String
        do throws(CommandFailure) {
            key = try DimensionKeyName.parse(parts[0]).key
        } catch {
            throw CommandFailure(error.failure, error.code, "\(flag) \(argument): \(error.message)")
        }
        return DimensionClaim(key: key, value: try positive(value, "\(flag) \(key)"), source: .flag("\(flag) \(argument)"))
    }
}

/// Opens every path and pools their tensors into one checkpoint (parts of one model).
func pooledCheckpoint(_ paths: [String], reading: ReadingOptions) throws -> Checkpoint {
    let parts = try paths.map(reading.open)
    guard parts.count > 1 else { return parts[0] }
    var tensors: [Tensor] = []
    for (path, part) in zip(paths, parts) {
        for tensor in part.tensors { tensors.append(Tensor(info: tensor.info, data: tensor.data, file: tensor.file ?? path)) }
    }
    return Checkpoint(path: paths.joined(separator: " + "), format: parts[0].format,
                      metadata: parts.flatMap(\.metadata), tensors: tensors, notes: parts.flatMap(\.notes),
                      shards: parts.flatMap(\.shards))
}

/// The config.json of every folder among the PATHs (a folder given as PATH, or the folder of a file), once
/// per folder, in the order of the PATHs: several PATHs are one checkpoint, and each folder's config speaks
/// for it.
func configsNextTo(_ paths: [String]) -> [String] {
    var found: [String] = []
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
        var candidate = folder + "config.json"
        if candidate == "./config.json" { candidate = "config.json" }
        guard stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
        // The same folder spelled twice (`a/` and `a/model.safetensors`) is one config.
        if !found.contains(where: { sameFile($0, candidate) }) { found.append(candidate) }
    }
    return found
}

/// Whether two paths name the same file (device and inode).
func sameFile(_ a: String, _ b: String) -> Bool {
    var first = stat(), second = stat()
    return stat(a, &first) == 0 && stat(b, &second) == 0 && first.st_dev == second.st_dev && first.st_ino == second.st_ino
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

/// Whether anything (file, folder, link target) exists at `path`.
func pathExists(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0
}
