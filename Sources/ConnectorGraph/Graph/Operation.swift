import TensorFormats

/// The typed operations a connector graph is built from, with their attributes. Each operation knows
/// its parameter slots and their shapes, how it transforms `[tokens, width]` values, and how many
/// multiply-accumulates it costs; everything else (checking, describing, running) builds on that.
public enum Operation: Sendable, Equatable {
    /// `y = x W^T + b`, `W: [out, in]`.
    case linear(in: DimExpr, out: DimExpr, bias: Bool)
    case activation(Activation)
    case layerNorm(dim: DimExpr, bias: Bool)
    case rmsNorm(dim: DimExpr)
    case attention(Attention)
    case feedForward(FeedForward)
    /// Learned query/latent vectors, `[count, dim]` (with `leadingUnit`, `[1, count, dim]` as BLIP-2's
    /// `query_tokens`). Takes no input.
    case learnedQueries(count: DimExpr, dim: DimExpr, leadingUnit: Bool)
    /// `inputs[0] + inputs[1]`, optionally `inputs[0] + tanh(gate) * inputs[1]` with a scalar gate `[1]`.
    case residual(gated: Bool)
    /// Space-to-depth on the patch grid: `[N, C] -> [N/f², C·f²]` (InternVL, Idefics3).
    case pixelShuffle(factor: DimExpr)
    /// Concatenates each `f×f` group of neighbouring patches: `[N, C] -> [N/f², C·f²]` (Qwen2-VL merger;
    /// same shapes as a pixel shuffle, different element order).
    case spatialMerge(factor: DimExpr)
    /// 2-D depthwise convolution on the square patch grid, weight `[C, 1, k, k]`.
    case depthwiseConv(channels: DimExpr, kernel: Int, stride: Int, bias: Bool)
    /// 1×1 convolution across channels, weight `[out, in, 1, 1]`.
    case pointwiseConv(in: DimExpr, out: DimExpr, bias: Bool)
    /// Squeeze-and-excitation: global pool, `fc1 [hidden, C, 1, 1]`, ReLU, `fc2 [C, hidden, 1, 1]`,
    /// hard-sigmoid scale.
    case squeezeExcite(channels: DimExpr, hidden: DimExpr)
    /// Average/max pooling of the square patch grid to `grid × grid` tokens (or by `stride` when
    /// `grid` is nil).
    case pooling(kind: PoolingKind, stride: Int, grid: Int?)
    /// A token-embedding table `[vocab, dim]` (a Q-Former's instruction-text path).
    case embedding(vocab: DimExpr, dim: DimExpr)
    /// Positions added to its input: a table `[count, dim]` whose row t goes to token t (`sequence`), or
    /// the 2-D sin-cos embedding at the input's patch grid (`sincos_2d`, MiniCPM-V's
    /// `get_2d_sincos_pos_embed`), which a checkpoint may store precomputed on a √count × √count grid
    /// (llama.cpp's `resampler.pos_embed_k`): the table is then optional and read by grid position.
    case positionEmbedding(count: DimExpr, dim: DimExpr, layout: PositionLayout)
    /// Bicubic resize (PyTorch's `F.interpolate(mode="bicubic", align_corners=False)`) of `inputs[0]`,
    /// whose tokens form a square grid, to the patch grid of `inputs[1]` (Qwen-VL's `get_abs_pos`).
    case resize
    /// LLaVA-NeXT's learned `image_newline` vector `[dim]`: appended once after the tokens of an untiled
    /// image (`[N, D] -> [N+1, D]`), as transformers' `pack_image_features` does (anyres tiling, which puts
    /// one after each row of patches, is not modelled).
    case imageNewline(dim: DimExpr)

    public enum Activation: String, Sendable, Equatable, CaseIterable, Codable {
        case gelu, gelu_tanh, quick_gelu, relu, silu, tanh, hardswish, hardsigmoid
    }

    public enum PoolingKind: String, Sendable, Equatable, CaseIterable, Codable {
        case average, max
    }

    public enum PositionLayout: String, Sendable, Equatable, CaseIterable, Codable {
        case sequence
        case sincos_2d
    }

    /// Runs when its parameters are absent (an optional table it can compute instead).
    public var runsWithoutParameters: Bool {
        if case .positionEmbedding(_, _, .sincos_2d) = self { return true }
        return false
    }

