/// The container a path names, by extension.
public enum OutputFormat: String, Sendable, CaseIterable {
    case safetensors, gguf, npz, npy

    public init?(path: String) {
        switch CheckpointReader.fileExtension(path) {
        case "safetensors": self = .safetensors
        case "gguf": self = .gguf
        case "npz": self = .npz
        case "npy": self = .npy
        default: return nil
        }
    }

    /// Whether the format stores `dtype` as it is.
    public func holds(_ dtype: DType) -> Bool {
        switch self {
        case .safetensors: dtype.safetensorsName != nil
        case .gguf: dtype.ggmlType != nil
        case .npz, .npy: dtype.numpyCode != nil
        }
    }
}

/// `--dtype`: keep every tensor as it is, or cast every floating tensor to one type.
public enum DTypeChoice: String, Sendable, CaseIterable {
    case keep, f32, f16, bf16

    public var target: DType? {
        switch self {
        case .keep: nil
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        }
    }
}

public struct ConversionOptions {
    public var dtype: DTypeChoice = .keep
    public var selection = TensorSelection()
    /// When set, only these tensors (e.g. a detected connector), still filtered by `selection`.
    public var names: Set<String>?
    public var overwrite = false
    /// Called after each tensor with (tensors done, total tensors, bytes done, total bytes).
    public var progress: ((Int, Int, Int, Int) -> Void)?

    public init() {}
}

/// What a conversion did, for the command's summary.
public struct ConversionSummary: Sendable {
    public struct Entry: Sendable {
        public var name: String
        public var from: DType
        public var to: DType
    }

    public var output: String
    public var format: OutputFormat
    public var tensors: [Entry] = []
    public var bytesWritten = 0
    /// Human-readable warnings (f16 overflow, metadata that could not be carried).
    public var warnings: [String] = []
}

/// Converts a checkpoint to another container and/or dtype, streaming tensor by tensor into an atomic
/// output. Lossless by default: a tensor the target cannot hold as it is stops the conversion with an
/// error that names it.
public enum Converter {
    public static func convert(_ checkpoint: Checkpoint, to path: String, options: ConversionOptions) throws -> ConversionSummary {
        guard let format = OutputFormat(path: path) else {
            throw FormatError(.unsupportedFormat("unknown output extension (use .safetensors, .gguf, .npz or .npy)"), file: path)
        }
        var summary = ConversionSummary(output: path, format: format)
        let selected = checkpoint.tensors.filter { tensor in
            options.selection.includes(tensor.name) && (options.names?.contains(tensor.name) ?? true)
        }
        if format == .npy, selected.count != 1 {
            throw FormatError(.unconvertible(
                ".npy holds exactly one tensor but \(selected.count) are selected (use --only NAME, or write .npz)"), file: path)
        }

        let overflow = OverflowLog()
        var outputs: [OutputTensor] = []
        for tensor in selected {
            let target = try targetDType(for: tensor, format: format, options: options)
            summary.tensors.append(.init(name: tensor.name, from: tensor.dtype, to: target))
            if target == tensor.dtype {
                outputs.append(OutputTensor(copying: tensor))
            } else {
                outputs.append(try castTensor(tensor, to: target, overflow: overflow))
            }
        }
        let metadata = try outputMetadata(checkpoint, format: format, summary: &summary)

        let inputs = checkpoint.shards.isEmpty ? [checkpoint.path] : [checkpoint.path] + checkpoint.shards.map {
            (checkpoint.path.lastIndex(of: "/").map { String(checkpoint.path[...$0]) } ?? "") + $0
        }
        let output = try OutputFile(path: path, overwrite: options.overwrite, inputs: inputs)
        do {
            let totalBytes = outputs.reduce(0) { $0 + $1.info.byteCount }
            var doneBytes = 0
            let progressing = outputs.enumerated().map { index, tensor in
                OutputTensor(info: tensor.info) { file in
                    try tensor.produce(file)
                    doneBytes += tensor.info.byteCount
                    options.progress?(index + 1, outputs.count, doneBytes, totalBytes)
                }
            }
            switch format {
            case .safetensors: try SafetensorsWriter.write(tensors: progressing, metadata: metadata, to: output)
            case .gguf: try GGUFWriter.write(tensors: progressing, metadata: metadata, to: output)
            case .npz: try NpzWriter.write(tensors: progressing, to: output)
            case .npy: try NpyWriter.write(tensor: progressing[0], to: output)
            }
            try output.commit()
            summary.bytesWritten = output.position
        } catch {
            output.abandon()
            throw error
        }
        for (name, magnitude) in overflow.entries {
            summary.warnings.append("tensor '\(name)': values up to \(magnitude) exceed the f16 range (±65504) and became ±inf")
        }
        return summary
    }

