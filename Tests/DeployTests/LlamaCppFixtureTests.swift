import ConnkitTestSupport
import Deploy
import Foundation
import Testing
import TensorFormats
@testable import ConnectorGraph

/// Tests/Fixtures/deploy (generate.py): mmprojs written by llama.cpp's own converters, a different connector
/// spliced into each by connkit, and llama.cpp's verdict on the result (libmtmd's embeddings against
/// transformers' connector on llama.cpp's own encoder features). These tests tie that verdict to the code:
/// splicing the same inputs today gives the very file llama.cpp ran, and every malformed splice whose
/// effect on llama.cpp the manifest records is still refused.
@Suite final class LlamaCppFixtureTests {
    static let root = CLI.fixture("deploy")
    static let manifest: JSONValue = {
        (try? MappedFile(path: root + "/manifest.json")).flatMap { file in try? file.withBytes { try JSONValue.parse($0) } } ?? .null
    }()

    let directory = temporaryDirectory()
    deinit { try? FileManager.default.removeItem(atPath: directory) }

    static var families: [String] { (manifest["families"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue } }
    static var malformed: [String] { (manifest["malformed"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue } }

    static func entry(_ list: String, _ name: String) -> JSONValue? {
        manifest[list]?.arrayValue?.first { $0["name"]?.stringValue == name }
    }

    @Test func llamaCppAcceptedEverySplice() throws {
        #expect(Self.families == ["llava-1.5", "qwen2-vl", "qwen2.5-vl", "idefics3"])
        let threshold = try #require(Self.manifest["threshold"]?.doubleValue)
        #expect(threshold >= 0.999)
        for name in Self.families {
            let entry = try #require(Self.entry("families", name))
            #expect((entry["base_min_cosine"]?.doubleValue ?? 0) >= threshold, "\(name)")
            #expect((entry["spliced_min_cosine"]?.doubleValue ?? 0) >= threshold, "\(name)")
            #expect(entry["features_identical"]?.boolValue == true && entry["connector_differs"]?.boolValue == true, "\(name)")
        }
    }

    /// Today's splice of the committed base and connector is byte for byte the file llama.cpp ran.
    @Test(arguments: families)
    func spliceReproducesTheFileLlamaCppRan(_ name: String) throws {
        let entry = try #require(Self.entry("families", name))
        let base = Self.root + "/" + (entry["base"]?.stringValue ?? "")
        let connector = Self.root + "/" + (entry["connector"]?.stringValue ?? "")
        let out = directory + "/\(name).gguf"
        var plan = try Splicer.plan(try spliceRequest(base: base, connector: [connector], output: out))
        #expect(plan.report.valid, "\(plan.report.check.diagnostics.map(\.line))")
        try Splicer.write(&plan, overwrite: false, inputs: [base])
        let written = try CheckpointReader.open(out)
        let ran = try CheckpointReader.open(Self.root + "/" + (entry["spliced"]?.stringValue ?? ""))
        #expect(written.metadata == ran.metadata)
        #expect(written.tensors.map(\.name) == ran.tensors.map(\.name))
        for tensor in ran.tensors {
            let mine = try #require(written.tensor(named: tensor.name))
            #expect(mine.dtype == tensor.dtype && mine.shape == tensor.shape, "\(name): \(tensor.name)")
            #expect(try bytes(of: mine) == bytes(of: tensor), "\(name): \(tensor.name)")
        }
        // The converter's own file is the base: every tensor outside the connector is the base's.
        let original = try CheckpointReader.open(base)
        let replaced = Set(entry["splice_tensors"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        for tensor in original.tensors where !replaced.contains(tensor.name) {
            #expect(try bytes(of: try #require(written.tensor(named: tensor.name))) == bytes(of: tensor), "\(name): \(tensor.name)")
        }
    }

    /// The keys connkit writes for a connector (`MmprojKeys`: splice, and `convert --scheme mmproj`) are the
    /// ones llama.cpp's own converter wrote into the base for that projector type, with the same values and
    /// GGUF types — but `clip.vision.spatial_merge_size`, which the Qwen2-VL converter leaves to libmtmd's
    /// default (2) and connkit states.
    @Test(arguments: families)
    func connectorKeysAreTheConvertersKeys(_ name: String) throws {
        let entry = try #require(Self.entry("families", name))
        let base = Self.root + "/" + (entry["base"]?.stringValue ?? "")
        let connector = Self.root + "/" + (entry["connector"]?.stringValue ?? "")
        let plan = try Splicer.plan(try spliceRequest(base: base, connector: [connector], output: directory + "/\(name).gguf"))
        #expect(plan.report.valid, "\(plan.report.check.diagnostics.map(\.line))")
        let keys = plan.report.keys.filter { $0.key != "general.file_type" }
        #expect(keys.contains { $0.key == "clip.projector_type" })
        for key in keys {
            if key.key == "clip.vision.spatial_merge_size", key.previous == nil {
                #expect(key.value == .uint32(2), "\(name)")
            } else {
                #expect(key.previous == key.value, "\(name): \(key.key) = \(key.value), llama.cpp wrote \(String(describing: key.previous))")
            }
        }
    }

    /// Each malformed splice whose effect on llama.cpp the manifest records (an abort inside ggml, a refusal
    /// at load, or silently wrong embeddings) is still refused, with the same diagnostic codes.
    @Test(arguments: malformed)
    func malformedSplicesAreRefused(_ name: String) throws {
        let entry = try #require(Self.entry("malformed", name))
        let base = Self.root + "/" + (entry["base"]?.stringValue ?? "")
        let source = Self.root + "/" + (entry["source"]?.stringValue ?? "")
        var llm: DimensionClaim?
        if entry["extra_arguments"]?.arrayValue?.isEmpty == false {
            llm = LLMWidth.find(in: try CheckpointReader.open(Self.root + "/text.gguf"))
            #expect(llm?.value == 48)
        }
        let plan = try Splicer.plan(try spliceRequest(base: base, connector: [source], output: directory + "/\(name).gguf", llm: llm))
        #expect(!plan.report.valid, "\(name)")
        #expect(entry["connkit"]?["exit"]?.intValue == 1)
        let codes = Set(plan.report.check.diagnostics.filter { $0.severity == .error }.map(\.code.rawValue))
        #expect(codes == Set(entry["connkit"]?["codes"]?.arrayValue?.compactMap(\.stringValue) ?? []), "\(name): \(codes)")
        #expect(entry["llama_cpp"]?["outcome"]?.stringValue?.isEmpty == false)
    }
}

/// Tests/Fixtures/deploy/transformers.json (check_transformers.py): every connector connkit converts into
/// transformers' names, from every scheme of every runtime fixture that transformers serves, loaded with
/// `from_pretrained` (no unexpected, missing or mismatched connector key; values equal to transformers' own
/// checkpoint), and into `hf` also with `load_state_dict(strict=True)` on the connector's submodule.
@Suite struct TransformersManifestTests {
    @Test func everyConversionIntoTransformersNamesLoaded() throws {
        let file = try MappedFile(path: CLI.fixture("deploy/transformers.json"))
        let results = try file.withBytes { try JSONValue.parse($0) }["results"]?.arrayValue ?? []
        var loaded = Set<String>()
        for result in results where result["loaded"]?.boolValue == true {
            loaded.insert([result["case"], result["source"], result["target"]].compactMap { $0?.stringValue }.joined(separator: " "))
        }
        #expect(results.count == loaded.count, "every recorded conversion loaded")
        var expected = 0
        for fixture in FixtureCase.all where fixture.checkpoints["hf"] != nil && !fixture.expectInvalid.contains("hf") {
            let targets = ["hf"] + (fixture.checkpoints["hf-legacy"] != nil ? ["hf-legacy"] : [])
            for source in fixture.checkpoints.keys where !fixture.expectInvalid.contains(source) {
                for target in targets {
                    expected += 1
                    #expect(loaded.contains("\(fixture.name) \(source) \(target)"), "\(fixture.name) \(source) → \(target)")
                }
            }
        }
        #expect(expected >= 40)
    }
}
