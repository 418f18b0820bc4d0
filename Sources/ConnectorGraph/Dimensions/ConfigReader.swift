import TensorFormats

/// What a model's `config.json` says about its connector: dimension claims (each with the key path it
/// came from), the connector kind it declares, and the facts that need the family to interpret (token
/// counts).
///
/// Handles the key variants of the families' configs: original LLaVA/MobileVLM/Yi-VL (flat LLaMA
/// config with `mm_hidden_size`, `mm_projector_type` — absent means `linear`), transformers' nested
/// `vision_config`/`text_config` (a sub-config key left out means that class's default, as
/// transformers 4.x `save_pretrained` wrote only non-default values), T5's `d_model`, InternVL's
/// `llm_config`, Qwen2-VL's `vision_config.hidden_size` (the LLM width; the ViT width is `embed_dim`),
/// Qwen2.5-VL's `out_hidden_size`, IDEFICS's flattened `vision_embed_dim`/`resampler_*`, Qwen-VL's
/// `visual`, MiniCPM-V's `query_num`/`version`.
public struct ConfigFacts: Sendable {
    public var file: String
    public var modelType: String?
    public var hint: KindHint?
    /// Claims independent of the family.
    public var claims: [DimensionClaim]
    /// Patch tokens of the encoder and whether it has a class token (the family decides whether the
    /// connector sees it); nil when the config does not say.
    public var patchTokens: (count: Int, source: DimensionSource, classToken: Bool)?
    /// A token count stated outright (`image_seq_length`), used as is.
    public var statedTokens: DimensionClaim?
    public var minicpmvVersion: String?
    /// Node attributes the config sets: norm epsilons of the connector's own sub-config, a pixel
    /// shuffle's order.
    public var attributes = ConfiguredAttributes()
    /// Things worth telling the user (a declared quantization, a vision tower by name…).
    public var notes: [Diagnostic]

    /// Claims for one family variant: the general ones plus the token count it implies.
    public func claims(for variant: FamilyVariant?) -> [DimensionClaim] {
        var result = claims
        if let statedTokens {
            result.append(statedTokens)
        } else if let patchTokens {
            let keep = variant?.keepsClassToken ?? false
            result.append(DimensionClaim(key: "tokens", value: patchTokens.count + (keep && patchTokens.classToken ? 1 : 0),
                                         source: patchTokens.source))
        }
        return result
    }
}

public enum ConfigReader {
    /// Reads and interprets a config.json file.
    public static func read(path: String) throws -> ConfigFacts {
        let file = try MappedFile(path: path)
        let value: JSONValue
        do { value = try file.withBytes { try JSONValue.parse($0) } } catch let error as JSONParseError {
            throw FormatError(.invalidJSON("\(error)"), file: path)
        }
        guard case .object = value else { throw FormatError(.invalidJSON("expected an object at the top level"), file: path) }
        return interpret(value, file: path)
    }

    /// transformers class defaults for the keys connkit reads, per sub-config `model_type` (values of
    /// the `__init__` defaults, checked against transformers by Tests/Fixtures/graph/dump_meta_models.py).
    /// `type@path` entries are for sub-configs that share their parent's `model_type` in transformers
    /// 4.x (Qwen2-VL's `vision_config` says `qwen2_vl`, IDEFICS's sub-configs say `idefics`).
    static let classDefaults: [String: [String: Int]] = [
        "qwen2_vl@vision_config": ["embed_dim": 1280, "hidden_size": 3584, "spatial_merge_size": 2],
        "qwen2_vl_vision": ["embed_dim": 1280, "hidden_size": 3584, "spatial_merge_size": 2],
        "qwen2_5_vl@vision_config": ["hidden_size": 3584, "out_hidden_size": 3584, "spatial_merge_size": 2],
        "qwen2_5_vl_vision": ["hidden_size": 3584, "out_hidden_size": 3584, "spatial_merge_size": 2],
        "idefics@perceiver_config": ["resampler_n_latents": 64, "resampler_depth": 6, "resampler_n_heads": 16, "resampler_head_dim": 96],
        "idefics@vision_config": ["embed_dim": 768, "image_size": 224, "patch_size": 14],
        "llama": ["hidden_size": 4096, "num_hidden_layers": 32, "intermediate_size": 11008],
        "mistral": ["hidden_size": 4096, "num_hidden_layers": 32, "intermediate_size": 14336],
        "qwen2": ["hidden_size": 4096, "num_hidden_layers": 32, "intermediate_size": 22016],
        "opt": ["hidden_size": 768, "num_hidden_layers": 12, "ffn_dim": 3072],
        "t5": ["d_model": 512, "num_layers": 6, "d_ff": 2048],
        "clip_vision_model": ["hidden_size": 768, "image_size": 224, "patch_size": 32],
        "siglip_vision_model": ["hidden_size": 768, "image_size": 224, "patch_size": 16],
        "blip_2_vision_model": ["hidden_size": 1408, "image_size": 224, "patch_size": 14],
        "instructblip_vision_model": ["hidden_size": 1408, "image_size": 224, "patch_size": 14],
        "blip_2_qformer": ["hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
                           "cross_attention_frequency": 2, "encoder_hidden_size": 1408, "vocab_size": 30522],
        "instructblip_qformer": ["hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
                                 "cross_attention_frequency": 2, "encoder_hidden_size": 1408, "vocab_size": 30522],
    ]

    /// The sub-config a composite config uses when the file leaves it out entirely.
    static let defaultSubConfigs: [String: [String: (modelType: String, overrides: [String: Int])]] = [
        "llava": ["vision_config": ("clip_vision_model", ["hidden_size": 1024, "image_size": 336, "patch_size": 14]),
                  "text_config": ("llama", [:])],
        "llava_next": ["vision_config": ("clip_vision_model", ["hidden_size": 1024, "image_size": 336, "patch_size": 14]),
                       "text_config": ("llama", [:])],
        "blip-2": ["vision_config": ("blip_2_vision_model", [:]), "qformer_config": ("blip_2_qformer", [:]), "text_config": ("opt", [:])],
        "instructblip": ["vision_config": ("instructblip_vision_model", [:]), "qformer_config": ("instructblip_qformer", [:]),
                         "text_config": ("llama", [:])],
    ]

    /// Interprets a parsed config: a declared quantization is noted, then the first of `rules` that
    /// matches the config reads it.
    public static func interpret(_ root: JSONValue, file: String) -> ConfigFacts {
        var reading = ConfigReading(root: root, file: file)
        let hint = "quantized weights have packed shapes; validate the unquantized checkpoint"
        if let mlx = root["quantization"], let bits = mlx["bits"]?.intValue, let groupSize = mlx["group_size"]?.intValue {
            // mlx-lm's object (`quantize … --mlx-config` writes one): no quant_method, beside an identical quantization_config.
            let mode = mlx["mode"]?.stringValue ?? "affine"
            reading.facts.notes.append(Diagnostic(.quantizedCheckpoint,
                                                  "config.json declares MLX quantization (\(mode), \(bits) bits, group size \(groupSize))",
                                                  hint: hint))
        } else if root["quantization_config"] != nil {
            let method = root["quantization_config"]?["quant_method"]?.stringValue ?? "unknown"
            reading.facts.notes.append(Diagnostic(.quantizedCheckpoint, "config.json declares quantization_config (quant_method \(method))",
                                                  hint: hint))
        }
        if let rule = rules.first(where: { $0.matches(reading) }) { rule.read(&reading) }
        return reading.facts
    }
}
