import ConnectorGraph
import ConnectorRuntime
import TensorFormats

/// Operations on the patch grid, with the runtime's element orders (`Kernels/Spatial.swift`): tokens are
/// the grid's cells row by row, `[B, H·W, C]`; convolutions and pools go through `[B, C, H, W]`.
extension ConnectorEmitter {
    /// Space-to-depth by s: output token (i, j) holds patches (s·i + a, s·j + b), channel block a·s + b;
    /// tokens row by row (`rows`), or column by column (`columns`, InternVL's `ps_version` v1).
    func pixelShuffle(_ x: ExportValue, factor s: Int, columns: Bool, scope: String) throws -> ExportValue {
        let grid = try requireGrid(x, scope: scope, operation: "the pixel shuffle")
        guard grid.height % s == 0, grid.width % s == 0 else {
            throw RuntimeError(.tokens("the pixel shuffle (node \(scope)) by \(s) needs grid sides divisible by \(s), got \(grid)"))
        }
        let oh = grid.height / s, ow = grid.width / s, c = x.width
        let blocks = builder.reshape(x.name, [0, oh, s, ow, s, c], scope: scope)
        let ordered = builder.transpose(blocks, columns ? [0, 3, 1, 2, 4, 5] : [0, 1, 3, 2, 4, 5], scope: scope)
        let y = builder.reshape(ordered, [0, oh * ow, s * s * c], scope: scope)
        return derived(x, y, tokens: .fixed(oh * ow), width: s * s * c,
                       grid: .some(columns ? Grid(height: ow, width: oh) : Grid(height: oh, width: ow)))
    }

    /// Qwen2-VL's merge: each m² consecutive tokens become one token of width m²·C (a reshape).
    func spatialMerge(_ x: ExportValue, factor m: Int, scope: String) throws -> ExportValue {
        if let tokens = x.tokens.fixed, tokens % (m * m) != 0 {
            throw RuntimeError(.tokens("the spatial merge (node \(scope)) joins \(m * m) consecutive tokens: the token count must be a multiple of \(m * m), got \(tokens)"))
        }
        let tokens: TokenCount = x.tokens.fixed.map { .fixed($0 / (m * m)) } ?? .derived
        return derived(x, builder.reshape(x.name, [0, -1, m * m * x.width], scope: scope), tokens: tokens, width: m * m * x.width,
                       grid: .some(nil))
    }

    /// `[B, H·W, C]` → `[B, C, H, W]`.
    private func toImage(_ x: String, _ grid: Grid, channels: Int, scope: String) -> String {
        builder.transpose(builder.reshape(x, [0, grid.height, grid.width, channels], scope: scope), [0, 3, 1, 2], scope: scope)
    }

    /// `[B, C, H, W]` → `[B, H·W, C]`.
    private func fromImage(_ x: String, _ grid: Grid, channels: Int, scope: String) -> String {
        builder.reshape(builder.transpose(x, [0, 2, 3, 1], scope: scope), [0, grid.height * grid.width, channels], scope: scope)
    }

    /// Depthwise k×k convolution, zero padding (k−1)/2, weight `[C, 1, k, k]` (PyTorch's `Conv2d(groups=C)`).
    func depthwiseConv(_ x: ExportValue, weight: String, bias: String?, channels: Int, kernel k: Int, stride: Int,
                       scope: String) throws -> ExportValue {
        try expectWidth(x, channels, scope: scope)
        let grid = try requireGrid(x, scope: scope, operation: "the depthwise convolution")
        let pad = (k - 1) / 2
        let out = Grid(height: (grid.height + 2 * pad - k) / stride + 1, width: (grid.width + 2 * pad - k) / stride + 1)
        let inputs = [toImage(x.name, grid, channels: channels, scope: scope), try weights.canonical(weight, compute, scope: scope)]
            + (try bias.map { [try weights.canonical($0, compute, scope: scope)] } ?? [])
        let conv = builder.op("Conv", inputs, scope: scope, [
            ONNXAttribute("group", .int(channels)), ONNXAttribute("kernel_shape", .ints([k, k])),
            ONNXAttribute("pads", .ints([pad, pad, pad, pad])), ONNXAttribute("strides", .ints([stride, stride])),
        ])
        return derived(x, fromImage(conv, out, channels: channels, scope: scope), tokens: .fixed(out.height * out.width), grid: .some(out))
    }

