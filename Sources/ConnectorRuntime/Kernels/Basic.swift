#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ConnectorGraph
import TensorFormats

/// A width the graph's shapes guarantee for a validated connector; a custom graph can still break it.
func expectWidth(_ shape: ValueShape, _ expected: Int, node: String, input: Int = 0) throws {
    guard shape.width == expected else {
        throw RuntimeError(.unsupported("node \(node): input \(input) is \(shape.width) wide, the operation expects \(expected)"))
    }
}

/// `linear` (and `pointwise_conv`, whose `[out, in, 1, 1]` weight has the same memory layout).
struct LinearKernel: Kernel {
    let name: String
    let projection: Projection

    init(name: String, weight: Weight, bias: Weight?, inDim: Int, outDim: Int) {
        self.name = name
        projection = Projection(weight, bias: bias, rows: outDim, inDim: inDim)
    }

    func output(for inputs: [ValueShape]) throws -> ValueShape {
        try expectWidth(inputs[0], projection.inDim, node: name)
        return ValueShape(tokens: inputs[0].tokens, width: projection.rows, grid: inputs[0].grid)
    }

    func run(_ inputs: [Value], _ output: Value, scratch: UnsafeMutablePointer<Float>, _ context: RunContext) {
        projection.apply(inputs[0].base, count: inputs[0].tokens, into: output.base, context)
    }
}

struct ActivationKernel: Kernel {
    let activation: Operation.Activation

    func output(for inputs: [ValueShape]) throws -> ValueShape { inputs[0] }
    var memory: KernelMemory { .inPlace }

    func run(_ inputs: [Value], _ output: Value, scratch: UnsafeMutablePointer<Float>, _ context: RunContext) {
        output.take(inputs[0])
        Elementwise.activate(output.base, count: output.count, activation)
    }
}

/// The parameters of `layer_norm` (with or without bias) or `rms_norm` over `cols` values per row.
struct Norm: @unchecked Sendable {
    let weight: Weight
    let bias: Weight?
    let rms: Bool
    let eps: Float

    /// `x` and `y` may be the same rows (normalised in place).
    func apply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        if rms {
            Elementwise.rmsNorm(x, y, rows: rows, cols: cols, weight: weight.pointer, eps: eps)
        } else {
            Elementwise.layerNorm(x, y, rows: rows, cols: cols, weight: weight.pointer, bias: bias?.pointer, eps: eps)
        }
    }
}

/// A `layer_norm` or `rms_norm` node over the width of each token.
struct NormKernel: Kernel {
    let name: String
    let norm: Norm

    init(name: String, weight: Weight, bias: Weight?, rms: Bool, eps: Float) {
        self.name = name
        norm = Norm(weight: weight, bias: bias, rms: rms, eps: eps)
    }

    func output(for inputs: [ValueShape]) throws -> ValueShape {
        try expectWidth(inputs[0], norm.weight.count, node: name)
        return inputs[0]
    }

    var memory: KernelMemory { .inPlace }

    func run(_ inputs: [Value], _ output: Value, scratch: UnsafeMutablePointer<Float>, _ context: RunContext) {
        norm.apply(inputs[0].base, into: output.base, rows: inputs[0].tokens, cols: inputs[0].width)
    }
}

/// `a + b`, or `a + tanh(gate)·b`.
struct ResidualKernel: Kernel {
    let name: String
    let gate: Weight?

    func output(for inputs: [ValueShape]) throws -> ValueShape {
        guard inputs[0].tokens == inputs[1].tokens, inputs[0].width == inputs[1].width else {
            throw RuntimeError(.unsupported("node \(name): adds values of shapes [\(inputs[0].tokens), \(inputs[0].width)] and [\(inputs[1].tokens), \(inputs[1].width)]"))
        }
        return inputs[0]
    }

    var memory: KernelMemory { .inPlace }

    func run(_ inputs: [Value], _ output: Value, scratch: UnsafeMutablePointer<Float>, _ context: RunContext) {
        output.take(inputs[0])
        let scale = gate.map { tanhf($0.pointer[0]) }
        Elementwise.add(output.base, inputs[1].base, count: output.count, scale: scale)
    }
}

/// Learned queries or latents: the table itself, `[count, dim]` (a leading unit axis dropped).
struct LearnedQueriesKernel: Kernel {
    let table: Weight
    let count: Int
    let dim: Int

