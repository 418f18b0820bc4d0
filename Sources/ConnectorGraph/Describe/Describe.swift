import TensorFormats

/// A graph with concrete shapes: each node's parameters and their shapes, parameter counts per node and
/// in total, multiply-accumulates per image and the token counts in and out.
public struct GraphDescription: Sendable {
    public struct Param: Sendable {
        public var role: String
        /// The tensor name under the chosen naming scheme (the role when the graph has none).
        public var stored: String
        public var shape: [Int?]
        public var count: Int?
    }

    public struct Node: Sendable {
        public var name: String
        public var op: String
        public var site: Site
        public var inputs: [[Int?]]
        public var output: [Int?]
        public var params: [Param]
        public var parameterCount: Int?
        public var macs: Int?
        /// An optional node (LLaVA-NeXT's image_newline): listed, left out of the totals.
        public var optional: Bool
    }

    public var family: String
    public var variant: String
    public var graph: String
    public var scheme: String?
    public var dims: [(key: String, symbol: String, value: Int?, source: DimensionSource?)]
    public var nodes: [Node]
    public var inputTokens: Int?
    public var outputTokens: Int?
    /// Parameters per site (connector proper, LLM-side gated layers, text path).
    public var parameters: [Site: Int?]
    /// Multiply-accumulates per image of the connector-site nodes.
    public var macsPerImage: Int?
    /// Dimension keys still unknown (their shapes and counts show as `?`).
    public var unknown: [String]

    public var connectorParameters: Int? { parameters[.connector] ?? nil }
}

