import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats
@testable import ConnectorGraph

/// A connector saved on its own, several inputs as one checkpoint, and what one wrong dimension or a
/// non-finite value reports (issue 10, items 4, 5, 13, 14), on the files torch and transformers wrote
/// (Tests/Fixtures/graph/saved, made by its generate.py) and through the built binary.
@Suite struct SavedConnectorTests {
    static let saved = graphFixtures + "/saved/"

    struct Expected {
        var file: String
        var tensors: [(String, [Int])]
        var expect: JSONValue
    }

    static let expected: [Expected] = {
        guard let file = try? MappedFile(path: saved + "expected.json"), let json = try? file.withBytes({ try JSONValue.parse($0) }),
              let members = json.objectMembers else { return [] }
        return members.map { member in
            Expected(file: member.key,
                     tensors: (member.value["tensors"]?.arrayValue ?? []).map { pair in
                         (pair.arrayValue?[0].stringValue ?? "", pair.arrayValue?[1].arrayValue?.compactMap(\.intValue) ?? [])
                     },
                     expect: member.value["expect"] ?? .null)
        }
    }()

    func validate(_ arguments: [String], status: Int32, sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONValue {
        let result = try CLI.run(["validate"] + arguments + ["--json"])
        #expect(result.status == status, "\(arguments): \(result.stdout)\(result.stderr)", sourceLocation: sourceLocation)
        let json = try CLI.json(result)
        let violations = try loadSchema("validation-report.schema.json").validate(json)
        #expect(violations.isEmpty, "\(violations)", sourceLocation: sourceLocation)
        return json
    }

    @Test func theFixturesAreWhatTheGeneratorRecorded() throws {
        #expect(Self.expected.count == 8)
        for fixture in Self.expected {
            let checkpoint = try CheckpointReader.open(Self.saved + fixture.file)
            // safetensors writes its header in its own order: compare as a table.
            let found = Dictionary(checkpoint.tensors.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
            #expect(checkpoint.tensors.count == fixture.tensors.count, "\(fixture.file)")
            #expect(found == Dictionary(fixture.tensors, uniquingKeysWith: { a, _ in a }), "\(fixture.file)")
        }
    }

    /// Each saved connector is found under its prefix (none, or the user's), with the family, variant,
    /// scheme and prefix the generator expects; `describe` names its tensors as they are stored.
    @Test(arguments: expected.map(\.file))
    func aConnectorSavedOnItsOwnIsFound(_ file: String) throws {
        let fixture = try #require(Self.expected.first { $0.file == file })
        let expect = fixture.expect
        var arguments = [Self.saved + file]
        if let family = expect["needs_family"]?.stringValue {
            // One tensor name alone fits no family by itself: no-connector, whose hint names --family.
            let alone = try validate(arguments, status: 1)
            let diagnostic = try #require(alone["diagnostics"]?.arrayValue?.first)
            #expect(diagnostic["code"]?.stringValue == "no-connector")
            #expect(diagnostic["hint"]?.stringValue?.contains("--family \(family)") == true)
            arguments += ["--family", family]
        }
        let nonfinite = expect["nonfinite"] != nil
        let json = try validate(arguments, status: nonfinite ? 1 : 0)
        for key in ["family", "variant", "scheme", "prefix"] {
            #expect(json[key]?.stringValue == expect[key]?.stringValue, "\(file) \(key)")
        }
        #expect(json["parameters"]?.intValue == fixture.tensors.reduce(0) { $0 + $1.1.reduce(1, *) })
        if expect["needs_family"] == nil {
            let described = try CLI.run(["describe", Self.saved + file, "--json"])
            let stored = try CLI.json(described)["nodes"]?.arrayValue?.flatMap { $0["params"]?.arrayValue ?? [] }.compactMap { $0["tensor"]?.stringValue }
            #expect(Set(fixture.tensors.map(\.0)).isSubset(of: Set(stored ?? [])), "\(file): \(stored ?? [])")
        }
    }

    /// The same rule for another format: a module exported on its own by `torch.onnx.export`
    /// (Tests/Fixtures/onnx/torch_exports.py) keeps its bare parameter names as initializers.
    @Test(arguments: [("llava_projector_bare.onnx", "mlp", "mlp2x_gelu", "hf", [String]()),
                      ("idefics2_connector_bare.onnx", "perceiver-resampler", "idefics2", "hf", ["--dim", "heads=2"])])
    func aBareONNXExportIsFound(_ file: String, _ family: String, _ variant: String, _ scheme: String, _ extra: [String]) throws {
        let json = try validate([repositoryRoot + "/Tests/Fixtures/onnx/torch/" + file] + extra, status: 0)
        #expect(json["family"]?.stringValue == family && json["variant"]?.stringValue == variant)
        #expect(json["scheme"]?.stringValue == scheme && json["prefix"]?.stringValue == "")
    }

    /// The non-finite positions numpy finds, as flat and multi-index, in the JSON report and the text.
    @Test func nonFinitePositionsAreNumpys() throws {
        let fixture = try #require(Self.expected.first { $0.expect["nonfinite"] != nil })
        let reference = fixture.expect["nonfinite"]!
        let json = try validate([Self.saved + fixture.file], status: 1)
        let diagnostic = try #require(json["diagnostics"]?.arrayValue?.first { $0["code"]?.stringValue == "non-finite" })
        #expect(diagnostic["tensor"] == reference["tensor"])
        #expect(diagnostic["positions"] == reference["positions"])
        let nan = reference["nan"]?.intValue ?? 0, infinite = reference["infinite"]?.intValue ?? 0
        #expect(diagnostic["message"]?.stringValue?.contains("\(nan) NaN and \(infinite) infinite") == true)
        let first = try #require(reference["positions"]?.arrayValue?.first)
        let index = first["index"]?.arrayValue?.compactMap(\.intValue) ?? []
        let text = try CLI.run(["validate", Self.saved + fixture.file])
        #expect(text.stdout.contains("[\(index.map(String.init).joined(separator: ", "))] (flat \(first["flat"]?.intValue ?? -1))"))
        // The library's own position arithmetic, on a shape with three axes.
        #expect(ElementPosition(flat: 23, shape: [2, 3, 4]).index == [1, 2, 3])
        #expect(ElementPosition(flat: 5, shape: [2, 3, 4]).index == [0, 1, 1])
    }

    /// `convert --connector` uses the same detection: it picks the bare projector's tensors.
    @Test func convertConnectorFindsABareProjector() throws {
        let scratch = try Scratch()
        let output = scratch.path + "/projector.safetensors"
        let result = try CLI.run(["convert", Self.saved + "connector-merger.safetensors", output, "--connector"])
        #expect(result.status == 0, "\(result.stderr)")
        let written = try CheckpointReader.open(output)
        #expect(written.tensors.count == 6)
        #expect(written.tensors.allSatisfy { $0.name.hasPrefix("connector.") })
    }

    /// Detection under other prefixes never picks a stack's layers or a tensor of the wrong rank.
    @Test func otherPrefixesNeedModulesOfTheRightShape() throws {
        // A LayerNorm's weight and bias are named like a Linear's, but are 1-D.
        let layerNorm = Checkpoint(path: "norm", format: .safetensors, metadata: [],
                                   tensors: [memoryTensor("norm.weight", [64]), memoryTensor("norm.bias", [64])])
        #expect(Validator.validate(ValidationRequest(checkpoint: layerNorm)).family == nil)
        // Biased Linear layers of an LLM's stack (`layers.0.…`) are not connectors.
        var tensors: [Tensor] = []
        for layer in 0 ..< 3 {
            tensors += [memoryTensor("model.layers.\(layer).self_attn.q_proj.weight", [8, 8]),
                        memoryTensor("model.layers.\(layer).self_attn.q_proj.bias", [8])]
        }
        let stack = Checkpoint(path: "llm", format: .safetensors, metadata: [], tensors: tensors)
        let report = Validator.validate(ValidationRequest(checkpoint: stack))
        #expect(report.family == nil)
        #expect(report.diagnostics.map(\.code) == [.noConnector])
        #expect(report.diagnostics[0].hint?.contains("--graph-json") == true)
    }

    /// Several PATHs are one checkpoint: each folder's config.json speaks, and two that disagree are one
    /// dimension-conflict naming both files.
    @Test func everyFolderContributesItsConfig() throws {
        let scratch = try Scratch()
        let llava = try CheckpointReader.open(repositoryRoot + "/examples/llava-1.5-tiny/model.safetensors")
        let config = try String(contentsOfFile: repositoryRoot + "/examples/llava-1.5-tiny/config.json", encoding: .utf8)
        for folder in ["a", "b"] { try FileManager.default.createDirectory(atPath: scratch.path + "/" + folder, withIntermediateDirectories: true) }
        let layout = llava.tensors.map { ($0.name, $0.shape) }
        try writeSafetensors(scratch.path + "/a/part.safetensors", layout.filter { $0.0.contains(".0.") })
        try writeSafetensors(scratch.path + "/b/part.safetensors", layout.filter { !$0.0.contains(".0.") })
        try config.write(toFile: scratch.path + "/a/config.json", atomically: true, encoding: .utf8)
        try config.write(toFile: scratch.path + "/b/config.json", atomically: true, encoding: .utf8)
        let parts = [scratch.path + "/a/part.safetensors", scratch.path + "/b/part.safetensors"]
        let agreeing = try validate(parts + ["--no-values"], status: 0)
        #expect(agreeing["variant"]?.stringValue == "mlp2x_gelu")
        try config.replacingOccurrences(of: "\"hidden_size\": 128", with: "\"hidden_size\": 96")
            .write(toFile: scratch.path + "/b/config.json", atomically: true, encoding: .utf8)
        let disagreeing = try validate(parts + ["--no-values"], status: 1)
        let conflict = try #require(disagreeing["diagnostics"]?.arrayValue?.first { $0["code"]?.stringValue == "dimension-conflict" })
        let message = conflict["message"]?.stringValue ?? ""
        #expect(message.contains("a/config.json") && message.contains("b/config.json"), "\(message)")
        // --config names the one config to read: the second folder's is not read then.
        let chosen = try validate(parts + ["--no-values", "--config", scratch.path + "/a/config.json"], status: 0)
        #expect(chosen["valid"] == .bool(true))
    }

    /// Two checkpoints given as one: multiple-connectors naming both families and their files, whatever
    /// the configs declare; `describe` of such a pair and `convert --connector` refuse too.
    @Test func twoCheckpointsAreMultipleConnectors() throws {
        let paths = ["examples/llava-1.5-tiny/model.safetensors", "examples/qwen2-vl-merger-tiny/model.safetensors"]
        for order in [paths, paths.reversed()] {
            let json = try validate(order, status: 1)
            #expect(json["family"] == .null)
            let diagnostics = json["diagnostics"]?.arrayValue ?? []
            let several = try #require(diagnostics.first { $0["code"]?.stringValue == "multiple-connectors" })
            let message = several["message"]?.stringValue ?? ""
            for part in ["mlp/mlpNx_gelu", "patch-merger/qwen2-vl"] + paths { #expect(message.contains(part), "\(message)") }
            #expect(several["tensors"]?.arrayValue?.count == 2)
        }
        let text = try CLI.run(["validate"] + paths)
        #expect(text.status == 1 && text.stdout.contains("error[multiple-connectors]"))
    }

    /// One wrong dimension is one diagnostic listing every tensor it affects, through the binary.
    @Test func oneWrongDimensionOneDiagnostic() throws {
        // Only the flag disagrees with the tensors: one shape-mismatch over the projector's four tensors.
        let bare = try validate([Self.saved + "hf-projector.safetensors", "--llm-dim", "4096", "--no-values"], status: 1)
        let errors = (bare["diagnostics"]?.arrayValue ?? []).filter { $0["severity"]?.stringValue == "error" }
        #expect(errors.count == 1)
        #expect(errors.first?["code"]?.stringValue == "shape-mismatch")
        #expect(errors.first?["tensors"] == .array(["linear_1.weight", "linear_1.bias", "linear_2.weight", "linear_2.bias"].map { .string($0) }))
        #expect(errors.first?["tensor"]?.stringValue == "linear_1.weight")
        // A second command: the merger's encoder width from a flag against its config and its tensors.
        let merger = try validate(["examples/qwen2-vl-merger-tiny", "--encoder-dim", "100", "--no-values"], status: 1)
        let mergerErrors = (merger["diagnostics"]?.arrayValue ?? []).filter { $0["severity"]?.stringValue == "error" }
        #expect(mergerErrors.count == 1)
        #expect(mergerErrors.first?["code"]?.stringValue == "dimension-conflict")
        #expect(mergerErrors.first?["tensors"]?.arrayValue?.count == 5)
        #expect(mergerErrors.first?["hint"]?.stringValue?.contains("--encoder-dim is the odd one out") == true)
        let text = try CLI.run(["validate", "examples/qwen2-vl-merger-tiny", "--encoder-dim", "100", "--no-values"])
        #expect(text.stdout.components(separatedBy: "\n").filter { $0.hasPrefix("error[") }.count == 1)
    }
}