    func output(for inputs: [ValueShape]) throws -> ValueShape { ValueShape(tokens: count, width: dim, grid: nil) }

    func run(_ inputs: [Value], _ output: Value, scratch: UnsafeMutablePointer<Float>, _ context: RunContext) {
        output.base.update(from: table.pointer, count: count * dim)
    }
}

/// LLaVA-NeXT's `image_newline`, appended once after the tokens of an untiled image (transformers'
/// `pack_image_features` for a single-patch image).
struct ImageNewlineKernel: Kernel {
    let name: String
    let newline: Weight

    func output(for inputs: [ValueShape]) throws -> ValueShape {
        try expectWidth(inputs[0], newline.count, node: name)
        guard let tokens = Checked.add(inputs[0].tokens, 1) else { throw RuntimeError(.plan("node \(name): token count overflows")) }
        return ValueShape(tokens: tokens, width: inputs[0].width, grid: nil)
    }

    func run(_ inputs: [Value], _ output: Value, scratch: UnsafeMutablePointer<Float>, _ context: RunContext) {
        let x = inputs[0]
        output.base.update(from: x.base, count: x.count)
        (output.base + x.count).update(from: newline.pointer, count: x.width)
    }
}

/// `feed_forward`: `down(act(up(x)))`, or `down(act(gate(x)) · up(x))`.
struct FeedForwardKernel: Kernel {
    let name: String
    let gate: Weight?
    let up: Weight
    let upBias: Weight?
    let down: Weight
    let downBias: Weight?
    let inDim: Int
    let hidden: Int
    let outDim: Int
    let activation: Operation.Activation
    /// The most hidden activations held at once, in bytes.
    var scratchBudget = 24 << 20

    func output(for inputs: [ValueShape]) throws -> ValueShape {
        try expectWidth(inputs[0], inDim, node: name)
        return ValueShape(tokens: inputs[0].tokens, width: outDim, grid: inputs[0].grid)
    }

    /// Rows per pass through the hidden layer: all tokens at once unless their hidden activations exceed
    /// `scratchBudget` (Idefics2's 729 × 14336 SwiGLU would take 80 MiB), then the fewest equal blocks that fit.
    func rowsPerPass(_ tokens: Int) -> Int {
        let perRow = hidden * (gate == nil ? 1 : 2) * MemoryLayout<Float>.stride
        let fitting = max(1, scratchBudget / max(1, perRow))
        guard tokens > fitting else { return max(1, tokens) }
        let passes = (tokens + fitting - 1) / fitting
        return (tokens + passes - 1) / passes
    }

    func scratch(for inputs: [ValueShape]) -> Int? {
        Checked.product([rowsPerPass(inputs[0].tokens), hidden, gate == nil ? 1 : 2])
    }

    func run(_ inputs: [Value], _ output: Value, scratch: UnsafeMutablePointer<Float>, _ context: RunContext) {
        let x = inputs[0], block = rowsPerPass(x.tokens)
        for first in stride(from: 0, to: x.tokens, by: block) {
            let rows = min(block, x.tokens - first)
            pass(x.base + first * inDim, rows: rows, into: output.base + first * outDim, scratch: scratch, context)
        }
    }

    func pass(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
              _ context: RunContext) {
        let h = scratch
        context.observe(up.role, x, count: rows, width: inDim, weightRows: 0 ..< hidden)
        applyLinear(x, rows: rows, inDim: inDim, weight: up.pointer, outDim: hidden, bias: upBias?.pointer, into: h)
        var activated = h
        if let gate {
            let g = scratch + rows * hidden
            context.observe(gate.role, x, count: rows, width: inDim, weightRows: 0 ..< hidden)
            applyLinear(x, rows: rows, inDim: inDim, weight: gate.pointer, outDim: hidden, bias: nil, into: g)
            Elementwise.activateMultiply(g, h, count: rows * hidden, activation)
            activated = g
        } else {
            Elementwise.activate(h, count: rows * hidden, activation)
        }
        context.observe(down.role, activated, count: rows, width: hidden, weightRows: 0 ..< outDim)
        applyLinear(activated, rows: rows, inDim: hidden, weight: down.pointer, outDim: outDim, bias: downBias?.pointer, into: y)
    }
}
