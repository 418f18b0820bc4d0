import TensorFormats

// The JSON form of connector graphs (`schemas/connector-graph.schema.json`). Keys are snake_case; a
// node's attributes sit beside `name`/`op`/`inputs`/`output`; unknown keys are refused.

extension DimExpr: Codable {
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int.self) {
            self = .constant(number)
            return
        }
        let text: String
        do { text = try container.decode(String.self) } catch {
            throw DecodingError.typeMismatch(DimExpr.self, .init(
                codingPath: decoder.codingPath, debugDescription: "expected an integer or a dimension expression string"))
        }
        do { self = try DimExpr(parsing: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(error)"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        if case .constant(let value) = self { try container.encode(value) } else { try container.encode(description) }
    }
}

extension ConnectorGraph: Codable {
    enum Keys: String, CodingKey, CaseIterable {
        case format, version, name, family, variant, description, dimensions, inputs, nodes, outputs, constraints, schemes
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(Keys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: Keys.self)
        let format = try c.decode(String.self, forKey: .format)
        guard format == ConnectorGraph.formatName else {
            throw DecodingError.dataCorrupted(.init(codingPath: [Keys.format], debugDescription: "expected \"\(ConnectorGraph.formatName)\", found \"\(format)\""))
        }
        let version = try c.decode(Int.self, forKey: .version)
        guard version == ConnectorGraph.formatVersion else {
            throw DecodingError.dataCorrupted(.init(codingPath: [Keys.version], debugDescription: "unsupported version \(version) (this connkit reads version \(ConnectorGraph.formatVersion))"))
        }
        name = try c.decode(String.self, forKey: .name)
        family = try c.decode(String.self, forKey: .family)
        variant = try c.decodeIfPresent(String.self, forKey: .variant)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        dimensions = try c.decode([DimensionDecl].self, forKey: .dimensions)
        inputs = try c.decode([ValueDecl].self, forKey: .inputs)
        nodes = try c.decode([GraphNode].self, forKey: .nodes)
        outputs = try c.decode([ValueDecl].self, forKey: .outputs)
        constraints = try c.decodeIfPresent([Constraint].self, forKey: .constraints) ?? []
        schemes = try c.decodeIfPresent([NamingScheme].self, forKey: .schemes) ?? []
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(ConnectorGraph.formatName, forKey: .format)
        try c.encode(ConnectorGraph.formatVersion, forKey: .version)
        try c.encode(name, forKey: .name)
        try c.encode(family, forKey: .family)
        try c.encodeIfPresent(variant, forKey: .variant)
        try c.encodeIfPresent(description, forKey: .description)
        try c.encode(dimensions, forKey: .dimensions)
        try c.encode(inputs, forKey: .inputs)
        try c.encode(nodes, forKey: .nodes)
        try c.encode(outputs, forKey: .outputs)
        if !constraints.isEmpty { try c.encode(constraints, forKey: .constraints) }
        if !schemes.isEmpty { try c.encode(schemes, forKey: .schemes) }
    }
}

extension DimensionDecl: Codable {
    enum Keys: String, CodingKey, CaseIterable { case symbol, key, description, `default` }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(Keys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: Keys.self)
        symbol = try c.decode(String.self, forKey: .symbol)
        key = try c.decodeIfPresent(String.self, forKey: .key)
        description = try c.decodeIfPresent(String.self, forKey: .description) ?? ""
        defaultValue = try c.decodeIfPresent(Int.self, forKey: .default)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(symbol, forKey: .symbol)
        try c.encodeIfPresent(key, forKey: .key)
        try c.encode(description, forKey: .description)
        try c.encodeIfPresent(defaultValue, forKey: .default)
    }
}

extension ValueDecl: Codable {
    enum Keys: String, CodingKey, CaseIterable { case name, shape, description }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(Keys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: Keys.self)
        name = try c.decode(String.self, forKey: .name)
        shape = try c.decode([DimExpr].self, forKey: .shape)
        description = try c.decodeIfPresent(String.self, forKey: .description)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(name, forKey: .name)
        try c.encode(shape, forKey: .shape)
        try c.encodeIfPresent(description, forKey: .description)
    }
}

extension Condition: Codable {
    enum Keys: String, CodingKey, CaseIterable { case index, every, phase }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(Keys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: Keys.self)
        index = try c.decode(String.self, forKey: .index)
        every = try c.decode(DimExpr.self, forKey: .every)
        phase = try c.decodeIfPresent(DimExpr.self, forKey: .phase) ?? 0
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(index, forKey: .index)
        try c.encode(every, forKey: .every)
        try c.encode(phase, forKey: .phase)
    }
}

