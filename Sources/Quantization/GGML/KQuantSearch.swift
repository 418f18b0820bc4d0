/// The scale searches of ggml's k-quants (`make_qx_quants`, `make_q3_quants`, `make_qkx2_quants`,
/// `make_qp_quants` in ggml-quants.c), transcribed for one group of values; the weighted quantizers
/// (importance matrix) use the same searches with their weights. Every expression keeps C's evaluation
/// order (`w*x*l` is `(w*x)*l`), sums run in index order, and float comparisons keep C's operand order (a
/// NaN compares false), as the float32 reference computes them. `KQuantSearchSIMD.swift` runs the
/// unweighted searches for many groups at once, one group per lane.
enum KQuantSearch {
    /// Below this magnitude a group counts as all zero (`GROUP_MAX_EPS`).
    static let groupMaxEpsilon: Float = 1e-15

    /// Σ w·x·l and Σ w·l² (w = `weights[i]`, else x², in index order) over l = clamp(nearest_int(iscale·x),
    /// -nmax, nmax - 1); `store` receives each element's l.
    @inline(__always)
    static func symmetricSums(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, iscale: Float, weights: UnsafePointer<Float>?,
                              _ store: (Int, Int32) -> Void) -> (sumlx: Float, suml2: Float) {
        var sumlx: Float = 0
        var suml2: Float = 0
        for i in 0 ..< n {
            let l = Swift.max(-nmax, Swift.min(nmax - 1, nearestInt(iscale * x[i])))
            store(i, l)
            let w = weights?[i] ?? x[i] * x[i]
            let fl = Float(l)
            sumlx += w * x[i] * fl
            suml2 += w * fl * fl
        }
        return (sumlx, suml2)
    }

    /// The symmetric searches' first pass: nil (all codes 0) for a group below GROUP_MAX_EPS; else the
    /// signed value of largest magnitude and the sums at iscale = -nmax / max, each code l + `offset`.
    @inline(__always)
    static func symmetricStart<Code: FixedWidthInteger>(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>,
                                                        _ codes: UnsafeMutablePointer<Code>, offset: Int32,
                                                        weights: UnsafePointer<Float>? = nil)
        -> (max: Float, sumlx: Float, suml2: Float)? {
        let (amax, max) = signedAbsMax(x, n)
        if amax < groupMaxEpsilon {
            for i in 0 ..< n { codes[i] = 0 }
            return nil
        }
        let (sumlx, suml2) = symmetricSums(n, nmax, x, iscale: Float(-nmax) / max, weights: weights) { i, l in
            codes[i] = Code(truncatingIfNeeded: l + offset)
        }
        return (max, sumlx, suml2)
    }

    /// `make_qx_quants(n, nmax, x, L, rmse_type = 1, qw = weights)`: symmetric codes `L` in 0..<2*nmax and
    /// the (signed) scale; without weights, each element's weight is x².
    static func symmetric(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ codes: UnsafeMutablePointer<UInt8>,
                          weights: UnsafePointer<Float>? = nil) -> Float {
        guard let start = symmetricStart(n, nmax, x, codes, offset: nmax, weights: weights) else { return 0 }
        let max = start.max
        var (sumlx, suml2) = (start.sumlx, start.suml2)
        var scale: Float = suml2 != 0 ? sumlx / suml2 : 0
        var best = scale * sumlx
        for step in -9 ... 9 where step != 0 {
            let iscale = -(Float(nmax) + 0.1 * Float(step)) / max
            (sumlx, suml2) = symmetricSums(n, nmax, x, iscale: iscale, weights: weights) { _, _ in }
            if suml2 > 0, sumlx * sumlx > best * suml2 {
                for i in 0 ..< n {
                    let l = Swift.max(-nmax, Swift.min(nmax - 1, nearestInt(iscale * x[i])))
                    codes[i] = UInt8(truncatingIfNeeded: nmax + l)
                }
                scale = sumlx / suml2
                best = scale * sumlx
            }
        }
        return scale
    }

