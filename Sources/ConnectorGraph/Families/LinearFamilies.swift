/// `linear` and `mlp`: per-token projectors with no token reduction.
///
/// Sources: haotian-liu/LLaVA `llava/model/multimodal_projector/builder.py` (`linear`, `mlp(\d+)x_gelu`:
/// Sequential Linear, [GELU, Linear]×(N-1), so weights sit at even indices), `llava_arch.py`
/// (`model.mm_projector`, `model.image_newline`); transformers `LlavaMultiModalProjector`
/// (`linear_1`, `linear_2`) and `conversion_mapping.py` (the pre-4.52 names lack the `model.` prefix);
/// 01-ai/Yi `VL/llava/model/multimodal_projector/builder.py` (`mlp2x_gelu_Norm`: Linear, LayerNorm,
/// GELU, Linear, LayerNorm → indices 0, 1, 3, 4); llama.cpp `convert_image_encoder_to_gguf.py`
/// (`model.mm_projector` → `mm`, HF `linear_1`/`linear_2` → `mm.0`/`mm.2`, `image_newline` →
/// `model.image_newline`) and `clip.cpp` (`mm.3.weight` present ⇒ MLP_NORM; newer loaders read
/// `v.image_newline`).
enum LinearFamilies {
    /// The projectors of the LLaVA line: per-token, from the (possibly concatenated) encoder features
    /// to the LLM width.
    static func projector(_ family: Family, _ variant: String, name: String, _ description: String, dims: String = "",
                          nodes: [GraphNode], schemes: [NamingScheme]) -> ConnectorGraph {
        ConnectorGraph(family, variant, name: name, description, encoder: "vision encoder width",
                       tokens: "patch tokens per image (the class token is dropped)",
                       dims: "F  feature_layers  1  encoder layers whose features are concatenated\n" + dims,
                       image: "encoder features", imageWidth: "D_enc*F", nodes: nodes,
                       output: ValueDecl("out", ["N", "D_llm"], "LLM input embeddings"), schemes: schemes)
    }

    static let linear = projector(.linear, "linear", name: "llava-linear",
        "LLaVA-1.0 / LLaVA-LLaMA-2: one Linear from the encoder width to the LLM width.",
        nodes: [op("proj", .linear(in: "D_enc*F", out: "D_llm", bias: true), ["image"], "out")],
        schemes: [NamingScheme(.llava, linearEntries("proj", "model.mm_projector"))])

    static let mlp = projector(.mlp, "mlpNx_gelu", name: "llava-mlp",
        "LLaVA-1.5 / LLaVA-NeXT mlpNx_gelu: Linear, then (GELU, Linear) × (depth-1); LLaVA-NeXT adds a learned image_newline.",
        dims: "depth  depth  2  number of Linear layers",
        nodes: [
            op("proj.0", .linear(in: "D_enc*F", out: "D_llm", bias: true), ["image"], "x"),
            loop("more", "k", "depth-1", [
                op("act.{k}", .activation(.gelu), ["x"], "x"),
                op("proj.{k+1}", .linear(in: "D_llm", out: "D_llm", bias: true), ["x"], "x"),
            ]),
            op("image_newline", .imageNewline(dim: "D_llm"), ["x"], "out", optional: true),
        ],
        schemes: [
            NamingScheme(.llava, linearEntries("proj.0", "model.mm_projector.0") + linearEntries("proj.{k+1}", "model.mm_projector.{2*k+2}")
                + [entry("image_newline.newline", "model.image_newline")]),
            NamingScheme(.hf, linearEntries("proj.0", "model.multi_modal_projector.linear_1")
                + linearEntries("proj.{k+1}", "model.multi_modal_projector.linear_{k+2}")
                + [entry("image_newline.newline", "model.image_newline")]),
            NamingScheme(.hfLegacy, linearEntries("proj.0", "multi_modal_projector.linear_1")
                + linearEntries("proj.{k+1}", "multi_modal_projector.linear_{k+2}")
                + [entry("image_newline.newline", "image_newline")]),
            NamingScheme(.mmproj, linearEntries("proj.0", "mm.0") + linearEntries("proj.{k+1}", "mm.{2*k+2}")
                + [entry("image_newline.newline", "model.image_newline", aliases: ["v.image_newline"])]),
        ])

    static let mlpNorm = projector(.mlp, "mlp_norm", name: "yi-vl-mlp-norm",
        "Yi-VL mlp2x_gelu_Norm: Linear, LayerNorm, GELU, Linear, LayerNorm.",
        nodes: [
            op("proj.0", .linear(in: "D_enc*F", out: "D_llm", bias: true), ["image"], "x"),
            op("norm.0", .layerNorm(dim: "D_llm", bias: true), ["x"], "x", eps: 1e-5),
            op("act", .activation(.gelu), ["x"], "x"),
            op("proj.1", .linear(in: "D_llm", out: "D_llm", bias: true), ["x"], "x"),
            op("norm.1", .layerNorm(dim: "D_llm", bias: true), ["x"], "out", eps: 1e-5),
        ],
        schemes: [
            NamingScheme(.llava, linearEntries("proj.0", "model.mm_projector.0") + linearEntries("norm.0", "model.mm_projector.1")
                + linearEntries("proj.1", "model.mm_projector.3") + linearEntries("norm.1", "model.mm_projector.4")),
            NamingScheme(.mmproj, linearEntries("proj.0", "mm.0") + linearEntries("norm.0", "mm.1")
                + linearEntries("proj.1", "mm.3") + linearEntries("norm.1", "mm.4")),
        ])

    static let variants: [FamilyVariant] = [
        FamilyVariant(.linear, "linear", graph: linear, isDefault: true),
        FamilyVariant(.mlp, "mlpNx_gelu", graph: mlp, isDefault: true, named: (1 ... 8).map { NamedVariant("mlp\($0)x_gelu", [("depth", $0)]) },
                      isPattern: true) { dims, _ in
            dims["depth"].map { "mlp\($0)x_gelu" } ?? "mlp2x_gelu"
        },
        FamilyVariant(.mlp, "mlp_norm", graph: mlpNorm),
    ]
}
