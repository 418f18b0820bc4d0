import TensorFormats

/// A strong claim (flag, preset, config, LLM checkpoint) that disagreed with the value already bound.
struct DimensionConflict {
    var symbol: String
    var bound: Int
    var boundSource: DimensionSource
    var claim: DimensionClaim
}

/// A found tensor whose shape disagrees with its symbolic shape under the final bindings.
struct ShapeFinding {
    var tensor: String
    /// The shape as stored.
    var found: [Int]
    /// The shape as compared (size-1 axes dropped when the ranks differ only by them).
    var compared: [Int]
    var expected: [Int?]
    var mismatches: [Binder.AxisMismatch]
}

/// A bound dimension and the value a tensor gives it instead.
private struct Cause: Hashable {
    var symbol: String
    var value: Int
}

// MARK: - One wrong dimension, one diagnostic

extension GraphCheck.State {
    /// Reports the conflicts among the sources and the shapes that disagree, one diagnostic per wrong
    /// dimension: a shape whose every mismatched axis is explained by one bound dimension taking
    /// another value (`D_llm` = 128 instead of 4096) joins that dimension's diagnostic, which lists
    /// every tensor it affects (`tensors`) and the sources that disagree with it (then the code is
    /// `dimension-conflict`). A shape no single dimension explains is reported on its own.
    mutating func reportDimensions(_ findings: [ShapeFinding]) {
        let options = findings.map(causes(of:))
        var cause = [Cause?](repeating: nil, count: findings.count)
        // Greedily: the cause explaining the most shapes not yet explained (ties: the first met).
        while true {
            var counts: [Cause: Int] = [:]
            var order: [Cause] = []
            for (index, causes) in options.enumerated() where cause[index] == nil {
                for option in causes {
                    if counts[option] == nil { order.append(option) }
                    counts[option, default: 0] += 1
                }
            }
            guard let best = order.max(by: { counts[$0, default: 0] < counts[$1, default: 0] }) else { break }
            for index in options.indices where cause[index] == nil && options[index].contains(best) { cause[index] = best }
        }
        var symbols: [String] = []
        for conflict in conflicts where !symbols.contains(conflict.symbol) { symbols.append(conflict.symbol) }
        for found in cause { if let found, !symbols.contains(found.symbol) { symbols.append(found.symbol) } }
        for symbol in symbols {
            let group = findings.indices.compactMap { index in cause[index].flatMap { $0.symbol == symbol ? (findings[index], $0.value) : nil } }
            wrongDimensions[symbol] = diagnostics.count
            diagnostics.append(dimensionDiagnostic(symbol, conflicts: conflicts.filter { $0.symbol == symbol }, findings: group))
        }
        for (index, finding) in findings.enumerated() where cause[index] == nil { diagnostics.append(shapeDiagnostic(finding)) }
    }

    /// The bound dimensions that, given another value, would explain every mismatched axis of a shape.
    private func causes(of finding: ShapeFinding) -> [Cause] {
        var common: [Cause]?
        for mismatch in finding.mismatches {
            var options: [Cause] = []
            for symbol in mismatch.expr.symbols {
                guard let bound = binder.value(symbol) else { continue }
                let others: (String) -> Int? = { $0 == symbol ? nil : binder.value($0) }
                if let value = mismatch.expr.solve(for: symbol, equals: finding.compared[mismatch.axis], others), value > 0, value != bound {
                    options.append(Cause(symbol: symbol, value: value))
                }
            }
            common = common.map { $0.filter(options.contains) } ?? options
        }
        return common ?? []
    }

    /// `D_llm (llm) = 4096 from --llm-dim`.
    func binding(_ symbol: String) -> String? {
        guard let value = binder.value(symbol), let source = binder.source(symbol) else { return nil }
        let key = scope.key(of: symbol)
        return "\(symbol)\(key != symbol ? " (\(key))" : "") = \(value) from \(source)"
    }

    /// One shape on its own: every mismatched axis with the dimension and where its value came from.
    private func shapeDiagnostic(_ finding: ShapeFinding) -> Diagnostic {
        let reasons = finding.mismatches.map { explain($0, found: finding.compared) }
        return Diagnostic(code(for: finding.mismatches.flatMap(\.expr.symbols)), tensor: finding.tensor,
            "\(finding.tensor) has shape \(shapeText(finding.found)), expected \(shapeText(finding.expected)): \(reasons.joined(separator: "; "))",
            expected: finding.expected, found: finding.found, hint: hint(for: finding.mismatches))
    }

