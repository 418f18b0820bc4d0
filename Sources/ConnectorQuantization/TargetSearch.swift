import ConnectorRuntime
import Quantization
import TensorFormats

/// `--target-cosine X`: the smallest per-tensor assignment of ladder types whose connector keeps every
/// output token's cosine with the original's at X or above, on the evaluation features.
public struct TargetRequest: Sendable {
    public enum Strategy: String, Sendable, CaseIterable {
        /// Measured per-tensor errors, a multiple-choice knapsack, verification (the default).
        case knapsack
        /// The plain baseline: every tensor at the bottom, then raise the most sensitive one rung at a time
        /// until a full run meets X.
        case greedy
    }

    /// X, in (0, 1].
    public var minCosine: Double
    /// Types from cheapest to most precise, all written to one format.
    public var ladder: [QuantizationType]
    public var strategy: Strategy = .knapsack

    public init(minCosine: Double, ladder: [QuantizationType], strategy: Strategy = .knapsack) {
        self.minCosine = minCosine
        self.ladder = ladder
        self.strategy = strategy
    }

    /// `q4_k,q5_k,q6_k,q8_0,f16` for GGUF, `mlx-q4,mlx-q6,mlx-q8` for MLX (safetensors).
    public static func defaultLadder(for format: OutputFormat) -> [QuantizationType] {
        format == .safetensors ? [.mlx(bits: 4), .mlx(bits: 6), .mlx(bits: 8)]
            : [.ggml(.q4_k), .ggml(.q5_k), .ggml(.q6_k), .ggml(.q8_0), .cast(.f16)]
    }

    /// Refuses X outside (0, 1], an empty ladder, and one mixing ggml block types with MLX types.
    public func check() throws {
        guard minCosine > 0, minCosine <= 1 else {
            throw OutputQuantizationError(.usage("--target-cosine must be in (0, 1], got \(minCosine)"))
        }
        guard !ladder.isEmpty else { throw OutputQuantizationError(.usage("--types names no type")) }
        let ggml = ladder.filter { if case .ggml = $0 { true } else { false } }
        let mlx = ladder.filter(\.isMLX)
        if !ggml.isEmpty, !mlx.isEmpty {
            throw OutputQuantizationError(.usage("--types mixes ggml block types (\(ggml.map(\.name).joined(separator: ", "))) written to GGUF "
                + "with MLX types (\(mlx.map(\.name).joined(separator: ", "))) written to safetensors"))
        }
        guard ladder.count < 255 else { throw OutputQuantizationError(.usage("--types lists \(ladder.count) types")) }
    }
}

/// The chosen types, by tensor name, with how they were found.
public struct TargetResult: Sendable {
    public var types: [String: QuantizationType]
    public var summary: TargetSummary
}

/// The search behind `--target-cosine` (README: "Mixed precision by output error").
///
/// 1. Every candidate tensor (one the selection rule quantizes) gets the ladder's types it can take
///    (fallbacks applied, duplicates merged), ordered by size. The top of the ladder is run first: if
///    even that misses X, nothing can meet it.
/// 2. Each tensor the run reads is quantized in memory to each type from the cheapest up and the connector
///    run with only that tensor altered, from the first step that reads it (`RecordedRun`): the per-token
///    error `1 − cos` it causes (the rounded values are cached, up to 512 MiB, for the full runs). A
///    tensor's ladder stops once that error is negligible (below a quarter of its share of the budget `1 − X`).
/// 3. Errors of different tensors are taken as adding up per token. A multiple-choice knapsack over each
///    tensor's worst-token error (an upper bound of the sum) gives the smallest assignment within the
///    budget; then tensors are stepped down while the per-token sums stay within it.
/// 4. One full run verifies the assignment. A miss scales the budget by how far the prediction was off
///    and solves again without stepping any tensor down, or, when that changes nothing, raises the tensor
///    contributing most to the worst token; then verifies again. A pass well within the budget scales it
///    up the same way and solves again while a smaller assignment verifies (`loosen`).
/// 5. The greedy baseline's assignment (`greedyByBisection`), when smaller, replaces it; so does a
///    uniform assignment smaller than the result that also meets X (one full run each).
/// Tensors the run does not read get the cheapest type: they cannot change the output.
final class TargetSearch {
    struct Rung {
        let type: QuantizationType
        let action: QuantizationPolicy.Action
        let bytes: Int
        /// Per output token, `1 − cos` with only this tensor at this rung; nil until measured.
        var errors: [Double]?
        var worst: Double? { errors?.max() }
    }

