import TensorFormats

extension QuantizePipeline {
    /// The input's metadata with the quantization's keys set, then `request.metadata`:
    /// - GGUF: `general.quantization_version` = 2 and `general.file_type` = `fileType` (llama.cpp's
    ///   numbering of the type holding the most bytes among the re-encoded tensors, `ReEncoding.fileType`:
    ///   the `_S` value for a k-quant; an input's own value is dropped when there is none).
    /// - MLX types in safetensors: `format` = `mlx` and `quantization`, mlx-lm's object: the group size and
    ///   bits of the file and, with per-tensor types, an entry per module whose bits differ
    ///   (`mlxQuantization`).
    /// (What each format carries, and GGUF's `general.architecture`, is `CheckpointWriter`'s.)
    static func outputMetadata(_ checkpoint: Checkpoint, format: OutputFormat, report: QuantizationReport,
                               request: QuantizeRequest, fileType: UInt32?) throws -> [MetadataEntry] {
        var entries = checkpoint.metadata
        func setting(_ key: String, _ value: MetadataValue) {
            if let index = entries.firstIndex(where: { $0.key.isSameName(as: key) }) {
                entries[index].value = value
            } else {
                entries.append(MetadataEntry(key, value))
            }
        }
        switch format {
        case .gguf:
            setting("general.quantization_version", .uint32(2))
            if let fileType {
                setting("general.file_type", .uint32(fileType))
            } else {
                entries.removeAll { $0.key.isSameName(as: "general.file_type") }
            }
        default:
            if let quantization = mlxQuantization(report, groupSize: request.groupSize, fallback: request.type, everyModule: false) {
                setting("format", .string("mlx"))
                setting("quantization", .string(JSONValue.object(quantization).serialized(spaced: true)))
            }
        }
        for entry in request.metadata { setting(entry.key, entry.value) }
        return entries
    }

    /// mlx-lm's `quantization` object for the MLX affine tensors of `report` — the one builder of it, for
    /// the safetensors header (`outputMetadata`) and a model's config.json (`MLXModelConfig`): the file's
    /// `groupSize`, `bits` (the type asked for, else the type holding the most bytes, else `fallback`) and
    /// `mode`, then `"<module>": {"group_size": G, "bits": B, "mode": "affine"}` for every module quantized
    /// (`everyModule`) or for those whose bits differ from the file's, in file order — as mlx-lm's
    /// `quantize_model` records a mixed quantization and its `load_model` reads it. nil without MLX types.
    static func mlxQuantization(_ report: QuantizationReport, groupSize: Int, fallback: QuantizationType? = nil,
                                everyModule: Bool) -> [JSONValue.Member]? {
        guard case .mlx(let bits)? = report.type ?? mostBytes(report) ?? fallback else { return nil }
        var members = mlxParameters(groupSize: groupSize, bits: bits)
        for module in mlxModules(report) where everyModule || module.bits != bits {
            members.append(JSONValue.Member(module.name, .object(mlxParameters(groupSize: groupSize, bits: module.bits))))
        }
        return members
    }

    /// `"group_size": G, "bits": B, "mode": "affine"`.
    static func mlxParameters(groupSize: Int, bits: Int) -> [JSONValue.Member] {
        [JSONValue.Member("group_size", .int(groupSize)), JSONValue.Member("bits", .int(bits)), JSONValue.Member("mode", .string("affine"))]
    }

    /// The modules `report` quantized with an MLX affine type (mlx-lm's module path, `moduleName`), with
    /// their bits, in file order.
    static func mlxModules(_ report: QuantizationReport) -> [(name: String, bits: Int)] {
        report.entries.compactMap { entry in
            guard entry.reason.isQuantized, case .mlx(let bits)? = try? QuantizationType(parsing: entry.type) else { return nil }
            return (moduleName(entry.name), bits)
        }
    }

    /// The type holding the most output bytes among the quantized tensors (the first of equals).
    static func mostBytes(_ report: QuantizationReport) -> QuantizationType? {
        var bytes: [(type: String, count: Int)] = []
        for entry in report.entries where entry.reason.isQuantized {
            if let slot = bytes.firstIndex(where: { $0.type == entry.type }) {
                bytes[slot].count += entry.bytesAfter
            } else {
                bytes.append((entry.type, entry.bytesAfter))
            }
        }
        return bytes.max { $0.count < $1.count }.flatMap { try? QuantizationType(parsing: $0.type) }
    }

    /// mlx-lm's module path of a weight: its name without `.weight` (the prefix of its `.scales`).
    static func moduleName(_ tensor: String) -> String {
        // By bytes, as names are compared: `hasSuffix` and `dropLast` work on characters.
        tensor.hasNameSuffix(".weight") ? String(decoding: tensor.utf8.dropLast(".weight".utf8.count), as: UTF8.self) : tensor
    }
}
