import TensorFormats

/// A type whose weighted quantizer has a Swift kernel beside the reference (the k-quants, q4_1, q5_1): one
/// row function, `vector` choosing the kernel.
protocol WeightedKernels: BlockQuantizer {
    static func quantizeRowWeighted(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, rowLength: Int,
                                    importance: UnsafePointer<Float>, vector: Bool)
}

extension WeightedKernels {
    static func quantizeRowReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, rowLength: Int,
                                     importance: UnsafePointer<Float>) {
        quantizeRowWeighted(x, y, rowLength: rowLength, importance: importance, vector: false)
    }

    static func quantizeRowPortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, rowLength: Int,
                                    importance: UnsafePointer<Float>) {
        quantizeRowWeighted(x, y, rowLength: rowLength, importance: importance, vector: true)
    }
}

/// The k-quants' weighted quantizers: ggml's `quantize_row_<type>_impl` given `quant_weights` (what
/// `ggml_quantize_chunk` runs with an importance matrix), transcribed per super-block. They reuse the
/// unweighted searches of KQuantSearch.swift with weights and each type's `storeCodes` (requantization and
/// packing, which ggml writes the same way in both paths); what differs is the weights, the search
/// parameters and how the group scales are encoded (`make_qp_quants` / `make_qx_quants` over the groups,
/// weighted by each group's summed weights, instead of a plain max-based scale).
///
/// A super-block is a search (`searchWeighted`: each group's scale, minimum and codes, and the sum of its
/// weights) and an encoding (`encodeWeighted`). The portable kernel of q2_k, q4_k and q5_k runs the search
/// four groups at once (`KQuantSearchSIMD.asymmetricWeighted`: the unweighted kernel's search given these weights)
/// and falls back to the scalar search for a super-block it cannot do exactly.
protocol WeightedKQuant: KQuantBlock, WeightedKernels {
    /// The scalar search of a super-block weighted by `qw` (its 256 importance weights): scales, minimums
    /// and codes into `s`, each group's summed weights into `sums`.
    static func searchWeighted(_ x: UnsafePointer<Float>, importance qw: UnsafePointer<Float>, _ s: KQuantScratch,
                               sums: UnsafeMutablePointer<Float>)
    /// The same four groups at a time; false when a lane leaves the exact range (nothing is kept).
    static func searchWeightedQuads(_ x: UnsafePointer<Float>, importance qw: UnsafePointer<Float>, _ s: KQuantScratch,
                                    sums: UnsafeMutablePointer<Float>) -> Bool
    /// Encodes the groups' scales (weighted by `sums`), stores the fields and the codes.
    static func encodeWeighted(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ s: KQuantScratch,
                               sums: UnsafeMutablePointer<Float>, vector: Bool)
}

extension WeightedKQuant {
    static func searchWeightedQuads(_ x: UnsafePointer<Float>, importance qw: UnsafePointer<Float>, _ s: KQuantScratch,
                                    sums: UnsafeMutablePointer<Float>) -> Bool {
        false
    }

    /// The row's super-blocks: the search (four groups at once when `vector`, unless a lane leaves the
    /// exact range), then the encoding.
    static func quantizeRowWeighted(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, rowLength: Int,
                                    importance: UnsafePointer<Float>, vector: Bool) {
        let (elements, bytes) = dtype.layout
        let s = KQuantScratch()
        defer { s.deallocate() }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { buffer in
            let sums = buffer.baseAddress!
            for i in 0 ..< rowLength / elements {
                let xb = x + elements * i
                let qw = importance + elements * i
                let simd = vector && searchWeightedQuads(xb, importance: qw, s, sums: sums)
                if !simd { searchWeighted(xb, importance: qw, s, sums: sums) }
                encodeWeighted(xb, y + bytes * i, s, sums: sums, vector: simd)
            }
        }
    }
}

extension KQuantBlock {
    /// The groups' importance weights (`weight[l] = qw[l] * sqrtf(sigma2 + x[l]²)`) into `s.groupWeights`
    /// and their sum into `sums[j]`, then `search` for each group.
    @inline(__always)
    static func searchGroups(_ x: UnsafePointer<Float>, _ qw: UnsafePointer<Float>, sigma2: Float, _ s: KQuantScratch,
                             sums: UnsafeMutablePointer<Float>, _ search: (Int, UnsafePointer<Float>) -> Void) {
        let n = groupSize
        for j in 0 ..< dtype.layout.blockElements / n {
            sums[j] = KQuantSearch.importanceWeights(n, x + n * j, importance: qw + n * j, sigma2: sigma2, into: s.groupWeights)
            search(j, x + n * j)
        }
    }

