import CConnkit
import TensorFormats

/// Fast kernels for the 32-element legacy types: a block is eight 4-lane vectors; vector k holds
/// elements 4k..<4k+4, so vectors k and k + 4 pair up in the nibble packing. Each type splits its
/// `quantizeReference` into `prepare` (the block's scalars: extremes, scale, inverse) and `emit` (f16
/// fields and codes); the kernels run four `prepare`s before the four `emit`s, so the scalar steps of
/// one block (divisions, f16 conversions) overlap the vector work of the others. Where a block needs
/// C's exact scalar behaviour (a largest magnitude reached with both signs, a zero minimum whose sign C
/// picks by scan order, a scale or inverse that overflows) `prepare` returns nil and the block goes
/// through the reference. On a CPU with AVX2, every type here runs the C target's kernels
/// (eight lanes, a block in four vectors), which leave such groups to these. Tests compare every kernel with ggml on the
/// fixtures and with each other on large random inputs.

/// A block as eight 4-lane vectors (vector k = elements 4k..<4k+4).
private typealias Vectors = (F4, F4, F4, F4, F4, F4, F4, F4)
/// 32 integer codes, laid out like `Vectors`.
private typealias Codes = (I4, I4, I4, I4, I4, I4, I4, I4)

@_transparent
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

@_transparent
private func maximumMagnitude(_ v: Vectors) -> Float {
    let a = v.0.magnitude.laneMax(v.1.magnitude).laneMax(v.2.magnitude.laneMax(v.3.magnitude))
    let b = v.4.magnitude.laneMax(v.5.magnitude).laneMax(v.6.magnitude.laneMax(v.7.magnitude))
    return a.laneMax(b).reduceMax()
}

/// Stores 32 codes (in the low bits of each lane, at most 15) as nibbles: byte j = code j | code (j + 16)
/// << 4. Bits above the low byte do not matter (they may hold the 2^23 offset of `floorBits`).
@_transparent
private func storeNibbles(_ c: Codes, _ y: UnsafeMutableRawPointer, at offset: Int) {
    y.store16(c.0 &+ (c.4 &<< 4), c.1 &+ (c.5 &<< 4), c.2 &+ (c.6 &<< 4), c.3 &+ (c.7 &<< 4), at: offset)
}

/// q5's low nibbles: as `storeNibbles` for codes up to 31 (bit 4 goes to `qh`).
@_transparent
private func storeLowNibbles(_ c: Codes, _ y: UnsafeMutableRawPointer, at offset: Int) {
    let m = I4(repeating: 15)
    y.store16((c.0 & m) | ((c.4 & m) &<< 4), (c.1 & m) | ((c.5 & m) &<< 4), (c.2 & m) | ((c.6 & m) &<< 4),
              (c.3 & m) | ((c.7 & m) &<< 4), at: offset)
}

/// q5's `qh`: bit j = bit 4 of code j.
@_transparent
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

/// ±0 in every lane if the block is finite, NaN in a lane that met a NaN or ±inf ((sum) * 0). Summed
/// over blocks, a NaN survives: the kernels check finiteness on the values they already loaded. A sum of
/// finite values near the float32 limit can overflow and raise a false alarm; the caller then scans the
/// input exactly (and the bytes written are valid).
@_transparent
private func nonFiniteProbe(_ v: Vectors) -> F4 {
    let a: F4 = v.0 + v.1
    let b: F4 = v.2 + v.3
    let c: F4 = v.4 + v.5
    let d: F4 = v.6 + v.7
    return ((a + b) + (c + d)) * F4()
}

/// The signed value of largest magnitude as ggml's scan finds it, or nil when both signs reach it (then
/// only a scan in order can tell which came first). +0 for an all-zero block.
@_transparent
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
@_transparent
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

