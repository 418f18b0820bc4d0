import ArgumentParser
import ConnectorGraph
import TensorFormats

struct Describe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a connector graph with concrete shapes, parameter counts, MACs and token counts.",
        discussion: """
            TARGET is a family name (\(Family.allCases.map(\.rawValue).joined(separator: ", "))), a graph \
            description (.json), or a checkpoint (its connector is detected and its dimensions bound as \
            `validate` does). Dimensions follow as KEY=N (encoder=1024 llm=4096 tokens=576 …) or come \
            from --encoder/--llm presets; the family's published defaults fill the rest.

            --compare puts every built-in family variant side by side for one encoder/LLM pair: \
            parameters, multiply-accumulates per image and output tokens per image. MACs count the \
            connector's matrix products for one image (norms and activations excluded; LLM-side gated \
            cross-attention layers are counted in parameters only).
            """)

    @Argument(help: "A family, a graph .json or a checkpoint, then KEY=N dimensions.")
    var arguments: [String] = []

    @Option(help: "The family variant (default: the family's first, e.g. mlp2x_gelu, blip2).",
            completion: .list(VariantName.names))
    var variant: String?

    @OptionGroup var presets: PresetOptions

    @Flag(help: "Compare every built-in family for one encoder/LLM pair.")
    var compare = false

    @Flag(help: "Print one JSON object.")
    var json = false

    @Flag(name: .customLong("graph-json"),
          help: "Print the family's graph description (schemas/connector-graph.schema.json), a starting point for a custom connector.")
    var graphJSON = false

    @OptionGroup var reading: ReadingOptions

    func validate() throws {
        if !compare && arguments.isEmpty { throw ValidationError("give a FAMILY, GRAPH.json or PATH (or --compare)") }
    }

    func run() throws {
        var claims: [DimensionClaim] = []
        let dimensionArguments = compare ? arguments : Array(arguments.dropFirst())
        claims += try parseDimensionArguments(dimensionArguments, flag: "describe")
        let encoderPreset = try presets.encoderPreset
        if let preset = try presets.llmPreset { claims += Presets.claims(llm: preset, source: .preset(preset.name)) }

        try checkCombinations(dimensions: !dimensionArguments.isEmpty)
        if compare {
            guard encoderPreset != nil || claims.contains(where: { $0.key == "encoder" }),
                  claims.contains(where: { $0.key == "llm" }) else {
                throw CommandFailure.usage("--compare needs an encoder and an LLM: --encoder PRESET --llm PRESET, or encoder=N llm=N")
            }
            let rows = Describer.compare(claims: claims, encoder: encoderPreset)
            json ? emitJSON(.object([JSONValue.Member("compare", .array(rows.map(\.json)))])) : emit(compareTable(rows))
            return
        }

        let target = arguments[0]
        let description: GraphDescription
        if let family = Family.lookup(target) {
            let named = try variant.map { try VariantName.within(family, $0) }
            let chosen = named?.variant ?? Catalog.defaultVariant(of: family)
            if graphJSON {
                emit(try chosen.graph.jsonText().trimmingTrailingNewline)
                return
            }
            if let encoderPreset {
                claims += Presets.claims(encoder: encoderPreset, keepsClassToken: chosen.keepsClassToken, source: .preset(encoderPreset.name))
            }
            if let named { claims = try withImplied(chosen, named.name, claims) }
            description = Describer.describe(chosen, claims: claims, scheme: chosen.graph.schemes.first?.name)
        } else if target.hasSuffix(".json") {
            if let variant { throw CommandFailure.usage("--variant \(variant) names a variant of a built-in FAMILY; \(target) is a graph of its own") }
            let graph = try ConnectorGraph.load(path: target)
            if graphJSON {
                emit(try graph.jsonText().trimmingTrailingNewline)
                return
            }
            let custom = FamilyVariant.custom(graph)
            if let encoderPreset { claims += Presets.claims(encoder: encoderPreset, keepsClassToken: false, source: .preset(encoderPreset.name)) }
            description = Describer.describe(custom, claims: claims, scheme: graph.schemes.first?.name)
        } else if !pathExists(target), !target.contains("/"), !target.contains(".") {
            // A bare word (not a path that does not exist, which the reader reports as such).
            throw CommandFailure(.usage, .unknownValue, "'\(printable(target))' is neither a family nor an existing file or folder"
                + suggestions(for: target, among: Family.names, listedAs: "families"))
        } else {
            // A checkpoint: detect and bind as validate does, then describe with the bound dimensions.
            if let variant {
                throw CommandFailure.usage("--variant \(variant) names a variant of a FAMILY; a checkpoint's variant is detected from its tensors")
            }
            let checkpoint = try pooledCheckpoint([target], reading: reading)
            let request = ValidationRequest(checkpoint: checkpoint, flagClaims: claims, encoderPreset: encoderPreset,
                                            configs: try configsNextTo([target]).map { try ConfigReader.read(path: $0) }, checkValues: false)
            let report = Validator.validate(request)
            guard let familyName = report.family, let family = Family(rawValue: familyName), let variantName = report.variant,
                  let chosen = Catalog.variant(family, variantName) else {
                throw CommandFailure(.unusableInput, .emptySelection, "\(target): \(report.diagnostics.first?.message ?? "no connector found")")
            }
            if graphJSON {
                emit(try chosen.graph.jsonText().trimmingTrailingNewline)
                return
            }
            let bound = report.dims.compactMap { dim in dim.value.map { DimensionClaim(key: dim.key, value: $0, source: dim.source ?? .familyDefault) } }
            let held = Set(report.connector?.parameters.filter { $0.layout != .absent }.map(\.node) ?? [])
            description = Describer.describe(chosen, claims: claims + bound, scheme: report.scheme,
                                             prefix: report.ownPrefix.map { ($0, report.prefix ?? "") }, present: held)
        }
        json ? emitJSON(description.json) : emit(description.text)
    }

    /// Options a request makes meaningless are refused rather than ignored.
    func checkCombinations(dimensions: Bool) throws {
        let presetGiven = presets.encoder != nil || presets.llm != nil
        if compare, let variant {
            throw CommandFailure.usage("--variant \(variant) picks one variant of a FAMILY; --compare shows every variant")
        }
        if compare && graphJSON { throw CommandFailure.usage("--graph-json prints one graph description; it does not combine with --compare") }
        if reading.isSet && (compare || Family.named(arguments.first ?? "") != nil || arguments.first?.hasSuffix(".json") == true) {
            throw CommandFailure.usage("--max-materialize applies to reading a checkpoint; a FAMILY, a GRAPH.json or --compare reads none")
        }
        if graphJSON && (dimensions || presetGiven) {
            throw CommandFailure.usage("--graph-json prints the graph description with symbolic dimensions; KEY=N and --encoder/--llm do not change it")
        }
    }

    /// `claims` plus the dimensions the variant name fixes (`mlp3x_gelu`: depth 3); a KEY=N or preset that
    /// gives one of them another value is refused, naming both.
    func withImplied(_ chosen: FamilyVariant, _ name: String, _ claims: [DimensionClaim]) throws -> [DimensionClaim] {
        let implied = chosen.implied(by: name, source: .flag("--variant \(name)"))
        for fixed in implied {
            if let other = claims.first(where: { $0.key == fixed.key && $0.value != fixed.value }) {
                throw CommandFailure.usage("--variant \(name) fixes \(fixed.key) = \(fixed.value), but \(other.source) gives \(fixed.key) = \(other.value)")
            }
        }
        return claims + implied
    }

    func compareTable(_ rows: [GraphDescription]) -> String {
        let header = ["FAMILY", "VARIANT", "PARAMETERS", "LLM-SIDE", "MACS/IMAGE", "TOKENS IN", "TOKENS OUT"]
        let table = rows.map { row in
            [row.family, row.variant, formatCount(row.connectorParameters),
             row.parameters[.llm].map { formatCount($0) } ?? "-", formatCount(row.macsPerImage), formatCount(row.inputTokens),
             formatCount(row.outputTokens)]
        }
        var text = renderTable(header, table)
        let unknown = rows.filter { !$0.unknown.isEmpty }.map { "\($0.variant): \($0.unknown.joined(separator: ", "))" }
        if !unknown.isEmpty { text += "\nunknown dimensions (pass KEY=N): " + unknown.joined(separator: "; ") }
        return text
    }
}

extension Describe: JSONCommand {}

extension String {
    var trimmingTrailingNewline: String { hasSuffix("\n") ? String(dropLast()) : self }
}