    /// Squeeze-excitation (MobileVLM): channel means over the tokens, `fc1`, ReLU, `fc2`, hard-sigmoid,
    /// each channel scaled by it.
    func squeezeExcite(_ x: ExportValue, _ context: NodeContext, channels: Int, hidden: Int) throws -> ExportValue {
        let scope = context.scope
        try expectWidth(x, channels, scope: scope)
        let mean = derived(x, builder.reduceMean(x.name, axes: [1], scope: scope), tokens: .fixed(1))
        let squeezed = try linear(mean, weight: try context.role("fc1.weight"), bias: try context.role("fc1.bias"), in: channels,
                                  out: hidden, scope: scope)
        let relu = activation(squeezed, .relu, scope: scope)
        let expanded = try linear(relu, weight: try context.role("fc2.weight"), bias: try context.role("fc2.bias"), in: hidden,
                                  out: channels, scope: scope)
        let scale = activate(expanded.name, .hardsigmoid, type: compute, scope: scope)
        return derived(x, builder.op("Mul", [x.name, scale], scope: scope))
    }

    /// Average or max pooling over the grid: adaptive to n×n cells (PyTorch's `AdaptiveAvgPool2d`: cell i
    /// spans rows ⌊i·H/n⌋ ..< ⌈(i+1)·H/n⌉), or with kernel = stride. Equal windows are a pool node;
    /// unequal adaptive average windows are a product with the constant pooling matrix.
    func pooling(_ x: ExportValue, kind: Operation.PoolingKind, stride: Int, cells: Int?, scope: String) throws -> ExportValue {
        let grid = try requireGrid(x, scope: scope, operation: "the pooling")
        let out = cells.map { Grid(height: $0, width: $0) } ?? Grid(height: grid.height / stride, width: grid.width / stride)
        guard out.height > 0, out.width > 0, out.height <= grid.height, out.width <= grid.width else {
            throw RuntimeError(.tokens("the pooling (node \(scope)) to \(out) cells needs at least that many patches per side, got \(grid)"))
        }
        let pooled = derived(x, "", tokens: .fixed(out.height * out.width), grid: .some(out))
        if grid.height % out.height == 0, grid.width % out.width == 0 {
            let window = [grid.height / out.height, grid.width / out.width]
            let pool = builder.op(kind == .average ? "AveragePool" : "MaxPool", [toImage(x.name, grid, channels: x.width, scope: scope)],
                                  scope: scope, [ONNXAttribute("kernel_shape", .ints(window)), ONNXAttribute("strides", .ints(window))])
            return derived(pooled, fromImage(pool, out, channels: x.width, scope: scope))
        }
        guard kind == .average else {
            throw RuntimeError(.unsupported("node \(scope): adaptive max pooling of a \(grid) grid to \(out) cells has unequal windows, which ONNX's MaxPool cannot express"))
        }
        var matrix = [Float](repeating: 0, count: out.height * out.width * grid.height * grid.width)
        func span(_ i: Int, _ size: Int, _ n: Int) -> Range<Int> { (i * size) / n ..< ((i + 1) * size + n - 1) / n }
        for cell in 0 ..< out.height * out.width {
            let rows = span(cell / out.width, grid.height, out.height), columns = span(cell % out.width, grid.width, out.width)
            let weight = 1 / Float(rows.count * columns.count)
            for y in rows { for column in columns { matrix[cell * grid.height * grid.width + y * grid.width + column] = weight } }
        }
        let pooling = builder.constant(ONNXConstantTensor(floats: matrix, shape: [out.height * out.width, grid.height * grid.width],
                                                          dtype: compute), label: "pooling")
        return derived(pooled, builder.op("MatMul", [pooling, x.name], scope: scope))
    }

