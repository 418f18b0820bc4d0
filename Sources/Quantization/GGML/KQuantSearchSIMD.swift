/// The k-quant scale searches of `KQuantSearch`, run for four groups at once: lane g of every vector
/// belongs to group g, and element i of the four groups is the vector `x[i]` (the caller transposes).
/// Each lane performs exactly the scalar function's float32 operations in the same order (sums stay
/// sequential per group), so the results are bit-identical; branches become lane masks.
///
/// Two shortcuts are exact only within bounds, and the searches return nil (the caller then runs the
/// scalar reference for the whole super-block) when a lane leaves them:
/// * rounding `v` to the nearest integer as `(v + 1.5·2^23) - 1.5·2^23` equals `nearest_int(v)` for
///   |v| < 2^22; the searches scale values into a few code widths, so this holds whenever the scales
///   they compute are finite, which they check;
/// * clamping after a float conversion equals clamping the integer.
/// Where the operand is not bounded (the k-quants' requantization, make_q3_quants' refinement step)
/// the exact bit-level `nearestInt` is used instead.
enum KQuantSearchSIMD {
    /// nearest_int for |v| < 2^22, as a float.
    @_transparent
    static func roundBounded(_ v: F4) -> F4 {
        (v + 12_582_912) - 12_582_912
    }

    @_transparent
    static func clamp(_ v: F4, _ low: Float, _ high: Float) -> F4 {
        v.laneMax(F4(repeating: low)).laneMin(F4(repeating: high))
    }

    /// `make_qkx2_quants` for four groups. `codes[i]` receives the final codes (0...nmax, as floats).
    /// Returns (scale, -min) per lane, or nil when a lane's scale is not finite.
    @inline(__always)
    static func asymmetric(_ n: Int, _ nmax: Float, _ x: UnsafePointer<F4>, _ weights: UnsafePointer<F4>,
                           _ codes: UnsafeMutablePointer<F4>, _ scratch: UnsafeMutablePointer<F4>,
                           rmin: Float, rdelta: Float, nstep: Int, useMAD: Bool) -> (scale: F4, negatedMin: F4)? {
        var min = x[0]
        var max = x[0]
        var sumW = weights[0]
        var sumX = sumW * x[0]
        for i in 1 ..< n {
            min = min.replacing(with: x[i], where: x[i] .< min)
            max = max.replacing(with: x[i], where: x[i] .> max)
            let w = weights[i]
            sumW += w
            sumX += w * x[i]
        }
        min = min.replacing(with: 0, where: min .> 0)
        let flat = max .== min
        let range = max - min
        var iscale = F4(repeating: nmax) / range
        // Lanes that are not flat need a finite range and scale (else C's out-of-range nearest_int
        // results matter); flat lanes are overwritten at the end.
        let finite = (range.magnitude .< .infinity) .& ((iscale.magnitude .< .infinity) .| flat)
        if !all(finite) { return nil }
        var scale = F4(repeating: 1) / iscale
        var bestError = F4()
        for i in 0 ..< n {
            let l = clamp(roundBounded(iscale * (x[i] - min)), 0, nmax)
            var diff = scale * l + min - x[i]
            diff = useMAD ? diff.magnitude : diff * diff
            bestError += weights[i] * diff
        }
        // The codes are a function of (iscale, min) at the time they were taken: remember those.
        var bestIscale = iscale
        var bestMin = min
        for step in 0 ... nstep {
            iscale = (F4(repeating: rmin + rdelta * Float(step)) + nmax) / (max - min)
            if !all((iscale.magnitude .< .infinity) .| flat) { return nil }
            var sumL = F4()
            var sumL2 = F4()
            var sumXL = F4()
            for i in 0 ..< n {
                let l = clamp(roundBounded(iscale * (x[i] - min)), 0, nmax)
                scratch[i] = l
                let w = weights[i]
                sumL += w * l
                sumL2 += w * l * l
                sumXL += w * l * x[i]
            }
            let D = sumW * sumL2 - sumL * sumL
            let solvable = D .> 0
            if !any(solvable) { continue }
            var thisScale = (sumW * sumXL - sumX * sumL) / D
            var thisMin = (sumL2 * sumX - sumL * sumXL) / D
            let positive = thisMin .> 0
            thisMin = thisMin.replacing(with: 0, where: positive)
            thisScale = thisScale.replacing(with: sumXL / sumL2, where: positive)
            var error = F4()
            for i in 0 ..< n {
                var diff = thisScale * scratch[i] + thisMin - x[i]
                diff = useMAD ? diff.magnitude : diff * diff
                error += weights[i] * diff
            }
            let better = solvable .& (error .< bestError)
            bestError = bestError.replacing(with: error, where: better)
            scale = scale.replacing(with: thisScale, where: better)
            bestIscale = bestIscale.replacing(with: iscale, where: better)
            bestMin = bestMin.replacing(with: min, where: better)
            min = min.replacing(with: thisMin, where: better)
        }
        for i in 0 ..< n {
            let l = clamp(roundBounded(bestIscale * (x[i] - bestMin)), 0, nmax)
            codes[i] = l.replacing(with: 0, where: flat)
        }
        // -min with C's sign of zero (SIMD4's prefix minus gives +0 for +0 here; times -1 is exact): the
        // weighted q4_1/q5_1 store -(-min) as an f16, where the sign shows.
        return (scale.replacing(with: 0, where: flat), min * -1)
    }