extension Constraint: Codable {
    enum Keys: String, CodingKey, CaseIterable { case kind, value, by, code, message }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(Keys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: Keys.self)
        kind = try c.decode(Kind.self, forKey: .kind)
        value = try c.decode(DimExpr.self, forKey: .value)
        by = try c.decode(DimExpr.self, forKey: .by)
        code = try c.decode(String.self, forKey: .code)
        message = try c.decodeIfPresent(String.self, forKey: .message) ?? ""
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(value, forKey: .value)
        try c.encode(by, forKey: .by)
        try c.encode(code, forKey: .code)
        try c.encode(message, forKey: .message)
    }
}

extension NamingScheme: Codable {
    enum Keys: String, CodingKey, CaseIterable { case name, description, entries, absent, ignored }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(Keys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: Keys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description) ?? ""
        entries = try c.decode([SchemeEntry].self, forKey: .entries)
        absent = try c.decodeIfPresent([String].self, forKey: .absent) ?? []
        ignored = try c.decodeIfPresent([String].self, forKey: .ignored) ?? []
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(name, forKey: .name)
        try c.encode(description, forKey: .description)
        try c.encode(entries, forKey: .entries)
        if !absent.isEmpty { try c.encode(absent, forKey: .absent) }
        if !ignored.isEmpty { try c.encode(ignored, forKey: .ignored) }
    }
}

extension SchemeEntry: Codable {
    enum Keys: String, CodingKey, CaseIterable { case role, name, aliases, parts, transposed, squeezed }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(Keys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: Keys.self)
        role = try c.decode(String.self, forKey: .role)
        parts = try c.decodeIfPresent([String].self, forKey: .parts) ?? []
        let declaredName = try c.decodeIfPresent(String.self, forKey: .name)
        name = parts.first ?? declaredName ?? role
        aliases = try c.decodeIfPresent([String].self, forKey: .aliases) ?? []
        transposed = try c.decodeIfPresent(Bool.self, forKey: .transposed) ?? false
        squeezed = try c.decodeIfPresent(Bool.self, forKey: .squeezed) ?? false
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(role, forKey: .role)
        if parts.isEmpty { try c.encode(name, forKey: .name) }
        if !aliases.isEmpty { try c.encode(aliases, forKey: .aliases) }
        if !parts.isEmpty { try c.encode(parts, forKey: .parts) }
        if transposed { try c.encode(true, forKey: .transposed) }
        if squeezed { try c.encode(true, forKey: .squeezed) }
    }
}

extension ParamSpec: Codable {
    enum Keys: String, CodingKey, CaseIterable { case slot, role, shape, gate }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(Keys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: Keys.self)
        slot = try c.decode(String.self, forKey: .slot)
        role = try c.decode(String.self, forKey: .role)
        shape = try c.decodeIfPresent([DimExpr].self, forKey: .shape) ?? []
        gate = try c.decodeIfPresent(Bool.self, forKey: .gate) ?? false
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(slot, forKey: .slot)
        try c.encode(role, forKey: .role)
        try c.encode(shape, forKey: .shape)
        if gate { try c.encode(true, forKey: .gate) }
    }
}

extension GraphNode: Codable {
    enum Keys: String, CodingKey, CaseIterable {
        case name, op, inputs, output, params, when, site, optional, eps, order
        // repeat
        case index, count, body
        // attributes
        case `in`, out, bias, function, dim, kind, context_dim, heads, kv_heads, head_dim, out_dim, projections,
             out_bias, qk_norm, qk_norm_optional, keys_include_queries, hidden, activation, gated, leading_unit, factor, channels,
             kernel, stride, grid, vocab, layout
    }

