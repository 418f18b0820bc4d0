/// Presets for well-known vision encoders and LLMs: the widths a connector must fit, plus the token
/// count an encoder produces and the layer/FFN sizes some families need. Values are the published
/// `config.json` values of the named releases (`hf` lists the model ids; `validate` also recognises
/// them in a config's `mm_vision_tower` / `_name_or_path`).
public struct EncoderPreset: Sendable, Equatable {
    public var name: String
    public var width: Int
    public var imageSize: Int
    public var patchSize: Int
    /// The encoder output starts with a class token (CLIP, EVA, DINOv2, InternViT); SigLIP and
    /// Qwen's ViTs have none.
    public var classToken: Bool
    public var hf: [String]
    public var note: String

    public var patches: Int { (imageSize / patchSize) * (imageSize / patchSize) }

    /// Tokens the connector reads: patches, plus the class token for families that keep it.
    public func tokens(keepingClassToken: Bool) -> Int { patches + (keepingClassToken && classToken ? 1 : 0) }
}

public struct LLMPreset: Sendable, Equatable {
    public var name: String
    public var hidden: Int
    public var layers: Int
    public var ffn: Int
    public var hf: [String]
}

public enum Presets {
    public static let encoders: [EncoderPreset] = [
        EncoderPreset(name: "clip-vit-b-16", width: 768, imageSize: 224, patchSize: 16, classToken: true,
                      hf: ["openai/clip-vit-base-patch16"], note: "CLIP ViT-B/16"),
        EncoderPreset(name: "clip-vit-l-14", width: 1024, imageSize: 224, patchSize: 14, classToken: true,
                      hf: ["openai/clip-vit-large-patch14"], note: "CLIP ViT-L/14 at 224 px (LLaVA-1.0, OpenFlamingo)"),
        EncoderPreset(name: "clip-vit-l-14-336", width: 1024, imageSize: 336, patchSize: 14, classToken: true,
                      hf: ["openai/clip-vit-large-patch14-336"], note: "CLIP ViT-L/14 at 336 px (LLaVA-1.5/1.6, MobileVLM)"),
        EncoderPreset(name: "eva-clip-g", width: 1408, imageSize: 224, patchSize: 14, classToken: true,
                      hf: ["eva_vit_g"], note: "EVA-CLIP ViT-g/14, last block dropped (BLIP-2, InstructBLIP)"),
        EncoderPreset(name: "openclip-vit-h-14", width: 1280, imageSize: 224, patchSize: 14, classToken: true,
                      hf: ["laion/CLIP-ViT-H-14-laion2B-s32B-b79K"], note: "OpenCLIP ViT-H/14 (IDEFICS)"),
        EncoderPreset(name: "qwen-vl-vit-bigg-14", width: 1664, imageSize: 448, patchSize: 14, classToken: false,
                      hf: [], note: "Qwen-VL's ViT-bigG/14 at 448 px"),
        EncoderPreset(name: "siglip-base-patch16-224", width: 768, imageSize: 224, patchSize: 16, classToken: false,
                      hf: ["google/siglip-base-patch16-224"], note: "SigLIP base"),
        EncoderPreset(name: "siglip-so400m-patch14-384", width: 1152, imageSize: 384, patchSize: 14, classToken: false,
                      hf: ["google/siglip-so400m-patch14-384"], note: "SigLIP so400m at 384 px (LLaVA-OneVision, SmolVLM tiles)"),
        EncoderPreset(name: "siglip-so400m-patch14-364", width: 1152, imageSize: 364, patchSize: 14, classToken: false,
                      hf: [], note: "SigLIP so400m at 364 px (Idefics3 tiles: 26x26 patches)"),
        EncoderPreset(name: "siglip-so400m-patch14-980", width: 1152, imageSize: 980, patchSize: 14, classToken: false,
                      hf: [], note: "SigLIP so400m NaViT at 980 px (Idefics2, MiniCPM-V 2.5/2.6)"),
        EncoderPreset(name: "dinov2-large", width: 1024, imageSize: 224, patchSize: 14, classToken: true,
                      hf: ["facebook/dinov2-large"], note: "DINOv2 ViT-L/14"),
        EncoderPreset(name: "dinov2-giant", width: 1536, imageSize: 224, patchSize: 14, classToken: true,
                      hf: ["facebook/dinov2-giant"], note: "DINOv2 ViT-g/14"),
        EncoderPreset(name: "internvit-300m-448px", width: 1024, imageSize: 448, patchSize: 14, classToken: true,
                      hf: ["OpenGVLab/InternViT-300M-448px"], note: "InternViT-300M (InternVL2 1B-8B)"),
        EncoderPreset(name: "internvit-6b-448px", width: 3200, imageSize: 448, patchSize: 14, classToken: true,
                      hf: ["OpenGVLab/InternViT-6B-448px-V1-5"], note: "InternViT-6B (InternVL-Chat-V1-5, InternVL2 26B+)"),
        EncoderPreset(name: "qwen2-vl-vit", width: 1280, imageSize: 448, patchSize: 14, classToken: false,
                      hf: [], note: "Qwen2-VL / Qwen2.5-VL ViT (dynamic resolution; the preset assumes a 448x448 image)"),
    ]

