import TensorFormats

/// The reference quantizers of the legacy 32-element ggml block types (the layouts and decoders are
/// TensorFormats' `Blocks/LegacyBlocks.swift`). The `quantizeReference` functions transcribe
/// ggml-quants.c's `_ref` functions line by line, including C's float -> int8 conversion as the x86-64
/// reference build performs it; the fast paths in LegacySIMD.swift must give the same bytes.
extension Q8_0 {
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
}

extension Q4_0 {
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
}

extension Q4_1 {
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
}

extension Q5_0 {
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
}

extension Q5_1 {
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
}
