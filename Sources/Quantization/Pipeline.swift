#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import TensorFormats

/// What `connkit quantize` was asked to do.
public struct QuantizeRequest: Sendable {
    public var type: QuantizationType
    /// `--keep` globs.
    public var keep: [String] = []
    /// `--only` globs.
    public var only: [String] = []
    /// `--exclude` globs: tensors left out of the output (and of the report).
    public var exclude: [String] = []
    /// MLX group size (32, 64 or 128).
    public var groupSize = 64
    /// Per-tensor types by tensor name (a `--target-cosine` assignment): a tensor named here is decided by
    /// the same rule with its own type (fallbacks included); the others with `type`. All of one format.
    public var types: [String: QuantizationType] = [:]
    /// Importance vectors by tensor name (ggml's `quant_weights`: one float32 per element of a row),
    /// passed to the ggml types that weight by them; other types ignore them, as `ggml_quantize_chunk` does.
    public var importance: [String: [Float]] = [:]
    /// Entries the output's metadata gets besides the quantization's own (set after them).
    public var metadata: [MetadataEntry] = []
    /// `--strict`: a cast to f16/bf16 that turns finite values into ±inf is an error (`CastOverflowError`)
    /// and nothing is written, instead of a warning in the report.
    public var strict = false
    /// A request under which no tensor would be re-encoded is refused (`nothing-to-quantize`). `splice`
    /// turns it off: it writes the connector whatever its types, encoding each as this request would.
    public var refuseNothingToQuantize = true
    /// Threads for the row-parallel kernels.
    public var threads = Parallel.processorCount
    /// Most bytes of one MLX tensor's codes, scales and biases kept in memory between its three output tensors
    /// (beyond it they are computed again; tests lower it).
    var mlxParameterCacheBytes = 64 << 20
    /// Values per slice: rows are read and processed in slices of about this many elements (tests lower it).
    var sliceElements = 1 << 20

    public init(type: QuantizationType) {
        self.type = type
    }
}

/// `Checkpoint -> [OutputTensor] + metadata + report`: applies `QuantizationPolicy` to every tensor and
/// builds output tensors whose producers stream the work tensor by tensor, a slice of rows at a time
/// (each slice split across threads), filling the accuracy report from the bytes they actually write.
/// Nothing but the slice in flight is held in memory.
public enum QuantizePipeline {
    /// The output, ready for a writer. `report` is complete once every producer has run.
    public final class Prepared {
        public let format: OutputFormat
        public let tensors: [OutputTensor]
        public let metadata: [MetadataEntry]
        let builder: ReportBuilder

        init(format: OutputFormat, tensors: [OutputTensor], metadata: [MetadataEntry], builder: ReportBuilder) {
            self.format = format
            self.tensors = tensors
            self.metadata = metadata
            self.builder = builder
        }

        /// The report, with the warnings of the casts done so far.
        public var report: QuantizationReport {
            var report = builder.report
            report.warnings = builder.overflow.warnings
            return report
        }
    }

