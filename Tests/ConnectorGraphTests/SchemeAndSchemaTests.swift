import ConnkitTestSupport
import Testing
import TensorFormats
@testable import ConnectorGraph

/// Naming schemes, the graph JSON format and the JSON Schemas.
@Suite struct SchemeAndSchemaTests {
    static let schemeIDs: [String] = Catalog.variants.flatMap { variant in
        variant.graph.schemes.map { "\(variant.family.rawValue)/\(variant.variant)/\($0.name)" }
    }

    /// Every concrete name a scheme produces (indices 0…11) maps back to exactly the role it came from.
    @Test(arguments: schemeIDs)
    func everyConcreteNameMapsToOneRole(_ id: String) throws {
        let parts = id.split(separator: "/").map(String.init)
        let variant = try #require(Catalog.variants.first { $0.family.rawValue == parts[0] && $0.variant == parts[1] })
        let scheme = try #require(variant.graph.schemes.first { $0.name == parts[2] })
        let compiled = try CompiledScheme(scheme, graph: variant.graph)
        var owners: [String: String] = [:]
        for entry in compiled.entries {
            for template in entry.names {
                let symbols = template.indexSymbols
                let assignments: [[String: Int]] = symbols.isEmpty ? [[:]] : (0 ..< 12).map { value in
                    Dictionary(uniqueKeysWithValues: symbols.map { ($0, value) })
                }
                for assignment in assignments {
                    guard let name = template.instantiate({ assignment[$0] }) else { continue }
                    if let owner = owners[name], owner != entry.role {
                        Issue.record("\(id): \(name) is produced by roles \(owner) and \(entry.role)")
                    }
                    owners[name] = entry.role
                    // Matching the name against every template of the scheme finds only its own role.
                    let matching = compiled.entries.filter { other in other.names.contains { $0.match(name) != nil } }.map(\.role)
                    #expect(matching == [entry.role], "\(id): \(name) matches \(matching)")
                }
            }
        }
        // Every role of the graph is named by the scheme (or deliberately absent).
        for role in variant.graph.roles where scheme.entry(for: role) == nil && !scheme.absent.contains(role) {
            Issue.record("\(id): role \(role) has no stored name")
        }
    }

    /// Built-in graphs survive a JSON round trip, and the committed examples/graphs files are exactly
    /// what connkit exports (so they never drift from the code).
    @Test(arguments: Catalog.variants.map { "\($0.family.rawValue).\($0.variant)" })
    func graphJSONRoundTripAndExamples(_ id: String) throws {
        let variant = try #require(Catalog.variants.first { "\($0.family.rawValue).\($0.variant)" == id })
        let text = try variant.graph.jsonText()
        let parsed = try ConnectorGraph.parse(json: text)
        #expect(parsed == variant.graph)
        let example = try MappedFile(path: repositoryRoot + "/examples/graphs/\(id).json")
        let committed = example.withBytes { String(decoding: $0, as: UTF8.self) }
        #expect(committed == text, "examples/graphs/\(id).json differs from `connkit describe --graph-json`")
        let schema = try loadSchema("connector-graph.schema.json")
        #expect(schema.validate(try JSONValue.parse(text)) == [])
    }

