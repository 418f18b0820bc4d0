import TensorFormats

/// Checks one checkpoint against one family variant in one naming scheme, in phases. Each phase is a
/// method of the previous phase's result, so the order cannot be got wrong:
///
///     GraphCheck.Seeded(scope, sources:)  dimension values from flags, presets, config, metadata
///         .expand()                       the graph unrolled against the tensor names      → Expanded
///         .resolve()                      each parameter's tensor(s), header problems       → Resolved
///         .bindDimensions()               dimensions from the shapes and advisory metadata  → Sized
///         .finish()                       shapes, constraints, leftovers; defaults filled   → Result
///
/// Every phase collects diagnostics rather than stopping at the first.
enum GraphCheck {
    /// What stays fixed during one check.
    struct Scope {
        let variant: FamilyVariant
        let compiled: CompiledScheme
        let index: NameIndex

        var graph: ConnectorGraph { variant.graph }
        func symbol(forKey key: String) -> String? { graph.dimension(key: key)?.symbol }
        func key(of symbol: String) -> String { graph.dimension(symbol)?.key ?? symbol }
        func entry(for role: String) -> CompiledScheme.Entry? { compiled.entryByRole[role] }
    }

    /// The dimension values known before any tensor is read.
    struct Sources {
        /// Flags, presets, config, the LLM checkpoint: bound in precedence order, conflicts reported.
        var strong: [DimensionClaim]
        /// GGUF metadata: used where the tensors leave a dimension open, reported where they disagree.
        var advisory: [DimensionClaim]
    }

    /// The bindings and diagnostics, carried from phase to phase.
    struct State {
        let scope: Scope
        var binder = Binder()
        var diagnostics: [Diagnostic] = []
        /// Strong claims that disagreed with a value already bound; reported with the tensors the same
        /// dimension affects, once shapes are checked (`reportDimensions`).
        var conflicts: [DimensionConflict] = []
        /// Dimensions reported as wrong, with their diagnostic's index (their consequences join it).
        var wrongDimensions: [String: Int] = [:]
    }

    /// Phase 1: the sources bound. Without sources (`nil`: listing a connector's tensors) not even the
    /// family defaults are assumed, so repeat counts and intervals come from the tensor names alone.
    struct Seeded {
        var state: State

        init(_ scope: Scope, sources: Sources?) {
            state = State(scope: scope)
            guard let sources else { return }
            state.bind(strong: sources.strong)
            state.bind(advisory: sources.advisory)
        }
    }

    /// Phase 2: every parameter the graph expects, repeats unrolled, with its stored names.
    struct Expanded {
        var state: State
        var params: [ExpectedParam]
        /// Tensors already reported for their layer index (not repeated as unexpected).
        var reportedNames: Set<String>
        /// `repeat:index` pairs whose conditioned nodes are missing as a whole (already reported).
        var missingConditioned: Set<String>
    }

    /// Phase 3: each parameter with the tensor(s) found for it.
    struct Resolved {
        var state: State
        var params: [FoundParam]
        var reportedNames: Set<String>
    }

    /// Phase 4: dimensions bound from the tensor shapes and the advisory metadata.
    struct Sized {
        var state: State
        var params: [FoundParam]
        var reportedNames: Set<String>
    }

    /// The outcome: final bindings (defaults filled), the parameters with their tensors, every diagnostic.
    struct Result {
        var binder: Binder
        var params: [FoundParam]
        var diagnostics: [Diagnostic]
    }
}

/// One parameter the graph expects: a node's parameter under concrete repeat indices, and how the
/// scheme stores it.
struct ExpectedParam {
    var role: String
    /// The graph's role template (`layers.{i}.attn.q.weight`) and the repeat indices it was instantiated with.
    var roleTemplate: String
    var indices: [String: Int]
    var node: String
    var slot: String
    var shape: [DimExpr]
    var gate: Bool
    var site: Site
    /// Set for a parameter that may be absent: the group it is present or absent with (an optional
    /// node instance's name, or its q/k norm pair).
    var optionalNode: String?
    /// Stored names: primary then aliases, or the parts of a split parameter. Empty when the scheme
    /// never stores the parameter (`absent`).
    var names: [String]
    var isParts: Bool
    var transposed: Bool
    var squeezed: Bool
    /// For a conditioned node (`when`): `block:index`, so a layer whose cross-attention is missing as a
    /// whole is reported once as a layer-index problem.
    var conditionKey: String?
    /// A projection of an attention node (where head counts matter).
    var isAttention = false

