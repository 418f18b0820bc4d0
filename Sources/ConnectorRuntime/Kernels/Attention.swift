#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ConnectorGraph
import TensorFormats

/// A weight and its bias applied as `x · Wᵀ + b`: rows `[offset, offset + rows)` of a (possibly fused)
/// weight `[·, in]` (an attention projection), or a whole one (`linear`, squeeze-excitation's `fc1`/`fc2`),
/// used in place as Bᵀ, with its bias slice.
struct Projection: @unchecked Sendable {
    let role: String
    /// The first row of the stored weight this projection uses.
    let offset: Int
    let weight: UnsafePointer<Float>
    let bias: UnsafePointer<Float>?
    let rows: Int
    let inDim: Int

    /// `inDim` defaults to the weight's second axis (`[out, in]`, or `[out, in, 1, 1]` for a 1×1 convolution).
    init(_ weight: Weight, bias: Weight?, offset: Int = 0, rows: Int, inDim: Int? = nil) {
        role = weight.role
        self.offset = offset
        self.rows = rows
        self.inDim = inDim ?? weight.shape[1]
        self.weight = weight.pointer + offset * self.inDim
        self.bias = bias.map { $0.pointer + offset }
    }

    /// `y[r×rows] = x[r×in] · Wᵀ + b`, written with row stride `ldy`.
    func apply(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>, _ context: RunContext) {
        context.observe(role, x, count: count, width: inDim, weightRows: offset ..< offset + rows)
        applyLinear(x, rows: count, inDim: inDim, weight: weight, outDim: rows, bias: bias, into: y)
    }
}

/// Per-head normalisation of queries or keys (over `headDim`): the same parameters as a `norm` node.
typealias HeadNorm = Norm

/// Multi-head attention as matrix products plus a vectorised softmax.
///
/// Inputs: the queries' source; for cross-attention the context (values, and keys unless a third input
/// gives the keys' source). Perceivers (`keysIncludeQueries`) read keys and values from the context
/// followed by the queries' source. Q, K and V are projected into scratch; for each head h the scores
/// `scale · Q_h K_gᵀ` (g = the key/value head of h's group, as `repeat_kv`) are one GEMM whose head slices
/// are addressed through leading dimensions, the softmax runs over each row, and `P · V_g` lands in the
/// head's columns of O; then the output projection.
struct AttentionKernel: Kernel {
    let name: String
    let q: Projection
    let k: Projection
    let v: Projection
    let out: Projection
    /// Per-head norms of the queries and of the keys (`qk_norm`): both or neither.
    let qkNorm: (q: HeadNorm, k: HeadNorm)?
    let heads: Int
    let kvHeads: Int
    let headDim: Int
    let cross: Bool
    let keysIncludeQueries: Bool

    var inner: Int { heads * headDim }
    var kvInner: Int { kvHeads * headDim }

    func keyCount(_ inputs: [ValueShape]) -> Int? {
        let context = cross ? inputs[1].tokens : inputs[0].tokens
        return keysIncludeQueries ? Checked.add(context, inputs[0].tokens) : context
    }

    func output(for inputs: [ValueShape]) throws -> ValueShape {
        try expectWidth(inputs[0], q.inDim, node: name)
        if cross { try expectWidth(inputs[1], v.inDim, node: name, input: 1) }
        if inputs.count > 2 {
            try expectWidth(inputs[2], k.inDim, node: name, input: 2)
            guard inputs[2].tokens == inputs[1].tokens else {
                throw RuntimeError(.unsupported("node \(name): the keys' source has \(inputs[2].tokens) tokens, the values' \(inputs[1].tokens)"))
            }
        }
        if keysIncludeQueries {
            guard q.inDim == k.inDim, q.inDim == v.inDim else {
                throw RuntimeError(.unsupported("node \(name): keys from the context and the queries need one width, found \(k.inDim) and \(q.inDim)"))
            }
        }
        return ValueShape(tokens: inputs[0].tokens, width: out.rows, grid: nil)
    }

    func scratch(for inputs: [ValueShape]) -> Int? {
        let tq = inputs[0].tokens
        guard let tk = keyCount(inputs) else { return nil }
        // Q and O, K and V, the scores of one head.
        return checkedSum([Checked.product([tq, inner, 2]), Checked.product([tk, kvInner, 2]), Checked.product([tq, tk])])
    }

    func run(_ inputs: [Value], _ output: Value, scratch: UnsafeMutablePointer<Float>, _ context: RunContext) {
        let queries = inputs[0]
        let values = cross ? inputs[1] : inputs[0]
        let keys = inputs.count > 2 ? inputs[2] : values
        let tq = queries.tokens, tc = values.tokens
        let tk = keysIncludeQueries ? tc + tq : tc
        let qm = scratch
        let om = qm + tq * inner
        let km = om + tq * inner
        let vm = km + tk * kvInner
        let scores = vm + tk * kvInner

        q.apply(queries.base, count: tq, into: qm, context)
        k.apply(keys.base, count: tc, into: km, context)
        v.apply(values.base, count: tc, into: vm, context)
        if keysIncludeQueries {
            k.apply(queries.base, count: tq, into: km + tc * kvInner, context)
            v.apply(queries.base, count: tq, into: vm + tc * kvInner, context)
        }
        if let (qNorm, kNorm) = qkNorm {
            qNorm.apply(qm, into: qm, rows: tq * heads, cols: headDim)
            kNorm.apply(km, into: km, rows: tk * kvHeads, cols: headDim)
        }

        let scale = Float(1 / (Double(headDim)).squareRoot())
        let group = heads / kvHeads
        for h in 0 ..< heads {
            let g = h / group
            BLAS.gemmNT(m: tq, n: tk, k: headDim, alpha: scale, a: qm + h * headDim, lda: inner, b: km + g * headDim, ldb: kvInner,
                        c: scores, ldc: tk)
            Elementwise.softmaxRows(scores, rows: tq, cols: tk, stride: tk)
            BLAS.gemmNN(m: tq, n: headDim, k: tk, a: scores, lda: tk, b: vm + g * headDim, ldb: kvInner, c: om + h * headDim, ldc: inner)
        }
        out.apply(om, count: tq, into: output.base, context)
    }
}

extension AttentionKernel {
    /// The norms as the graph gives them: a node either has both `q_norm` and `k_norm` or neither.
    init(name: String, q: Projection, k: Projection, v: Projection, out: Projection, qNorm: HeadNorm?, kNorm: HeadNorm?, heads: Int,
         kvHeads: Int, headDim: Int, cross: Bool, keysIncludeQueries: Bool) {
        let qkNorm = qNorm.flatMap { q in kNorm.map { (q: q, k: $0) } }
        self.init(name: name, q: q, k: k, v: v, out: out, qkNorm: qkNorm, heads: heads, kvHeads: kvHeads, headDim: headDim, cross: cross,
                  keysIncludeQueries: keysIncludeQueries)
    }
}
