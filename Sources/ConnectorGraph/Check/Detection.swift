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
    public var label: String {
        "\(variantKey) (\(scheme) names\(compiled.isRerooted ? compiled.prefix.isEmpty ? " without a prefix" : " under \"\(compiled.prefix)\"" : ""))"
    }
    var variantKey: String { "\(variant.family.rawValue)/\(variant.variant)" }
    var isComplete: Bool { requiredMatched == requiredRoles }
}

/// The outcome of detection: the chosen candidate and the tensors that decided it, or the
/// diagnostics explaining why none could be chosen.
struct Detection {
    var chosen: Candidate?
    var deciding: [String]
    var diagnostics: [Diagnostic]
    var considered: [Candidate]
    /// When nothing was found: candidates under another prefix that match one role only and hold every
    /// tensor of the checkpoint (a bare `weight`), which `--family` would accept.
    var singleRole: [Candidate] = []
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
                var hits = index.matches(name)
                if compiled.isRerooted {
                    // Under a prefix found by searching, the names alone say little: the ranks must fit too.
                    hits = hits.filter { hit in index.tensors(hit.name).allSatisfy { compiled.fits(entry.role, rank: $0.shape.count) } }
                }
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

    /// Finds the connector: under the schemes' own names, and when none of them matches at all, under
    /// every other module path the tensor names show (`projector.`, or none: a connector saved on its
    /// own). There a candidate needs two roles whose tensors have the right ranks, unless the pool is
    /// one family's (`narrowed`: `--family`), and a prefix with a numeric component (a layer of a
    /// stack) is not tried. `path` names the checkpoint in messages when a tensor has no file of its own.
    static func find(_ pool: [(FamilyVariant, CompiledScheme)], index: NameIndex, hints: [KindHint], narrowed: Bool,
                     path: String) -> Detection {
        let own = detect(pool, index: index, hints: hints, path: path)
        guard own.considered.isEmpty else { return own }
        let other = rerooted(pool, index: index)
        guard !other.isEmpty else { return own }
        var found = detect(other, index: index, hints: hints, path: path, minimumRoles: narrowed ? 1 : 2)
        if found.considered.isEmpty, !narrowed {
            let weak = detect(other, index: index, hints: hints, path: path, minimumRoles: 1).considered
            let complete = weak.filter(\.isComplete)
            var seen = Set<String>()
            // Only for a file that holds nothing else (a bare `weight`), not for any Linear of a whole model.
            found.singleRole = (complete.isEmpty ? weak : complete).filter { $0.matched.count == index.sorted.count && seen.insert($0.variantKey).inserted }
        }
        return found
    }

    /// The pool's schemes moved to every other prefix under which a tensor carries a scheme's anchor name.
    /// Each name is split once at its dots, and its tails are looked up among the anchors, so the search
    /// costs O(names · components) whatever the size of the pool.
    static func rerooted(_ pool: [(FamilyVariant, CompiledScheme)], index: NameIndex) -> [(FamilyVariant, CompiledScheme)] {
        var byAnchor: [String: [Int]] = [:]
        for (position, entry) in pool.enumerated() {
            if let anchor = entry.1.anchor, !anchor.isEmpty { byAnchor[anchor, default: []].append(position) }
        }
        let longest = byAnchor.keys.map { $0.utf8.count { $0 == UInt8(ascii: ".") } + 1 }.max() ?? 0
        var prefixes: [[String]] = Array(repeating: [], count: pool.count)
        var seen: [Set<String>] = Array(repeating: [], count: pool.count)
        for name in index.sorted {
            let utf8 = Array(name.utf8)
            var tails = 0
            var cut = utf8.count
            // Tails at component boundaries, shortest first: `weight`, `0.weight`, `projector.0.weight`…
            while tails < longest, cut > 0 {
                cut -= 1
                while cut > 0, utf8[cut - 1] != UInt8(ascii: ".") { cut -= 1 }
                tails += 1
                let tail = String(decoding: utf8[cut...], as: UTF8.self)
                guard let positions = byAnchor[tail] else { continue }
                let prefix = String(decoding: utf8[..<cut], as: UTF8.self)
                guard !prefix.split(separator: ".").contains(where: { $0.allSatisfy(\.isNumber) }) else { continue }
                for position in positions where prefix != pool[position].1.prefix && seen[position].insert(prefix).inserted {
                    prefixes[position].append(prefix)
                }
            }
        }
        var result: [(FamilyVariant, CompiledScheme)] = []
        for (position, (variant, compiled)) in pool.enumerated() {
            for prefix in prefixes[position] {
                if let moved = try? compiled.rerooted(to: prefix, graph: variant.graph) { result.append((variant, moved)) }
            }
        }
        return result
    }

