/// Dimension bindings with their provenance: each symbol is bound once (strong sources first, then
/// on first use by a tensor), and remembers where its value came from, so a later mismatch can name
/// both the tensor and the source of the value it disagrees with.
struct Binder {
    private(set) var values: [String: Int] = [:]
    private(set) var sources: [String: DimensionSource] = [:]
    /// Advisory values per symbol, in order of preference: GGUF metadata, then the family default.
    var weak: [String: [(value: Int, source: DimensionSource)]] = [:]
    /// Symbols bound from a weak value while resolving a shape (reported as assumptions).
    private(set) var weakUses: [String] = []

    func value(_ symbol: String) -> Int? { values[symbol] }
    func source(_ symbol: String) -> DimensionSource? { sources[symbol] }
    var lookup: (String) -> Int? { { values[$0] } }

    mutating func bind(_ symbol: String, _ value: Int, _ source: DimensionSource) {
        guard values[symbol] == nil else { return }
        values[symbol] = value
        sources[symbol] = source
    }

    /// Binds `symbol` from its first advisory value; false when it has none.
    mutating func bindWeak(_ symbol: String) -> Bool {
        guard values[symbol] == nil, let first = weak[symbol]?.first else { return false }
        bind(symbol, first.value, first.source)
        weakUses.append(symbol)
        return true
    }

    func hasWeak(_ symbol: String) -> Bool { !(weak[symbol]?.isEmpty ?? true) }

    struct AxisMismatch {
        var axis: Int
        var expr: DimExpr
        /// Why: an inexact division, an overflow, or no integer solution.
        var reason: String?
    }

    enum AxisOutcome {
        case matched
        case mismatch(AxisMismatch)
        /// Two or more symbols unknown, and no advisory value to settle all but one.
        case unresolved([String])
    }

    /// Matches one shape against its symbolic form, binding unknown symbols from the found axes
    /// (left to right, so an axis can use a symbol the previous one bound). The receiver is changed
    /// only when `commit` is true and nothing mismatched.
    mutating func match(_ exprs: [DimExpr], _ found: [Int], tensor: String, commit: Bool) -> [AxisOutcome] {
        var local = self
        var outcomes: [AxisOutcome] = []
        for (axis, expr) in exprs.enumerated() {
            let size = found[axis]
            switch expr.evaluate(local.lookup) {
            case .value(let value):
                outcomes.append(value == size ? .matched : .mismatch(AxisMismatch(axis: axis, expr: expr, reason: nil)))
            case .invalid(let why):
                outcomes.append(.mismatch(AxisMismatch(axis: axis, expr: expr, reason: why)))
            case .unbound(var unknown):
                if unknown.count > 1 {
                    // Settle all but one unknown from advisory values: those with one first, keeping the
                    // last symbol without one (or the last of all) to be solved from the tensor.
                    let keep = unknown.last { !local.hasWeak($0) } ?? unknown[unknown.count - 1]
                    for symbol in unknown where symbol != keep { _ = local.bindWeak(symbol) }
                    unknown = unknown.filter { local.value($0) == nil }
                }
                guard unknown.count == 1 else {
                    outcomes.append(.unresolved(unknown))
                    continue
                }
                if let solved = expr.solve(for: unknown[0], equals: size, local.lookup), solved > 0 {
                    local.bind(unknown[0], solved, .tensor(name: tensor, axis: axis))
                    outcomes.append(.matched)
                } else {
                    outcomes.append(.mismatch(AxisMismatch(axis: axis, expr: expr, reason: "no whole value of \(unknown[0]) gives \(size)")))
                }
            }
        }
        let clean = outcomes.allSatisfy { if case .mismatch = $0 { return false } else { return true } }
        if commit && clean { self = local }
        return outcomes
    }
}
