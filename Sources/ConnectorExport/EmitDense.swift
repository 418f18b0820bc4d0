import ConnectorGraph
import ConnectorRuntime
import TensorFormats

/// Token-wise operations: products, activations, norms, feed-forward blocks, residuals, learned tables.
extension ConnectorEmitter {
    /// `x·Wᵀ + b` as `MatMul` (+ `Add`).
    func linear(_ x: ExportValue, weight: String, bias: String?, in inDim: Int, out outDim: Int, scope: String) throws -> ExportValue {
        try expectWidth(x, inDim, scope: scope)
        let right = try weights.matmulRight(weight, out: outDim, in: inDim, compute, scope: scope)
        var y = builder.op("MatMul", [x.name, right], scope: scope)
        if let bias { y = builder.op("Add", [y, try weights.canonical(bias, compute, scope: scope)], scope: scope) }
        return derived(x, y, width: outDim)
    }

    /// The activation functions of the graph language, in their PyTorch forms: GELU with `Erf` (exact) or
    /// `Tanh` (approximate), QuickGELU and SiLU with `Sigmoid`, hard-swish and hard-sigmoid as ONNX defines
    /// them (`HardSigmoid` with α = 1/6, β = 1/2 is PyTorch's `relu6(x + 3) / 6`).
    func activation(_ x: ExportValue, _ function: Operation.Activation, scope: String) -> ExportValue {
        derived(x, activate(x.name, function, type: x.type, scope: scope))
    }

    func activate(_ x: String, _ function: Operation.Activation, type: DType, scope: String) -> String {
        func constant(_ value: Float) -> String { builder.scalar(value, type) }
        switch function {
        case .gelu:
            // x/2 · (1 + erf(x/√2))
            let erf = builder.op("Erf", [builder.op("Mul", [x, constant(Float(0.5.squareRoot()))], scope: scope)], scope: scope)
            let half = builder.op("Mul", [x, constant(0.5)], scope: scope)
            return builder.op("Mul", [half, builder.op("Add", [erf, constant(1)], scope: scope)], scope: scope)
        case .gelu_tanh:
            // x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))
            let cube = builder.op("Mul", [builder.op("Mul", [x, x], scope: scope), x], scope: scope)
            let inner = builder.op("Add", [x, builder.op("Mul", [cube, constant(0.044715)], scope: scope)], scope: scope)
            let tanh = builder.op("Tanh", [builder.op("Mul", [inner, constant(Float((2 / Double.pi).squareRoot()))], scope: scope)], scope: scope)
            let half = builder.op("Mul", [x, constant(0.5)], scope: scope)
            return builder.op("Mul", [half, builder.op("Add", [tanh, constant(1)], scope: scope)], scope: scope)
        case .quick_gelu:
            let gate = builder.op("Sigmoid", [builder.op("Mul", [x, constant(1.702)], scope: scope)], scope: scope)
            return builder.op("Mul", [x, gate], scope: scope)
        case .silu:
            return builder.op("Mul", [x, builder.op("Sigmoid", [x], scope: scope)], scope: scope)
        case .relu:
            return builder.op("Relu", [x], scope: scope)
        case .tanh:
            return builder.op("Tanh", [x], scope: scope)
        case .hardswish:
            return builder.op("HardSwish", [x], scope: scope)
        case .hardsigmoid:
            return builder.op("HardSigmoid", [x], scope: scope, [ONNXAttribute("alpha", .float(1 / 6)), ONNXAttribute("beta", .float(0.5))])
        }
    }

    /// LayerNorm or RMSNorm over the last axis, in f32 (through `Cast` nodes for an f16 model) with f32
    /// weights. RMSNorm is `RMSNormalization` from opset 23, below it `x · 1/√(mean(x²) + ε) · w`.
    func norm(_ x: ExportValue, weight: String, bias: String?, rms: Bool, eps: Double, scope: String) throws -> ExportValue {
        let w = try weights.canonical(weight, .f32, scope: scope)
        let b = try bias.map { try weights.canonical($0, .f32, scope: scope) }
        return derived(x, normalize(x.name, type: x.type, weight: w, bias: b, rms: rms, eps: eps, scope: scope))
    }

