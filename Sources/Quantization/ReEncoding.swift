import TensorFormats

/// Which tensors a quantization re-encodes — writes in another type than they have, by the quantization
/// type asked for or its fallback (a kept tensor widened to f32 for GGUF is not) — and what that means for
/// the file: a request that re-encodes nothing is refused (`nothing-to-quantize`), and GGUF's
/// `general.file_type` names the type holding the most bytes among the re-encoded tensors, so the file
/// never says something its tensors contradict.
enum ReEncoding {
    typealias Plan = (tensor: Tensor, decision: QuantizationPolicy.Decision)

    /// What a re-encoded tensor is written as.
    enum Target: Equatable {
        case dtype(DType)
        case mlx(bits: Int)
    }

    /// The type `decision` writes a tensor of `source` as, when that re-encodes it; nil otherwise.
    static func target(_ decision: QuantizationPolicy.Decision, source: DType) -> Target? {
        guard decision.reason.isQuantized else { return nil }
        switch decision.action {
        case .ggml(let dtype), .float(let dtype): return dtype == source ? nil : .dtype(dtype)
        case .mlx(let bits, _): return .mlx(bits: bits)
        case .copy: return nil
        }
    }

    /// llama.cpp's `general.file_type` of the type holding the most output bytes among the re-encoded
    /// tensors (`bytesAfter[i]` is plan `i`'s), or nil when it has none (MLX, or nothing re-encoded).
    static func fileType(_ plans: [Plan], bytesAfter: [Int]) -> UInt32? {
        var bytes: [(target: Target, count: Int)] = []
        for (index, plan) in plans.enumerated() {
            guard let target = target(plan.decision, source: plan.tensor.dtype) else { continue }
            if let slot = bytes.firstIndex(where: { $0.target == target }) {
                bytes[slot].count += bytesAfter[index]
            } else {
                bytes.append((target, bytesAfter[index]))
            }
        }
        guard let most = bytes.max(by: { $0.count < $1.count })?.target, case .dtype(let dtype) = most else { return nil }
        return QuantizationPolicy.fileType(dtype.isBlockQuantized ? .ggml(dtype) : .cast(dtype))
    }

    /// Refuses a request under which no tensor would be re-encoded, saying why for each tensor and, when
    /// the input holds block-quantized tensors, the `--only` that selects exactly them.
    static func requireSome(_ plans: [Plan]) throws {
        guard !plans.contains(where: { target($0.decision, source: $0.tensor.dtype) != nil }) else { return }
        var reasons: [(String, Int)] = []
        for plan in plans {
            let why = reason(plan)
            if let index = reasons.firstIndex(where: { $0.0 == why }) { reasons[index].1 += 1 } else { reasons.append((why, 1)) }
        }
        var detail = "no tensor would be written in another type than it has ("
            + reasons.map { "\($0.1) \($0.0)" }.joined(separator: ", ") + ")"
        let quantized = plans.filter { $0.tensor.dtype.isBlockQuantized }.map(\.tensor.name)
        if !quantized.isEmpty {
            let all = plans.map(\.tensor.name)
            let options = selecting(quantized, among: all).map { "--only '\($0)'" }.joined(separator: " ")
            detail += "; to re-quantize the block-quantized tensors, select them: \(options)"
        }
        if plans.contains(where: { $0.decision.reason == .selected && $0.decision.action == .copy }) {
            detail += "; to change only the container, use `connkit convert`"
        }
        throw QuantizationError(.nothingToQuantize(detail))
    }

    /// Why one tensor is not re-encoded, in a few words (grouped in the message).
    static func reason(_ plan: Plan) -> String {
        switch plan.decision.reason {
        case .alreadyQuantized: "already block-quantized"
        case .notFloat: "not floating point"
        case .notMatrix: "with fewer than two dimensions larger than 1"
        case .empty: "empty"
        case .defaultKeep, .keepOption, .gate: "kept by name"
        case .notSelected: "not selected by --only"
        case .groupDoesNotDivide: "with rows the group size does not divide"
        case .selected, .fallback, .requantized: "already \(plan.tensor.dtype.rawValue)"
        }
    }

    /// Globs that select exactly `names` among `all`: one `prefix*suffix` glob when the names' common
    /// start and end do (and it is not `*`), else the names themselves (at most 4, then a glob of the rest
    /// would be a guess: the first 4 are given).
    static func selecting(_ names: [String], among all: [String]) -> [String] {
        let prefix = commonPrefix(names)
        let suffix = String(commonPrefix(names.map { String($0.reversed()) }).reversed())
        if names.count > 1, prefix.count + suffix.count > 0 {
            let glob = Glob(prefix + "*" + (prefix.count + suffix.count <= (names.map(\.count).min() ?? 0) ? suffix : ""))
            if all.filter({ glob.matches($0) }).sorted() == names.sorted() { return [glob.pattern] }
        }
        return Array(names.prefix(4))
    }

    private static func commonPrefix(_ names: [String]) -> String {
        guard var prefix = names.first else { return "" }
        for name in names.dropFirst() {
            prefix = String(zip(prefix, name).prefix { $0 == $1 }.map(\.0))
        }
        return prefix
    }
}
