import ConnectorGraph

/// One kernel per operation of the graph language: binds a node's parameter slots and attributes
/// (evaluated for the connector's dimensions) to the kernel that executes it.
enum KernelFactory {
    static func make(_ node: OperationNode, name: String, slots: [String: Weight], lookup: (String) -> Int?,
                     configured: ConfiguredAttributes) throws -> any Kernel {
        func value(_ expr: DimExpr) throws -> Int {
            guard let value = expr.value(lookup), value > 0 else {
                throw RuntimeError(.unsupported("node \(name): \(expr) has no positive value for this connector"))
            }
            return value
        }
        // Every slot present with the shape the operation's attributes give it.
        var weights: [String: Weight] = [:]
        for slot in node.operation.parameterSlots {
            guard let weight = slots[slot.slot] else { continue }
            let expected = try slot.shape.map(value)
            guard squeezedEqual(weight.shape, expected) else {
                throw RuntimeError(.weight("\(weight.role) is \(weight.shape), node \(name) expects \(expected)"))
            }
            weights[slot.slot] = weight
        }
        func required(_ slot: String) throws -> Weight {
            guard let weight = weights[slot] else { throw RuntimeError(.weight("node \(name): parameter \(slot) is missing")) }
            return weight
        }
        // PyTorch's modules hold eps as a Python float and add it in float32.
        let eps = Float(node.normEps(configured) ?? 0)

        switch node.operation {
        case .linear(let inDim, let outDim, _), .pointwiseConv(let inDim, let outDim, _):
            return LinearKernel(name: name, weight: try required("weight"), bias: weights["bias"], inDim: try value(inDim), outDim: try value(outDim))
        case .activation(let activation):
            return ActivationKernel(activation: activation)
        case .layerNorm:
            return NormKernel(name: name, weight: try required("weight"), bias: weights["bias"], rms: false, eps: eps)
        case .rmsNorm:
            return NormKernel(name: name, weight: try required("weight"), bias: nil, rms: true, eps: eps)
        case .attention(let a):
            return try attention(a, name: name, weights: weights, eps: eps, value: value, required: required)
        case .feedForward(let f):
            return FeedForwardKernel(name: name, gate: f.gated ? try required("gate.weight") : nil, up: try required("up.weight"),
                                     upBias: weights["up.bias"], down: try required("down.weight"), downBias: weights["down.bias"],
                                     inDim: try value(f.inDim), hidden: try value(f.hidden), outDim: try value(f.outDim),
                                     activation: f.activation)
        case .learnedQueries(let count, let dim, _):
            return LearnedQueriesKernel(table: try required("queries"), count: try value(count), dim: try value(dim))
        case .residual(let gated):
            return ResidualKernel(name: name, gate: gated ? try required("gate") : nil)
        case .pixelShuffle(let factor):
            return PixelShuffleKernel(name: name, factor: try value(factor), transposed: node.shuffleOrder(configured) == .columns)
        case .spatialMerge(let factor):
            return SpatialMergeKernel(name: name, factor: try value(factor))
        case .depthwiseConv(let channels, let kernel, let stride, _):
            return DepthwiseConvKernel(name: name, weight: try required("weight"), bias: weights["bias"], channels: try value(channels),
                                       kernel: kernel, stride: stride)
        case .squeezeExcite(let channels, let hidden):
            return SqueezeExciteKernel(name: name, fc1: try required("fc1.weight"), fc1Bias: try required("fc1.bias"),
                                       fc2: try required("fc2.weight"), fc2Bias: try required("fc2.bias"),
                                       channels: try value(channels), hidden: try value(hidden))
        case .pooling(let kind, let stride, let grid):
            return PoolingKernel(name: name, kind: kind, stride: stride, cells: grid)
        case .positionEmbedding(_, let dim, let layout):
            return PositionKernel(name: name, table: layout == .sequence ? try required("table") : weights["table"], layout: layout,
                                  dim: try value(dim))
        case .resize:
            return ResizeKernel(name: name)
        case .imageNewline:
            return ImageNewlineKernel(name: name, newline: try required("newline"))
        case .embedding:
            throw RuntimeError(.unsupported("node \(name) looks up token ids; the runtime feeds image features only"))
        }
    }

    static func attention(_ a: Operation.Attention, name: String, weights: [String: Weight], eps: Float,
                          value: (DimExpr) throws -> Int, required: (String) throws -> Weight) throws -> any Kernel {
        let heads = try value(a.heads), kvHeads = try value(a.kvHeads), headDim = try value(a.headDim)
        guard heads % kvHeads == 0 else {
            throw RuntimeError(.unsupported("node \(name): \(heads) query heads are not a multiple of \(kvHeads) key/value heads"))
        }
        let inner = heads * headDim, kvInner = kvHeads * headDim
        let q, k, v: Projection
        switch a.projections {
        case .separate:
            q = Projection(try required("q.weight"), bias: weights["q.bias"], rows: inner)
            k = Projection(try required("k.weight"), bias: weights["k.bias"], rows: kvInner)
            v = Projection(try required("v.weight"), bias: weights["v.bias"], rows: kvInner)
        case .fused_qkv:
            let w = try required("qkv.weight"), b = weights["qkv.bias"]
            q = Projection(w, bias: b, offset: 0, rows: inner)
            k = Projection(w, bias: b, offset: inner, rows: kvInner)
            v = Projection(w, bias: b, offset: inner + kvInner, rows: kvInner)
        case .fused_kv:
            q = Projection(try required("q.weight"), bias: weights["q.bias"], rows: inner)
            let w = try required("kv.weight"), b = weights["kv.bias"]
            k = Projection(w, bias: b, offset: 0, rows: kvInner)
            v = Projection(w, bias: b, offset: kvInner, rows: kvInner)
        }
        let out = Projection(try required("out.weight"), bias: weights["out.bias"], rows: try value(a.outDim))
        var qNorm: HeadNorm?, kNorm: HeadNorm?
        if a.qkNorm != .none, let qw = weights["q_norm.weight"], let kw = weights["k_norm.weight"] {
            let rms = a.qkNorm == .rms_norm
            qNorm = HeadNorm(weight: qw, bias: weights["q_norm.bias"], rms: rms, eps: eps)
            kNorm = HeadNorm(weight: kw, bias: weights["k_norm.bias"], rms: rms, eps: eps)
        }
        return AttentionKernel(name: name, q: q, k: k, v: v, out: out, qNorm: qNorm, kNorm: kNorm, heads: heads, kvHeads: kvHeads,
                               headDim: headDim, cross: a.kind == .cross, keysIncludeQueries: a.keysIncludeQueries)
    }

    /// Shapes equal once size-1 axes are ignored where the stored form squeezed them away.
    static func squeezedEqual(_ found: [Int], _ expected: [Int]) -> Bool {
        found == expected || found.filter { $0 != 1 } == expected.filter { $0 != 1 }
    }
}