    /// The normalisation of `norm`, on any value whose last axis is normalised (per-head q/k norms too).
    func normalize(_ x: String, type: DType, weight: String, bias: String?, rms: Bool, eps: Double, scope: String) -> String {
        let input = type == .f32 ? x : builder.cast(x, to: .f32, scope: scope)
        let y: String
        if !rms {
            y = builder.op("LayerNormalization", [input, weight] + (bias.map { [$0] } ?? []), scope: scope,
                           [ONNXAttribute("axis", .int(-1)), ONNXAttribute("epsilon", .float(Float(eps)))])
        } else if builder.opset >= 23 {
            y = builder.op("RMSNormalization", [input, weight], scope: scope,
                           [ONNXAttribute("axis", .int(-1)), ONNXAttribute("epsilon", .float(Float(eps)))])
        } else {
            let meanSquare = builder.reduceMean(builder.op("Mul", [input, input], scope: scope), axes: [-1], scope: scope)
            let rootMean = builder.op("Sqrt", [builder.op("Add", [meanSquare, builder.scalar(Float(eps), .f32)], scope: scope)], scope: scope)
            let scaled = builder.op("Mul", [input, builder.op("Reciprocal", [rootMean], scope: scope)], scope: scope)
            y = builder.op("Mul", [scaled, weight], scope: scope)
        }
        return type == .f32 ? y : builder.cast(y, to: type, scope: scope)
    }

    /// `down(act(up(x)))`, or `down(act(gate(x)) · up(x))`.
    func feedForward(_ f: Operation.FeedForward, _ context: NodeContext, _ x: ExportValue) throws -> ExportValue {
        let scope = context.scope
        let inDim = try context.value(f.inDim), hidden = try context.value(f.hidden), outDim = try context.value(f.outDim)
        let up = try linear(x, weight: try context.role("up.weight"), bias: context.slots["up.bias"], in: inDim, out: hidden, scope: scope)
        let activated: ExportValue
        if f.gated {
            let gate = try linear(x, weight: try context.role("gate.weight"), bias: nil, in: inDim, out: hidden, scope: scope)
            let act = activate(gate.name, f.activation, type: gate.type, scope: scope)
            activated = derived(up, builder.op("Mul", [act, up.name], scope: scope))
        } else {
            activated = activation(up, f.activation, scope: scope)
        }
        return try linear(activated, weight: try context.role("down.weight"), bias: context.slots["down.bias"], in: hidden, out: outDim,
                          scope: scope)
    }

    /// Learned queries or latents `[count, dim]` (or `[1, count, dim]`), broadcast to every image of the batch.
    func learnedQueries(_ role: String, count: Int, dim: Int, scope: String) throws -> ExportValue {
        let table = try weights.canonical(role, compute, scope: scope)
        let shape = builder.concat([batchShape, builder.int64s([count, dim])], axis: 0, scope: scope)
        return ExportValue(name: builder.op("Expand", [table, shape], scope: scope), type: compute, tokens: .fixed(count), width: dim, grid: nil)
    }

    /// `a + b`, or `a + tanh(gate)·b`.
    func residual(_ a: ExportValue, _ b: ExportValue, gate: String?, scope: String) throws -> ExportValue {
        guard a.width == b.width, a.tokens == b.tokens || a.tokens.fixed == nil || b.tokens.fixed == nil else {
            throw RuntimeError(.unsupported("node \(scope): adds values of widths \(a.width) and \(b.width)"))
        }
        var addend = b.name
        if let gate {
            let tanh = builder.op("Tanh", [try weights.canonical(gate, compute, scope: scope)], scope: scope)
            addend = builder.op("Mul", [tanh, addend], scope: scope)
        }
        return derived(a, builder.op("Add", [a.name, addend], scope: scope))
    }

    /// LLaVA-NeXT's `image_newline`, appended once after the tokens of an untiled image.
    func imageNewline(_ x: ExportValue, newline role: String, scope: String) throws -> ExportValue {
        let newline = builder.reshape(try weights.canonical(role, compute, scope: scope), [1, 1, x.width], scope: scope)
        let shape = builder.concat([batchShape, builder.int64s([1, x.width])], axis: 0, scope: scope)
        let row = builder.op("Expand", [newline, shape], scope: scope)
        let tokens: TokenCount = x.tokens.fixed.map { .fixed($0 + 1) } ?? .derived
        return derived(x, builder.concat([x.name, row], axis: 1, scope: scope), tokens: tokens, grid: .some(nil))
    }
}