/// Runs a C vector kernel, which stops before a group of blocks it cannot do exactly (and before a tail
/// of fewer than four blocks), and finishes each such group with the Swift kernel `finishing`.
@inline(__always)
private func runVectorKernel(
    _ kernel: (UnsafePointer<Float>, UnsafeMutablePointer<UInt8>, Int, UnsafeMutablePointer<Int32>) -> Int,
    _ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int, blockBytes: Int,
    finishing: (UnsafePointer<Float>, UnsafeMutableRawPointer, Int) -> Bool
) -> Bool {
    var finite: Int32 = 1
    var clean = true
    var i = 0
    while i < blocks {
        i += kernel(x + 32 * i, (y + blockBytes * i).assumingMemoryBound(to: UInt8.self), blocks - i, &finite)
        guard i < blocks else { break }
        let count = min(4, blocks - i)
        clean = finishing(x + 32 * i, y + blockBytes * i, count) && clean
        i += count
    }
    return clean && finite != 0
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

    @_transparent
    private static func prepare(_ v: Vectors, _ x: UnsafePointer<Float>) -> (d: Float, id: Float)? {
        let d = maximumMagnitude(v) / 127
        let id: Float = d != 0 ? 1 / d : 0
        return id.isFinite ? (d, id) : nil
    }

    @_transparent
    private static func emit(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ p: (d: Float, id: Float)) {
        y.storeLE(ggmlFP16(p.d), at: 0)
        let v = loadBlock(x)
        // |x * id| <= 127 (plus rounding), well inside the exact range of the helpers.
        y.store16(roundHalfAway(v.0 * p.id), roundHalfAway(v.1 * p.id), roundHalfAway(v.2 * p.id), roundHalfAway(v.3 * p.id), at: 2)
        y.store16(roundHalfAway(v.4 * p.id), roundHalfAway(v.5 * p.id), roundHalfAway(v.6 * p.id), roundHalfAway(v.7 * p.id), at: 18)
    }

    /// Returns false when a value may be NaN or ±inf (see `nonFiniteProbe`). With `vectorExtensions`,
    /// the AVX2 kernel of the C target does the groups it can and this file's kernel the rest.
    static func quantize(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int,
                         vectorExtensions: Bool = true) -> Bool {
        guard vectorExtensions else { return quantizePortable(x, y, blocks: blocks) }
        return runVectorKernel(ck_quantize_q8_0, x, y, blocks: blocks, blockBytes: 34, finishing: quantizePortable)
    }

    /// The Swift kernel (what runs without AVX2).
    static func quantizePortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool {
        var probe = F4()
        var i = 0
        while i + 4 <= blocks {
            let x0 = x + 32 * i
            let y0 = y + 34 * i
            i += 4
            let v0 = loadBlock(x0)
            let v1 = loadBlock(x0 + 32)
            let v2 = loadBlock(x0 + 64)
            let v3 = loadBlock(x0 + 96)
            probe += (nonFiniteProbe(v0) + nonFiniteProbe(v1)) + (nonFiniteProbe(v2) + nonFiniteProbe(v3))
            guard let p0 = prepare(v0, x0), let p1 = prepare(v1, x0 + 32), let p2 = prepare(v2, x0 + 64),
                  let p3 = prepare(v3, x0 + 96) else {
                for b in 0 ..< 4 { quantizeOne(x0 + 32 * b, y0 + 34 * b) }
                continue
            }
            emit(x0, y0, p0)
            emit(x0 + 32, y0 + 34, p1)
            emit(x0 + 64, y0 + 2 * 34, p2)
            emit(x0 + 96, y0 + 3 * 34, p3)
        }
        while i < blocks {
            probe += nonFiniteProbe(loadBlock(x + 32 * i))
            quantizeOne(x + 32 * i, y + 34 * i)
            i += 1
        }
        return all(probe .== probe)
    }

    /// One block: the fast path, or the reference where `prepare` declines.
    private static func quantizeOne(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        if let p = prepare(loadBlock(x), x) { emit(x, y, p) } else { quantizeReference(x, y, blocks: 1) }
    }
}


extension Q4_0 {
    @_transparent
    private static func prepare(_ v: Vectors, _ x: UnsafePointer<Float>) -> (d: Float, id: Float)? {
        guard let max = signedMaximum(v) else { return nil }
        let d = max / -8
        let id: Float = d != 0 ? 1 / d : 0
        return id.isFinite ? (d, id) : nil
    }

    @_transparent
    private static func emit(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ p: (d: Float, id: Float)) {
        emit(x, y, p, half: ggmlFP16(p.d))
    }

    /// `emit` with the block's f16 scale already converted (four blocks convert theirs in one vector).
    @_transparent
    private static func emit(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ p: (d: Float, id: Float), half: UInt16) {
        y.storeLE(half, at: 0)
        let v = loadBlock(x)
        // x * id + 8.5 lies in [0.5, 16.5]: truncation is floor; MIN(15, q) lowers 16 (y >= 16) by one.
        @_transparent func code(_ x: F4) -> I4 {
            let y = x * p.id + 8.5
            return y.floorBits &+ F4.lanes(y .>= 16)
        }
        storeNibbles((code(v.0), code(v.1), code(v.2), code(v.3), code(v.4), code(v.5), code(v.6), code(v.7)), y, at: 2)
    }

