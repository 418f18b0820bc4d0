import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats
@testable import ConnectorGraph

/// `connkit validate` / `describe` end to end: the built executable on the example checkpoints and on
/// real-dimension sparse files, exit statuses, and `--json` output checked against the schemas.
@Suite struct ValidateCLITests {
    func run(_ arguments: [String]) throws -> CommandResult { try CLI.run(arguments) }

    func report(_ arguments: [String], status: Int32, sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONValue {
        let result = try run(arguments + ["--json"])
        #expect(result.status == status, "\(arguments): \(result.stdout)\(result.stderr)", sourceLocation: sourceLocation)
        let json = try JSONValue.parse(result.stdout)
        let violations = try loadSchema("validation-report.schema.json").validate(json)
        #expect(violations.isEmpty, "\(violations)", sourceLocation: sourceLocation)
        return json
    }

    static let valid: [(path: String, family: String, variant: String, scheme: String)] = [
        ("examples/llava-1.5-tiny", "mlp", "mlp2x_gelu", "llava"),
        ("examples/qwen2-vl-merger-tiny", "patch-merger", "qwen2-vl", "hf"),
        ("examples/blip2-tiny-lavis.safetensors", "qformer", "blip2", "lavis"),
        ("examples/minicpmv-tiny-mmproj.gguf", "attention-resampler", "minicpmv-2.6", "mmproj"),
        ("examples/idefics3-tiny", "pixel-shuffle-mlp", "idefics3", "hf"),
    ]

    @Test(arguments: valid.map(\.path))
    func examplesValidate(_ path: String) throws {
        let expected = try #require(Self.valid.first { $0.path == path })
        let json = try report(["validate", path], status: 0)
        #expect(json["valid"] == .bool(true))
        #expect(json["family"]?.stringValue == expected.family)
        #expect(json["variant"]?.stringValue == expected.variant)
        #expect(json["scheme"]?.stringValue == expected.scheme)
        let human = try run(["validate", path])
        #expect(human.status == 0 && human.stdout.contains("valid ("))
    }

    @Test func brokenExampleFails() throws {
        let json = try report(["validate", "examples/broken-llava-tiny"], status: 1)
        let diagnostics = try #require(json["diagnostics"]?.arrayValue)
        func has(_ code: String, _ tensor: String) -> Bool {
            diagnostics.contains { $0["code"]?.stringValue == code && $0["tensor"]?.stringValue == tensor }
        }
        #expect(has("shape-mismatch", "model.mm_projector.2.weight"))
        #expect(has("non-finite", "model.mm_projector.0.weight"))
        #expect(has("unexpected-tensor", "model.mm_projector.3.weight"))
        let shape = try #require(diagnostics.first { $0["code"]?.stringValue == "shape-mismatch" })
        #expect(shape["expected"] == .array([.int(128), .int(128)]))
        #expect(shape["found"] == .array([.int(96), .int(96)]))
        // Human report on stdout, exit status 1.
        let human = try run(["validate", "examples/broken-llava-tiny"])
        #expect(human.status == 1)
        #expect(human.stdout.contains("error[shape-mismatch] model.mm_projector.2.weight"))
        // --no-values skips the NaN.
        let shapesOnly = try report(["validate", "examples/broken-llava-tiny", "--no-values"], status: 1)
        #expect(!(shapesOnly["diagnostics"]?.arrayValue ?? []).contains { $0["code"]?.stringValue == "non-finite" })
    }

    @Test func dimensionsFromFlagsPresetsAndLLMCheckpoint() throws {
        // The tiny LLaVA projects to 128; a 4096-wide LLM preset does not fit it.
        let preset = try report(["validate", "examples/llava-1.5-tiny", "--config", "examples/qwen2-vl-merger-tiny/config.json",
                                 "--family", "mlp", "--llm-dim", "4096"], status: 1)
        // The config and the LLM stored alongside say 128 as the tensors do: one dimension-conflict listing the
        // projector's tensors (issue 10, item 14; a conflict and shape mismatches before).
        let wrongWidth = try #require((preset["diagnostics"]?.arrayValue ?? []).first { $0["code"]?.stringValue == "dimension-conflict" })
        #expect(wrongWidth["tensors"]?.arrayValue?.count == 4)
        // An LLM checkpoint whose embedding is 128 wide fits; one 96 wide does not.
        let directory = temporaryDirectory()
        let fits = try writeSafetensors(directory + "/llm-128.safetensors", [("model.embed_tokens.weight", [10, 128])])
        let ok = try report(["validate", "examples/llava-1.5-tiny", "--llm-checkpoint", fits], status: 0)
        #expect(ok["dim_sources"]?["llm"]?["source"]?.stringValue == "config")
        let narrow = try writeSafetensors(directory + "/llm-96.safetensors", [("model.embed_tokens.weight", [10, 96])])
        let conflict = try report(["validate", "examples/llava-1.5-tiny", "--llm-checkpoint", narrow], status: 1)
        #expect((conflict["diagnostics"]?.arrayValue ?? []).contains { $0["code"]?.stringValue == "dimension-conflict" })
        // Without a config, the LLM checkpoint alone fixes the width, and the projector does not fit it.
        try FileManager.default.copyItem(atPath: repositoryRoot + "/examples/llava-1.5-tiny/model.safetensors", toPath: directory + "/projector.safetensors")
        let alone = try report(["validate", directory + "/projector.safetensors", "--llm-checkpoint", narrow], status: 1)
        let mismatch = try #require((alone["diagnostics"]?.arrayValue ?? []).first { $0["code"]?.stringValue == "dimension-conflict" })
        #expect(mismatch["message"]?.stringValue?.contains("LLM checkpoint") == true)
        #expect(mismatch["tensors"]?.arrayValue?.contains(.string("model.mm_projector.2.weight")) == true)
    }

    @Test func unusableInputAndUsage() throws {
        let missing = try report(["validate", "examples/does-not-exist.safetensors"], status: 2)
        #expect(missing["error"]?.stringValue?.contains("does-not-exist") == true)
        let both = try run(["validate", "examples/llava-1.5-tiny", "--family", "mlp", "--graph", "examples/graphs/mlp.mlpNx_gelu.json"])
        #expect(both.status == 2)
        let badDim = try report(["validate", "examples/llava-1.5-tiny", "--dim", "qeuries=3"], status: 2)
        #expect(badDim["error"]?.stringValue?.contains("unknown dimension key 'qeuries': did you mean queries?") == true)
        let badPreset = try run(["validate", "examples/llava-1.5-tiny", "--llm", "llama-9"])
        #expect(badPreset.status == 2 && badPreset.stderr.contains("unknown LLM preset"))
    }

    @Test func customGraph() throws {
        let json = try report(["validate", "examples/llava-1.5-tiny", "--graph", "examples/graphs/mlp.mlpNx_gelu.json"], status: 0)
        #expect(json["family"]?.stringValue == "custom")
        #expect(json["graph"]?.stringValue == "llava-mlp")
        let directory = temporaryDirectory()
        try "{\"format\": \"connkit-connector-graph\"}".write(toFile: directory + "/bad.json", atomically: true, encoding: .utf8)
        let bad = try report(["validate", "examples/llava-1.5-tiny", "--graph", directory + "/bad.json"], status: 2)
        #expect(bad["error"]?.stringValue?.contains("invalid connector graph") == true)
    }

    @Test func listPresets() throws {
        let text = try run(["validate", "--list-presets"])
        #expect(text.status == 0)
        for name in ["clip-vit-l-14-336", "eva-clip-g", "siglip-so400m-patch14-384", "vicuna-7b", "qwen2-7b", "flan-t5-xl"] {
            #expect(text.stdout.contains(name))
        }
        let json = try JSONValue.parse(try run(["validate", "--list-presets", "--json"]).stdout)
        #expect(json["encoders"]?.arrayValue?.count == Presets.encoders.count)
    }

    @Test func describeAndCompare() throws {
        let described = try run(["describe", "mlp", "encoder=1024", "llm=4096", "tokens=576"])
        #expect(described.status == 0)
        #expect(described.stdout.contains("parameters: 20,979,712"))
        #expect(described.stdout.contains("tokens per image: 576 in, 576 out"))
        let compare = try run(["describe", "--compare", "--encoder", "clip-vit-l-14-336", "--llm", "vicuna-7b", "--json"])
        #expect(compare.status == 0)
        let rows = try #require(try JSONValue.parse(compare.stdout)["compare"]?.arrayValue)
        #expect(rows.count == Catalog.variants.count)
        let qformer = try #require(rows.first { $0["variant"]?.stringValue == "blip2" })
        #expect(qformer["tokens"]?["output"]?.intValue == 32)
        let fromCheckpoint = try run(["describe", "examples/qwen2-vl-merger-tiny", "--json"])
        #expect(fromCheckpoint.status == 0)
        #expect(try JSONValue.parse(fromCheckpoint.stdout)["parameters"]?["connector"]?.intValue == 28_960)
        let unknown = try run(["describe", "mlp", "--variant", "mlp9"])
        #expect(unknown.status == 2)
    }

    /// Every shape of `describe --json` output (a family, a graph file, a checkpoint, `--compare`, an
    /// error) against schemas/describe.schema.json.
    @Test func describeJSONFollowsTheSchema() throws {
        let schema = try loadSchema("describe.schema.json")
        let cases: [(arguments: [String], status: Int32)] = [
            (["describe", "mlp", "encoder=1024"], 0),
            (["describe", "perceiver-resampler", "--variant", "idefics", "--encoder", "clip-vit-l-14", "--llm", "vicuna-7b"], 0),
            (["describe", "examples/graphs/qformer.blip2.json"], 0),
            (["describe", "examples/minicpmv-tiny-mmproj.gguf"], 0),
            (["describe", "--compare", "--encoder", "clip-vit-l-14-336", "--llm", "vicuna-7b"], 0),
            (["describe", "--compare"], 2),
            (["describe", "mlp", "--variant", "mlp9"], 2),
        ]
        for (arguments, status) in cases {
            let result = try run(arguments + ["--json"])
            #expect(result.status == status, "\(arguments): \(result.stderr)")
            let violations = schema.validate(try JSONValue.parse(result.stdout))
            #expect(violations.isEmpty, "\(arguments): \(violations)")
        }
    }

    /// A 7B LLaVA-NeXT layout at real dimensions in two safetensors shards with an index: the headers
    /// are real, the data regions are holes. `--no-values` reads the headers only.
    @Test func shardedRealDimensionCheckpoint() throws {
        let fixture = try MetaFixture("llava-v1.6-mistral-7b__hf.json")
        let directory = temporaryDirectory()
        let half = fixture.tensors.count / 2
        let first = Array(fixture.tensors[..<half]), second = Array(fixture.tensors[half...])
        _ = try writeSafetensors(directory + "/model-00001-of-00002.safetensors", first, sparse: true)
        _ = try writeSafetensors(directory + "/model-00002-of-00002.safetensors", second, sparse: true)
        var map: [JSONValue.Member] = []
        for (name, _) in first { map.append(.init(name, .string("model-00001-of-00002.safetensors"))) }
        for (name, _) in second { map.append(.init(name, .string("model-00002-of-00002.safetensors"))) }
        let index = JSONValue.object([.init("metadata", .object([])), .init("weight_map", .object(map))])
        try index.serialized().write(toFile: directory + "/model.safetensors.index.json", atomically: true, encoding: .utf8)
        try String(contentsOfFile: graphFixtures + "/configs/llava-v1.6-mistral-7b/config.json", encoding: .utf8)
            .write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        let json = try report(["validate", directory, "--no-values"], status: 0)
        #expect(json["variant"]?.stringValue == "mlp2x_gelu")
        #expect(json["dims"]?["encoder"]?.intValue == 1024 && json["dims"]?["llm"]?.intValue == 4096)
        #expect(json["tokens"]?["input"]?.intValue == 576)
    }

    @Test func connectorTensorNamesForConvert() throws {
        let fixture = try MetaFixture("llava-v1.6-mistral-7b__hf.json")
        let checkpoint = try fixture.checkpoint(directory: temporaryDirectory())
        let names = try connectorTensorNames(in: checkpoint)
        #expect(Set(names) == ["model.image_newline", "model.multi_modal_projector.linear_1.weight", "model.multi_modal_projector.linear_1.bias",
                               "model.multi_modal_projector.linear_2.weight", "model.multi_modal_projector.linear_2.bias"])
        let empty = Checkpoint(path: "x", format: .safetensors, metadata: [], tensors: [])
        #expect(throws: ConnectorDetectionError.self) { try connectorTensorNames(in: empty) }
    }
}

/// Writes a safetensors file: the header as the format defines it, the data zero-filled (or left as a
/// hole of the right length when `sparse`).
@discardableResult
func writeSafetensors(_ path: String, _ layout: [(String, [Int])], sparse: Bool = false) throws -> String {
    var members: [JSONValue.Member] = []
    var offset = 0
    for (name, shape) in layout {
        let info = try TensorInfo(name: name, dtype: .f16, shape: shape)
        members.append(.init(name, .object([.init("dtype", .string("F16")), .init("shape", .array(shape.map { .int($0) })),
                                            .init("data_offsets", .array([.int(offset), .int(offset + info.byteCount)]))])))
        offset += info.byteCount
    }
    var header = Array(JSONValue.object(members).serialized().utf8)
    while (header.count + 8) % 8 != 0 { header.append(UInt8(ascii: " ")) }
    var bytes = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) } + header
    if !sparse { bytes += [UInt8](repeating: 0, count: offset) }
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
    if sparse {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(bytes.count + offset))
        try handle.close()
    }
    return path
}