    /// Plans the output of quantizing `checkpoint` into a file at `outputPath` (whose extension sets the
    /// format). Throws for a request that cannot be met (`QuantizationError`) before anything is written.
    public static func prepare(_ checkpoint: Checkpoint, outputPath: String, request: QuantizeRequest) throws -> Prepared {
        guard let format = OutputFormat(path: outputPath), format == .gguf || format == .safetensors else {
            throw QuantizationError(.invalidRequest("the output must be a .gguf or .safetensors file: \(outputPath)"))
        }
        for type in [request.type] + request.types.values.sorted(by: { $0.name < $1.name }) {
            switch type {
            case .ggml(let type) where format != .gguf:
                throw QuantizationError(.invalidRequest("\(type.rawValue) is a ggml block type: write a .gguf file"))
            case .mlx(let bits) where format != .safetensors:
                throw QuantizationError(.invalidRequest("mlx-q\(bits) is written to safetensors: write a .safetensors file"))
            case .mlx:
                guard MLXAffine.groupSizes.contains(request.groupSize) else { throw QuantizationError(.groupSize(request.groupSize)) }
            default:
                break
            }
        }
        for name in request.types.keys.sorted() where checkpoint.tensor(named: name) == nil {
            throw QuantizationError(.invalidRequest("a type is given for \(name), which the checkpoint does not hold"))
        }
        let policy = QuantizationPolicy(type: request.type, keep: request.keep.map(Glob.init), only: request.only.map(Glob.init),
                                        groupSize: request.groupSize, output: format, inputIsGGUF: checkpoint.format == .gguf)
        let kept: [Tensor]
        do {
            let names = checkpoint.tensors.map(\.name)
            try TensorSelection.requireMatches(policy.only, option: "--only", among: names)
            try TensorSelection.requireMatches(policy.keep, option: "--keep", among: names)
            kept = try TensorSelection(exclude: request.exclude.map(Glob.init)).select(checkpoint.tensors)
        } catch {
            throw error.inFile(checkpoint.path)
        }
        let mixed = !request.types.isEmpty
        let anyMLX = ([request.type] + request.types.values).contains { $0.isMLX }
        var report = QuantizationReport(input: checkpoint.path, output: outputPath, format: format, type: mixed ? nil : request.type,
                                        groupSize: anyMLX ? request.groupSize : nil)
        var plans: [(Tensor, QuantizationPolicy.Decision)] = []
        for tensor in kept {
            var own = policy
            if let type = request.types[tensor.name] { own.type = type }
            let decision = try own.decide(tensor.info)
            if let weights = request.importance[tensor.name] {
                try ImportanceWeights.check(weights, for: tensor.info, action: decision.action)
            }
            plans.append((tensor, decision))
        }
        if request.refuseNothingToQuantize { try ReEncoding.requireSome(plans) }
        let builder = ReportBuilder(overflow: CastOverflow(strict: request.strict, file: checkpoint.path))
        var outputs: [OutputTensor] = []
        var names = Set(checkpoint.tensors.map { ExactName($0.name) })
        for (tensor, decision) in plans {
            let index = report.entries.count
            let entryTensors = try outputTensors(for: tensor, decision: decision, format: format, request: request,
                                                 builder: builder, entry: index, names: &names)
            let bytesAfter = entryTensors.reduce(0) { $0 + $1.info.byteCount }
            report.entries.append(.init(name: tensor.name, sourceDType: tensor.dtype, type: typeName(decision.action, tensor.dtype),
                                        reason: decision.reason, bytesBefore: tensor.info.byteCount, bytesAfter: bytesAfter,
                                        elements: tensor.info.elementCount, metrics: nil))
            outputs += entryTensors
        }
        builder.report = report
        let metadata = try outputMetadata(checkpoint, format: format, report: report, request: request,
                                          fileType: ReEncoding.fileType(plans, bytesAfter: report.entries.map(\.bytesAfter)))
        return Prepared(format: format, tensors: outputs, metadata: metadata, builder: builder)
    }

    /// Quantizes `checkpoint` into `path` (atomically: nothing appears at `path` unless everything
    /// succeeded) and returns the report. `progress` gets (tensors written, total, bytes written, total
    /// bytes) after each output tensor and about every MiB within one.
    public static func run(_ checkpoint: Checkpoint, to path: String, request: QuantizeRequest, overwrite: Bool,
                           progress: ((Int, Int, Int, Int) -> Void)? = nil) throws -> QuantizationReport {
        let prepared = try prepare(checkpoint, outputPath: path, request: request)
        var writer = try CheckpointWriter(path: path, from: checkpoint, overwrite: overwrite)
        if let progress {
            writer.progress = { progress($0.tensorsDone, $0.tensorsTotal, $0.bytesDone, $0.bytesTotal) }
        }
        let written = try writer.write(prepared.tensors, metadata: prepared.metadata)
        var report = prepared.report
        report.warnings += written.warnings
        return report
    }

    static func typeName(_ action: QuantizationPolicy.Action, _ source: DType) -> String {
        switch action {
        case .ggml(let dtype), .float(let dtype): dtype.rawValue
        case .mlx(let bits, _): "mlx-q\(bits)"
        case .copy: source.rawValue
        }
    }

    // MARK: output tensors

