/// Reading the fields of a ggml block: little-endian integers at a byte offset, f16 scales widened
/// exactly. Shared by the decoders here and by the quantizers (which read back the scales they stored),
/// so they are `package` and inlinable.

/// Exact f16 -> f32 (`ggml_compute_fp16_to_fp32`); a NaN keeps its sign and payload bits unchanged, as
/// numpy's `astype(np.float32)` (which gguf-py uses) and the CConnkit casts do.
@inlinable @inline(__always)
package func f32(fromF16 half: UInt16) -> Float {
    let w = UInt32(half) << 16
    let sign = w & 0x8000_0000
    let twoW = w &+ w
    if twoW >= 0xF800_0000 {
        // Inf or NaN: widen the payload as it is.
        return Float(bitPattern: sign | 0x7F80_0000 | UInt32(half & 0x03FF) << 13)
    }
    let expOffset: UInt32 = 0xE0 << 23
    let expScale = Float(bitPattern: 0x0780_0000)  // 0x1.0p-112
    let normalized = Float(bitPattern: (twoW >> 4) &+ expOffset) * expScale
    let magicMask: UInt32 = 126 << 23
    let denormalized = Float(bitPattern: (twoW >> 17) | magicMask) - 0.5
    let denormalizedCutoff: UInt32 = 1 << 27
    return Float(bitPattern: sign | (twoW < denormalizedCutoff ? denormalized.bitPattern : normalized.bitPattern))
}

extension UnsafeRawPointer {
    @inlinable @inline(__always)
    package func loadLE(_: UInt16.Type, at offset: Int) -> UInt16 {
        UInt16(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inlinable @inline(__always)
    package func loadLE(_: UInt32.Type, at offset: Int) -> UInt32 {
        UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inlinable @inline(__always)
    package func loadLE(_: Int16.Type, at offset: Int) -> Int16 {
        Int16(littleEndian: loadUnaligned(fromByteOffset: offset, as: Int16.self))
    }

    /// An f16 field, widened exactly.
    @inlinable @inline(__always)
    package func loadF16(at offset: Int) -> Float {
        f32(fromF16: loadLE(UInt16.self, at: offset))
    }

    @inlinable @inline(__always)
    package func loadF32(at offset: Int) -> Float {
        Float(bitPattern: loadLE(UInt32.self, at: offset))
    }

    @inlinable @inline(__always)
    package func byte(_ offset: Int) -> UInt8 {
        load(fromByteOffset: offset, as: UInt8.self)
    }
}
