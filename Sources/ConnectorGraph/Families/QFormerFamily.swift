/// `qformer`: BLIP-2 and InstructBLIP.
///
/// Structure and HF names: transformers `Blip2QFormerModel` / `InstructBlipQFormerModel` (checked by the
/// meta-device dumps in Tests/Fixtures/graph). BERT post-norm layers: self-attention, a cross-attention
/// to the image on layers where `i % cross_attention_frequency == 0`, and a query feed-forward
/// (`intermediate_query`/`output_query`); InstructBLIP keeps the text path (word and position
/// embeddings, `intermediate`/`output`), BLIP-2's LLM checkpoints drop it. LAVIS names are the HF
/// converters' rename rules reversed (`convert_blip_2_original_to_pytorch.py`: `Qformer.bert` →
/// `qformer`, `attention.self` → `attention.attention`, `opt_proj` → `language_projection`,
/// `Qformer.bert.embeddings.LayerNorm` → `qformer.layernorm`); the projection is `opt_proj`,
/// `t5_proj` or `llm_proj` depending on the LLM (LAVIS `blip2_opt.py`, `blip2_t5.py`,
/// `blip2_vicuna_instruct.py`).
enum QFormerFamily {
    /// BERT's LayerNorm epsilon (`Blip2QFormerConfig.layer_norm_eps`).
    static let qformerEps = 1e-12

    static let qformerDims = """
        H      hidden        768  Q-Former width
        L      layers         12  Q-Former layers
        heads  heads          12  attention heads
        I      ffn          3072  feed-forward width
        Q      queries        32  learned query tokens
        X      cross_every     2  a cross-attention layer every X layers
        """
    static let textDims = """
        V  vocab      30523  Q-Former text vocabulary (BERT + [DEC])
        P  positions    512  Q-Former text positions
        T  -              -  instruction tokens fed to the text path
        """

    static func layerNodes(text: Bool) -> [GraphNode] {
        let attention = Operation.attention(.init(kind: .self, dim: "H", heads: "heads", headDim: "H/heads", bias: true))
        let cross = Operation.attention(.init(kind: .cross, dim: "H", contextDim: "D_enc", heads: "heads", headDim: "H/heads", bias: true))
        let ffn = Operation.feedForward(.init(in: "H", hidden: "I", activation: .gelu, gated: false, bias: true))
        let crossLayer = Condition(index: "i", every: "X", phase: 0)
        var body: [GraphNode] = [
            op("layers.{i}.attn", attention, ["q"], "a"),
            op("layers.{i}.attn_res", .residual(gated: false), ["q", "a"], "q"),
            op("layers.{i}.attn_norm", .layerNorm(dim: "H", bias: true), ["q"], "q", eps: qformerEps),
            op("layers.{i}.xattn", cross, ["q", "image"], "a", when: crossLayer),
            op("layers.{i}.xattn_res", .residual(gated: false), ["q", "a"], "q", when: crossLayer),
            op("layers.{i}.xattn_norm", .layerNorm(dim: "H", bias: true), ["q"], "q", when: crossLayer, eps: qformerEps),
            op("layers.{i}.ffn", ffn, ["q"], "f"),
            op("layers.{i}.ffn_res", .residual(gated: false), ["q", "f"], "q"),
            op("layers.{i}.ffn_norm", .layerNorm(dim: "H", bias: true), ["q"], "q", eps: qformerEps),
        ]
        if text {
            body += [
                op("layers.{i}.text_ffn", ffn, ["t"], "g", site: .text),
                op("layers.{i}.text_ffn_res", .residual(gated: false), ["t", "g"], "t", site: .text),
                op("layers.{i}.text_ffn_norm", .layerNorm(dim: "H", bias: true), ["t"], "t", site: .text, eps: qformerEps),
            ]
        }
        return body
    }

    static func graph(text: Bool) -> ConnectorGraph {
        var nodes: [GraphNode] = [op("query_tokens", .learnedQueries(count: "Q", dim: "H", leadingUnit: true), [], "q")]
        if text {
            nodes += [
                op("word_embeddings", .embedding(vocab: "V", dim: "H"), ["instruction"], "t", site: .text),
                op("position_embeddings", .positionEmbedding(count: "P", dim: "H", layout: .sequence), ["t"], "t", site: .text),
            ]
        }
        nodes += [
            op("embed_norm", .layerNorm(dim: "H", bias: true), ["q"], "q", eps: qformerEps),
            loop("layers", "i", "L", layerNodes(text: text)),
            op("proj", .linear(in: "H", out: "D_llm", bias: true), ["q"], "out"),
        ]
        return ConnectorGraph(
            .qformer, text ? "instructblip" : "blip2", name: text ? "instructblip-qformer" : "blip2-qformer",
            text ? "InstructBLIP Q-Former: BLIP-2's Q-Former with its text path kept (the instruction is fed to it)."
                : "BLIP-2 Q-Former: 32 learned queries, BERT-base layers, cross-attention to the image every other layer, projection to the LLM.",
            encoder: "vision encoder width (EVA-CLIP-g: 1408)", llm: "LLM hidden size (d_model for T5)",
            tokens: "encoder tokens per image, class token included", dims: qformerDims + (text ? "\n" + textDims : ""),
            image: "encoder features", inputs: text ? [ValueDecl("instruction", ["T", 1], "instruction token ids")] : [],
            nodes: nodes,
            output: ValueDecl("out", ["Q", "D_llm"], "soft prompt for the LLM"),
            constraints: [Constraint(.divisible, "H", "heads", code: "heads-indivisible", message: "the Q-Former width must be a multiple of its heads")],
            schemes: schemes(text: text))
    }

