/// `pixel-shuffle-mlp` (InternVL, Idefics3/SmolVLM) and `ldp` (MobileVLM).
///
/// InternVL: OpenGVLab/InternVL `modeling_internvl_chat.py` (`pixel_shuffle` by `downsample_ratio`
/// 0.5, `mlp1 = Sequential(LayerNorm(4·D), Linear(4·D, D_llm), GELU, Linear(D_llm, D_llm))`);
/// transformers `InternVLMultiModalProjector` and `conversion_mapping.py` (`mlp1.0/1/3` →
/// `multi_modal_projector.layer_norm/linear_1/linear_2`); llama.cpp `mm.model.mlp.{0,1,3}`
/// (`tensor_mapping.py` V_MMPROJ_MLP). Idefics3: transformers `Idefics3Connector` (pixel shuffle by
/// `scale_factor`, `modality_projection.proj` without bias) and llama.cpp `mm.model.fc.weight`.
///
/// MobileVLM: Meituan-AutoML/MobileVLM `mobilevlm/model/vision_projector.py`. LDP: `model.mlp` =
/// Sequential(Identity, Linear, GELU, Linear) and `model.mb_block` = Sequential(Identity, two torchvision
/// `InvertedResidual` blocks with expand ratio 1: depthwise 3×3 conv + LayerNorm2d + hardswish,
/// squeeze-excitation (`fc1`/`fc2` 1×1 convs, width `_make_divisible(C // 4, 8)`, which is C/4 for the
/// released widths 2048 and 2560), pointwise conv + LayerNorm2d; the first with stride 1
/// and a residual, the second with stride 2), so 576 tokens become 144. LDPv2: `mlp.mlp` (Linear, GELU,
/// Linear), adaptive average pooling to 12×12, `peg.peg.0` depthwise 3×3 conv with bias added back.
/// llama.cpp's `convert_image_encoder_to_gguf.py` renames `model.mm_projector` → `mm`,
/// `mm.mlp.mlp` → `mm.model.mlp`, `mm.peg.peg` → `mm.model.peg`, and squeezes every tensor.
enum PixelShuffleFamily {
    static let internvl = ConnectorGraph(.pixelShuffleMLP, "internvl", name: "internvl-mlp1",
        "InternVL mlp1: pixel shuffle (downsample_ratio 0.5), LayerNorm, Linear, GELU, Linear.",
        encoder: "InternViT width", tokens: "ViT patch tokens per tile (class token dropped)",
        dims: "s  merge  2  pixel-shuffle factor per side (1/downsample_ratio)", image: "ViT patch features",
        nodes: [
            op("shuffle", .pixelShuffle(factor: "s"), ["image"], "x"),
            op("norm", .layerNorm(dim: "D_enc*s*s", bias: true), ["x"], "x", eps: 1e-5),
            op("linear_1", .linear(in: "D_enc*s*s", out: "D_llm", bias: true), ["x"], "x"),
            op("act", .activation(.gelu), ["x"], "x"),
            op("linear_2", .linear(in: "D_llm", out: "D_llm", bias: true), ["x"], "out"),
        ],
        output: ValueDecl("out", ["N/(s*s)", "D_llm"], "LLM input embeddings"),
        schemes: [
            NamingScheme(.internvl, linearEntries("norm", "mlp1.0") + linearEntries("linear_1", "mlp1.1") + linearEntries("linear_2", "mlp1.3")),
            NamingScheme(.hf, transformersEntries("model.multi_modal_projector.")),
            NamingScheme(.hfLegacy, transformersEntries("multi_modal_projector.")),
            NamingScheme(.mmproj, linearEntries("norm", "mm.model.mlp.0") + linearEntries("linear_1", "mm.model.mlp.1")
                + linearEntries("linear_2", "mm.model.mlp.3")),
        ])

    /// transformers' `InternVLMultiModalProjector` under `prefix`.
    static func transformersEntries(_ prefix: String) -> [SchemeEntry] {
        linearEntries("norm", prefix + "layer_norm") + linearEntries("linear_1", prefix + "linear_1") + linearEntries("linear_2", prefix + "linear_2")
    }

    static let idefics3 = ConnectorGraph(.pixelShuffleMLP, "idefics3", name: "idefics3-connector",
        "Idefics3 / SmolVLM connector: pixel shuffle by scale_factor, one Linear without bias.",
        encoder: "SigLIP width", tokens: "patch tokens per image tile", dims: "s  merge  2  scale_factor (Idefics3 2, SmolVLM 3)",
        image: "encoder patch features",
        nodes: [
            op("shuffle", .pixelShuffle(factor: "s"), ["image"], "x"),
            op("proj", .linear(in: "D_enc*s*s", out: "D_llm", bias: false), ["x"], "out"),
        ],
        output: ValueDecl("out", ["N/(s*s)", "D_llm"], "LLM input embeddings"),
        schemes: [
            NamingScheme(.hf, [entry("proj.weight", "model.connector.modality_projection.proj.weight")]),
            NamingScheme(.mmproj, [entry("proj.weight", "mm.model.fc.weight")]),
        ])

    static let variants: [FamilyVariant] = [
        FamilyVariant(.pixelShuffleMLP, "internvl", graph: internvl, isDefault: true),
        FamilyVariant(.pixelShuffleMLP, "idefics3", graph: idefics3),
    ]
}

