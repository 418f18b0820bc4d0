import ConnectorGraph
import ConnectorRuntime
import TensorFormats

/// Multi-head attention as the runtime computes it (`AttentionKernel`): queries from `inputs[0]`; values
/// from the context (`inputs[1]` for cross-attention), keys from the context or a third input; Perceivers
/// read keys and values from the context followed by the queries' source. Per-head q/k norms, grouped-query
/// heads (query head h reads key/value head h / (heads / kv_heads), as `repeat_kv`), softmax over the keys
/// of `scale · Q Kᵀ` with scale 1/√head_dim, then the output projection.
///
/// Shapes: Q `[B, Tq, H, Dh]` → `[B, H, Tq, Dh]`, folded to `[B, Hkv, g·Tq, Dh]` so each key/value head
/// serves its g query heads in one product (rows j·Tq + t are query head kvh·g + j) without repeating
/// K and V; Kᵀ `[B, Hkv, Dh, Tk]`, V `[B, Hkv, Tk, Dh]`. Q is scaled before the product; with an f16
/// model the scores go to f32 for the softmax.
extension ConnectorEmitter {
    func attention(_ a: Operation.Attention, _ context: NodeContext, _ inputs: [ExportValue]) throws -> ExportValue {
        let scope = context.scope
        let heads = try context.value(a.heads), kvHeads = try context.value(a.kvHeads), headDim = try context.value(a.headDim)
        guard heads % kvHeads == 0 else {
            throw RuntimeError(.unsupported("node \(scope): \(heads) query heads are not a multiple of \(kvHeads) key/value heads"))
        }
        let inner = heads * headDim, kvInner = kvHeads * headDim, group = heads / kvHeads
        let queries = inputs[0]
        var values = a.kind == .cross ? inputs[1] : inputs[0]
        var keys = inputs.count > 2 ? inputs[2] : values
        try expectWidth(queries, try context.value(a.dim), scope: scope)
        try expectWidth(values, try context.value(a.contextDim), scope: scope, input: 1)
        try expectWidth(keys, try context.value(a.contextDim), scope: scope, input: inputs.count > 2 ? 2 : 1)
        if a.keysIncludeQueries {
            guard queries.width == values.width, queries.width == keys.width else {
                throw RuntimeError(.unsupported("node \(scope): keys from the context and the queries need one width, found \(keys.width) and \(queries.width)"))
            }
            let sameSource = keys.name == values.name
            values = derived(values, builder.concat([values.name, queries.name], axis: 1, scope: scope), tokens: .derived)
            keys = sameSource ? values : derived(keys, builder.concat([keys.name, queries.name], axis: 1, scope: scope), tokens: .derived)
        }

        // Projections, with fused weights split along their output axis.
        let outDim = try context.value(a.outDim)
        var q, k, v: String
        switch a.projections {
        case .separate:
            q = try project(queries, try context.role("q.weight"), context.slots["q.bias"], rows: inner, scope: scope)
            k = try project(keys, try context.role("k.weight"), context.slots["k.bias"], rows: kvInner, scope: scope)
            v = try project(values, try context.role("v.weight"), context.slots["v.bias"], rows: kvInner, scope: scope)
        case .fused_qkv:
            let parts = try fused(try context.role("qkv.weight"), context.slots["qkv.bias"], sizes: [inner, kvInner, kvInner],
                                  in: queries.width, scope: scope)
            q = project(queries, parts[0], scope: scope)
            k = project(keys, parts[1], scope: scope)
            v = project(values, parts[2], scope: scope)
        case .fused_kv:
            q = try project(queries, try context.role("q.weight"), context.slots["q.bias"], rows: inner, scope: scope)
            let parts = try fused(try context.role("kv.weight"), context.slots["kv.bias"], sizes: [kvInner, kvInner], in: keys.width,
                                  scope: scope)
            k = project(keys, parts[0], scope: scope)
            v = project(values, parts[1], scope: scope)
        }

        q = builder.reshape(q, [0, 0, heads, headDim], scope: scope)
        k = builder.reshape(k, [0, 0, kvHeads, headDim], scope: scope)
        v = builder.reshape(v, [0, 0, kvHeads, headDim], scope: scope)
        if a.qkNorm != .none, let qNorm = context.slots["q_norm.weight"], let kNorm = context.slots["k_norm.weight"] {
            let rms = a.qkNorm == .rms_norm, eps = context.node.normEps(bound.attributes) ?? 0
            let qw = try weights.canonical(qNorm, .f32, scope: scope), kw = try weights.canonical(kNorm, .f32, scope: scope)
            let qb = try context.slots["q_norm.bias"].map { try weights.canonical($0, .f32, scope: scope) }
            let kb = try context.slots["k_norm.bias"].map { try weights.canonical($0, .f32, scope: scope) }
            q = normalize(q, type: compute, weight: qw, bias: qb, rms: rms, eps: eps, scope: scope)
            k = normalize(k, type: compute, weight: kw, bias: kb, rms: rms, eps: eps, scope: scope)
        }
        q = builder.transpose(q, [0, 2, 1, 3], scope: scope)
        if group > 1 { q = builder.reshape(q, [0, kvHeads, -1, headDim], scope: scope) }
        q = builder.op("Mul", [q, builder.scalar(Float(1 / Double(headDim).squareRoot()), compute)], scope: scope)
        k = builder.transpose(k, [0, 2, 3, 1], scope: scope)
        v = builder.transpose(v, [0, 2, 1, 3], scope: scope)

        var scores = builder.op("MatMul", [q, k], scope: scope)
        if compute != .f32 { scores = builder.cast(scores, to: .f32, scope: scope) }
        var probabilities = builder.op("Softmax", [scores], scope: scope, [ONNXAttribute("axis", .int(-1))])
        if compute != .f32 { probabilities = builder.cast(probabilities, to: compute, scope: scope) }
        var o = builder.op("MatMul", [probabilities, v], scope: scope)
        if group > 1 { o = builder.reshape(o, [0, heads, -1, headDim], scope: scope) }
        o = builder.reshape(builder.transpose(o, [0, 2, 1, 3], scope: scope), [0, 0, inner], scope: scope)
        let attended = derived(queries, o, width: inner, grid: .some(nil))
        return try linear(attended, weight: try context.role("out.weight"), bias: context.slots["out.bias"], in: inner, out: outDim,
                          scope: scope)
    }

