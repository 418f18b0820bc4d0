/// The standard dimension keys: what flags, presets, config files and reports call a dimension.
public enum DimensionKey {
    public static let all: [(key: String, meaning: String)] = [
        ("encoder", "vision encoder width fed to the connector (D_enc)"),
        ("llm", "LLM hidden size the connector must produce (D_llm)"),
        ("tokens", "encoder tokens per image entering the connector"),
        ("feature_layers", "number of encoder layers whose features are concatenated"),
        ("depth", "number of linear layers of an MLP projector"),
        ("hidden", "connector-internal width"),
        ("queries", "learned queries / latents"),
        ("layers", "connector layers"),
        ("heads", "attention heads"),
        ("kv_heads", "key/value heads (grouped-query attention)"),
        ("head_dim", "width of one attention head"),
        ("ffn", "feed-forward hidden width inside the connector"),
        ("cross_every", "a cross-attention layer every N layers"),
        ("llm_layers", "LLM decoder layers"),
        ("llm_ffn", "LLM feed-forward width (Idefics2's modality projection uses it)"),
        ("cross_layers", "gated cross-attention layers inside the LLM"),
        ("merge", "pixel-shuffle / spatial-merge factor per side"),
        ("vocab", "vocabulary of a connector's own text path"),
        ("positions", "position-embedding table length"),
        ("grid_positions", "length of a precomputed 2-D position table"),
    ]

    public static func isKnown(_ key: String) -> Bool { all.contains { $0.key == key } }
}

/// A parameter of a graph with its place: the node, the enclosing repeat indices, and the role.
struct ParamSite {
    var node: OperationNode
    var param: ParamSpec
    /// Enclosing repeat blocks, outermost first.
    var repeats: [RepeatBlock]
}

extension ConnectorGraph {
    /// Visits every operation node with its enclosing repeat blocks, in graph order.
    func forEachOperation(_ body: (OperationNode, [RepeatBlock]) -> Void) {
        func walk(_ nodes: [GraphNode], _ enclosing: [RepeatBlock]) {
            for node in nodes {
                switch node {
                case .operation(let op): body(op, enclosing)
                case .repeatBlock(let block): walk(block.body, enclosing + [block])
                }
            }
        }
        walk(nodes, [])
    }

    var parameterSites: [ParamSite] {
        var sites: [ParamSite] = []
        forEachOperation { node, repeats in
            for param in node.params { sites.append(ParamSite(node: node, param: param, repeats: repeats)) }
        }
        return sites
    }

    /// Every role of the graph, in order.
    public var roles: [String] { parameterSites.map(\.param.role) }

