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
    /// The encoder presets. Columns: name, width, image size, patch size, whether the output starts
    /// with a class token, Hugging Face ids (`-`: none), and after `|` a note.
    public static let encoders: [EncoderPreset] = rows(encoderTable).map { row in
        EncoderPreset(name: row.fields[0], width: row.integer(1), imageSize: row.integer(2), patchSize: row.integer(3),
                      classToken: row.fields[4] == "yes", hf: row.list(from: 5), note: row.note)
    }

    private static let encoderTable = """
        clip-vit-b-16                768   224    16  yes   openai/clip-vit-base-patch16          | CLIP ViT-B/16
        clip-vit-l-14               1024   224    14  yes   openai/clip-vit-large-patch14         | CLIP ViT-L/14 at 224 px (LLaVA-1.0, OpenFlamingo)
        clip-vit-l-14-336           1024   336    14  yes   openai/clip-vit-large-patch14-336     | CLIP ViT-L/14 at 336 px (LLaVA-1.5/1.6, MobileVLM)
        eva-clip-g                  1408   224    14  yes   eva_vit_g                             | EVA-CLIP ViT-g/14, last block dropped (BLIP-2, InstructBLIP)
        openclip-vit-h-14           1280   224    14  yes   laion/CLIP-ViT-H-14-laion2B-s32B-b79K | OpenCLIP ViT-H/14 (IDEFICS)
        qwen-vl-vit-bigg-14         1664   448    14  no    -                                     | Qwen-VL's ViT-bigG/14 at 448 px
        siglip-base-patch16-224      768   224    16  no    google/siglip-base-patch16-224        | SigLIP base
        siglip-so400m-patch14-384   1152   384    14  no    google/siglip-so400m-patch14-384      | SigLIP so400m at 384 px (LLaVA-OneVision, SmolVLM tiles)
        siglip-so400m-patch14-364   1152   364    14  no    -                                     | SigLIP so400m at 364 px (Idefics3 tiles: 26x26 patches)
        siglip-so400m-patch14-980   1152   980    14  no    -                                     | SigLIP so400m NaViT at 980 px (Idefics2, MiniCPM-V 2.5/2.6)
        dinov2-large                1024   224    14  yes   facebook/dinov2-large                 | DINOv2 ViT-L/14
        dinov2-giant                1536   224    14  yes   facebook/dinov2-giant                 | DINOv2 ViT-g/14
        internvit-300m-448px        1024   448    14  yes   OpenGVLab/InternViT-300M-448px        | InternViT-300M (InternVL2 1B-8B)
        internvit-6b-448px          3200   448    14  yes   OpenGVLab/InternViT-6B-448px-V1-5     | InternViT-6B (InternVL-Chat-V1-5, InternVL2 26B+)
        qwen2-vl-vit                1280   448    14  no    -                                     | Qwen2-VL / Qwen2.5-VL ViT (dynamic resolution; the preset assumes a 448x448 image)
        """

    /// The LLM presets. Columns: name, hidden size, layers, feed-forward width, Hugging Face ids.
    public static let llms: [LLMPreset] = rows(llmTable).map { row in
        LLMPreset(name: row.fields[0], hidden: row.integer(1), layers: row.integer(2), ffn: row.integer(3), hf: row.list(from: 4))
    }

    private static let llmTable = """
        vicuna-7b            4096     32  11008  lmsys/vicuna-7b-v1.5 lmsys/vicuna-7b-v1.3
        vicuna-13b           5120     40  13824  lmsys/vicuna-13b-v1.5 lmsys/vicuna-13b-v1.3
        llama-2-7b           4096     32  11008  meta-llama/Llama-2-7b-hf meta-llama/Llama-2-7b-chat-hf
        llama-2-13b          5120     40  13824  meta-llama/Llama-2-13b-hf meta-llama/Llama-2-13b-chat-hf
        llama-2-70b          8192     80  28672  meta-llama/Llama-2-70b-hf
        llama-3-8b           4096     32  14336  meta-llama/Meta-Llama-3-8B meta-llama/Meta-Llama-3-8B-Instruct
        llama-3-70b          8192     80  28672  meta-llama/Meta-Llama-3-70B
        mistral-7b           4096     32  14336  mistralai/Mistral-7B-v0.1 mistralai/Mistral-7B-Instruct-v0.2
        qwen-7b              4096     32  11008  Qwen/Qwen-7B
        qwen2-0.5b            896     24   4864  Qwen/Qwen2-0.5B Qwen/Qwen2-0.5B-Instruct
        qwen2-1.5b           1536     28   8960  Qwen/Qwen2-1.5B Qwen/Qwen2-1.5B-Instruct
        qwen2-7b             3584     28  18944  Qwen/Qwen2-7B Qwen/Qwen2-7B-Instruct
        qwen2-72b            8192     80  29568  Qwen/Qwen2-72B
        qwen2.5-3b           2048     36  11008  Qwen/Qwen2.5-3B Qwen/Qwen2.5-3B-Instruct
        qwen2.5-7b           3584     28  18944  Qwen/Qwen2.5-7B Qwen/Qwen2.5-7B-Instruct
        phi-2                2560     32  10240  microsoft/phi-2
        phi-3-mini           3072     32   8192  microsoft/Phi-3-mini-4k-instruct microsoft/Phi-3-mini-128k-instruct
        gemma-2b             2048     18  16384  google/gemma-2b
        gemma-7b             3072     28  24576  google/gemma-7b
        opt-2.7b             2560     32  10240  facebook/opt-2.7b
        opt-6.7b             4096     32  16384  facebook/opt-6.7b
        flan-t5-xl           2048     24   5120  google/flan-t5-xl
        flan-t5-xxl          4096     24  10240  google/flan-t5-xxl
        minicpm-2.4b         2304     40   5760  openbmb/MiniCPM-2B-sft-bf16
        internlm2-1.8b       2048     24   8192  internlm/internlm2-chat-1_8b
        internlm2.5-7b       4096     32  14336  internlm/internlm2_5-7b-chat
        internlm2-20b        6144     48  16384  internlm/internlm2-chat-20b
        yi-6b                4096     32  11008  01-ai/Yi-6B
        yi-34b               7168     60  20480  01-ai/Yi-34B NousResearch/Nous-Hermes-2-Yi-34B
        mpt-1b               2048     24   8192  anas-awadalla/mpt-1b-redpajama-200b
        mpt-7b               4096     32  16384  mosaicml/mpt-7b
        redpajama-3b         2560     32  10240  togethercomputer/RedPajama-INCITE-Base-3B-v1
        mobilellama-1.4b     2048     24   5632  mtgv/MobileLLaMA-1.4B-Chat
        mobilellama-2.7b     2560     32   6912  mtgv/MobileLLaMA-2.7B-Chat
        """

    /// A table row: whitespace-separated fields, then an optional note after `|`.
    private struct Row {
        var fields: [String]
        var note: String

        func integer(_ column: Int) -> Int {
            guard let value = Int(fields[column]) else { preconditionFailure("preset \(fields[0]): column \(column) is not an integer") }
            return value
        }

        /// The fields from `column` on (`-` alone: none).
        func list(from column: Int) -> [String] { fields[column...] == ["-"] ? [] : Array(fields[column...]) }
    }

    /// The rows of a table written in this file (a malformed one is a programming error).
    private static func rows(_ table: String) -> [Row] {
        table.split(separator: "\n").map { line in
            let parts = line.split(separator: "|", maxSplits: 1)
            let fields = parts[0].split(separator: " ").map(String.init)
            precondition(fields.count >= 4, "malformed preset row: \(line)")
            return Row(fields: fields, note: parts.count > 1 ? String(parts[1].drop { $0 == " " }) : "")
        }
    }

    public static func encoder(named name: String) -> EncoderPreset? { find(name, in: encoders, names: { [$0.name] + $0.hf }) }

    public static func llm(named name: String) -> LLMPreset? { find(name, in: llms, names: { [$0.name] + $0.hf }) }

    /// The preset called `name` (its own name, or one of its Hugging Face ids in any case).
    private static func find<Preset>(_ name: String, in presets: [Preset], names: (Preset) -> [String]) -> Preset? {
        let key = name.lowercased()
        return presets.first { names($0).contains { $0.lowercased() == key } }
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
