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

/// Decodes whole blocks of a ggml block type to f32 (supplied by the quantization layer).
public typealias BlockDequantizer = @Sendable (DType, UnsafeRawBufferPointer, UnsafeMutableBufferPointer<Float>) throws -> Void

public struct ConversionOptions {
    public var dtype: DTypeChoice = .keep
    public var selection = TensorSelection()
    /// When set, only these tensors (e.g. a detected connector), still filtered by `selection`.
    public var names: Set<String>?
    public var overwrite = false
    /// Decodes block-quantized tensors when `dtype` asks for a float type.
    public var dequantize: BlockDequantizer?
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
                outputs.append(try castTensor(tensor, to: target, dequantize: options.dequantize, overflow: overflow))
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
        if let target = options.dtype.target {
            switch dtype.kind {
            case .float:
                return target
            case .blockQuantized:
                guard options.dequantize != nil else {
                    throw FormatError(.unconvertible("dequantizing \(dtype.rawValue) is not available in this build"),
                                      at: .tensor(tensor.name))
                }
                return target
            case .microFloat where Cast.decodesToFloat32(dtype):
                return target
            default:
                break  // integers, bool, complex and undecodable micro floats are never cast
            }
        }
        guard format.holds(dtype) else {
            let castable = dtype.kind == .float || dtype.kind == .blockQuantized || Cast.decodesToFloat32(dtype)
            let hint = castable ? "use --dtype f32, f16 or bf16 to cast it"
                : "--dtype does not cast \(dtype.rawValue) tensors; leave it out with --exclude"
            throw FormatError(.unconvertible("\(format.rawValue) cannot hold \(dtype.rawValue) (\(hint))"),
                              at: .tensor(tensor.name))
        }
        return dtype
    }

    /// Elements per chunk when casting: small enough to stay in cache, large enough to amortise calls.
    static let chunkElements = 1 << 16

    /// `tensor` cast to the float type `target` as `--dtype` casts it (block types through `dequantize`);
    /// an f16 cast whose values overflow is recorded in `overflow`.
    public static func castTensor(_ tensor: Tensor, to target: DType, dequantize: BlockDequantizer?,
                                  overflow: OverflowLog) throws -> OutputTensor {
        let source = tensor.dtype
        let info = try TensorInfo(name: tensor.name, dtype: target, shape: tensor.shape)
        return OutputTensor(info: info) { output in
            try tensor.withBytes { bytes in
                let count = tensor.info.elementCount
                let floats = UnsafeMutableBufferPointer<Float>.allocate(capacity: chunkElements)
                defer { floats.deallocate() }
                let outSize = target.layout.blockBytes
                var maxMagnitude: Float = 0
                /// Encodes the first `n` values of `floats` into the output, in place in its buffer.
                func emit(_ n: Int) throws {
                    if target == .f16 { maxMagnitude = max(maxMagnitude, Cast.maxAbsFinite(floats.baseAddress!, count: n)) }
                    try output.withUnsafeOutputBuffer(count: n * outSize) { out in
                        Cast.fromFloat32(floats.baseAddress!, count: n, to: target, into: out.baseAddress!)
                    }
                }
                if source.isBlockQuantized {
                    // Whole blocks per chunk.
                    let (blockElements, blockBytes) = source.layout
                    let blocksPerChunk = max(1, chunkElements / blockElements)
                    var block = 0
                    let totalBlocks = count / blockElements
                    while block < totalBlocks {
                        let blocks = min(blocksPerChunk, totalBlocks - block)
                        let n = blocks * blockElements
                        let raw = UnsafeRawBufferPointer(rebasing: bytes[block * blockBytes ..< (block + blocks) * blockBytes])
                        try dequantize!(source, raw, UnsafeMutableBufferPointer(rebasing: floats[0 ..< n]))
                        try emit(n)
                        block += blocks
                    }
                } else {
                    let inSize = source.layout.blockBytes
                    let roundToOdd = source == .f64 && target == .f16  // see Cast: numpy rounds f64 -> f16 once
                    var start = 0
                    while start < count {
                        let n = min(chunkElements, count - start)
                        let input = bytes.baseAddress! + start * inSize
                        if target == .f32 {
                            // Decode straight into the output buffer (the C kernels store unaligned).
                            try output.withUnsafeOutputBuffer(count: n * 4) { out in
                                if Int(bitPattern: out.baseAddress) % MemoryLayout<Float>.alignment == 0 {
                                    Cast.toFloat32(input, source, count: n, into: out.baseAddress!.assumingMemoryBound(to: Float.self))
                                } else {
                                    Cast.toFloat32(input, source, count: n, into: floats.baseAddress!)
                                    out.copyMemory(from: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: floats[0 ..< n])))
                                }
                            }
                        } else {
                            Cast.toFloat32(input, source, count: n, into: floats.baseAddress!, roundToOdd: roundToOdd)
                            try emit(n)
                        }
                        start += n
                    }
                }
                if target == .f16, maxMagnitude >= 65520 { overflow.record(tensor.name, maxMagnitude) }
            }
            tensor.data.release()
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
public final class OverflowLog: @unchecked Sendable {
    public private(set) var entries: [(String, Float)] = []
    public init() {}
    func record(_ name: String, _ magnitude: Float) { entries.append((name, magnitude)) }
}
