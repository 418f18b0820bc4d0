import ConnectorGraph
import ConnkitTestSupport
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Testing
@testable import ConnectorRuntime

/// Each operation run through the interpreter against a double-precision reference written from the
/// PyTorch module's definition.
@Suite struct OperationTests {
    typealias S = TestSupport

    func expectClose(_ output: RunOutput, _ reference: [Double], cosine: Double = 0.999999, relative: Double = 2e-6) {
        let values = output.values.array
        #expect(values.count == reference.count)
        let (minCosine, maxDelta, maxReference) = closeness(values, reference, width: output.width)
        #expect(minCosine >= cosine)
        #expect(maxDelta <= relative * max(1, maxReference), "max |Δ| \(maxDelta) with max |ref| \(maxReference)")
    }

    @Test func linearGeluLinear() throws {
        var g = SplitMix(seed: 1)
        let n = 9, d = 12, h = 20
        let graph = S.graph([
            S.node("fc1", .linear(in: "D", out: "H", bias: true), ["image"], "x"),
            S.node("act", .activation(.gelu), ["x"], "x"),
            S.node("fc2", .linear(in: "H", out: "H", bias: false), ["x"], "out"),
        ], output: ["N", "H"], dimensions: ["N", "D", "H"])
        let w1 = g.floats(h * d), b1 = g.floats(h), w2 = g.floats(h * h), x = g.floats(n * d)
        let connector = try S.connector(graph, dims: ["D": d, "H": h], weights: [
            "fc1.weight": ([h, d], w1), "fc1.bias": ([h], b1), "fc2.weight": ([h, h], w2)])
        let output = try connector.run(S.features(x, tokens: n, width: d))
        #expect(output.shape == [n, h])
        let hidden = Reference.linear(x.map(Double.init), rows: n, w1, out: h, b1).map(Reference.gelu)
        expectClose(output, Reference.linear(hidden, rows: n, w2, out: h, nil))
    }

    @Test func layerAndRMSNormsAndResidual() throws {
        var g = SplitMix(seed: 2)
        let n = 5, d = 16
        let graph = S.graph([
            S.node("ln", .layerNorm(dim: "D", bias: true), ["image"], "a"),
            S.node("rms", .rmsNorm(dim: "D"), ["image"], "b"),
            S.node("res", .residual(gated: false), ["a", "b"], "out"),
        ])
        let w = g.floats(d), b = g.floats(d), r = g.floats(d), x = g.floats(n * d, scale: 3)
        let connector = try S.connector(graph, dims: ["D": d], weights: ["ln.weight": ([d], w), "ln.bias": ([d], b), "rms.weight": ([d], r)])
        let output = try connector.run(S.features(x, tokens: n, width: d))
        let xd = x.map(Double.init)
        let expected = zip(Reference.layerNorm(xd, width: d, w, b, eps: 1e-5), Reference.rmsNorm(xd, width: d, r, eps: 1e-6)).map(+)
        expectClose(output, expected)
    }

    @Test func gatedFeedForward() throws {
        var g = SplitMix(seed: 3)
        let n = 7, d = 8, h = 24, o = 10
        let graph = S.graph([
            S.node("mlp", .feedForward(.init(in: "D", hidden: "H", out: "O", activation: .silu, gated: true, bias: false)), ["image"], "out"),
        ], output: ["N", "O"], dimensions: ["N", "D", "H", "O"])
        let gate = g.floats(h * d), up = g.floats(h * d), down = g.floats(o * h), x = g.floats(n * d)
        let connector = try S.connector(graph, dims: ["D": d, "H": h, "O": o], weights: [
            "mlp.gate.weight": ([h, d], gate), "mlp.up.weight": ([h, d], up), "mlp.down.weight": ([o, h], down)])
        let output = try connector.run(S.features(x, tokens: n, width: d))
        let xd = x.map(Double.init)
        let hidden = zip(Reference.linear(xd, rows: n, gate, out: h, nil).map(Reference.silu), Reference.linear(xd, rows: n, up, out: h, nil)).map(*)
        expectClose(output, Reference.linear(hidden, rows: n, down, out: o, nil))
    }

