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

    public static func interpret(_ root: JSONValue, file: String) -> ConfigFacts {
        var facts = ConfigFacts(file: file, modelType: root["model_type"]?.stringValue, hint: nil, claims: [], patchTokens: nil,
                                statedTokens: nil, minicpmvVersion: nil, notes: [])
        let modelType = facts.modelType ?? ""

        /// An integer at a dotted path, or the class default when the sub-config leaves the key out.
        func integer(_ path: String) -> (Int, DimensionSource)? {
            let parts = path.split(separator: ".").map(String.init)
            var node = root
            for (index, part) in parts.enumerated() {
                if let next = node[part] {
                    node = next
                    continue
                }
                // Key left out: the class default of the (sub-)config that should hold it.
                let parentPath = parts[..<index].joined(separator: ".")
                let missing = parts[index...].joined(separator: ".")
                guard index == parts.count - 1 else {
                    if index == parts.count - 2, let fallback = defaultSubConfigs[modelType]?[part],
                       let value = fallback.overrides[parts[index + 1]] ?? classDefaults[fallback.modelType]?[parts[index + 1]] {
                        return (value, .config(file: file, key: path, detail: "\(part) absent: transformers default \(fallback.modelType) value"))
                    }
                    return nil
                }
                let subType = index == 0 ? modelType : node["model_type"]?.stringValue
                if let subType, let value = (classDefaults["\(subType)@\(parentPath)"] ?? classDefaults[subType])?[missing] {
                    let owner = parentPath.isEmpty ? "config" : parentPath
                    return (value, .config(file: file, key: path, detail: "\(owner) omits it: transformers default for model_type \(subType)"))
                }
                return nil
            }
            guard let value = node.intValue else { return nil }
            return (value, .config(file: file, key: path, detail: nil))
        }
        func claim(_ key: String, _ path: String) {
            if let (value, source) = integer(path) { facts.claims.append(DimensionClaim(key: key, value: value, source: source)) }
        }
        func claimFirst(_ key: String, _ paths: [String]) {
            for path in paths where integer(path) != nil {
                claim(key, path)
                return
            }
        }
        func patches(_ visionPath: String, classToken: Bool) {
            guard let (image, imageSource) = integer(visionPath + ".image_size"), let (patch, _) = integer(visionPath + ".patch_size"),
                  patch > 0, image >= patch else { return }
            let side = image / patch
            guard let count = Checked.multiply(side, side) else { return }
            var source = imageSource
            if case .config(let file, _, _) = imageSource {
                source = .config(file: file, key: "\(visionPath).image_size / patch_size", detail: "(\(image)/\(patch))² patches")
            }
            facts.patchTokens = (count, source, classToken)
        }
        func visionClassToken(_ visionPath: String) -> Bool {
            let type = root[visionPath]?["model_type"]?.stringValue ?? defaultSubConfigs[modelType]?[visionPath]?.modelType ?? ""
            return !type.contains("siglip")
        }

        func mergeFromRatio() {
            guard let ratio = root["downsample_ratio"]?.doubleValue, ratio > 0, ratio < 1 else { return }
            let factor = (1 / ratio).rounded()
            guard abs(factor * ratio - 1) < 1e-9, factor <= 16 else { return }
            facts.claims.append(DimensionClaim(key: "merge", value: Int(factor),
                                               source: .config(file: file, key: "downsample_ratio", detail: "1/\(ratio)")))
        }

        if root["quantization_config"] != nil {
            let method = root["quantization_config"]?["quant_method"]?.stringValue ?? "unknown"
            facts.notes.append(Diagnostic(.quantizedCheckpoint, "config.json declares quantization_config (quant_method \(method))",
                                          hint: "quantized weights have packed shapes; validate the unquantized checkpoint"))
        }

        if root["mm_hidden_size"] != nil {
            // Original LLaVA-style configs (LLaVA, LLaVA-NeXT, Yi-VL, MobileVLM): a flat LLM config.
            claim("encoder", "mm_hidden_size")
            claim("llm", "hidden_size")
            claim("llm_layers", "num_hidden_layers")
            claim("llm_ffn", "intermediate_size")
            let declared = root["mm_projector_type"]?.stringValue
            facts.hint = llavaProjectorHint(declared, file: file)
            if let declared, let depth = mlpDepth(declared) {
                facts.claims.append(DimensionClaim(key: "depth", value: depth, source: .config(file: file, key: "mm_projector_type", detail: declared)))
            }
            if let tower = root["mm_vision_tower"]?.stringValue, let preset = Presets.encoder(named: tower) {
                // `mm_vision_select_feature` "patch" (the default) drops the class token.
                let keepsClass = root["mm_vision_select_feature"]?.stringValue == "cls_patch"
                facts.statedTokens = DimensionClaim(key: "tokens", value: preset.patches + (keepsClass ? 1 : 0),
                                                    source: .config(file: file, key: "mm_vision_tower", detail: "\(tower): preset \(preset.name)"))
            }
            return facts
        }

        switch modelType {
        case "llava", "llava_next", "llava_onevision", "vipllava":
            claim("encoder", "vision_config.hidden_size")
            claim("llm", "text_config.hidden_size")
            claim("llm_layers", "text_config.num_hidden_layers")
            claim("llm_ffn", "text_config.intermediate_size")
            if case .array(let layers) = root["vision_feature_layer"] ?? .null {
                facts.claims.append(DimensionClaim(key: "feature_layers", value: layers.count,
                                                   source: .config(file: file, key: "vision_feature_layer", detail: "\(layers.count) layers concatenated")))
            }
            if let (value, source) = integer("image_seq_length") {
                facts.statedTokens = DimensionClaim(key: "tokens", value: value, source: source)
            } else {
                patches("vision_config", classToken: root["vision_feature_select_strategy"]?.stringValue == "full")
            }
            facts.hint = KindHint(family: .mlp, variant: "mlp2x_gelu", evidence: "model_type \"\(modelType)\"")
            facts.claims.append(DimensionClaim(key: "depth", value: 2, source: .config(file: file, key: "model_type", detail: "transformers' LLaVA projector has two Linear layers")))
        case "blip-2", "instructblip":
            claim("encoder", "vision_config.hidden_size")
            claim("encoder", "qformer_config.encoder_hidden_size")
            claim("hidden", "qformer_config.hidden_size")
            claim("layers", "qformer_config.num_hidden_layers")
            claim("heads", "qformer_config.num_attention_heads")
            claim("ffn", "qformer_config.intermediate_size")
            claim("cross_every", "qformer_config.cross_attention_frequency")
            claim("queries", "num_query_tokens")
            if modelType == "instructblip" { claim("vocab", "qformer_config.vocab_size") }
            let textType = root["text_config"]?["model_type"]?.stringValue ?? defaultSubConfigs[modelType]?["text_config"]?.modelType
            if textType == "t5" || root["text_config"]?["d_model"] != nil {
                claim("llm", "text_config.d_model")
            } else {
                claim("llm", "text_config.hidden_size")
            }
            patches("vision_config", classToken: true)
            facts.hint = KindHint(family: .qformer, variant: modelType == "blip-2" ? "blip2" : "instructblip", evidence: "model_type \"\(modelType)\"")
        case "idefics":
            claimFirst("encoder", ["vision_config.embed_dim", "vision_embed_dim"])
            claim("llm", "hidden_size")
            claim("llm_layers", "num_hidden_layers")
            claim("llm_ffn", "intermediate_size")
            claim("cross_every", "cross_layer_interval")
            claimFirst("queries", ["perceiver_config.resampler_n_latents", "resampler_n_latents"])
            claimFirst("layers", ["perceiver_config.resampler_depth", "resampler_depth"])
            claimFirst("heads", ["perceiver_config.resampler_n_heads", "resampler_n_heads"])
            claimFirst("head_dim", ["perceiver_config.resampler_head_dim", "resampler_head_dim"])
            if let image = integer("vision_config.image_size") ?? integer("vision_image_size"),
               let patch = integer("vision_config.patch_size") ?? integer("vision_patch_size"), patch.0 > 0 {
                facts.patchTokens = ((image.0 / patch.0) * (image.0 / patch.0), image.1, true)
            }
            facts.hint = KindHint(family: .perceiverResampler, variant: "idefics", evidence: "model_type \"idefics\"")
        case "idefics2":
            claim("encoder", "vision_config.hidden_size")
            claim("llm", "text_config.hidden_size")
            claim("llm_ffn", "text_config.intermediate_size")
            claim("queries", "perceiver_config.resampler_n_latents")
            claim("layers", "perceiver_config.resampler_depth")
            claim("heads", "perceiver_config.resampler_n_heads")
            claim("head_dim", "perceiver_config.resampler_head_dim")
            claim("kv_heads", "perceiver_config.num_key_value_heads")
            patches("vision_config", classToken: false)
            facts.hint = KindHint(family: .perceiverResampler, variant: "idefics2", evidence: "model_type \"idefics2\"")
        case "idefics3", "smolvlm":
            claim("encoder", "vision_config.hidden_size")
            claim("llm", "text_config.hidden_size")
            claim("merge", "scale_factor")
            patches("vision_config", classToken: false)
            facts.hint = KindHint(family: .pixelShuffleMLP, variant: "idefics3", evidence: "model_type \"\(modelType)\"")
        case "qwen2_vl":
            claim("encoder", "vision_config.embed_dim")
            // Qwen2-VL's vision_config.hidden_size is the LLM width (the merger's output), not the ViT's.
            claim("llm", "vision_config.hidden_size")
            claimFirst("llm", ["text_config.hidden_size", "hidden_size"])
            claim("merge", "vision_config.spatial_merge_size")
            facts.hint = KindHint(family: .patchMerger, variant: "qwen2-vl", evidence: "model_type \"qwen2_vl\"")
        case "qwen2_5_vl":
            claim("encoder", "vision_config.hidden_size")
            claim("llm", "vision_config.out_hidden_size")
            claimFirst("llm", ["text_config.hidden_size", "hidden_size"])
            claim("merge", "vision_config.spatial_merge_size")
            facts.hint = KindHint(family: .patchMerger, variant: "qwen2.5-vl", evidence: "model_type \"qwen2_5_vl\"")
        case "minicpmv":
            claim("encoder", "vision_config.hidden_size")
            claim("llm", "hidden_size")
            claim("llm_layers", "num_hidden_layers")
            claim("queries", "query_num")
            if let version = root["version"] {
                facts.minicpmvVersion = version.stringValue ?? (version.doubleValue.map { String($0) })
            }
            facts.hint = KindHint(family: .attentionResampler, variant: nil, evidence: "model_type \"minicpmv\"")
        case "internvl_chat":
            claim("encoder", "vision_config.hidden_size")
            claim("llm", "llm_config.hidden_size")
            claim("llm_layers", "llm_config.num_hidden_layers")
            mergeFromRatio()
            facts.hint = KindHint(family: .pixelShuffleMLP, variant: "internvl", evidence: "model_type \"internvl_chat\"")
        case "internvl":
            claim("encoder", "vision_config.hidden_size")
            claim("llm", "text_config.hidden_size")
            mergeFromRatio()
            facts.hint = KindHint(family: .pixelShuffleMLP, variant: "internvl", evidence: "model_type \"internvl\"")
        default:
            if root["visual"] != nil {
                // Qwen-VL (model_type "qwen"): `visual` describes the ViT and its attn_pool output.
                claim("encoder", "visual.width")
                claim("llm", "visual.output_dim")
                claim("llm", "hidden_size")
                facts.hint = KindHint(family: .attentionResampler, variant: "qwen-vl", evidence: "a `visual` section (Qwen-VL)")
            } else if root["d_model"] != nil {
                claim("llm", "d_model")
            } else {
                claim("llm", "hidden_size")
            }
        }
        return facts
    }

    /// `mlpNx_gelu` → N.
    static func mlpDepth(_ type: String) -> Int? {
        guard type.hasPrefix("mlp"), type.hasSuffix("x_gelu") else { return nil }
        return Int(type.dropFirst(3).dropLast(6))
    }

    /// The connector an original-LLaVA `mm_projector_type` declares (absent means `linear`, as in
    /// LLaVA's `build_vision_projector`).
    static func llavaProjectorHint(_ declared: String?, file: String) -> KindHint {
        let text = declared.map { "mm_projector_type \"\($0)\"" } ?? "mm_projector_type absent (LLaVA then builds a linear projector)"
        switch declared {
        case nil, "linear": return KindHint(family: .linear, variant: "linear", evidence: text)
        case "mlp2x_gelu_Norm": return KindHint(family: .mlp, variant: "mlp_norm", evidence: text)
        case "ldpnet": return KindHint(family: .ldp, variant: "ldp", evidence: text)
        case "ldpnetv2": return KindHint(family: .ldp, variant: "ldpv2", evidence: text)
        case let type? where mlpDepth(type) != nil: return KindHint(family: .mlp, variant: type, evidence: text)
        default: return KindHint(family: nil, variant: nil, evidence: text)
        }
    }
}