    struct Candidate {
        let tensor: Tensor
        let reached: Bool
        var rungs: [Rung]
        /// The rung each ladder type gives (by ladder position).
        let ladderRungs: [Int]
    }

    let reference: OutputReference
    let request: TargetRequest
    let importance: [String: [Float]]
    let threads: Int
    private(set) var candidates: [Candidate] = []
    private(set) var measurements = 0
    private(set) var verifications = 0
    private var cachedOriginal: (index: Int, values: [Float])?
    /// Candidates quantized and read back, by (candidate, rung), oldest first out beyond `cacheFloats`:
    /// successive verifications mostly differ in a few tensors.
    private var roundTrips: [Int: [Float]] = [:]
    private var roundTripOrder: [Int] = []
    private var cachedFloats = 0
    /// 512 MiB of float32 values.
    static let cacheFloats = 128 << 20

    var budget: Double { 1 - request.minCosine }

    init(checkpoint: Checkpoint, tensors: [Tensor], reference: OutputReference, request: TargetRequest, policy: QuantizationPolicy,
         importance: [String: [Float]], threads: Int) throws {
        self.reference = reference
        self.request = request
        self.importance = importance
        self.threads = threads
        for tensor in tensors {
            var rungs: [Rung] = []
            var ladderRungs: [Int] = []
            for type in request.ladder {
                var own = policy
                own.type = type
                let decision = try own.decide(tensor.info)
                guard decision.reason.isQuantized else { break }
                if let weights = importance[tensor.name] {
                    try ImportanceWeights.check(weights, for: tensor.info, action: decision.action)
                }
                if let same = rungs.firstIndex(where: { $0.action == decision.action }) {
                    ladderRungs.append(same)
                } else {
                    rungs.append(Rung(type: type, action: decision.action, bytes: try QuantizePipeline.outputBytes(tensor.info, action: decision.action)))
                    ladderRungs.append(rungs.count - 1)
                }
            }
            guard ladderRungs.count == request.ladder.count, !rungs.isEmpty else { continue }
            // By size, the ladder's order among equals.
            let order = rungs.indices.sorted { (rungs[$0].bytes, $0) < (rungs[$1].bytes, $1) }
            let position = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
            candidates.append(Candidate(tensor: tensor, reached: reference.reads(tensor.name), rungs: order.map { rungs[$0] },
                                        ladderRungs: ladderRungs.map { position[$0]! }))
        }
        // Measure in the order the run reads them.
        candidates.sort { (reference.firstStep(reading: $0.tensor.name) ?? Int.max) < (reference.firstStep(reading: $1.tensor.name) ?? Int.max) }
    }

    // MARK: quantizing and running

    /// The float32 values of candidate `c` quantized to rung `r` and read back (kept while the cache allows).
    func values(_ c: Int, _ r: Int) throws -> [Float] {
        let key = c * 256 + r  // at most 255 rungs (`TargetRequest.check`)
        if let cached = roundTrips[key] { return cached }
        let values = try quantized(c, r)
        guard values.count <= Self.cacheFloats else { return values }
        while cachedFloats + values.count > Self.cacheFloats, !roundTripOrder.isEmpty {
            cachedFloats -= roundTrips.removeValue(forKey: roundTripOrder.removeFirst())?.count ?? 0
        }
        roundTrips[key] = values
        roundTripOrder.append(key)
        cachedFloats += values.count
        return values
    }

    private func quantized(_ c: Int, _ r: Int) throws -> [Float] {
        let candidate = candidates[c]
        if cachedOriginal?.index != c {
            cachedOriginal = nil
            var original = [Float](repeating: 0, count: candidate.tensor.info.elementCount)
            try original.withUnsafeMutableBufferPointer { try candidate.tensor.readFloats(into: $0, threads: threads) }
            cachedOriginal = (c, original)
        }
        let rung = candidate.rungs[r]
        if rung.action == .copy { return cachedOriginal!.values }
        return try cachedOriginal!.values.withUnsafeBufferPointer {
            try QuantizePipeline.roundTrip($0, info: candidate.tensor.info, action: rung.action, importance: importance[candidate.tensor.name],
                                           threads: threads)
        }
    }