public enum Describer {
    /// Describes a graph with dimensions from `claims` (strong, in precedence order), then the
    /// family's defaults, then relations among the dimensions (`C*X = L_llm` gives C).
    /// `prefix` moves the scheme's names from its own prefix to the one a checkpoint uses (`own`, `found`).
    /// `present`: the optional nodes (by instance name) the checkpoint holds; the others pass their input
    /// on (a family described without a checkpoint has none: LLaVA-1.5, not LLaVA-NeXT).
    public static func describe(_ variant: FamilyVariant, claims: [DimensionClaim], scheme: String? = nil,
                                evidence: VariantEvidence = VariantEvidence(), prefix: (own: String, found: String)? = nil,
                                present: Set<String> = []) -> GraphDescription {
        let graph = variant.graph
        var binder = Binder()
        for claim in claims.enumerated().sorted(by: { ($0.element.source.precedence, $0.offset) < ($1.element.source.precedence, $1.offset) }).map(\.element) {
            guard let symbol = graph.dimension(key: claim.key)?.symbol ?? graph.dimension(claim.key)?.symbol else { continue }
            binder.bind(symbol, claim.value, claim.source)
        }
        for dim in graph.dimensions where binder.value(dim.symbol) == nil {
            if let value = dim.defaultValue { binder.bind(dim.symbol, value, .familyDefault) }
        }
        // Relations with exactly one unknown side settle it (IDEFICS: cross_layers = llm_layers / interval).
        for constraint in graph.constraints where constraint.kind == .equal {
            let unknownLeft = constraint.value.symbols.filter { binder.value($0) == nil }
            let unknownRight = constraint.by.symbols.filter { binder.value($0) == nil }
            if unknownLeft.count == 1, unknownRight.isEmpty, let target = constraint.by.value(binder.lookup),
               let solved = constraint.value.solve(for: unknownLeft[0], equals: target, binder.lookup) {
                binder.bind(unknownLeft[0], solved, .tensorNames("from \(constraint.value) = \(constraint.by)"))
            } else if unknownRight.count == 1, unknownLeft.isEmpty, let target = constraint.value.value(binder.lookup),
                      let solved = constraint.by.solve(for: unknownRight[0], equals: target, binder.lookup) {
                binder.bind(unknownRight[0], solved, .tensorNames("from \(constraint.value) = \(constraint.by)"))
            }
        }
        let compiled = scheme.flatMap { name in graph.schemes.first { $0.name == name } }

        var nodes: [GraphDescription.Node] = []
        var incomplete = Set<Site>()
        var values: [String: [DimExpr]] = [:]
        for input in graph.inputs { values[input.name] = input.shape }

        func walk(_ items: [GraphNode], _ indices: [String: Int]) {
            let lookup: (String) -> Int? = { indices[$0] ?? binder.value($0) }
            for item in items {
                switch item {
                case .repeatBlock(let block):
                    guard let count = block.count.value(lookup).map({ min($0, 4096) }) else {
                        for site in sites(block.body) { incomplete.insert(site) }
                        continue
                    }
                    for value in 0 ..< max(0, count) {
                        var inner = indices
                        inner[block.index] = value
                        walk(block.body, inner)
                    }
                case .operation(let op):
                    if let condition = op.when, let index = indices[condition.index] {
                        guard let holds = condition.holds(at: index, lookup) else {
                            incomplete.insert(op.site)
                            continue
                        }
                        if !holds { continue }
                    }
                    let inputShapes = op.inputs.map { values[$0] ?? [] }
                    let output = (try? op.operation.outputShape(inputShapes).get()) ?? []
                    values[op.output] = output
                    let name = (try? NameTemplate(op.name))?.instantiate { indices[$0] } ?? op.name
                    var params: [GraphDescription.Param] = []
                    for param in op.params {
                        let role = (try? NameTemplate(param.role))?.instantiate { indices[$0] } ?? param.role
                        var stored = role
                        if let entry = compiled?.entry(for: param.role) {
                            let names = entry.parts.isEmpty ? [entry.name] : entry.parts
                            stored = names.compactMap { (try? NameTemplate($0))?.instantiate { indices[$0] } }
                                .map { name in prefix.map { name.hasPrefix($0.own) ? $0.found + name.dropFirst($0.own.count) : name } ?? name }
                                .joined(separator: " + ")
                        }
                        let shape = param.shape.map { $0.value(lookup) }
                        let count = shape.allSatisfy({ $0 != nil }) ? Checked.product(shape.map { $0! }) : nil
                        params.append(GraphDescription.Param(role: role, stored: stored, shape: shape, count: count))
                    }
                    let concreteInputs = inputShapes.map { $0.map { $0.value(lookup) } }
                    let macs: Int?
                    if concreteInputs.allSatisfy({ $0.allSatisfy { $0 != nil } }) {
                        macs = op.operation.multiplyAccumulates(inputs: concreteInputs.map { $0.map { $0! } }) { $0.value(lookup) }
                    } else {
                        macs = nil
                    }
                    let total = params.reduce(Optional(0)) { sum, param in sum.flatMap { s in param.count.flatMap { Checked.add(s, $0) } } }
                    nodes.append(GraphDescription.Node(
                        name: name, op: op.operation.opName, site: op.site, inputs: concreteInputs,
                        output: output.map { $0.value(lookup) }, params: params, parameterCount: total, macs: macs,
                        optional: op.optional))
                }
            }
        }
        walk(graph.nodes, [:])

        var parameters: [Site: Int?] = [:]
        for site in Site.allCases {
            let siteNodes = nodes.filter { $0.site == site && !$0.optional }
            if incomplete.contains(site) {
                parameters[site] = .some(nil)
                continue
            }
            guard !siteNodes.isEmpty else { continue }
            parameters[site] = siteNodes.reduce(Optional(0)) { sum, node in sum.flatMap { s in node.parameterCount.flatMap { Checked.add(s, $0) } } }
        }
        let connectorNodes = nodes.filter { $0.site == .connector && !$0.optional }
        let macs = connectorNodes.reduce(Optional(0)) { sum, node in sum.flatMap { s in node.macs.flatMap { Checked.add(s, $0) } } }
        var dims: [(key: String, symbol: String, value: Int?, source: DimensionSource?)] = []
        for dim in graph.dimensions { dims.append((dim.key ?? dim.symbol, dim.symbol, binder.value(dim.symbol), binder.source(dim.symbol))) }
        var bound: [String: Int] = [:]
        for dim in dims { if let value = dim.value { bound[dim.key] = value } }
        let tokenSymbol = graph.dimension(key: "tokens")?.symbol
        return GraphDescription(
            family: variant.family.rawValue == graph.family ? variant.family.rawValue : graph.family,
            variant: Family(rawValue: graph.family) != nil ? variant.variantName(dims: bound, evidence: evidence) : (graph.variant ?? "custom"),
            graph: graph.name, scheme: compiled?.name, dims: dims, nodes: nodes,
            inputTokens: tokenSymbol.flatMap { binder.value($0) },
            outputTokens: graph.outputTokens(binder.lookup) { present.contains($0) },
            parameters: parameters, macsPerImage: macs,
            unknown: dims.filter { $0.value == nil && graph.dimension($0.symbol)?.key != nil }.map(\.key))
    }

    static func sites(_ items: [GraphNode]) -> Set<Site> {
        var result = Set<Site>()
        for item in items {
            switch item {
            case .operation(let op): result.insert(op.site)
            case .repeatBlock(let block): result.formUnion(sites(block.body))
            }
        }
        return result
    }