    /// Multi-head attention. Queries come from `inputs[0]` (width `dim`); keys and values from
    /// `inputs[1]` (width `contextDim`) for cross-attention, from `inputs[0]` for self-attention.
    public struct Attention: Sendable, Equatable {
        public enum Kind: String, Sendable, Equatable, CaseIterable, Codable { case `self` = "self", cross }
        /// How the q/k/v projection weights are laid out as parameters.
        public enum Projections: String, Sendable, Equatable, CaseIterable, Codable {
            /// `q`, `k`, `v` each their own weight.
            case separate
            /// One `[3·inner, dim]` weight, q then k then v (`nn.MultiheadAttention.in_proj_weight`).
            case fused_qkv
            /// `q` alone, k and v stacked in one `[2·kvInner, contextDim]` weight (Flamingo `to_kv`).
            case fused_kv
        }
        public enum QKNorm: String, Sendable, Equatable, CaseIterable, Codable {
            case none, layer_norm, rms_norm
        }

        public var kind: Kind
        public var dim: DimExpr
        public var contextDim: DimExpr
        public var heads: DimExpr
        public var kvHeads: DimExpr
        public var headDim: DimExpr
        public var outDim: DimExpr
        public var projections: Projections
        public var bias: Bool
        public var outBias: Bool
        /// Per-head normalisation of queries and keys (IDEFICS), over `headDim`.
        public var qkNorm: QKNorm
        /// Keys and values are computed from the context *and* the queries (Perceiver resamplers).
        public var keysIncludeQueries: Bool
        /// The q/k norms may be absent, as a pair (IDEFICS's `qk_layer_norms_perceiver`, false by default).
        public var qkNormOptional: Bool

        public init(kind: Kind, dim: DimExpr, contextDim: DimExpr? = nil, heads: DimExpr, kvHeads: DimExpr? = nil,
                    headDim: DimExpr, outDim: DimExpr? = nil, projections: Projections = .separate,
                    bias: Bool, outBias: Bool? = nil, qkNorm: QKNorm = .none, keysIncludeQueries: Bool = false,
                    qkNormOptional: Bool = false) {
            self.kind = kind
            self.dim = dim
            self.contextDim = contextDim ?? dim
            self.heads = heads
            self.kvHeads = kvHeads ?? heads
            self.headDim = headDim
            self.outDim = outDim ?? dim
            self.projections = projections
            self.bias = bias
            self.outBias = outBias ?? bias
            self.qkNorm = qkNorm
            self.keysIncludeQueries = keysIncludeQueries
            self.qkNormOptional = qkNormOptional
        }

        var inner: DimExpr { simplifiedProduct(heads, headDim) }
        var kvInner: DimExpr { simplifiedProduct(kvHeads, headDim) }
    }

    /// `down(act(up(x)))`, or `down(act(gate(x)) * up(x))` when `gated` (SwiGLU).
    public struct FeedForward: Sendable, Equatable {
        public var inDim: DimExpr
        public var hidden: DimExpr
        public var outDim: DimExpr
        public var activation: Activation
        public var gated: Bool
        public var bias: Bool

        public init(in inDim: DimExpr, hidden: DimExpr, out outDim: DimExpr? = nil, activation: Activation,
                    gated: Bool, bias: Bool) {
            self.inDim = inDim
            self.hidden = hidden
            self.outDim = outDim ?? inDim
            self.activation = activation
            self.gated = gated
            self.bias = bias
        }
    }

    /// The JSON `op` name.
    public var opName: String {
        switch self {
        case .linear: "linear"
        case .activation: "activation"
        case .layerNorm: "layer_norm"
        case .rmsNorm: "rms_norm"
        case .attention: "attention"
        case .feedForward: "feed_forward"
        case .learnedQueries: "learned_queries"
        case .residual: "residual"
        case .pixelShuffle: "pixel_shuffle"
        case .spatialMerge: "spatial_merge"
        case .depthwiseConv: "depthwise_conv"
        case .pointwiseConv: "pointwise_conv"
        case .squeezeExcite: "squeeze_excite"
        case .pooling: "pooling"
        case .embedding: "embedding"
        case .positionEmbedding: "position_embedding"
        case .resize: "resize"
        case .imageNewline: "image_newline"
        }
    }

    public static let opNames = ["linear", "activation", "layer_norm", "rms_norm", "attention", "feed_forward",
                                 "learned_queries", "residual", "pixel_shuffle", "spatial_merge", "depthwise_conv",
                                 "pointwise_conv", "squeeze_excite", "pooling", "embedding", "position_embedding",
                                 "image_newline", "resize"]

