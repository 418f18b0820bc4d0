/// `perceiver-resampler`: OpenFlamingo, IDEFICS (v1), Idefics2.
///
/// Sources: mlfoundations/open_flamingo `open_flamingo/src/helpers.py` (PerceiverResampler:
/// `latents`, `layers.{i}.0` = PerceiverAttention with `norm_media`, `norm_latents`, `to_q`, fused
/// `to_kv`, `to_out`, no biases, keys from concat(media, latents); `layers.{i}.1` = LayerNorm, Linear
/// ×4, GELU, Linear; final `norm`; GatedCrossAttentionBlock: `attn.norm`, `attn.to_q`, `attn.to_kv`,
/// `attn.to_out`, `attn_gate`, `ff.{0,1,3}`, `ff_gate`), `flamingo_lm.py` (a block only where
/// `(layer_idx + 1) % cross_attn_every_n_layers == 0`, stored as `lang_encoder.gated_cross_attn_layers.{j}`
/// and reachable again through each `FlamingoLayer`). IDEFICS and Idefics2: transformers
/// `models/idefics/perceiver.py`, `modeling_idefics.py`, `modeling_idefics2.py`, checked by the
/// meta-device dumps in Tests/Fixtures/graph.
enum PerceiverFamily {
    // MARK: OpenFlamingo

    static let flamingo = ConnectorGraph(
        name: "openflamingo-perceiver", family: Family.perceiverResampler.rawValue, variant: "openflamingo",
        description: "OpenFlamingo Perceiver Resampler (64 latents in the vision width) and the gated cross-attention blocks that feed it to the LLM.",
        dimensions: [
            dim("D_enc", "encoder", "vision encoder width (open_clip vision_cfg.width)"),
            dim("D_llm", "llm", "LLM hidden size (known only from the gated cross-attention blocks)"),
            dim("N", "tokens", "encoder patch tokens per image"),
            dim("Q", "queries", "latents", 64),
            dim("L", "layers", "resampler layers", 6),
            dim("heads", "heads", "attention heads", 8),
            dim("Dh", "head_dim", "width of one head", 64),
            dim("X", "cross_every", "a gated cross-attention block every X LLM layers"),
            dim("L_llm", "llm_layers", "LLM decoder layers"),
            dim("T", nil, "text tokens"),
        ],
        inputs: [ValueDecl("image", ["N", "D_enc"], "encoder patch features"), ValueDecl("text", ["T", "D_llm"], "LLM hidden states")],
        nodes: [
            op("latents", .learnedQueries(count: "Q", dim: "D_enc", leadingUnit: false), [], "lat"),
            loop("layers", "i", "L", [
                op("layers.{i}.norm_media", .layerNorm(dim: "D_enc", bias: true), ["image"], "media", eps: 1e-5),
                op("layers.{i}.norm_latents", .layerNorm(dim: "D_enc", bias: true), ["lat"], "lat_n", eps: 1e-5),
                op("layers.{i}.attn", .attention(.init(kind: .cross, dim: "D_enc", heads: "heads", headDim: "Dh", projections: .fused_kv,
                                                      bias: false, keysIncludeQueries: true)), ["lat_n", "media"], "a"),
                op("layers.{i}.attn_res", .residual(gated: false), ["lat", "a"], "lat"),
                op("layers.{i}.ffn_norm", .layerNorm(dim: "D_enc", bias: true), ["lat"], "h", eps: 1e-5),
                op("layers.{i}.ffn", .feedForward(.init(in: "D_enc", hidden: "4*D_enc", activation: .gelu, gated: false, bias: false)), ["h"], "f"),
                op("layers.{i}.ffn_res", .residual(gated: false), ["lat", "f"], "lat"),
            ]),
            op("norm", .layerNorm(dim: "D_enc", bias: true), ["lat"], "out", eps: 1e-5),
            loop("gated", "j", "L_llm", gatedFlamingoBlock),
        ],
        outputs: [ValueDecl("out", ["Q", "D_enc"], "latents, read by the gated cross-attention blocks")],
        constraints: [],
        schemes: [NamingScheme(.openFlamingo, flamingoEntries, ignored: ["lang_encoder.*.gated_cross_attn_layer.*"])])

    static let crossLayerOfFlamingo = Condition(index: "j", every: "X", phase: "X-1")