    private func code(for symbols: [String]) -> DiagnosticCode {
        symbols.contains { scope.key(of: $0) == "queries" } ? .queryCountMismatch : .shapeMismatch
    }

    /// One dimension: the sources that disagree on it and every tensor whose shape gives it another value.
    private func dimensionDiagnostic(_ symbol: String, conflicts: [DimensionConflict], findings: [(ShapeFinding, Int)]) -> Diagnostic {
        let key = scope.key(of: symbol)
        let tensors = findings.map(\.0.tensor)
        let shapeHint = hint(for: findings.flatMap(\.0.mismatches))
        let tensorValues = values(findings.map(\.1))
        let listed = listing(findings.map { finding, _ in "\(finding.tensor) \(shapeText(finding.found)) (expected \(shapeText(finding.expected)))" })
        guard let first = conflicts.first else {
            if findings.count == 1 { return shapeDiagnostic(findings[0].0) }
            let bound = binding(symbol) ?? symbol
            return Diagnostic(code(for: [symbol]), tensor: tensors.first, tensors: tensors,
                "\(bound), but \(findings.count) tensors say \(key) = \(tensorValues): \(listed)",
                expected: findings[0].0.expected, found: findings[0].0.found, hint: shapeHint)
        }
        // The claims by value, in the order met: `128 per A and B; 96 per C`.
        var byValue: [(value: Int, sources: [String])] = []
        for conflict in conflicts {
            if let index = byValue.firstIndex(where: { $0.value == conflict.claim.value }) {
                byValue[index].sources.append("\(conflict.claim.source)")
            } else {
                byValue.append((conflict.claim.value, ["\(conflict.claim.source)"]))
            }
        }
        var message = "\(key) is \(first.bound) per \(first.boundSource) but "
            + byValue.map { "\($0.value) per \($0.sources.joined(separator: " and "))" }.joined(separator: "; ")
        var hint = "the first source wins; fix or drop the other"
        if !findings.isEmpty {
            message += "; \(findings.count == 1 ? "the connector tensor" : "\(findings.count) connector tensors") say\(findings.count == 1 ? "s" : "") \(tensorValues): "
                + listed
            let agreeing = byValue.filter { entry in findings.allSatisfy { $0.1 == entry.value } }.flatMap(\.sources)
            if !agreeing.isEmpty {
                hint = "\(first.boundSource) is the odd one out: the tensors agree with \(agreeing.joined(separator: " and "))"
            } else if let shapeHint {
                hint = shapeHint
            }
        }
        return Diagnostic(.dimensionConflict, tensor: tensors.first, tensors: tensors, message,
                          expected: [first.bound], found: [first.claim.value], hint: hint)
    }

    /// The first four items, then how many more (the JSON `tensors` lists them all).
    private func listing(_ items: [String]) -> String {
        (items.prefix(4) + (items.count > 4 ? ["and \(items.count - 4) more"] : [])).joined(separator: ", ")
    }

    /// `128`, or `128 or 96`.
    private func values(_ list: [Int]) -> String {
        var distinct: [Int] = []
        for value in list where !distinct.contains(value) { distinct.append(value) }
        return distinct.map(String.init).joined(separator: " or ")
    }

    /// Shapes that leave dimensions open, one warning per set of open dimensions.
    mutating func reportUnresolved(_ open: [(symbols: [String], tensor: String, found: [Int])]) {
        var groups: [(symbols: [String], members: [(tensor: String, found: [Int])])] = []
        for item in open {
            if let index = groups.firstIndex(where: { $0.symbols == item.symbols }) {
                groups[index].members.append((item.tensor, item.found))
            } else {
                groups.append((item.symbols, [(item.tensor, item.found)]))
            }
        }
        for group in groups {
            let names = group.symbols.joined(separator: " and ")
            let message = group.members.count == 1
                ? "\(group.members[0].tensor): \(names) cannot be told apart from \(shapeText(group.members[0].found))"
                : "\(names) cannot be told apart from the shapes of \(group.members.count) tensors: "
                    + listing(group.members.map { "\($0.tensor) \(shapeText($0.found))" })
            diagnostics.append(Diagnostic(.unresolvedDimension, tensor: group.members[0].tensor, tensors: group.members.map(\.tensor),
                                          message, hint: "pass them with --dim KEY=N or a config file"))
        }
    }
}
