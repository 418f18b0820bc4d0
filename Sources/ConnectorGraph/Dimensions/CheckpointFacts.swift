import TensorFormats

/// What an mmproj GGUF's metadata says (llama.cpp `clip-impl.h` keys): the projector type, and
/// advisory dimension values (the tensor shapes win over them).
public struct MmprojFacts: Sendable {
    public var isMmproj: Bool
    /// `clip.projector_type` (or `clip.vision.projector_type`), nil when absent or empty.
    public var projectorType: String?
    public var claims: [DimensionClaim]
    public var minicpmvVersion: String?

    /// Every `clip.projector_type` value llama.cpp knows (`PROJECTOR_TYPE_NAMES` in
    /// `tools/mtmd/clip-impl.h`, plus gguf-py's `VisionProjectorType`); the set grows with llama.cpp.
    public static let knownProjectorTypes: Set<String> = [
        "mlp", "ldp", "ldpv2", "resampler", "adapter", "qwen2vl_merger", "qwen2.5vl_merger", "qwen3vl_merger", "step3vl",
        "gemma3", "gemma3nv", "gemma3na", "gemma4v", "gemma4a", "phi4", "idefics3", "pixtral", "ultravox", "internvl", "llama4",
        "qwen2a", "qwen3a", "glma", "qwen2.5o", "voxtral", "meralion", "musicflamingo", "lfm2", "kimivl", "paddleocr", "lightonocr",
        "cogvlm", "janus_pro", "dots_ocr", "deepseekocr", "lfm2a", "glm4v", "youtuvl", "yasa2", "kimik25", "nemotron_v2_vl",
        "hunyuanocr", "hunyuanvl", "parakeet", "gemma4uv", "gemma4ua", "exaone4_5", "deepseekocr2", "qwen3tts_spkenc",
        "qwen3tts_gen", "minimax_m3", "minicpmv4_6", "granite_speech", "mimovl", "mimo_audio", "granite4_vision", "muse-glimmer",
    ]

    /// The `clip.projector_type` llama.cpp uses for a built-in variant (nil: llama.cpp has none).
    public static func projectorType(for family: Family, variant: String) -> String? {
        switch (family, variant) {
        case (.mlp, _): "mlp"
        case (.ldp, "ldp"): "ldp"
        case (.ldp, "ldpv2"): "ldpv2"
        case (.attentionResampler, let v) where v.hasPrefix("minicpmv"): "resampler"
        case (.patchMerger, "qwen2-vl"): "qwen2vl_merger"
        case (.patchMerger, "qwen2.5-vl"): "qwen2.5vl_merger"
        case (.pixelShuffleMLP, "idefics3"): "idefics3"
        case (.pixelShuffleMLP, "internvl"): "internvl"
        default: nil
        }
    }

    static func hint(forProjectorType type: String) -> KindHint? {
        let evidence = "clip.projector_type \"\(type)\""
        switch type {
        case "mlp": return KindHint(family: .mlp, variant: nil, evidence: evidence, fromProjectorType: true)
        case "ldp": return KindHint(family: .ldp, variant: "ldp", evidence: evidence, fromProjectorType: true)
        case "ldpv2": return KindHint(family: .ldp, variant: "ldpv2", evidence: evidence, fromProjectorType: true)
        case "resampler": return KindHint(family: .attentionResampler, variant: "minicpmv", evidence: evidence, fromProjectorType: true)
        case "qwen2vl_merger": return KindHint(family: .patchMerger, variant: "qwen2-vl", evidence: evidence, fromProjectorType: true)
        case "qwen2.5vl_merger": return KindHint(family: .patchMerger, variant: "qwen2.5-vl", evidence: evidence, fromProjectorType: true)
        case "idefics3": return KindHint(family: .pixelShuffleMLP, variant: "idefics3", evidence: evidence, fromProjectorType: true)
        case "internvl": return KindHint(family: .pixelShuffleMLP, variant: "internvl", evidence: evidence, fromProjectorType: true)
        default: return nil
        }
    }

    public var hint: KindHint? { projectorType.flatMap(MmprojFacts.hint(forProjectorType:)) }

    public init(metadata: [MetadataEntry], format: FileFormat) {
        let architecture = metadata["general.architecture"]?.stringValue
        isMmproj = format == .gguf && (architecture == "clip" || metadata.contains { $0.key.hasPrefix("clip.") })
        claims = []
        minicpmvVersion = nil
        projectorType = nil
        guard isMmproj else { return }
        for key in ["clip.projector_type", "clip.vision.projector_type"] {
            if let value = metadata[key]?.stringValue, !value.isEmpty {
                projectorType = value
                break
            }
        }
        func claim(_ dimension: String, _ key: String) {
            if let value = metadata[key]?.intValue, value > 0 {
                claims.append(DimensionClaim(key: dimension, value: value, source: .ggufMetadata(key: key)))
            }
        }
        claim("encoder", "clip.vision.embedding_length")
        claim("merge", "clip.vision.projector.scale_factor")
        claim("merge", "clip.vision.spatial_merge_size")
        claim("queries", "clip.minicpmv_query_num")
        // projection_dim is the LLM width only where the converter wrote it so: the current
        // convert_hf_to_gguf.py (general.type "mmproj") and qwen2_vl_surgery.py; the legacy LLaVA converter
        // writes CLIP's own projection_dim (768) there.
        if metadata["general.type"]?.stringValue == "mmproj" || projectorType == "qwen2vl_merger" {
            claim("llm", "clip.vision.projection_dim")
        }
        if let version = metadata["clip.minicpmv_version"]?.intValue { minicpmvVersion = String(version) }
    }
}

public enum LLMWidth {
    /// Tensor-name endings of token-embedding tables of the LLM families connectors join.
    static let embeddingSuffixes = ["embed_tokens.weight", "tok_embeddings.weight", "wte.weight", "embed_in.weight",
                                    "token_embd.weight", "shared.weight"]

    /// The LLM hidden size a checkpoint shows: GGUF `<arch>.embedding_length`, else the width of its
    /// token-embedding table. Nil when none is found or two disagree (`excluding`: connector tensors).
    public static func find(in checkpoint: Checkpoint, excluding: Set<String> = []) -> DimensionClaim? {
        for entry in checkpoint.metadata where entry.key.hasSuffix(".embedding_length") && !entry.key.hasPrefix("clip.") {
            if let value = entry.value.intValue, value > 0 {
                return DimensionClaim(key: "llm", value: value, source: .llmCheckpoint(path: checkpoint.path, detail: "\(entry.key) = \(value)"))
            }
        }
        var widths: [(Int, String)] = []
        for tensor in checkpoint.tensors where !excluding.contains(tensor.name) && tensor.shape.count == 2 {
            let name = tensor.name
            guard embeddingSuffixes.contains(where: { name == $0 || name.hasSuffix("." + $0) }) else { continue }
            // Not a text tower or Q-Former vocabulary of the vision side.
            if ["qformer", "Qformer", "text_model", "vision", "visual"].contains(where: { name.contains($0) }) { continue }
            if name.hasSuffix("additional_embedding.weight") { continue }
            widths.append((tensor.shape[1], "\(name) \(shapeText(tensor.shape))"))
        }
        guard let first = widths.first, widths.allSatisfy({ $0.0 == first.0 }) else { return nil }
        return DimensionClaim(key: "llm", value: first.0, source: .llmCheckpoint(path: checkpoint.path, detail: first.1))
    }
}