    /// Measures candidate `c` at rung `r` (once).
    func measure(_ c: Int, _ r: Int) throws {
        guard candidates[c].rungs[r].errors == nil else { return }
        let tokens = reference.outputTokens
        if candidates[c].rungs[r].action == .copy {
            candidates[c].rungs[r].errors = [Double](repeating: 0, count: tokens)
            return
        }
        let output = try reference.output(replacing: [candidates[c].tensor.name: try values(c, r)])
        candidates[c].rungs[r].errors = TargetSearch.errors(reference.compare(output).comparison)
        measurements += 1
    }

    /// Per token `1 − cos` (2, the worst, for a non-finite cosine).
    static func errors(_ comparison: Comparison) -> [Double] {
        comparison.tokenCosines.map { $0.isNaN ? 2 : max(0, 1 - $0) }
    }

    /// A full run with every reached candidate at its rung in `assignment`.
    func verify(_ assignment: [Int]) throws -> (figures: OutputErrorFigures, errors: [Double]) {
        var replacements: [String: [Float]] = [:]
        for (c, candidate) in candidates.enumerated() where candidate.reached {
            replacements[candidate.tensor.name] = try values(c, assignment[c])
        }
        cachedOriginal = nil
        let (figures, comparison) = reference.compare(try reference.output(replacing: replacements))
        verifications += 1
        return (figures, TargetSearch.errors(comparison))
    }

    func bytes(_ assignment: [Int]) -> Int {
        zip(candidates, assignment).reduce(0) { $0 + $1.0.rungs[$1.1].bytes }
    }

    /// The errors the model assigns to candidate `c` at rung `r`: measured, else those of the nearest
    /// measured rung below (a more precise type is taken to do no worse).
    func modelErrors(_ c: Int, _ r: Int) -> [Double] {
        for rung in stride(from: r, through: 0, by: -1) {
            if let errors = candidates[c].rungs[rung].errors { return errors }
        }
        return [Double](repeating: 0, count: reference.outputTokens)
    }

    // MARK: the search

    func run() throws -> TargetResult {
        var clock = Stopwatch()
        let top = candidates.map { $0.rungs.count - 1 }
        let best = try verify(top)
        guard best.figures.minCosine >= request.minCosine else {
            throw OutputQuantizationError(.targetUnreachable(target: request.minCosine, best: best.figures.minCosine,
                                                             top: request.ladder.last!.name))
        }
        var (assignment, achieved) = request.strategy == .greedy ? try greedy() : try knapsack()
        var chosenBy = request.strategy.rawValue
        // The greedy baseline's assignment, found along its path by bisection: a smaller one wins.
        if request.strategy == .knapsack, let (path, figures) = try greedyByBisection(below: bytes(assignment)) {
            (assignment, achieved, chosenBy) = (path, figures, "greedy")
        }
        // A smaller uniform assignment that meets X wins.
        var uniform = request.ladder.indices.map { k in
            TargetSummary.Uniform(type: request.ladder[k].name, bytes: bytes(candidates.map { $0.ladderRungs[k] }), minCosine: nil)
        }
        if let last = uniform.indices.last, uniform[last].bytes == bytes(top) { uniform[last].minCosine = best.figures.minCosine }
        for k in uniform.indices.sorted(by: { uniform[$0].bytes < uniform[$1].bytes }) where uniform[k].bytes < bytes(assignment) {
            let rungs = candidates.map { $0.ladderRungs[k] }
            let result = try verify(rungs)
            uniform[k].minCosine = result.figures.minCosine
            if result.figures.minCosine >= request.minCosine {
                (assignment, achieved, chosenBy) = (rungs, result.figures, "uniform")
                break
            }
        }
        var types: [String: QuantizationType] = [:]
        for (c, candidate) in candidates.enumerated() {
            types[candidate.tensor.name] = candidate.rungs[candidate.reached ? assignment[c] : 0].type
        }
        let summary = TargetSummary(minCosine: request.minCosine, ladder: request.ladder.map(\.name), achieved: achieved,
                                    bytes: bytes(assignment), measurements: measurements, verifications: verifications,
                                    uniform: uniform, chosenBy: chosenBy, seconds: clock.lap())
        return TargetResult(types: types, summary: summary)
    }