    /// Attribute keys each operation accepts (besides the common ones).
    static func attributeKeys(_ op: String) -> [Keys] {
        switch op {
        case "linear", "pointwise_conv": [.in, .out, .bias]
        case "activation": [.function]
        case "layer_norm": [.dim, .bias, .eps]
        case "rms_norm": [.dim, .eps]
        case "image_newline": [.dim]
        case "attention": [.kind, .dim, .context_dim, .heads, .kv_heads, .head_dim, .out_dim, .projections, .bias,
                           .out_bias, .qk_norm, .qk_norm_optional, .keys_include_queries, .eps]
        case "feed_forward": [.in, .hidden, .out, .activation, .gated, .bias]
        case "learned_queries": [.count, .dim, .leading_unit]
        case "residual": [.gated]
        case "pixel_shuffle": [.factor, .order]
        case "spatial_merge": [.factor]
        case "depthwise_conv": [.channels, .kernel, .stride, .bias]
        case "squeeze_excite": [.channels, .hidden]
        case "pooling": [.kind, .stride, .grid]
        case "embedding": [.vocab, .dim]
        case "position_embedding": [.count, .dim, .layout]
        default: []
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let op = try c.decode(String.self, forKey: .op)
        let name = try c.decode(String.self, forKey: .name)
        if op == "repeat" {
            try decoder.rejectUnknownKeys(["name", "op", "index", "count", "body"])
            self = .repeatBlock(RepeatBlock(
                name: name, index: try c.decode(String.self, forKey: .index), count: try c.decode(DimExpr.self, forKey: .count),
                body: try c.decode([GraphNode].self, forKey: .body)))
            return
        }
        guard Operation.opNames.contains(op) else {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath + [Keys.op],
                debugDescription: "unknown op \"\(op)\" (expected one of: repeat, \(Operation.opNames.joined(separator: ", ")))"))
        }
        let common: [Keys] = [.name, .op, .inputs, .output, .params, .when, .site, .optional]
        try decoder.rejectUnknownKeys((common + GraphNode.attributeKeys(op)).map(\.rawValue))