    /// The planner reuses buffers: Linear-GELU-Linear-GELU-Linear needs two (activations overwrite their
    /// input; a product never writes over what it reads), and the features are never written.
    @Test func planReusesBuffers() throws {
        var g = SplitMix(seed: 10)
        let d = 6
        let graph = S.graph([
            S.node("a", .linear(in: "D", out: "D", bias: true), ["image"], "x"),
            S.node("a_act", .activation(.gelu), ["x"], "x"),
            S.node("b", .linear(in: "D", out: "D", bias: true), ["x"], "x"),
            S.node("b_act", .activation(.gelu), ["x"], "x"),
            S.node("c", .linear(in: "D", out: "D", bias: true), ["x"], "out"),
        ])
        var weights: [String: ([Int], [Float])] = [:]
        for name in ["a", "b", "c"] {
            weights[name + ".weight"] = ([d, d], g.floats(d * d))
            weights[name + ".bias"] = ([d], g.floats(d))
        }
        let connector = try S.connector(graph, dims: ["D": d], weights: weights)
        let plan = try connector.plan(tokens: 10)
        #expect(plan.capacities.count == 2 && plan.capacities.allSatisfy { $0 == 60 })
        #expect(plan.activationBytes == 2 * 60 * 4)
        let features = S.features(g.floats(60), tokens: 10, width: d)
        let before = features.values.array
        _ = try connector.run(features)
        #expect(features.values.array == before)
    }

    /// A feed-forward whose hidden activations exceed its budget runs in blocks of rows, to the same values.
    @Test func feedForwardInBlocksOfRows() throws {
        var g = SplitMix(seed: 9)
        let n = 37, d = 8, h = 16
        var buffers: [FloatBuffer] = []
        func weight(_ role: String, _ shape: [Int], _ values: [Float]) -> Weight {
            buffers.append(FloatBuffer(values))
            return Weight(role: role, pointer: UnsafePointer(buffers.last!.pointer), shape: shape)
        }
        let gate = weight("g", [h, d], g.floats(h * d)), up = weight("u", [h, d], g.floats(h * d)), down = weight("d", [d, h], g.floats(d * h))
        var kernel = FeedForwardKernel(name: "ffn", gate: gate, up: up, upBias: nil, down: down, downBias: nil, inDim: d, hidden: h, outDim: d,
                                       activation: .silu)
        let x = FloatBuffer(g.floats(n * d))
        func run() -> [Float] {
            let shape = ValueShape(tokens: n, width: d, grid: nil)
            let out = FloatBuffer(count: n * d), scratch = FloatBuffer(count: kernel.scratch(for: [shape])!)
            kernel.run([Value(base: x.pointer, shape: shape)], Value(base: out.pointer, shape: shape), scratch: scratch.pointer, RunContext())
            return out.array
        }
        let whole = run()
        kernel.scratchBudget = 5 * h * 2 * 4
        #expect(kernel.rowsPerPass(n) == 5)
        let blocks = run()
        let (cosine, delta, maxRef) = closeness(blocks, whole.map(Double.init), width: d)
        #expect(cosine >= 0.999999 && delta <= 1e-6 * maxRef)
        withExtendedLifetime(buffers) {}
    }