    /// Steps 2–4 of the search.
    func knapsack() throws -> ([Int], OutputErrorFigures) {
        let reachedCount = max(1, candidates.filter(\.reached).count)
        let negligible = 0.25 * budget / Double(reachedCount)
        for c in candidates.indices where candidates[c].reached {
            for r in candidates[c].rungs.indices {
                try measure(c, r)
                if let worst = candidates[c].rungs[r].worst, worst <= negligible { break }
            }
        }
        var floor = [Int](repeating: 0, count: candidates.count)
        var allowance = budget
        while true {
            let assignment = solve(allowance: allowance, floor: floor) ?? floor
            let result = try verify(assignment)
            if result.figures.minCosine >= request.minCosine { return try loosen(assignment, result, allowance: allowance) }
            let predicted = predictedErrors(assignment).max() ?? 0
            let actual = result.errors.max() ?? 0
            allowance *= min(0.9, 0.95 * (predicted > 0 ? predicted / actual : 0.5))
            let next = solve(allowance: allowance, floor: assignment) ?? assignment
            floor = next == assignment ? try stepUp(assignment, errors: result.errors) : next
            if floor == assignment {
                // Every tensor the run reads is at its top: that is the top of the ladder, verified first.
                let top = candidates.map { $0.rungs.count - 1 }
                return (top, try verify(top).figures)
            }
        }
    }

    /// A verified assignment whose actual error is well below the budget: the model over-predicts (errors
    /// of different tensors do not all peak on the same token, nor add up exactly), so the allowance is
    /// scaled by how far it was off and the knapsack solved again; a smaller assignment that a full run
    /// verifies replaces the last, up to three times.
    func loosen(_ start: [Int], _ verified: (figures: OutputErrorFigures, errors: [Double]),
                allowance start0: Double) throws -> ([Int], OutputErrorFigures) {
        var best = (assignment: start, figures: verified.figures, errors: verified.errors)
        var allowance = start0
        for _ in 0 ..< 3 {
            let predicted = predictedErrors(best.assignment).max() ?? 0, actual = best.errors.max() ?? 0
            guard actual > 0, predicted > 0 else { break }
            let scaled = 0.95 * budget * predicted / actual
            guard scaled > allowance * 1.01 else { break }
            allowance = scaled
            guard let next = solve(allowance: allowance, floor: [Int](repeating: 0, count: candidates.count)),
                  bytes(next) < bytes(best.assignment) else { break }
            let result = try verify(next)
            guard result.figures.minCosine >= request.minCosine else { break }
            best = (next, result.figures, result.errors)
        }
        return (best.assignment, best.figures)
    }

    /// The knapsack's assignment within `allowance`, no tensor below `floor`, then stepped down while the
    /// per-token sums allow. nil when nothing fits.
    func solve(allowance: Double, floor: [Int]) -> [Int]? {
        let reached = candidates.indices.filter { candidates[$0].reached }
        let options = reached.map { c in
            candidates[c].rungs.indices.filter { $0 >= floor[c] && candidates[c].rungs[$0].errors != nil }.map { r in
                Knapsack.Option(bytes: candidates[c].rungs[r].bytes, cost: candidates[c].rungs[r].worst!)
            }
        }
        guard !options.contains(where: \.isEmpty), let chosen = Knapsack.solve(options, budget: allowance) else { return nil }
        var assignment = floor
        for (slot, c) in reached.enumerated() {
            let allowed = candidates[c].rungs.indices.filter { $0 >= floor[c] && candidates[c].rungs[$0].errors != nil }
            assignment[c] = allowed[chosen[slot]]
        }
        return refine(assignment, allowance: allowance, floor: floor)
    }

    /// Steps tensors down (the largest saving first) while every token's summed error stays within `allowance`.
    func refine(_ start: [Int], allowance: Double, floor: [Int]) -> [Int] {
        var assignment = start
        var sums = predictedErrors(assignment)
        while true {
            var best: (c: Int, r: Int, saving: Int, peak: Double)?
            for c in candidates.indices where candidates[c].reached {
                let current = candidates[c].rungs[assignment[c]]
                let now = modelErrors(c, assignment[c])
                for r in floor[c] ..< assignment[c] where candidates[c].rungs[r].errors != nil && candidates[c].rungs[r].bytes < current.bytes {
                    let lower = candidates[c].rungs[r].errors!
                    var peak = 0.0
                    for t in sums.indices { peak = max(peak, sums[t] - now[t] + lower[t]) }
                    let saving = current.bytes - candidates[c].rungs[r].bytes
                    guard peak <= allowance else { continue }
                    if best == nil || saving > best!.saving || (saving == best!.saving && peak < best!.peak) {
                        best = (c, r, saving, peak)
                    }
                }
            }
            guard let step = best else { return assignment }
            let now = modelErrors(step.c, assignment[step.c]), lower = modelErrors(step.c, step.r)
            for t in sums.indices { sums[t] += lower[t] - now[t] }
            assignment[step.c] = step.r
        }
    }