    static func layerEntries(_ prefix: String, selfName: String, text: Bool) -> [SchemeEntry] {
        func attention(_ node: String, _ module: String) -> [SchemeEntry] {
            entries(node, "\(prefix){i}.\(module).", [
                ("q.weight", "\(selfName).query.weight"), ("q.bias", "\(selfName).query.bias"),
                ("k.weight", "\(selfName).key.weight"), ("k.bias", "\(selfName).key.bias"),
                ("v.weight", "\(selfName).value.weight"), ("v.bias", "\(selfName).value.bias"),
                ("out.weight", "output.dense.weight"), ("out.bias", "output.dense.bias"),
            ])
        }
        var result = attention("layers.{i}.attn", "attention") + linearEntries("layers.{i}.attn_norm", "\(prefix){i}.attention.output.LayerNorm")
            + attention("layers.{i}.xattn", "crossattention") + linearEntries("layers.{i}.xattn_norm", "\(prefix){i}.crossattention.output.LayerNorm")
            + entries("layers.{i}.ffn", "\(prefix){i}.", [
                ("up.weight", "intermediate_query.dense.weight"), ("up.bias", "intermediate_query.dense.bias"),
                ("down.weight", "output_query.dense.weight"), ("down.bias", "output_query.dense.bias"),
            ])
            + linearEntries("layers.{i}.ffn_norm", "\(prefix){i}.output_query.LayerNorm")
        if text {
            result += entries("layers.{i}.text_ffn", "\(prefix){i}.", [
                ("up.weight", "intermediate.dense.weight"), ("up.bias", "intermediate.dense.bias"),
                ("down.weight", "output.dense.weight"), ("down.bias", "output.dense.bias"),
            ]) + linearEntries("layers.{i}.text_ffn_norm", "\(prefix){i}.output.LayerNorm")
        }
        return result
    }

    /// LAVIS names the projection after the LLM (`opt_proj`, `t5_proj`, `llm_proj`); the first is the
    /// name written: BLIP-2's OPT models' for BLIP-2, the Vicuna models' for InstructBLIP.
    static func projectionEntries(first: String) -> [SchemeEntry] {
        let names = [first] + ["opt_proj", "t5_proj", "llm_proj"].filter { $0 != first }
        return ["weight", "bias"].map { slot in
            entry("proj.\(slot)", "\(names[0]).\(slot)", aliases: names.dropFirst().map { "\($0).\(slot)" })
        }
    }

    static func schemes(text: Bool) -> [NamingScheme] {
        let hfEmbeddingNorm = text ? "qformer.embeddings.layernorm" : "qformer.layernorm"
        var hf = [entry("query_tokens.queries", "query_tokens")] + linearEntries("embed_norm", hfEmbeddingNorm)
            + layerEntries("qformer.encoder.layer.", selfName: "attention", text: text) + linearEntries("proj", "language_projection")
        var lavis = [entry("query_tokens.queries", "query_tokens")] + linearEntries("embed_norm", "Qformer.bert.embeddings.LayerNorm")
            + layerEntries("Qformer.bert.encoder.layer.", selfName: "self", text: text)
            + projectionEntries(first: text ? "llm_proj" : "opt_proj")
        if text {
            hf += [entry("word_embeddings.weight", "qformer.embeddings.word_embeddings.weight"),
                   entry("position_embeddings.table", "qformer.embeddings.position_embeddings.weight")]
            lavis += [entry("word_embeddings.weight", "Qformer.bert.embeddings.word_embeddings.weight"),
                      entry("position_embeddings.table", "Qformer.bert.embeddings.position_embeddings.weight")]
        }
        return [
            NamingScheme(.hf, hf, ignored: ["qformer.embeddings.position_ids"]),
            NamingScheme(.lavis, lavis, ignored: ["Qformer.bert.embeddings.position_ids"]),
        ]
    }

    static let variants: [FamilyVariant] = [
        FamilyVariant(.qformer, "blip2", graph: graph(text: false), keepsClassToken: true, isDefault: true),
        FamilyVariant(.qformer, "instructblip", graph: graph(text: true), keepsClassToken: true),
    ]
}