    /// How many values the operation reads.
    public var inputCount: ClosedRange<Int> {
        switch self {
        case .learnedQueries: 0 ... 0
        case .residual, .resize: 2 ... 2
        // Cross-attention: queries, context (values, and keys), optionally the keys' own source.
        case .attention(let a): a.kind == .cross ? 2 ... 3 : 1 ... 1
        default: 1 ... 1
        }
    }

    public struct Slot: Sendable, Equatable {
        public var slot: String
        public var shape: [DimExpr]
        public var isGate: Bool
    }

    /// The parameter slots, in order, with their shapes.
    public var parameterSlots: [Slot] {
        func slot(_ name: String, _ shape: [DimExpr], gate: Bool = false) -> Slot { Slot(slot: name, shape: shape, isGate: gate) }
        switch self {
        case .linear(let inDim, let outDim, let bias):
            return [slot("weight", [outDim, inDim])] + (bias ? [slot("bias", [outDim])] : [])
        case .activation, .pixelShuffle, .spatialMerge, .pooling, .resize:
            return []
        case .layerNorm(let dim, let bias):
            return [slot("weight", [dim])] + (bias ? [slot("bias", [dim])] : [])
        case .rmsNorm(let dim):
            return [slot("weight", [dim])]
        case .attention(let a):
            var slots: [Slot] = []
            switch a.projections {
            case .separate:
                slots.append(slot("q.weight", [a.inner, a.dim]))
                if a.bias { slots.append(slot("q.bias", [a.inner])) }
                slots.append(slot("k.weight", [a.kvInner, a.contextDim]))
                if a.bias { slots.append(slot("k.bias", [a.kvInner])) }
                slots.append(slot("v.weight", [a.kvInner, a.contextDim]))
                if a.bias { slots.append(slot("v.bias", [a.kvInner])) }
            case .fused_qkv:
                slots.append(slot("qkv.weight", [simplifiedProduct(3, a.inner), a.dim]))
                if a.bias { slots.append(slot("qkv.bias", [simplifiedProduct(3, a.inner)])) }
            case .fused_kv:
                slots.append(slot("q.weight", [a.inner, a.dim]))
                if a.bias { slots.append(slot("q.bias", [a.inner])) }
                slots.append(slot("kv.weight", [simplifiedProduct(2, a.kvInner), a.contextDim]))
                if a.bias { slots.append(slot("kv.bias", [simplifiedProduct(2, a.kvInner)])) }
            }
            switch a.qkNorm {
            case .none: break
            case .layer_norm:
                slots += [slot("q_norm.weight", [a.headDim]), slot("q_norm.bias", [a.headDim]),
                          slot("k_norm.weight", [a.headDim]), slot("k_norm.bias", [a.headDim])]
            case .rms_norm:
                slots += [slot("q_norm.weight", [a.headDim]), slot("k_norm.weight", [a.headDim])]
            }
            slots.append(slot("out.weight", [a.outDim, a.inner]))
            if a.outBias { slots.append(slot("out.bias", [a.outDim])) }
            return slots
        case .feedForward(let f):
            var slots: [Slot] = []
            if f.gated { slots.append(slot("gate.weight", [f.hidden, f.inDim])) }
            slots.append(slot("up.weight", [f.hidden, f.inDim]))
            if f.bias { slots.append(slot("up.bias", [f.hidden])) }
            slots.append(slot("down.weight", [f.outDim, f.hidden]))
            if f.bias { slots.append(slot("down.bias", [f.outDim])) }
            return slots
        case .learnedQueries(let count, let dim, let leadingUnit):
            return [slot("queries", leadingUnit ? [1, count, dim] : [count, dim])]
        case .residual(let gated):
            return gated ? [slot("gate", [1], gate: true)] : []
        case .depthwiseConv(let channels, let kernel, _, let bias):
            return [slot("weight", [channels, 1, .constant(kernel), .constant(kernel)])] + (bias ? [slot("bias", [channels])] : [])
        case .pointwiseConv(let inDim, let outDim, let bias):
            return [slot("weight", [outDim, inDim, 1, 1])] + (bias ? [slot("bias", [outDim])] : [])
        case .squeezeExcite(let channels, let hidden):
            return [slot("fc1.weight", [hidden, channels, 1, 1]), slot("fc1.bias", [hidden]),
                    slot("fc2.weight", [channels, hidden, 1, 1]), slot("fc2.bias", [channels])]
        case .embedding(let vocab, let dim):
            return [slot("weight", [vocab, dim])]
        case .positionEmbedding(let count, let dim, _):
            return [slot("table", [count, dim])]
        case .imageNewline(let dim):
            return [slot("newline", [dim])]
        }
    }

