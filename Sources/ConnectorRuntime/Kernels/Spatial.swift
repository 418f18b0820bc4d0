import ConnectorGraph
import TensorFormats
import CRuntimeKernels

/// The grid a kernel works on: the value's own (from `--grid` or the square root of the token count),
/// square unless the kernel accepts rectangles. Throws naming the rule the tokens break.
func requireGrid(_ shape: ValueShape, node: String, operation: String, square: Bool = true) throws -> Grid {
    guard let grid = shape.grid else {
        throw RuntimeError(.tokens("\(operation) (node \(node)) needs the patch grid, but \(shape.tokens) tokens form no square grid: pass --grid HxW with H·W = \(shape.tokens)"))
    }
    if square && !grid.isSquare {
        throw RuntimeError(.tokens("\(operation) (node \(node)) needs a square patch grid, got \(grid) (this release supports no other)"))
    }
    return grid
}

/// Space-to-depth on the grid, `[H·W, C] → [(H/s)·(W/s), s²·C]`. Output token (i, j) holds
/// `x[(s·i + a)·W + s·j + b]` for a, b in 0 ..< s, channel block `a·s + b` — the order of transformers'
/// InternVL and Idefics3 `pixel_shuffle` (and InternVL's `ps_version` v2). `transposed` gives InternVL's
/// original v1 order: the same blocks, output tokens column by column (token j·(H/s) + i).
struct PixelShuffleKernel: Kernel {
    let name: String
    let factor: Int
    let transposed: Bool

    func output(for inputs: [ValueShape]) throws -> ValueShape {
        let grid = try requireGrid(inputs[0], node: name, operation: "the pixel shuffle")
        guard grid.height % factor == 0, grid.width % factor == 0 else {
            throw RuntimeError(.tokens("the pixel shuffle (node \(name)) by \(factor) needs grid sides divisible by \(factor), got \(grid)"))
        }
        let out = Grid(height: grid.height / factor, width: grid.width / factor)
        guard let width = Checked.product([inputs[0].width, factor, factor]) else { throw RuntimeError(.plan("node \(name): width overflows")) }
        return ValueShape(tokens: out.height * out.width, width: width,
                          grid: transposed ? Grid(height: out.width, width: out.height) : out)
    }

    func run(_ inputs: [Value], _ output: Value, scratch: UnsafeMutablePointer<Float>, _ context: RunContext) {
        let x = inputs[0], c = x.width, s = factor
        let grid = x.shape.grid!
        let oh = grid.height / s, ow = grid.width / s
        let box = UncheckedSendable((x.base, output.base))
        Parallel.forEach(oh * ow, costPerItem: s * s * c) { range in
            let (src, dst) = box.value
            for t in range {
                let i = t / ow, j = t % ow
                let outToken = transposed ? j * oh + i : t
                var target = dst + outToken * s * s * c
                for a in 0 ..< s {
                    for b in 0 ..< s {
                        target.update(from: src + ((s * i + a) * grid.width + s * j + b) * c, count: c)
                        target += c
                    }
                }
            }
        }
    }
}

/// Qwen2-VL's merge: each `m²` consecutive tokens (which the ViT already emits in 2×2-block order) become
/// one token of width `m²·C` — a reshape of the same memory.
struct SpatialMergeKernel: Kernel {
    let name: String
    let factor: Int

    func output(for inputs: [ValueShape]) throws -> ValueShape {
        let square = factor * factor
        guard inputs[0].tokens % square == 0 else {
            throw RuntimeError(.tokens("the spatial merge (node \(name)) joins \(square) consecutive tokens: the token count must be a multiple of \(square), got \(inputs[0].tokens)"))
        }
        guard let width = Checked.multiply(inputs[0].width, square) else { throw RuntimeError(.plan("node \(name): width overflows")) }
        return ValueShape(tokens: inputs[0].tokens / square, width: width, grid: nil)
    }

    var memory: KernelMemory { .view }

