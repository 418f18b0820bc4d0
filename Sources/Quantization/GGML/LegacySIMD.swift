import CConnkit
import TensorFormats

/// Fast kernels for the 32-element legacy types: a block is eight 4-lane vectors; vector k holds
/// elements 4k..<4k+4, so vectors k and k + 4 pair up in the nibble packing. Each type splits its
/// reference into `prepare` (the block's scalars: extremes, scale, inverse) and `emit` (f16 fields and
/// codes); one driver, `LegacyBlock.quantizePortable`, runs four blocks' `prepare` before
/// their four `emit`s, so the scalar steps of one block (divisions, f16 conversions) overlap the vector
/// work of the others. Where a block needs C's exact scalar behaviour (a largest magnitude reached with
/// both signs, a zero minimum whose sign C picks by scan order, a scale or inverse that overflows)
/// `prepare` returns nil and the block goes through the reference. On a CPU with AVX2 every type here
/// runs the C target's kernel (eight lanes, a block in four vectors, `quant_legacy.c`), which leaves
/// such groups to these. Tests compare every kernel with ggml on the fixtures and with each other on
/// large random inputs.

/// A block as eight 4-lane vectors (vector k = elements 4k..<4k+4).
typealias Vectors = (F4, F4, F4, F4, F4, F4, F4, F4)
/// 32 integer codes, laid out like `Vectors`.
typealias Codes = (I4, I4, I4, I4, I4, I4, I4, I4)

