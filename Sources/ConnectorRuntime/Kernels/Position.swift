#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TensorFormats

/// How a position table meets the tokens it is added to.
enum PositionLayout: Sendable, Equatable {
    /// Row t of the table to token t (the first T rows; learned query positions).
    case sequence
    /// The table is an S×S grid (S² rows); token (y, x) of an H×W grid takes row y·S + x (llama.cpp's
    /// precomputed 70×70 `resampler.pos_embed_k`).
    case gridSlice
    /// The table is an S×S grid, resized to the tokens' H×W grid by PyTorch's bicubic interpolation
    /// (`F.interpolate(mode="bicubic", align_corners=False)`, Qwen-VL's `get_abs_pos`).
    case interpolated
    /// No table: the 2-D sin-cos embedding at the tokens' grid (MiniCPM-V's `get_2d_sincos_pos_embed`):
    /// for width D, the first D/2 channels encode the column, the last D/2 the row, each as
    /// `[sin(p·ω_i), cos(p·ω_i)]` with `ω_i = 1/10000^(i/(D/4))`, in float32 as numpy computes it.
    case sinCos2D
}

/// `position_embedding`: adds positions to its input.
struct PositionKernel: Kernel {
    let name: String
    let table: Weight?
    let layout: PositionLayout
    let dim: Int

    func output(for inputs: [ValueShape]) throws -> ValueShape {
        try expectWidth(inputs[0], dim, node: name)
        let rows = table.map { $0.count / dim } ?? 0
        switch layout {
        case .sequence:
            guard inputs[0].tokens <= rows else {
                throw RuntimeError(.tokens("the position table of node \(name) has \(rows) rows, fewer than the \(inputs[0].tokens) tokens"))
            }
        case .gridSlice, .interpolated:
            let grid = try requireGrid(inputs[0], node: name, operation: "the 2-D position table", square: layout == .interpolated)
            let side = Int(Double(rows).squareRoot())
            guard side * side == rows else {
                throw RuntimeError(.weight("the position table of node \(name) has \(rows) rows, not a square grid"))
            }
            if layout == .gridSlice, grid.height > side || grid.width > side {
                throw RuntimeError(.tokens("the position table of node \(name) covers grids up to \(side)x\(side), got \(grid)"))
            }
        case .sinCos2D:
            _ = try requireGrid(inputs[0], node: name, operation: "the 2-D sin-cos position embedding", square: false)
            guard dim % 4 == 0 else { throw RuntimeError(.unsupported("node \(name): a 2-D sin-cos embedding needs a width divisible by 4, got \(dim)")) }
        }
        return inputs[0]
    }

    var memory: KernelMemory { .inPlace }

    func scratch(for inputs: [ValueShape]) -> Int? {
        layout == .sequence ? 0 : inputs[0].count
    }

    func run(_ inputs: [Value], _ output: Value, scratch: UnsafeMutablePointer<Float>, _ context: RunContext) {
        let x = inputs[0]
        if output.base != x.base { output.base.update(from: x.base, count: x.count) }
        switch layout {
        case .sequence:
            Elementwise.add(output.base, table!.pointer, count: x.count)
        case .gridSlice:
            let grid = x.shape.grid!, side = Int(Double(table!.count / dim).squareRoot())
            for y in 0 ..< grid.height {
                for xx in 0 ..< grid.width {
                    Elementwise.add(output.base + (y * grid.width + xx) * dim, table!.pointer + (y * side + xx) * dim, count: dim)
                }
            }
        case .interpolated:
            let grid = x.shape.grid!, side = Int(Double(table!.count / dim).squareRoot())
            bicubicResize(table!.pointer, side: side, channels: dim, to: grid, into: scratch)
            Elementwise.add(output.base, scratch, count: x.count)
        case .sinCos2D:
            sinCos2D(grid: x.shape.grid!, dim: dim, into: scratch)
            Elementwise.add(output.base, scratch, count: x.count)
        }
    }
}

/// MiniCPM-V's `get_2d_sincos_pos_embed(D, (H, W))`, row-major over the grid.
func sinCos2D(grid: Grid, dim: Int, into out: UnsafeMutablePointer<Float>) {
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
