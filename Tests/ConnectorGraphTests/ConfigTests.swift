import Testing
import TensorFormats
@testable import ConnectorGraph

/// config.json parsing on real files: those transformers' save_pretrained writes today (every
/// sub-config in full; Tests/Fixtures/graph/configs) and hub files written by transformers 4.x (sub-configs
/// as a diff against the class defaults; Tests/Fixtures/graph/configs-hub).
@Suite struct ConfigTests {
    func claims(_ facts: ConfigFacts, for variant: FamilyVariant? = nil) -> [String: [Int]] {
        var result: [String: [Int]] = [:]
        for claim in facts.claims(for: variant) { result[claim.key, default: []].append(claim.value) }
        return result
    }

    static let written: [(release: String, family: Family, variant: String?, dims: [String: Int])] = [
        ("llava-1.5-7b", .mlp, "mlp2x_gelu", ["encoder": 1024, "llm": 4096, "tokens": 576, "llm_layers": 32]),
        ("llava-1.5-13b", .mlp, "mlp2x_gelu", ["encoder": 1024, "llm": 5120]),
        ("llava-v1.6-mistral-7b", .mlp, "mlp2x_gelu", ["encoder": 1024, "llm": 4096, "llm_ffn": 14336]),
        ("blip2-opt-2.7b", .qformer, "blip2", ["encoder": 1408, "llm": 2560, "queries": 32, "hidden": 768, "layers": 12,
                                              "heads": 12, "ffn": 3072, "cross_every": 2]),
        ("blip2-flan-t5-xl", .qformer, "blip2", ["encoder": 1408, "llm": 2048]),
        ("instructblip-vicuna-7b", .qformer, "instructblip", ["encoder": 1408, "llm": 4096, "vocab": 30523]),
        ("idefics-9b", .perceiverResampler, "idefics", ["encoder": 1280, "llm": 4096, "queries": 64, "layers": 6, "heads": 16,
                                                         "head_dim": 96, "cross_every": 4, "llm_layers": 32, "llm_ffn": 11008]),
        ("idefics2-8b", .perceiverResampler, "idefics2", ["encoder": 1152, "llm": 4096, "llm_ffn": 14336, "queries": 64, "layers": 3,
                                                           "heads": 16, "kv_heads": 4, "head_dim": 96]),
        ("idefics3-8b", .pixelShuffleMLP, "idefics3", ["encoder": 1152, "llm": 4096, "merge": 2]),
        ("smolvlm-instruct", .pixelShuffleMLP, "idefics3", ["encoder": 1152, "llm": 2048, "merge": 3]),
        ("qwen2-vl-7b", .patchMerger, "qwen2-vl", ["encoder": 1280, "llm": 3584, "merge": 2]),
        ("qwen2.5-vl-7b", .patchMerger, "qwen2.5-vl", ["encoder": 1280, "llm": 3584, "merge": 2]),
        ("internvl2-1b", .pixelShuffleMLP, "internvl", ["encoder": 1024, "llm": 896, "merge": 2]),
    ]

