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

    /// The Perceiver Resampler of OpenFlamingo and IDEFICS, in the vision width: `latents`, then per layer
    /// `block.{i}` LayerNorms of media and latents, a cross-attention whose keys come from both, a
    /// residual, a LayerNorm, a 4× feed-forward without biases and a residual; a final LayerNorm.
    static func visionWidthResampler(_ block: String, projections: Operation.Attention.Projections, qkNorm: Operation.Attention.QKNorm,
                                     qkNormOptional: Bool = false, activation: Operation.Activation) -> [GraphNode] {
        let layer = "\(block).{i}."
        return [
            op("latents", .learnedQueries(count: "Q", dim: "D_enc", leadingUnit: false), [], "lat"),
            loop(block, "i", "L", [
                op(layer + "norm_media", .layerNorm(dim: "D_enc", bias: true), ["image"], "media", eps: 1e-5),
                op(layer + "norm_latents", .layerNorm(dim: "D_enc", bias: true), ["lat"], "lat_n", eps: 1e-5),
                op(layer + "attn", .attention(.init(kind: .cross, dim: "D_enc", heads: "heads", headDim: "Dh", projections: projections,
                                                   bias: false, qkNorm: qkNorm, keysIncludeQueries: true, qkNormOptional: qkNormOptional)),
                   ["lat_n", "media"], "a", eps: qkNorm == .none ? nil : 1e-5),
                op(layer + "attn_res", .residual(gated: false), ["lat", "a"], "lat"),
                op(layer + "ffn_norm", .layerNorm(dim: "D_enc", bias: true), ["lat"], "h", eps: 1e-5),
                op(layer + "ffn", .feedForward(.init(in: "D_enc", hidden: "4*D_enc", activation: activation, gated: false, bias: false)),
                   ["h"], "f"),
                op(layer + "ffn_res", .residual(gated: false), ["lat", "f"], "lat"),
            ]),
            op("norm", .layerNorm(dim: "D_enc", bias: true), ["lat"], "out", eps: 1e-5),
        ]
    }

    static let llmHiddenStates = ValueDecl("text", ["T", "D_llm"], "LLM hidden states")

    static let flamingo = ConnectorGraph(.perceiverResampler, "openflamingo", name: "openflamingo-perceiver",
        "OpenFlamingo Perceiver Resampler (64 latents in the vision width) and the gated cross-attention blocks that feed it to the LLM.",
        encoder: "vision encoder width (open_clip vision_cfg.width)", llm: "LLM hidden size (known only from the gated cross-attention blocks)",
        tokens: "encoder patch tokens per image", dims: """
            Q      queries      64  latents
            L      layers        6  resampler layers
            heads  heads         8  attention heads
            Dh     head_dim     64  width of one head
            X      cross_every   -  a gated cross-attention block every X LLM layers
            L_llm  llm_layers    -  LLM decoder layers
            T      -             -  text tokens
            """,
        image: "encoder patch features", inputs: [llmHiddenStates],
        nodes: visionWidthResampler("layers", projections: .fused_kv, qkNorm: .none, activation: .gelu)
            + [loop("gated", "j", "L_llm", gatedFlamingoBlock)],
        output: ValueDecl("out", ["Q", "D_enc"], "latents, read by the gated cross-attention blocks"),
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

    /// The entries of `visionWidthResampler(block)`: a layer's modules under `layer`, named as given.
    static func visionWidthResamplerEntries(_ block: String, latents: String, layer: String, norms: (media: String, latents: String),
                                            attention: [(String, String)], ffnNorm: String, ffn: [(String, String)],
                                            norm: String) -> [SchemeEntry] {
        let role = "\(block).{i}."
        return [entry("latents.queries", latents)]
            + linearEntries(role + "norm_media", layer + norms.media) + linearEntries(role + "norm_latents", layer + norms.latents)
            + entries(role + "attn", layer, attention)
            + linearEntries(role + "ffn_norm", layer + ffnNorm) + entries(role + "ffn", layer, ffn)
            + linearEntries("norm", norm)
    }

    static var flamingoEntries: [SchemeEntry] {
        let gated = "lang_encoder.gated_cross_attn_layers.{j}."
        return visionWidthResamplerEntries("layers", latents: "perceiver.latents", layer: "perceiver.layers.{i}.",
                                           norms: ("0.norm_media", "0.norm_latents"),
                                           attention: [("q.weight", "0.to_q.weight"), ("kv.weight", "0.to_kv.weight"), ("out.weight", "0.to_out.weight")],
                                           ffnNorm: "1.0", ffn: [("up.weight", "1.1.weight"), ("down.weight", "1.3.weight")], norm: "perceiver.norm")
            + linearEntries("gated.{j}.norm", gated + "attn.norm")
            + entries("gated.{j}.attn", gated + "attn.", [("q.weight", "to_q.weight"), ("kv.weight", "to_kv.weight"), ("out.weight", "to_out.weight")])
            + [entry("gated.{j}.attn_gate.gate", gated + "attn_gate")]
            + linearEntries("gated.{j}.ffn_norm", gated + "ff.0")
            + entries("gated.{j}.ffn", gated + "ff.", [("up.weight", "1.weight"), ("down.weight", "3.weight")])
            + [entry("gated.{j}.ffn_gate.gate", gated + "ff_gate")]
    }

    // MARK: IDEFICS

    static let idefics = ConnectorGraph(.perceiverResampler, "idefics", name: "idefics-perceiver",
        "IDEFICS (v1) Perceiver Resampler in the vision width (per-head q/k LayerNorms when qk_layer_norms_perceiver), and the gated cross-attention layers inserted every cross_layer_interval LLM layers.",
        encoder: "vision embed_dim", tokens: "encoder tokens per image, class token included", dims: """
            Q      queries       64  latents (resampler_n_latents)
            L      layers         6  resampler_depth
            heads  heads         16  resampler_n_heads
            Dh     head_dim      96  resampler_head_dim
            C      cross_layers   -  gated cross-attention layers in the LLM
            X      cross_every    4  cross_layer_interval
            L_llm  llm_layers     -  LLM decoder layers
            A      -             32  LLM attention heads (the gated q/k norms are one head wide)
            I_llm  llm_ffn        -  LLM feed-forward width (the gated layers' SwiGLU)
            T      -              -  text tokens
            """,
        image: "encoder features", inputs: [llmHiddenStates],
        nodes: visionWidthResampler("blocks", projections: .separate, qkNorm: .layer_norm, qkNormOptional: true, activation: .relu) + [
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
        output: ValueDecl("out", ["Q", "D_enc"], "latents, read by the gated cross-attention layers"),
        constraints: [
            Constraint(.equal, "C*X", "L_llm", code: "cross-attn-layers",
                       message: "IDEFICS inserts one gated cross-attention layer every cross_layer_interval LLM layers"),
            Constraint(.divisible, "D_llm", "A", code: "heads-indivisible", message: "the LLM width must be a multiple of its attention heads"),
        ],
        schemes: [NamingScheme(.hf, ideficsEntries)])

    static var ideficsEntries: [SchemeEntry] {
        let gated = "model.gated_cross_attn_layers.{j}."
        return visionWidthResamplerEntries("blocks", latents: "model.perceiver_resampler.latents", layer: "model.perceiver_resampler.blocks.{i}.",
                                           norms: ("0.context_layer_norm", "0.latents_layer_norm"), attention: [
                                               ("q.weight", "0.q_proj.weight"), ("k.weight", "0.k_proj.weight"), ("v.weight", "0.v_proj.weight"),
                                               ("q_norm.weight", "0.q_layer_norm.weight"), ("q_norm.bias", "0.q_layer_norm.bias"),
                                               ("k_norm.weight", "0.k_layer_norm.weight"), ("k_norm.bias", "0.k_layer_norm.bias"),
                                               ("out.weight", "0.output_proj.weight"),
                                           ],
                                           ffnNorm: "1.ln", ffn: [("up.weight", "1.fc.weight"), ("down.weight", "1.c_proj.weight")],
                                           norm: "model.perceiver_resampler.layer_norm")
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

    static let idefics2 = ConnectorGraph(.perceiverResampler, "idefics2", name: "idefics2-connector",
        "Idefics2 connector: SwiGLU modality projection to the LLM width, then a Perceiver Resampler with grouped-query attention and RMSNorm.",
        encoder: "vision hidden size", llm: "LLM hidden size (the resampler works in it)", tokens: "encoder patch tokens per image", dims: """
            I_llm  llm_ffn    -  LLM intermediate size, reused by the modality projection
            Q      queries   64  resampler_n_latents
            L      layers     3  resampler_depth
            heads  heads     16  resampler_n_heads
            kv     kv_heads   4  num_key_value_heads
            Dh     head_dim  96  resampler_head_dim
            """,
        image: "encoder features",
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
        output: ValueDecl("out", ["Q", "D_llm"], "LLM input embeddings"),
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