    /// The symmetric searches' start, lane by lane: the signed value of largest magnitude (`max`), the
    /// lanes below GROUP_MAX_EPS (`zero`) and the first inverse scale -nmax / max; nil when that is not
    /// finite in a lane that is not zero.
    @inline(__always)
    static func symmetricStart(_ n: Int, _ nmax: Float, _ x: UnsafePointer<F4>) -> (max: F4, zero: SIMDMask<I4>, iscale: F4)? {
        var max = F4()
        var amax = F4()
        for i in 0 ..< n {
            let ax = x[i].magnitude
            let larger = ax .> amax
            amax = amax.replacing(with: ax, where: larger)
            max = max.replacing(with: x[i], where: larger)
        }
        let zero = amax .< KQuantSearch.groupMaxEpsilon
        let iscale = F4(repeating: -nmax) / max
        return all((iscale.magnitude .< .infinity) .| zero) ? (max, zero, iscale) : nil
    }

    /// `make_qx_quants(n, nmax, x, L, rmse_type = 1, NULL)` for four groups; codes in 0..<2*nmax.
    @inline(__always)
    static func symmetric(_ n: Int, _ nmax: Float, _ x: UnsafePointer<F4>, _ codes: UnsafeMutablePointer<F4>) -> F4? {
        // |iscale * x| <= nmax + 1 for every lane that is not all zero.
        guard let (max, zero, firstIscale) = symmetricStart(n, nmax, x) else { return nil }
        var iscale = firstIscale
        @_transparent func sums(_ iscale: F4) -> (F4, F4) {
            var sumlx = F4()
            var suml2 = F4()
            for i in 0 ..< n {
                let l = clamp(roundBounded(iscale * x[i]), -nmax, nmax - 1)
                let w = x[i] * x[i]
                sumlx += w * x[i] * l
                suml2 += w * l * l
            }
            return (sumlx, suml2)
        }
        var (sumlx, suml2) = sums(iscale)
        var scale = (sumlx / suml2).replacing(with: 0, where: suml2 .== 0)
        var best = scale * sumlx
        var bestIscale = iscale
        for step in -9 ... 9 where step != 0 {
            iscale = -(F4(repeating: nmax) + 0.1 * Float(step)) / max
            if !all((iscale.magnitude .< .infinity) .| zero) { return nil }
            (sumlx, suml2) = sums(iscale)
            let better = (suml2 .> 0) .& (sumlx * sumlx .> best * suml2)
            let newScale = sumlx / suml2
            scale = scale.replacing(with: newScale, where: better)
            best = best.replacing(with: newScale * sumlx, where: better)
            bestIscale = bestIscale.replacing(with: iscale, where: better)
        }
        for i in 0 ..< n {
            let l = clamp(roundBounded(bestIscale * x[i]), -nmax, nmax - 1) + nmax
            codes[i] = l.replacing(with: 0, where: zero)
        }
        return scale.replacing(with: 0, where: zero)
    }

    /// `make_q3_quants(n, nmax, x, L, do_rmse = true)` for four groups; codes in 0..<2*nmax.
    /// `work` holds 2n vectors of scratch (the weights and weighted values, computed once: the C code
    /// recomputes the same products in every pass).
    @inline(__always)
    static func symmetricRefined(_ n: Int, _ nmax: Float, _ x: UnsafePointer<F4>, _ codes: UnsafeMutablePointer<F4>,
                                 _ work: UnsafeMutablePointer<F4>) -> F4? {
        guard let (_, zero, iscale) = symmetricStart(n, nmax, x) else { return nil }
        var sumlx = F4()
        var suml2 = F4()
        let weights = work
        let weighted = work + n
        for i in 0 ..< n {
            let l = clamp(roundBounded(iscale * x[i]), -nmax, nmax - 1)
            codes[i] = l
            let w = x[i] * x[i]
            weights[i] = w
            weighted[i] = w * x[i]
            sumlx += weighted[i] * l
            suml2 += w * l * l
        }
        for _ in 0 ..< 5 {
            var changed = SIMDMask<I4>(repeating: false)
            for i in 0 ..< n {
                let w = weights[i]
                let wx = weighted[i]
                let current = codes[i]
                var slx = sumlx - wx * current
                let positive = slx .> 0
                var sl2 = suml2 - w * current * current
                // The quotient is unbounded when slx is tiny: use the exact nearest_int.
                let newL = clamp(F4((x[i] * sl2 / slx).nearestInt), -nmax, nmax - 1)
                let differs = newL .!= current
                slx += wx * newL
                sl2 += w * newL * newL
                let accept = positive .& differs .& (sl2 .> 0) .& (slx * slx * suml2 .> sumlx * sumlx * sl2)
                codes[i] = current.replacing(with: newL, where: accept)
                sumlx = sumlx.replacing(with: slx, where: accept)
                suml2 = suml2.replacing(with: sl2, where: accept)
                changed = changed .| accept
            }
            // A lane without changes is at a fixed point: further passes leave it as it is.
            if !any(changed) { break }
        }
        for i in 0 ..< n {
            codes[i] = (codes[i] + nmax).replacing(with: 0, where: zero)
        }
        return (sumlx / suml2).replacing(with: 0, where: (suml2 .<= 0) .| zero)
    }
}