    /// `make_qkx3_quants(groupSize, nmax, x, weights, L, &min, Laux, -0.9, 0.05, 36, false)` per group, the
    /// weighted asymmetric search of q2_k, q4_k and q5_k; `vector`: four groups at once (false when a lane
    /// leaves the exact range).
    @inline(__always)
    static func searchAsymmetricWeighted(_ x: UnsafePointer<Float>, _ qw: UnsafePointer<Float>, sigma2: Float, nmax: Int32,
                                         _ s: KQuantScratch, sums: UnsafeMutablePointer<Float>, vector: Bool) -> Bool {
        let n = groupSize
        guard vector else {
            searchGroups(x, qw, sigma2: sigma2, s, sums: sums) { j, xg in
                (s.scales[j], s.mins[j]) = KQuantSearch.asymmetric(n, nmax, xg, s.groupWeights, s.levels + n * j, s.trial,
                                                                   rmin: -0.9, rdelta: 0.05, nstep: 36, useMAD: false)
            }
            return true
        }
        let groups = dtype.layout.blockElements / n
        s.transpose(x, groupSize: n, groups: groups)
        s.transpose(qw, groupSize: n, groups: groups, into: s.weights)
        for q in 0 ..< groups / 4 {
            guard let (scale, negatedMin, sum) = KQuantSearchSIMD.asymmetricWeighted(
                n, nmax, s.values + n * q, s.weights + n * q, sigma2: sigma2, s.codes + n * q, s.work)
            else { return false }
            for lane in 0 ..< 4 {
                s.scales[4 * q + lane] = scale[lane]
                s.mins[4 * q + lane] = negatedMin[lane]
                sums[4 * q + lane] = sum[lane]
            }
            s.storeLevels(quad: q, groupSize: n)
        }
        return true
    }
}

extension KQuantSearchSIMD {
    /// `make_qkx3_quants(n, nmax, x, weights, L, &min, Laux, -0.9, 0.05, 36, false)` for four groups (the
    /// search of ggml's weighted q2_k, q4_k, q5_k, q4_1 and q5_1) with ggml's weights qw·sqrtf(sigma2 + x²):
    /// `w` holds the groups' transposed importance on entry and their weights after. Returns (scale, -min,
    /// Σ weights) per lane, or nil where `asymmetric` does.
    @inline(__always)
    static func asymmetricWeighted(_ n: Int, _ nmax: Int32, _ v: UnsafePointer<F4>, _ w: UnsafeMutablePointer<F4>, sigma2: Float,
                                   _ codes: UnsafeMutablePointer<F4>, _ work: UnsafeMutablePointer<F4>)
        -> (scale: F4, negatedMin: F4, sums: F4)? {
        var sum = F4()
        for l in 0 ..< n {
            w[l] = w[l] * (F4(repeating: sigma2) + v[l] * v[l]).squareRoot()
            sum += w[l]
        }
        guard let (scale, negatedMin) = asymmetric(n, Float(nmax), v, w, codes, work, rmin: -0.9, rdelta: 0.05, nstep: 36, useMAD: false)
        else { return nil }
        return (scale, negatedMin, sum)
    }
}

extension Q2_K: WeightedKQuant {
    /// `quantize_row_q2_K_impl`: sigma2 = Σx²/256, `make_qkx3_quants(16, 3, …)` per group.
    static func searchWeighted(_ x: UnsafePointer<Float>, importance qw: UnsafePointer<Float>, _ s: KQuantScratch,
                               sums: UnsafeMutablePointer<Float>) {
        _ = searchAsymmetricWeighted(x, qw, sigma2: KQuantSearch.sumOfSquares(256, x) / 256, nmax: 3, s, sums: sums, vector: false)
    }

    static func searchWeightedQuads(_ x: UnsafePointer<Float>, importance qw: UnsafePointer<Float>, _ s: KQuantScratch,
                                    sums: UnsafeMutablePointer<Float>) -> Bool {
        searchAsymmetricWeighted(x, qw, sigma2: KQuantSearch.sumOfSquares(256, x) / 256, nmax: 3, s, sums: sums, vector: true)
    }

    /// `make_qp_quants(16, 15, …)` over the scales and over the minimums: d, dmin and the 4-bit codes.
    static func encodeWeighted(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ s: KQuantScratch,
                               sums: UnsafeMutablePointer<Float>, vector: Bool) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { codes in
            let ls = codes.baseAddress!, lm = ls + 16
            let dm = KQuantSearch.positive(16, 15, s.scales, ls, weights: sums)
            let mm = KQuantSearch.positive(16, 15, s.mins, lm, weights: sums)
            y.storeLE(ggmlFP16(dm), at: 80)
            y.storeLE(ggmlFP16(mm), at: 82)
            for j in 0 ..< 16 { y.storeBytes(of: ls[j] | lm[j] << 4, toByteOffset: j, as: UInt8.self) }
        }
        storeCodes(x, y, s, vector: vector)
    }
}

