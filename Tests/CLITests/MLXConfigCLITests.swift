import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats

/// `connkit quantize … --mlx-config OUT.json` end to end: the base it starts from, the object it writes, and
/// the usage errors (exit 2, one line, nothing written — neither OUT nor the config).
struct MLXConfigCLITests {
    /// transformers' LLaVA projector 32 -> 48 with its config.json beside it.
    static let llava = CLI.fixture("runtime/mlp2x_gelu/hf/model.safetensors")
    static let llavaConfig = CLI.fixture("runtime/mlp2x_gelu/hf/config.json")

    static func object(_ path: String) throws -> JSONValue {
        try JSONValue.parse(String(contentsOfFile: path, encoding: .utf8))
    }

    /// The config.json beside IN is the base: kept, with an entry for the quantized `linear_1` (32 columns),
    /// under transformers' `model.` path and the path without it, and none for `linear_2`, whose 48 columns
    /// group size 32 does not divide (it stays f32).
    @Test func theConfigBesideTheInputIsTheBase() throws {
        let scratch = try Scratch()
        let config = scratch.file("config.json")
        let result = try CLI.run(["quantize", Self.llava, scratch.file("out.safetensors"), "--type", "mlx-q6", "--group-size", "32",
                                  "--mlx-config", config, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try CLI.schema("quantize-report.schema.json").validate(try CLI.json(result)) == [])
        let written = try Self.object(config)
        let base = try Self.object(Self.llavaConfig)
        #expect(written["model_type"] == .string("llava") && written["text_config"] == base["text_config"])
        let quantization = try #require(written["quantization"])
        #expect(quantization == written["quantization_config"])
        #expect(quantization.objectMembers?.map(\.key) == ["group_size", "bits", "mode", "model.multi_modal_projector.linear_1",
                                                            "multi_modal_projector.linear_1"])
        #expect(quantization["bits"]?.intValue == 6 && quantization["group_size"]?.intValue == 32)
        #expect(quantization["model.multi_modal_projector.linear_1"]?["bits"]?.intValue == 6)
        #expect(quantization["multi_modal_projector.linear_1"] == quantization["model.multi_modal_projector.linear_1"])
    }

    /// `quantize FIXTURE --type TYPE --group-size 32 --mlx-config …`, which must succeed: its result and the
    /// config's `quantization` object.
    static func quantize(_ fixture: String, type: String) throws -> (result: CommandResult, quantization: JSONValue) {
        let scratch = try Scratch()
        let config = scratch.file("config.json")
        let result = try CLI.run(["quantize", CLI.fixture(fixture), scratch.file("out.safetensors"), "--type", type,
                                  "--group-size", "32", "--mlx-config", config, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        return (result, try #require(try Self.object(config)["quantization"]))
    }

    /// Idefics2 under transformers' names (`model.connector.…`): every quantized module has its entry under
    /// that path and under mlx-vlm's (`connector.…`, what its `sanitize` leaves); a module left f32 (48
    /// columns) has neither.
    @Test func idefics2ModulesAreWrittenUnderMLXVLMsPathsToo() throws {
        let (result, quantization) = try Self.quantize("runtime/idefics2/hf", type: "mlx-q4")
        var quantized = 0, unquantized = 0
        for entry in try CLI.json(result)["tensors"]?.arrayValue ?? [] {
            guard let name = entry["name"]?.stringValue, name.hasSuffix(".weight"), name.hasPrefix("model.connector.") else { continue }
            let module = String(name.dropLast(".weight".count)), mlxVLM = String(module.dropFirst("model.".count))
            if entry["type"]?.stringValue == "mlx-q4" {
                #expect(quantization[module] == quantization[mlxVLM] && quantization[module]?["bits"]?.intValue == 4, "\(module)")
                quantized += 1
            } else {
                #expect(quantization[module] == nil && quantization[mlxVLM] == nil, "\(module)")
                unquantized += 1
            }
        }
        #expect(quantized == 5 && unquantized > 10 && quantization.objectMembers?.count == 3 + 2 * quantized)
    }

    /// The Qwen2-VL merger under transformers' names before 4.52 (`visual.merger.…`) and since (`model.visual.merger.…`):
    /// each quantized module also has its entry under mlx-vlm's `vision_tower.merger.…` (Qwen2-VL's `sanitize` renames
    /// `visual`, Qwen3-VL's `model.visual`), the same object; the norm (not a matrix) has none.
    @Test(arguments: [("hf-legacy", "visual."), ("hf", "model.visual.")])
    func qwen2VLMergerModulesAreWrittenUnderVisionTowerToo(scheme: String, prefix: String) throws {
        let quantization = try Self.quantize("runtime/qwen2-vl/\(scheme)", type: "mlx-q8").quantization
        for layer in ["mlp.0", "mlp.2"] {
            #expect(quantization[prefix + "merger." + layer]?["bits"]?.intValue == 8, "\(layer)")
            #expect(quantization["vision_tower.merger." + layer] == quantization[prefix + "merger." + layer], "\(layer)")
        }
        #expect(quantization[prefix + "merger.ln_q"] == nil && quantization["vision_tower.merger.ln_q"] == nil)
    }

    /// `--config` names the base (allowed without --eval when --mlx-config is given); without a base the
    /// config is `{}` with the objects; `--config` alone still goes with --eval.
    @Test func configNamesTheBase() throws {
        let scratch = try Scratch()
        let base = scratch.file("base.json")
        try #"{"model_type": "llava", "quantization": {"group_size": 64, "bits": 4, "mode": "affine"}}"#.write(toFile: base, atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: Self.llava, toPath: scratch.file("alone.safetensors"))
        let line = ["quantize", scratch.file("alone.safetensors"), scratch.file("out.safetensors"), "--type", "mlx-q8", "--group-size", "32"]
        let named = try CLI.run(line + ["--config", base, "--mlx-config", scratch.file("named.json")])
        #expect(named.status == 0, "\(named.stderr)")
        let quantization = try #require(try Self.object(scratch.file("named.json"))["quantization"])
        #expect(quantization["bits"]?.intValue == 4 && quantization["group_size"]?.intValue == 64)
        #expect(quantization["model.multi_modal_projector.linear_1"]?["bits"]?.intValue == 8)

        let none = try CLI.run(line + ["--mlx-config", scratch.file("none.json"), "--force"])
        #expect(none.status == 0, "\(none.stderr)")
        #expect(try Self.object(scratch.file("none.json")).objectMembers?.map(\.key) == ["quantization", "quantization_config"])

        let alone = try CLI.run(line + ["--config", base, "--force"])
        #expect(alone.status == 2 && alone.stderr.contains("--config goes with"), "\(alone.stderr)")
    }

    /// With `--target-cosine` over an MLX ladder, every module's chosen bits are in the config, under its own
    /// name only (BLIP-2's names have no `model.`).
    @Test func aTargetRecordsEveryModule() throws {
        let scratch = try Scratch()
        let config = scratch.file("config.json")
        let result = try CLI.run(["quantize", CLI.fixture("runtime/blip2/hf"), scratch.file("out.safetensors"), "--target-cosine", "0.999",
                                  "--types", "mlx-q4,mlx-q6,mlx-q8", "--group-size", "32", "--random", "64", "--mlx-config", config, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try CLI.json(result)
        let quantization = try #require(try Self.object(config)["quantization"])
        var modules = 0
        for entry in json["tensors"]?.arrayValue ?? [] {
            guard let type = entry["type"]?.stringValue, type.hasPrefix("mlx-q"), let name = entry["name"]?.stringValue else { continue }
            let module = String(name.dropLast(".weight".count))
            #expect(quantization[module]?["bits"]?.intValue == Int(type.dropFirst("mlx-q".count)), "\(module)")
            modules += 1
        }
        #expect(modules > 10 && quantization.objectMembers?.count == modules + 3)
    }

    /// Usage and input errors: exit 2, one line, the error object, neither OUT nor the config written.
    @Test(arguments: [
        (["OUT.gguf", "--type", "q8_0", "--mlx-config", "C.json"], "usage"),
        (["OUT.safetensors", "--type", "f16", "--mlx-config", "C.json"], "usage"),
        (["OUT.gguf", "--target-cosine", "0.99", "--mlx-config", "C.json"], "usage"),
        (["OUT.safetensors", "--type", "mlx-q4", "--group-size", "32", "--mlx-config", "OUT.safetensors"], "usage"),
        (["OUT.safetensors", "--type", "mlx-q4", "--group-size", "32", "--mlx-config", "IN"], "usage"),
        (["OUT.safetensors", "--type", "mlx-q4", "--group-size", "32", "--mlx-config", "BASE"], "usage"),
        (["OUT.safetensors", "--type", "mlx-q4", "--group-size", "32", "--mlx-config", "C.json", "--config", "BAD"], "malformed-input"),
        (["OUT.safetensors", "--type", "mlx-q4", "--only", "nothing*", "--mlx-config", "C.json"], "empty-selection"),
    ] as [([String], String)])
    func badUsageWritesNothing(options: [String], code: String) throws {
        let scratch = try Scratch()
        try FileManager.default.copyItem(atPath: Self.llava, toPath: scratch.file("in.safetensors"))
        try FileManager.default.copyItem(atPath: Self.llavaConfig, toPath: scratch.file("config.json"))
        try #"{"model_type": "llava",}"#.write(toFile: scratch.file("bad.json"), atomically: true, encoding: .utf8)
        let names = ["IN": "in.safetensors", "BASE": "config.json", "BAD": "bad.json"]
        let line = ["quantize", scratch.file("in.safetensors")]
            + options.map { names[$0].map(scratch.file) ?? ($0.hasPrefix("OUT.") || $0.hasSuffix(".json") ? scratch.file($0) : $0) }
        let result = try CLI.run(line)
        #expect(result.status == 2, "\(options): \(result.stderr)")
        #expect(result.stdout.isEmpty && result.stderr.split(separator: "\n").count == 1, "\(options): \(result.stderr)")
        if code == "malformed-input" { #expect(result.stderr.contains("bad.json"), "\(result.stderr)") }
        let json = try CLI.json(try CLI.run(line + ["--json"]))
        #expect(try CLI.schema("error.schema.json").validate(json) == [])
        #expect(json["code"]?.stringValue == code, "\(options): \(json)")
        let left = try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted()
        #expect(left == ["bad.json", "config.json", "in.safetensors"], "\(options)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.file("config.json"))) == Data(contentsOf: URL(fileURLWithPath: Self.llavaConfig)))
    }

    /// A target even the top of the ladder misses: exit 1, neither file written.
    @Test func aFailedRunWritesNoConfig() throws {
        let scratch = try Scratch()
        let result = try CLI.run(["quantize", Self.llava, scratch.file("out.safetensors"), "--target-cosine", "1", "--types", "mlx-q2",
                                  "--group-size", "32", "--mlx-config", scratch.file("config.json")])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
    }
}