    /// Cross-attention from learned latents with keys from context and latents, grouped-query heads and
    /// per-head RMS norms; then self-attention with a fused qkv projection and biases.
    @Test func attentionVariants() throws {
        var g = SplitMix(seed: 4)
        let n = 11, d = 16, q = 3, heads = 4, kv = 2, dh = 4
        let graph = S.graph([
            S.node("lat", .learnedQueries(count: "Q", dim: "D", leadingUnit: false), [], "lat"),
            S.node("xattn", .attention(.init(kind: .cross, dim: "D", heads: "A", kvHeads: "K", headDim: "Dh", bias: false,
                                              qkNorm: .rms_norm, keysIncludeQueries: true)), ["lat", "image"], "a"),
            S.node("self", .attention(.init(kind: .self, dim: "D", heads: "A", headDim: "Dh", projections: .fused_qkv, bias: true)),
                   ["a"], "out"),
        ], output: ["Q", "D"], dimensions: ["N", "D", "Q", "A", "K", "Dh"])
        let lat = g.floats(q * d), wq = g.floats(heads * dh * d), wk = g.floats(kv * dh * d), wv = g.floats(kv * dh * d)
        let wo = g.floats(d * heads * dh), qn = g.floats(dh), kn = g.floats(dh)
        let qkv = g.floats(3 * heads * dh * d), qkvb = g.floats(3 * heads * dh), so = g.floats(d * heads * dh), sob = g.floats(d)
        let x = g.floats(n * d)
        let connector = try S.connector(graph, dims: ["D": d, "Q": q, "A": heads, "K": kv, "Dh": dh], weights: [
            "lat.queries": ([q, d], lat), "xattn.q.weight": ([heads * dh, d], wq), "xattn.k.weight": ([kv * dh, d], wk),
            "xattn.v.weight": ([kv * dh, d], wv), "xattn.out.weight": ([d, heads * dh], wo), "xattn.q_norm.weight": ([dh], qn),
            "xattn.k_norm.weight": ([dh], kn), "self.qkv.weight": ([3 * heads * dh, d], qkv), "self.qkv.bias": ([3 * heads * dh], qkvb),
            "self.out.weight": ([d, heads * dh], so), "self.out.bias": ([d], sob)])
        let output = try connector.run(S.features(x, tokens: n, width: d))

        let latd = lat.map(Double.init), context = x.map(Double.init) + latd
        let qm = Reference.rmsNorm(Reference.linear(latd, rows: q, wq, out: heads * dh, nil), width: dh, qn, eps: 1e-6)
        let km = Reference.rmsNorm(Reference.linear(context, rows: n + q, wk, out: kv * dh, nil), width: dh, kn, eps: 1e-6)
        let vm = Reference.linear(context, rows: n + q, wv, out: kv * dh, nil)
        let a = Reference.linear(Reference.attention(q: qm, k: km, v: vm, tq: q, tk: n + q, heads: heads, kvHeads: kv, headDim: dh),
                                 rows: q, wo, out: d, nil)
        let inner = heads * dh
        let part = { (offset: Int) -> ([Float], [Float]) in
            (Array(qkv[offset * d ..< (offset + inner) * d]), Array(qkvb[offset ..< offset + inner]))
        }
        let (wq2, bq2) = part(0), (wk2, bk2) = part(inner), (wv2, bv2) = part(2 * inner)
        let sa = Reference.attention(q: Reference.linear(a, rows: q, wq2, out: inner, bq2), k: Reference.linear(a, rows: q, wk2, out: inner, bk2),
                                     v: Reference.linear(a, rows: q, wv2, out: inner, bv2), tq: q, tk: q, heads: heads, kvHeads: heads, headDim: dh)
        expectClose(output, Reference.linear(sa, rows: q, so, out: d, sob))
    }

    /// InternVL / Idefics3 order on a 4×4 grid of one channel: output token (i, j) holds patches
    /// (2i, 2j), (2i, 2j+1), (2i+1, 2j), (2i+1, 2j+1).
    @Test func pixelShuffleOrder() throws {
        let graph = S.graph([S.node("ps", .pixelShuffle(factor: 2), ["image"], "out")], output: ["N/4", "D*4"])
        let connector = try S.connector(graph, dims: ["D": 1], weights: [:])
        let output = try connector.run(S.features((0 ..< 16).map(Float.init), tokens: 16, width: 1))
        #expect(output.shape == [4, 4])
        #expect(output.values.array == [0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15])
        #expect(throws: RuntimeError.self) { try connector.run(S.features([Float](repeating: 0, count: 12), tokens: 12, width: 1)) }
        #expect(throws: RuntimeError.self) { try connector.run(S.features([Float](repeating: 0, count: 12), tokens: 12, width: 1), grid: Grid(height: 3, width: 4)) }
    }

    @Test func spatialMergeJoinsConsecutiveTokens() throws {
        let graph = S.graph([S.node("m", .spatialMerge(factor: 2), ["image"], "out")], output: ["N/4", "D*4"])
        let connector = try S.connector(graph, dims: ["D": 2], weights: [:])
        let output = try connector.run(S.features((0 ..< 16).map(Float.init), tokens: 8, width: 2))
        #expect(output.shape == [2, 8])
        #expect(output.values.array == (0 ..< 16).map(Float.init))
        #expect(throws: RuntimeError.self) { try connector.run(S.features([Float](repeating: 0, count: 12), tokens: 6, width: 2)) }
    }