    /// Returns false when a value may be NaN or ±inf (see `nonFiniteProbe`). With `vectorExtensions`,
    /// the AVX2 kernel of the C target does the groups it can and this file's kernel the rest.
    static func quantize(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int,
                         vectorExtensions: Bool = true) -> Bool {
        guard vectorExtensions else { return quantizePortable(x, y, blocks: blocks) }
        return runVectorKernel(ck_quantize_q4_0, x, y, blocks: blocks, blockBytes: 18, finishing: quantizePortable)
    }

    /// The Swift kernel (what runs without AVX2).
    static func quantizePortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool {
        var probe = F4()
        var i = 0
        while i + 4 <= blocks {
            let x0 = x + 32 * i
            let y0 = y + 18 * i
            i += 4
            let v0 = loadBlock(x0)
            let v1 = loadBlock(x0 + 32)
            let v2 = loadBlock(x0 + 64)
            let v3 = loadBlock(x0 + 96)
            probe += (nonFiniteProbe(v0) + nonFiniteProbe(v1)) + (nonFiniteProbe(v2) + nonFiniteProbe(v3))
            // The four blocks' scalars side by side: IEEE division and ggml's f16 rounding lane by lane give
            // the scalar results.
            guard let m0 = signedMaximum(v0), let m1 = signedMaximum(v1), let m2 = signedMaximum(v2),
                  let m3 = signedMaximum(v3) else {
                for b in 0 ..< 4 { quantizeOne(x0 + 32 * b, y0 + 18 * b) }
                continue
            }
            let d = F4(m0, m1, m2, m3) / -8
            let id = F4.select(d .!= 0, 1 / d, F4())
            guard all(id.magnitude .< .infinity) else {
                for b in 0 ..< 4 { quantizeOne(x0 + 32 * b, y0 + 18 * b) }
                continue
            }
            let half = ggmlFP16(d)
            emit(x0, y0, (d[0], id[0]), half: UInt16(truncatingIfNeeded: half[0]))
            emit(x0 + 32, y0 + 18, (d[1], id[1]), half: UInt16(truncatingIfNeeded: half[1]))
            emit(x0 + 64, y0 + 2 * 18, (d[2], id[2]), half: UInt16(truncatingIfNeeded: half[2]))
            emit(x0 + 96, y0 + 3 * 18, (d[3], id[3]), half: UInt16(truncatingIfNeeded: half[3]))
        }
        while i < blocks {
            probe += nonFiniteProbe(loadBlock(x + 32 * i))
            quantizeOne(x + 32 * i, y + 18 * i)
            i += 1
        }
        return all(probe .== probe)
    }

    /// One block: the fast path, or the reference where `prepare` declines.
    private static func quantizeOne(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        if let p = prepare(loadBlock(x), x) { emit(x, y, p) } else { quantizeReference(x, y, blocks: 1) }
    }
}


extension Q5_0 {
    @_transparent
    private static func prepare(_ v: Vectors, _ x: UnsafePointer<Float>) -> (d: Float, id: Float)? {
        guard let max = signedMaximum(v) else { return nil }
        let d = max / -16
        let id: Float = d != 0 ? 1 / d : 0
        return id.isFinite ? (d, id) : nil
    }

    @_transparent
    private static func emit(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ p: (d: Float, id: Float)) {
        y.storeLE(ggmlFP16(p.d), at: 0)
        let v = loadBlock(x)
        // x * id + 16.5 lies in [0.5, 32.5]: floor, and MIN(31, q) lowers 32 (y >= 32) by one.
        @_transparent func code(_ x: F4) -> I4 {
            let y = x * p.id + 16.5
            return y.floorBits &+ F4.lanes(y .>= 32)
        }
        let codes = (code(v.0), code(v.1), code(v.2), code(v.3), code(v.4), code(v.5), code(v.6), code(v.7))
        y.storeLE(fifthBits(codes), at: 2)
        storeLowNibbles(codes, y, at: 6)
    }

    /// Returns false when a value may be NaN or ±inf (see `nonFiniteProbe`). With `vectorExtensions`,
    /// the AVX2 kernel of the C target does the groups it can and this file's kernel the rest.
    static func quantize(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int,
                         vectorExtensions: Bool = true) -> Bool {
        guard vectorExtensions else { return quantizePortable(x, y, blocks: blocks) }
        return runVectorKernel(ck_quantize_q5_0, x, y, blocks: blocks, blockBytes: 22, finishing: quantizePortable)
    }