    static func outputTensors(for tensor: Tensor, decision: QuantizationPolicy.Decision, format: OutputFormat,
                              request: QuantizeRequest, builder: ReportBuilder, entry: Int,
                              names: inout Set<ExactName>) throws -> [OutputTensor] {
        let info = tensor.info
        let isFloat = info.dtype.kind == .float
        switch decision.action {
        case .copy:
            guard format.holds(info.dtype) else {
                let hint = info.dtype.isBlockQuantized && info.elementCount > 0 ? "select it with --only to re-quantize it"
                    : "leave it out with --exclude"
                throw QuantizationError(.invalidRequest("\(format.rawValue) cannot hold \(info.dtype.rawValue) (\(hint))"),
                                        tensor: info.name)
            }
            guard isFloat else { return [OutputTensor(copying: tensor)] }
            // A kept float tensor: copied as it is; the report compares it with itself.
            let copy = OutputTensor(copying: tensor)
            return [OutputTensor(info: info) { output in
                try copy.produce(output)
                var metrics = ErrorMetrics()
                try forEachSlice(of: tensor, rows: 1, request) { values, _ in
                    metrics.merge(.measure(original: values.baseAddress!, result: values.baseAddress!, count: values.count,
                                           threads: request.threads))
                }
                builder.setMetrics(metrics, entry: entry)
            }]
        case .float(let target):
            let outInfo = try TensorInfo(name: info.name, dtype: target, shape: info.shape)
            return [OutputTensor(info: outInfo) { output in
                var metrics = ErrorMetrics()
                let scratch = SliceScratch()
                try forEachSlice(of: tensor, rows: rowLength(info), request) { values, chunk in
                    let n = values.count
                    builder.overflow.check(UnsafeBufferPointer(values), castTo: target, tensor: info.name, narrowedFrom: chunk)
                    let encoded = try scratch.bytes(0, n * target.layout.blockBytes)
                    Cast.fromFloat32(values.baseAddress!, count: n, to: target, into: encoded.baseAddress!)
                    try output.write(UnsafeRawBufferPointer(encoded))
                    let decoded = try scratch.floats(1, n)
                    Cast.toFloat32(encoded.baseAddress!, target, count: n, into: decoded)
                    metrics.merge(.measure(original: values.baseAddress!, result: decoded, count: n, threads: request.threads))
                }
                try builder.overflow.finish(tensor: info.name)
                builder.setMetrics(metrics, entry: entry)
            }]
        case .ggml(let target):
            let outInfo = try TensorInfo(name: info.name, dtype: target, shape: info.shape)
            let rowLength = rowLength(info)
            let threads = request.threads
            let importance = request.importance[info.name]
            return [OutputTensor(info: outInfo) { output in
                var metrics = ErrorMetrics()
                let scratch = SliceScratch()
                try forEachSlice(of: tensor, rows: rowLength, request) { values, chunk in
                    // Whole rows of whole blocks: the quantizer checks the row length first.
                    let bytes = try scratch.bytes(0, values.count / target.layout.blockElements * target.layout.blockBytes)
                    do {
                        try ImportanceWeights.quantize(UnsafeBufferPointer(values), rowLength: rowLength, as: target,
                                                       importance: importance, into: bytes, threads: threads)
                    } catch let error as QuantizationError {
                        throw error.located(from: chunk.firstElement, shape: info.shape).on(tensor: info.name)
                    }
                    try output.write(UnsafeRawBufferPointer(bytes))
                    let back = UnsafeMutableBufferPointer(start: try scratch.floats(1, values.count), count: values.count)
                    try GGMLBlocks.dequantize(target, UnsafeRawBufferPointer(bytes), into: back, threads: threads)
                    metrics.merge(.measure(original: values.baseAddress!, result: back.baseAddress!, count: values.count,
                                           threads: threads))
                }
                builder.setMetrics(metrics, entry: entry)
            }]
        case .mlx(let bits, let groupSize):
            return try mlxTensors(for: tensor, bits: bits, groupSize: groupSize, request: request, builder: builder,
                                  entry: entry, names: &names)
        }
    }

