/// Dequantization of the ternary, FP4 and 1/2-bit ggml types (connkit reads these; it does not write
/// them). Layouts (f16 `d`, little-endian):
///
///     tq1_0  54 bytes (256): qs: u8[48] | qh: u8[4] | d     base-3 digits, 5 per byte (4 in qh)
///     tq2_0  66 bytes (256): qs: u8[64] | d                  2-bit codes, value (q - 1) * d
///     mxfp4  17 bytes (32):  e: u8 (E8M0) | qs: u8[16]       y = kvalues[nibble] * 2^(e - 128)
///     nvfp4  36 bytes (64):  d: u8[4] (UE4M3) | qs: u8[32]   16-element sub-blocks, kvalues as mxfp4
///     q1_0   18 bytes (128): d | qs: u8[16]                  bit set -> d, clear -> -d
///     q2_0   18 bytes (64):  d | qs: u8[16]                  y = (q - 1) * d
enum TQ1_0: BlockDecoder {
    static let dtype = DType.tq1_0

    /// Trit `n` (0 = most significant) of a byte storing ceil(v * 256 / 243).
    @inline(__always)
    static func trit(_ byte: UInt8, _ n: Int) -> Float {
        let powers: (UInt8, UInt8, UInt8, UInt8, UInt8) = (1, 3, 9, 27, 81)
        let p: UInt8
        switch n {
        case 0: p = powers.0
        case 1: p = powers.1
        case 2: p = powers.2
        case 3: p = powers.3
        default: p = powers.4
        }
        let q = byte &* p
        return Float(Int16((UInt16(q) &* 3) >> 8) - 1)
    }

    /// (first byte, bytes, trits per byte, first element) of the three runs: 32 and 16 bytes of five
    /// trits, then qh's 4 bytes of four.
    static let runs = [(0, 32, 5, 0), (32, 16, 5, 160), (48, 4, 4, 240)]

    static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        let d = block.loadF16(at: 52)
        for (start, count, trits, first) in runs {
            for n in 0 ..< trits {
                for m in 0 ..< count { x[first + count * n + m] = d * trit(block.byte(start + m), n) }
            }
        }
    }
}

enum TQ2_0: BlockDecoder {
    static let dtype = DType.tq2_0

    static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        let d = block.loadF16(at: 64)
        for e in 0 ..< 256 {
            let q = (block.byte(32 * (e >> 7) + (e & 31)) >> (2 * ((e >> 5) & 3))) & 3
            x[e] = d * Float(Int8(q) - 1)
        }
    }
}

enum MXFP4: BlockDecoder {
    static let dtype = DType.mxfp4
    /// `kvalues_mxfp4`: E2M1 values times two.
    static let values: [Float] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]

    /// `ggml_e8m0_to_fp32_half`: 2^(e - 128), with e < 2 given by subnormal bit patterns.
    @inline(__always)
    static func halfScale(_ e: UInt8) -> Float {
        Float(bitPattern: e < 2 ? UInt32(0x0020_0000) << e : UInt32(e - 1) << 23)
    }

    static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        decodeTable(block, at: 1, count: 16, scale: halfScale(block.byte(0)), table: values, into: x)
    }
}

enum NVFP4: BlockDecoder {
    static let dtype = DType.nvfp4

    /// `ggml_ue4m3_to_fp32`: unsigned E4M3 (bias 7), times 0.5 to match the doubled kvalues.
    @inline(__always)
    static func scale(_ u: UInt8) -> Float {
        if u == 0 || u == 0x7F { return 0 }
        let exponent = Int((u >> 3) & 0xF)
        let mantissa = Float(u & 7)
        let raw: Float = exponent == 0
            ? mantissa * Float(bitPattern: 0x3B00_0000)  // 2^-9
            : (1 + mantissa / 8) * Float(sign: .plus, exponent: exponent - 7, significand: 1)
        return raw * 0.5
    }

    static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        for s in 0 ..< 4 {
            decodeTable(block, at: 4 + 8 * s, count: 8, scale: scale(block.byte(s)), table: MXFP4.values, into: x + 16 * s)
        }
    }
}

enum Q1_0: BlockDecoder {
    static let dtype = DType.q1_0

    static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        let d = block.loadF16(at: 0)
        for j in 0 ..< 128 { x[j] = (block.byte(2 + j / 8) >> (j % 8)) & 1 != 0 ? d : -d }
    }
}

enum Q2_0: BlockDecoder {
    static let dtype = DType.q2_0

    static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        let d = block.loadF16(at: 0)
        for j in 0 ..< 64 { x[j] = Float(Int32((block.byte(2 + j / 4) >> (2 * (j % 4))) & 3) - 1) * d }
    }
}
