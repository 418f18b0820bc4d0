/// Fast kernels for the 32-element legacy types: a block is eight 4-lane vectors; vector k holds
/// elements 4k..<4k+4, so vectors k and k + 4 pair up in the nibble packing. Each kernel follows its
/// `quantizeReference` step for step; where a block needs C's exact scalar behaviour (a largest
/// magnitude reached with both signs, a zero minimum whose sign C picks by scan order, a scale whose
/// reciprocal overflows) the block goes through the reference instead. Tests compare both on the
/// fixtures and on large random inputs.

/// A block as eight 4-lane vectors (vector k = elements 4k..<4k+4).
private typealias Vectors = (F4, F4, F4, F4, F4, F4, F4, F4)
/// 32 integer codes, laid out like `Vectors`.
private typealias Codes = (I4, I4, I4, I4, I4, I4, I4, I4)

@inline(__always)
private func loadBlock(_ x: UnsafePointer<Float>) -> Vectors {
    (x.load4(0), x.load4(4), x.load4(8), x.load4(12), x.load4(16), x.load4(20), x.load4(24), x.load4(28))
}

@_transparent
private func maximum(_ v: Vectors) -> Float {
    v.0.laneMax(v.1).laneMax(v.2.laneMax(v.3)).laneMax(v.4.laneMax(v.5).laneMax(v.6.laneMax(v.7))).reduceMax()
}

@_transparent
private func minimum(_ v: Vectors) -> Float {
    v.0.laneMin(v.1).laneMin(v.2.laneMin(v.3)).laneMin(v.4.laneMin(v.5).laneMin(v.6.laneMin(v.7))).reduceMin()
}

@inline(__always)
private func maximumMagnitude(_ v: Vectors) -> Float {
    let a = v.0.magnitude.laneMax(v.1.magnitude).laneMax(v.2.magnitude.laneMax(v.3.magnitude))
    let b = v.4.magnitude.laneMax(v.5.magnitude).laneMax(v.6.magnitude.laneMax(v.7.magnitude))
    return a.laneMax(b).reduceMax()
}

/// Stores 32 codes (in the low bits of each lane) as nibbles: byte j = code j | code (j + 16) << 4.
@inline(__always)
private func storeNibbles(_ c: Codes, _ y: UnsafeMutableRawPointer, at offset: Int) {
    y.store4((c.0 & 15 | (c.4 & 15) &<< 4).lowBytes, at: offset)
    y.store4((c.1 & 15 | (c.5 & 15) &<< 4).lowBytes, at: offset + 4)
    y.store4((c.2 & 15 | (c.6 & 15) &<< 4).lowBytes, at: offset + 8)
    y.store4((c.3 & 15 | (c.7 & 15) &<< 4).lowBytes, at: offset + 12)
}

/// q5's `qh`: bit j = bit 4 of code j.
@inline(__always)
private func fifthBits(_ c: Codes) -> UInt32 {
    // Bit 4 of lane l of vector k moves to bit 4k + l: multiply the 0/1 bit by 1 << (4k + l).
    let laneShift = I4(1, 2, 4, 8)
    var qh = ((c.0 &>> 4) & 1) &* laneShift
    qh |= ((c.1 &>> 4) & 1) &* (laneShift &<< 4)
    qh |= ((c.2 &>> 4) & 1) &* (laneShift &<< 8)
    qh |= ((c.3 &>> 4) & 1) &* (laneShift &<< 12)
    qh |= ((c.4 &>> 4) & 1) &* (laneShift &<< 16)
    qh |= ((c.5 &>> 4) & 1) &* (laneShift &<< 20)
    qh |= ((c.6 &>> 4) & 1) &* (laneShift &<< 24)
    qh |= ((c.7 &>> 4) & 1) &* (laneShift &<< 28)
    return UInt32(bitPattern: (qh.x | qh.y) | (qh.z | qh.w))
}

