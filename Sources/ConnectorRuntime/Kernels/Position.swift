#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ConnectorGraph
import TensorFormats

/// `position_embedding`: adds positions to its input. `sequence`: row t of the table to token t.
/// `sincos_2d`: the 2-D sin-cos embedding at the input's grid — computed, or, when the checkpoint stores
/// it precomputed on an S×S grid (llama.cpp's 70×70 `resampler.pos_embed_k`), row `y·S + x` for grid
/// position (y, x).
struct PositionKernel: Kernel {
    let name: String
    let table: Weight?
    let layout: Operation.PositionLayout
    let dim: Int

    var tableRows: Int { table.map { $0.count / dim } ?? 0 }

    func output(for inputs: [ValueShape]) throws -> ValueShape {
        try expectWidth(inputs[0], dim, node: name)
        switch layout {
        case .sequence:
            guard inputs[0].tokens <= tableRows else {
                throw RuntimeError(.tokens("the position table of node \(name) has \(tableRows) rows, fewer than the \(inputs[0].tokens) tokens"))
            }
        case .sincos_2d:
            let grid = try requireGrid(inputs[0], node: name, operation: "the 2-D sin-cos position embedding", square: false)
            guard dim % 4 == 0 else { throw RuntimeError(.unsupported("node \(name): a 2-D sin-cos embedding needs a width divisible by 4, got \(dim)")) }
            if table != nil {
                let side = Int(Double(tableRows).squareRoot())
                guard side * side == tableRows else {
                    throw RuntimeError(.weight("the position table of node \(name) has \(tableRows) rows, not a square grid"))
                }
                guard grid.height <= side, grid.width <= side else {
                    throw RuntimeError(.tokens("the position table of node \(name) covers grids up to \(side)x\(side), got \(grid)"))
                }
            }
        }
        return inputs[0]
    }

    var memory: KernelMemory { .inPlace }

    func scratch(for inputs: [ValueShape]) -> Int? {
        layout == .sincos_2d && table == nil ? inputs[0].count : 0
    }

    func run(_ inputs: [Value], _ output: Value, scratch: UnsafeMutablePointer<Float>, _ context: RunContext) {
        let x = inputs[0]
        output.take(x)
        switch layout {
        case .sequence:
            Elementwise.add(output.base, table!.pointer, count: x.count)
        case .sincos_2d:
            let grid = x.shape.grid!
            if let table {
                let side = Int(Double(tableRows).squareRoot())
                for y in 0 ..< grid.height {
                    Elementwise.add(output.base + y * grid.width * dim, table.pointer + y * side * dim, count: grid.width * dim)
                }
            } else {
                sinCos2D(grid: grid, dim: dim, into: scratch)
                Elementwise.add(output.base, scratch, count: x.count)
            }
        }
    }
}

/// `resize`: the first input's tokens, a square S×S grid, resized bicubically to the second input's grid.
struct ResizeKernel: Kernel {
    let name: String

    func output(for inputs: [ValueShape]) throws -> ValueShape {
        let side = Int(Double(inputs[0].tokens).squareRoot())
        guard side * side == inputs[0].tokens else {
            throw RuntimeError(.unsupported("node \(name): \(inputs[0].tokens) rows do not form a square grid to resize"))
        }
        let grid = try requireGrid(inputs[1], node: name, operation: "the position resize")
        return ValueShape(tokens: inputs[1].tokens, width: inputs[0].width, grid: grid)
    }

    func run(_ inputs: [Value], _ output: Value, scratch: UnsafeMutablePointer<Float>, _ context: RunContext) {
        let side = Int(Double(inputs[0].tokens).squareRoot())
        bicubicResize(inputs[0].base, side: side, channels: inputs[0].width, to: inputs[1].shape.grid!, into: output.base)
    }
}

/// MiniCPM-V's `get_2d_sincos_pos_embed(D, (H, W))`, row-major over the grid.
package func sinCos2D(grid: Grid, dim: Int, into out: UnsafeMutablePointer<Float>) {
    let quarter = dim / 4
    // numpy: omega = arange(D/4, float32) / float32(D/4); omega = 1 / 10000 ** omega, all in float32.
    let omega: [Float] = (0 ..< quarter).map { i in 1 / powf(10000, Float(i) / Float(quarter)) }
    for y in 0 ..< grid.height {
        for x in 0 ..< grid.width {
            let row = out + (y * grid.width + x) * dim
            for (half, position) in [Float(x), Float(y)].enumerated() {
                let base = row + half * 2 * quarter
                for i in 0 ..< quarter {
                    let angle = position * omega[i]
                    base[i] = sinf(angle)
                    base[quarter + i] = cosf(angle)
                }
            }
        }
    }
}

/// PyTorch's bicubic resize (`align_corners=False`, A = -0.75, borders clamped) of a `side × side` grid of
/// `channels`-wide rows to `grid`, in float32.
func bicubicResize(_ src: UnsafePointer<Float>, side: Int, channels: Int, to grid: Grid, into out: UnsafeMutablePointer<Float>) {
    func coefficients(_ t: Float) -> [Float] {
        let a: Float = -0.75
        func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
        func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
        return [far(t + 1), near(t), near(1 - t), far(2 - t)]
    }
    func taps(_ index: Int, _ outSize: Int) -> (indices: [Int], weights: [Float]) {
        let scale = Float(side) / Float(outSize)
        let source = scale * (Float(index) + 0.5) - 0.5
        let floor = source.rounded(.down)
        let base = Int(floor)
        let indices = (-1 ... 2).map { min(max(base + $0, 0), side - 1) }
        return (indices, coefficients(source - floor))
    }
    var row = [Float](repeating: 0, count: channels)
    for y in 0 ..< grid.height {
        let (ys, wy) = taps(y, grid.height)
        for x in 0 ..< grid.width {
            let (xs, wx) = taps(x, grid.width)
            let target = out + (y * grid.width + x) * channels
            for c in 0 ..< channels { target[c] = 0 }
            for i in 0 ..< 4 {
                for c in 0 ..< channels { row[c] = 0 }
                for j in 0 ..< 4 {
                    let source = src + (ys[i] * side + xs[j]) * channels
                    for c in 0 ..< channels { row[c] += wx[j] * source[c] }
                }
                for c in 0 ..< channels { target[c] += wy[i] * row[c] }
            }
        }
    }
}