    static let gatedFlamingoBlock: [GraphNode] = [
        op("gated.{j}.norm", .layerNorm(dim: "D_llm", bias: true), ["text"], "t", when: crossLayerOfFlamingo, site: .llm),
        op("gated.{j}.attn", .attention(.init(kind: .cross, dim: "D_llm", contextDim: "D_enc", heads: "heads", headDim: "Dh",
                                             outDim: "D_llm", projections: .fused_kv, bias: false)),
           ["t", "out"], "a", when: crossLayerOfFlamingo, site: .llm),
        op("gated.{j}.attn_gate", .residual(gated: true), ["text", "a"], "text", when: crossLayerOfFlamingo, site: .llm),
        op("gated.{j}.ffn_norm", .layerNorm(dim: "D_llm", bias: true), ["text"], "t", when: crossLayerOfFlamingo, site: .llm),
        op("gated.{j}.ffn", .feedForward(.init(in: "D_llm", hidden: "4*D_llm", activation: .gelu, gated: false, bias: false)),
           ["t"], "f", when: crossLayerOfFlamingo, site: .llm),
        op("gated.{j}.ffn_gate", .residual(gated: true), ["text", "f"], "text", when: crossLayerOfFlamingo, site: .llm),
    ]

    static var flamingoEntries: [SchemeEntry] {
        let layer = "perceiver.layers.{i}."
        let gated = "lang_encoder.gated_cross_attn_layers.{j}."
        return [entry("latents.queries", "perceiver.latents")]
            + linearEntries("layers.{i}.norm_media", layer + "0.norm_media")
            + linearEntries("layers.{i}.norm_latents", layer + "0.norm_latents")
            + entries("layers.{i}.attn", layer + "0.", [("q.weight", "to_q.weight"), ("kv.weight", "to_kv.weight"), ("out.weight", "to_out.weight")])
            + linearEntries("layers.{i}.ffn_norm", layer + "1.0")
            + entries("layers.{i}.ffn", layer + "1.", [("up.weight", "1.weight"), ("down.weight", "3.weight")])
            + linearEntries("norm", "perceiver.norm")
            + linearEntries("gated.{j}.norm", gated + "attn.norm")
            + entries("gated.{j}.attn", gated + "attn.", [("q.weight", "to_q.weight"), ("kv.weight", "to_kv.weight"), ("out.weight", "to_out.weight")])
            + [entry("gated.{j}.attn_gate.gate", gated + "attn_gate")]
            + linearEntries("gated.{j}.ffn_norm", gated + "ff.0")
            + entries("gated.{j}.ffn", gated + "ff.", [("up.weight", "1.weight"), ("down.weight", "3.weight")])
            + [entry("gated.{j}.ffn_gate.gate", gated + "ff_gate")]
    }

    // MARK: IDEFICS