    @Test(arguments: written.map(\.release))
    func savePretrainedConfigs(_ release: String) throws {
        let expected = try #require(Self.written.first { $0.release == release })
        let facts = try ConfigReader.read(path: graphFixtures + "/configs/\(release)/config.json")
        #expect(facts.hint?.family == expected.family)
        if let variant = expected.variant { #expect(facts.hint?.variant == variant) }
        let found = claims(facts)
        for (key, value) in expected.dims {
            // Every claim for the key agrees (Qwen2-VL states the LLM width twice).
            #expect(found[key]?.isEmpty == false, "\(release): no claim for \(key)")
            #expect(found[key]?.allSatisfy { $0 == value } == true, "\(release): \(key) = \(found[key] ?? []), expected \(value)")
        }
    }

    @Test func llavaHubConfigOmitsTheLLMWidth() throws {
        let facts = try ConfigReader.read(path: graphFixtures + "/configs-hub/llava-1.5-7b-hf.json")
        let llm = try #require(facts.claims.first { $0.key == "llm" })
        #expect(llm.value == 4096)
        guard case .config(_, let key, let detail) = llm.source else { Issue.record("source \(llm.source)"); return }
        #expect(key == "text_config.hidden_size")
        #expect(detail?.contains("default") == true)
        #expect(claims(facts)["encoder"] == [1024])
        #expect(facts.statedTokens == nil && facts.patchTokens?.count == 576)
    }

    @Test func originalLLaVAHubConfig() throws {
        let facts = try ConfigReader.read(path: graphFixtures + "/configs-hub/llava-v1.5-7b-original.json")
        #expect(facts.hint?.family == .mlp && facts.hint?.variant == "mlp2x_gelu")
        let found = claims(facts)
        #expect(found["encoder"] == [1024] && found["llm"] == [4096] && found["depth"] == [2])
        // `mm_vision_tower` names the CLIP ViT-L/14-336 preset; "patch" drops the class token.
        #expect(found["tokens"] == [576])
    }

    @Test func qwen2VLHubConfigKeepsOnlyNonDefaults() throws {
        // vision_config holds neither embed_dim (1280) nor hidden_size (3584, the LLM width): both defaults.
        let facts = try ConfigReader.read(path: graphFixtures + "/configs-hub/qwen2-vl-7b-instruct.json")
        let found = claims(facts)
        #expect(found["encoder"] == [1280])
        #expect(found["llm"] == [3584, 3584])
        #expect(found["merge"] == [2])
    }

    @Test func qwen25VLHubConfigUsesOutHiddenSize() throws {
        let facts = try ConfigReader.read(path: graphFixtures + "/configs-hub/qwen2.5-vl-7b-instruct.json")
        let found = claims(facts)
        #expect(found["encoder"] == [1280])
        #expect(found["llm"] == [3584, 3584])
        #expect(facts.hint?.variant == "qwen2.5-vl")
    }

    @Test func flattenedIdeficsKeys() throws {
        let facts = try ConfigReader.read(path: graphFixtures + "/configs-hub/flat-idefics.json")
        let found = claims(facts)
        #expect(found["encoder"] == [1280])
        #expect(found["queries"] == [64])
        #expect(found["layers"] == [6])
        #expect(found["heads"] == [16])
        #expect(found["head_dim"] == [96])
        #expect(facts.patchTokens?.count == 256)
    }

    func parse(_ text: String) throws -> ConfigFacts {
        ConfigReader.interpret(try JSONValue.parse(text), file: "config.json")
    }

    @Test func originalLLaVAConfigs() throws {
        let mlp = try parse(#"{"model_type": "llava", "hidden_size": 5120, "mm_hidden_size": 1024, "mm_projector_type": "mlp2x_gelu", "mm_vision_tower": "openai/clip-vit-large-patch14-336"}"#)
        #expect(mlp.hint?.family == .mlp && mlp.hint?.variant == "mlp2x_gelu")
        #expect(claims(mlp)["depth"] == [2])
        #expect(claims(mlp)["tokens"] == [576])
        // No mm_projector_type: LLaVA builds a linear projector.
        let linear = try parse(#"{"model_type": "llava", "hidden_size": 4096, "mm_hidden_size": 1024}"#)
        #expect(linear.hint?.family == .linear)
        let yi = try parse(#"{"model_type": "llava", "hidden_size": 7168, "mm_hidden_size": 1280, "mm_projector_type": "mlp2x_gelu_Norm"}"#)
        #expect(yi.hint?.variant == "mlp_norm")
        let mobile = try parse(#"{"model_type": "mobilevlm", "hidden_size": 2048, "mm_hidden_size": 1024, "mm_projector_type": "ldpnetv2"}"#)
        #expect(mobile.hint?.family == .ldp && mobile.hint?.variant == "ldpv2")
    }

    @Test func remoteCodeConfigs() throws {
        let internvl = try parse(#"{"model_type": "internvl_chat", "downsample_ratio": 0.5, "vision_config": {"hidden_size": 1024}, "llm_config": {"hidden_size": 4096}}"#)
        #expect(claims(internvl)["llm"] == [4096])
        #expect(claims(internvl)["merge"] == [2])
        let minicpm = try parse(#"{"model_type": "minicpmv", "hidden_size": 3584, "query_num": 64, "version": 2.6, "vision_config": {"hidden_size": 1152}}"#)
        #expect(claims(minicpm)["queries"] == [64])
        #expect(minicpm.minicpmvVersion == "2.6")
        let qwenVL = try parse(#"{"model_type": "qwen", "hidden_size": 4096, "visual": {"width": 1664, "output_dim": 4096, "image_size": 448}}"#)
        #expect(qwenVL.hint?.variant == "qwen-vl")
        #expect(claims(qwenVL)["encoder"] == [1664])
        let t5 = try parse(#"{"model_type": "blip-2", "text_config": {"model_type": "t5", "d_model": 4096}}"#)
        #expect(claims(t5)["llm"] == [4096])
        // Left out entirely, the BLIP-2 vision sub-config is transformers' default EVA-g (1408).
        #expect(claims(t5)["encoder"]?.allSatisfy { $0 == 1408 } == true)
    }

    @Test func quantizationConfigIsReported() throws {
        let facts = try parse(#"{"model_type": "llava", "quantization_config": {"quant_method": "bitsandbytes"}, "text_config": {"model_type": "llama"}}"#)
        #expect(facts.notes.map(\.code) == [.quantizedCheckpoint])
    }

    /// mlx-lm's `quantization` object is named as MLX's, not as an unknown quant_method.
    @Test func mlxQuantizationIsReportedAsMLX() throws {
        let facts = try parse(#"{"model_type": "llava", "quantization": {"group_size": 32, "bits": 4, "mode": "affine", "x": {"bits": 8}},"#
                              + #" "quantization_config": {"group_size": 32, "bits": 4}, "text_config": {"model_type": "llama"}}"#)
        #expect(facts.notes.map(\.code) == [.quantizedCheckpoint])
        #expect(facts.notes.first?.message == "config.json declares MLX quantization (affine, 4 bits, group size 32)")
    }

    /// connkit's table of transformers defaults matches the classes themselves (dumped by the fixture script).
    @Test func classDefaultsMatchTransformers() throws {
        let file = try MappedFile(path: graphFixtures + "/class_defaults.json")
        let json = try file.withBytes { try JSONValue.parse($0) }
        for member in try #require(json.objectMembers) {
            let table = try #require(ConfigReader.classDefaults[member.key], "no defaults for \(member.key)")
            for entry in try #require(member.value.objectMembers) {
                #expect(table[entry.key] == entry.value.intValue, "\(member.key).\(entry.key)")
            }
        }
    }
}
