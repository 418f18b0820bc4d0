import CConnkit
import Dispatch
import TensorFormats
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
/// the chunks are spread over the cores with `concurrentPerform`.
public enum ValueScanner {
    public static let chunkElements = 1 << 22

    struct Chunk {
        var tensor: Int
        var start: Int
        var count: Int
    }

    /// Float tensors (f32, f16, bf16, f64) are scanned; nil for other dtypes.
    public static func scan(_ tensors: [Tensor]) throws -> [ValueStats?] {
        var chunks: [Chunk] = []
        for (index, tensor) in tensors.enumerated() {
            guard [.f32, .f16, .bf16, .f64].contains(tensor.dtype) else { continue }
            let total = tensor.info.elementCount
            if tensor.data.fileRegion == nil || total <= chunkElements {
                chunks.append(Chunk(tensor: index, start: 0, count: total))
            } else {
                var start = 0
                while start < total {
                    let count = min(chunkElements, total - start)
                    chunks.append(Chunk(tensor: index, start: start, count: count))
                    start += count
                }
            }
        }
        let results = ResultBox(count: chunks.count)
        let chunkList = chunks
        DispatchQueue.concurrentPerform(iterations: chunkList.count) { position in
            let chunk = chunkList[position]
            let tensor = tensors[chunk.tensor]
            do {
                let stats = try tensor.withBytes { bytes in scanChunk(bytes, dtype: tensor.dtype, start: chunk.start, count: chunk.count) }
                results.set(position, .success(stats))
            } catch {
                results.set(position, .failure(error))
            }
        }
        var merged = [ValueStats?](repeating: nil, count: tensors.count)
        for (position, chunk) in chunkList.enumerated() {
            switch results.get(position) {
            case .success(let stats):
                var current = merged[chunk.tensor] ?? ValueStats()
                current.merge(stats)
                merged[chunk.tensor] = current
            case .failure(let error):
                throw error
            case nil:
                continue
            }
        }
        for (index, tensor) in tensors.enumerated() where merged[index] == nil && [.f32, .f16, .bf16, .f64].contains(tensor.dtype) {
            merged[index] = ValueStats()
        }
        return merged
    }

    /// Statistics of elements `start ..< start + count` of a row-major little-endian buffer (chunks of one
    /// tensor are merged in the order of `start`, so the positions stay in storage order).
    static func scanChunk(_ bytes: UnsafeRawBufferPointer, dtype: DType, start: Int, count: Int) -> ValueStats {
        var stats = ValueStats()
        guard count > 0, let base = bytes.baseAddress else { return stats }
        switch dtype {
        case .f32:
            let batch = 4096
            var floats = [Float](repeating: 0, count: batch)
            var done = 0
            while done < count {
                let n = min(batch, count - done)
                floats.withUnsafeMutableBytes { raw in
                    raw.copyMemory(from: UnsafeRawBufferPointer(start: base.advanced(by: (start + done) * 4), count: n * 4))
                }
                floats.withUnsafeBufferPointer { accumulate(UnsafeBufferPointer(rebasing: $0[0 ..< n]), offset: start + done, into: &stats) }
                done += n
            }
        case .f64:
            let values = base.advanced(by: start * 8)
            var floats = [Float](repeating: 0, count: min(count, 4096))
            var done = 0
            while done < count {
                let n = min(floats.count, count - done)
                for i in 0 ..< n {
                    let value = values.loadUnaligned(fromByteOffset: (done + i) * 8, as: Double.self)
                    // A finite f64 beyond Float's range still counts as a huge finite value.
                    floats[i] = value.isFinite && abs(value) > Double(Float.greatestFiniteMagnitude) ? Float.greatestFiniteMagnitude : Float(value)
                }
                floats.withUnsafeBufferPointer { accumulate(UnsafeBufferPointer(rebasing: $0[0 ..< n]), offset: start + done, into: &stats) }
                done += n
            }
        case .f16, .bf16:
            let batch = 4096
            var buffer = [UInt16](repeating: 0, count: batch)
            var floats = [Float](repeating: 0, count: batch)
            var done = 0
            while done < count {
                let n = min(batch, count - done)
                buffer.withUnsafeMutableBytes { raw in
                    raw.copyMemory(from: UnsafeRawBufferPointer(start: base.advanced(by: (start + done) * 2), count: n * 2))
                }
                buffer.withUnsafeBufferPointer { source in
                    floats.withUnsafeMutableBufferPointer { target in
                        if dtype == .f16 {
                            ck_f16_to_f32(source.baseAddress!, target.baseAddress!, n)
                        } else {
                            ck_bf16_to_f32(source.baseAddress!, target.baseAddress!, n)
                        }
                    }
                }
                floats.withUnsafeBufferPointer { accumulate(UnsafeBufferPointer(rebasing: $0[0 ..< n]), offset: start + done, into: &stats) }
                done += n
            }
        default:
            break
        }
        return stats
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

/// Per-chunk results written from concurrent workers (each index by exactly one worker).
private final class ResultBox: @unchecked Sendable {
    private var results: [Result<ValueStats, Error>?]
    private let lock = NSLockLike()

    init(count: Int) { results = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: Result<ValueStats, Error>) {
        lock.withLock { results[index] = value }
    }

    func get(_ index: Int) -> Result<ValueStats, Error>? { lock.withLock { results[index] } }
}

/// A pthread mutex (Foundation-free).
private final class NSLockLike: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}
