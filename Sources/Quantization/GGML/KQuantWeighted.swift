import TensorFormats

/// The k-quants' weighted quantizers: ggml's `quantize_row_<type>_impl` given `quant_weights` (what
/// `ggml_quantize_chunk` runs with an importance matrix), transcribed per super-block. They reuse the
/// unweighted searches of KQuantSearch.swift with weights and each type's `storeCodes` (requantization and
/// packing, which ggml writes the same way in both paths); what differs is the weights, the search
/// parameters and how the group scales are encoded (`make_qp_quants` / `make_qx_quants` over the groups,
/// weighted by each group's summed weights, instead of a plain max-based scale).
protocol WeightedKQuant: KQuantBlock {
    /// One super-block weighted by `qw` (its 256 importance weights), with the caller's scratch.
    static func quantizeBlockWeighted(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer,
                                      importance qw: UnsafePointer<Float>, _ s: KQuantScratch)
}

extension WeightedKQuant {
    static func quantizeRowReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, rowLength: Int,
                                     importance: UnsafePointer<Float>) {
        let (elements, bytes) = dtype.layout
        let s = KQuantScratch()
        defer { s.deallocate() }
        for i in 0 ..< rowLength / elements {
            quantizeBlockWeighted(x + elements * i, y + bytes * i, importance: importance + elements * i, s)
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
}

extension Q2_K: WeightedKQuant {
    /// `quantize_row_q2_K_impl`: sigma2 = Σx²/256, `make_qkx3_quants(16, 3, …, -0.9, 0.05, 36, false)` per
    /// group, then `make_qp_quants(16, 15, …)` over the scales and over the minimums.
    static func quantizeBlockWeighted(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer,
                                      importance qw: UnsafePointer<Float>, _ s: KQuantScratch) {
        let sigma2 = KQuantSearch.sumOfSquares(256, x) / 256
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { sw in
            searchGroups(x, qw, sigma2: sigma2, s, sums: sw.baseAddress!) { j, xg in
                (s.scales[j], s.mins[j]) = KQuantSearch.asymmetric(16, 3, xg, s.groupWeights, s.levels + 16 * j, s.trial,
                                                                   rmin: -0.9, rdelta: 0.05, nstep: 36, useMAD: false)
            }
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { codes in
                let ls = codes.baseAddress!, lm = ls + 16
                let dm = KQuantSearch.positive(16, 15, s.scales, ls, weights: sw.baseAddress!)
                let mm = KQuantSearch.positive(16, 15, s.mins, lm, weights: sw.baseAddress!)
                y.storeLE(ggmlFP16(dm), at: 80)
                y.storeLE(ggmlFP16(mm), at: 82)
                for j in 0 ..< 16 { y.storeBytes(of: ls[j] | lm[j] << 4, toByteOffset: j, as: UInt8.self) }
            }
        }
        storeCodes(x, y, s, vector: false)
    }
}

extension Q3_K: WeightedKQuant {
    /// `quantize_row_q3_K_impl`: sigma2 = 2Σx²/256, `make_qx_quants(16, 4, …, weights)` per group, then
    /// `make_qx_quants(16, 32, scales, …, sw)` for the 6-bit scale codes and d.
    static func quantizeBlockWeighted(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer,
                                      importance qw: UnsafePointer<Float>, _ s: KQuantScratch) {
        let sigma2 = 2 * KQuantSearch.sumOfSquares(256, x) / 256
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { sw in
            searchGroups(x, qw, sigma2: sigma2, s, sums: sw.baseAddress!) { j, xg in
                s.scales[j] = KQuantSearch.symmetric(16, 4, xg, s.levels + 16 * j, weights: s.groupWeights)
            }
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) { ls in
                let codes = y + 96
                for k in 0 ..< 12 { codes.storeBytes(of: 0, toByteOffset: k, as: UInt8.self) }
                let dBlock = KQuantSearch.symmetric(16, 32, s.scales, ls.baseAddress!, weights: sw.baseAddress!)
                for j in 0 ..< 16 { packScaleCode(j, ls[j], into: codes) }
                y.storeLE(ggmlFP16(dBlock), at: 108)
            }
        }
        storeCodes(x, y, s, vector: false)
    }
}

extension AsymmetricKQuant {
    /// `quantize_row_q4_K_impl` / `quantize_row_q5_K_impl`: sigma2 = 2Σx²/256,
    /// `make_qkx3_quants(32, 2^bits - 1, …, -0.9, 0.05, 36, false)` per group, then `make_qp_quants(8, 63, …)`
    /// over the scales and over the minimums; q5_k caps the codes at 63, q4_k stores them as they come.
    static func quantizeBlockWeighted(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer,
                                      importance qw: UnsafePointer<Float>, _ s: KQuantScratch) {
        let nmax = Int32((1 << bits) - 1)
        let sigma2 = 2 * KQuantSearch.sumOfSquares(256, x) / 256
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 8) { sw in
            searchGroups(x, qw, sigma2: sigma2, s, sums: sw.baseAddress!) { j, xg in
                (s.scales[j], s.mins[j]) = KQuantSearch.asymmetric(32, nmax, xg, s.groupWeights, s.levels + 32 * j, s.trial,
                                                                   rmin: -0.9, rdelta: 0.05, nstep: 36, useMAD: false)
            }
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) { codes in
                let c = codes.baseAddress!
                let dBlock = KQuantSearch.positive(8, 63, s.scales, c, weights: sw.baseAddress!)
                let mBlock = KQuantSearch.positive(8, 63, s.mins, c + 8, weights: sw.baseAddress!)
                if bits == 5 {
                    for k in 0 ..< 16 { c[k] = min(63, c[k]) }
                }
                packScaleMin(c, into: y + 4)
                y.storeLE(ggmlFP16(dBlock), at: 0)
                y.storeLE(ggmlFP16(mBlock), at: 2)
            }
        }
        storeCodes(x, y, s, vector: false)
    }
}

extension Q4_K: WeightedKQuant {}
extension Q5_K: WeightedKQuant {}

extension Q6_K: WeightedKQuant {
    /// `quantize_row_q6_K_impl`: `make_qx_quants(16, 32, …, qw)` per group with the importance weights
    /// themselves, then the unweighted encoding.
    static func quantizeBlockWeighted(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer,
                                      importance qw: UnsafePointer<Float>, _ s: KQuantScratch) {
        for j in 0 ..< 16 {
            s.scales[j] = KQuantSearch.symmetric(16, 32, x + 16 * j, s.levels + 16 * j, weights: qw + 16 * j)
        }
        finish(x, y, s, vector: false)
    }
}