        func dim(_ key: Keys) throws -> DimExpr { try c.decode(DimExpr.self, forKey: key) }
        func flag(_ key: Keys, _ fallback: Bool) throws -> Bool { try c.decodeIfPresent(Bool.self, forKey: key) ?? fallback }
        func integer(_ key: Keys, _ fallback: Int) throws -> Int {
            let value = try c.decodeIfPresent(Int.self, forKey: key) ?? fallback
            guard value > 0, value <= 64 else {
                throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath + [key], debugDescription: "expected an integer from 1 to 64"))
            }
            return value
        }

        let operation: Operation
        switch op {
        case "linear": operation = .linear(in: try dim(.in), out: try dim(.out), bias: try flag(.bias, true))
        case "activation": operation = .activation(try c.decode(Operation.Activation.self, forKey: .function))
        case "layer_norm": operation = .layerNorm(dim: try dim(.dim), bias: try flag(.bias, true))
        case "rms_norm": operation = .rmsNorm(dim: try dim(.dim))
        case "attention":
            operation = .attention(Operation.Attention(
                kind: try c.decode(Operation.Attention.Kind.self, forKey: .kind), dim: try dim(.dim),
                contextDim: try c.decodeIfPresent(DimExpr.self, forKey: .context_dim), heads: try dim(.heads),
                kvHeads: try c.decodeIfPresent(DimExpr.self, forKey: .kv_heads), headDim: try dim(.head_dim),
                outDim: try c.decodeIfPresent(DimExpr.self, forKey: .out_dim),
                projections: try c.decodeIfPresent(Operation.Attention.Projections.self, forKey: .projections) ?? .separate,
                bias: try flag(.bias, true), outBias: try c.decodeIfPresent(Bool.self, forKey: .out_bias),
                qkNorm: try c.decodeIfPresent(Operation.Attention.QKNorm.self, forKey: .qk_norm) ?? .none,
                keysIncludeQueries: try flag(.keys_include_queries, false), qkNormOptional: try flag(.qk_norm_optional, false)))
        case "feed_forward":
            operation = .feedForward(Operation.FeedForward(
                in: try dim(.in), hidden: try dim(.hidden), out: try c.decodeIfPresent(DimExpr.self, forKey: .out),
                activation: try c.decode(Operation.Activation.self, forKey: .activation), gated: try flag(.gated, false),
                bias: try flag(.bias, true)))
        case "learned_queries":
            operation = .learnedQueries(count: try dim(.count), dim: try dim(.dim), leadingUnit: try flag(.leading_unit, false))
        case "residual": operation = .residual(gated: try flag(.gated, false))
        case "pixel_shuffle": operation = .pixelShuffle(factor: try dim(.factor))
        case "spatial_merge": operation = .spatialMerge(factor: try dim(.factor))
        case "depthwise_conv":
            operation = .depthwiseConv(channels: try dim(.channels), kernel: try integer(.kernel, 3),
                                       stride: try integer(.stride, 1), bias: try flag(.bias, true))
        case "pointwise_conv": operation = .pointwiseConv(in: try dim(.in), out: try dim(.out), bias: try flag(.bias, true))
        case "squeeze_excite": operation = .squeezeExcite(channels: try dim(.channels), hidden: try dim(.hidden))
        case "pooling":
            let grid = try c.decodeIfPresent(Int.self, forKey: .grid)
            if let grid, grid <= 0 || grid > 4096 {
                throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath + [Keys.grid], debugDescription: "expected a grid side from 1 to 4096"))
            }
            operation = .pooling(kind: try c.decodeIfPresent(Operation.PoolingKind.self, forKey: .kind) ?? .average,
                                 stride: try integer(.stride, 2), grid: grid)
        case "embedding": operation = .embedding(vocab: try dim(.vocab), dim: try dim(.dim))
        case "position_embedding":
            operation = .positionEmbedding(count: try dim(.count), dim: try dim(.dim),
                                           layout: try c.decodeIfPresent(Operation.PositionLayout.self, forKey: .layout) ?? .sequence)
        case "resize": operation = .resize
        default: operation = .imageNewline(dim: try dim(.dim))
        }

        // Parameters: the slots follow from the operation; the JSON names each slot's role and may
        // restate its shape, which must then agree with the attributes.
        let declared = try c.decodeIfPresent([ParamSpec].self, forKey: .params) ?? []
        var params: [ParamSpec] = []
        for slot in operation.parameterSlots {
            let given = declared.first { $0.slot == slot.slot }
            if let given, !given.shape.isEmpty {
                let agrees = given.shape.count == slot.shape.count && zip(given.shape, slot.shape).allSatisfy { sameDimension($0, $1) }
                guard agrees else {
                    throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath + [Keys.params],
                        debugDescription: "parameter \(slot.slot) of \(op) node \"\(name)\" has shape \(given.shape), but its attributes give \(slot.shape)"))
                }
            }
            params.append(ParamSpec(slot: slot.slot, role: given?.role ?? "\(name).\(slot.slot)", shape: slot.shape,
                                    gate: slot.isGate))
        }
        for given in declared where !operation.parameterSlots.contains(where: { $0.slot == given.slot }) {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath + [Keys.params],
                debugDescription: "\(op) node \"\(name)\" has no parameter slot \"\(given.slot)\" (its slots: \(operation.parameterSlots.map(\.slot).joined(separator: ", ")))"))
        }

        let eps = try c.decodeIfPresent(Double.self, forKey: .eps)
        if let eps, !(eps > 0 && eps < 1) {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath + [Keys.eps], debugDescription: "expected an epsilon in (0, 1), got \(eps)"))
        }
        self = .operation(OperationNode(
            name: name, operation: operation, inputs: try c.decodeIfPresent([String].self, forKey: .inputs) ?? [],
            output: try c.decode(String.self, forKey: .output), params: params,
            when: try c.decodeIfPresent(Condition.self, forKey: .when),
            site: try c.decodeIfPresent(Site.self, forKey: .site) ?? .connector,
            optional: try flag(.optional, false), eps: eps,
            order: try c.decodeIfPresent(PixelShuffleOrder.self, forKey: .order)))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        switch self {
        case .repeatBlock(let block):
            try c.encode(block.name, forKey: .name)
            try c.encode("repeat", forKey: .op)
            try c.encode(block.index, forKey: .index)
            try c.encode(block.count, forKey: .count)
            try c.encode(block.body, forKey: .body)
        case .operation(let node):
            try c.encode(node.name, forKey: .name)
            try c.encode(node.operation.opName, forKey: .op)
            try c.encode(node.inputs, forKey: .inputs)
            try c.encode(node.output, forKey: .output)
            switch node.operation {
            case .linear(let inDim, let outDim, let bias), .pointwiseConv(let inDim, let outDim, let bias):
                try c.encode(inDim, forKey: .in)
                try c.encode(outDim, forKey: .out)
                try c.encode(bias, forKey: .bias)
            case .activation(let function):
                try c.encode(function, forKey: .function)
            case .layerNorm(let dim, let bias):
                try c.encode(dim, forKey: .dim)
                try c.encode(bias, forKey: .bias)
            case .rmsNorm(let dim), .imageNewline(let dim):
                try c.encode(dim, forKey: .dim)
            case .attention(let a):
                try c.encode(a.kind, forKey: .kind)
                try c.encode(a.dim, forKey: .dim)
                try c.encode(a.contextDim, forKey: .context_dim)
                try c.encode(a.heads, forKey: .heads)
                try c.encode(a.kvHeads, forKey: .kv_heads)
                try c.encode(a.headDim, forKey: .head_dim)
                try c.encode(a.outDim, forKey: .out_dim)
                try c.encode(a.projections, forKey: .projections)
                try c.encode(a.bias, forKey: .bias)
                try c.encode(a.outBias, forKey: .out_bias)
                try c.encode(a.qkNorm, forKey: .qk_norm)
                try c.encode(a.keysIncludeQueries, forKey: .keys_include_queries)
                if a.qkNormOptional { try c.encode(true, forKey: .qk_norm_optional) }
            case .feedForward(let f):
                try c.encode(f.inDim, forKey: .in)
                try c.encode(f.hidden, forKey: .hidden)
                try c.encode(f.outDim, forKey: .out)
                try c.encode(f.activation, forKey: .activation)
                try c.encode(f.gated, forKey: .gated)
                try c.encode(f.bias, forKey: .bias)
            case .learnedQueries(let count, let dim, let leadingUnit):
                try c.encode(count, forKey: .count)
                try c.encode(dim, forKey: .dim)
                try c.encode(leadingUnit, forKey: .leading_unit)
            case .residual(let gated):
                try c.encode(gated, forKey: .gated)
            case .pixelShuffle(let factor), .spatialMerge(let factor):
                try c.encode(factor, forKey: .factor)
            case .depthwiseConv(let channels, let kernel, let stride, let bias):
                try c.encode(channels, forKey: .channels)
                try c.encode(kernel, forKey: .kernel)
                try c.encode(stride, forKey: .stride)
                try c.encode(bias, forKey: .bias)
            case .squeezeExcite(let channels, let hidden):
                try c.encode(channels, forKey: .channels)
                try c.encode(hidden, forKey: .hidden)
            case .pooling(let kind, let stride, let grid):
                try c.encode(kind, forKey: .kind)
                try c.encode(stride, forKey: .stride)
                try c.encodeIfPresent(grid, forKey: .grid)
            case .embedding(let vocab, let dim):
                try c.encode(vocab, forKey: .vocab)
                try c.encode(dim, forKey: .dim)
            case .positionEmbedding(let count, let dim, let layout):
                try c.encode(count, forKey: .count)
                try c.encode(dim, forKey: .dim)
                if layout != .sequence { try c.encode(layout, forKey: .layout) }
            case .resize:
                break
            }
            try c.encodeIfPresent(node.eps, forKey: .eps)
            try c.encodeIfPresent(node.order, forKey: .order)
            if !node.params.isEmpty { try c.encode(node.params, forKey: .params) }
            try c.encodeIfPresent(node.when, forKey: .when)
            if node.site != .connector { try c.encode(node.site, forKey: .site) }
            if node.optional { try c.encode(true, forKey: .optional) }
        }
    }
}

