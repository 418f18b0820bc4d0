import CConnkit
import TensorFormats

/// Error figures between original values `a` and the values read back from the output `b`,
/// accumulated in double precision (`ck_error_sums`: eight partial sums in element order, combined in a
/// fixed order, the same bits on every CPU).
public struct ErrorMetrics: Sendable, Equatable {
    public private(set) var count = 0
    public private(set) var sumSquaredError: Double = 0
    /// NaN once any error was NaN (inf - inf).
    public private(set) var maxAbsError: Double = 0
    public private(set) var sumSquaredOriginal: Double = 0
    public private(set) var sumSquaredResult: Double = 0
    public private(set) var sumProduct: Double = 0

    public init() {}

    /// Adds `n` pairs.
    public mutating func add(original a: UnsafePointer<Float>, result b: UnsafePointer<Float>, count n: Int) {
        var sums = (0.0, 0.0, 0.0, 0.0, 0.0)
        withUnsafeMutableBytes(of: &sums) { ck_error_sums(a, b, n, $0.baseAddress!.assumingMemoryBound(to: Double.self)) }
        merge(count: n, sumSquaredError: sums.0, sumSquaredOriginal: sums.1, sumSquaredResult: sums.2, sumProduct: sums.3,
              maxAbsError: sums.4)
    }

    /// Adds `other` (figures of the elements that follow).
    public mutating func merge(_ other: ErrorMetrics) {
        merge(count: other.count, sumSquaredError: other.sumSquaredError, sumSquaredOriginal: other.sumSquaredOriginal,
              sumSquaredResult: other.sumSquaredResult, sumProduct: other.sumProduct, maxAbsError: other.maxAbsError)
    }

    private mutating func merge(count: Int, sumSquaredError: Double, sumSquaredOriginal: Double, sumSquaredResult: Double,
                                sumProduct: Double, maxAbsError: Double) {
        self.count += count
        self.sumSquaredError += sumSquaredError
        self.sumSquaredOriginal += sumSquaredOriginal
        self.sumSquaredResult += sumSquaredResult
        self.sumProduct += sumProduct
        if self.maxAbsError.isNaN || maxAbsError.isNaN {
            self.maxAbsError = .nan
        } else if maxAbsError > self.maxAbsError {
            self.maxAbsError = maxAbsError
        }
    }

    /// Figures of `n` pairs, computed on up to `threads` threads over fixed pieces of 64K pairs that are
    /// combined in order: the result does not depend on the thread count.
    public static func measure(original a: UnsafePointer<Float>, result b: UnsafePointer<Float>, count n: Int,
                               threads: Int) -> ErrorMetrics {
        let piece = 1 << 16
        let pieces = (n + piece - 1) / piece
        let shared = UncheckedSendable((a, b))
        let parts = Parallel.map(count: pieces, threads: threads, minimumChunk: 4) { range -> [ErrorMetrics] in
            let (a, b) = shared.value
            return range.map { index in
                var metrics = ErrorMetrics()
                let start = index * piece
                metrics.add(original: a + start, result: b + start, count: min(piece, n - start))
                return metrics
            }
        }
        var total = ErrorMetrics()
        for part in parts { for metrics in part { total.merge(metrics) } }
        return total
    }

    /// sqrt(mean squared error); nil for an empty tensor or a non-finite result.
    public var rmse: Double? { count > 0 ? finite((sumSquaredError / Double(count)).squareRoot()) : nil }

    public var maxAbsErrorValue: Double? { count > 0 ? finite(maxAbsError) : nil }

    /// 10·log10(Σa² / Σ(a-b)²); nil when either sum is zero (no signal, or no error at all).
    public var snrDB: Double? {
        guard sumSquaredError > 0, sumSquaredOriginal > 0 else { return nil }
        return finite(10 * log10(sumSquaredOriginal / sumSquaredError))
    }

    /// Σab / (|a|·|b|), clamped to [-1, 1] against rounding; nil when either vector is zero.
    public var cosine: Double? {
        guard sumSquaredOriginal > 0, sumSquaredResult > 0 else { return nil }
        return finite(sumProduct / (sumSquaredOriginal.squareRoot() * sumSquaredResult.squareRoot())).map { min(1, max(-1, $0)) }
    }

