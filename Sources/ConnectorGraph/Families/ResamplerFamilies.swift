/// `attention-resampler` (MiniCPM-V, Qwen-VL) and `patch-merger` (Qwen2-VL, Qwen2.5-VL).
///
/// Attention resampler: learned `query [Q, E]`, `kv_proj` (Linear without bias, from the encoder width
/// to E), `ln_q`, `ln_kv`, one `nn.MultiheadAttention` (fused `in_proj_weight [3E, E]`, q/k/v order),
/// `ln_post`, and `proj`, a raw `[E, E]` parameter applied as `x @ proj` (so stored as the transpose of
/// an `nn.Linear` weight); MiniCPM-V 2.0 and Qwen-VL also carry a fixed 2-D sin-cos `pos_embed [Q, E]`.
/// Keys (not values) carry positions: MiniCPM-V's 2-D sin-cos embedding of the patch grid (any H×W,
/// `Resampler(adaptive=True)`), Qwen-VL's stored table resized to the grid. Heads are E/128. Names: MiniCPM-V model repositories (`resampler.*`; as read by vLLM's
/// `minicpmv.py` and llama.cpp's `minicpmv-surgery.py`), Qwen-VL (`transformer.visual.attn_pool.*`,
/// with `ln_post`/`proj` on `transformer.visual`), and llama.cpp's mmproj (`clip-impl.h`:
/// `resampler.attn.{q,k,v,out}`, `resampler.kv.weight`, `resampler.proj.weight` transposed back to
/// `[out, in]`, a synthesised `resampler.pos_embed_k`).
///
/// Patch merger: transformers `Qwen2VLPatchMerger` (`ln_q` LayerNorm, 2×2 merge, `mlp.0` Linear,
/// GELU, `mlp.2` Linear; Qwen2.5-VL's `ln_q` is an RMSNorm), prefix `model.visual.merger` (`visual.merger`
/// before transformers 4.52, per `conversion_mapping.py`); llama.cpp maps `merger.ln_q` → `v.post_ln`
/// and `merger.mlp.N` → `mm.N` (`tensor_mapping.py`, `clip.cpp` `PROJECTOR_TYPE_QWEN2VL`).
enum AttentionResamplerFamily {
    static let attention = Operation.attention(.init(kind: .cross, dim: "E", heads: "E/Dh", headDim: "Dh", projections: .fused_qkv, bias: true))
    static let constraints = [Constraint(.divisible, "E", "Dh", code: "heads-indivisible", message: "the resampler width must be a multiple of the 128-wide heads")]

    /// MiniCPM-V's `Resampler`: keys get the 2-D sin-cos embedding of the input's grid (values do not);
    /// 2.0 also adds its stored query positions `pos_embed` (a 2-D sin-cos table of the query grid).
    static let graph = ConnectorGraph(.attentionResampler, "minicpmv", name: "minicpmv-resampler",
        "MiniCPM-V Resampler: one cross-attention from learned queries to the projected image features, keys with 2-D sin-cos positions of the patch grid.",
        encoder: "vision encoder width (kv_dim)", llm: "resampler width = LLM hidden size", llmSymbol: "E",
        tokens: "encoder patch tokens per image", dims: """
            Q      queries           64  learned queries (query_num; 64 for MiniCPM-V 2.0 and 2.6, 96 for 2.5)
            Dh     head_dim         128  width of one head (heads = E/128)
            G      grid_positions  4900  rows of llama.cpp's precomputed key position table (70x70)
            """,
        image: "encoder patch features",
        nodes: [
            op("query", .learnedQueries(count: "Q", dim: "E", leadingUnit: false), [], "q"),
            op("kv_proj", .linear(in: "D_enc", out: "E", bias: false), ["image"], "kv"),
            op("ln_kv", .layerNorm(dim: "E", bias: true), ["kv"], "kv", eps: 1e-6),
            op("ln_q", .layerNorm(dim: "E", bias: true), ["q"], "q", eps: 1e-6),
            op("pos_embed", .positionEmbedding(count: "Q", dim: "E", layout: .sequence), ["q"], "q", optional: true),
            op("pos_embed_k", .positionEmbedding(count: "G", dim: "E", layout: .sincos_2d), ["kv"], "k", optional: true),
            op("attn", attention, ["q", "kv", "k"], "a"),
            op("ln_post", .layerNorm(dim: "E", bias: true), ["a"], "a", eps: 1e-6),
            op("proj", .linear(in: "E", out: "E", bias: false), ["a"], "out"),
        ],
        output: ValueDecl("out", ["Q", "E"], "LLM input embeddings"),
        constraints: constraints,
        schemes: [
            NamingScheme(.minicpmv, repositoryEntries(pool: "resampler.", tower: "resampler.", queryPositions: "pos_embed.table"),
                         absent: ["pos_embed_k.table"]),
            // minicpmv-convert-image-encoder-to-gguf.py keeps 2.0's `pos_embed` and adds the 70x70 key table.
            NamingScheme(.mmproj, [entry("query.queries", "resampler.query"), entry("kv_proj.weight", "resampler.kv.weight"),
                                   entry("pos_embed.table", "resampler.pos_embed"), entry("pos_embed_k.table", "resampler.pos_embed_k")]
                + linearEntries("ln_kv", "resampler.ln_kv") + linearEntries("ln_q", "resampler.ln_q")
                + [SchemeEntry(role: "attn.qkv.weight", name: "", parts: ["resampler.attn.q.weight", "resampler.attn.k.weight", "resampler.attn.v.weight"]),
                   SchemeEntry(role: "attn.qkv.bias", name: "", parts: ["resampler.attn.q.bias", "resampler.attn.k.bias", "resampler.attn.v.bias"]),
                   entry("attn.out.weight", "resampler.attn.out.weight"), entry("attn.out.bias", "resampler.attn.out.bias")]
                + linearEntries("ln_post", "resampler.ln_post") + [entry("proj.weight", "resampler.proj.weight")]),
        ])

