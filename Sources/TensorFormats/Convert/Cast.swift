import CConnkit

/// How an f64 element becomes float32.
public enum Float64Rounding: Sendable {
    /// Round to nearest even; finite values beyond float32's range become ±inf (numpy's `astype`).
    case toNearestEven
    /// Round to odd: a second, narrower rounding of the result (to f16) then equals rounding the f64
    /// directly, as numpy's f64 -> f16 cast does.
    case toOdd
    /// Round to nearest even, but a finite value beyond float32's range becomes ±`greatestFiniteMagnitude`
    /// (statistics that must tell a huge finite value from an infinity).
    case saturating
}

/// Element casts between floating types, bit-identical to numpy (f16) and ml_dtypes (bf16):
/// f32 -> f16 / bf16 round to nearest even; f64 -> f16 rounds once, directly, as numpy does
/// (round-to-odd through f32, then to nearest even); f64 -> bf16 goes through f32 as ml_dtypes does
/// (two roundings). Widening is exact. The f8 formats decode exactly; f6/f4 are not decoded.
public enum Cast {
    /// Element types `toFloat32` decodes.
    public static func decodesToFloat32(_ dtype: DType) -> Bool {
        switch dtype {
        case .f64, .f32, .f16, .bf16, .f8_e4m3, .f8_e5m2, .f8_e8m0, .f8_e4m3fnuz, .f8_e5m2fnuz: true
        default: false
        }
    }

    /// Decodes `count` elements of `dtype` (little-endian) to f32; f64 rounds as `f64` says.
    public static func toFloat32(_ src: UnsafeRawPointer, _ dtype: DType, count: Int,
                                 into dst: UnsafeMutablePointer<Float>, f64: Float64Rounding = .toNearestEven) {
        switch dtype {
        case .f32:
            dst.update(from: src.assumingMemoryBound(to: Float.self), count: count)
        case .f16:
            ck_f16_to_f32(src.assumingMemoryBound(to: UInt16.self), dst, count)
        case .bf16:
            ck_bf16_to_f32(src.assumingMemoryBound(to: UInt16.self), dst, count)
        case .f64:
            switch f64 {
            case .toNearestEven:
                for i in 0 ..< count { dst[i] = Float(src.loadUnaligned(fromByteOffset: i * 8, as: Double.self)) }
            case .toOdd:
                for i in 0 ..< count { dst[i] = float32RoundedToOdd(src.loadUnaligned(fromByteOffset: i * 8, as: Double.self)) }
            case .saturating:
                let limit = Double(Float.greatestFiniteMagnitude)
                for i in 0 ..< count {
                    let value = src.loadUnaligned(fromByteOffset: i * 8, as: Double.self)
                    dst[i] = !value.isFinite || abs(value) <= limit ? Float(value)
                        : value > 0 ? .greatestFiniteMagnitude : -.greatestFiniteMagnitude
                }
            }
        case .f8_e4m3, .f8_e5m2, .f8_e8m0, .f8_e4m3fnuz, .f8_e5m2fnuz:
            let table = Float8Tables.table(for: dtype)
            let bytes = src.assumingMemoryBound(to: UInt8.self)
            table.withUnsafeBufferPointer { lut in
                for i in 0 ..< count { dst[i] = lut[Int(bytes[i])] }
            }
        default:
            preconditionFailure("toFloat32 called for \(dtype); check decodesToFloat32 first")
        }
    }

    /// Encodes `count` f32 values as `dtype` (f32, f16 or bf16).
    public static func fromFloat32(_ src: UnsafePointer<Float>, count: Int, to dtype: DType, into dst: UnsafeMutableRawPointer) {
        switch dtype {
        case .f32: dst.copyMemory(from: src, byteCount: count * 4)
        case .f16: ck_f32_to_f16(src, dst.assumingMemoryBound(to: UInt16.self), count)
        case .bf16: ck_f32_to_bf16(src, dst.assumingMemoryBound(to: UInt16.self), count)
        default: preconditionFailure("fromFloat32 to \(dtype) is not a cast connkit performs")
        }
    }

