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

    /// The 16 sub-blocks of 16 elements of q2_k, q3_k and q6_k: `scale(j)` gives sub-block j's
    /// (multiplier, offset), `code(e)` element e's code; the value is `multiplier * code - offset`.
    @inline(__always)
    static func decodeSixteen(into x: UnsafeMutablePointer<Float>, scale: (Int) -> (Float, Float), code: (Int) -> Float) {
        for j in 0 ..< 16 {
            let (dl, ml) = scale(j)
            for e in 16 * j ..< 16 * j + 16 { x[e] = dl * code(e) - ml }
        }
    }

    /// q4_k (`qsOffset` 16, no high bits) and q5_k (48, the high bit plane at 16): eight sub-blocks of 32.
    @inline(__always)
    static func decodeScaleMin(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>, qsOffset: Int, highBits: Bool) {
        let d = block.loadF16(at: 0)
        let dmin = block.loadF16(at: 2)
        for j in 0 ..< 8 {
            let (sc, m) = scaleMin(j, block + 4)
            let dl = d * Float(sc)
            let ml = dmin * Float(m)
            let shift = (j & 1) * 4
            for l in 0 ..< 32 {
                let low = (block.byte(qsOffset + 32 * (j >> 1) + l) >> shift) & 0xF
                let high = highBits ? (block.byte(16 + l) >> j) & 1 : 0
                x[32 * j + l] = dl * Float(low | (high << 4)) - ml
            }
        }
    }
}

package enum Q2_K: BlockDecoder {
    package static let dtype = DType.q2_k

    package static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        let d = block.loadF16(at: 80)
        let dmin = block.loadF16(at: 82)
        KQuantLayout.decodeSixteen(into: x, scale: { j in
            let sc = block.byte(j)
            return (d * Float(sc & 0xF), dmin * Float(sc >> 4))
        }, code: { e in Float(KQuantLayout.code2Bit(block + 16, e)) })
    }
}

package enum Q3_K: BlockDecoder {
    package static let dtype = DType.q3_k

    /// 6-bit code of sub-block `j` (0..<16) from the 12 scale bytes.
    @inlinable @inline(__always)
    package static func scaleCode(_ j: Int, _ s: UnsafeRawPointer) -> UInt8 {
        let low = j < 8 ? s.byte(j) & 0xF : s.byte(j - 8) >> 4
        return low | (((s.byte(8 + j % 4) >> (2 * (j / 4))) & 3) << 4)
    }

    package static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        let d = block.loadF16(at: 108)
        KQuantLayout.decodeSixteen(into: x, scale: { j in (d * Float(Int8(bitPattern: scaleCode(j, block + 96)) - 32), 0) },
                                   code: { e in
            let high = (block.byte(e & 31) >> (e >> 5)) & 1
            return Float(Int8(KQuantLayout.code2Bit(block + 32, e)) - (high == 0 ? 4 : 0))
        })
    }
}

/// q4_k and q5_k share everything but the code width and the high-bit plane.
package enum Q4_K: BlockDecoder {
    package static let dtype = DType.q4_k

    package static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        KQuantLayout.decodeScaleMin(block, into: x, qsOffset: 16, highBits: false)
    }
}

package enum Q5_K: BlockDecoder {
    package static let dtype = DType.q5_k

    package static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        KQuantLayout.decodeScaleMin(block, into: x, qsOffset: 48, highBits: true)
    }
}

package enum Q6_K: BlockDecoder {
    package static let dtype = DType.q6_k

    package static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        let d = block.loadF16(at: 208)
        KQuantLayout.decodeSixteen(into: x, scale: { j in (d * Float(Int8(bitPattern: block.byte(192 + j))), 0) },
                                   code: { e in
            let (h, r) = (e >> 7, e & 127)
            let low = (block.byte(64 * h + (r & 63)) >> (4 * (r >> 6))) & 0xF
            let high = (block.byte(128 + 32 * h + (r & 31)) >> (2 * (r >> 5))) & 3
            return Float(Int8(bitPattern: low | (high << 4)) - 32)
        })
    }
}

/// q8_k is the k-quants' activation format (ggml_quantize_chunk does not produce it); dequantization
/// follows ggml's `dequantize_row_q8_K`.
enum Q8_K: BlockDecoder {
    static let dtype = DType.q8_k

    static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        decodeInt8(block, at: 4, count: 256, scale: block.loadF32(at: 0), into: x)
    }
}
