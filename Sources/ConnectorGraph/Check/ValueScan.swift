import CConnkit
import TensorFormats

/// Statistics of one tensor's values, read once from the mapping.
public struct ValueStats: Sendable, Equatable {
    public var elements = 0
    public var nan = 0
    public var infinite = 0
    public var zeros = 0
    /// Largest finite magnitude.
    public var maxAbs: Float = 0
    /// All elements equal (NaN never equals anything, so a NaN breaks it).
    public var constant = true
    public var first: Float?
    /// Flat indices of the first non-finite elements, in storage order (at most `positionLimit`).
    public var nonFinitePositions: [Int] = []

    public static let positionLimit = 8

    mutating func merge(_ other: ValueStats) {
        guard other.elements > 0 else { return }
        guard elements > 0 else {
            self = other
            return
        }
        constant = constant && other.constant && first != nil && first == other.first
        elements += other.elements
        nan += other.nan
        infinite += other.infinite
        zeros += other.zeros
        maxAbs = max(maxAbs, other.maxAbs)
        nonFinitePositions = Array((nonFinitePositions + other.nonFinitePositions).prefix(ValueStats.positionLimit))
    }
}

/// Reads tensor values in parallel: each tensor is cut into chunks of at most `chunkElements`
/// elements (tensors not lying verbatim in a file are one chunk, so they are materialised once), and
/// the chunks are spread over the cores; each is read as float32 (`Tensor.forEachFloatChunk`) a
/// cache-sized batch at a time.
public enum ValueScanner {
    public static let chunkElements = 1 << 22
    /// Values per batch folded into the statistics.
    static let batchElements = 4096
    /// The dtypes scanned: the plain floats (block-quantized tensors are checked for shape only).
    static let scanned: Set<DType> = [.f32, .f16, .bf16, .f64]

    /// Float tensors (f32, f16, bf16, f64) are scanned; nil for other dtypes.
    public static func scan(_ tensors: [Tensor]) throws -> [ValueStats?] {
        TestHold.point()
        var chunks: [(tensor: Int, elements: Range<Int>)] = []
        for (index, tensor) in tensors.enumerated() where scanned.contains(tensor.dtype) {
            let total = tensor.info.elementCount
            let step = tensor.data.fileRegion == nil ? max(total, 1) : chunkElements
            for start in stride(from: 0, to: total, by: step) {
                chunks.append((index, start ..< min(total, start + step)))
            }
        }
        let results = Parallel.map(count: chunks.count, threads: Parallel.processorCount) { positions in
            Result { () throws -> [ValueStats] in
                try positions.map { position in
                    let (index, elements) = chunks[position]
                    // Finite chunks of a mapped f32/f16/bf16 tensor are read from their bits; anything else,
                    // and a chunk holding a NaN or an infinity, is read as float32 below.
                    if let stats = bitStats(tensors[index], elements), stats.nan == 0, stats.infinite == 0 { return stats }
                    var stats = ValueStats()
                    // A finite f64 beyond Float's range still counts as a huge finite value.
                    try tensors[index].forEachFloatChunk(maxElements: batchElements, in: elements, f64: .saturating) { values, firstElement in
                        accumulate(UnsafeBufferPointer(values), offset: firstElement, into: &stats)
                    }
                    return stats
                }
            }
        }
        var merged = tensors.map { scanned.contains($0.dtype) ? ValueStats() as ValueStats? : nil }
        for (chunk, stats) in zip(chunks, try results.flatMap { try $0.get() }) {
            merged[chunk.tensor]!.merge(stats)
        }
        return merged
    }

    /// The statistics of a chunk of an f32, f16 or bf16 tensor lying verbatim in a mapped file, computed from
    /// the stored bits (`ck_value_stats_*`: the same counts, magnitude and constancy as reading the values as
    /// float32, without decoding them); the chunk's pages are let go afterwards. Nil for other tensors.
    static func bitStats(_ tensor: Tensor, _ elements: Range<Int>) -> ValueStats? {
        guard let region = tensor.data.fileRegion, region.count == tensor.info.byteCount, !elements.isEmpty else { return nil }
        let width: Int
        switch tensor.dtype {
        case .f32: width = 4
        case .f16, .bf16: width = 2
        default: return nil
        }
        let offset = region.offset + elements.lowerBound * width, count = elements.count * width
        var raw = ck_value_stats()
        let first: Float? = try? region.file.withBytes(offset: offset, count: count) { bytes -> Float? in
            guard let base = bytes.baseAddress, bytes.count == count else { return nil }
            switch tensor.dtype {
            case .f32:
                ck_value_stats_f32(base.assumingMemoryBound(to: UInt32.self), elements.count, &raw)
                return Float(bitPattern: base.loadUnaligned(as: UInt32.self))
            case .f16:
                ck_value_stats_f16(base.assumingMemoryBound(to: UInt16.self), elements.count, &raw)
                return Float(Float16(bitPattern: base.loadUnaligned(as: UInt16.self)))
            default:
                ck_value_stats_bf16(base.assumingMemoryBound(to: UInt16.self), elements.count, &raw)
                return Float(bitPattern: UInt32(base.loadUnaligned(as: UInt16.self)) << 16)
            }
        }
        region.file.release(offset: offset, count: count)
        guard let first else { return nil }
        let maxAbs: Float = switch tensor.dtype {
        case .f32: Float(bitPattern: raw.max_bits)
        case .f16: Float(Float16(bitPattern: UInt16(truncatingIfNeeded: raw.max_bits)))
        default: Float(bitPattern: raw.max_bits << 16)
        }
        return ValueStats(elements: elements.count, nan: Int(raw.nan), infinite: Int(raw.infinite), zeros: Int(raw.zeros),
                          maxAbs: maxAbs, constant: raw.constant != 0, first: first)
    }

    /// Folds a batch of values (elements `offset…` of the tensor) into the statistics: a tight loop over
    /// local counters; the rare non-finite element also records its position.
    static func accumulate(_ values: UnsafeBufferPointer<Float>, offset: Int, into stats: inout ValueStats) {
        guard !values.isEmpty else { return }
        var nan = 0, infinite = 0, zeros = 0
        var maxAbs = stats.maxAbs
        let first = stats.first ?? values[0]
        var constant = stats.constant
        var positions = stats.nonFinitePositions
        for (position, value) in values.enumerated() {
            let magnitude = abs(value)
            if magnitude.isFinite {
                if magnitude > maxAbs { maxAbs = magnitude }
                if value == 0 { zeros += 1 }
            } else {
                if value.isNaN { nan += 1 } else { infinite += 1 }
                if positions.count < ValueStats.positionLimit { positions.append(offset + position) }
            }
            // NaN never equals `first`, so a NaN also ends constancy.
            if value != first { constant = false }
        }
        if stats.first == nil { stats.first = first }
        stats.elements += values.count
        stats.nan += nan
        stats.infinite += infinite
        stats.zeros += zeros
        stats.maxAbs = maxAbs
        stats.constant = constant
        stats.nonFinitePositions = positions
    }
}