    /// MobileVLM's block pieces on a 5×5 grid: depthwise 3×3 with stride 2 and padding 1, squeeze-excitation,
    /// adaptive average pooling.
    @Test func convolutionSqueezeExciteAndPooling() throws {
        var g = SplitMix(seed: 5)
        let side = 5, c = 8, hidden = 2
        let graph = S.graph([
            S.node("dw", .depthwiseConv(channels: "D", kernel: 3, stride: 2, bias: true), ["image"], "y"),
            S.node("se", .squeezeExcite(channels: "D", hidden: "E"), ["y"], "y"),
            S.node("pool", .pooling(kind: .average, stride: 2, grid: 2), ["y"], "out"),
        ], output: [4, "D"], dimensions: ["N", "D", "E"])
        let w = g.floats(c * 9), b = g.floats(c), f1 = g.floats(hidden * c), b1 = g.floats(hidden), f2 = g.floats(c * hidden), b2 = g.floats(c)
        let x = g.floats(side * side * c)
        let connector = try S.connector(graph, dims: ["D": c, "E": hidden], weights: [
            "dw.weight": ([c, 1, 3, 3], w), "dw.bias": ([c], b), "se.fc1.weight": ([hidden, c, 1, 1], f1), "se.fc1.bias": ([hidden], b1),
            "se.fc2.weight": ([c, hidden, 1, 1], f2), "se.fc2.bias": ([c], b2)])
        let output = try connector.run(S.features(x, tokens: side * side, width: c))
        // Depthwise conv, stride 2, padding 1: 5×5 → 3×3.
        var y = [Double](repeating: 0, count: 9 * c)
        for oy in 0 ..< 3 { for ox in 0 ..< 3 { for ch in 0 ..< c {
            var sum = Double(b[ch])
            for dy in 0 ..< 3 { for dx in 0 ..< 3 {
                let iy = oy * 2 + dy - 1, ix = ox * 2 + dx - 1
                if iy >= 0, iy < side, ix >= 0, ix < side { sum += Double(x[(iy * side + ix) * c + ch]) * Double(w[ch * 9 + dy * 3 + dx]) }
            } }
            y[(oy * 3 + ox) * c + ch] = sum
        } } }
        let mean = (0 ..< c).map { ch in (0 ..< 9).map { y[$0 * c + ch] }.reduce(0, +) / 9 }
        let h = Reference.linear(mean, rows: 1, f1, out: hidden, b1).map { max(0, $0) }
        let s = Reference.linear(h, rows: 1, f2, out: c, b2).map { min(max($0 + 3, 0), 6) / 6 }
        for t in 0 ..< 9 { for ch in 0 ..< c { y[t * c + ch] *= s[ch] } }
        // Adaptive average pooling 3×3 → 2×2: cells span rows/cols [0, 2) and [1, 3).
        var pooled = [Double](repeating: 0, count: 4 * c)
        for cy in 0 ..< 2 { for cx in 0 ..< 2 { for ch in 0 ..< c {
            var sum = 0.0
            for yy in cy ..< cy + 2 { for xx in cx ..< cx + 2 { sum += y[(yy * 3 + xx) * c + ch] } }
            pooled[(cy * 2 + cx) * c + ch] = sum / 4
        } } }
        expectClose(output, pooled)
    }

    @Test func optionalNodeWithoutWeightsPassesItsInputOn() throws {
        var g = SplitMix(seed: 6)
        let graph = S.graph([
            S.node("proj", .linear(in: "D", out: "D", bias: false), ["image"], "x"),
            S.node("image_newline", .imageNewline(dim: "D"), ["x"], "out", optional: true),
        ])
        let w = g.floats(16), x = g.floats(12), newline = g.floats(4)
        let without = try S.connector(graph, dims: ["D": 4], weights: ["proj.weight": ([4, 4], w)])
        let plain = try without.run(S.features(x, tokens: 3, width: 4))
        #expect(plain.shape == [3, 4])
        let with = try S.connector(graph, dims: ["D": 4], weights: ["proj.weight": ([4, 4], w), "image_newline.newline": ([4], newline)])
        let appended = try with.run(S.features(x, tokens: 3, width: 4))
        #expect(appended.shape == [4, 4])
        #expect(Array(appended.values.array.prefix(12)) == plain.values.array)
        #expect(Array(appended.values.array.suffix(4)) == newline)
    }

    @Test func positionTables() throws {
        var g = SplitMix(seed: 8)
        let table = g.floats(5 * 4), x = g.floats(3 * 4)
        let graph = S.graph([S.node("pos", .positionEmbedding(count: "P", dim: "D", layout: .sequence), ["image"], "out")], dimensions: ["N", "D", "P"])
        let connector = try S.connector(graph, dims: ["D": 4, "P": 5], weights: ["pos.table": ([5, 4], table)])
        let output = try connector.run(S.features(x, tokens: 3, width: 4))
        #expect(output.values.array == zip(x, table.prefix(12)).map(+))
        #expect(throws: RuntimeError.self) { try connector.run(S.features(g.floats(24), tokens: 6, width: 4)) }
    }
}
