/// The ggml block types and the one place that knows how to decode each of them.
///
/// Dequantization gives the values of gguf-py's `gguf.quants.dequantize` (ggml's `to_float` for the
/// types gguf-py lacks, ggml's `d·q` for q8_1 and q8_k, which neither dequantizes). The quantizers (the
/// Quantization target) extend this namespace and the block types with the encoding side.
public enum GGMLBlocks {
    /// Decodes `blocks` whole blocks starting at the first pointer into `blocks × blockElements` floats.
    package typealias Decoder = (UnsafeRawPointer, UnsafeMutablePointer<Float>, Int) -> Void

    /// The decoder of a block type (nil: not a ggml block type).
    package static func decoder(for type: DType) -> Decoder? {
        switch type {
        case .q4_0: Q4_0.dequantize
        case .q4_1: Q4_1.dequantize
        case .q5_0: Q5_0.dequantize
        case .q5_1: Q5_1.dequantize
        case .q8_0: Q8_0.dequantize
        case .q8_1: Q8_1.dequantize
        case .q2_k: Q2_K.dequantize
        case .q3_k: Q3_K.dequantize
        case .q4_k: Q4_K.dequantize
        case .q5_k: Q5_K.dequantize
        case .q6_k: Q6_K.dequantize
        case .q8_k: Q8_K.dequantize
        case .iq2_xxs: IQ2_XXS.dequantize
        case .iq2_xs: IQ2_XS.dequantize
        case .iq2_s: IQ2_S.dequantize
        case .iq3_xxs: IQ3_XXS.dequantize
        case .iq3_s: IQ3_S.dequantize
        case .iq1_s: IQ1_S.dequantize
        case .iq1_m: IQ1_M.dequantize
        case .iq4_nl: IQ4_NL.dequantize
        case .iq4_xs: IQ4_XS.dequantize
        case .tq1_0: TQ1_0.dequantize
        case .tq2_0: TQ2_0.dequantize
        case .mxfp4: MXFP4.dequantize
        case .nvfp4: NVFP4.dequantize
        case .q1_0: Q1_0.dequantize
        case .q2_0: Q2_0.dequantize
        default: nil
        }
    }

    /// Block types `dequantize` reads (every ggml block type of `DType`).
    public static let dequantizable: [DType] = DType.allCases.filter { decoder(for: $0) != nil }

    /// Dequantizes whole blocks of `type` to float32 (gguf-py's values), the blocks split across up to
    /// `threads` threads. `values.count` must be the element count of the blocks in `bytes`.
    public static func dequantize(_ type: DType, _ bytes: UnsafeRawBufferPointer, into values: UnsafeMutableBufferPointer<Float>,
                                  threads: Int = 1) throws {
        guard let decode = decoder(for: type) else {
            throw FormatError(.unsupportedDType(type.rawValue, reason: "it is not a ggml block type connkit decodes"))
        }
        let (blockElements, blockBytes) = type.layout
        guard bytes.count % blockBytes == 0 else {
            throw FormatError(.sizeMismatch(expected: bytes.count - bytes.count % blockBytes + blockBytes, found: bytes.count))
        }
        let blocks = bytes.count / blockBytes
        guard let elements = Checked.multiply(blocks, blockElements), values.count == elements else {
            throw FormatError(.sizeMismatch(expected: blocks * blockElements, found: values.count))
        }
        guard blocks > 0, let source = bytes.baseAddress, let destination = values.baseAddress else { return }
        _ = Parallel.map(count: blocks, threads: threads, minimumChunk: max(1, 65536 / blockElements)) { range in
            decode(source + range.lowerBound * blockBytes, destination + range.lowerBound * blockElements, range.count)
        }
    }
}