    /// The built-in families side by side for one encoder/LLM pair.
    public static func compare(claims: [DimensionClaim], encoder: EncoderPreset?) -> [GraphDescription] {
        Catalog.variants.map { variant in
            var all = claims
            if let encoder {
                all += Presets.claims(encoder: encoder, keepsClassToken: variant.keepsClassToken, source: .preset(encoder.name))
            }
            return describe(variant, claims: all, scheme: variant.graph.schemes.first?.name)
        }
    }
}

extension GraphDescription {
    public var json: JSONValue {
        func int(_ value: Int?) -> JSONValue { value.map { .int($0) } ?? .null }
        func shape(_ values: [Int?]) -> JSONValue { .array(values.map(int)) }
        return .object([
            JSONValue.Member("family", .string(family)),
            JSONValue.Member("variant", .string(variant)),
            JSONValue.Member("graph", .string(graph)),
            JSONValue.Member("scheme", scheme.map { .string($0) } ?? .null),
            JSONValue.Member("dims", .object(dims.map { JSONValue.Member($0.key, int($0.value)) })),
            JSONValue.Member("nodes", .array(nodes.map { node in
                .object([
                    JSONValue.Member("name", .string(node.name)),
                    JSONValue.Member("op", .string(node.op)),
                    JSONValue.Member("site", .string(node.site.rawValue)),
                    JSONValue.Member("output", shape(node.output)),
                    JSONValue.Member("params", .array(node.params.map { param in
                        .object([JSONValue.Member("role", .string(param.role)), JSONValue.Member("tensor", .string(param.stored)),
                                 JSONValue.Member("shape", shape(param.shape)), JSONValue.Member("count", int(param.count))])
                    })),
                    JSONValue.Member("parameters", int(node.parameterCount)),
                    JSONValue.Member("macs", int(node.macs)),
                    JSONValue.Member("optional", .bool(node.optional)),
                ])
            })),
            JSONValue.Member("parameters", .object(Site.allCases.compactMap { site in
                parameters[site].map { JSONValue.Member(site.rawValue, int($0)) }
            })),
            JSONValue.Member("macs_per_image", int(macsPerImage)),
            JSONValue.Member("tokens", .object([JSONValue.Member("input", int(inputTokens)), JSONValue.Member("output", int(outputTokens))])),
            JSONValue.Member("unknown_dims", .array(unknown.map { .string($0) })),
        ])
    }
}

extension ConnectorGraph {
    /// The tokens the connector hands the LLM: its first output's row count, with the connector's
    /// optional nodes present where `present(instance name)` says and passing their input on elsewhere (so
    /// that LLaVA-NeXT's `image_newline` adds its token only when the checkpoint holds it). Nil when a
    /// dimension it needs is unknown.
    public func outputTokens(_ lookup: (String) -> Int?, present: (String) -> Bool) -> Int? {
        var values: [String: [DimExpr]] = [:]
        for input in inputs { values[input.name] = input.shape }
        var complete = true
        func walk(_ items: [GraphNode], _ indices: [String: Int]) {
            func scoped(_ symbol: String) -> Int? { indices[symbol] ?? lookup(symbol) }
            for item in items {
                switch item {
                case .repeatBlock(let block):
                    guard Describer.sites(block.body).contains(.connector) else { continue }
                    guard let count = block.count.value(scoped) else {
                        complete = false
                        continue
                    }
                    for value in 0 ..< min(max(0, count), 4096) {
                        var inner = indices
                        inner[block.index] = value
                        walk(block.body, inner)
                    }
                case .operation(let op):
                    guard op.site == .connector else { continue }
                    if let condition = op.when, let index = indices[condition.index] {
                        guard let holds = condition.holds(at: index, scoped) else {
                            complete = false
                            continue
                        }
                        if !holds { continue }
                    }
                    let shapes = op.inputs.map { values[$0] ?? [] }
                    let name = (try? NameTemplate(op.name))?.instantiate { indices[$0] } ?? op.name
                    if op.optional, !op.params.isEmpty, !op.operation.runsWithoutParameters, !present(name), let first = shapes.first {
                        values[op.output] = first
                    } else if case .success(let shape) = op.operation.outputShape(shapes) {
                        values[op.output] = shape
                    } else {
                        complete = false
                    }
                }
            }
        }
        walk(nodes, [:])
        guard complete, let output = outputs.first, let shape = values[output.name], let tokens = shape.first else { return nil }
        return tokens.value(lookup)
    }
}