    /// Picks the connector among the candidates. Rules, in order: a candidate needs two matched roles
    /// (or all of its roles, or `minimumRoles`); complete candidates of different variants over
    /// disjoint tensors are several connectors (an error, whatever the hints say); a hint from
    /// config/GGUF metadata narrows the field when it fits a candidate; a candidate whose tensors are
    /// a strict subset of another's loses (`pruned`); disjoint complete candidates of the same variant are one
    /// connector stored twice; among overlapping ones a single complete candidate wins; anything else
    /// is ambiguous.
    static func detect(_ pool: [(FamilyVariant, CompiledScheme)], index: NameIndex, hints: [KindHint], path: String,
                       minimumRoles: Int? = nil) -> Detection {
        var candidates = pool.map { candidate($0.0, $0.1, index) }.filter { candidate in
            candidate.matchedRoles >= (minimumRoles ?? min(2, max(1, candidate.requiredRoles))) && candidate.requiredMatched > 0
        }
        let considered = candidates
        guard !candidates.isEmpty else {
            return Detection(chosen: nil, deciding: [], diagnostics: [], considered: [])
        }
        if let several = multipleConnectors(pruned(candidates), index: index, path: path) {
            return Detection(chosen: nil, deciding: [], diagnostics: [several], considered: considered)
        }
        var decidedBy: [String] = []
        for hint in hints {
            let fitting = candidates.filter { hint.accepts($0.variant) }
            if !fitting.isEmpty, fitting.count < candidates.count {
                candidates = fitting
                decidedBy.append(hint.evidence)
            }
        }
        candidates = pruned(candidates)
        // An incomplete candidate competing for a complete one's tensors loses to it.
        if candidates.count > 1 {
            let complete = candidates.filter(\.isComplete)
            if !complete.isEmpty {
                candidates = candidates.filter { c in c.isComplete || !complete.contains { !$0.matched.isDisjoint(with: c.matched) } }
            }
        }
        var diagnostics: [Diagnostic] = []
        if candidates.count > 1 {
            let sameVariant = Set(candidates.map(\.variantKey)).count == 1
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

extension Detector {
    /// Drops candidates explained by a larger one; of several explaining the same tensors, keeps the one
    /// missing the fewest parameters (its missing ones are then reported), and of one variant the first
    /// scheme (LLaVA's and llama.cpp's names are the same without their prefixes).
    static func pruned(_ candidates: [Candidate]) -> [Candidate] {
        var kept = candidates.filter { small in
            !candidates.contains { big in big.matched.count > small.matched.count && small.matched.isSubset(of: big.matched) }
        }
        kept = kept.filter { c in
            !kept.contains { other in other.matched == c.matched && other.requiredRoles - other.requiredMatched < c.requiredRoles - c.requiredMatched }
        }
        var seen = Set<String>()
        return kept.filter { c in seen.insert("\(c.variantKey)\u{0}" + c.matched.sorted().joined(separator: "\u{0}")).inserted }
    }

    /// Complete candidates of different variants whose tensors do not overlap: the inputs hold several
    /// connectors (two checkpoints given as one), named with their files.
    static func multipleConnectors(_ candidates: [Candidate], index: NameIndex, path: String) -> Diagnostic? {
        let complete = candidates.filter(\.isComplete)
        var distinct: [Candidate] = []
        for candidate in complete where !distinct.contains(where: { $0.variantKey == candidate.variantKey }) {
            if complete.contains(where: { $0.variantKey != candidate.variantKey && $0.matched.isDisjoint(with: candidate.matched) }) {
                distinct.append(candidate)
            }
        }
        guard distinct.count > 1 else { return nil }
        let described = distinct.map { candidate -> String in
            let names = candidate.matched.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            var files: [String] = []
            for name in names { for file in index.tensors(name).map({ $0.file ?? path }) where !files.contains(file) { files.append(file) } }
            return "\(candidate.label) in \(files.joined(separator: ", ")) (\(names[0])…)"
        }
        let samples = distinct.map { $0.matched.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }[0] }
        return Diagnostic(.multipleConnectors, tensor: samples[0], tensors: samples,
                          "the inputs hold \(distinct.count) connectors: \(described.joined(separator: "; "))",
                          hint: "validate each checkpoint on its own, or pass --family to check one of them")
    }
}