    /// The model's per-token error of an assignment: the sum of each reached tensor's errors.
    func predictedErrors(_ assignment: [Int]) -> [Double] {
        var sums = [Double](repeating: 0, count: reference.outputTokens)
        for c in candidates.indices where candidates[c].reached {
            let errors = modelErrors(c, assignment[c])
            for t in sums.indices { sums[t] += errors[t] }
        }
        return sums
    }

    /// Raises the tensor contributing most to the worst token (measured at its rung) one rung.
    func stepUp(_ assignment: [Int], errors: [Double]) throws -> [Int] {
        let worstToken = errors.indices.max { errors[$0] < errors[$1] } ?? 0
        var best: (c: Int, error: Double)?
        for c in candidates.indices where candidates[c].reached && assignment[c] < candidates[c].rungs.count - 1 {
            try measure(c, assignment[c])
            let error = candidates[c].rungs[assignment[c]].errors![worstToken]
            if best == nil || error > best!.error { best = (c, error) }
        }
        guard let step = best else { return assignment }
        var raised = assignment
        raised[step.c] += 1
        try measure(step.c, raised[step.c])
        return raised
    }

    /// The greedy baseline's result when it is smaller than `limit` bytes, without a full run per step:
    /// its path (the most sensitive tensor raised one rung at a time, each step larger than the one
    /// before) depends only on the single-tensor measurements, so it is laid out first while smaller than
    /// `limit`; if its last assignment misses X, greedy's result is not smaller (nil); else the first
    /// assignment on it that a full run verifies is found by bisection — `greedy()`'s when passing is
    /// monotone along the path, in about log₂ of its length runs.
    func greedyByBisection(below limit: Int) throws -> ([Int], OutputErrorFigures)? {
        var assignment = [Int](repeating: 0, count: candidates.count)
        var path: [[Int]] = []
        while bytes(assignment) < limit {
            path.append(assignment)
            var best: (c: Int, worst: Double)?
            for c in candidates.indices where candidates[c].reached && assignment[c] < candidates[c].rungs.count - 1 {
                try measure(c, assignment[c])
                let worst = candidates[c].rungs[assignment[c]].worst!
                if best == nil || worst > best!.worst { best = (c, worst) }
            }
            guard let step = best else { break }
            assignment[step.c] += 1
        }
        guard let last = path.last else { return nil }
        let end = try verify(last)
        guard end.figures.minCosine >= request.minCosine else { return nil }
        var low = -1  // path[low] misses X (-1: before the path)
        var passing = (index: path.count - 1, figures: end.figures)
        while passing.index - low > 1 {
            let middle = (low + passing.index) / 2
            let result = try verify(path[middle])
            if result.figures.minCosine >= request.minCosine {
                passing = (middle, result.figures)
            } else {
                low = middle
            }
        }
        return (path[passing.index], passing.figures)
    }

    /// The baseline: raise the most sensitive tensor (the largest worst-token error at its current rung)
    /// one rung until a full run meets X.
    func greedy() throws -> ([Int], OutputErrorFigures) {
        var assignment = [Int](repeating: 0, count: candidates.count)
        while true {
            let result = try verify(assignment)
            if result.figures.minCosine >= request.minCosine { return (assignment, result.figures) }
            var best: (c: Int, worst: Double)?
            for c in candidates.indices where candidates[c].reached && assignment[c] < candidates[c].rungs.count - 1 {
                try measure(c, assignment[c])
                let worst = candidates[c].rungs[assignment[c]].worst!
                if best == nil || worst > best!.worst { best = (c, worst) }
            }
            guard let step = best else { return (assignment, result.figures) }
            assignment[step.c] += 1
        }
    }
}