    /// The Swift kernel (what runs without AVX2).
    static func quantizePortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool {
        var probe = F4()
        var i = 0
        while i + 4 <= blocks {
            let x0 = x + 32 * i
            let y0 = y + 22 * i
            i += 4
            let v0 = loadBlock(x0)
            let v1 = loadBlock(x0 + 32)
            let v2 = loadBlock(x0 + 64)
            let v3 = loadBlock(x0 + 96)
            probe += (nonFiniteProbe(v0) + nonFiniteProbe(v1)) + (nonFiniteProbe(v2) + nonFiniteProbe(v3))
            guard let p0 = prepare(v0, x0), let p1 = prepare(v1, x0 + 32), let p2 = prepare(v2, x0 + 64),
                  let p3 = prepare(v3, x0 + 96) else {
                for b in 0 ..< 4 { quantizeOne(x0 + 32 * b, y0 + 22 * b) }
                continue
            }
            emit(x0, y0, p0)
            emit(x0 + 32, y0 + 22, p1)
            emit(x0 + 64, y0 + 2 * 22, p2)
            emit(x0 + 96, y0 + 3 * 22, p3)
        }
        while i < blocks {
            probe += nonFiniteProbe(loadBlock(x + 32 * i))
            quantizeOne(x + 32 * i, y + 22 * i)
            i += 1
        }
        return all(probe .== probe)
    }

    /// One block: the fast path, or the reference where `prepare` declines.
    private static func quantizeOne(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        if let p = prepare(loadBlock(x), x) { emit(x, y, p) } else { quantizeReference(x, y, blocks: 1) }
    }
}


extension Q4_1 {
    @_transparent
    private static func prepare(_ v: Vectors, _ x: UnsafePointer<Float>) -> (min: Float, d: Float, id: Float)? {
        let (min, max) = minimumAndMaximum(v, x)
        let d = (max - min) / 15
        let id: Float = d != 0 ? 1 / d : 0
        return id.isFinite && d.isFinite ? (min, d, id) : nil
    }

    @_transparent
    private static func emit(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ p: (min: Float, d: Float, id: Float)) {
        emit(x, y, p, halves: (ggmlFP16(p.d), ggmlFP16(p.min)))
    }

    /// `emit` with the block's f16 fields already converted (four blocks convert theirs in vectors).
    @_transparent
    private static func emit(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ p: (min: Float, d: Float, id: Float),
                             halves: (d: UInt16, min: UInt16)) {
        y.storeLE(halves.d, at: 0)
        y.storeLE(halves.min, at: 2)
        let v = loadBlock(x)
        // (x - min) * id <= (max - min) * id = 15 × (1 ± a few ulp): the codes are at most 15, so C's
        // MIN(15, q) never acts.
        @_transparent func code(_ x: F4) -> I4 { ((x - p.min) * p.id + 0.5).floorBits }
        storeNibbles((code(v.0), code(v.1), code(v.2), code(v.3), code(v.4), code(v.5), code(v.6), code(v.7)), y, at: 4)
    }

    /// Returns false when a value may be NaN or ±inf (see `nonFiniteProbe`). With `vectorExtensions`,
    /// the AVX2 kernel of the C target does the groups it can and this file's kernel the rest.
    static func quantize(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int,
                         vectorExtensions: Bool = true) -> Bool {
        guard vectorExtensions else { return quantizePortable(x, y, blocks: blocks) }
        return runVectorKernel(ck_quantize_q4_1, x, y, blocks: blocks, blockBytes: 20, finishing: quantizePortable)
    }

    /// The Swift kernel (what runs without AVX2).
    static func quantizePortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool {
        var probe = F4()
        var i = 0
        while i + 4 <= blocks {
            let x0 = x + 32 * i
            let y0 = y + 20 * i
            i += 4
            let v0 = loadBlock(x0)
            let v1 = loadBlock(x0 + 32)
            let v2 = loadBlock(x0 + 64)
            let v3 = loadBlock(x0 + 96)
            probe += (nonFiniteProbe(v0) + nonFiniteProbe(v1)) + (nonFiniteProbe(v2) + nonFiniteProbe(v3))
            // The four blocks' scalars side by side (IEEE arithmetic and ggml's f16 rounding, lane by lane).
            let (l0, h0) = minimumAndMaximum(v0, x0)
            let (l1, h1) = minimumAndMaximum(v1, x0 + 32)
            let (l2, h2) = minimumAndMaximum(v2, x0 + 64)
            let (l3, h3) = minimumAndMaximum(v3, x0 + 96)
            let low = F4(l0, l1, l2, l3)
            let d = (F4(h0, h1, h2, h3) - low) / 15
            let id = F4.select(d .!= 0, 1 / d, F4())
            guard all(id.magnitude .< .infinity), all(d.magnitude .< .infinity) else {
                for b in 0 ..< 4 { quantizeOne(x0 + 32 * b, y0 + 20 * b) }
                continue
            }
            let dHalf = ggmlFP16(d), minHalf = ggmlFP16(low)
            for b in 0 ..< 4 {
                emit(x0 + 32 * b, y0 + 20 * b, (low[b], d[b], id[b]),
                     halves: (UInt16(truncatingIfNeeded: dHalf[b]), UInt16(truncatingIfNeeded: minHalf[b])))
            }
        }
        while i < blocks {
            probe += nonFiniteProbe(loadBlock(x + 32 * i))
            quantizeOne(x + 32 * i, y + 20 * i)
            i += 1
        }
        return all(probe .== probe)
    }