    private func finite(_ value: Double) -> Double? { value.isFinite ? value : nil }
}

/// The accuracy report of one `connkit quantize` run.
public struct QuantizationReport: Sendable {
    public struct Entry: Sendable {
        public var name: String
        public var sourceDType: DType
        /// The type written: a dtype name (`q4_k`, `f32`, ...) or `mlx-qB` for MLX affine.
        public var type: String
        public var reason: QuantizationPolicy.Reason
        public var bytesBefore: Int
        public var bytesAfter: Int
        public var elements: Int
        /// nil for tensors that are not floating point (nothing to compare).
        public var metrics: ErrorMetrics?

        /// True when the type's blocks do not fit the rows and no block type of its fallback chain does
        /// either: the values were written as a float type (f16), not quantized.
        public var fellBackToFloat: Bool {
            guard case .fallback = reason else { return false }
            return DType(rawValue: type)?.kind == .float
        }

        /// True when the values were quantized: to the type asked for, to a block type of its fallback
        /// chain, or re-quantized.
        public var isQuantized: Bool { reason.isQuantized && !fellBackToFloat }
    }

    public var input: String
    public var output: String
    public var format: OutputFormat
    /// The type asked for; nil when every tensor has its own (a `--target-cosine` assignment: "mixed").
    public var type: QuantizationType?
    public var groupSize: Int?
    public var entries: [Entry] = []
    /// What the output cannot be trusted for (values a cast turned into ±inf) and what the writer warned about
    /// (a GGUF ggml may not load, say); printed on stderr.
    public var warnings: [String] = []

    public var bytesBefore: Int { entries.reduce(0) { $0 + $1.bytesBefore } }
    public var bytesAfter: Int { entries.reduce(0) { $0 + $1.bytesAfter } }
    public var elements: Int { entries.reduce(0) { $0 + $1.elements } }
    public var quantizedCount: Int { entries.filter(\.isQuantized).count }
    /// Tensors that fell back to a float type (f16) because no block type fits their rows.
    public var fellBackCount: Int { entries.filter(\.fellBackToFloat).count }

    /// bytes before / bytes after.
    public var compressionRatio: Double? { bytesAfter > 0 ? Double(bytesBefore) / Double(bytesAfter) : nil }

    /// Bits per element of the output, over every tensor.
    public var bitsPerWeight: Double? { elements > 0 ? 8 * Double(bytesAfter) / Double(elements) : nil }

    /// The `--json` object (schemas/quantize-report.schema.json); the CLI lays out the human table.
    public var json: JSONValue { .object(jsonMembers) }

    /// The members of `json`, for a report that adds its own (`OutputQuantizationReport`).
    public var jsonMembers: [JSONValue.Member] {
        func number(_ value: Double?) -> JSONValue { value.map { .double($0) } ?? .null }
        let tensors: [JSONValue] = entries.map { entry in
            .object([
                .init("name", .string(entry.name)),
                .init("type", .string(entry.type)),
                .init("reason", .string(entry.reason.description)),
                .init("bytes_before", .int(entry.bytesBefore)),
                .init("bytes_after", .int(entry.bytesAfter)),
                .init("rmse", number(entry.metrics?.rmse)),
                .init("max_abs_error", number(entry.metrics?.maxAbsErrorValue)),
                .init("snr_db", number(entry.metrics?.snrDB)),
                .init("cosine", number(entry.metrics?.cosine)),
            ])
        }
        var head: [JSONValue.Member] = [
            .init("input", .string(input)),
            .init("output", .string(output)),
            .init("format", .string(format.rawValue)),
            .init("type", .string(type?.name ?? "mixed")),
        ]
        if let groupSize { head.append(.init("group_size", .int(groupSize))) }
        return head + [
            .init("tensors", .array(tensors)),
            .init("totals", .object([
                .init("tensors", .int(entries.count)),
                .init("quantized", .int(quantizedCount)),
                .init("fell_back", .int(fellBackCount)),
                .init("elements", .int(elements)),
                .init("bytes_before", .int(bytesBefore)),
                .init("bytes_after", .int(bytesAfter)),
                .init("compression_ratio", number(compressionRatio)),
                .init("bits_per_weight", number(bitsPerWeight)),
            ])),
            .init("warnings", .array(warnings.map { .string($0) })),
        ]
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
