/// A ggml block type's decoder: one block at a time, with the block geometry of `DType.layout`.
/// `dequantize` walks consecutive blocks; `GGMLBlocks.decoder(for:)` picks the type.
package protocol BlockDecoder {
    /// The block type.
    static var dtype: DType { get }
    /// Decodes the block at `block` into `dtype.layout.blockElements` floats at `values`.
    static func decode(_ block: UnsafeRawPointer, into values: UnsafeMutablePointer<Float>)
}

extension BlockDecoder {
    /// Decodes `blocks` consecutive blocks from `y` into `x`.
    package static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        let (elements, bytes) = dtype.layout
        for i in 0 ..< blocks { decode(y + bytes * i, into: x + elements * i) }
    }
}

/// The nibble packing shared by the 4-bit types: byte j of the `count` bytes at `offset` holds element j
/// in its low nibble and element j + `count` in its high one; `value(element, nibble)` gives each value.
@inline(__always)
func decodeNibbles(_ block: UnsafeRawPointer, at offset: Int, count: Int, into x: UnsafeMutablePointer<Float>,
                   _ value: (Int, UInt8) -> Float) {
    for j in 0 ..< count {
        let q = block.byte(offset + j)
        x[j] = value(j, q & 15)
        x[count + j] = value(count + j, q >> 4)
    }
}

/// `count` int8 codes at `offset`, times `scale`.
@inline(__always)
func decodeInt8(_ block: UnsafeRawPointer, at offset: Int, count: Int, scale: Float, into x: UnsafeMutablePointer<Float>) {
    for j in 0 ..< count { x[j] = Float(Int8(bitPattern: block.byte(offset + j))) * scale }
}