    /// One block: the fast path, or the reference where `prepare` declines.
    private static func quantizeOne(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        if let p = prepare(loadBlock(x), x) { emit(x, y, p) } else { quantizeReference(x, y, blocks: 1) }
    }
}


extension Q5_1 {
    @_transparent
    private static func prepare(_ v: Vectors, _ x: UnsafePointer<Float>) -> (min: Float, d: Float, id: Float)? {
        let (min, max) = minimumAndMaximum(v, x)
        let d = (max - min) / 31
        let id: Float = d != 0 ? 1 / d : 0
        return id.isFinite && d.isFinite ? (min, d, id) : nil
    }

    @_transparent
    private static func emit(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ p: (min: Float, d: Float, id: Float)) {
        y.storeLE(ggmlFP16(p.d), at: 0)
        y.storeLE(ggmlFP16(p.min), at: 2)
        let v = loadBlock(x)
        // C has no clamp here, `(uint8_t)(x0 + 0.5f)`; x0 + 0.5 < 32 for a finite scale.
        @_transparent func code(_ x: F4) -> I4 { ((x - p.min) * p.id + 0.5).floorBits }
        let codes = (code(v.0), code(v.1), code(v.2), code(v.3), code(v.4), code(v.5), code(v.6), code(v.7))
        y.storeLE(fifthBits(codes), at: 4)
        storeLowNibbles(codes, y, at: 8)
    }

    /// Returns false when a value may be NaN or ±inf (see `nonFiniteProbe`). With `vectorExtensions`,
    /// the AVX2 kernel of the C target does the groups it can and this file's kernel the rest.
    static func quantize(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int,
                         vectorExtensions: Bool = true) -> Bool {
        guard vectorExtensions else { return quantizePortable(x, y, blocks: blocks) }
        return runVectorKernel(ck_quantize_q5_1, x, y, blocks: blocks, blockBytes: 24, finishing: quantizePortable)
    }

    /// The Swift kernel (what runs without AVX2).
    static func quantizePortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool {
        var probe = F4()
        var i = 0
        while i + 4 <= blocks {
            let x0 = x + 32 * i
            let y0 = y + 24 * i
            i += 4
            let v0 = loadBlock(x0)
            let v1 = loadBlock(x0 + 32)
            let v2 = loadBlock(x0 + 64)
            let v3 = loadBlock(x0 + 96)
            probe += (nonFiniteProbe(v0) + nonFiniteProbe(v1)) + (nonFiniteProbe(v2) + nonFiniteProbe(v3))
            guard let p0 = prepare(v0, x0), let p1 = prepare(v1, x0 + 32), let p2 = prepare(v2, x0 + 64),
                  let p3 = prepare(v3, x0 + 96) else {
                for b in 0 ..< 4 { quantizeOne(x0 + 32 * b, y0 + 24 * b) }
                continue
            }
            emit(x0, y0, p0)
            emit(x0 + 32, y0 + 24, p1)
            emit(x0 + 64, y0 + 2 * 24, p2)
            emit(x0 + 96, y0 + 3 * 24, p3)
        }
        while i < blocks {
            probe += nonFiniteProbe(loadBlock(x + 32 * i))
            quantizeOne(x + 32 * i, y + 24 * i)
            i += 1
        }
        return all(probe .== probe)
    }

    /// One block: the fast path, or the reference where `prepare` declines.
    private static func quantizeOne(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        if let p = prepare(loadBlock(x), x) { emit(x, y, p) } else { quantizeReference(x, y, blocks: 1) }
    }
}