    /// Positions added to the tokens: rows of a `[count, dim]` table (`sequence`), or MiniCPM-V's 2-D
    /// sin-cos embedding at the grid (`sincos_2d`), computed as the runtime computes it, or read from a
    /// table stored on an S×S grid (row y·S + x for cell (y, x)).
    func positions(_ x: ExportValue, table: String?, layout: Operation.PositionLayout, dim: Int, scope: String) throws -> ExportValue {
        try expectWidth(x, dim, scope: scope)
        let addend: String
        switch layout {
        case .sequence:
            guard let table else { throw RuntimeError(.weight("node \(scope): parameter table is missing")) }
            let rows = try storedRows(table, dim: dim)
            let values = try weights.canonical(table, compute, scope: scope)
            if let tokens = x.tokens.fixed {
                guard tokens <= rows else {
                    throw RuntimeError(.tokens("the position table of node \(scope) has \(rows) rows, fewer than the \(tokens) tokens"))
                }
                addend = tokens == rows ? values
                    : builder.op("Slice", [values, builder.int64s([0]), builder.int64s([tokens]), builder.int64s([0])], scope: scope)
            } else {
                let count = builder.op("Shape", [x.name], scope: scope, [ONNXAttribute("start", .int(1)), ONNXAttribute("end", .int(2))])
                addend = builder.op("Slice", [values, builder.int64s([0]), count, builder.int64s([0])], scope: scope)
            }
        case .sincos_2d:
            let grid = try requireGrid(x, scope: scope, operation: "the 2-D sin-cos position embedding", square: false)
            guard dim % 4 == 0 else { throw RuntimeError(.unsupported("node \(scope): a 2-D sin-cos embedding needs a width divisible by 4, got \(dim)")) }
            if let table {
                let rows = try storedRows(table, dim: dim)
                let side = Int(Double(rows).squareRoot())
                guard side * side == rows else { throw RuntimeError(.weight("the position table of node \(scope) has \(rows) rows, not a square grid")) }
                guard grid.height <= side, grid.width <= side else {
                    throw RuntimeError(.tokens("the position table of node \(scope) covers grids up to \(side)x\(side), got \(grid)"))
                }
                let indices = (0 ..< grid.height).flatMap { y in (0 ..< grid.width).map { y * side + $0 } }
                let gathered = try weights.canonical(table, compute, scope: scope)
                addend = builder.op("Gather", [gathered, builder.int64s(indices)], scope: scope, [ONNXAttribute("axis", .int(0))])
            } else {
                var values = [Float](repeating: 0, count: grid.height * grid.width * dim)
                values.withUnsafeMutableBufferPointer { sinCos2D(grid: grid, dim: dim, into: $0.baseAddress!) }
                addend = builder.constant(ONNXConstantTensor(floats: values, shape: [grid.height * grid.width, dim], dtype: compute),
                                          label: "sincos")
            }
        }
        return derived(x, builder.op("Add", [x.name, addend], scope: scope))
    }

    private func storedRows(_ role: String, dim: Int) throws -> Int {
        guard let shape = weights.stored(role)?.shape.compactMap({ $0 }), !shape.isEmpty else {
            throw RuntimeError(.weight("parameter \(role) has no known shape"))
        }
        return shape.reduce(1, *) / dim
    }

    /// Bicubic resize of a square S×S table (`inputs[0]`) to the grid of `reference` (Qwen-VL's
    /// `get_abs_pos`): ONNX `Resize` in cubic mode with A = −0.75 and half-pixel centres, PyTorch's
    /// `F.interpolate(mode="bicubic", align_corners=False)`.
    func resize(_ table: ExportValue, to reference: ExportValue, scope: String) throws -> ExportValue {
        let rows = try fixedTokens(table, scope: scope, operation: "the position resize")
        let side = Int(Double(rows).squareRoot())
        guard side * side == rows else {
            throw RuntimeError(.unsupported("node \(scope): \(rows) rows do not form a square grid to resize"))
        }
        let grid = try requireGrid(reference, scope: scope, operation: "the position resize")
        let image = toImage(table.name, Grid(height: side, width: side), channels: table.width, scope: scope)
        let leading = builder.op("Shape", [image], scope: scope, [ONNXAttribute("start", .int(0)), ONNXAttribute("end", .int(2))])
        let sizes = builder.concat([leading, builder.int64s([grid.height, grid.width])], axis: 0, scope: scope)
        let resized = builder.op("Resize", [image, "", "", sizes], scope: scope, [
            ONNXAttribute("mode", .string("cubic")), ONNXAttribute("cubic_coeff_a", .float(-0.75)),
            ONNXAttribute("coordinate_transformation_mode", .string("half_pixel")),
        ])
        return derived(table, fromImage(resized, grid, channels: table.width, scope: scope), tokens: reference.tokens, grid: .some(grid))
    }
}
