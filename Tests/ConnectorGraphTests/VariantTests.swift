import ConnkitTestSupport
import Testing
import TensorFormats
@testable import ConnectorGraph

/// Options are never ignored (issue 10, item 2): a variant name fixes the dimensions it implies, every
/// variant describes with its release's published values, and combinations that make an argument
/// meaningless are usage errors.
@Suite struct VariantTests {
    /// Every variant name with the values its release publishes, and where they are published.
    static let published: [(family: Family, name: String, dims: [String: Int], source: String)] = [
        (.linear, "linear", ["feature_layers": 1], "LLaVA builder.py: nn.Linear(mm_hidden_size, hidden_size)"),
    ] + (1 ... 8).map { depth in
        (.mlp, "mlp\(depth)x_gelu", ["depth": depth, "feature_layers": 1], "LLaVA builder.py: `^mlp(\\d+)x_gelu$` builds N Linear layers")
    } + [
        (.mlp, "mlp_norm", ["feature_layers": 1], "Yi-VL builder.py mlp2x_gelu_Norm (no depth: fixed structure)"),
        (.qformer, "blip2", ["hidden": 768, "layers": 12, "heads": 12, "ffn": 3072, "queries": 32, "cross_every": 2],
         "transformers Blip2QFormerConfig and Blip2Config(num_query_tokens=32) defaults"),
        (.qformer, "instructblip", ["hidden": 768, "layers": 12, "heads": 12, "ffn": 3072, "queries": 32, "cross_every": 2,
                                    "vocab": 30523, "positions": 512],
         "InstructBlipQFormerConfig defaults; Salesforce/instructblip-vicuna-7b config.json: qformer vocab_size 30523"),
        (.perceiverResampler, "openflamingo", ["queries": 64, "layers": 6, "heads": 8, "head_dim": 64],
         "open_flamingo helpers.py PerceiverResampler(depth=6, dim_head=64, heads=8, num_latents=64)"),
        (.perceiverResampler, "idefics", ["queries": 64, "layers": 6, "heads": 16, "head_dim": 96, "cross_every": 4],
         "IdeficsPerceiverConfig defaults; HuggingFaceM4/idefics-9b config.json: cross_layer_interval 4"),
        (.perceiverResampler, "idefics2", ["queries": 64, "layers": 3, "heads": 16, "head_dim": 96, "kv_heads": 4],
         "transformers Idefics2PerceiverConfig defaults"),
        // vLLM minicpmv.py: version 2.0 is `hidden_size == 2304 and query_num == 64`; llama.cpp clip.cpp:
        // `minicpmv_version == 2` (2.5) → 96 queries, 3 (2.6) → 64; minicpmv-convert-image-encoder-to-gguf.py:
        // emb_dim 2304 / 4096 / 3584 for versions 1 / 2 / 3; heads of 128 (`d_head = 128`).
        (.attentionResampler, "minicpmv-2.0", ["llm": 2304, "queries": 64, "head_dim": 128], "vLLM minicpmv.py, llama.cpp"),
        (.attentionResampler, "minicpmv-2.5", ["llm": 4096, "queries": 96, "head_dim": 128], "llama.cpp clip.cpp, converter"),
        (.attentionResampler, "minicpmv-2.6", ["llm": 3584, "queries": 64, "head_dim": 128], "llama.cpp clip.cpp, converter"),
        (.attentionResampler, "minicpmv", ["queries": 64, "head_dim": 128], "the family's default release width unknown"),
        (.attentionResampler, "qwen-vl", ["queries": 256, "head_dim": 128], "Qwen-VL visual.py: n_queries=256, heads = output_dim // 128"),
        (.patchMerger, "qwen2-vl", ["merge": 2], "Qwen2VLVisionConfig spatial_merge_size=2"),
        (.patchMerger, "qwen2.5-vl", ["merge": 2], "Qwen2_5_VLVisionConfig spatial_merge_size=2"),
        (.pixelShuffleMLP, "internvl", ["merge": 2], "InternVL downsample_ratio 0.5"),
        (.pixelShuffleMLP, "idefics3", ["merge": 2], "transformers Idefics3Config scale_factor=2"),
        (.ldp, "ldp", [:], "MobileVLM vision_projector.py (no free dimension)"),
        (.ldp, "ldpv2", [:], "MobileVLM vision_projector.py (no free dimension)"),
    ]

    @Test func theTableCoversEveryVariantName() {
        let names = Catalog.variants.flatMap { variant in variant.variantNames.map { "\(variant.family.rawValue)/\($0)" } }
        #expect(Set(names) == Set(Self.published.map { "\($0.family.rawValue)/\($0.name)" }))
        #expect(names.count == Self.published.count)
    }

