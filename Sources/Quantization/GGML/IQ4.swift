import CConnkit
import TensorFormats

/// The iq4_nl quantizer (the layouts and decoders are TensorFormats' `Blocks/IQ4Blocks.swift`).
extension IQ4_NL {
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
    /// `quantize_row_iq4_nl_impl(32, 32, x, …, weights = x², ntry = 7)` per block.
    static func quantizeReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
        floatValues.withUnsafeBufferPointer { table in
            let v = table.baseAddress!
            var codes = [UInt8](repeating: 0, count: 32)
            for i in 0 ..< blocks {
                let xb = x + 32 * i
                let yb = y + 18 * i
                var scale: Float = 0
                var amax: Float = 0
                var max: Float = 0
                for j in 0 ..< 32 {
                    let ax = abs(xb[j])
                    if ax > amax {
                        amax = ax
                        max = xb[j]
                    }
                }
                if amax >= KQuantSearch.groupMaxEpsilon {
                    var d = -max / v[0]
                    var id = 1 / d
                    var sumqx: Float = 0
                    var sumq2: Float = 0
                    for j in 0 ..< 32 {
                        let l = bestIndex(v, id * xb[j])
                        let q = v[l]
                        let w = xb[j] * xb[j]
                        sumqx += w * q * xb[j]
                        sumq2 += w * q * q
                    }
                    d = sumq2 > 0 ? sumqx / sumq2 : 0
                    var best = d * sumqx
                    for step in -7 ... 7 {
                        id = Float(step + Int(values[0])) / max
                        sumqx = 0
                        sumq2 = 0
                        for j in 0 ..< 32 {
                            let q = v[bestIndex(v, id * xb[j])]
                            let w = xb[j] * xb[j]
                            sumqx += w * q * xb[j]
                            sumq2 += w * q * q
                        }
                        if sumq2 > 0, sumqx * sumqx > best * sumq2 {
                            d = sumqx / sumq2
                            best = d * sumqx
                        }
                    }
                    scale = d
                }
                yb.storeLE(ggmlFP16(scale), at: 0)
                let id: Float = scale != 0 ? 1 / scale : 0
                for j in 0 ..< 32 { codes[j] = UInt8(bestIndex(v, id * xb[j])) }
                for j in 0 ..< 16 {
                    yb.storeBytes(of: codes[j] | (codes[16 + j] << 4), toByteOffset: 2 + j, as: UInt8.self)
                }
            }
        }
    }

    /// The production kernel: the C target's AVX2 kernel (eight blocks side by side) where the CPU has
    /// it, and `quantizeReference` for the groups it leaves (a non-finite scale) and the tail. Finite
    /// input only (the caller scans first).
    static func quantize(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
        var i = 0
        while i < blocks {
            i += ck_quantize_iq4_nl(x + 32 * i, (y + 18 * i).assumingMemoryBound(to: UInt8.self), blocks - i)
            guard i < blocks else { break }
            let count = min(8, blocks - i)
            quantizeReference(x + 32 * i, y + 18 * i, blocks: count)
            i += count
        }
    }
}