extension Q3_K: WeightedKQuant {
    /// `quantize_row_q3_K_impl`: sigma2 = 2Σx²/256, `make_qx_quants(16, 4, …, weights)` per group.
    static func searchWeighted(_ x: UnsafePointer<Float>, importance qw: UnsafePointer<Float>, _ s: KQuantScratch,
                               sums: UnsafeMutablePointer<Float>) {
        let sigma2 = 2 * KQuantSearch.sumOfSquares(256, x) / 256
        searchGroups(x, qw, sigma2: sigma2, s, sums: sums) { j, xg in
            s.scales[j] = KQuantSearch.symmetric(16, 4, xg, s.levels + 16 * j, weights: s.groupWeights)
        }
    }

    /// `make_qx_quants(16, 32, scales, …, sw)`: the 6-bit scale codes and d.
    static func encodeWeighted(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ s: KQuantScratch,
                               sums: UnsafeMutablePointer<Float>, vector: Bool) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) { ls in
            let codes = y + 96
            for k in 0 ..< 12 { codes.storeBytes(of: 0, toByteOffset: k, as: UInt8.self) }
            let dBlock = KQuantSearch.symmetric(16, 32, s.scales, ls.baseAddress!, weights: sums)
            for j in 0 ..< 16 { packScaleCode(j, ls[j], into: codes) }
            y.storeLE(ggmlFP16(dBlock), at: 108)
        }
        storeCodes(x, y, s, vector: vector)
    }
}

extension AsymmetricKQuant where Self: WeightedKQuant {
    /// `quantize_row_q4_K_impl` / `quantize_row_q5_K_impl`: sigma2 = 2Σx²/256,
    /// `make_qkx3_quants(32, 2^bits - 1, …)` per group.
    static func searchWeighted(_ x: UnsafePointer<Float>, importance qw: UnsafePointer<Float>, _ s: KQuantScratch,
                               sums: UnsafeMutablePointer<Float>) {
        _ = searchAsymmetricWeighted(x, qw, sigma2: 2 * KQuantSearch.sumOfSquares(256, x) / 256, nmax: Int32((1 << bits) - 1),
                                     s, sums: sums, vector: false)
    }

    static func searchWeightedQuads(_ x: UnsafePointer<Float>, importance qw: UnsafePointer<Float>, _ s: KQuantScratch,
                                    sums: UnsafeMutablePointer<Float>) -> Bool {
        searchAsymmetricWeighted(x, qw, sigma2: 2 * KQuantSearch.sumOfSquares(256, x) / 256, nmax: Int32((1 << bits) - 1),
                                 s, sums: sums, vector: true)
    }

    /// `make_qp_quants(8, 63, …)` over the scales and over the minimums; q5_k caps the codes at 63, q4_k
    /// stores them as they come.
    static func encodeWeighted(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ s: KQuantScratch,
                               sums: UnsafeMutablePointer<Float>, vector: Bool) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) { codes in
            let c = codes.baseAddress!
            let dBlock = KQuantSearch.positive(8, 63, s.scales, c, weights: sums)
            let mBlock = KQuantSearch.positive(8, 63, s.mins, c + 8, weights: sums)
            if bits == 5 {
                for k in 0 ..< 16 { c[k] = min(63, c[k]) }
            }
            packScaleMin(c, into: y + 4)
            y.storeLE(ggmlFP16(dBlock), at: 0)
            y.storeLE(ggmlFP16(mBlock), at: 2)
        }
        storeCodes(x, y, s, vector: vector)
    }
}

extension Q4_K: WeightedKQuant {}
extension Q5_K: WeightedKQuant {}

extension Q6_K: WeightedKQuant {
    /// `quantize_row_q6_K_impl`: `make_qx_quants(16, 32, …, qw)` per group with the importance weights
    /// themselves (no sums: the encoding is the unweighted one).
    static func searchWeighted(_ x: UnsafePointer<Float>, importance qw: UnsafePointer<Float>, _ s: KQuantScratch,
                               sums: UnsafeMutablePointer<Float>) {
        for j in 0 ..< 16 {
            s.scales[j] = KQuantSearch.symmetric(16, 32, x + 16 * j, s.levels + 16 * j, weights: qw + 16 * j)
        }
    }

    static func encodeWeighted(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ s: KQuantScratch,
                               sums: UnsafeMutablePointer<Float>, vector: Bool) {
        finish(x, y, s, vector: vector)
    }
}
