/// The legacy 32-element ggml block types. Layouts (little-endian fields, `d`/`m` are f16):
///
///     q8_0  34 bytes: d | qs: int8[32]                     y = qs * d
///     q8_1  36 bytes: d | s | qs: int8[32]                 y = qs * d   (s = fp16(sum(qs) * d))
///     q4_0  18 bytes: d | qs: u8[16]                       y = (nibble - 8) * d
///     q4_1  20 bytes: d | m | qs: u8[16]                   y = nibble * d + m
///     q5_0  22 bytes: d | qh: u32 | qs: u8[16]             y = (5-bit - 16) * d
///     q5_1  24 bytes: d | m | qh: u32 | qs: u8[16]         y = 5-bit * d + m
///
/// Nibble packing: byte j holds element j (low nibble) and element j + 16 (high nibble); bit j of `qh`
/// is bit 4 of element j. The `quantizeReference` functions transcribe ggml-quants.c's `_ref`
/// functions line by line, including C's float -> int8 conversion as the x86-64 reference build
/// performs it; the fast paths in LegacySIMD.swift must give the same bytes.
enum Q8_0 {
    static func quantizeReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
        for i in 0 ..< blocks {
            let xb = x + 32 * i
            let yb = y + 34 * i
            var amax: Float = 0
            for j in 0 ..< 32 {
                let a = abs(xb[j])
                amax = amax > a ? amax : a
            }
            let d = amax / 127
            let id: Float = d != 0 ? 1 / d : 0
            yb.storeLE(ggmlFP16(d), at: 0)
            for j in 0 ..< 32 {
                let q = x86Truncate(cRound(xb[j] * id))
                yb.storeBytes(of: UInt8(truncatingIfNeeded: q), toByteOffset: 2 + j, as: UInt8.self)
            }
        }
    }

    static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
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

enum Q4_0 {
    static func quantizeReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
        for i in 0 ..< blocks {
            let xb = x + 32 * i
            let yb = y + 18 * i
            let (_, max) = signedAbsMax(xb, 32)
            let d = max / -8
            let id: Float = d != 0 ? 1 / d : 0
            yb.storeLE(ggmlFP16(d), at: 0)
            for j in 0 ..< 16 {
                let q0 = UInt8(truncatingIfNeeded: min(15, Int32(Int8(truncatingIfNeeded: x86Truncate(xb[j] * id + 8.5)))))
                let q1 = UInt8(truncatingIfNeeded: min(15, Int32(Int8(truncatingIfNeeded: x86Truncate(xb[16 + j] * id + 8.5)))))
                yb.storeBytes(of: q0 | q1 &<< 4, toByteOffset: 2 + j, as: UInt8.self)
            }
        }
    }

    static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
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

enum Q4_1 {
    static func quantizeReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
        for i in 0 ..< blocks {
            let xb = x + 32 * i
            let yb = y + 20 * i
            var min = Float.greatestFiniteMagnitude
            var max = -Float.greatestFiniteMagnitude
            for j in 0 ..< 32 {
                let v = xb[j]
                if v < min { min = v }
                if v > max { max = v }
            }
            let d = (max - min) / 15
            let id: Float = d != 0 ? 1 / d : 0
            yb.storeLE(ggmlFP16(d), at: 0)
            yb.storeLE(ggmlFP16(min), at: 2)
            for j in 0 ..< 16 {
                let q0 = UInt8(truncatingIfNeeded: Swift.min(15, Int32(Int8(truncatingIfNeeded: x86Truncate((xb[j] - min) * id + 0.5)))))
                let q1 = UInt8(truncatingIfNeeded: Swift.min(15, Int32(Int8(truncatingIfNeeded: x86Truncate((xb[16 + j] - min) * id + 0.5)))))
                yb.storeBytes(of: q0 | q1 &<< 4, toByteOffset: 4 + j, as: UInt8.self)
            }
        }
    }

    static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
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

enum Q5_0 {
    static func quantizeReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
        for i in 0 ..< blocks {
            let xb = x + 32 * i
            let yb = y + 22 * i
            let (_, max) = signedAbsMax(xb, 32)
            let d = max / -16
            let id: Float = d != 0 ? 1 / d : 0
            yb.storeLE(ggmlFP16(d), at: 0)
            var qh: UInt32 = 0
            for j in 0 ..< 16 {
                let q0 = UInt8(truncatingIfNeeded: min(31, Int32(Int8(truncatingIfNeeded: x86Truncate(xb[j] * id + 16.5)))))
                let q1 = UInt8(truncatingIfNeeded: min(31, Int32(Int8(truncatingIfNeeded: x86Truncate(xb[16 + j] * id + 16.5)))))
                yb.storeBytes(of: (q0 & 15) | (q1 & 15) &<< 4, toByteOffset: 6 + j, as: UInt8.self)
                qh |= UInt32((q0 & 0x10) >> 4) << j
                qh |= UInt32((q1 & 0x10) >> 4) << (j + 16)
            }
            yb.storeLE(qh, at: 2)
        }
    }

    static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
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

enum Q5_1 {
    static func quantizeReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
        for i in 0 ..< blocks {
            let xb = x + 32 * i
            let yb = y + 24 * i
            var min = Float.greatestFiniteMagnitude
            var max = -Float.greatestFiniteMagnitude
            for j in 0 ..< 32 {
                let v = xb[j]
                if v < min { min = v }
                if v > max { max = v }
            }
            let d = (max - min) / 31
            let id: Float = d != 0 ? 1 / d : 0
            yb.storeLE(ggmlFP16(d), at: 0)
            yb.storeLE(ggmlFP16(min), at: 2)
            var qh: UInt32 = 0
            for j in 0 ..< 16 {
                // C: `(uint8_t)(x0 + 0.5f)` with no clamp.
                let q0 = UInt8(truncatingIfNeeded: x86Truncate((xb[j] - min) * id + 0.5))
                let q1 = UInt8(truncatingIfNeeded: x86Truncate((xb[16 + j] - min) * id + 0.5))
                yb.storeBytes(of: (q0 & 15) | (q1 & 15) &<< 4, toByteOffset: 8 + j, as: UInt8.self)
                qh |= UInt32((q0 & 0x10) >> 4) << j
                qh |= UInt32((q1 & 0x10) >> 4) << (j + 16)
            }
            yb.storeLE(qh, at: 4)
        }
    }

    static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
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
