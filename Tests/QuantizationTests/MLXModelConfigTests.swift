import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats
@testable import Quantization

/// `MLXModelConfig` (`quantize --mlx-config`): how the connector's MLX types are merged into a model's
/// config.json, what is refused, and that nothing is left behind. The loaders' side is
/// Tests/Fixtures/quant/check_mlx_vlm_load.py (mlx-vlm and mlx-lm, run by hand).
struct MLXModelConfigTests {
    /// A mixed MLX report: two projector modules at 8 and 4 bits (4 holds most bytes), a bias, and a
    /// weight the group size does not divide (left unquantized).
    static func report(names: [String] = ["mm.linear_1.weight", "mm.linear_2.weight"]) -> QuantizationReport {
        var report = QuantizationReport(input: "in.safetensors", output: "out.safetensors", format: .safetensors, type: nil, groupSize: 32)
        func entry(_ name: String, _ type: String, _ reason: QuantizationPolicy.Reason, bytes: Int) -> QuantizationReport.Entry {
            .init(name: name, sourceDType: .f32, type: type, reason: reason, bytesBefore: 4 * bytes, bytesAfter: bytes, elements: bytes,
                  metrics: nil)
        }
        report.entries = [entry(names[0], "mlx-q8", .selected, bytes: 100), entry("mm.linear_1.bias", "f32", .notMatrix, bytes: 10),
                          entry(names[1], "mlx-q4", .selected, bytes: 200),
                          entry("mm.linear_3.weight", "f32", .groupDoesNotDivide(rowLength: 48, groupSize: 32), bytes: 50)]
        return report
    }

    static func parameters(_ groupSize: Int, _ bits: Int) -> JSONValue {
        .object([.init("group_size", .int(groupSize)), .init("bits", .int(bits)), .init("mode", .string("affine"))])
    }

    func config(base text: String?, in folder: TemporaryFolder) throws -> MLXModelConfig {
        var baseFile: String?
        if let text {
            baseFile = folder.file("base.json")
            try text.write(toFile: baseFile!, atomically: true, encoding: .utf8)
        }
        return try MLXModelConfig(path: folder.file("out.json"), baseFile: baseFile)
    }

