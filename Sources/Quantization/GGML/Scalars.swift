/// Scalar helpers of the ggml block quantizers: ggml's own f32 -> f16 rounding, the k-quant
/// `nearest_int`, and C's float -> integer conversion as x86-64 compiles it. Each is a transcription of
/// the C it names, because bit-exactness depends on every rounding step. (Reading block fields back,
/// f16 -> f32 included, is TensorFormats' `Blocks/BlockFields.swift`.)

/// `ggml_compute_fp32_to_fp16` (ggml-impl.h, from the FP16 library): round to nearest even, overflow to
/// ±inf, subnormals kept, NaN -> 0x7E00 with the sign.
@inline(__always)
func ggmlFP16(_ value: Float) -> UInt16 {
    let scaleToInf = Float(bitPattern: 0x7780_0000)  // 0x1.0p+112
    let scaleToZero = Float(bitPattern: 0x0880_0000)  // 0x1.0p-110
    var base = (abs(value) * scaleToInf) * scaleToZero
    let w = value.bitPattern
    let shl1W = w &+ w
    let sign = w & 0x8000_0000
    var bias = shl1W & 0xFF00_0000
    if bias < 0x7100_0000 { bias = 0x7100_0000 }
    base = Float(bitPattern: (bias >> 1) &+ 0x0780_0000) + base
    let bits = base.bitPattern
    let exponentBits = (bits >> 13) & 0x0000_7C00
    let mantissaBits = bits & 0x0000_0FFF
    let nonSign = exponentBits &+ mantissaBits
    return UInt16(truncatingIfNeeded: (sign >> 16) | (shl1W > 0xFF00_0000 ? 0x7E00 : nonSign))
}

/// The k-quant `nearest_int`: add 1.5 * 2^23 and read the low mantissa bits. Round half to even for
/// |v| <= 4194303; beyond that (ggml asserts only in debug builds) the same bit arithmetic is kept so
/// that out-of-range values give ggml's result, whatever it is.
@inline(__always)
func nearestInt(_ value: Float) -> Int32 {
    let shifted = value + 12_582_912.0
    return Int32(bitPattern: shifted.bitPattern & 0x007F_FFFF) &- 0x0040_0000
}

/// C's `(int)value` as x86-64 compilers emit it (`cvttss2si`): truncation toward zero, and the
/// "integer indefinite" value INT_MIN for NaN and out-of-range inputs (undefined behaviour in C, but
/// this is what the reference build computes).
@inline(__always)
func x86Truncate(_ value: Float) -> Int32 {
    guard value > -2_147_483_904.0, value < 2_147_483_648.0 else { return .min }
    return Int32(value)
}

/// C's `roundf`: round half away from zero.
@inline(__always)
func cRound(_ value: Float) -> Float {
    value.rounded(.toNearestOrAwayFromZero)
}

/// ggml's "signed value of largest magnitude" scan: the first element whose |x| is strictly greater
/// than every earlier one; (0, 0) when every element is ±0.
@inline(__always)
func signedAbsMax(_ x: UnsafePointer<Float>, _ count: Int) -> (amax: Float, max: Float) {
    var amax: Float = 0
    var max: Float = 0
    for j in 0 ..< count {
        let v = x[j]
        if amax < abs(v) {
            amax = abs(v)
            max = v
        }
    }
    return (amax, max)
}

extension UnsafeMutableRawPointer {
    @inline(__always)
    func storeLE(_ value: UInt16, at offset: Int) {
        storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt16.self)
    }

    @inline(__always)
    func storeLE(_ value: UInt32, at offset: Int) {
        storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
    }

    @inline(__always)
    func storeLE(_ value: Float, at offset: Int) {
        storeBytes(of: value.bitPattern.littleEndian, toByteOffset: offset, as: UInt32.self)
    }
}