    var isStored: Bool { !names.isEmpty }
    var rank: Int { shape.count }

    /// The shape as the scheme stores it (squeezed, transposed).
    var storedShape: [DimExpr] {
        var exprs = shape
        if squeezed { exprs = exprs.filter { !$0.isLiteralOne } }
        if transposed && exprs.count == 2 { exprs.reverse() }
        return exprs
    }
}

/// An expected parameter with the stored tensor(s) found for it (none: missing or absent).
@dynamicMemberLookup
struct FoundParam {
    var expected: ExpectedParam
    var found: [Tensor] = []
    /// A header problem (no elements, an integer type) was reported: the shape is not checked.
    var skipShape = false

    subscript<T>(dynamicMember path: KeyPath<ExpectedParam, T>) -> T { expected[keyPath: path] }

    var reportName: String { found.first?.name ?? expected.names[0] }

    /// The shape of the stored tensor(s): parts are concatenated along the first axis.
    var foundShape: [Int]? {
        guard let first = found.first else { return nil }
        if !expected.isParts { return first.shape }
        var shape = first.shape
        guard !shape.isEmpty else { return nil }
        for part in found.dropFirst() {
            guard part.shape.count == shape.count, part.shape.dropFirst() == shape.dropFirst(),
                  let sum = Checked.add(shape[0], part.shape[0]) else { return nil }
            shape[0] = sum
        }
        return shape
    }
}

// MARK: - Phase 1: dimension sources

extension GraphCheck.State {
    /// Binds strong claims in precedence order; a later claim that disagrees is a conflict naming both.
    mutating func bind(strong claims: [DimensionClaim]) {
        for claim in claims.enumerated().sorted(by: { ($0.element.source.precedence, $0.offset) < ($1.element.source.precedence, $1.offset) }).map(\.element) {
            guard let symbol = scope.symbol(forKey: claim.key) else { continue }
            if let bound = binder.value(symbol) {
                if bound != claim.value, let boundSource = binder.source(symbol) {
                    conflicts.append(DimensionConflict(symbol: symbol, bound: bound, boundSource: boundSource, claim: claim))
                }
                continue
            }
            guard claim.value > 0 else {
                diagnostics.append(Diagnostic(.dimensionConflict, "\(claim.key) = \(claim.value) per \(claim.source) is not a positive size"))
                continue
            }
            binder.bind(symbol, claim.value, claim.source)
        }
    }

    /// Advisory values (GGUF metadata), then the family defaults.
    mutating func bind(advisory claims: [DimensionClaim]) {
        for claim in claims {
            guard let symbol = scope.symbol(forKey: claim.key), claim.value > 0 else { continue }
            binder.weak[symbol, default: []].append((claim.value, claim.source))
        }
        for dim in scope.graph.dimensions {
            if let value = dim.defaultValue { binder.weak[dim.symbol, default: []].append((value, .familyDefault)) }
        }
    }
}

// MARK: - Phase 2: expansion

extension GraphCheck.Seeded {
    /// Unrolls the graph against the tensor names, inferring repeat counts and cross-attention
    /// intervals from them when nothing else fixes them.
    func expand() -> GraphCheck.Expanded {
        var expansion = GraphCheck.Expanded(state: state, params: [], reportedNames: [], missingConditioned: [])
        expansion.expand(state.scope.graph.nodes, GraphCheck.Expanded.Indices())
        return expansion
    }
}

extension GraphCheck.Expanded {
    /// The repeat indices around a node.
    struct Indices {
        var indices: [String: Int] = [:]
        /// The repeat block each index belongs to.
        var blocks: [String: String] = [:]
    }

    private var scope: GraphCheck.Scope { state.scope }
    private var binder: Binder {
        get { state.binder }
        set { state.binder = newValue }
    }

    /// Stored names of a role under the given index values.
    func storedNames(_ entry: CompiledScheme.Entry, _ indices: Indices) -> [String] {
        entry.names.compactMap { $0.instantiate { indices.indices[$0] } }
    }