    /// The symbolic `[tokens, width]` of the output, given the inputs' shapes; nil with a reason when the
    /// inputs do not fit the operation.
    public func outputShape(_ inputs: [[DimExpr]]) -> Result<[DimExpr], ShapeMismatch> {
        func width(_ index: Int, _ expected: DimExpr) -> ShapeMismatch? {
            guard inputs.count > index, inputs[index].count == 2 else {
                return ShapeMismatch(reason: "input \(index) is not a [tokens, width] value")
            }
            return sameDimension(inputs[index][1], expected)
                ? nil : ShapeMismatch(reason: "input \(index) has width \(inputs[index][1]), expected \(expected)")
        }
        func tokens(_ index: Int) -> DimExpr { inputs.count > index && inputs[index].count == 2 ? inputs[index][0] : "N" }
        switch self {
        case .linear(let inDim, let outDim, _):
            if let problem = width(0, inDim) { return .failure(problem) }
            return .success([tokens(0), outDim])
        case .activation:
            return inputs.first.map { .success($0) } ?? .failure(ShapeMismatch(reason: "no input"))
        case .layerNorm(let dim, _), .rmsNorm(let dim), .positionEmbedding(_, let dim, _):
            if let problem = width(0, dim) { return .failure(problem) }
            return .success(inputs[0])
        case .imageNewline(let dim):
            // Appended once after the tokens of an untiled image (transformers' pack_image_features).
            if let problem = width(0, dim) { return .failure(problem) }
            return .success([.add(tokens(0), 1), dim])
        case .attention(let a):
            if let problem = width(0, a.dim) { return .failure(problem) }
            if a.kind == .cross, let problem = width(1, a.contextDim) { return .failure(problem) }
            if inputs.count > 2, let problem = width(2, a.contextDim) { return .failure(problem) }
            return .success([tokens(0), a.outDim])
        case .resize:
            guard inputs.count == 2, inputs[0].count == 2, inputs[1].count == 2 else {
                return .failure(ShapeMismatch(reason: "a resize reads the table and the value whose grid it takes"))
            }
            return .success([inputs[1][0], inputs[0][1]])
        case .feedForward(let f):
            if let problem = width(0, f.inDim) { return .failure(problem) }
            return .success([tokens(0), f.outDim])
        case .learnedQueries(let count, let dim, _):
            return .success([count, dim])
        case .residual:
            guard inputs.count == 2 else { return .failure(ShapeMismatch(reason: "a residual adds two values")) }
            guard inputs[0].count == inputs[1].count, zip(inputs[0], inputs[1]).allSatisfy({ sameDimension($0, $1) }) else {
                return .failure(ShapeMismatch(reason: "a residual adds values of different shapes \(inputs[0]) and \(inputs[1])"))
            }
            return .success(inputs[0])
        case .pixelShuffle(let factor), .spatialMerge(let factor):
            guard let input = inputs.first, input.count == 2 else { return .failure(ShapeMismatch(reason: "no input")) }
            let square = simplifiedProduct(factor, factor)
            return .success([.divide(input[0], square), simplifiedProduct(input[1], square)])
        case .depthwiseConv(let channels, _, let stride, _):
            if let problem = width(0, channels) { return .failure(problem) }
            return .success([stride == 1 ? tokens(0) : .divide(tokens(0), .constant(stride * stride)), channels])
        case .pointwiseConv(let inDim, let outDim, _):
            if let problem = width(0, inDim) { return .failure(problem) }
            return .success([tokens(0), outDim])
        case .squeezeExcite(let channels, _):
            if let problem = width(0, channels) { return .failure(problem) }
            return .success(inputs[0])
        case .pooling(_, let stride, let grid):
            guard let input = inputs.first, input.count == 2 else { return .failure(ShapeMismatch(reason: "no input")) }
            if let grid { return .success([.constant(grid * grid), input[1]]) }
            return .success([.divide(input[0], .constant(stride * stride)), input[1]])
        case .embedding(_, let dim):
            return .success([tokens(0), dim])
        }
    }