    /// A base without quantization: its keys kept in order, then both objects — the connector file's top
    /// level (group 32, the bits holding the most bytes) and an explicit entry per quantized module only.
    @Test func aBaseWithoutQuantizationGetsTheConnectorsTopLevel() throws {
        let folder = try TemporaryFolder()
        let merged = try config(base: #"{"model_type": "llava", "text_config": {"hidden_size": 48}}"#, in: folder).merged(with: Self.report())
        let expected = JSONValue.object([.init("group_size", .int(32)), .init("bits", .int(4)), .init("mode", .string("affine")),
                                         .init("mm.linear_1", Self.parameters(32, 8)), .init("mm.linear_2", Self.parameters(32, 4))])
        #expect(merged.objectMembers?.map(\.key) == ["model_type", "text_config", "quantization", "quantization_config"])
        #expect(merged["quantization"] == expected && merged["quantization_config"] == expected)
        #expect(merged["text_config"] == .object([.init("hidden_size", .number("48"))]))
    }

    /// No base: `{}` with the two objects.
    @Test func noBaseIsAnEmptyConfig() throws {
        let folder = try TemporaryFolder()
        let merged = try config(base: nil, in: folder).merged(with: Self.report())
        #expect(merged.objectMembers?.map(\.key) == ["quantization", "quantization_config"])
        #expect(merged["quantization"]?["bits"]?.intValue == 4 && merged["quantization"]?["mm.linear_1"] == Self.parameters(32, 8))
    }

    /// A base quantized by MLX (the LLM's object): its top level and its own module entries kept, its
    /// entries for connector modules replaced (a quantized one) or dropped (one connkit left unquantized,
    /// which the loaders must not quantize), the connector's entries added; `quantization_config` follows.
    @Test func aQuantizedBaseKeepsItsTopLevel() throws {
        let folder = try TemporaryFolder()
        let base = #"""
            {"quantization": {"group_size": 64, "bits": 4, "mode": "mxfp4", "lm.layers.0.q_proj": {"group_size": 64, "bits": 8},
                              "mm.linear_1": false, "mm.linear_3": {"group_size": 64, "bits": 4}},
             "quantization_config": {"group_size": 64, "bits": 4}, "model_type": "llava"}
            """#
        let merged = try config(base: base, in: folder).merged(with: Self.report())
        let object = try #require(merged["quantization"]?.objectMembers)
        #expect(object.map(\.key) == ["group_size", "bits", "mode", "lm.layers.0.q_proj", "mm.linear_1", "mm.linear_2"])
        #expect(merged["quantization"]?["group_size"]?.intValue == 64 && merged["quantization"]?["mode"] == .string("mxfp4"))
        #expect(merged["quantization"]?["lm.layers.0.q_proj"]?["bits"]?.intValue == 8)
        #expect(merged["quantization"]?["mm.linear_1"] == Self.parameters(32, 8) && merged["quantization"]?["mm.linear_2"] == Self.parameters(32, 4))
        #expect(merged["quantization_config"] == merged["quantization"])
        #expect(merged.objectMembers?.map(\.key) == ["quantization", "quantization_config", "model_type"])
    }

    /// A module path in transformers' `model.` layout is written under the path without `model.` too (the
    /// module's path in mlx-vlm's Idefics2, whose `sanitize` strips it), with the same object; any other path
    /// under its own name only. A base entry under either name for a connector module is replaced.
    @Test func aModelPrefixedModuleIsAlsoWrittenWithoutIt() throws {
        let folder = try TemporaryFolder()
        let base = #"{"quantization": {"group_size": 64, "bits": 4, "connector.a": {"group_size": 64, "bits": 2}, "lm.x": false}}"#
        let merged = try config(base: base, in: folder).merged(with: Self.report(names: ["model.connector.a.weight", "mm.linear_2.weight"]))
        let object = try #require(merged["quantization"]?.objectMembers)
        #expect(object.map(\.key) == ["group_size", "bits", "lm.x", "model.connector.a", "connector.a", "mm.linear_2"])
        #expect(merged["quantization"]?["model.connector.a"] == Self.parameters(32, 8) && merged["quantization"]?["connector.a"] == Self.parameters(32, 8))
        #expect(merged["quantization_config"] == merged["quantization"])
    }

    /// The path without `model.` is not written when it is another tensor's module (that tensor's entry is
    /// its own), nor when nothing follows `model.`; the prefix is compared by bytes.
    @Test func theSecondPathNeverNamesAnotherTensor() throws {
        let folder = try TemporaryFolder()
        let merged = try config(base: nil, in: folder).merged(with: Self.report(names: ["model.x.weight", "x.weight"]))
        #expect(merged["quantization"]?.objectMembers?.map(\.key) == ["group_size", "bits", "mode", "model.x", "x"])
        #expect(merged["quantization"]?["model.x"] == Self.parameters(32, 8) && merged["quantization"]?["x"] == Self.parameters(32, 4))
        #expect(MLXModelConfig.loaderPaths(of: "model.", fileModules: []) == ["model."])
        #expect(MLXModelConfig.loaderPaths(of: "model.connector.é", fileModules: ["model.connector.é"]) == ["model.connector.é", "connector.é"])
        #expect(MLXModelConfig.loaderPaths(of: "Model.connector.a", fileModules: []) == ["Model.connector.a"])
        #expect(MLXModelConfig.loaderPaths(of: "language_model.model.a", fileModules: []) == ["language_model.model.a"])
        #expect(MLXModelConfig.loaderPaths(of: "model.a", fileModules: ["model.a", "a"]) == ["model.a"])
    }

    /// mlx-vlm's other prefix renames (`loaderRenames`): Qwen2-VL/Qwen2.5-VL's `visual.` → `vision_tower.`, and
    /// Qwen3-VL's `model.visual.` → `vision_tower.` (beside Idefics2's `model.` → ``), each applied to the file's
    /// path, in the table's order, never twice nor onto another tensor's module; the prefixes compare by bytes.
    @Test func qwenVisualPathsAreAlsoWrittenUnderVisionTower() throws {
        let folder = try TemporaryFolder()
        let merged = try config(base: nil, in: folder).merged(with: Self.report(names: ["visual.merger.mlp.0.weight",
                                                                                        "model.visual.merger.mlp.2.weight"]))
        #expect(merged["quantization"]?.objectMembers?.map(\.key) == ["group_size", "bits", "mode", "visual.merger.mlp.0",
            "vision_tower.merger.mlp.0", "model.visual.merger.mlp.2", "visual.merger.mlp.2", "vision_tower.merger.mlp.2"])
        #expect(merged["quantization"]?["vision_tower.merger.mlp.0"] == Self.parameters(32, 8))
        #expect(merged["quantization"]?["vision_tower.merger.mlp.2"] == Self.parameters(32, 4))
        #expect(MLXModelConfig.loaderPaths(of: "visual.", fileModules: []) == ["visual."])
        #expect(MLXModelConfig.loaderPaths(of: "Visual.merger.mlp.0", fileModules: []) == ["Visual.merger.mlp.0"])
        #expect(MLXModelConfig.loaderPaths(of: "vision_tower.merger.mlp.0", fileModules: []) == ["vision_tower.merger.mlp.0"])
        #expect(MLXModelConfig.loaderPaths(of: "visual.m", fileModules: ["visual.m", "vision_tower.m"]) == ["visual.m"])
        #expect(MLXModelConfig.loaderPaths(of: "model.visual.m", fileModules: ["model.visual.m", "vision_tower.m"])
            == ["model.visual.m", "visual.m"])
        #expect(MLXModelConfig.loaderPaths(of: "model.visual.", fileModules: []) == ["model.visual.", "visual."])
    }

    /// Module names come from the file: written escaped, read back the same.
    @Test func fileDerivedNamesAreEscaped() throws {
        let folder = try TemporaryFolder()
        let odd = "mm.\"quoted\"\\back\nline\u{01}é.weight"
        let config = try config(base: nil, in: folder)
        try config.write(Self.report(names: [odd, "mm.linear_2.weight"]), overwrite: false, inputs: [])
        let text = try String(contentsOfFile: config.path, encoding: .utf8)
        let back = try JSONValue.parse(text)
        #expect(back["quantization"]?["mm.\"quoted\"\\back\nline\u{01}é"] == Self.parameters(32, 8))
        #expect(text.hasSuffix("}\n") && !text.contains("\u{01}"))
    }

    /// A base that is not a config mlx-lm could read, or records another quantization: refused, naming the
    /// file, before anything is written.
    @Test(arguments: [
        ("{\"model_type\": ", "invalid"), ("[1, 2]", "invalid"), (#"{"a": 1, "a": 2}"#, "invalid"),
        (#"{"quantization": true}"#, "invalid"), (#"{"quantization": {"group_size": 64, "bits": 0}}"#, "invalid"),
        (#"{"quantization": {"group_size": "64", "bits": 4}}"#, "invalid"),
        (#"{"quantization_config": {"quant_method": "awq", "bits": 4}}"#, "refused"),
    ])
    func aMalformedBaseIsRefused(text: String, kind: String) throws {
        let folder = try TemporaryFolder()
        let error = try #require(throws: FormatError.self) { try config(base: text, in: folder) }
        #expect(error.file == folder.file("base.json") && error.failure == .unusableInput)
        switch error.kind {
        case .invalidJSON: #expect(kind == "invalid")
        case .refused: #expect(kind == "refused")
        default: Issue.record("unexpected \(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.file("out.json")))
    }

    /// The config is never OUT, an input or the base (by name, or by inode when it exists), and an existing
    /// one needs `overwrite`; refusing leaves no file behind.
    @Test func destinationsThatAreInputsAreRefused() throws {
        let folder = try TemporaryFolder()
        let input = folder.file("in.safetensors")
        try Data([1]).write(to: URL(fileURLWithPath: input))
        let config = try config(base: "{}", in: folder)
        let out = folder.file("out.safetensors")
        func refusal(_ path: String, overwrite: Bool = true) -> (any Error)? {
            var other = config
            other.path = path
            do { try other.checkDestination(output: out, inputs: [input], overwrite: overwrite) } catch { return error }
            return nil
        }
        #expect((refusal(out) as? QuantizationError)?.kind == .invalidRequest("--mlx-config \(out) is OUT; connkit never writes over an input or its own output"))
        #expect((refusal(input) as? QuantizationError)?.failure == .usage)
        #expect((refusal(folder.file("base.json")) as? QuantizationError)?.failure == .usage)
        #expect((refusal(folder.path + "/./in.safetensors") as? FormatError)?.code == .outputExists)
        #expect((refusal(folder.path + "/./base.json") as? FormatError)?.code == .outputExists)
        try Data([2]).write(to: URL(fileURLWithPath: folder.file("exists.json")))
        #expect((refusal(folder.file("exists.json"), overwrite: false) as? FormatError)?.code == .outputExists)
        #expect(refusal(folder.file("exists.json"), overwrite: true) == nil)
        #expect(refusal(folder.file("new.json")) == nil)
        let left = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(left == ["base.json", "exists.json", "in.safetensors"])
    }
}
