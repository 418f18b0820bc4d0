import TensorFormats

/// Decodes `bytes` of `dtype` to float32: ggml block types give gguf-py's `gguf.quants.dequantize`
/// values (ggml's `to_float` for the types gguf-py lacks), plain floats widen exactly (f64 rounds to
/// nearest even). `values.count` must be the element count the bytes hold. Throws for types connkit
/// cannot decode. The same decoding as `Tensor.forEachFloatChunk` (TensorFormats), for bytes in hand.
public func dequantize(_ dtype: DType, _ bytes: UnsafeRawBufferPointer, into values: UnsafeMutableBufferPointer<Float>) throws {
    guard dtype.readsAsFloat32 else {
        throw QuantizationError(.unsupportedType(dtype, operation: "dequantize"))
    }
    guard let expected = dtype.byteCount(elements: values.count), bytes.count == expected else {
        throw QuantizationError(.sizeMismatch(expected: values.count / dtype.layout.blockElements * dtype.layout.blockBytes, found: bytes.count))
    }
    try dtype.decodeFloats(bytes, into: values, threads: Parallel.processorCount)
}
