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
package enum Q8_0: BlockDecoder {
    package static let dtype = DType.q8_0

    package static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        decodeInt8(block, at: 2, count: 32, scale: block.loadF16(at: 0), into: x)
    }
}

/// q8_1 is an activation format: ggml_quantize_chunk does not produce it and ggml has no dequantizer for
/// it; its values are `qs * d` as in q8_0 (the `s` field only speeds up dot products).
enum Q8_1: BlockDecoder {
    static let dtype = DType.q8_1

    static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        decodeInt8(block, at: 4, count: 32, scale: block.loadF16(at: 0), into: x)
    }
}

package enum Q4_0: BlockDecoder {
    package static let dtype = DType.q4_0

    package static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        let d = block.loadF16(at: 0)
        decodeNibbles(block, at: 2, count: 16, into: x) { _, q in d * Float(Int32(q) - 8) }
    }
}

package enum Q4_1: BlockDecoder {
    package static let dtype = DType.q4_1

    package static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        let d = block.loadF16(at: 0)
        let m = block.loadF16(at: 2)
        decodeNibbles(block, at: 4, count: 16, into: x) { _, q in d * Float(q) + m }
    }
}

package enum Q5_0: BlockDecoder {
    package static let dtype = DType.q5_0

    package static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        let d = block.loadF16(at: 0)
        let qh = block.loadLE(UInt32.self, at: 2)
        decodeNibbles(block, at: 6, count: 16, into: x) { e, q in
            d * Float((Int32(q) | Int32((qh >> e) & 1) << 4) - 16)
        }
    }
}

package enum Q5_1: BlockDecoder {
    package static let dtype = DType.q5_1

    package static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        let d = block.loadF16(at: 0)
        let m = block.loadF16(at: 2)
        let qh = block.loadLE(UInt32.self, at: 4)
        decodeNibbles(block, at: 8, count: 16, into: x) { e, q in d * Float(UInt32(q) | ((qh >> e) & 1) << 4) + m }
    }
}