    /// `describe FAMILY --variant NAME` (the library path the CLI takes) describes that variant with its
    /// published values, and reports the name it was asked for.
    @Test(arguments: published.map(\.name))
    func variantDescribesItsPublishedValues(_ name: String) throws {
        let row = try #require(Self.published.first { $0.name == name })
        let variant = try #require(Catalog.variant(row.family, name))
        let claims = variant.implied(by: name, source: .flag("--variant \(name)"))
        let description = Describer.describe(variant, claims: claims, scheme: variant.graph.schemes.first?.name)
        #expect(description.variant == name, "\(row.source)")
        for (key, value) in row.dims {
            #expect(description.dims.first { $0.key == key }?.value == value, "\(name) \(key): \(row.source)")
        }
    }

    @Test func aVariantFixesItsDimensionsInTheCLI() throws {
        // The example: mlp3x_gelu describes depth 3 (three Linear layers).
        let mlp = try CLI.json(try CLI.run(["describe", "mlp", "encoder=1024", "llm=4096", "--variant", "mlp3x_gelu", "--json"]))
        #expect(mlp["variant"]?.stringValue == "mlp3x_gelu" && mlp["dims"]?["depth"]?.intValue == 3)
        #expect(mlp["parameters"]?["connector"]?.intValue == 4_198_400 + 2 * 16_781_312)
        // A MiniCPM-V release fixes its LLM width and query count.
        let minicpm = try CLI.json(try CLI.run(["describe", "attention-resampler", "--variant", "minicpmv-2.5", "encoder=1152", "--json"]))
        #expect(minicpm["variant"]?.stringValue == "minicpmv-2.5")
        #expect(minicpm["dims"]?["queries"]?.intValue == 96 && minicpm["dims"]?["llm"]?.intValue == 4096)
        #expect(minicpm["tokens"]?["output"]?.intValue == 96)
        // A KEY=N or a preset that contradicts the variant is an error naming both.
        for arguments in [["describe", "mlp", "depth=2", "--variant", "mlp3x_gelu"],
                          ["describe", "attention-resampler", "--variant", "minicpmv-2.6", "--llm", "llama-3-8b"],
                          ["describe", "attention-resampler", "--variant", "qwen-vl", "queries=64"]] {
            let result = try CLI.run(arguments + ["--json"])
            #expect(result.status == 2, "\(arguments)")
            let error = try CLI.json(result)
            #expect(error["code"]?.stringValue == "usage")
            let message = error["error"]?.stringValue ?? ""
            #expect(message.contains("--variant") && message.contains(arguments[2] == "mlp" ? "depth=2" : arguments.last!), "\(message)")
        }
        // The same value is no conflict.
        #expect(try CLI.run(["describe", "mlp", "depth=3", "--variant", "mlp3x_gelu"]).status == 0)
    }

    /// Arguments a request makes meaningless are refused (exit status 2, one JSON error with --json).
    @Test(arguments: [
        ["validate", "--list-presets", "examples/llava-1.5-tiny"],
        ["validate", "--list-presets", "--family", "mlp"],
        ["validate", "--list-presets", "--llm-dim", "4096", "--no-values"],
        ["validate", "--list-presets", "--max-materialize", "1G"],
        ["describe", "mlp", "--max-materialize", "1G"],
        ["describe", "--compare", "--encoder", "clip-vit-l-14-336", "--llm", "vicuna-7b", "--variant", "blip2"],
        ["describe", "--compare", "--encoder", "clip-vit-l-14-336", "--llm", "vicuna-7b", "--graph-json"],
        ["describe", "mlp", "--graph-json", "depth=3"],
        ["describe", "qformer", "--graph-json", "--encoder", "eva-clip-g"],
        ["describe", "examples/llava-1.5-tiny", "--variant", "mlp3x_gelu"],
        ["describe", "examples/graphs/qformer.blip2.json", "--variant", "blip2"],
    ])
    func meaninglessCombinationsAreRefused(_ arguments: [String]) throws {
        let result = try CLI.run(arguments + ["--json"])
        #expect(result.status == 2, "\(arguments): \(result.stdout)")
        let error = try CLI.json(result)
        #expect(error["code"]?.stringValue == "usage")
        #expect(result.stderr.contains("connkit: "))
    }

    @Test func graphJSONOfACheckpointIsItsDetectedGraph() throws {
        let result = try CLI.run(["describe", graphFixtures + "/saved/llava-mlp3x.bin", "--graph-json"])
        #expect(result.status == 0)
        let graph = try ConnectorGraph.parse(json: result.stdout)
        #expect(graph.name == "llava-mlp")
    }
}
