import TensorFormats

/// One parameter the graph expects, with the stored tensor(s) found for it.
struct ExpectedParam {
    var role: String
    var node: String
    var slot: String
    var shape: [DimExpr]
    var gate: Bool
    var site: Site
    /// Set for a parameter of an optional node (the node instance's name).
    var optionalNode: String?
    /// Stored names: primary then aliases, or the parts of a split parameter.
    var names: [String]
    var isParts: Bool
    var transposed: Bool
    var squeezed: Bool
    /// For a conditioned node (`when`): `block:index`, so a layer whose cross-attention is missing as a
    /// whole is reported once as a layer-index problem.
    var conditionKey: String?
    /// A projection of an attention node (where head counts matter).
    var isAttention = false
    var found: [Tensor] = []
    var skipShape = false

    var reportName: String { found.first?.name ?? names[0] }
    var rank: Int { shape.count }

    /// The shape as the scheme stores it (squeezed, transposed).
    var storedShape: [DimExpr] {
        var exprs = shape
        if squeezed { exprs = exprs.filter { !$0.isLiteralOne } }
        if transposed && exprs.count == 2 { exprs.reverse() }
        return exprs
    }

    /// The shape of the stored tensor(s): parts are concatenated along the first axis.
    var foundShape: [Int]? {
        guard let first = found.first else { return nil }
        if !isParts { return first.shape }
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

/// Checks one checkpoint against one family variant in one naming scheme: expands the graph
/// (inferring repeat counts and cross-attention intervals from the tensor names when nothing else
/// fixes them), finds each parameter's tensor, binds the symbolic dimensions, and collects every
/// diagnostic.
struct GraphCheck {
    let variant: FamilyVariant
    let compiled: CompiledScheme
    let index: NameIndex
    var binder = Binder()
    var diagnostics: [Diagnostic] = []
    var expected: [ExpectedParam] = []
    /// Tensors already reported for their layer index (not repeated as unexpected).
    var reportedNames = Set<String>()

    var graph: ConnectorGraph { variant.graph }

    init(variant: FamilyVariant, compiled: CompiledScheme, index: NameIndex) {
        self.variant = variant
        self.compiled = compiled
        self.index = index
    }

    func symbol(forKey key: String) -> String? { graph.dimension(key: key)?.symbol }
    func key(of symbol: String) -> String { graph.dimension(symbol)?.key ?? symbol }

    // MARK: dimension sources

    /// Binds strong claims in precedence order; a later claim that disagrees is a conflict naming both.
    mutating func apply(strong claims: [DimensionClaim]) {
        for claim in claims.enumerated().sorted(by: { ($0.element.source.precedence, $0.offset) < ($1.element.source.precedence, $1.offset) }).map(\.element) {
            guard let symbol = symbol(forKey: claim.key) else { continue }
            if let bound = binder.value(symbol) {
                if bound != claim.value, let boundSource = binder.source(symbol) {
                    diagnostics.append(Diagnostic(.dimensionConflict,
                        "\(claim.key) is \(bound) per \(boundSource) but \(claim.value) per \(claim.source)",
                        expected: [bound], found: [claim.value], hint: "the first source wins; fix or drop the other"))
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
    mutating func apply(weak claims: [DimensionClaim]) {
        for claim in claims {
            guard let symbol = symbol(forKey: claim.key), claim.value > 0 else { continue }
            binder.weak[symbol, default: []].append((claim.value, claim.source))
        }
        for dim in graph.dimensions {
            if let value = dim.defaultValue { binder.weak[dim.symbol, default: []].append((value, .familyDefault)) }
        }
    }

    // MARK: expansion

    struct Scope {
        var indices: [String: Int] = [:]
        /// The repeat block each index belongs to.
        var blocks: [String: String] = [:]
    }

    /// Stored names of a role under the given index values.
    func storedNames(_ entry: CompiledScheme.Entry, _ scope: Scope) -> [String] {
        entry.names.compactMap { $0.instantiate { scope.indices[$0] } }
    }

    func entry(for role: String) -> CompiledScheme.Entry? { compiled.entryByRole[role] }

    /// Index values of `index` present in the tensor names of `roles`, given the outer indices.
    func presentIndices(_ index: String, roles: [String], _ scope: Scope) -> [Int: String] {
        var present: [Int: String] = [:]
        for role in roles {
            guard let entry = entry(for: role) else { continue }
            for template in entry.names {
                for hit in self.index.matches(template) {
                    guard let value = hit.indices[index] else { continue }
                    let outerAgree = scope.indices.allSatisfy { hit.indices[$0.key] == nil || hit.indices[$0.key] == $0.value }
                    if outerAgree, present[value] == nil { present[value] = hit.name }
                }
            }
        }
        return present
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

    mutating func expand() {
        expand(graph.nodes, Scope())
    }

    private mutating func expand(_ nodes: [GraphNode], _ scope: Scope) {
        for node in nodes {
            switch node {
            case .operation(let op):
                if let condition = op.when, let index = scope.indices[condition.index],
                   condition.holds(at: index, binder.lookup) == false { continue }
                for param in op.params {
                    guard let entry = entry(for: param.role) else { continue }
                    let names = storedNames(entry, scope)
                    guard !names.isEmpty, let role = entry.roleTemplate.instantiate({ scope.indices[$0] }) else { continue }
                    let nodeName = (try? NameTemplate(op.name))?.instantiate { scope.indices[$0] } ?? op.name
                    expected.append(ExpectedParam(
                        role: role, node: nodeName, slot: param.slot, shape: param.shape, gate: param.gate, site: op.site,
                        optionalNode: op.optional ? nodeName : nil, names: names, isParts: entry.isParts,
                        transposed: entry.transposed, squeezed: entry.squeezed,
                        conditionKey: op.when.flatMap { c in scope.indices[c.index].map { "\(scope.blocks[c.index] ?? ""):\($0)" } },
                        isAttention: { if case .attention = op.operation { return true } else { return false } }()))
                }
            case .repeatBlock(let block):
                let count = repeatCount(block, scope)
                resolveConditions(block, count: count, scope)
                for value in 0 ..< count {
                    var inner = scope
                    inner.indices[block.index] = value
                    inner.blocks[block.index] = block.name
                    expand(block.body, inner)
                }
            }
        }
    }

    /// The number of iterations: from the bound dimensions, else from the layer indices in the tensor
    /// names (binding the count's symbol), else the family default.
    private mutating func repeatCount(_ block: RepeatBlock, _ scope: Scope) -> Int {
        let unconditioned = roles(in: block.body) { $0.when == nil && !$0.optional }
        let all = roles(in: block.body)
        let present = presentIndices(block.index, roles: unconditioned.isEmpty ? all : unconditioned, scope)
        let presentAll = presentIndices(block.index, roles: all, scope)
        let limit = 4096
        if let count = block.count.value(binder.lookup) {
            let extra = presentAll.keys.filter { $0 >= count }.sorted()
            if let first = extra.first, let name = presentAll[first] {
                let symbols = block.count.symbols
                let origin = symbols.first.flatMap { binder.source($0) }.map { " (\($0))" } ?? ""
                diagnostics.append(Diagnostic(.layerCountMismatch, tensor: name,
                    "tensors exist for \(block.name) index\(extra.count > 1 ? "es" : "") \(extra.map(String.init).joined(separator: ", ")), but \(block.count) = \(count)\(origin)",
                    expected: [count], found: [(extra.last ?? first) + 1]))
                for value in extra { if let name = presentAll[value] { reportedNames.insert(name) } }
                for role in all {
                    guard let entry = entry(for: role) else { continue }
                    for template in entry.names {
                        for hit in index.matches(template) where (hit.indices[block.index] ?? -1) >= count { reportedNames.insert(hit.name) }
                    }
                }
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
    private mutating func resolveConditions(_ block: RepeatBlock, count: Int, _ scope: Scope) {
        var conditions: [Condition] = []
        for case .operation(let op) in block.body {
            if let condition = op.when, condition.index == block.index, !conditions.contains(condition) { conditions.append(condition) }
        }
        for condition in conditions {
            let conditionedRoles = roles(in: block.body) { $0.when == condition }
            let present = presentIndices(block.index, roles: conditionedRoles, scope)
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
            let origin = condition.every.symbols.first.flatMap { symbol in binder.source(symbol).map { "\(key(of: symbol)) = \(every) (\($0))" } } ?? "every \(every)"
            let expectedText = expected.sorted().prefix(6).map(String.init).joined(separator: ", ") + (expected.count > 6 ? ", …" : "")
            for value in presentSet.subtracting(expected).sorted() {
                guard let name = present[value] else { continue }
                diagnostics.append(Diagnostic(.crossAttnLayers, tensor: name,
                    "\(block.name) \(value) has cross-attention tensors, but \(origin) places them at \(expectedText)",
                    hint: "check cross_attn_every_n_layers / cross_layer_interval / cross_attention_frequency"))
                for role in conditionedRoles {
                    guard let entry = entry(for: role) else { continue }
                    for template in entry.names {
                        for hit in index.matches(template) where hit.indices[block.index] == value { reportedNames.insert(hit.name) }
                    }
                }
            }
            for value in expected.subtracting(presentSet).sorted() where !presentSet.isEmpty {
                var inner = scope
                inner.indices[block.index] = value
                let sample = conditionedRoles.first.flatMap { entry(for: $0) }.map { storedNames($0, inner) }?.first
                diagnostics.append(Diagnostic(.crossAttnLayers, tensor: sample,
                    "\(block.name) \(value) has no cross-attention tensors, but \(origin) places them at \(expectedText)",
                    hint: "check cross_attn_every_n_layers / cross_layer_interval / cross_attention_frequency"))
                missingConditioned.insert("\(block.name):\(value)")
            }
        }
    }

    /// `repeat:index` pairs whose conditioned nodes are missing as a whole (already reported).
    var missingConditioned = Set<String>()
}
