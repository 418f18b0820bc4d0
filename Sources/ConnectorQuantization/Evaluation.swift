import ConnectorRuntime
import Quantization
import TensorFormats

/// `--eval`: the written file read back and judged by the connector's output.
public enum OutputEvaluator {
    /// The float32 values the written file at `path` decodes to for every tensor `report` says was
    /// quantized, in the stored layout of `original`'s tensor of the same name: ggml block types and float
    /// casts as `Tensor.readFloats` decodes them (gguf-py's values), an MLX weight from its packed codes,
    /// `.scales` and `.biases` as `mx.dequantize` computes it.
    public static func writtenValues(path: String, report: QuantizationReport, original: Checkpoint,
                                     threads: Int = Parallel.processorCount) throws -> [String: [Float]] {
        let written = try CheckpointReader.open(path)
        var values: [String: [Float]] = [:]
        for entry in report.entries where entry.reason.isQuantized {
            guard let source = original.tensor(named: entry.name), let stored = written.tensor(named: entry.name) else {
                throw OutputQuantizationError(.notRunnable("\(entry.name) is missing from the written file"), file: path)
            }
            var floats = [Float](repeating: 0, count: source.info.elementCount)
            if stored.dtype == .u32, source.dtype.kind == .float {
                try readMLX(stored, in: written, like: source, into: &floats, threads: threads, path: path)
            } else {
                guard stored.info.elementCount == floats.count, stored.dtype.readsAsFloat32 else {
                    throw OutputQuantizationError(.notRunnable("\(entry.name) is \(stored.dtype.rawValue) \(stored.shape) in the written file, "
                        + "\(source.dtype.rawValue) \(source.shape) in the input"), file: path)
                }
                try floats.withUnsafeMutableBufferPointer { try stored.readFloats(into: $0, threads: threads) }
            }
            values[entry.name] = floats
        }
        return values
    }

    /// An MLX weight: `weight` (uint32 codes) with `base.scales` and `base.biases`, shaped like `source`.
    private static func readMLX(_ weight: Tensor, in written: Checkpoint, like source: Tensor, into floats: inout [Float],
                                threads: Int, path: String) throws {
        let base = weight.name.hasSuffix(".weight") ? String(weight.name.dropLast(".weight".count)) : weight.name
        guard let scales = written.tensor(named: base + ".scales"), let biases = written.tensor(named: base + ".biases"),
              let rowLength = source.shape.last, rowLength > 0, let words = weight.shape.last, let groups = scales.shape.last, groups > 0,
              rowLength % groups == 0, (words * 32) % rowLength == 0 else {
            throw OutputQuantizationError(.notRunnable("\(weight.name): no MLX scales and biases fit it in the written file"), file: path)
        }
        let bits = words * 32 / rowLength, groupSize = rowLength / groups
        try weight.withBytes { words in
            try scales.withBytes { scaleBytes in
                try biases.withBytes { biasBytes in
                    try floats.withUnsafeMutableBufferPointer {
                        try MLXAffine.dequantize(words: words, scales: scaleBytes, biases: biasBytes, parameterType: scales.dtype,
                                                 rowLength: rowLength, groupSize: groupSize, bits: bits, into: $0, threads: threads)
                    }
                }
            }
        }
    }

    /// The figures of the quantized tensors `quantized` (name → values in stored layout, from
    /// `writtenValues`) against `reference`: all of them at once, then each alone (its sensitivity), for
    /// the tensors the connector reads, in the order of `entries`.
    public static func evaluate(_ quantized: [String: [Float]], entries: [QuantizationReport.Entry],
                                reference: OutputReference) throws -> OutputEvaluation.Run {
        let reached = entries.filter { $0.reason.isQuantized && quantized[$0.name] != nil && reference.reads($0.name) }
        let whole = reference.compare(try reference.output(replacing: quantized.filter { reference.reads($0.key) })).figures
        var sensitivities: [OutputEvaluation.Sensitivity] = []
        for entry in reached {
            let figures = reference.compare(try reference.output(replacing: [entry.name: quantized[entry.name]!])).figures
            sensitivities.append(OutputEvaluation.Sensitivity(name: entry.name, type: entry.type, figures: figures))
        }
        return OutputEvaluation.Run(features: reference.features, output: whole, sensitivities: sensitivities)
    }

    /// Quantized tensors of `report` the connector's run does not read.
    public static func notReached(_ report: QuantizationReport, reference: OutputReference) -> [String] {
        report.entries.filter { $0.reason.isQuantized && !reference.reads($0.name) }.map(\.name)
    }
}