    /// Index values of `index` present in the tensor names of `roles`, given the outer indices.
    func presentIndices(_ index: String, roles: [String], _ outer: Indices) -> [Int: String] {
        var present: [Int: String] = [:]
        for role in roles {
            guard let entry = scope.entry(for: role) else { continue }
            for template in entry.names {
                for hit in scope.index.matches(template) {
                    guard let value = hit.indices[index] else { continue }
                    let outerAgree = outer.indices.allSatisfy { hit.indices[$0.key] == nil || hit.indices[$0.key] == $0.value }
                    if outerAgree, present[value] == nil { present[value] = hit.name }
                }
            }
        }
        return present
    }

    /// Marks every stored tensor of `roles` whose `index` satisfies `selected` as already reported.
    mutating func markReported(roles: [String], index: String, where selected: (Int) -> Bool) {
        for role in roles {
            guard let entry = scope.entry(for: role) else { continue }
            for template in entry.names {
                for hit in scope.index.matches(template) where selected(hit.indices[index] ?? -1) { reportedNames.insert(hit.name) }
            }
        }
    }

    func roles(in nodes: [GraphNode], where include: (OperationNode) -> Bool = { _ in true }) -> [String] {
        var result: [String] = []
        for node in nodes {
            switch node {
            case .operation(let op) where include(op): result += op.params.map(\.role)
            case .operation: break
            case .repeatBlock(let block): result += roles(in: block.body, where: include)
            }
        }
        return result
    }

    fileprivate mutating func expand(_ nodes: [GraphNode], _ outer: Indices) {
        for node in nodes {
            switch node {
            case .operation(let op):
                if let condition = op.when, let index = outer.indices[condition.index],
                   condition.holds(at: index, binder.lookup) == false { continue }
                for param in op.params { expect(param, of: op, outer) }
            case .repeatBlock(let block):
                let count = repeatCount(block, outer)
                resolveConditions(block, count: count, outer)
                for value in 0 ..< count {
                    var inner = outer
                    inner.indices[block.index] = value
                    inner.blocks[block.index] = block.name
                    expand(block.body, inner)
                }
            }
        }
    }

    private mutating func expect(_ param: ParamSpec, of op: OperationNode, _ outer: Indices) {
        let instantiate: (String) -> Int? = { outer.indices[$0] }
        let entry = scope.entry(for: param.role)
        guard let role = (entry?.roleTemplate ?? (try? NameTemplate(param.role)))?.instantiate(instantiate) else { return }
        let names = entry.map { storedNames($0, outer) } ?? []
        // A stored role whose names cannot be instantiated is not expected at all.
        guard entry == nil || !names.isEmpty else { return }
        let nodeName = (try? NameTemplate(op.name))?.instantiate(instantiate) ?? op.name
        params.append(ExpectedParam(
            role: role, roleTemplate: param.role, indices: outer.indices, node: nodeName, slot: param.slot, shape: param.shape, gate: param.gate, site: op.site,
            optionalNode: op.optionalGroup(slot: param.slot, instance: nodeName), names: names, isParts: entry?.isParts ?? false,
            transposed: entry?.transposed ?? false, squeezed: entry?.squeezed ?? false,
            conditionKey: op.when.flatMap { c in outer.indices[c.index].map { "\(outer.blocks[c.index] ?? ""):\($0)" } },
            isAttention: { if case .attention = op.operation { return true } else { return false } }()))
    }

    /// The number of iterations: from the bound dimensions, else from the layer indices in the tensor
    /// names (binding the count's symbol), else the family default.
    private mutating func repeatCount(_ block: RepeatBlock, _ outer: Indices) -> Int {
        let unconditioned = roles(in: block.body) { $0.when == nil && !$0.optional }
        let all = roles(in: block.body)
        let present = presentIndices(block.index, roles: unconditioned.isEmpty ? all : unconditioned, outer)
        let presentAll = presentIndices(block.index, roles: all, outer)
        let limit = 4096
        if let count = block.count.value(binder.lookup) {
            let extra = presentAll.keys.filter { $0 >= count }.sorted()
            if let first = extra.first, let name = presentAll[first] {
                let origin = block.count.symbols.first.flatMap { binder.source($0) }.map { " (\($0))" } ?? ""
                state.diagnostics.append(Diagnostic(.layerCountMismatch, tensor: name,
                    "tensors exist for \(block.name) index\(extra.count > 1 ? "es" : "") \(extra.map(String.init).joined(separator: ", ")), but \(block.count) = \(count)\(origin)",
                    expected: [count], found: [(extra.last ?? first) + 1]))
                for value in extra { if let name = presentAll[value] { reportedNames.insert(name) } }
                markReported(roles: all, index: block.index) { $0 >= count }
            }
            return max(0, min(count, limit))
        }
        if let highest = (present.isEmpty ? presentAll : present).keys.max() {
            let inferred = min(highest + 1, limit)
            let unknown = block.count.symbols.filter { binder.value($0) == nil }
            if unknown.count == 1, let solved = block.count.solve(for: unknown[0], equals: inferred, binder.lookup), solved >= 0 {
                binder.bind(unknown[0], solved, .tensorNames(
                    "counted in the tensor names: \(inferred) '\(block.name)' block\(inferred == 1 ? "" : "s")"))
            }
            return inferred
        }
        // Nothing present: expand the default count so the missing layers are reported.
        var scratch = binder
        for symbol in block.count.symbols where scratch.value(symbol) == nil { _ = scratch.bindWeak(symbol) }
        if let count = block.count.value(scratch.lookup) {
            for symbol in block.count.symbols where binder.value(symbol) == nil { _ = binder.bindWeak(symbol) }
            return max(0, min(count, limit))
        }
        return 0
    }