@_transparent
func loadBlock(_ x: UnsafePointer<Float>) -> Vectors {
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

/// A block's scale with ggml's inverse (`d ? 1/d : 0`), or nil when the inverse overflows (the block then
/// goes through the reference, which keeps C's results for it).
@_transparent
private func withInverse(_ d: Float) -> (d: Float, id: Float)? {
    let id: Float = d != 0 ? 1 / d : 0
    return id.isFinite ? (d, id) : nil
}

/// Stores a nibble type's 32 codes after its `header` bytes of f16 fields: 4-bit codes as nibbles, 5-bit
/// ones as `qh` then the low nibbles (`storeLegacyCodes`' layout).
@_transparent
private func storeCodes(_ c: Codes, _ y: UnsafeMutableRawPointer, header: Int, bits: Int) {
    if bits == 4 {
        storeNibbles(c, y, at: header)
    } else {
        y.storeLE(fifthBits(c), at: header)
        storeLowNibbles(c, y, at: header + 4)
    }
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

/// A 32-element legacy type: its reference split into `prepare` and `emit` for the Swift kernel (its C
/// kernel is `ck_quantize_legacy` for its ggml type id). The drivers below are the same for all of them.
protocol LegacyBlock: BlockQuantizer {
    /// What `emit` needs besides the values: scale, inverse (and minimum).
    associatedtype Scalars
    /// The block's scalars, or nil when the block needs the reference.
    static func prepare(_ v: Vectors, _ x: UnsafePointer<Float>) -> Scalars?
    /// Writes the block's fields and codes (loading its values again: cheaper than keeping them live).
    static func emit(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ p: Scalars)
}

extension LegacyBlock {
    static var checksFiniteness: Bool { true }
    static var vectorGroup: Int { 4 }

    static func quantizeVector(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int, finite: inout Bool) -> Int {
        var flag: Int32 = 1
        let done = ck_quantize_legacy(dtype.ggmlType!, x, y.assumingMemoryBound(to: UInt8.self), blocks, &flag)
        if flag == 0 { finite = false }
        return done
    }

    /// The Swift kernel: four blocks at a time (scalars first, then codes), one at a time for the tail.
    static func quantizePortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool {
        let (n, bytes) = dtype.layout
        assert(n == 32, "a legacy block is eight 4-lane vectors")
        var probe = F4()
        var i = 0
        while i + 4 <= blocks {
            let x0 = x + n * i
            let y0 = y + bytes * i
            i += 4
            let v = (loadBlock(x0), loadBlock(x0 + n), loadBlock(x0 + 2 * n), loadBlock(x0 + 3 * n))
            probe += (nonFiniteProbe(v.0) + nonFiniteProbe(v.1)) + (nonFiniteProbe(v.2) + nonFiniteProbe(v.3))
            guard let p0 = prepare(v.0, x0), let p1 = prepare(v.1, x0 + n), let p2 = prepare(v.2, x0 + 2 * n),
                  let p3 = prepare(v.3, x0 + 3 * n) else {
                for b in 0 ..< 4 { quantizeOne(x0 + n * b, y0 + bytes * b) }
                continue
            }
            emit(x0, y0, p0)
            emit(x0 + n, y0 + bytes, p1)
            emit(x0 + 2 * n, y0 + 2 * bytes, p2)
            emit(x0 + 3 * n, y0 + 3 * bytes, p3)
        }
        while i < blocks {
            probe += nonFiniteProbe(loadBlock(x + n * i))
            quantizeOne(x + n * i, y + bytes * i)
            i += 1
        }
        return all(probe .== probe)
    }

    /// One block: the fast path, or the reference where `prepare` declines.
    static func quantizeOne(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        if let p = prepare(loadBlock(x), x) { emit(x, y, p) } else { quantizeBlockReference(x, y) }
    }
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
    static func prepare(_ v: Vectors, _ x: UnsafePointer<Float>) -> (d: Float, id: Float)? {
        withInverse(maximumMagnitude(v) / 127)
    }

    @_transparent
    static func emit(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ p: (d: Float, id: Float)) {
        y.storeLE(ggmlFP16(p.d), at: 0)
        let v = loadBlock(x)
        // |x * id| <= 127 (plus rounding), well inside the exact range of the helpers.
        y.store16(roundHalfAway(v.0 * p.id), roundHalfAway(v.1 * p.id), roundHalfAway(v.2 * p.id), roundHalfAway(v.3 * p.id), at: 2)
        y.store16(roundHalfAway(v.4 * p.id), roundHalfAway(v.5 * p.id), roundHalfAway(v.6 * p.id), roundHalfAway(v.7 * p.id), at: 18)
    }
}

/// q4_0 (bits 4) and q5_0 (bits 5): d = max / -2^(bits-1) with max the value of largest magnitude,
/// code = MIN(2^bits - 1, (int8_t)(x * id + 2^(bits-1) + 0.5)). Block: f16 d, [u32 qh,] 16 nibble bytes.
protocol SymmetricLegacy: LegacyBlock where Scalars == (d: Float, id: Float) {}

extension SymmetricLegacy {
    @_transparent
    static func prepare(_ v: Vectors, _ x: UnsafePointer<Float>) -> (d: Float, id: Float)? {
        guard let max = signedMaximum(v) else { return nil }
        return withInverse(max / -Float(1 << (bits - 1)))
    }

    @_transparent
    static func emit(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ p: (d: Float, id: Float)) {
        y.storeLE(ggmlFP16(p.d), at: 0)
        let v = loadBlock(x)
        // x * id + 2^(bits-1) + 0.5 lies in [0.5, 2^bits + 0.5]: truncation is floor; MIN(2^bits - 1, q)
        // lowers 2^bits by one.
        let offset = Float(1 << (bits - 1)) + 0.5
        let top = Float(1 << bits)
        @_transparent func code(_ x: F4) -> I4 {
            let y = x * p.id + offset
            return y.floorBits &+ F4.lanes(y .>= top)
        }
        storeCodes((code(v.0), code(v.1), code(v.2), code(v.3), code(v.4), code(v.5), code(v.6), code(v.7)), y, header: 2, bits: bits)
    }
}

/// q4_1 (bits 4) and q5_1 (bits 5): d = (max - min) / (2^bits - 1), code = (int8_t)((x - min) * id + 0.5)
/// (q4_1 also takes MIN(15, ·); q5_1 has no clamp). Block: f16 d, f16 min, [u32 qh,] 16 nibble bytes.
protocol AffineLegacy: LegacyBlock where Scalars == (min: Float, d: Float, id: Float) {}

extension AffineLegacy {
    @_transparent
    static func prepare(_ v: Vectors, _ x: UnsafePointer<Float>) -> (min: Float, d: Float, id: Float)? {
        let (min, max) = minimumAndMaximum(v, x)
        let d = (max - min) / Float((1 << bits) - 1)
        guard d.isFinite, let (d, id) = withInverse(d) else { return nil }
        return (min, d, id)
    }

    @_transparent
    static func emit(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ p: (min: Float, d: Float, id: Float)) {
        y.storeLE(ggmlFP16(p.d), at: 0)
        y.storeLE(ggmlFP16(p.min), at: 2)
        let v = loadBlock(x)
        // (x - min) * id <= (max - min) * id = (2^bits - 1) × (1 ± a few ulp): the codes fit, so q4_1's
        // MIN(15, q) never acts (and q5_1's `(uint8_t)(x0 + 0.5f)` has no clamp).
        @_transparent func code(_ x: F4) -> I4 { ((x - p.min) * p.id + 0.5).floorBits }
        storeCodes((code(v.0), code(v.1), code(v.2), code(v.3), code(v.4), code(v.5), code(v.6), code(v.7)), y, header: 4, bits: bits)
    }
}