    /// Structural checks of a description (the analogue of ONNX's `check_graph`): symbols declared,
    /// values defined before use, widths that fit each operation, unique roles, well-formed naming
    /// schemes. Returns every problem found, each naming its node.
    public func verify() -> [String] {
        var problems: [String] = []
        var symbols = Set<String>()
        var keys = Set<String>()
        for dim in dimensions {
            if !symbols.insert(dim.symbol).inserted { problems.append("dimension \(dim.symbol) declared twice") }
            if let key = dim.key {
                if !DimensionKey.isKnown(key) {
                    problems.append("dimension \(dim.symbol): unknown key \"\(key)\" (known: \(DimensionKey.all.map(\.key).joined(separator: ", ")))")
                }
                if !keys.insert(key).inserted { problems.append("two dimensions have the key \(key)") }
            }
            if let value = dim.defaultValue, value <= 0 { problems.append("dimension \(dim.symbol): default \(value) is not positive") }
        }
        func checkSymbols(_ exprs: [DimExpr], _ scope: Set<String>, _ place: String) {
            for expr in exprs {
                for symbol in expr.symbols where !scope.contains(symbol) {
                    problems.append("\(place): undeclared symbol \(symbol) in \(expr)")
                }
            }
        }

        var values: [String: [DimExpr]] = [:]
        for input in inputs {
            checkSymbols(input.shape, symbols, "input \(input.name)")
            if input.shape.count != 2 { problems.append("input \(input.name): expected a [tokens, width] shape") }
            values[input.name] = input.shape
        }

        var roles = Set<String>()
        var alternatives: [String: [DimExpr]] = [:]
        func walk(_ nodes: [GraphNode], _ scope: Set<String>, _ indices: [String]) {
            for node in nodes {
                switch node {
                case .repeatBlock(let block):
                    checkSymbols([block.count], scope, "repeat \(block.name)")
                    if scope.contains(block.index) { problems.append("repeat \(block.name): index \(block.index) shadows a symbol") }
                    walk(block.body, scope.union([block.index]), indices + [block.index])
                case .operation(let op):
                    let place = "node \(op.name)"
                    checkSymbols(op.operation.parameterSlots.flatMap(\.shape), scope, place)
                    if let condition = op.when {
                        if !indices.contains(condition.index) { problems.append("\(place): 'when' uses \(condition.index), which is not an enclosing repeat index") }
                        checkSymbols([condition.every, condition.phase], scope, place)
                    }
                    guard op.operation.inputCount.contains(op.inputs.count) else {
                        problems.append("\(place): \(op.operation.opName) takes \(op.operation.inputCount.lowerBound) input(s), got \(op.inputs.count)")
                        continue
                    }
                    var shapes: [[DimExpr]] = []
                    var known = true
                    for name in op.inputs {
                        if let shape = values[name] { shapes.append(shape) } else {
                            problems.append("\(place): input \(name) is not defined before this node")
                            known = false
                        }
                    }
                    if known {
                        switch op.operation.outputShape(shapes) {
                        case .success(let shape):
                            values[op.output] = shape
                            // Without the optional node, its output is its input.
                            if op.optional, let first = shapes.first { alternatives[op.output] = first } else { alternatives[op.output] = nil }
                        case .failure(let mismatch): problems.append("\(place): \(mismatch.reason)")
                        }
                    }
                    for param in op.params {
                        if !roles.insert(param.role).inserted { problems.append("\(place): role \(param.role) used twice") }
                        do {
                            let template = try NameTemplate(param.role)
                            for symbol in template.indexSymbols where !indices.contains(symbol) {
                                problems.append("\(place): role \(param.role) uses \(symbol), which is not an enclosing repeat index")
                            }
                            for index in indices where !template.indexSymbols.contains(index) {
                                problems.append("\(place): role \(param.role) inside repeat must contain {\(index)}")
                            }
                        } catch { problems.append("\(place): \(error)") }
                    }
                }
            }
        }
        walk(nodes, symbols, [])

        for output in outputs {
            checkSymbols(output.shape, symbols, "output \(output.name)")
            guard let shape = values[output.name] else {
                problems.append("output \(output.name) is not produced by any node")
                continue
            }
            func matches(_ produced: [DimExpr]) -> Bool {
                produced.count == output.shape.count && zip(produced, output.shape).allSatisfy { sameDimension($0, $1) }
            }
            if !matches(shape) && !(alternatives[output.name].map(matches) ?? false) {
                problems.append("output \(output.name): declared \(output.shape), the nodes produce \(shape)")
            }
        }
        for constraint in constraints { checkSymbols([constraint.value, constraint.by], symbols, "constraint \(constraint.code)") }

        var schemeNames = Set<String>()
        let sites = parameterSites
        for scheme in schemes {
            if !schemeNames.insert(scheme.name).inserted { problems.append("scheme \(scheme.name) declared twice") }
            var seenRoles = Set<String>()
            for entry in scheme.entries {
                let place = "scheme \(scheme.name), role \(entry.role)"
                guard let site = sites.first(where: { $0.param.role == entry.role }) else {
                    problems.append("\(place): no parameter has this role")
                    continue
                }
                if !seenRoles.insert(entry.role).inserted { problems.append("\(place): listed twice") }
                let indices = site.repeats.map(\.index)
                for name in entry.allNames {
                    do {
                        let template = try NameTemplate(name)
                        if Set(template.indexSymbols) != Set(indices) {
                            problems.append("\(place): name \(name) must use exactly the indices \(indices)")
                        }
                    } catch { problems.append("\(place): \(error)") }
                }
                if entry.transposed && site.param.shape.count != 2 { problems.append("\(place): only a 2-D parameter can be stored transposed") }
            }
            for role in scheme.absent {
                guard let site = sites.first(where: { $0.param.role == role }) else {
                    problems.append("scheme \(scheme.name): absent role \(role) is not a role of the graph")
                    continue
                }
                if !site.node.optional { problems.append("scheme \(scheme.name): role \(role) of a required node cannot be absent") }
                if seenRoles.contains(role) { problems.append("scheme \(scheme.name): role \(role) is both stored and absent") }
            }
        }
        return problems
    }
}