    /// `make_q3_quants(n, nmax, x, L, do_rmse = true)`: codes in 0..<2*nmax refined by up to five
    /// coordinate-descent passes; returns the scale.
    static func symmetricRefined(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ codes: UnsafeMutablePointer<Int8>) -> Float {
        guard var (_, sumlx, suml2) = symmetricStart(n, nmax, x, codes, offset: 0) else { return 0 }
        for _ in 0 ..< 5 {
            var changed = 0
            for i in 0 ..< n {
                let w = x[i] * x[i]
                let current = Float(codes[i])
                var slx = sumlx - w * x[i] * current
                if slx > 0 {
                    var sl2 = suml2 - w * current * current
                    let newL = Swift.max(-nmax, Swift.min(nmax - 1, nearestInt(x[i] * sl2 / slx)))
                    if newL != Int32(codes[i]) {
                        let fl = Float(newL)
                        slx += w * x[i] * fl
                        sl2 += w * fl * fl
                        if sl2 > 0, slx * slx * suml2 > sumlx * sumlx * sl2 {
                            codes[i] = Int8(truncatingIfNeeded: newL)
                            sumlx = slx
                            suml2 = sl2
                            changed += 1
                        }
                    }
                }
            }
            if changed == 0 { break }
        }
        for i in 0 ..< n { codes[i] = codes[i] &+ Int8(truncatingIfNeeded: nmax) }
        return suml2 > 0 ? sumlx / suml2 : 0
    }

    /// `make_qkx2_quants`: asymmetric codes in 0...nmax with a non-positive offset, searched over
    /// `nstep + 1` candidate scales; returns (scale, -min). Also `make_qkx3_quants` with weights (the
    /// weighted quantizers' search): the two differ only in the flat test (`max <= min` against
    /// `max == min`), which agree on the finite values the driver admits.
    static func asymmetric(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>,
                           _ codes: UnsafeMutablePointer<UInt8>, _ scratch: UnsafeMutablePointer<UInt8>,
                           rmin: Float, rdelta: Float, nstep: Int, useMAD: Bool) -> (scale: Float, negatedMin: Float) {
        var min = x[0]
        var max = x[0]
        var sumW = weights[0]
        var sumX = sumW * x[0]
        for i in 1 ..< n {
            if x[i] < min { min = x[i] }
            if x[i] > max { max = x[i] }
            let w = weights[i]
            sumW += w
            sumX += w * x[i]
        }
        if min > 0 { min = 0 }
        if max == min {
            for i in 0 ..< n { codes[i] = 0 }
            return (0, -min)
        }
        let fnmax = Float(nmax)
        var iscale = fnmax / (max - min)
        var scale = 1 / iscale
        var bestError: Float = 0
        for i in 0 ..< n {
            let l = Swift.max(0, Swift.min(nmax, nearestInt(iscale * (x[i] - min))))
            codes[i] = UInt8(truncatingIfNeeded: l)
            var diff = scale * Float(codes[i]) + min - x[i]
            diff = useMAD ? abs(diff) : diff * diff
            bestError += weights[i] * diff
        }
        if nstep < 1 { return (scale, -min) }
        for step in 0 ... nstep {
            iscale = (rmin + rdelta * Float(step) + fnmax) / (max - min)
            var sumL: Float = 0
            var sumL2: Float = 0
            var sumXL: Float = 0
            for i in 0 ..< n {
                let l = Swift.max(0, Swift.min(nmax, nearestInt(iscale * (x[i] - min))))
                scratch[i] = UInt8(truncatingIfNeeded: l)
                let w = weights[i]
                let fl = Float(l)
                sumL += w * fl
                sumL2 += w * fl * fl
                sumXL += w * fl * x[i]
            }
            let D = sumW * sumL2 - sumL * sumL
            if D > 0 {
                var thisScale = (sumW * sumXL - sumX * sumL) / D
                var thisMin = (sumL2 * sumX - sumL * sumXL) / D
                if thisMin > 0 {
                    thisMin = 0
                    thisScale = sumXL / sumL2
                }
                var error: Float = 0
                for i in 0 ..< n {
                    var diff = thisScale * Float(scratch[i]) + thisMin - x[i]
                    diff = useMAD ? abs(diff) : diff * diff
                    error += weights[i] * diff
                }
                if error < bestError {
                    for i in 0 ..< n { codes[i] = scratch[i] }
                    bestError = error
                    scale = thisScale
                    min = thisMin
                }
            }
        }
        return (scale, -min)
    }