    /// Qwen-VL's `attn_pool` (its `Resampler`, then the visual tower's `ln_post` and `x @ proj`): the stored
    /// 16x16 sin-cos table `pos_embed` is added to the queries and, resized bicubically to the input's
    /// grid (`get_abs_pos`), to the keys.
    static let qwenVLGraph = ConnectorGraph(.attentionResampler, "qwen-vl", name: "qwen-vl-attn-pool",
        "Qwen-VL attn_pool (256 queries) followed by the visual tower's ln_post and proj; positions from the stored query table, resized to the patch grid for the keys.",
        encoder: "vision encoder width (kv_dim)", llm: "resampler width = LLM hidden size", llmSymbol: "E",
        tokens: "encoder patch tokens per image", dims: """
            Q      queries           256  learned queries (fixed in code)
            Dh     head_dim          128  width of one head (heads = E/128)
            """,
        image: "encoder patch features",
        nodes: [
            op("query", .learnedQueries(count: "Q", dim: "E", leadingUnit: false), [], "q"),
            op("pos_embed", .learnedQueries(count: "Q", dim: "E", leadingUnit: false), [], "pos"),
            op("kv_proj", .linear(in: "D_enc", out: "E", bias: false), ["image"], "kv"),
            op("ln_kv", .layerNorm(dim: "E", bias: true), ["kv"], "kv", eps: 1e-6),
            op("ln_q", .layerNorm(dim: "E", bias: true), ["q"], "q", eps: 1e-6),
            op("q_pos", .residual(gated: false), ["q", "pos"], "q"),
            op("k_pos", .resize, ["pos", "kv"], "kp"),
            op("k", .residual(gated: false), ["kv", "kp"], "k"),
            op("attn", attention, ["q", "kv", "k"], "a"),
            op("ln_post", .layerNorm(dim: "E", bias: true), ["a"], "a", eps: 1e-6),
            op("proj", .linear(in: "E", out: "E", bias: false), ["a"], "out"),
        ],
        output: ValueDecl("out", ["Q", "E"], "LLM input embeddings"),
        constraints: constraints,
        schemes: [NamingScheme(.qwenVL, repositoryEntries(pool: "transformer.visual.attn_pool.", tower: "transformer.visual.",
                                                          queryPositions: "pos_embed.queries"))])

    /// The names of the model repositories: the pool's modules under `pool`, `ln_post` and the raw `proj`
    /// parameter under `tower`; the stored query positions as the role `queryPositions`.
    static func repositoryEntries(pool: String, tower: String, queryPositions: String) -> [SchemeEntry] {
        [entry("query.queries", pool + "query"), entry("kv_proj.weight", pool + "kv_proj.weight")]
            + linearEntries("ln_kv", pool + "ln_kv") + linearEntries("ln_q", pool + "ln_q")
            + [entry(queryPositions, pool + "pos_embed")]
            + entries("attn", pool + "attn.", [("qkv.weight", "in_proj_weight"), ("qkv.bias", "in_proj_bias"),
                                               ("out.weight", "out_proj.weight"), ("out.bias", "out_proj.bias")])
            + linearEntries("ln_post", tower + "ln_post") + [entry("proj.weight", tower + "proj", transposed: true)]
    }