    static let idefics = ConnectorGraph(
        name: "idefics-perceiver", family: Family.perceiverResampler.rawValue, variant: "idefics",
        description: "IDEFICS (v1) Perceiver Resampler in the vision width (per-head q/k LayerNorms when qk_layer_norms_perceiver), and the gated cross-attention layers inserted every cross_layer_interval LLM layers.",
        dimensions: [
            dim("D_enc", "encoder", "vision embed_dim"),
            dim("D_llm", "llm", "LLM hidden size"),
            dim("N", "tokens", "encoder tokens per image, class token included"),
            dim("Q", "queries", "latents (resampler_n_latents)", 64),
            dim("L", "layers", "resampler_depth", 6),
            dim("heads", "heads", "resampler_n_heads", 16),
            dim("Dh", "head_dim", "resampler_head_dim", 96),
            dim("C", "cross_layers", "gated cross-attention layers in the LLM"),
            dim("X", "cross_every", "cross_layer_interval", 4),
            dim("L_llm", "llm_layers", "LLM decoder layers"),
            dim("A", nil, "LLM attention heads (the gated q/k norms are one head wide)", 32),
            dim("I_llm", "llm_ffn", "LLM feed-forward width (the gated layers' SwiGLU)"),
            dim("T", nil, "text tokens"),
        ],
        inputs: [ValueDecl("image", ["N", "D_enc"], "encoder features"), ValueDecl("text", ["T", "D_llm"], "LLM hidden states")],
        nodes: [
            op("latents", .learnedQueries(count: "Q", dim: "D_enc", leadingUnit: false), [], "lat"),
            loop("blocks", "i", "L", [
                op("blocks.{i}.norm_media", .layerNorm(dim: "D_enc", bias: true), ["image"], "media", eps: 1e-5),
                op("blocks.{i}.norm_latents", .layerNorm(dim: "D_enc", bias: true), ["lat"], "lat_n", eps: 1e-5),
                op("blocks.{i}.attn", .attention(.init(kind: .cross, dim: "D_enc", heads: "heads", headDim: "Dh", projections: .separate,
                                                      bias: false, qkNorm: .layer_norm, keysIncludeQueries: true, qkNormOptional: true)),
                   ["lat_n", "media"], "a", eps: 1e-5),
                op("blocks.{i}.attn_res", .residual(gated: false), ["lat", "a"], "lat"),
                op("blocks.{i}.ffn_norm", .layerNorm(dim: "D_enc", bias: true), ["lat"], "h", eps: 1e-5),
                op("blocks.{i}.ffn", .feedForward(.init(in: "D_enc", hidden: "4*D_enc", activation: .relu, gated: false, bias: false)), ["h"], "f"),
                op("blocks.{i}.ffn_res", .residual(gated: false), ["lat", "f"], "lat"),
            ]),
            op("norm", .layerNorm(dim: "D_enc", bias: true), ["lat"], "out", eps: 1e-5),
            loop("gated", "j", "C", [
                op("gated.{j}.input_norm", .rmsNorm(dim: "D_llm"), ["text"], "t", site: .llm),
                op("gated.{j}.attn", .attention(.init(kind: .cross, dim: "D_llm", contextDim: "D_enc", heads: "A", headDim: "D_llm/A",
                                                     outDim: "D_llm", projections: .separate, bias: false, qkNorm: .rms_norm)),
                   ["t", "out"], "a", site: .llm),
                op("gated.{j}.attn_gate", .residual(gated: true), ["text", "a"], "text", site: .llm),
                op("gated.{j}.post_norm", .rmsNorm(dim: "D_llm"), ["text"], "t", site: .llm),
                op("gated.{j}.mlp", .feedForward(.init(in: "D_llm", hidden: "I_llm", activation: .silu, gated: true, bias: false)), ["t"], "f", site: .llm),
                op("gated.{j}.mlp_gate", .residual(gated: true), ["text", "f"], "text", site: .llm),
            ]),
        ],
        outputs: [ValueDecl("out", ["Q", "D_enc"], "latents, read by the gated cross-attention layers")],
        constraints: [
            Constraint(.equal, "C*X", "L_llm", code: "cross-attn-layers",
                       message: "IDEFICS inserts one gated cross-attention layer every cross_layer_interval LLM layers"),
            Constraint(.divisible, "D_llm", "A", code: "heads-indivisible", message: "the LLM width must be a multiple of its attention heads"),
        ],
        schemes: [NamingScheme(.hf, idefisEntries)])

    static var idefisEntries: [SchemeEntry] {
        let block = "model.perceiver_resampler.blocks.{i}."
        let gated = "model.gated_cross_attn_layers.{j}."
        return [entry("latents.queries", "model.perceiver_resampler.latents")]
            + linearEntries("blocks.{i}.norm_media", block + "0.context_layer_norm")
            + linearEntries("blocks.{i}.norm_latents", block + "0.latents_layer_norm")
            + entries("blocks.{i}.attn", block + "0.", [
                ("q.weight", "q_proj.weight"), ("k.weight", "k_proj.weight"), ("v.weight", "v_proj.weight"),
                ("q_norm.weight", "q_layer_norm.weight"), ("q_norm.bias", "q_layer_norm.bias"),
                ("k_norm.weight", "k_layer_norm.weight"), ("k_norm.bias", "k_layer_norm.bias"),
                ("out.weight", "output_proj.weight"),
            ])
            + linearEntries("blocks.{i}.ffn_norm", block + "1.ln")
            + entries("blocks.{i}.ffn", block + "1.", [("up.weight", "fc.weight"), ("down.weight", "c_proj.weight")])
            + linearEntries("norm", "model.perceiver_resampler.layer_norm")
            + [entry("gated.{j}.input_norm.weight", gated + "input_layernorm.weight")]
            + entries("gated.{j}.attn", gated + "cross_attn.", [
                ("q.weight", "q_proj.weight"), ("k.weight", "k_proj.weight"), ("v.weight", "v_proj.weight"),
                ("q_norm.weight", "q_layer_norm.weight"), ("k_norm.weight", "k_layer_norm.weight"), ("out.weight", "o_proj.weight"),
            ])
            + [entry("gated.{j}.attn_gate.gate", gated + "alpha_cross_attn"),
               entry("gated.{j}.post_norm.weight", gated + "post_attention_layernorm.weight")]
            + entries("gated.{j}.mlp", gated + "mlp.", [
                ("gate.weight", "gate_proj.weight"), ("up.weight", "up_proj.weight"), ("down.weight", "down_proj.weight"),
            ])
            + [entry("gated.{j}.mlp_gate.gate", gated + "alpha_dense")]
    }