    /// A packed `name` (uint32), `base.scales` and `base.biases` where `base` is the name without
    /// `.weight` (mlx-lm's layout).
    static func mlxTensors(for tensor: Tensor, bits: Int, groupSize: Int, request: QuantizeRequest,
                           builder: ReportBuilder, entry: Int,
                           names: inout Set<ExactName>) throws -> [OutputTensor] {
        let threads = request.threads
        let info = tensor.info
        let base = moduleName(info.name)
        for suffix in [".scales", ".biases"] where !names.insert(ExactName(base + suffix)).inserted {
            throw QuantizationError(.invalidRequest("the MLX scales and biases of this tensor would be named \(base + suffix), "
                + "which the checkpoint already uses"), tensor: info.name)
        }
        let rowLength = rowLength(info)
        let parameterType = MLXAffine.parameterDType(for: info.dtype)
        let prefix = Array(info.shape.dropLast())
        // The policy sends only non-empty tensors here, whose row length is at most the element count the
        // file backs; the arithmetic is checked all the same.
        guard info.elementCount > 0, let wordsPerRow = MLXAffine.wordsPerRow(rowLength, bits: bits) else {
            throw QuantizationError(.sizeMismatch(expected: 1, found: info.elementCount), tensor: info.name)
        }
        let weightInfo = try TensorInfo(name: info.name, dtype: .u32, shape: prefix + [wordsPerRow])
        let scalesInfo = try TensorInfo(name: base + ".scales", dtype: parameterType, shape: prefix + [rowLength / groupSize])
        let biasesInfo = try TensorInfo(name: base + ".biases", dtype: parameterType, shape: prefix + [rowLength / groupSize])
        // Writers may call the three producers in any order (safetensors orders tensors by dtype, then
        // name: an f32 tensor's scales and biases come before its codes). The first to run quantizes the
        // tensor slice by slice, writes its part and, when the three parts fit in `mlxParameterCacheBytes`,
        // computes them all (and the report's figures) and keeps the two it did not write; the others write
        // those. Otherwise each quantizes again: the weight's producer computes the codes and the report's
        // figures, the others only the scales and biases.
        enum Part { case words, scales, biases }
        let parameterBytes = info.elementCount / groupSize * parameterType.layout.blockBytes
        let wordBytes = info.elementCount * bits / 8
        let cache = MLXParameterCache(keeping: 2 * parameterBytes + wordBytes <= request.mlxParameterCacheBytes)
        @Sendable func produce(_ part: Part, _ output: OutputFile) throws {
            if let kept = cache.kept {
                try (part == .scales ? kept.scales : part == .biases ? kept.biases : kept.words).withUnsafeBytes { try output.write($0) }
                return
            }
            var kept = (scales: [UInt8](), biases: [UInt8](), words: [UInt8]())
            let codes = part == .words || cache.keeping
            if cache.keeping {
                kept.scales.reserveCapacity(parameterBytes)
                kept.biases.reserveCapacity(parameterBytes)
                if part != .words { kept.words.reserveCapacity(wordBytes) }
            }
            var metrics = ErrorMetrics()
            let parameterSize = parameterType.layout.blockBytes
            let scratch = SliceScratch()
            try forEachSlice(of: tensor, rows: rowLength, request) { values, chunk in
                let packed = try scratch.bytes(0, values.count * bits / 8)
                let scaleSlice = try scratch.bytes(1, values.count / groupSize * parameterSize)
                let biasSlice = try scratch.bytes(2, values.count / groupSize * parameterSize)
                do {
                    try MLXAffine.quantize(UnsafeBufferPointer(values), rowLength: rowLength, groupSize: groupSize, bits: bits,
                                           parameterType: parameterType, words: codes ? packed : nil,
                                           scales: scaleSlice, biases: biasSlice, threads: threads)
                } catch let error as QuantizationError {
                    throw error.located(from: chunk.firstElement, shape: info.shape).on(tensor: info.name)
                }
                try output.write(UnsafeRawBufferPointer(part == .words ? packed : part == .scales ? scaleSlice : biasSlice))
                if codes {
                    let back = UnsafeMutableBufferPointer(start: try scratch.floats(3, values.count), count: values.count)
                    try MLXAffine.dequantize(words: UnsafeRawBufferPointer(packed), scales: UnsafeRawBufferPointer(scaleSlice),
                                             biases: UnsafeRawBufferPointer(biasSlice), parameterType: parameterType,
                                             rowLength: rowLength, groupSize: groupSize, bits: bits, into: back,
                                             threads: threads)
                    metrics.merge(.measure(original: values.baseAddress!, result: back.baseAddress!, count: values.count,
                                           threads: threads))
                }
                if cache.keeping {
                    kept.scales.append(contentsOf: UnsafeRawBufferPointer(scaleSlice))
                    kept.biases.append(contentsOf: UnsafeRawBufferPointer(biasSlice))
                    if part != .words { kept.words.append(contentsOf: UnsafeRawBufferPointer(packed)) }
                }
            }
            if cache.keeping { cache.keep(kept) }
            if codes { builder.setMetrics(metrics, entry: entry) }
        }
        let weight = OutputTensor(info: weightInfo) { try produce(.words, $0) }
        let scales = OutputTensor(info: scalesInfo) { try produce(.scales, $0) }
        let biases = OutputTensor(info: biasesInfo) { try produce(.biases, $0) }
        return [weight, scales, biases]
    }

