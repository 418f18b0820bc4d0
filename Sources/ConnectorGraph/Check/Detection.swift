import TensorFormats

/// A family variant in one naming scheme, as a detection candidate.
public struct Candidate {
    public var variant: FamilyVariant
    var compiled: CompiledScheme
    /// Tensor names the scheme's templates match.
    var matched: Set<String>
    var matchedRoles: Int
    var requiredRoles: Int
    var requiredMatched: Int

    public var scheme: String { compiled.scheme.name }
    public var label: String { "\(variant.family.rawValue)/\(variant.variant) (\(scheme) names)" }
    var isComplete: Bool { requiredMatched == requiredRoles }
}

/// The outcome of detection: the chosen candidate and the tensors that decided it, or the
/// diagnostics explaining why none could be chosen.
struct Detection {
    var chosen: Candidate?
    var deciding: [String]
    var diagnostics: [Diagnostic]
    var considered: [Candidate]
}

enum Detector {
    /// Compiled schemes of every built-in variant, built once.
    static let builtIn: [(FamilyVariant, CompiledScheme)] = {
        var result: [(FamilyVariant, CompiledScheme)] = []
        for variant in Catalog.variants {
            for scheme in variant.graph.schemes {
                do { result.append((variant, try CompiledScheme(scheme, graph: variant.graph))) } catch {
                    preconditionFailure("built-in scheme \(scheme.name) of \(variant.variant): \(error)")
                }
            }
        }
        return result
    }()

    /// Schemes of a custom graph (its own names when it declares none).
    static func custom(_ graph: ConnectorGraph) throws -> [(FamilyVariant, CompiledScheme)] {
        let variant = FamilyVariant.custom(graph)
        let schemes = graph.schemes.isEmpty ? [NamingScheme(name: "custom", description: "the graph's own role names", entries: [])] : graph.schemes
        return try schemes.map { (variant, try CompiledScheme($0, graph: graph)) }
    }

    /// Which roles a scheme's entries match, and which tensors.
    static func candidate(_ variant: FamilyVariant, _ compiled: CompiledScheme, _ index: NameIndex) -> Candidate {
        var matched = Set<String>()
        var roles = 0, required = 0, requiredMatched = 0
        for entry in compiled.entries {
            let isRequired = !compiled.optionalRoles.contains(entry.role)
            if isRequired { required += 1 }
            var found = false
            for name in entry.names {
                let hits = index.matches(name)
                if !hits.isEmpty { found = true }
                for hit in hits { matched.insert(hit.name) }
            }
            if found {
                roles += 1
                if isRequired { requiredMatched += 1 }
            }
        }
        return Candidate(variant: variant, compiled: compiled, matched: matched, matchedRoles: roles, requiredRoles: required,
                         requiredMatched: requiredMatched)
    }

    /// Picks the connector among the candidates. Rules, in order: a candidate needs two matched roles
    /// (or all of its roles); a hint from config/GGUF metadata narrows the field when it fits a
    /// candidate; a candidate whose tensors are a strict subset of another's loses; disjoint complete
    /// candidates of the same variant are one connector stored twice; among overlapping ones a single
    /// complete candidate wins; anything else is ambiguous.
    static func detect(_ pool: [(FamilyVariant, CompiledScheme)], index: NameIndex, hints: [KindHint]) -> Detection {
        var candidates = pool.map { candidate($0.0, $0.1, index) }.filter { candidate in
            candidate.matchedRoles >= min(2, max(1, candidate.requiredRoles)) && candidate.requiredMatched > 0
        }
        let considered = candidates
        guard !candidates.isEmpty else {
            return Detection(chosen: nil, deciding: [], diagnostics: [], considered: [])
        }
        var decidedBy: [String] = []
        for hint in hints {
            let fitting = candidates.filter { hint.accepts($0.variant) }
            if !fitting.isEmpty, fitting.count < candidates.count {
                candidates = fitting
                decidedBy.append(hint.evidence)
            }
        }
        // Drop candidates explained by a larger one.
        candidates = candidates.filter { small in
            !candidates.contains { big in big.matched.count > small.matched.count && small.matched.isSubset(of: big.matched) }
        }
        // The same tensors explained by several candidates: the one missing the fewest parameters wins
        // (its missing ones are then reported).
        candidates = candidates.filter { c in
            !candidates.contains { other in other.matched == c.matched && other.requiredRoles - other.requiredMatched < c.requiredRoles - c.requiredMatched }
        }
        // An incomplete candidate competing for a complete one's tensors loses to it.
        if candidates.count > 1 {
            let complete = candidates.filter(\.isComplete)
            if !complete.isEmpty {
                candidates = candidates.filter { c in c.isComplete || !complete.contains { !$0.matched.isDisjoint(with: c.matched) } }
            }
        }
        var diagnostics: [Diagnostic] = []
        if candidates.count > 1 {
            let sameVariant = Set(candidates.map { "\($0.variant.family.rawValue)/\($0.variant.variant)" }).count == 1
            let pairwiseDisjoint = candidates.indices.allSatisfy { i in
                candidates.indices.allSatisfy { j in i == j || candidates[i].matched.isDisjoint(with: candidates[j].matched) }
            }
            if sameVariant && pairwiseDisjoint {
                let ordered = candidates.sorted { $0.matched.count > $1.matched.count }
                let first = ordered[0]
                for other in ordered.dropFirst() {
                    let sample = other.matched.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.first ?? ""
                    let firstSample = first.matched.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.first ?? ""
                    diagnostics.append(Diagnostic(.duplicateConnector, tensor: sample,
                        "the connector is stored twice: under \(other.scheme) names (e.g. \(sample)) and under \(first.scheme) names (e.g. \(firstSample))",
                        hint: "keep one copy; a loader picks one of them silently"))
                }
                candidates = [first]
            }
        }
        if candidates.count > 1 {
            let labels = candidates.map(\.label).joined(separator: "; ")
            diagnostics.append(Diagnostic(.ambiguousFamily, "the tensors fit several connectors: \(labels)",
                                          hint: "pass --family to choose"))
            return Detection(chosen: nil, deciding: [], diagnostics: diagnostics, considered: considered)
        }
        let chosen = candidates[0]
        let others = considered.filter { $0.label != chosen.label }.reduce(into: Set<String>()) { $0.formUnion($1.matched) }
        var deciding = chosen.matched.subtracting(others).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        if deciding.isEmpty { deciding = chosen.matched.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } }
        return Detection(chosen: chosen, deciding: decidedBy + Array(deciding.prefix(4)), diagnostics: diagnostics,
                         considered: considered)
    }
}