    // MARK: Idefics2

    static let idefics2 = ConnectorGraph(
        name: "idefics2-connector", family: Family.perceiverResampler.rawValue, variant: "idefics2",
        description: "Idefics2 connector: SwiGLU modality projection to the LLM width, then a Perceiver Resampler with grouped-query attention and RMSNorm.",
        dimensions: [
            dim("D_enc", "encoder", "vision hidden size"),
            dim("D_llm", "llm", "LLM hidden size (the resampler works in it)"),
            dim("N", "tokens", "encoder patch tokens per image"),
            dim("I_llm", "llm_ffn", "LLM intermediate size, reused by the modality projection"),
            dim("Q", "queries", "resampler_n_latents", 64),
            dim("L", "layers", "resampler_depth", 3),
            dim("heads", "heads", "resampler_n_heads", 16),
            dim("kv", "kv_heads", "num_key_value_heads", 4),
            dim("Dh", "head_dim", "resampler_head_dim", 96),
        ],
        inputs: [ValueDecl("image", ["N", "D_enc"], "encoder features")],
        nodes: [
            op("modality_projection", .feedForward(.init(in: "D_enc", hidden: "I_llm", out: "D_llm", activation: .silu, gated: true, bias: false)),
               ["image"], "ctx"),
            op("latents", .learnedQueries(count: "Q", dim: "D_llm", leadingUnit: false), [], "lat"),
            loop("layers", "i", "L", [
                op("layers.{i}.latents_norm", .rmsNorm(dim: "D_llm"), ["lat"], "lat_n", eps: 1e-6),
                op("layers.{i}.context_norm", .rmsNorm(dim: "D_llm"), ["ctx"], "ctx_n", eps: 1e-6),
                op("layers.{i}.attn", .attention(.init(kind: .cross, dim: "D_llm", heads: "heads", kvHeads: "kv", headDim: "Dh",
                                                      projections: .separate, bias: false, keysIncludeQueries: true)), ["lat_n", "ctx_n"], "a"),
                op("layers.{i}.attn_res", .residual(gated: false), ["lat", "a"], "lat"),
                op("layers.{i}.post_norm", .rmsNorm(dim: "D_llm"), ["lat"], "h", eps: 1e-6),
                op("layers.{i}.mlp", .feedForward(.init(in: "D_llm", hidden: "4*D_llm", activation: .silu, gated: true, bias: false)), ["h"], "f"),
                op("layers.{i}.mlp_res", .residual(gated: false), ["lat", "f"], "lat"),
            ]),
            op("norm", .rmsNorm(dim: "D_llm"), ["lat"], "out", eps: 1e-6),
        ],
        outputs: [ValueDecl("out", ["Q", "D_llm"], "LLM input embeddings")],
        constraints: [Constraint(.divisible, "heads", "kv", code: "heads-indivisible", message: "query heads must be a multiple of key/value heads")],
        schemes: [NamingScheme(.hf, idefics2Entries)])

    static var idefics2Entries: [SchemeEntry] {
        let base = "model.connector."
        let layer = base + "perceiver_resampler.layers.{i}."
        return entries("modality_projection", base + "modality_projection.", [
            ("gate.weight", "gate_proj.weight"), ("up.weight", "up_proj.weight"), ("down.weight", "down_proj.weight"),
        ])
            + [entry("latents.queries", base + "perceiver_resampler.latents"),
               entry("layers.{i}.latents_norm.weight", layer + "input_latents_norm.weight"),
               entry("layers.{i}.context_norm.weight", layer + "input_context_norm.weight")]
            + entries("layers.{i}.attn", layer + "self_attn.", [
                ("q.weight", "q_proj.weight"), ("k.weight", "k_proj.weight"), ("v.weight", "v_proj.weight"), ("out.weight", "o_proj.weight"),
            ])
            + [entry("layers.{i}.post_norm.weight", layer + "post_attention_layernorm.weight")]
            + entries("layers.{i}.mlp", layer + "mlp.", [
                ("gate.weight", "gate_proj.weight"), ("up.weight", "up_proj.weight"), ("down.weight", "down_proj.weight"),
            ])
            + [entry("norm.weight", base + "perceiver_resampler.norm.weight")]
    }

    static let variants: [FamilyVariant] = [
        FamilyVariant(.perceiverResampler, "openflamingo", graph: flamingo, isDefault: true),
        FamilyVariant(.perceiverResampler, "idefics", graph: idefics, keepsClassToken: true),
        FamilyVariant(.perceiverResampler, "idefics2", graph: idefics2),
    ]
}