/// ±0 in every lane if the block is finite, NaN in a lane that met a NaN or ±inf (x * 0). Summed over
/// blocks, a NaN survives: the kernels check finiteness on the values they already loaded.
@_transparent
private func nonFiniteProbe(_ v: Vectors) -> F4 {
    let zero = F4()
    let a: F4 = v.0 * zero + v.1 * zero
    let b: F4 = v.2 * zero + v.3 * zero
    let c: F4 = v.4 * zero + v.5 * zero
    let d: F4 = v.6 * zero + v.7 * zero
    return (a + b) + (c + d)
}

/// The signed value of largest magnitude as ggml's scan finds it, or nil when both signs reach it (then
/// only a scan in order can tell which came first). +0 for an all-zero block.
@inline(__always)
private func signedMaximum(_ v: Vectors) -> Float? {
    let high = maximum(v)
    let low = minimum(v)
    let amax = high > -low ? high : -low
    if amax == 0 { return 0 }
    if high == amax, -low == amax { return nil }
    return high == amax ? high : low
}

/// The block's minimum and maximum with C's scan semantics (`if (v < min) min = v` from FLT_MAX, and
/// likewise for the maximum): equal values are identical except ±0, where the first zero in the block
/// decides.
@inline(__always)
private func minimumAndMaximum(_ v: Vectors, _ x: UnsafePointer<Float>) -> (Float, Float) {
    var low = minimum(v)
    var high = maximum(v)
    if low == 0 || high == 0 {
        var j = 0
        while x[j] != 0 { j += 1 }
        if low == 0 { low = x[j] }
        if high == 0 { high = x[j] }
    }
    return (low, high)
}

extension Q8_0 {
    /// roundf(v) for |v| < 2^22: round the magnitude to nearest even, then move the ties that went down
    /// (magnitude - rounded == 0.5, exact) up; restore the sign.
    @_transparent
    private static func roundHalfAway(_ v: F4) -> I4 {
        let magnitude = v.magnitude
        let even = (magnitude + 8_388_608) - 8_388_608
        let rounded = even + F4(bits: F4.lanes(magnitude - even .== 0.5) & F4(repeating: 1).bits)
        return F4(bits: rounded.bits | (v.bits & I4(repeating: Int32(bitPattern: 0x8000_0000)))).nearestInt
    }