    /// The last row-major dimension (1 for a scalar).
    static func rowLength(_ info: TensorInfo) -> Int {
        max(1, info.shape.last ?? 1)
    }

    /// Calls `body` with consecutive slices of whole rows of `tensor` as float32 (and the chunk they were
    /// decoded from: its first element, an f64 tensor's source values), `request.sliceElements` values at a
    /// time: the memory in use stays at one slice whatever the tensor's size.
    static func forEachSlice(of tensor: Tensor, rows rowLength: Int, _ request: QuantizeRequest,
                             _ body: (UnsafeMutableBufferPointer<Float>, FloatChunk) throws -> Void) throws {
        try tensor.forEachDecodedChunk(rowsOf: rowLength, maxElements: request.sliceElements, threads: request.threads, body)
    }
}

/// The report under construction: producers add each tensor's figures when they have written it.
final class ReportBuilder: Sendable {
    private let state = Mutex(QuantizationReport(input: "", output: "", format: .gguf, type: .cast(.f32)))
    /// What the float casts turned into ±inf.
    let overflow: CastOverflow

    init(overflow: CastOverflow) {
        self.overflow = overflow
    }

    var report: QuantizationReport {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }

    func setMetrics(_ metrics: ErrorMetrics, entry: Int) {
        state.withLock { $0.entries[entry].metrics = metrics }
    }
}

/// Scratch memory a producer reuses from slice to slice: each slot is allocated at the size of its first
/// request (a producer's first slice is its largest), so no buffer is sized from the tensor's shape. A
/// failed allocation is a thrown error, not the abort of Swift's allocators.
final class SliceScratch {
    private var slots: [Int: UnsafeMutableRawBufferPointer] = [:]

    deinit { for buffer in slots.values { free(buffer.baseAddress) } }

    /// `count` bytes of slot `slot`, 64-byte aligned.
    func bytes(_ slot: Int, _ count: Int) throws -> UnsafeMutableRawBufferPointer {
        let buffer: UnsafeMutableRawBufferPointer
        if let kept = slots[slot] {
            buffer = kept
        } else {
            var raw: UnsafeMutableRawPointer?
            guard count >= 0, posix_memalign(&raw, 64, max(count, 1)) == 0, let raw else {
                throw QuantizationError(.outOfMemory(bytes: count))
            }
            buffer = UnsafeMutableRawBufferPointer(start: raw, count: max(count, 1))
            slots[slot] = buffer
        }
        precondition(count <= buffer.count, "a slice larger than the first one")
        return UnsafeMutableRawBufferPointer(rebasing: buffer[0 ..< count])
    }

    /// `count` floats of slot `slot`.
    func floats(_ slot: Int, _ count: Int) throws -> UnsafeMutablePointer<Float> {
        guard let size = Checked.multiply(count, MemoryLayout<Float>.stride) else { throw QuantizationError(.outOfMemory(bytes: Int.max)) }
        return try bytes(slot, size).baseAddress!.bindMemory(to: Float.self, capacity: count)
    }
}

/// One MLX tensor's stored scales, biases and codes, kept by the first of its producers to run for the
/// other two (its own part is left empty).
final class MLXParameterCache: Sendable {
    typealias Parts = (scales: [UInt8], biases: [UInt8], words: [UInt8])
    /// Whether the three parts are small enough to keep.
    let keeping: Bool
    private let stored = Mutex<Parts?>(nil)

    init(keeping: Bool) { self.keeping = keeping }

    var kept: Parts? { stored.withLock { $0 } }

    func keep(_ parts: Parts) { stored.withLock { $0 = parts } }
}