    /// MiniCPM-V releases by (E, Q): 2.0 = MiniCPM-2.4B (2304) with 64 queries, 2.5 = Llama-3-8B (4096)
    /// with 96, 2.6 = Qwen2-7B (3584) with 64. vLLM's `minicpmv.py` tells 2.0 apart by `hidden_size == 2304
    /// and query_num == 64`; llama.cpp's `clip.cpp` sets 96 queries for version 2 (2.5) and 64 for 3
    /// (2.6); its `minicpmv-convert-image-encoder-to-gguf.py` gives the widths 2304, 4096, 3584.
    static let releases = [
        NamedVariant("minicpmv-2.0", [("llm", 2304), ("queries", 64)]),
        NamedVariant("minicpmv-2.5", [("llm", 4096), ("queries", 96)]),
        NamedVariant("minicpmv-2.6", [("llm", 3584), ("queries", 64)]),
    ]

    /// The release: a version from the config (`version`) or the mmproj (`clip.minicpmv_version`: 1, 2, 3)
    /// first, else the release whose (E, Q) the dimensions have.
    static func release(_ dims: [String: Int], _ evidence: VariantEvidence) -> String {
        switch evidence.minicpmvVersion {
        case "1", "2.0": return "minicpmv-2.0"
        case "2", "2.5": return "minicpmv-2.5"
        case "3", "2.6": return "minicpmv-2.6"
        default: break
        }
        return releases.first { entry in entry.dims.allSatisfy { dims[$0.key] == $0.value } }?.name ?? "minicpmv"
    }

    static let variants: [FamilyVariant] = [
        FamilyVariant(.attentionResampler, "minicpmv", graph: graph, isDefault: true, named: releases) { dims, evidence in
            release(dims, evidence)
        },
        // Qwen-VL's visual.py builds its attn_pool with `n_queries = 256` (not read from the config).
        FamilyVariant(.attentionResampler, "qwen-vl", graph: qwenVLGraph, named: [NamedVariant("qwen-vl", [("queries", 256)])]),
    ]
}

enum PatchMergerFamily {
    static func graph(rms: Bool) -> ConnectorGraph {
        let name = rms ? "qwen2.5-vl" : "qwen2-vl"
        func entries(norm: String, mlp: String) -> [SchemeEntry] {
            linearEntries("ln_q", norm, bias: !rms) + linearEntries("mlp.0", mlp + "0") + linearEntries("mlp.2", mlp + "2")
        }
        return ConnectorGraph(.patchMerger, name, name: "\(name)-merger",
            rms ? "Qwen2.5-VL merger: RMSNorm, 2x2 spatial merge, Linear-GELU-Linear to the LLM width."
                : "Qwen2-VL merger: LayerNorm, 2x2 spatial merge, Linear-GELU-Linear to the LLM width.",
            encoder: "ViT width (vision_config.embed_dim for Qwen2-VL, vision_config.hidden_size for Qwen2.5-VL)",
            tokens: "ViT patches per image", dims: "m  merge  2  spatial_merge_size",
            image: "ViT patch features",
            nodes: [
                op("ln_q", rms ? .rmsNorm(dim: "D_enc") : .layerNorm(dim: "D_enc", bias: true), ["image"], "x", eps: 1e-6),
                op("merge", .spatialMerge(factor: "m"), ["x"], "x"),
                op("mlp.0", .linear(in: "D_enc*m*m", out: "D_enc*m*m", bias: true), ["x"], "x"),
                op("act", .activation(.gelu), ["x"], "x"),
                op("mlp.2", .linear(in: "D_enc*m*m", out: "D_llm", bias: true), ["x"], "out"),
            ],
            output: ValueDecl("out", ["N/(m*m)", "D_llm"], "LLM input embeddings"),
            schemes: [
                NamingScheme(.hf, entries(norm: "model.visual.merger.ln_q", mlp: "model.visual.merger.mlp.")),
                NamingScheme(.hfLegacy, entries(norm: "visual.merger.ln_q", mlp: "visual.merger.mlp.")),
                NamingScheme(.mmproj, entries(norm: "v.post_ln", mlp: "mm.")),
            ])
    }

    static let variants: [FamilyVariant] = [
        FamilyVariant(.patchMerger, "qwen2-vl", graph: graph(rms: false), isDefault: true),
        FamilyVariant(.patchMerger, "qwen2.5-vl", graph: graph(rms: true)),
    ]
}
