/// The non-linear 4-bit types and their decoders. Layouts (f16 `d`, little-endian):
///
///     iq4_nl   18 bytes (32 elements):  d | qs: u8[16]                          y = d * kvalues[nibble]
///     iq4_xs  136 bytes (256 elements): d | scales_h: u16 | scales_l: u8[4] | qs: u8[128]
///
/// Nibbles as in q4_0 (byte j: element j low, element j + 16 high, per 32-element group). iq4_xs gives
/// each 32-element group a 6-bit code `ls` (low 4 bits in scales_l, high 2 bits in scales_h) and the
/// scale `d * (ls - 32)`. The quantizer (the Quantization target) extends `IQ4_NL`.
package enum IQ4_NL: BlockDecoder {
    package static let dtype = DType.iq4_nl
    /// `kvalues_iq4nl` (ggml-common.h).
    package static let values: [Int8] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]
    package static let floatValues: [Float] = values.map { Float($0) }

    package static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        decodeTable(block, at: 2, count: 16, scale: block.loadF16(at: 0), table: floatValues, into: x)
    }
}

enum IQ4_XS: BlockDecoder {
    static let dtype = DType.iq4_xs

    static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        let d = block.loadF16(at: 0)
        let scalesHigh = block.loadLE(UInt16.self, at: 2)
        for ib in 0 ..< 8 {
            let low = (block.byte(4 + ib / 2) >> (4 * (ib % 2))) & 0xF
            let high = UInt8(truncatingIfNeeded: scalesHigh >> (2 * ib)) & 3
            let dl = d * Float(Int8(bitPattern: low | (high << 4)) - 32)
            decodeTable(block, at: 8 + 16 * ib, count: 16, scale: dl, table: IQ4_NL.floatValues, into: x + 32 * ib)
        }
    }
}

/// Nibbles (packed as `decodeNibbles` reads them) that index `table`, times `scale`.
@inline(__always)
func decodeTable(_ block: UnsafeRawPointer, at offset: Int, count: Int, scale: Float, table: [Float],
                 into x: UnsafeMutablePointer<Float>) {
    table.withUnsafeBufferPointer { v in
        decodeNibbles(block, at: offset, count: count, into: x) { _, q in scale * v[Int(q)] }
    }
}