enum LDPFamily {
    static func block(_ b: Int, stride: Int) -> [GraphNode] {
        let p = "mb_block.\(b)"
        var nodes: [GraphNode] = [
            op("\(p).dw", .depthwiseConv(channels: "D_llm", kernel: 3, stride: stride, bias: false), ["x"], "y"),
            op("\(p).dw_norm", .layerNorm(dim: "D_llm", bias: true), ["y"], "y", eps: 1e-5),
            op("\(p).dw_act", .activation(.hardswish), ["y"], "y"),
            op("\(p).se", .squeezeExcite(channels: "D_llm", hidden: "D_llm/4"), ["y"], "y"),
            op("\(p).pw", .pointwiseConv(in: "D_llm", out: "D_llm", bias: false), ["y"], "y"),
            op("\(p).pw_norm", .layerNorm(dim: "D_llm", bias: true), ["y"], stride == 1 ? "y" : "x", eps: 1e-5),
        ]
        if stride == 1 { nodes.append(op("\(p).res", .residual(gated: false), ["x", "y"], "x")) }
        return nodes
    }

    static func blockEntries(_ b: Int, _ prefix: String, squeezed: Bool) -> [SchemeEntry] {
        let node = "mb_block.\(b)"
        let base = "\(prefix).mb_block.\(b).block."
        return [entry("\(node).dw.weight", base + "0.0.weight", squeezed: squeezed)]
            + linearEntries("\(node).dw_norm", base + "0.1")
            + entries("\(node).se", base + "1.", [("fc1.weight", "fc1.weight"), ("fc1.bias", "fc1.bias"),
                                                   ("fc2.weight", "fc2.weight"), ("fc2.bias", "fc2.bias")], squeezed: squeezed)
            + [entry("\(node).pw.weight", base + "2.0.weight", squeezed: squeezed)]
            + linearEntries("\(node).pw_norm", base + "2.1")
    }

    /// Both versions read the encoder through the same MLP, Linear-GELU-Linear, whose Linear layers
    /// are numbered by their place in an `nn.Sequential` starting at `first`.
    static func mlp(from first: Int) -> [GraphNode] {
        [op("mlp.\(first)", .linear(in: "D_enc", out: "D_llm", bias: true), ["image"], "x"),
         op("mlp.act", .activation(.gelu), ["x"], "x"),
         op("mlp.\(first + 2)", .linear(in: "D_llm", out: "D_llm", bias: true), ["x"], "x")]
    }

    static func mlpEntries(from first: Int, _ prefix: String) -> [SchemeEntry] {
        linearEntries("mlp.\(first)", "\(prefix).\(first)") + linearEntries("mlp.\(first + 2)", "\(prefix).\(first + 2)")
    }

    static func graph(_ variant: String, _ description: String, nodes: [GraphNode], output: ValueDecl, schemes: [NamingScheme]) -> ConnectorGraph {
        ConnectorGraph(.ldp, variant, name: "mobilevlm-\(variant)", description, encoder: "vision encoder width",
                       tokens: "patch tokens per image (24x24 for CLIP ViT-L/14-336)", image: "encoder patch features",
                       nodes: nodes, output: output, schemes: schemes)
    }

    static let ldp = graph("ldp",
        "MobileVLM LDP: Linear-GELU-Linear, then two MobileNetV3 inverted-residual blocks (depthwise conv, squeeze-excitation, pointwise conv), the second with stride 2.",
        nodes: mlp(from: 1) + block(1, stride: 1) + block(2, stride: 2),
        output: ValueDecl("x", ["N/4", "D_llm"], "LLM input embeddings"),
        schemes: [
            NamingScheme(.mobilevlm, mlpEntries(from: 1, "model.mm_projector.model.mlp")
                + blockEntries(1, "model.mm_projector.model", squeezed: false) + blockEntries(2, "model.mm_projector.model", squeezed: false)),
            NamingScheme(.mmproj, mlpEntries(from: 1, "mm.model.mlp") + blockEntries(1, "mm.model", squeezed: true) + blockEntries(2, "mm.model", squeezed: true)),
        ])

    static let ldpv2 = graph("ldpv2",
        "MobileVLM V2 LDPv2: Linear-GELU-Linear, 2-D average pooling to 12x12, depthwise-conv position encoding added back.",
        nodes: mlp(from: 0) + [
            op("pool", .pooling(kind: .average, stride: 2, grid: 12), ["x"], "x"),
            op("peg", .depthwiseConv(channels: "D_llm", kernel: 3, stride: 1, bias: true), ["x"], "p"),
            op("peg_res", .residual(gated: false), ["x", "p"], "out"),
        ],
        output: ValueDecl("out", [144, "D_llm"], "LLM input embeddings"),
        schemes: [
            NamingScheme(.mobilevlm, mlpEntries(from: 0, "model.mm_projector.mlp.mlp") + linearEntries("peg", "model.mm_projector.peg.peg.0")),
            NamingScheme(.mmproj, mlpEntries(from: 0, "mm.model.mlp")
                + [entry("peg.weight", "mm.model.peg.0.weight", squeezed: true), entry("peg.bias", "mm.model.peg.0.bias")]),
        ])

    static let variants: [FamilyVariant] = [
        FamilyVariant(.ldp, "ldp", graph: ldp, isDefault: true),
        FamilyVariant(.ldp, "ldpv2", graph: ldpv2),
    ]
}