    /// `x·Wᵀ (+ b)` for one separate projection of `rows` outputs.
    private func project(_ x: ExportValue, _ weight: String, _ bias: String?, rows: Int, scope: String) throws -> String {
        try linear(x, weight: weight, bias: bias, in: x.width, out: rows, scope: scope).name
    }

    /// A projection whose `[in, rows]` right operand (and bias) is given.
    private func project(_ x: ExportValue, _ part: (weight: String, bias: String?), scope: String) -> String {
        let y = builder.op("MatMul", [x.name, part.weight], scope: scope)
        return part.bias.map { builder.op("Add", [y, $0], scope: scope) } ?? y
    }

    /// A fused projection split into its parts: the `[in, Σsizes]` operand along its columns, the bias
    /// along its only axis.
    private func fused(_ weight: String, _ bias: String?, sizes: [Int], in inDim: Int, scope: String) throws -> [(weight: String, bias: String?)] {
        let right = try weights.matmulRight(weight, out: sizes.reduce(0, +), in: inDim, compute, scope: scope)
        let columns = builder.split(right, sizes: sizes, axis: 1, scope: scope)
        let biases = try bias.map { builder.split(try weights.canonical($0, compute, scope: scope), sizes: sizes, axis: 0, scope: scope) }
        return columns.enumerated().map { index, column in (column, biases?[index]) }
    }
}
