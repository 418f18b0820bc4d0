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
    /// When set, only these tensors (e.g. a detected connector), still filtered by `selection`; names
    /// compared as bytes.
    public var names: Set<ExactName>?
    public var overwrite = false
    /// `--strict`: a cast that turns finite values into ±inf is an error (`CastOverflowError`) and nothing
    /// is written, instead of a warning.
    public var strict = false
    /// Called after each tensor and about every MiB within one with (tensors done, total tensors, bytes
    /// done, total bytes): `CheckpointWriter`'s progress.
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
        var writer = try CheckpointWriter(path: path, from: checkpoint, overwrite: options.overwrite)
        var summary = ConversionSummary(output: path, format: writer.format)
        let selected: [Tensor]
        do {
            selected = try options.selection.select(checkpoint.tensors, within: options.names)
        } catch {
            throw error.inFile(checkpoint.path)
        }
        try writer.check(tensorCount: selected.count)

        let overflow = CastOverflow(strict: options.strict, file: checkpoint.path)
        var outputs: [OutputTensor] = []
        for tensor in selected {
            let target = try attributing(to: tensor.file ?? checkpoint.path) {
                try targetDType(for: tensor, format: writer.format, options: options)
            }
            summary.tensors.append(.init(name: tensor.name, from: tensor.dtype, to: target))
            if target == tensor.dtype {
                outputs.append(OutputTensor(copying: tensor))
            } else {
                outputs.append(try castTensor(tensor, to: target, overflow: overflow))
            }
        }
        if let progress = options.progress {
            writer.progress = { progress($0.tensorsDone, $0.tensorsTotal, $0.bytesDone, $0.bytesTotal) }
        }
        let result = try writer.write(outputs, metadata: checkpoint.metadata)
        summary.bytesWritten = result.bytesWritten
        summary.warnings += result.warnings + overflow.warnings
        return summary
    }

    /// The dtype a tensor is written as, or an error when the target cannot hold it.
    static func targetDType(for tensor: Tensor, format: OutputFormat, options: ConversionOptions) throws -> DType {
        let dtype = tensor.dtype
        // Integers, bool, complex and undecodable micro floats are never cast.
        if let target = options.dtype.target, dtype.readsAsFloat32 { return target }
        guard format.holds(dtype) else {
            // Only casts the output can hold, and never to the type it cannot hold (bf16 in numpy).
            let targets = DTypeChoice.allCases.compactMap(\.target).filter { format.holds($0) && $0 != dtype }.map(\.rawValue)
            let castTo = targets.dropLast().joined(separator: ", ") + (targets.count > 1 ? " or " : "") + (targets.last ?? "")
            let hint = dtype.readsAsFloat32 && !targets.isEmpty ? "use --dtype \(castTo) to cast it"
                : "--dtype does not cast \(dtype.rawValue) tensors; leave it out with --exclude"
            throw FormatError(.unconvertible("\(format.rawValue) cannot hold \(dtype.rawValue) (\(hint))"),
                              at: .tensor(tensor.name))
        }
        return dtype
    }

    /// Elements per chunk when casting: small enough to stay in cache, large enough to amortise calls.
    static let chunkElements = 1 << 16

    /// The tensor read as float32 (widened, or dequantized for a block type) and written as `target`, as
    /// `--dtype` casts it (overflows counted in `overflow`).
    public static func castTensor(_ tensor: Tensor, to target: DType, overflow: CastOverflow) throws -> OutputTensor {
        let info = try TensorInfo(name: tensor.name, dtype: target, shape: tensor.shape)
        // numpy rounds f64 -> f16 once, directly: round to odd first (see Cast).
        let f64: Float64Rounding = tensor.dtype == .f64 && target == .f16 ? .toOdd : .toNearestEven
        return OutputTensor(info: info) { output in
            if target == .f32, tensor.dtype != .f64 {
                // Decoded straight into the output's buffer: widening never overflows.
                try tensor.forEachChunk(maxElements: chunkElements, f64: f64) { chunk in
                    try output.withUnsafeOutputBuffer(count: chunk.count * 4) { chunk.decode(into: $0) }
                }
                return
            }
            let size = target.layout.blockBytes
            try tensor.forEachDecodedChunk(maxElements: chunkElements, f64: f64) { values, chunk in
                overflow.check(UnsafeBufferPointer(values), castTo: target, tensor: tensor.name, narrowedFrom: chunk)
                try output.withUnsafeOutputBuffer(count: values.count * size) { out in
                    Cast.fromFloat32(values.baseAddress!, count: values.count, to: target, into: out.baseAddress!)
                }
            }
            try overflow.finish(tensor: tensor.name)
        }
    }
}