    @Test func invalidGraphsAreRefusedWithTheirPlace() throws {
        let valid = try LinearFamilies.linear.jsonText()
        func refused(_ text: String, mentioning fragment: String) {
            do {
                _ = try ConnectorGraph.parse(json: text)
                Issue.record("accepted: \(fragment)")
            } catch let error as GraphDefinitionError {
                #expect(error.description.contains(fragment), "\(error.description)")
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        refused(valid.replacingFirst("\"bias\": true", "\"bias\": true, \"biass\": 1"), mentioning: "unknown key \"biass\"")
        refused(valid.replacingFirst("\"op\": \"linear\"", "\"op\": \"linearr\""), mentioning: "unknown op \"linearr\"")
        refused(valid.replacingFirst("\"shape\": [\"D_llm\", \"D_enc*F\"]", "\"shape\": [\"D_enc*F\", \"D_llm\"]"), mentioning: "attributes give")
        refused(valid.replacingFirst("\"inputs\": [\"image\"]", "\"inputs\": [\"nothing\"]"), mentioning: "input nothing is not defined")
        refused(valid.replacingFirst("\"shape\": [\"N\", \"D_llm\"]", "\"shape\": [\"N\", \"D_lm\"]"), mentioning: "undeclared symbol D_lm")
        refused(valid.replacingFirst("\"in\": \"D_enc*F\"", "\"in\": \"D_enc*\""), mentioning: "invalid dimension expression")
        refused("{\"format\": \"connkit-connector-graph\", \"format\": 1}", mentioning: "duplicate key")
    }

    /// The schemas' closed lists are the code's lists.
    @Test func schemaVocabulariesMatchTheCode() throws {
        let report = try loadSchema("validation-report.schema.json").root
        let codes = report["$defs"]?["diagnostic"]?["properties"]?["code"]?["enum"]?.arrayValue?.compactMap(\.stringValue)
        #expect(codes == DiagnosticCode.allCases.map(\.rawValue))
        let properties = report["$defs"]?["report"]?["properties"]
        let families = properties?["family"]?["anyOf"]?.arrayValue?[1]["enum"]?.arrayValue?.compactMap(\.stringValue)
        #expect(families == Family.allCases.map(\.rawValue) + ["custom"])
        let variants = properties?["variant"]?["anyOf"]?.arrayValue?[1]["enum"]?.arrayValue?.compactMap(\.stringValue)
        #expect(variants == Catalog.allVariantNames + ["custom"])
        let schemes = properties?["scheme"]?["anyOf"]?.arrayValue?[1]["enum"]?.arrayValue?.compactMap(\.stringValue)
        #expect(schemes == SchemeName.allCases.map(\.rawValue) + ["custom"])
        let keys = properties?["dims"]?["properties"]?.objectMembers?.map(\.key)
        #expect(keys == DimensionKey.all.map(\.key))
        let graph = try loadSchema("connector-graph.schema.json").root
        let graphKeys = graph["$defs"]?["dimension"]?["properties"]?["key"]?["enum"]?.arrayValue?.compactMap(\.stringValue)
        #expect(graphKeys == DimensionKey.all.map(\.key))
        let ops = graph["$defs"]?["node"]?["oneOf"]?.arrayValue?.compactMap { $0["properties"]?["op"]?["const"]?.stringValue }
        #expect(ops == ["repeat"] + Operation.opNames)
        let describe = try loadSchema("describe.schema.json").root
        let sites = describe["$defs"]?["site"]?["enum"]?.arrayValue?.compactMap(\.stringValue)
        #expect(sites == Site.allCases.map(\.rawValue))
        let siteTotals = describe["$defs"]?["description"]?["properties"]?["parameters"]?["properties"]?.objectMembers?.map(\.key)
        #expect(siteTotals == Site.allCases.map(\.rawValue))
    }
}

extension String {
    func replacingFirst(_ target: String, _ replacement: String) -> String {
        replacing(target, with: replacement, maxReplacements: 1)
    }
}

/// The README documents every family, scheme and diagnostic code (the lists are closed; adding one
/// without documenting it fails here).
@Suite struct DocumentationTests {
    @Test func readmeNamesEveryCodeFamilyAndScheme() throws {
        let file = try MappedFile(path: repositoryRoot + "/README.md")
        let readme = file.withBytes { String(decoding: $0, as: UTF8.self) }
        for code in DiagnosticCode.allCases { #expect(readme.contains("| `\(code.rawValue)` | \(code.severity.rawValue) |"), "\(code.rawValue)") }
        for family in Family.allCases { #expect(readme.contains("| `\(family.rawValue)` |"), "\(family.rawValue)") }
        for scheme in SchemeName.allCases { #expect(readme.contains("`\(scheme.rawValue)` ("), "\(scheme.rawValue)") }
        for preset in Presets.encoders.map(\.name) + Presets.llms.map(\.name) { #expect(readme.contains("`\(preset)`"), "\(preset)") }
    }
}