    /// Settles the interval of conditioned nodes (`when`) inside a repeat: from the bound dimensions,
    /// else the interval that reproduces exactly the layer indices present, else the family default;
    /// then reports indices that disagree with it.
    private mutating func resolveConditions(_ block: RepeatBlock, count: Int, _ outer: Indices) {
        var conditions: [Condition] = []
        for case .operation(let op) in block.body {
            if let condition = op.when, condition.index == block.index, !conditions.contains(condition) { conditions.append(condition) }
        }
        let hint = "check cross_attn_every_n_layers / cross_layer_interval / cross_attention_frequency"
        for condition in conditions {
            let conditionedRoles = roles(in: block.body) { $0.when == condition }
            let present = presentIndices(block.index, roles: conditionedRoles, outer)
            let presentSet = Set(present.keys)
            func expectedSet(_ lookup: (String) -> Int?) -> Set<Int>? {
                var result = Set<Int>()
                for value in 0 ..< count {
                    guard let holds = condition.holds(at: value, lookup) else { return nil }
                    if holds { result.insert(value) }
                }
                return result
            }
            let unknown = condition.every.symbols.filter { binder.value($0) == nil }
            if unknown.count == 1, !presentSet.isEmpty {
                let symbol = unknown[0]
                for candidate in 1 ... max(1, count) {
                    let lookup: (String) -> Int? = { $0 == symbol ? candidate : binder.value($0) }
                    if expectedSet(lookup) == presentSet {
                        binder.bind(symbol, candidate, .tensorNames("\(block.name) with cross-attention at \(presentSet.sorted().prefix(4).map(String.init).joined(separator: ", "))\(presentSet.count > 4 ? ", …" : "")"))
                        break
                    }
                }
            }
            for symbol in condition.every.symbols + condition.phase.symbols where binder.value(symbol) == nil { _ = binder.bindWeak(symbol) }
            guard let expected = expectedSet(binder.lookup) else { continue }
            let every = condition.every.value(binder.lookup) ?? 0
            let origin = condition.every.symbols.first.flatMap { symbol in binder.source(symbol).map { "\(scope.key(of: symbol)) = \(every) (\($0))" } } ?? "every \(every)"
            let expectedText = expected.sorted().prefix(6).map(String.init).joined(separator: ", ") + (expected.count > 6 ? ", …" : "")
            for value in presentSet.subtracting(expected).sorted() {
                guard let name = present[value] else { continue }
                state.diagnostics.append(Diagnostic(.crossAttnLayers, tensor: name,
                    "\(block.name) \(value) has cross-attention tensors, but \(origin) places them at \(expectedText)", hint: hint))
                markReported(roles: conditionedRoles, index: block.index) { $0 == value }
            }
            for value in expected.subtracting(presentSet).sorted() where !presentSet.isEmpty {
                var inner = outer
                inner.indices[block.index] = value
                let sample = conditionedRoles.first.flatMap { scope.entry(for: $0) }.map { storedNames($0, inner) }?.first
                state.diagnostics.append(Diagnostic(.crossAttnLayers, tensor: sample,
                    "\(block.name) \(value) has no cross-attention tensors, but \(origin) places them at \(expectedText)", hint: hint))
                missingConditioned.insert("\(block.name):\(value)")
            }
        }
    }
}
