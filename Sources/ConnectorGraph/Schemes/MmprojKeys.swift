import TensorFormats

/// The GGUF keys of an mmproj that describe its connector, as llama.cpp's own converters write them for
/// each projector type: `convert_image_encoder_to_gguf.py` (LLaVA `mlp`, MobileVLM `ldp`/`ldpv2`),
/// `minicpmv-convert-image-encoder-to-gguf.py` (`resampler`) and `convert_hf_to_gguf.py --mmproj`
/// (`qwen2vl_merger`, `qwen2.5vl_merger`, `idefics3`, `internvl`; these also write the LLM width as
/// `clip.vision.projection_dim`, which the legacy converters use for CLIP's own projection). Keys that
/// describe the vision encoder (its width, depth, image size, feature layers…) are never written here.
public enum MmprojKeys {
    /// The connector keys for `connector`'s projector type, typed as the converters write them; empty when
    /// llama.cpp has no projector type for it.
    public static func keys(for connector: BoundConnector) -> [MetadataEntry] {
        guard let family = Family(rawValue: connector.family),
              let type = MmprojFacts.projectorType(for: family, variant: connector.variant) else { return [] }
        func dim(_ key: String) -> Int? { connector.dimensions.first { $0.key == key }?.value }
        func u32(_ key: String, _ value: Int?) -> MetadataEntry? { value.flatMap(UInt32.init(exactly:)).map { MetadataEntry(key, .uint32($0)) } }
        var entries = [MetadataEntry(projectorType, .string(type))]
        switch type {
        case "mlp", "ldp", "ldpv2":
            entries.append(MetadataEntry(hasLLaVAProjector, .bool(true)))
        case "resampler":
            entries.append(MetadataEntry(hasMiniCPMVProjector, .bool(true)))
            if let version = minicpmvVersion(connector.variant) { entries.append(MetadataEntry(minicpmvVersionKey, .int32(version))) }
            entries += [u32(minicpmvQueryNum, dim("queries"))].compactMap { $0 }
        case "qwen2vl_merger", "qwen2.5vl_merger":
            entries += [u32(spatialMergeSize, dim("merge")), u32(projectionDim, dim("llm"))].compactMap { $0 }
        case "idefics3", "internvl":
            entries += [u32(scaleFactor, dim("merge")), u32(projectionDim, dim("llm"))].compactMap { $0 }
        default:
            break
        }
        return entries
    }

    /// Whether the projector type comes from `convert_hf_to_gguf.py --mmproj` (`general.type = "mmproj"`).
    public static func isModernType(_ type: String) -> Bool {
        ["qwen2vl_merger", "qwen2.5vl_merger", "idefics3", "internvl"].contains(type)
    }

    /// `metadata` with the connector's keys set (replaced in place, or appended): what splice writes.
    public static func updating(_ metadata: [MetadataEntry], with keys: [MetadataEntry]) -> [MetadataEntry] {
        var result = metadata
        for entry in keys {
            if let index = result.firstIndex(where: { $0.key == entry.key }) { result[index] = entry } else { result.append(entry) }
        }
        return result
    }

    /// The metadata of a file written in the `mmproj` scheme from `metadata`: `general.architecture` is
    /// `clip`, the connector's keys are set, and `general.type = "mmproj"` is added for the projector types
    /// `convert_hf_to_gguf.py` writes.
    public static func mmprojMetadata(_ metadata: [MetadataEntry], connector: BoundConnector) -> [MetadataEntry] {
        let keys = self.keys(for: connector)
        var result = metadata.filter { $0.key != architecture }
        result.insert(MetadataEntry(architecture, .string("clip")), at: 0)
        if let type = keys.first?.value.stringValue, isModernType(type), result["general.type"] == nil {
            result.insert(MetadataEntry("general.type", .string("mmproj")), at: 1)
        }
        return updating(result, with: keys)
    }

    /// The metadata of a file that leaves the `mmproj` scheme: the connector keys and the `clip`/`mmproj`
    /// file kind go (llama.cpp would take the file for an mmproj whose connector it cannot find); with
    /// `connectorOnly`, every other `clip.*` key goes too (they describe an encoder the file no longer holds).
    public static func leavingMmproj(_ metadata: [MetadataEntry], connector: BoundConnector, connectorOnly: Bool) -> [MetadataEntry] {
        let written = Set(keys(for: connector).map(\.key))
        return metadata.filter { entry in
            if written.contains(entry.key) { return false }
            if entry.key == architecture, entry.value.stringValue == "clip" { return false }
            if entry.key == "general.type", entry.value.stringValue == "mmproj" { return false }
            return !(connectorOnly && entry.key.hasPrefix("clip."))
        }
    }

    /// `clip.minicpmv_version` of a MiniCPM-V release (1, 2, 3 for 2.0, 2.5, 2.6).
    static func minicpmvVersion(_ variant: String) -> Int32? {
        switch variant {
        case "minicpmv-2.0": 1
        case "minicpmv-2.5": 2
        case "minicpmv-2.6": 3
        default: nil
        }
    }

    static let architecture = "general.architecture"
    static let projectorType = "clip.projector_type"
    static let hasLLaVAProjector = "clip.has_llava_projector"
    static let hasMiniCPMVProjector = "clip.has_minicpmv_projector"
    static let minicpmvVersionKey = "clip.minicpmv_version"
    static let minicpmvQueryNum = "clip.minicpmv_query_num"
    static let spatialMergeSize = "clip.vision.spatial_merge_size"
    static let scaleFactor = "clip.vision.projector.scale_factor"
    static let projectionDim = "clip.vision.projection_dim"
}
