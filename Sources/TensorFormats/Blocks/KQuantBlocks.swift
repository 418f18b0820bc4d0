/// The k-quant super-block types (256 elements per block) and their decoders. Layouts (f16 `d`/`dmin`,
/// little-endian):
///
///     q2_k   84 bytes: scales: u8[16] | qs: u8[64] | d | dmin
///     q3_k  110 bytes: hmask: u8[32] | qs: u8[64] | scales: u8[12] | d
///     q4_k  144 bytes: d | dmin | scales: u8[12] | qs: u8[128]
///     q5_k  176 bytes: d | dmin | scales: u8[12] | qh: u8[32] | qs: u8[128]
///     q6_k  210 bytes: ql: u8[128] | qh: u8[64] | scales: int8[16] | d
///     q8_k  292 bytes: d: f32 | qs: int8[256] | bsums: int16[16]
///
/// Shared 2-bit packing (q2_k, low bits of q3_k): element 128h + 32s + l sits in byte 32h + l at bit
/// 2s. q4_k/q5_k pack element 64c + l (l < 32) in the low nibble of byte 32c + l and element
/// 64c + 32 + l in its high nibble; their 6-bit scale and min codes use `get_scale_min_k4`'s layout.
/// Dequantization follows gguf-py's `gguf.quants` expression order (which equals ggml's). The
/// quantizers (the Quantization target) extend these types.
package enum KQuantLayout {
    /// `get_scale_min_k4`: the 6-bit scale and min codes of sub-block `j` (0..<8).
    @inlinable @inline(__always)
    package static func scaleMin(_ j: Int, _ q: UnsafeRawPointer) -> (scale: UInt8, min: UInt8) {
        if j < 4 {
            return (q.byte(j) & 63, q.byte(j + 4) & 63)
        }
        return ((q.byte(j + 4) & 0xF) | ((q.byte(j - 4) >> 6) << 4), (q.byte(j + 4) >> 4) | ((q.byte(j) >> 6) << 4))
    }

    /// 2-bit code of element `e` from the shared packing.
    @inline(__always)
    static func code2Bit(_ qs: UnsafeRawPointer, _ e: Int) -> UInt8 {
        let h = e >> 7
        let r = e & 127
        return (qs.byte(32 * h + (r & 31)) >> (2 * (r >> 5))) & 3
    }
}

package enum Q2_K {
    package static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        for i in 0 ..< blocks {
            let yb = y + 84 * i
            let d = yb.loadF16(at: 80)
            let dmin = yb.loadF16(at: 82)
            for j in 0 ..< 16 {
                let sc = yb.byte(j)
                let dl = d * Float(sc & 0xF)
                let ml = dmin * Float(sc >> 4)
                for l in 0 ..< 16 {
                    let e = 16 * j + l
                    x[256 * i + e] = dl * Float(KQuantLayout.code2Bit(yb + 16, e)) - ml
                }
            }
        }
    }
}

package enum Q3_K {
    /// 6-bit code of sub-block `j` (0..<16) from the 12 scale bytes.
    @inlinable @inline(__always)
    package static func scaleCode(_ j: Int, _ s: UnsafeRawPointer) -> UInt8 {
        let low = j < 8 ? s.byte(j) & 0xF : s.byte(j - 8) >> 4
        return low | (((s.byte(8 + j % 4) >> (2 * (j / 4))) & 3) << 4)
    }

    package static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        for i in 0 ..< blocks {
            let yb = y + 110 * i
            let d = yb.loadF16(at: 108)
            for j in 0 ..< 16 {
                let dl = d * Float(Int8(bitPattern: scaleCode(j, yb + 96)) - 32)
                for l in 0 ..< 16 {
                    let e = 16 * j + l
                    let high = (yb.byte(e & 31) >> (e >> 5)) & 1
                    let q = Int8(KQuantLayout.code2Bit(yb + 32, e)) - (high == 0 ? 4 : 0)
                    x[256 * i + e] = dl * Float(q)
                }
            }
        }
    }
}

/// q4_k and q5_k share everything but the code width and the high-bit plane.
package enum Q4_K {
    package static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        for i in 0 ..< blocks {
            let yb = y + 144 * i
            let d = yb.loadF16(at: 0)
            let dmin = yb.loadF16(at: 2)
            for j in 0 ..< 8 {
                let (sc, m) = KQuantLayout.scaleMin(j, yb + 4)
                let dl = d * Float(sc)
                let ml = dmin * Float(m)
                let c = j >> 1
                let shift = (j & 1) * 4
                for l in 0 ..< 32 {
                    let q = (yb.byte(16 + 32 * c + l) >> shift) & 0xF
                    x[256 * i + 32 * j + l] = dl * Float(q) - ml
                }
            }
        }
    }
}

package enum Q5_K {
    package static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        for i in 0 ..< blocks {
            let yb = y + 176 * i
            let d = yb.loadF16(at: 0)
            let dmin = yb.loadF16(at: 2)
            for j in 0 ..< 8 {
                let (sc, m) = KQuantLayout.scaleMin(j, yb + 4)
                let dl = d * Float(sc)
                let ml = dmin * Float(m)
                let c = j >> 1
                let shift = (j & 1) * 4
                for l in 0 ..< 32 {
                    let low = (yb.byte(48 + 32 * c + l) >> shift) & 0xF
                    let high = (yb.byte(16 + l) >> j) & 1
                    x[256 * i + 32 * j + l] = dl * Float(low | (high << 4)) - ml
                }
            }
        }
    }
}

package enum Q6_K {
    package static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        for i in 0 ..< blocks {
            let yb = y + 210 * i
            let d = yb.loadF16(at: 208)
            for j in 0 ..< 16 {
                let dl = d * Float(Int8(bitPattern: yb.byte(192 + j)))
                for l in 0 ..< 16 {
                    let e = 16 * j + l
                    let h = e >> 7
                    let r = e & 127
                    let low = (yb.byte(64 * h + (r & 63)) >> (4 * (r >> 6))) & 0xF
                    let high = (yb.byte(128 + 32 * h + (r & 31)) >> (2 * (r >> 5))) & 3
                    x[256 * i + e] = dl * Float(Int8(bitPattern: low | (high << 4)) - 32)
                }
            }
        }
    }
}

/// q8_k is the k-quants' activation format (ggml_quantize_chunk does not produce it); dequantization
/// follows ggml's `dequantize_row_q8_K`.
enum Q8_K {
    static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        for i in 0 ..< blocks {
            let yb = y + 292 * i
            let d = yb.loadF32(at: 0)
            for j in 0 ..< 256 {
                x[256 * i + j] = d * Float(Int8(bitPattern: yb.byte(4 + j)))
            }
        }
    }
}