    func run(_ inputs: [Value], _ output: Value, scratch: UnsafeMutablePointer<Float>, _ context: RunContext) {}
}

/// 2-D depthwise convolution over the grid, `k×k`, zero padding `(k-1)/2`, weight `[C, 1, k, k]`
/// (PyTorch's `Conv2d(groups=C)`); tokens stay row-major on the grid.
struct DepthwiseConvKernel: Kernel {
    let name: String
    let weight: Weight
    let bias: Weight?
    let channels: Int
    let kernel: Int
    let stride: Int

    func outputGrid(_ grid: Grid) -> Grid {
        let pad = (kernel - 1) / 2
        return Grid(height: (grid.height + 2 * pad - kernel) / stride + 1, width: (grid.width + 2 * pad - kernel) / stride + 1)
    }

    func output(for inputs: [ValueShape]) throws -> ValueShape {
        try expectWidth(inputs[0], channels, node: name)
        let grid = try requireGrid(inputs[0], node: name, operation: "the depthwise convolution")
        let out = outputGrid(grid)
        return ValueShape(tokens: out.height * out.width, width: channels, grid: out)
    }

    func scratch(for inputs: [ValueShape]) -> Int? { Checked.multiply(kernel * kernel, channels) }

    func run(_ inputs: [Value], _ output: Value, scratch: UnsafeMutablePointer<Float>, _ context: RunContext) {
        let x = inputs[0], c = channels, k = kernel, pad = (kernel - 1) / 2
        let grid = x.shape.grid!, out = outputGrid(grid)
        // Taps transposed to [k·k, C] so each tap multiplies a contiguous row of channels.
        let taps = scratch
        for ch in 0 ..< c {
            for t in 0 ..< k * k { taps[t * c + ch] = weight.pointer[ch * k * k + t] }
        }
        let box = UncheckedSendable((x.base, output.base, taps, bias?.pointer))
        Parallel.forEach(out.height * out.width, costPerItem: k * k * c) { range in
            let (src, dst, taps, bias) = box.value
            for t in range {
                let oy = t / out.width, ox = t % out.width
                let target = dst + t * c
                if let bias { target.update(from: bias, count: c) } else { target.update(repeating: 0, count: c) }
                for dy in 0 ..< k {
                    let iy = oy * stride + dy - pad
                    guard iy >= 0, iy < grid.height else { continue }
                    for dx in 0 ..< k {
                        let ix = ox * stride + dx - pad
                        guard ix >= 0, ix < grid.width else { continue }
                        ckr_add_product(target, src + (iy * grid.width + ix) * c, taps + (dy * k + dx) * c, c)
                    }
                }
            }
        }
    }
}

/// Squeeze-excitation (torchvision's `SqueezeExcitation` with MobileVLM's hard-sigmoid scale): the mean
/// of every channel over the tokens, `fc1`, ReLU, `fc2`, hard-sigmoid, and each channel scaled by it.
struct SqueezeExciteKernel: Kernel {
    let name: String
    /// `[hidden, channels]` and `[channels, hidden]` (stored `[·, ·, 1, 1]`), each with its bias.
    let fc1: Projection
    let fc2: Projection

    init(name: String, fc1: Weight, fc1Bias: Weight, fc2: Weight, fc2Bias: Weight, channels: Int, hidden: Int) {
        self.name = name
        self.fc1 = Projection(fc1, bias: fc1Bias, rows: hidden, inDim: channels)
        self.fc2 = Projection(fc2, bias: fc2Bias, rows: channels, inDim: hidden)
    }

    var channels: Int { fc2.rows }
    var hidden: Int { fc1.rows }

    func output(for inputs: [ValueShape]) throws -> ValueShape {
        try expectWidth(inputs[0], channels, node: name)
        return inputs[0]
    }

    func scratch(for inputs: [ValueShape]) -> Int? { checkedSum([channels, hidden, channels]) }
    var memory: KernelMemory { .inPlace }

