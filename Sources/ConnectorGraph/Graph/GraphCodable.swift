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

extension ConnectorGraph: Codable, ObjectCoded {
    static let blank = ConnectorGraph(name: "", family: "", dimensions: [], inputs: [], nodes: [], outputs: [])
    static var fields: [CodedField<ConnectorGraph>] {
        [CodedField(key: "format", decode: { container, _ in
            let format = try container.decode(String.self, forKey: AnyKey("format"))
            guard format == ConnectorGraph.formatName else {
                throw DecodingError.dataCorrupted(.init(codingPath: [AnyKey("format")], debugDescription: "expected \"\(ConnectorGraph.formatName)\", found \"\(format)\""))
            }
         }, encode: { _, container in try container.encode(ConnectorGraph.formatName, forKey: AnyKey("format")) }),
         CodedField(key: "version", decode: { container, _ in
            let version = try container.decode(Int.self, forKey: AnyKey("version"))
            guard version == ConnectorGraph.formatVersion else {
                throw DecodingError.dataCorrupted(.init(codingPath: [AnyKey("version")], debugDescription: "unsupported version \(version) (this connkit reads version \(ConnectorGraph.formatVersion))"))
            }
         }, encode: { _, container in try container.encode(ConnectorGraph.formatVersion, forKey: AnyKey("version")) }),
         .required("name", \.name), .required("family", \.family), .optional("variant", \.variant), .optional("description", \.description),
         .required("dimensions", \.dimensions), .required("inputs", \.inputs), .required("nodes", \.nodes), .required("outputs", \.outputs),
         .defaulted("constraints", \.constraints, [], writesFallback: false), .defaulted("schemes", \.schemes, [], writesFallback: false)]
    }
}

extension DimensionDecl: Codable, ObjectCoded {
    static let blank = DimensionDecl("", "")
    static var fields: [CodedField<DimensionDecl>] {
        [.required("symbol", \.symbol), .optional("key", \.key), .defaulted("description", \.description, ""), .optional("default", \.defaultValue)]
    }
}

extension ValueDecl: Codable, ObjectCoded {
    static let blank = ValueDecl("", [])
    static var fields: [CodedField<ValueDecl>] { [.required("name", \.name), .required("shape", \.shape), .optional("description", \.description)] }
}

extension Condition: Codable, ObjectCoded {
    static let blank = Condition(index: "", every: 0)
    static var fields: [CodedField<Condition>] { [.required("index", \.index), .required("every", \.every), .defaulted("phase", \.phase, 0)] }
}

extension Constraint: Codable, ObjectCoded {
    static let blank = Constraint(.equal, 0, 0, code: "", message: "")
    static var fields: [CodedField<Constraint>] {
        [.required("kind", \.kind), .required("value", \.value), .required("by", \.by), .required("code", \.code),
         .defaulted("message", \.message, "")]
    }
}

extension NamingScheme: Codable, ObjectCoded {
    static let blank = NamingScheme(name: "", description: "", entries: [])
    static var fields: [CodedField<NamingScheme>] {
        [.required("name", \.name), .defaulted("description", \.description, ""), .required("entries", \.entries),
         .defaulted("absent", \.absent, [], writesFallback: false), .defaulted("ignored", \.ignored, [], writesFallback: false)]
    }
}

extension SchemeEntry: Codable, ObjectCoded {
    static let blank = SchemeEntry(role: "", name: "")
    /// `name` defaults to the role, and a split parameter's first part stands for its name (written
    /// only without parts).
    static var fields: [CodedField<SchemeEntry>] {
        [.required("role", \.role),
         CodedField(key: "name", decode: { container, entry in
            entry.name = try container.decodeIfPresent(String.self, forKey: AnyKey("name")) ?? entry.role
         }, encode: { entry, container in if entry.parts.isEmpty { try container.encode(entry.name, forKey: AnyKey("name")) } }),
         .defaulted("aliases", \.aliases, [], writesFallback: false),
         CodedField(key: "parts", decode: { container, entry in
            entry.parts = try container.decodeIfPresent([String].self, forKey: AnyKey("parts")) ?? []
            if let first = entry.parts.first { entry.name = first }
         }, encode: { entry, container in if !entry.parts.isEmpty { try container.encode(entry.parts, forKey: AnyKey("parts")) } }),
         .defaulted("transposed", \.transposed, false, writesFallback: false), .defaulted("squeezed", \.squeezed, false, writesFallback: false)]
    }
}

extension ParamSpec: Codable, ObjectCoded {
    static let blank = ParamSpec(slot: "", role: "", shape: [])
    static var fields: [CodedField<ParamSpec>] {
        [.required("slot", \.slot), .required("role", \.role), .defaulted("shape", \.shape, []),
         .defaulted("gate", \.gate, false, writesFallback: false)]
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

}

extension Operation {
    /// The attributes as JSON members beside a node's `name`, `op`, `inputs` and `output`, in order.
    var attributes: [(GraphNode.Keys, any Encodable)] {
        switch self {
        case .linear(let inDim, let outDim, let bias), .pointwiseConv(let inDim, let outDim, let bias):
            [(.in, inDim), (.out, outDim), (.bias, bias)]
        case .activation(let function): [(.function, function)]
        case .layerNorm(let dim, let bias): [(.dim, dim), (.bias, bias)]
        case .rmsNorm(let dim), .imageNewline(let dim): [(.dim, dim)]
        case .attention(let a):
            [(.kind, a.kind), (.dim, a.dim), (.context_dim, a.contextDim), (.heads, a.heads), (.kv_heads, a.kvHeads),
             (.head_dim, a.headDim), (.out_dim, a.outDim), (.projections, a.projections), (.bias, a.bias), (.out_bias, a.outBias),
             (.qk_norm, a.qkNorm), (.keys_include_queries, a.keysIncludeQueries)]
                + (a.qkNormOptional ? [(.qk_norm_optional, true)] : [])
        case .feedForward(let f):
            [(.in, f.inDim), (.hidden, f.hidden), (.out, f.outDim), (.activation, f.activation), (.gated, f.gated), (.bias, f.bias)]
        case .learnedQueries(let count, let dim, let leadingUnit): [(.count, count), (.dim, dim), (.leading_unit, leadingUnit)]
        case .residual(let gated): [(.gated, gated)]
        case .pixelShuffle(let factor), .spatialMerge(let factor): [(.factor, factor)]
        case .depthwiseConv(let channels, let kernel, let stride, let bias):
            [(.channels, channels), (.kernel, kernel), (.stride, stride), (.bias, bias)]
        case .squeezeExcite(let channels, let hidden): [(.channels, channels), (.hidden, hidden)]
        case .pooling(let kind, let stride, let grid): [(.kind, kind), (.stride, stride)] + (grid.map { [(.grid, $0)] } ?? [])
        case .embedding(let vocab, let dim): [(.vocab, vocab), (.dim, dim)]
        case .positionEmbedding(let count, let dim, let layout):
            [(.count, count), (.dim, dim)] + (layout == .sequence ? [] : [(.layout, layout)])
        case .resize: []
        }
    }
}

extension GraphNode {
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
            for (key, value) in node.operation.attributes { try c.encode(value, forKey: key) }
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

extension GraphDefinitionError: ConnkitError {
    public var failure: FailureClass { .unusableInput }
    public var code: ErrorCode { .malformedInput }
}
