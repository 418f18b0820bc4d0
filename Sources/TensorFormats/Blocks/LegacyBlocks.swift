/// The legacy 32-element ggml block types and their decoders. Layouts (little-endian fields, `d`/`m`
/// are f16):
///
///     q8_0  34 bytes: d | qs: int8[32]                     y = qs * d
///     q8_1  36 bytes: d | s | qs: int8[32]                 y = qs * d   (s = fp16(sum(qs) * d))
///     q4_0  18 bytes: d | qs: u8[16]                       y = (nibble - 8) * d
///     q4_1  20 bytes: d | m | qs: u8[16]                   y = nibble * d + m
///     q5_0  22 bytes: d | qh: u32 | qs: u8[16]             y = (5-bit - 16) * d
///     q5_1  24 bytes: d | m | qh: u32 | qs: u8[16]         y = 5-bit * d + m
///
/// Nibble packing: byte j holds element j (low nibble) and element j + 16 (high nibble); bit j of `qh`
/// is bit 4 of element j. The quantizers (the Quantization target) extend these types.
package enum Q8_0 {
    package static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        for i in 0 ..< blocks {
            let yb = y + 34 * i
            let d = yb.loadF16(at: 0)
            for j in 0 ..< 32 {
                x[32 * i + j] = Float(Int8(bitPattern: yb.byte(2 + j))) * d
            }
        }
    }
}

/// q8_1 is an activation format: ggml_quantize_chunk does not produce it and ggml has no dequantizer for
/// it; its values are `qs * d` as in q8_0 (the `s` field only speeds up dot products).
enum Q8_1 {
    static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        for i in 0 ..< blocks {
            let yb = y + 36 * i
            let d = yb.loadF16(at: 0)
            for j in 0 ..< 32 {
                x[32 * i + j] = Float(Int8(bitPattern: yb.byte(4 + j))) * d
            }
        }
    }
}

package enum Q4_0 {
    package static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        for i in 0 ..< blocks {
            let yb = y + 18 * i
            let d = yb.loadF16(at: 0)
            for j in 0 ..< 16 {
                let q = yb.byte(2 + j)
                x[32 * i + j] = d * Float(Int32(q & 15) - 8)
                x[32 * i + 16 + j] = d * Float(Int32(q >> 4) - 8)
            }
        }
    }
}

package enum Q4_1 {
    package static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        for i in 0 ..< blocks {
            let yb = y + 20 * i
            let d = yb.loadF16(at: 0)
            let m = yb.loadF16(at: 2)
            for j in 0 ..< 16 {
                let q = yb.byte(4 + j)
                x[32 * i + j] = d * Float(q & 15) + m
                x[32 * i + 16 + j] = d * Float(q >> 4) + m
            }
        }
    }
}

package enum Q5_0 {
    package static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        for i in 0 ..< blocks {
            let yb = y + 22 * i
            let d = yb.loadF16(at: 0)
            let qh = yb.loadLE(UInt32.self, at: 2)
            for j in 0 ..< 16 {
                let q = yb.byte(6 + j)
                let h0 = Int32((qh >> j) & 1) << 4
                let h1 = Int32((qh >> (j + 16)) & 1) << 4
                x[32 * i + j] = d * Float((Int32(q & 15) | h0) - 16)
                x[32 * i + 16 + j] = d * Float((Int32(q >> 4) | h1) - 16)
            }
        }
    }
}

package enum Q5_1 {
    package static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        for i in 0 ..< blocks {
            let yb = y + 24 * i
            let d = yb.loadF16(at: 0)
            let m = yb.loadF16(at: 2)
            let qh = yb.loadLE(UInt32.self, at: 4)
            for j in 0 ..< 16 {
                let q = yb.byte(8 + j)
                let h0 = UInt32((qh >> j) & 1) << 4
                let h1 = UInt32((qh >> (j + 16)) & 1) << 4
                x[32 * i + j] = d * Float(UInt32(q & 15) | h0) + m
                x[32 * i + 16 + j] = d * Float(UInt32(q >> 4) | h1) + m
            }
        }
    }
}