// MARK: - Reading and writing files

extension ConnectorGraph {
    /// Parses a graph description from JSON text, then verifies it (`verify()`); every problem is a
    /// `GraphDefinitionError` naming where it is.
    public static func parse(json text: String, file: String? = nil) throws -> ConnectorGraph {
        let value: JSONValue
        do { value = try JSONValue.parse(text) } catch {
            throw GraphDefinitionError(file: file, problems: ["\(error)"])
        }
        let graph: ConnectorGraph
        do { graph = try JSONValueCoder.decode(ConnectorGraph.self, from: value) } catch let error as DecodingError {
            throw GraphDefinitionError(file: file, problems: [JSONValueCoder.describe(error)])
        }
        let problems = graph.verify()
        if !problems.isEmpty { throw GraphDefinitionError(file: file, problems: problems) }
        return graph
    }

    public static func load(path: String) throws -> ConnectorGraph {
        let file = try MappedFile(path: path)
        let text = file.withBytes { String(decoding: $0, as: UTF8.self) }
        return try parse(json: text, file: path)
    }

    /// Pretty JSON text, keys in declaration order.
    public func jsonText() throws -> String {
        try JSONValueCoder.encode(self).serialized(pretty: true) + "\n"
    }
}

/// A graph description that cannot be used: every problem found, each naming where it is.
public struct GraphDefinitionError: Error, Sendable, CustomStringConvertible {
    public var file: String?
    public var problems: [String]

    public var description: String {
        let head = file.map { "\($0): " } ?? ""
        return head + "invalid connector graph: " + problems.joined(separator: "; ")
    }
}