    /// `make_qp_quants(n, nmax, x, L, quant_weights)`: codes in 0...nmax (C's `uint8_t`, so a negative
    /// code wraps) for non-negative values `x` (the groups' scales or minimums of a weighted super-block),
    /// a scale search over nine candidates by weighted squared error, then up to five coordinate-descent
    /// passes; returns the scale.
    static func positive(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ codes: UnsafeMutablePointer<UInt8>,
                         weights: UnsafePointer<Float>) -> Float {
        var max: Float = 0
        for i in 0 ..< n { max = max > x[i] ? max : x[i] }
        if max < groupMaxEpsilon {
            for i in 0 ..< n { codes[i] = 0 }
            return 0
        }
        let fnmax = Float(nmax)
        var iscale = fnmax / max
        for i in 0 ..< n { codes[i] = UInt8(truncatingIfNeeded: nearestInt(iscale * x[i])) }
        let scale = 1 / iscale
        var bestError: Float = 0
        for i in 0 ..< n {
            let diff = x[i] - scale * Float(codes[i])
            bestError += weights[i] * diff * diff
        }
        for step in -4 ... 4 where step != 0 {
            let trialIscale = (0.1 * Float(step) + fnmax) / max
            let trialScale = 1 / trialIscale
            var error: Float = 0
            for i in 0 ..< n {
                let l = Swift.min(nmax, nearestInt(trialIscale * x[i]))
                let diff = x[i] - trialScale * Float(l)
                error += weights[i] * diff * diff
            }
            if error < bestError {
                bestError = error
                iscale = trialIscale
            }
        }
        var sumlx: Float = 0
        var suml2: Float = 0
        for i in 0 ..< n {
            let l = Swift.min(nmax, nearestInt(iscale * x[i]))
            codes[i] = UInt8(truncatingIfNeeded: l)
            let w = weights[i]
            let fl = Float(l)
            sumlx += w * x[i] * fl
            suml2 += w * fl * fl
        }
        for _ in 0 ..< 5 {
            var changed = 0
            for i in 0 ..< n {
                let w = weights[i]
                let current = Float(codes[i])
                var slx = sumlx - w * x[i] * current
                var sl2 = suml2 - w * current * current
                if slx > 0, sl2 > 0 {
                    let newL = Swift.min(nmax, nearestInt(x[i] * sl2 / slx))
                    if newL != Int32(codes[i]) {
                        let fl = Float(newL)
                        slx += w * x[i] * fl
                        sl2 += w * fl * fl
                        if slx * slx * suml2 > sumlx * sumlx * sl2 {
                            codes[i] = UInt8(truncatingIfNeeded: newL)
                            sumlx = slx
                            suml2 = sl2
                            changed += 1
                        }
                    }
                }
            }
            if changed == 0 { break }
        }
        return suml2 > 0 ? sumlx / suml2 : 0
    }

    /// The weights of ggml's weighted quantizers: `weight[i] = qw[i] * sqrtf(sigma2 + x[i]*x[i])` for `n`
    /// values, where `sigma2` is the type's spread statistic of the row or super-block; returns their sum in
    /// index order (the k-quants' `sw`).
    @discardableResult
    static func importanceWeights(_ n: Int, _ x: UnsafePointer<Float>, importance qw: UnsafePointer<Float>, sigma2: Float,
                                  into weights: UnsafeMutablePointer<Float>) -> Float {
        var sum: Float = 0
        for i in 0 ..< n {
            weights[i] = qw[i] * (sigma2 + x[i] * x[i]).squareRoot()
            sum += weights[i]
        }
        return sum
    }

    /// Σ x² over `n` values in index order (ggml's `sum_x2`).
    static func sumOfSquares(_ n: Int, _ x: UnsafePointer<Float>) -> Float {
        var sum: Float = 0
        for i in 0 ..< n { sum += x[i] * x[i] }
        return sum
    }
}
