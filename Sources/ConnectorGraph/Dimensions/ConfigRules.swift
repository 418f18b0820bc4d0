import TensorFormats

/// How one family of configs is read: which configs it applies to, the key paths of each dimension,
/// the connector the config declares, and what else it states (token counts, a version).
///
/// `ConfigReader.rules` tries them in order; the first that matches reads the whole config.
struct ConfigRule: Sendable {
    enum Selector: Sendable {
        /// `model_type` is one of these.
        case modelType([String])
        /// The config has this top-level key (whatever its `model_type` says).
        case key(String)
        /// Every config.
        case any
    }

    var selector: Selector
    /// Dimension key → key paths, the first present giving the claim (`"encoder": "a.b|c"`). A key
    /// listed twice makes two claims, which must then agree.
    var claims: KeyValuePairs<String, String>
    /// The connector the config declares, when it names one by itself.
    var declares: (family: Family, variant: String?)?
    /// The encoder's patch grid: image and patch size key paths (`|` separates alternatives) and
    /// whether the encoder has a class token.
    var patches: (image: String, patch: String, classToken: Bool)?
    /// What the family's config says beyond that, read by code.
    var extra: (@Sendable (inout ConfigReading) -> Void)?
    /// What the report names as the evidence of `declares` (default: the `model_type`).
    var evidence: String?

    init(_ selector: Selector, claims: KeyValuePairs<String, String>, declares: (family: Family, variant: String?)? = nil,
         evidence: String? = nil, patches: (image: String, patch: String, classToken: Bool)? = nil,
         extra: (@Sendable (inout ConfigReading) -> Void)? = nil) {
        self.selector = selector
        self.claims = claims
        self.declares = declares
        self.evidence = evidence
        self.patches = patches
        self.extra = extra
    }

    func matches(_ reading: ConfigReading) -> Bool {
        switch selector {
        case .modelType(let types): types.contains(reading.modelType)
        case .key(let key): reading.root[key] != nil
        case .any: true
        }
    }

    func read(_ reading: inout ConfigReading) {
        for (key, paths) in claims { reading.claim(key, paths) }
        if let patches { reading.claimPatches(image: patches.image, patch: patches.patch, classToken: patches.classToken) }
        if let declares {
            reading.facts.hint = KindHint(family: declares.family, variant: declares.variant,
                                          evidence: evidence ?? "model_type \"\(reading.modelType)\"")
        }
        extra?(&reading)
    }
}

