import TensorFormats

extension QuantizePipeline {
    /// The input's metadata with the quantization's keys set, then `request.metadata`:
    /// - GGUF: `general.quantization_version` = 2 and `general.file_type` = `fileType` (llama.cpp's
    ///   numbering of the type holding the most bytes among the re-encoded tensors, `ReEncoding.fileType`:
    ///   the `_S` value for a k-quant; an input's own value is dropped when there is none).
    /// - MLX types in safetensors: `format` = `mlx` and `quantization`, mlx-lm's object: the group size and
    ///   bits of the file and, with per-tensor types, an entry per module (the tensor's name without
    ///   `.weight`) whose bits differ, `{"group_size": G, "bits": B, "mode": "affine"}`, as mlx-lm's
    ///   `quantize_model` records a mixed quantization and its `load_model` reads it.
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
            let main = report.type ?? mostBytes(report) ?? request.type
            if case .mlx(let bits) = main {
                setting("format", .string("mlx"))
                func parameters(_ bits: Int) -> String { #"{"group_size": \#(request.groupSize), "bits": \#(bits), "mode": "affine""# }
                var text = parameters(bits)
                for entry in report.entries where entry.reason.isQuantized && entry.type != main.name {
                    guard case .mlx(let own)? = try? QuantizationType(parsing: entry.type) else { continue }
                    text += ", " + JSONValue.string(moduleName(entry.name)).serialized() + ": " + parameters(own) + "}"
                }
                setting("quantization", .string(text + "}"))
            }
        }
        for entry in request.metadata { setting(entry.key, entry.value) }
        return entries
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
