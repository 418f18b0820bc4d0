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

    @Option(help: "The family variant (default: the family's first, e.g. mlp2x_gelu, blip2).")
    var variant: String?

    @OptionGroup var presets: PresetOptions

    @Flag(help: "Compare every built-in family for one encoder/LLM pair.")
    var compare = false

    @Flag(help: "Print one JSON object.")
    var json = false

    @Flag(name: .customLong("graph-json"),
          help: "Print the family's graph description (schemas/connector-graph.schema.json), a starting point for a custom connector.")
    var graphJSON = false

    func validate() throws {
        if !compare && arguments.isEmpty { throw ValidationError("give a FAMILY, GRAPH.json or PATH (or --compare)") }
    }

    func run() throws {
        var claims: [DimensionClaim] = []
        let dimensionArguments = compare ? arguments : Array(arguments.dropFirst())
        claims += try parseDimensionArguments(dimensionArguments, flag: "describe")
        let encoderPreset = try presets.encoderPreset
        if let preset = try presets.llmPreset { claims += Presets.claims(llm: preset, source: .preset(preset.name)) }

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
        if let family = Family.named(target) {
            let candidates = Catalog.variants(of: family)
            let chosen: FamilyVariant
            if let variant {
                guard let match = Catalog.variant(family, variant) else {
                    throw CommandFailure(.usage, .unknownValue,
                                         "\(family.rawValue) has no variant \(variant) (variants: \(candidates.flatMap(\.variantNames).joined(separator: ", ")))")
                }
                chosen = match
            } else {
                chosen = Catalog.defaultVariant(of: family)
            }
            if graphJSON {
                emit(try chosen.graph.jsonText().trimmingTrailingNewline)
                return
            }
            if let encoderPreset {
                claims += Presets.claims(encoder: encoderPreset, keepsClassToken: chosen.keepsClassToken, source: .preset(encoderPreset.name))
            }
            description = Describer.describe(chosen, claims: claims, scheme: chosen.graph.schemes.first?.name)
        } else if target.hasSuffix(".json") {
            let graph = try ConnectorGraph.load(path: target)
            if graphJSON {
                emit(try graph.jsonText().trimmingTrailingNewline)
                return
            }
            let custom = FamilyVariant.custom(graph)
            if let encoderPreset { claims += Presets.claims(encoder: encoderPreset, keepsClassToken: false, source: .preset(encoderPreset.name)) }
            description = Describer.describe(custom, claims: claims, scheme: graph.schemes.first?.name)
        } else {
            // A checkpoint: detect and bind as validate does, then describe with the bound dimensions.
            let checkpoint = try pooledCheckpoint([target])
            let request = ValidationRequest(checkpoint: checkpoint, flagClaims: claims, encoderPreset: encoderPreset,
                                            config: try configNextTo([target]).map { try ConfigReader.read(path: $0) }, checkValues: false)
            let report = Validator.validate(request)
            guard let familyName = report.family, let family = Family(rawValue: familyName), let variantName = report.variant,
                  let chosen = Catalog.variant(family, variantName) else {
                throw CommandFailure(.unusableInput, .emptySelection, "\(target): \(report.diagnostics.first?.message ?? "no connector found")")
            }
            let bound = report.dims.compactMap { dim in dim.value.map { DimensionClaim(key: dim.key, value: $0, source: dim.source ?? .familyDefault) } }
            let held = Set(report.connector?.parameters.filter { $0.layout != .absent }.map(\.node) ?? [])
            description = Describer.describe(chosen, claims: claims + bound, scheme: report.scheme, present: held)
        }
        json ? emitJSON(description.json) : emit(description.text)
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