extension ConfigReader {
    /// The config families, most specific first. Sources: each family's `configuration_*.py` in
    /// transformers and the original repositories' configs (see the family files).
    static let rules: [ConfigRule] = [
        // Original LLaVA-style configs (LLaVA, LLaVA-NeXT, Yi-VL, MobileVLM): a flat LLM config.
        ConfigRule(.key("mm_hidden_size"), claims: ["encoder": "mm_hidden_size", "llm": "hidden_size", "llm_layers": "num_hidden_layers",
                                                    "llm_ffn": "intermediate_size"], extra: readLLaVAProjector),
        ConfigRule(.modelType(["llava", "llava_next", "llava_onevision", "vipllava"]),
                   claims: ["encoder": "vision_config.hidden_size", "llm": "text_config.hidden_size",
                            "llm_layers": "text_config.num_hidden_layers", "llm_ffn": "text_config.intermediate_size"],
                   declares: (.mlp, "mlp2x_gelu"), extra: readTransformersLLaVA),
        ConfigRule(.modelType(["blip-2"]), claims: qformerClaims, declares: (.qformer, "blip2"),
                   patches: ("vision_config.image_size", "vision_config.patch_size", true)) { reading in
            reading.readEps(layerNorm: "qformer_config.layer_norm_eps")
        },
        ConfigRule(.modelType(["instructblip"]), claims: qformerClaims, declares: (.qformer, "instructblip"),
                   patches: ("vision_config.image_size", "vision_config.patch_size", true)) { reading in
            reading.claim("vocab", "qformer_config.vocab_size")
            reading.readEps(layerNorm: "qformer_config.layer_norm_eps")
        },
        // IDEFICS (v1): sub-configs, or the same keys flattened into the top level.
        ConfigRule(.modelType(["idefics"]),
                   claims: ["encoder": "vision_config.embed_dim|vision_embed_dim", "llm": "hidden_size", "llm_layers": "num_hidden_layers",
                            "llm_ffn": "intermediate_size", "cross_every": "cross_layer_interval",
                            "queries": "perceiver_config.resampler_n_latents|resampler_n_latents",
                            "layers": "perceiver_config.resampler_depth|resampler_depth",
                            "heads": "perceiver_config.resampler_n_heads|resampler_n_heads",
                            "head_dim": "perceiver_config.resampler_head_dim|resampler_head_dim"],
                   declares: (.perceiverResampler, "idefics"),
                   patches: ("vision_config.image_size|vision_image_size", "vision_config.patch_size|vision_patch_size", true)),
        ConfigRule(.modelType(["idefics2"]),
                   claims: ["encoder": "vision_config.hidden_size", "llm": "text_config.hidden_size", "llm_ffn": "text_config.intermediate_size",
                            "queries": "perceiver_config.resampler_n_latents", "layers": "perceiver_config.resampler_depth",
                            "heads": "perceiver_config.resampler_n_heads", "head_dim": "perceiver_config.resampler_head_dim",
                            "kv_heads": "perceiver_config.num_key_value_heads"],
                   declares: (.perceiverResampler, "idefics2"), patches: ("vision_config.image_size", "vision_config.patch_size", false),
                   extra: readIdefics2Eps),
        ConfigRule(.modelType(["idefics3", "smolvlm"]),
                   claims: ["encoder": "vision_config.hidden_size", "llm": "text_config.hidden_size", "merge": "scale_factor"],
                   declares: (.pixelShuffleMLP, "idefics3"), patches: ("vision_config.image_size", "vision_config.patch_size", false)),
        // Qwen2-VL's vision_config.hidden_size is the LLM width (the merger's output), not the ViT's.
        ConfigRule(.modelType(["qwen2_vl"]),
                   claims: ["encoder": "vision_config.embed_dim", "llm": "vision_config.hidden_size", "llm": "text_config.hidden_size|hidden_size",
                            "merge": "vision_config.spatial_merge_size"],
                   declares: (.patchMerger, "qwen2-vl")),
        ConfigRule(.modelType(["qwen2_5_vl"]),
                   claims: ["encoder": "vision_config.hidden_size", "llm": "vision_config.out_hidden_size",
                            "llm": "text_config.hidden_size|hidden_size", "merge": "vision_config.spatial_merge_size"],
                   declares: (.patchMerger, "qwen2.5-vl")),
        ConfigRule(.modelType(["minicpmv"]),
                   claims: ["encoder": "vision_config.hidden_size", "llm": "hidden_size", "llm_layers": "num_hidden_layers", "queries": "query_num"],
                   declares: (.attentionResampler, nil)) { reading in
            if let version = reading.root["version"] {
                reading.facts.minicpmvVersion = version.stringValue ?? (version.doubleValue.map { String($0) })
            }
        },
        ConfigRule(.modelType(["internvl_chat"]),
                   claims: ["encoder": "vision_config.hidden_size", "llm": "llm_config.hidden_size", "llm_layers": "llm_config.num_hidden_layers"],
                   declares: (.pixelShuffleMLP, "internvl")) { reading in
            readDownsampleRatio(&reading)
            // modeling_internvl_chat.py pixel_shuffle: "v1" leaves height and width swapped.
            switch reading.root["ps_version"]?.stringValue {
            case "v1": reading.setAttribute(\.pixelShuffleOrder, .columns, "ps_version \"v1\"")
            case "v2": reading.setAttribute(\.pixelShuffleOrder, .rows, "ps_version \"v2\"")
            default: break
            }
        },
        ConfigRule(.modelType(["internvl"]), claims: ["encoder": "vision_config.hidden_size", "llm": "text_config.hidden_size"],
                   declares: (.pixelShuffleMLP, "internvl"), extra: readDownsampleRatio),
        // Qwen-VL (model_type "qwen"): `visual` describes the ViT and its attn_pool output.
        ConfigRule(.key("visual"), claims: ["encoder": "visual.width", "llm": "visual.output_dim", "llm": "hidden_size"],
                   declares: (.attentionResampler, "qwen-vl"), evidence: "a `visual` section (Qwen-VL)"),
        // An LLM's own config: T5 calls its width d_model.
        ConfigRule(.key("d_model"), claims: ["llm": "d_model"]),
        ConfigRule(.any, claims: ["llm": "hidden_size"]),
    ]