    /// Largest finite |x| (0 when none), to report values that overflow f16.
    public static func maxAbsFinite(_ values: UnsafePointer<Float>, count: Int) -> Float {
        ck_max_abs_finite_f32(values, count)
    }

    /// f64 -> f32 rounding to odd: truncate toward zero, then set the last bit if anything was lost.
    /// Rounding that result to a format with at most 22 mantissa bits equals rounding the f64 directly.
    static func float32RoundedToOdd(_ value: Double) -> Float {
        let nearest = Float(value)
        guard value.isFinite, nearest.isFinite, Double(nearest) != value else {
            if value.isFinite, !nearest.isFinite {
                // Beyond f32's range: the largest finite f32 with the odd bit set keeps "too large" visible.
                return value > 0 ? Float.greatestFiniteMagnitude : -Float.greatestFiniteMagnitude
            }
            return nearest
        }
        var truncated = nearest
        if abs(Double(nearest)) > abs(value) { truncated = nearest > 0 ? nearest.nextDown : nearest.nextUp }
        return Float(bitPattern: truncated.bitPattern | 1)
    }
}

/// Decoding tables for the 8-bit float formats, built from their definitions.
enum Float8Tables {
    static let e4m3: [Float] = (0 ..< 256).map { decode(UInt8($0), exponentBits: 4, bias: 7, style: .finiteNaNAllOnes) }
    static let e5m2: [Float] = (0 ..< 256).map { decode(UInt8($0), exponentBits: 5, bias: 15, style: .ieee) }
    static let e4m3fnuz: [Float] = (0 ..< 256).map { decode(UInt8($0), exponentBits: 4, bias: 8, style: .unsignedZeroNaN) }
    static let e5m2fnuz: [Float] = (0 ..< 256).map { decode(UInt8($0), exponentBits: 5, bias: 16, style: .unsignedZeroNaN) }
    /// E8M0: an unsigned power of two, 2^(e-127); 0xFF is NaN.
    static let e8m0: [Float] = (0 ..< 256).map { $0 == 255 ? .nan : Float(sign: .plus, exponent: $0 - 127, significand: 1) }

    static func table(for dtype: DType) -> [Float] {
        switch dtype {
        case .f8_e4m3: e4m3
        case .f8_e5m2: e5m2
        case .f8_e4m3fnuz: e4m3fnuz
        case .f8_e5m2fnuz: e5m2fnuz
        default: e8m0
        }
    }

    enum Style {
        /// IEEE-like: all-ones exponent is inf (mantissa 0) or NaN.
        case ieee
        /// "fn": no infinities; only the all-ones pattern (exponent and mantissa) is NaN.
        case finiteNaNAllOnes
        /// "fnuz": no infinities, no negative zero; 0x80 is the NaN.
        case unsignedZeroNaN
    }

    static func decode(_ byte: UInt8, exponentBits: Int, bias: Int, style: Style) -> Float {
        let mantissaBits = 7 - exponentBits
        let negative = byte & 0x80 != 0
        let exponent = Int(byte >> mantissaBits) & ((1 << exponentBits) - 1)
        let mantissa = Int(byte) & ((1 << mantissaBits) - 1)
        let maxExponent = (1 << exponentBits) - 1
        switch style {
        case .ieee where exponent == maxExponent:
            return mantissa == 0 ? (negative ? -.infinity : .infinity) : .nan
        case .finiteNaNAllOnes where exponent == maxExponent && mantissa == (1 << mantissaBits) - 1:
            return .nan
        case .unsignedZeroNaN where byte == 0x80:
            return .nan
        default:
            break
        }
        let magnitude: Float = exponent == 0
            ? Float(mantissa) * Float(sign: .plus, exponent: 1 - bias - mantissaBits, significand: 1)
            : Float(sign: .plus, exponent: exponent - bias, significand: 1 + Float(mantissa) / Float(1 << mantissaBits))
        return negative ? -magnitude : magnitude
    }
}
