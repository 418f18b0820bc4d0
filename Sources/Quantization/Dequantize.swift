import TensorFormats

/// Decodes `bytes` of `dtype` to float32, for `connkit convert --dtype f32|f16|bf16` and the reports:
/// ggml block types give gguf-py's `gguf.quants.dequantize` values (ggml's `to_float` for the types
/// gguf-py lacks), plain floats widen exactly (f64 rounds to nearest even). `values.count` must be the
/// element count the bytes hold. Throws for types connkit cannot decode.
///
/// This is the converter's `BlockDequantizer` hook: `options.dequantize = { try dequantize($0, $1, into: $2) }`.
@Sendable
public func dequantize(_ dtype: DType, _ bytes: UnsafeRawBufferPointer, into values: UnsafeMutableBufferPointer<Float>) throws {
    if dtype.isBlockQuantized {
        try GGMLBlocks.dequantize(dtype, bytes, into: values, threads: Parallel.processorCount)
        return
    }
    guard dtype.kind == .float || Cast.decodesToFloat32(dtype), let size = dtype.elementSize else {
        throw QuantizationError(.unsupportedType(dtype, operation: "dequantize"))
    }
    guard bytes.count == values.count * size else {
        throw QuantizationError(.sizeMismatch(expected: values.count * size, found: bytes.count))
    }
    guard let source = bytes.baseAddress, let destination = values.baseAddress else { return }
    Cast.toFloat32(source, dtype, count: values.count, into: destination)
}