    /// BLIP-2 and InstructBLIP: the Q-Former's sub-config, and the LLM's width (`d_model` for T5).
    static let qformerClaims: KeyValuePairs<String, String> = [
        "encoder": "vision_config.hidden_size", "encoder": "qformer_config.encoder_hidden_size", "hidden": "qformer_config.hidden_size",
        "layers": "qformer_config.num_hidden_layers", "heads": "qformer_config.num_attention_heads", "ffn": "qformer_config.intermediate_size",
        "cross_every": "qformer_config.cross_attention_frequency", "queries": "num_query_tokens",
        "llm": "text_config.d_model|text_config.hidden_size",
    ]

    /// Idefics2's perceiver norms: `perceiver_config.rms_norm_eps`; a perceiver config without its own
    /// `hidden_size` differing from the text model's takes the text model's epsilon
    /// (`Idefics2Config.__post_init__`), else the class default 1e-6 (the graph's).
    @Sendable static func readIdefics2Eps(_ reading: inout ConfigReading) {
        if reading.readEps(rmsNorm: "perceiver_config.rms_norm_eps") { return }
        let perceiverWidth = reading.root["perceiver_config"]?["hidden_size"]?.intValue ?? 4096
        let textWidth = reading.root["text_config"]?["hidden_size"]?.intValue ?? 4096
        if perceiverWidth != textWidth, !reading.readEps(rmsNorm: "text_config.rms_norm_eps") {
            reading.setAttribute(\.rmsNormEps, 1e-5, "text_config.rms_norm_eps (the Mistral default 1e-5, taken by the perceiver)")
        }
    }

    /// Original LLaVA: the projector `mm_projector_type` declares (its depth), and the token count of
    /// the tower `mm_vision_tower` names.
    @Sendable static func readLLaVAProjector(_ reading: inout ConfigReading) {
        let declared = reading.root["mm_projector_type"]?.stringValue
        reading.facts.hint = llavaProjectorHint(declared)
        if let declared, let depth = mlpDepth(declared) {
            reading.add("depth", depth, key: "mm_projector_type", detail: declared)
        }
        if let tower = reading.root["mm_vision_tower"]?.stringValue, let preset = Presets.encoder(named: tower) {
            // `mm_vision_select_feature` "patch" (the default) drops the class token.
            let keepsClass = reading.root["mm_vision_select_feature"]?.stringValue == "cls_patch"
            reading.facts.statedTokens = DimensionClaim(key: "tokens", value: preset.patches + (keepsClass ? 1 : 0),
                                                        source: reading.source("mm_vision_tower", "\(tower): preset \(preset.name)"))
        }
    }

    /// transformers' LLaVA classes: concatenated feature layers, the token count (stated, or from the
    /// vision config: `vision_feature_select_strategy` "full" keeps the class token), two Linear layers.
    @Sendable static func readTransformersLLaVA(_ reading: inout ConfigReading) {
        if case .array(let layers) = reading.root["vision_feature_layer"] ?? .null {
            reading.add("feature_layers", layers.count, key: "vision_feature_layer", detail: "\(layers.count) layers concatenated")
        }
        if let (value, source) = reading.integer("image_seq_length") {
            reading.facts.statedTokens = DimensionClaim(key: "tokens", value: value, source: source)
        } else {
            let classToken = reading.root["vision_feature_select_strategy"]?.stringValue == "full"
            reading.claimPatches(image: "vision_config.image_size", patch: "vision_config.patch_size", classToken: classToken)
        }
        reading.add("depth", 2, key: "model_type", detail: "transformers' LLaVA projector has two Linear layers")
    }

    /// InternVL's pixel-shuffle factor, `1 / downsample_ratio`.
    @Sendable static func readDownsampleRatio(_ reading: inout ConfigReading) {
        guard let ratio = reading.root["downsample_ratio"]?.doubleValue, ratio > 0, ratio < 1 else { return }
        let factor = (1 / ratio).rounded()
        guard abs(factor * ratio - 1) < 1e-9, factor <= 16 else { return }
        reading.add("merge", Int(factor), key: "downsample_ratio", detail: "1/\(ratio)")
    }

    /// `mlpNx_gelu` → N.
    static func mlpDepth(_ type: String) -> Int? {
        guard type.hasPrefix("mlp"), type.hasSuffix("x_gelu") else { return nil }
        return Int(type.dropFirst(3).dropLast(6))
    }

