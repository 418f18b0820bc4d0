import CConnkit
import TensorFormats

/// The iq4_nl quantizer (layout and decoder: TensorFormats' `Blocks/IQ4Blocks.swift`): the reference
/// below, and the C target's AVX2 kernel (`quant_iq4.c`, eight blocks side by side) which leaves the groups
/// it cannot do (a non-finite scale) and the tail to the reference. Without AVX2 the reference runs.
extension IQ4_NL: BlockQuantizer {
    static var facts: BlockFacts { BlockFacts(bits: 4, fileType: 25, takesImportance: true) }
    static var vectorGroup: Int { 8 }

    /// Finite input only (the driver scans first).
    static func quantizeVector(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int, finite: inout Bool) -> Int {
        ck_quantize_iq4_nl(x, y.assumingMemoryBound(to: UInt8.self), blocks)
    }

    /// `best_index_int8(16, kvalues_iq4nl, x)`: binary search for the bracketing pair, then the nearer
    /// one (the upper on a tie). NaN ends at index 15, as the C comparisons do.
    @inline(__always)
    static func bestIndex(_ v: UnsafePointer<Float>, _ x: Float) -> Int {
        if x <= v[0] { return 0 }
        if x >= v[15] { return 15 }
        var ml = 0
        var mu = 15
        while mu - ml > 1 {
            let mav = (ml + mu) / 2
            if x < v[mav] { mu = mav } else { ml = mav }
        }
        return x - v[mu - 1] < v[mu] - x ? mu - 1 : mu
    }

    /// `quantize_iq4_nl` without an importance matrix, as `ggml_quantize_chunk` calls it:
    /// `quantize_row_iq4_nl_impl(32, 32, x, …, weights = x², ntry = 7)`, one block.
    static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        quantizeBlockReference(x, y, weights: nil)
    }

    /// `quantize_iq4_nl` with an importance matrix: per block, sigma2 = Σx² · (2/32) and weights
    /// qw·sqrtf(sigma2 + x²), then the same search.
    static func quantizeRowReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, rowLength: Int,
                                     importance: UnsafePointer<Float>) {
        let (n, bytes) = dtype.layout
        withUnsafeTemporaryAllocation(of: Float.self, capacity: n) { weights in
            for block in 0 ..< rowLength / n {
                let xb = x + n * block
                let sigma2 = KQuantSearch.sumOfSquares(n, xb) * (2 / Float(n))
                KQuantSearch.importanceWeights(n, xb, importance: importance + n * block, sigma2: sigma2, into: weights.baseAddress!)
                quantizeBlockReference(xb, y + bytes * block, weights: weights.baseAddress!)
            }
        }
    }

    /// `quantize_row_iq4_nl_impl(32, 32, x, …, weights, ntry = 7)` for one block; nil weights: x².
    static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, weights: UnsafePointer<Float>?) {
        let n = dtype.layout.blockElements
        floatValues.withUnsafeBufferPointer { table in
            let v = table.baseAddress!
            /// Σ w·q·x and Σ w·q² (w = x²) with q the table value nearest to id·x.
            @inline(__always) func sums(_ id: Float) -> (sumqx: Float, sumq2: Float) {
                var sumqx: Float = 0
                var sumq2: Float = 0
                for j in 0 ..< n {
                    let q = v[bestIndex(v, id * x[j])]
                    let w = weights?[j] ?? x[j] * x[j]
                    sumqx += w * q * x[j]
                    sumq2 += w * q * q
                }
                return (sumqx, sumq2)
            }
            var scale: Float = 0
            let (amax, max) = signedAbsMax(x, n)
            if amax >= KQuantSearch.groupMaxEpsilon {
                var (sumqx, sumq2) = sums(1 / (-max / v[0]))
                var d = sumq2 > 0 ? sumqx / sumq2 : 0
                var best = d * sumqx
                for step in -7 ... 7 {
                    (sumqx, sumq2) = sums(Float(step + Int(values[0])) / max)
                    if sumq2 > 0, sumqx * sumqx > best * sumq2 {
                        d = sumqx / sumq2
                        best = d * sumqx
                    }
                }
                scale = d
            }
            y.storeLE(ggmlFP16(scale), at: 0)
            let id: Float = scale != 0 ? 1 / scale : 0
            storeLegacyCodes(y, header: 2, bits: 4, count: n) { UInt8(bestIndex(v, id * x[$0])) }
        }
    }
}