    /// The dtype a tensor is written as, or an error when the target cannot hold it.
    static func targetDType(for tensor: Tensor, format: OutputFormat, options: ConversionOptions) throws -> DType {
        let dtype = tensor.dtype
        // Integers, bool, complex and undecodable micro floats are never cast.
        if let target = options.dtype.target, dtype.readsAsFloat32 { return target }
        guard format.holds(dtype) else {
            let hint = dtype.readsAsFloat32 ? "use --dtype f32, f16 or bf16 to cast it"
                : "--dtype does not cast \(dtype.rawValue) tensors; leave it out with --exclude"
            throw FormatError(.unconvertible("\(format.rawValue) cannot hold \(dtype.rawValue) (\(hint))"),
                              at: .tensor(tensor.name))
        }
        return dtype
    }

    /// Elements per chunk when casting: small enough to stay in cache, large enough to amortise calls.
    static let chunkElements = 1 << 16

    /// The tensor read as float32 (widened, or dequantized for a block type) and written as `target`.
    static func castTensor(_ tensor: Tensor, to target: DType, overflow: OverflowLog) throws -> OutputTensor {
        let info = try TensorInfo(name: tensor.name, dtype: target, shape: tensor.shape)
        // numpy rounds f64 -> f16 once, directly: round to odd first (see Cast).
        let f64: Float64Rounding = tensor.dtype == .f64 && target == .f16 ? .toOdd : .toNearestEven
        return OutputTensor(info: info) { output in
            if target == .f32 {
                // Decoded straight into the output's buffer.
                try tensor.forEachChunk(maxElements: chunkElements, f64: f64) { chunk in
                    try output.withUnsafeOutputBuffer(count: chunk.count * 4) { chunk.decode(into: $0) }
                }
                return
            }
            let size = target.layout.blockBytes
            var maxMagnitude: Float = 0
            try tensor.forEachFloatChunk(maxElements: chunkElements, f64: f64) { values, _ in
                if target == .f16 { maxMagnitude = max(maxMagnitude, Cast.maxAbsFinite(values.baseAddress!, count: values.count)) }
                try output.withUnsafeOutputBuffer(count: values.count * size) { out in
                    Cast.fromFloat32(values.baseAddress!, count: values.count, to: target, into: out.baseAddress!)
                }
            }
            if target == .f16, maxMagnitude >= 65520 { overflow.record(tensor.name, maxMagnitude) }
        }
    }

    /// Metadata the target can hold: safetensors keeps strings (other values as JSON text), GGUF keeps
    /// typed keys and gets a `general.architecture`, numpy files hold none.
    static func outputMetadata(_ checkpoint: Checkpoint, format: OutputFormat,
                               summary: inout ConversionSummary) throws -> [MetadataEntry] {
        switch format {
        case .safetensors:
            return checkpoint.metadata.map { MetadataEntry($0.key, .string($0.value.text)) }
        case .gguf:
            var entries = checkpoint.metadata
            if entries["general.architecture"] == nil {
                entries.insert(MetadataEntry("general.architecture", .string(defaultArchitecture)), at: 0)
            } else if let index = entries.firstIndex(where: { $0.key == "general.architecture" }), index != 0 {
                entries.insert(entries.remove(at: index), at: 0)
            }
            return entries
        case .npz, .npy:
            if !checkpoint.metadata.isEmpty {
                summary.warnings.append("\(checkpoint.metadata.count) metadata entries not carried: numpy files hold no metadata")
            }
            return []
        }
    }

    /// `general.architecture` of a GGUF written from a file that names none: it holds plain tensors.
    public static let defaultArchitecture = "tensors"
}

/// Tensors whose f16 cast overflowed, in the order found.
final class OverflowLog: @unchecked Sendable {
    private(set) var entries: [(String, Float)] = []
    func record(_ name: String, _ magnitude: Float) { entries.append((name, magnitude)) }
}
