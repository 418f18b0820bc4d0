/// The non-linear 4-bit types and their decoders. Layouts (f16 `d`, little-endian):
///
///     iq4_nl   18 bytes (32 elements):  d | qs: u8[16]                          y = d * kvalues[nibble]
///     iq4_xs  136 bytes (256 elements): d | scales_h: u16 | scales_l: u8[4] | qs: u8[128]
///
/// Nibbles as in q4_0 (byte j: element j low, element j + 16 high, per 32-element group). iq4_xs gives
/// each 32-element group a 6-bit code `ls` (low 4 bits in scales_l, high 2 bits in scales_h) and the
/// scale `d * (ls - 32)`. The quantizer (the Quantization target) extends `IQ4_NL`.
package enum IQ4_NL {
    /// `kvalues_iq4nl` (ggml-common.h).
    package static let values: [Int8] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]
    package static let floatValues: [Float] = values.map { Float($0) }

    package static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        floatValues.withUnsafeBufferPointer { v in
            for i in 0 ..< blocks {
                let yb = y + 18 * i
                let d = yb.loadF16(at: 0)
                for j in 0 ..< 16 {
                    let q = yb.byte(2 + j)
                    x[32 * i + j] = d * v[Int(q & 15)]
                    x[32 * i + 16 + j] = d * v[Int(q >> 4)]
                }
            }
        }
    }
}

enum IQ4_XS {
    static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        IQ4_NL.floatValues.withUnsafeBufferPointer { v in
            for i in 0 ..< blocks {
                let yb = y + 136 * i
                let d = yb.loadF16(at: 0)
                let scalesHigh = yb.loadLE(UInt16.self, at: 2)
                for ib in 0 ..< 8 {
                    let low = (yb.byte(4 + ib / 2) >> (4 * (ib % 2))) & 0xF
                    let high = UInt8(truncatingIfNeeded: scalesHigh >> (2 * ib)) & 3
                    let dl = d * Float(Int8(bitPattern: low | (high << 4)) - 32)
                    for j in 0 ..< 16 {
                        let q = yb.byte(8 + 16 * ib + j)
                        x[256 * i + 32 * ib + j] = dl * v[Int(q & 15)]
                        x[256 * i + 32 * ib + 16 + j] = dl * v[Int(q >> 4)]
                    }
                }
            }
        }
    }
}
