import Synchronization

/// Finite values a cast to f16 or bf16 — or an f64 tensor's narrowing to float32 — turns into ±inf, counted
/// per tensor for every writer that casts (`convert --dtype`, `quantize`'s float types and f16 fallbacks):
/// the one place that decides what overflows, words the warning, and — with `--strict` — turns it into an
/// error before the file is committed, so nothing is written.
public final class CastOverflow: Sendable {
    /// One tensor whose cast overflowed.
    public struct Entry: Sendable, Equatable {
        public var tensor: String
        public var target: DType
        /// Finite values that became ±inf.
        public var count: Int
        /// The largest of them in magnitude (as the input holds it: an f64 beyond float32's range too).
        public var largest: Double

        public init(tensor: String, target: DType, count: Int, largest: Double) {
            self.tensor = tensor
            self.target = target
            self.count = count
            self.largest = largest
        }
    }

    /// With `strict`, `finish(tensor:)` throws for a tensor that overflowed.
    public let strict: Bool
    /// The file the values are read from, named in the warnings and the error.
    public let file: String?
    /// Tensors finished, in order, and the counts of tensors still being cast (names as bytes).
    private let state = Mutex<(finished: [Entry], open: [ExactName: Entry])>(([], [:]))

    public init(strict: Bool = false, file: String? = nil) {
        self.strict = strict
        self.file = file
    }

    /// The smallest finite |x| of f32 that rounds to ±inf in `target` (nearest even), or nil when no
    /// finite f32 does.
    public static func threshold(_ target: DType) -> Float? {
        switch target {
        case .f16: 65520  // halfway between 65504 and the next step: ties go to the even infinity
        case .bf16: Float(bitPattern: 0x7F7F_8000)  // halfway between bf16's largest finite and inf
        default: nil
        }
    }

    /// Counts the values of `values` that a cast of tensor `tensor` to `target` turns into ±inf.
    public func check(_ values: UnsafeBufferPointer<Float>, castTo target: DType, tensor: String) {
        guard let limit = Self.threshold(target), let base = values.baseAddress, values.count > 0,
              Cast.maxAbsFinite(base, count: values.count) >= limit else { return }
        record(Self.count(values, limit: limit, source: nil), castTo: target, tensor: tensor)
    }

    /// `check`, for values decoded from `chunk`: when its tensor is f64, a ±inf in `values` whose source
    /// value is finite counts too (narrowing to float32 already overflowed it), and the largest is reported
    /// as the input holds it.
    public func check(_ values: UnsafeBufferPointer<Float>, castTo target: DType, tensor: String, narrowedFrom chunk: FloatChunk) {
        guard chunk.decoder.dtype == .f64 else { return check(values, castTo: target, tensor: tensor) }
        guard let base = values.baseAddress, values.count > 0 else { return }
        let limit = Self.threshold(target)
        guard limit.map({ Cast.maxAbsFinite(base, count: values.count) >= $0 }) ?? false || values.contains(where: \.isInfinite) else { return }
        record(Self.count(values, limit: limit, source: chunk), castTo: target, tensor: tensor)
    }

    /// Values at or beyond `limit`, and infinities whose f64 source value (in `source`) is finite.
    private static func count(_ values: UnsafeBufferPointer<Float>, limit: Float?, source: FloatChunk?) -> (count: Int, largest: Double) {
        var count = 0
        var largest: Double = 0
        for (index, value) in values.enumerated() {
            if value.isFinite {
                guard let limit, abs(value) >= limit else { continue }
                count += 1
                largest = max(largest, abs(source?.float64(at: index) ?? Double(value)))
            } else if let wide = source?.float64(at: index), wide.isFinite {
                count += 1
                largest = max(largest, abs(wide))
            }
        }
        return (count, largest)
    }

    private func record(_ found: (count: Int, largest: Double), castTo target: DType, tensor: String) {
        guard found.count > 0 else { return }
        state.withLock { state in
            var entry = state.open[ExactName(tensor)] ?? Entry(tensor: tensor, target: target, count: 0, largest: 0)
            entry.count += found.count
            entry.largest = max(entry.largest, found.largest)
            state.open[ExactName(tensor)] = entry
        }
    }

    /// Closes `tensor`'s count (call once its values are all checked). With `strict`, a tensor that
    /// overflowed is an error (exit status 1), thrown before its writer commits the file.
    public func finish(tensor: String) throws(CastOverflowError) {
        guard let entry = state.withLock({ $0.open.removeValue(forKey: ExactName(tensor)) }) else { return }
        if strict { throw CastOverflowError(entry: entry, file: file) }
        state.withLock { $0.finished.append(entry) }
    }

    /// The tensors that overflowed, in the order they were finished.
    public var entries: [Entry] { state.withLock { $0.finished } }

    /// One warning per tensor that overflowed.
    public var warnings: [String] {
        entries.map { (file.map { "\($0): " } ?? "") + "tensor '\($0.tensor)': " + Self.describe($0, outcome: "became ±inf") }
    }

    static func describe(_ entry: Entry, outcome: String) -> String {
        let range = switch entry.target {
        case .f16: "±65504"
        case .bf16: "±3.39e38"
        default: "±3.40e38"
        }
        return "\(entry.count) value\(entry.count == 1 ? "" : "s") beyond the \(entry.target.rawValue) range (\(range)), "
            + "up to \(entry.largest), \(outcome)"
    }
}

/// `--strict`: a cast would turn finite values into ±inf (exit status 1; nothing is written).
public struct CastOverflowError: ConnkitError, Equatable {
    public var entry: CastOverflow.Entry
    /// The file the values were read from.
    public var file: String?

    public init(entry: CastOverflow.Entry, file: String? = nil) {
        self.entry = entry
        self.file = file
    }

    public var failure: FailureClass { .checkFailed }
    public var code: ErrorCode { .checkFailed }
    public var description: String {
        (file.map { "\($0): " } ?? "") + "tensor '\(entry.tensor)': " + CastOverflow.describe(entry, outcome: "would become ±inf (--strict refuses it; nothing written)")
    }
}