    func run(_ inputs: [Value], _ output: Value, scratch: UnsafeMutablePointer<Float>, _ context: RunContext) {
        let x = inputs[0], c = channels
        let mean = scratch, h = scratch + c, scale = h + hidden
        channelMeans(x.base, tokens: x.tokens, channels: c, into: mean)
        fc1.apply(mean, count: 1, into: h, context)
        ckr_activate(h, hidden, Int32(CKR_RELU))
        fc2.apply(h, count: 1, into: scale, context)
        ckr_activate(scale, c, Int32(CKR_HARDSIGMOID))
        output.take(x)
        for t in 0 ..< x.tokens { ckr_mul(output.base + t * c, scale, c) }
    }
}

/// Per-channel means over `tokens` rows, accumulated in double in token order.
func channelMeans(_ x: UnsafePointer<Float>, tokens: Int, channels c: Int, into mean: UnsafeMutablePointer<Float>) {
    var sums = [Double](repeating: 0, count: c)
    for t in 0 ..< tokens {
        let row = x + t * c
        for ch in 0 ..< c { sums[ch] += Double(row[ch]) }
    }
    for ch in 0 ..< c { mean[ch] = Float(sums[ch] / Double(tokens)) }
}

/// Average or max pooling over the grid: adaptive to `grid × grid` cells (PyTorch's
/// `AdaptiveAvgPool2d`: cell i spans rows ⌊i·H/n⌋ ..< ⌈(i+1)·H/n⌉), or by `stride` (kernel = stride).
struct PoolingKernel: Kernel {
    let name: String
    let kind: Operation.PoolingKind
    let stride: Int
    let cells: Int?

    func outputGrid(_ grid: Grid) -> Grid {
        if let cells { return Grid(height: cells, width: cells) }
        return Grid(height: grid.height / stride, width: grid.width / stride)
    }

    func output(for inputs: [ValueShape]) throws -> ValueShape {
        let grid = try requireGrid(inputs[0], node: name, operation: "the pooling")
        let out = outputGrid(grid)
        guard out.height > 0, out.width > 0, out.height <= grid.height, out.width <= grid.width else {
            throw RuntimeError(.tokens("the pooling (node \(name)) to \(out) cells needs at least that many patches per side, got \(grid)"))
        }
        return ValueShape(tokens: out.height * out.width, width: inputs[0].width, grid: out)
    }

    func run(_ inputs: [Value], _ output: Value, scratch: UnsafeMutablePointer<Float>, _ context: RunContext) {
        let x = inputs[0], c = x.width
        let grid = x.shape.grid!, out = outputGrid(grid)
        func span(_ i: Int, _ size: Int, _ n: Int) -> Range<Int> {
            if cells == nil { return i * stride ..< (i + 1) * stride }
            return (i * size) / n ..< ((i + 1) * size + n - 1) / n
        }
        let box = UncheckedSendable((x.base, output.base))
        Parallel.forEach(out.height * out.width, costPerItem: c * 4) { range in
            let (src, dst) = box.value
            var sums = [Double](repeating: 0, count: c)
            for t in range {
                let rows = span(t / out.width, grid.height, out.height), cols = span(t % out.width, grid.width, out.width)
                let target = dst + t * c
                switch kind {
                case .average:
                    for ch in 0 ..< c { sums[ch] = 0 }
                    for y in rows { for xx in cols {
                        let row = src + (y * grid.width + xx) * c
                        for ch in 0 ..< c { sums[ch] += Double(row[ch]) }
                    } }
                    let n = Double(rows.count * cols.count)
                    for ch in 0 ..< c { target[ch] = Float(sums[ch] / n) }
                case .max:
                    target.update(repeating: -.infinity, count: c)
                    for y in rows { for xx in cols {
                        let row = src + (y * grid.width + xx) * c
                        for ch in 0 ..< c where !(row[ch] <= target[ch]) { target[ch] = row[ch] }
                    } }
                }
            }
        }
    }
}
