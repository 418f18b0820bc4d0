/// Vector helpers for the fast kernels, on 4-lane vectors (one SSE / NEON register).
///
/// Written so that they compile to plain vector instructions on the default x86-64 target: the standard
/// library's generic SIMD paths (`max()`, `rounded`, float -> integer `init(_:rounding:)`, `clamping:`)
/// and vectors wider than one register become per-lane loops inside larger functions, and so does a
/// select built from bit masks (`a & m | b & ~m`); comparisons, arithmetic, bitwise operations and
/// `replacing(with:where:)` on `SIMD4<Float>` / `SIMD4<Int32>` do not (measured on Swift 6.3). Every
/// helper is exact: no result depends on evaluation order, and each lane computes what the scalar code
/// computes.

typealias F4 = SIMD4<Float>
typealias I4 = SIMD4<Int32>

extension SIMD4 where Scalar == Float {
    @inline(__always)
    var bits: I4 { unsafeBitCast(self, to: I4.self) }

    @inline(__always)
    init(bits: I4) { self = unsafeBitCast(bits, to: F4.self) }

    /// All-ones lanes where `mask` is true.
    @inline(__always)
    static func lanes(_ mask: SIMDMask<I4>) -> I4 { unsafeBitCast(mask, to: I4.self) }

    /// `mask ? a : b`, lane by lane.
    @inline(__always)
    static func select(_ mask: SIMDMask<I4>, _ a: F4, _ b: F4) -> F4 {
        b.replacing(with: a, where: mask)
    }

    /// |x| by clearing the sign bit.
    @inline(__always)
    var magnitude: F4 { F4(bits: bits & I4(repeating: 0x7FFF_FFFF)) }

    /// `other > self ? other : self` (maxps on non-NaN values).
    @inline(__always)
    func laneMax(_ other: F4) -> F4 { .select(other .> self, other, self) }

    /// `other < self ? other : self` (minps on non-NaN values).
    @inline(__always)
    func laneMin(_ other: F4) -> F4 { .select(other .< self, other, self) }

    /// Largest lane (finite values).
    @inline(__always)
    func reduceMax() -> Float {
        let m = laneMax(F4(z, w, x, y))
        return m.x > m.y ? m.x : m.y
    }

    /// Smallest lane (finite values).
    @inline(__always)
    func reduceMin() -> Float {
        let m = laneMin(F4(z, w, x, y))
        return m.x < m.y ? m.x : m.y
    }

    /// floor(x) for 0 <= x < 2^22 as an integer in the low 23 bits (the bits above hold 0x4B000000, so
    /// only masked or byte-truncated uses are meaningful): round to nearest even by adding 2^23, then
    /// subtract one where that went up.
    @inline(__always)
    var floorBits: I4 {
        let shifted = self + 8_388_608
        return shifted.bits &+ F4.lanes((shifted - 8_388_608) .> self)
    }

    /// ggml's `nearest_int` lane by lane: the same bit arithmetic as the scalar `nearestInt`, so even
    /// out-of-range and NaN lanes give the scalar result.
    @inline(__always)
    var nearestInt: I4 {
        ((self + 12_582_912).bits & I4(repeating: 0x007F_FFFF)) &- I4(repeating: 0x0040_0000)
    }
}

extension SIMD4 where Scalar == Int32 {
    /// The four low bytes of each lane (values already in 0...255 or wanted modulo 256).
    @inline(__always)
    var lowBytes: SIMD4<UInt8> { SIMD4<UInt8>(truncatingIfNeeded: self) }
}

extension UnsafePointer where Pointee == Float {
    @inline(__always)
    func load4(_ offset: Int) -> F4 {
        UnsafeRawPointer(self + offset).loadUnaligned(as: F4.self)
    }
}

extension UnsafeMutableRawPointer {
    /// Stores the low bytes of 16 lanes (a, b, c, d in order) as 16 bytes.
    @inline(__always)
    func store16(_ a: I4, _ b: I4, _ c: I4, _ d: I4, at offset: Int) {
        let lanes = SIMD16<Int32>(lowHalf: SIMD8(lowHalf: a, highHalf: b), highHalf: SIMD8(lowHalf: c, highHalf: d))
        storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: lanes), toByteOffset: offset, as: SIMD16<UInt8>.self)
    }
}

/// `ggmlFP16` on four lanes: the same bit arithmetic, lane by lane (the result is in the low 16 bits).
@inline(__always)
func ggmlFP16(_ value: F4) -> SIMD4<UInt32> {
    var base = (value.magnitude * Float(bitPattern: 0x7780_0000)) * Float(bitPattern: 0x0880_0000)
    let w = SIMD4<UInt32>(truncatingIfNeeded: value.bits)
    let shl1W = w &+ w
    let sign = w & 0x8000_0000
    var bias = shl1W & 0xFF00_0000
    bias.replace(with: 0x7100_0000, where: bias .< 0x7100_0000)
    base = F4(bits: I4(truncatingIfNeeded: (bias &>> 1) &+ 0x0780_0000)) + base
    let bits = SIMD4<UInt32>(truncatingIfNeeded: base.bits)
    let exponentBits = (bits &>> 13) & 0x0000_7C00
    let mantissaBits = bits & 0x0000_0FFF
    var result = exponentBits &+ mantissaBits
    result.replace(with: 0x7E00, where: shl1W .> 0xFF00_0000)
    return (sign &>> 16) | result
}