    public static let llms: [LLMPreset] = [
        LLMPreset(name: "vicuna-7b", hidden: 4096, layers: 32, ffn: 11008, hf: ["lmsys/vicuna-7b-v1.5", "lmsys/vicuna-7b-v1.3"]),
        LLMPreset(name: "vicuna-13b", hidden: 5120, layers: 40, ffn: 13824, hf: ["lmsys/vicuna-13b-v1.5", "lmsys/vicuna-13b-v1.3"]),
        LLMPreset(name: "llama-2-7b", hidden: 4096, layers: 32, ffn: 11008, hf: ["meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-7b-chat-hf"]),
        LLMPreset(name: "llama-2-13b", hidden: 5120, layers: 40, ffn: 13824, hf: ["meta-llama/Llama-2-13b-hf", "meta-llama/Llama-2-13b-chat-hf"]),
        LLMPreset(name: "llama-2-70b", hidden: 8192, layers: 80, ffn: 28672, hf: ["meta-llama/Llama-2-70b-hf"]),
        LLMPreset(name: "llama-3-8b", hidden: 4096, layers: 32, ffn: 14336, hf: ["meta-llama/Meta-Llama-3-8B", "meta-llama/Meta-Llama-3-8B-Instruct"]),
        LLMPreset(name: "llama-3-70b", hidden: 8192, layers: 80, ffn: 28672, hf: ["meta-llama/Meta-Llama-3-70B"]),
        LLMPreset(name: "mistral-7b", hidden: 4096, layers: 32, ffn: 14336, hf: ["mistralai/Mistral-7B-v0.1", "mistralai/Mistral-7B-Instruct-v0.2"]),
        LLMPreset(name: "qwen-7b", hidden: 4096, layers: 32, ffn: 11008, hf: ["Qwen/Qwen-7B"]),
        LLMPreset(name: "qwen2-0.5b", hidden: 896, layers: 24, ffn: 4864, hf: ["Qwen/Qwen2-0.5B", "Qwen/Qwen2-0.5B-Instruct"]),
        LLMPreset(name: "qwen2-1.5b", hidden: 1536, layers: 28, ffn: 8960, hf: ["Qwen/Qwen2-1.5B", "Qwen/Qwen2-1.5B-Instruct"]),
        LLMPreset(name: "qwen2-7b", hidden: 3584, layers: 28, ffn: 18944, hf: ["Qwen/Qwen2-7B", "Qwen/Qwen2-7B-Instruct"]),
        LLMPreset(name: "qwen2-72b", hidden: 8192, layers: 80, ffn: 29568, hf: ["Qwen/Qwen2-72B"]),
        LLMPreset(name: "qwen2.5-3b", hidden: 2048, layers: 36, ffn: 11008, hf: ["Qwen/Qwen2.5-3B", "Qwen/Qwen2.5-3B-Instruct"]),
        LLMPreset(name: "qwen2.5-7b", hidden: 3584, layers: 28, ffn: 18944, hf: ["Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-7B-Instruct"]),
        LLMPreset(name: "phi-2", hidden: 2560, layers: 32, ffn: 10240, hf: ["microsoft/phi-2"]),
        LLMPreset(name: "phi-3-mini", hidden: 3072, layers: 32, ffn: 8192, hf: ["microsoft/Phi-3-mini-4k-instruct", "microsoft/Phi-3-mini-128k-instruct"]),
        LLMPreset(name: "gemma-2b", hidden: 2048, layers: 18, ffn: 16384, hf: ["google/gemma-2b"]),
        LLMPreset(name: "gemma-7b", hidden: 3072, layers: 28, ffn: 24576, hf: ["google/gemma-7b"]),
        LLMPreset(name: "opt-2.7b", hidden: 2560, layers: 32, ffn: 10240, hf: ["facebook/opt-2.7b"]),
        LLMPreset(name: "opt-6.7b", hidden: 4096, layers: 32, ffn: 16384, hf: ["facebook/opt-6.7b"]),
        LLMPreset(name: "flan-t5-xl", hidden: 2048, layers: 24, ffn: 5120, hf: ["google/flan-t5-xl"]),
        LLMPreset(name: "flan-t5-xxl", hidden: 4096, layers: 24, ffn: 10240, hf: ["google/flan-t5-xxl"]),
        LLMPreset(name: "minicpm-2.4b", hidden: 2304, layers: 40, ffn: 5760, hf: ["openbmb/MiniCPM-2B-sft-bf16"]),
        LLMPreset(name: "internlm2-1.8b", hidden: 2048, layers: 24, ffn: 8192, hf: ["internlm/internlm2-chat-1_8b"]),
        LLMPreset(name: "internlm2.5-7b", hidden: 4096, layers: 32, ffn: 14336, hf: ["internlm/internlm2_5-7b-chat"]),
        LLMPreset(name: "internlm2-20b", hidden: 6144, layers: 48, ffn: 16384, hf: ["internlm/internlm2-chat-20b"]),
        LLMPreset(name: "yi-6b", hidden: 4096, layers: 32, ffn: 11008, hf: ["01-ai/Yi-6B"]),
        LLMPreset(name: "yi-34b", hidden: 7168, layers: 60, ffn: 20480, hf: ["01-ai/Yi-34B", "NousResearch/Nous-Hermes-2-Yi-34B"]),
        LLMPreset(name: "mpt-1b", hidden: 2048, layers: 24, ffn: 8192, hf: ["anas-awadalla/mpt-1b-redpajama-200b"]),
        LLMPreset(name: "mpt-7b", hidden: 4096, layers: 32, ffn: 16384, hf: ["mosaicml/mpt-7b"]),
        LLMPreset(name: "redpajama-3b", hidden: 2560, layers: 32, ffn: 10240, hf: ["togethercomputer/RedPajama-INCITE-Base-3B-v1"]),
        LLMPreset(name: "mobilellama-1.4b", hidden: 2048, layers: 24, ffn: 5632, hf: ["mtgv/MobileLLaMA-1.4B-Chat"]),
        LLMPreset(name: "mobilellama-2.7b", hidden: 2560, layers: 32, ffn: 6912, hf: ["mtgv/MobileLLaMA-2.7B-Chat"]),
    ]

    public static func encoder(named name: String) -> EncoderPreset? {
        let key = name.lowercased()
        return encoders.first { $0.name == key || $0.hf.contains { $0.lowercased() == key } }
    }

    public static func llm(named name: String) -> LLMPreset? {
        let key = name.lowercased()
        return llms.first { $0.name == key || $0.hf.contains { $0.lowercased() == key } }
    }

    /// Claims an encoder preset makes for a family (the token count depends on whether the family
    /// keeps the class token).
    public static func claims(encoder preset: EncoderPreset, keepsClassToken: Bool, source: DimensionSource) -> [DimensionClaim] {
        [DimensionClaim(key: "encoder", value: preset.width, source: source),
         DimensionClaim(key: "tokens", value: preset.tokens(keepingClassToken: keepsClassToken), source: source)]
    }

    public static func claims(llm preset: LLMPreset, source: DimensionSource) -> [DimensionClaim] {
        [DimensionClaim(key: "llm", value: preset.hidden, source: source),
         DimensionClaim(key: "llm_layers", value: preset.layers, source: source),
         DimensionClaim(key: "llm_ffn", value: preset.ffn, source: source)]
    }
}