    /// Returns false when a value is NaN or ±inf (the bytes are then meaningless).
    static func quantize(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool {
        var probe = F4()
        for i in 0 ..< blocks {
            let xb = x + 32 * i
            let yb = y + 34 * i
            let v = loadBlock(xb)
            probe += nonFiniteProbe(v)
            let d = maximumMagnitude(v) / 127
            let id: Float = d != 0 ? 1 / d : 0
            guard id.isFinite else {
                quantizeReference(xb, yb, blocks: 1)
                continue
            }
            // |x * id| <= 127 (plus rounding), well inside the exact range of the helpers.
            yb.storeLE(ggmlFP16(d), at: 0)
            yb.store4(roundHalfAway(v.0 * id).lowBytes, at: 2)
            yb.store4(roundHalfAway(v.1 * id).lowBytes, at: 6)
            yb.store4(roundHalfAway(v.2 * id).lowBytes, at: 10)
            yb.store4(roundHalfAway(v.3 * id).lowBytes, at: 14)
            yb.store4(roundHalfAway(v.4 * id).lowBytes, at: 18)
            yb.store4(roundHalfAway(v.5 * id).lowBytes, at: 22)
            yb.store4(roundHalfAway(v.6 * id).lowBytes, at: 26)
            yb.store4(roundHalfAway(v.7 * id).lowBytes, at: 30)
        }
        return all(probe .== probe)
    }
}

extension Q4_0 {
    /// Returns false when a value is NaN or ±inf (the bytes are then meaningless).
    static func quantize(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool {
        var probe = F4()
        for i in 0 ..< blocks {
            let xb = x + 32 * i
            let yb = y + 18 * i
            let v = loadBlock(xb)
            probe += nonFiniteProbe(v)
            guard let max = signedMaximum(v) else {
                quantizeReference(xb, yb, blocks: 1)
                continue
            }
            let d = max / -8
            let id: Float = d != 0 ? 1 / d : 0
            guard id.isFinite else {
                quantizeReference(xb, yb, blocks: 1)
                continue
            }
            yb.storeLE(ggmlFP16(d), at: 0)
            // x * id + 8.5 lies in [0.5, 16.5]: truncation is floor; MIN(15, q) lowers 16 (y >= 16) by one.
            @_transparent func code(_ x: F4) -> I4 {
                let y = x * id + 8.5
                return y.floorBits &+ F4.lanes(y .>= 16)
            }
            storeNibbles((code(v.0), code(v.1), code(v.2), code(v.3), code(v.4), code(v.5), code(v.6), code(v.7)), yb, at: 2)
        }
        return all(probe .== probe)
    }
}

extension Q5_0 {
    /// Returns false when a value is NaN or ±inf (the bytes are then meaningless).
    static func quantize(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool {
        var probe = F4()
        for i in 0 ..< blocks {
            let xb = x + 32 * i
            let yb = y + 22 * i
            let v = loadBlock(xb)
            probe += nonFiniteProbe(v)
            guard let max = signedMaximum(v) else {
                quantizeReference(xb, yb, blocks: 1)
                continue
            }
            let d = max / -16
            let id: Float = d != 0 ? 1 / d : 0
            guard id.isFinite else {
                quantizeReference(xb, yb, blocks: 1)
                continue
            }
            yb.storeLE(ggmlFP16(d), at: 0)
            @_transparent func code(_ x: F4) -> I4 {
                let y = x * id + 16.5
                return y.floorBits &+ F4.lanes(y .>= 32)
            }
            let codes = (code(v.0), code(v.1), code(v.2), code(v.3), code(v.4), code(v.5), code(v.6), code(v.7))
            yb.storeLE(fifthBits(codes), at: 2)
            storeNibbles(codes, yb, at: 6)
        }
        return all(probe .== probe)
    }
}

extension Q4_1 {
    /// Returns false when a value is NaN or ±inf (the bytes are then meaningless).
    static func quantize(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool {
        var probe = F4()
        for i in 0 ..< blocks {
            let xb = x + 32 * i
            let yb = y + 20 * i
            let v = loadBlock(xb)
            probe += nonFiniteProbe(v)
            let (min, max) = minimumAndMaximum(v, xb)
            let d = (max - min) / 15
            let id: Float = d != 0 ? 1 / d : 0
            guard id.isFinite, d.isFinite else {
                quantizeReference(xb, yb, blocks: 1)
                continue
            }
            yb.storeLE(ggmlFP16(d), at: 0)
            yb.storeLE(ggmlFP16(min), at: 2)
            // (x - min) * id <= (max - min) * id = 15 × (1 ± a few ulp): the codes are at most 15, so C's
            // MIN(15, q) never acts.
            @_transparent func code(_ x: F4) -> I4 { ((x - min) * id + 0.5).floorBits }
            storeNibbles((code(v.0), code(v.1), code(v.2), code(v.3), code(v.4), code(v.5), code(v.6), code(v.7)), yb, at: 4)
        }
        return all(probe .== probe)
    }
}

extension Q5_1 {
    /// Returns false when a value is NaN or ±inf (the bytes are then meaningless).
    static func quantize(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool {
        var probe = F4()
        for i in 0 ..< blocks {
            let xb = x + 32 * i
            let yb = y + 24 * i
            let v = loadBlock(xb)
            probe += nonFiniteProbe(v)
            let (min, max) = minimumAndMaximum(v, xb)
            let d = (max - min) / 31
            let id: Float = d != 0 ? 1 / d : 0
            guard id.isFinite, d.isFinite else {
                quantizeReference(xb, yb, blocks: 1)
                continue
            }
            yb.storeLE(ggmlFP16(d), at: 0)
            yb.storeLE(ggmlFP16(min), at: 2)
            // C has no clamp here, `(uint8_t)(x0 + 0.5f)`; x0 + 0.5 < 32 for a finite scale.
            @_transparent func code(_ x: F4) -> I4 { ((x - min) * id + 0.5).floorBits }
            let codes = (code(v.0), code(v.1), code(v.2), code(v.3), code(v.4), code(v.5), code(v.6), code(v.7))
            yb.storeLE(fifthBits(codes), at: 4)
            storeNibbles(codes, yb, at: 8)
        }
        return all(probe .== probe)
    }
}