    /// Multiply-accumulates for one image, given concrete input shapes (`[tokens, width]` each) and
    /// concrete attribute values. Normalisations, activations and additions are not counted.
    public func multiplyAccumulates(inputs: [[Int]], _ value: (DimExpr) -> Int?) -> Int? {
        func tokens(_ index: Int) -> Int? { inputs.count > index && inputs[index].count == 2 ? inputs[index][0] : nil }
        /// `values` combined with checked arithmetic; nil when one is unknown or the result overflows.
        func fold(_ values: [Int?], _ start: Int, _ combine: (Int, Int) -> Int?) -> Int? {
            values.reduce(Optional(start)) { total, value in total.flatMap { total in value.flatMap { combine(total, $0) } } }
        }
        func product(_ factors: [Int?]) -> Int? { fold(factors, 1, Checked.multiply) }
        func sum(_ terms: [Int?]) -> Int? { fold(terms, 0, Checked.add) }
        switch self {
        case .linear(let inDim, let outDim, _), .pointwiseConv(let inDim, let outDim, _):
            return product([tokens(0), value(inDim), value(outDim)])
        case .attention(let a):
            guard let tq = tokens(0) else { return nil }
            let context = a.kind == .cross ? tokens(1) : tq
            guard let tc = context, let inner = value(a.inner), let kvInner = value(a.kvInner) else { return nil }
            let keysFrom = a.keysIncludeQueries ? tc + tq : tc
            let heads = value(a.heads), headDim = value(a.headDim)
            let kvProjection = a.keysIncludeQueries
                ? sum([product([tc, value(a.contextDim), kvInner, 2]), product([tq, value(a.dim), kvInner, 2])])
                : product([tc, value(a.contextDim), kvInner, 2])
            return sum([
                product([tq, value(a.dim), inner]),            // q projection
                kvProjection,                                  // k and v projections
                product([heads, tq, keysFrom, headDim, 2]),    // scores and weighted values
                product([tq, inner, value(a.outDim)]),         // output projection
            ])
        case .feedForward(let f):
            return sum([product([tokens(0), value(f.inDim), value(f.hidden), f.gated ? 2 : 1]),
                        product([tokens(0), value(f.hidden), value(f.outDim)])])
        case .depthwiseConv(let channels, let kernel, let stride, _):
            guard let t = tokens(0) else { return nil }
            return product([t / (stride * stride), value(channels), kernel * kernel])
        case .squeezeExcite(let channels, let hidden):
            return product([value(channels), value(hidden), 2])
        default:
            return 0
        }
    }
}

public struct ShapeMismatch: Error, Sendable, Equatable {
    public var reason: String
}

/// `a*b` without a literal factor of 1.
func simplifiedProduct(_ a: DimExpr, _ b: DimExpr) -> DimExpr {
    if a.isLiteralOne { return b }
    if b.isLiteralOne { return a }
    // heads * (H/heads) is H: keeps a head width declared as `H/heads` from hiding H in products.
    if case .divide(let x, let y) = b, y == a { return x }
    if case .divide(let x, let y) = a, y == b { return x }
    return .multiply(a, b)
}

/// Whether two expressions denote the same dimension, checked by evaluating both at a few assignments
/// of unrelated values to their symbols (equal expressions agree everywhere; different ones almost
/// never agree at several unrelated points). Values are products of powers of 2 and 3 so that
/// divisions such as `N/(m*m)` stay exact.
func sameDimension(_ a: DimExpr, _ b: DimExpr) -> Bool {
    if a == b { return true }
    let symbols = a.symbols + b.symbols.filter { !a.symbols.contains($0) }
    let twos = [9, 13, 7, 11, 14, 8, 12, 10, 6, 15]
    let threes = [2, 0, 3, 1, 4, 2, 1, 3, 0, 4]
    var compared = 0
    for trial in 0 ..< 6 {
        var assignment: [String: Int] = [:]
        for (index, symbol) in symbols.enumerated() {
            let k = (index * 7 + trial * 3) % twos.count
            assignment[symbol] = (1 << twos[k]) * [1, 3, 9, 27, 81][threes[(k + trial) % threes.count]]
        }
        let left = a.evaluate { assignment[$0] }, right = b.evaluate { assignment[$0] }
        // A division that is not exact (or an overflow) at this point says nothing; try another point.
        guard case .value(let x) = left, case .value(let y) = right else { continue }
        if x != y { return false }
        compared += 1
        if compared == 3 { return true }
    }
    return false
}