    /// The connector an original-LLaVA `mm_projector_type` declares (absent means `linear`, as in
    /// LLaVA's `build_vision_projector`).
    static func llavaProjectorHint(_ declared: String?) -> KindHint {
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

/// A config being read: its JSON, and the facts gathered so far.
struct ConfigReading {
    let root: JSONValue
    let file: String
    let modelType: String
    var facts: ConfigFacts

    init(root: JSONValue, file: String) {
        self.root = root
        self.file = file
        let modelType = root["model_type"]?.stringValue
        self.modelType = modelType ?? ""
        facts = ConfigFacts(file: file, modelType: modelType, hint: nil, claims: [], patchTokens: nil, statedTokens: nil,
                            minicpmvVersion: nil, notes: [])
    }

    func source(_ key: String, _ detail: String?) -> DimensionSource { .config(file: file, key: key, detail: detail) }

    /// Claims `value` for the dimension `dimension`, read from the config key `key`.
    mutating func add(_ dimension: String, _ value: Int, key: String, detail: String?) {
        facts.claims.append(DimensionClaim(key: dimension, value: value, source: source(key, detail)))
    }

    /// Claims `dimension` from the first of the `|`-separated key paths the config has.
    mutating func claim(_ dimension: String, _ paths: String) {
        guard let found = first(paths) else { return }
        facts.claims.append(DimensionClaim(key: dimension, value: found.value, source: found.source))
    }

    func first(_ paths: String) -> (value: Int, source: DimensionSource, path: String)? {
        for path in paths.split(separator: "|").map(String.init) {
            if let (value, source) = integer(path) { return (value, source, path) }
        }
        return nil
    }

    /// A norm epsilon at a dotted path (a positive number below 1); true when the config states one.
    @discardableResult
    mutating func readEps(layerNorm path: String) -> Bool { readEps(\.layerNormEps, path) }

    @discardableResult
    mutating func readEps(rmsNorm path: String) -> Bool { readEps(\.rmsNormEps, path) }

    private mutating func readEps(_ attribute: WritableKeyPath<ConfiguredAttributes, Double?>, _ path: String) -> Bool {
        var node: JSONValue? = root
        for part in path.split(separator: ".") { node = node?[String(part)] }
        guard let value = node?.doubleValue, value > 0, value < 1 else { return false }
        setAttribute(attribute, value, path)
        return true
    }

    mutating func setAttribute<T>(_ attribute: WritableKeyPath<ConfiguredAttributes, T?>, _ value: T, _ key: String) {
        facts.attributes[keyPath: attribute] = value
        facts.attributes.sources.append("\(file): \(key)")
    }

    /// The patch tokens of an encoder from its image and patch sizes: `(image / patch)²`.
    mutating func claimPatches(image imagePaths: String, patch patchPaths: String, classToken: Bool) {
        guard let image = first(imagePaths), let patch = first(patchPaths), patch.value > 0, image.value >= patch.value else { return }
        let side = image.value / patch.value
        guard let count = Checked.multiply(side, side) else { return }
        let patchKey = patch.path.split(separator: ".").last.map(String.init) ?? patch.path
        facts.patchTokens = (count, source("\(image.path) / \(patchKey)", "(\(image.value)/\(patch.value))² patches"), classToken)
    }

    /// An integer at a dotted path, or the transformers class default when the (sub-)config that
    /// should hold it leaves the key out.
    func integer(_ path: String) -> (Int, DimensionSource)? {
        let parts = path.split(separator: ".").map(String.init)
        var node = root
        for (index, part) in parts.enumerated() {
            if let next = node[part] {
                node = next
                continue
            }
            let parentPath = parts[..<index].joined(separator: ".")
            let missing = parts[index...].joined(separator: ".")
            guard index == parts.count - 1 else {
                // A sub-config left out entirely: the class the composite config then uses.
                if index == parts.count - 2, let fallback = ConfigReader.defaultSubConfigs[modelType]?[part],
                   let value = fallback.overrides[parts[index + 1]] ?? ConfigReader.classDefaults[fallback.modelType]?[parts[index + 1]] {
                    return (value, source(path, "\(part) absent: transformers default \(fallback.modelType) value"))
                }
                return nil
            }
            let subType = index == 0 ? modelType : node["model_type"]?.stringValue
            if let subType, let value = (ConfigReader.classDefaults["\(subType)@\(parentPath)"] ?? ConfigReader.classDefaults[subType])?[missing] {
                let owner = parentPath.isEmpty ? "config" : parentPath
                return (value, source(path, "\(owner) omits it: transformers default for model_type \(subType)"))
            }
            return nil
        }
        guard let value = node.intValue else { return nil }
        return (value, source(path, nil))
    }
}
