import TensorFormats

/// The ggml block types connkit quantizes to, and the kernels behind each (the decoders are
/// TensorFormats' `GGMLBlocks.dequantize`).
///
/// Quantization is bit-exact with ggml's `ggml_quantize_chunk` without an importance matrix (the
/// reference build evaluates float32 strictly, without fused multiply-adds).
extension GGMLBlocks {
    /// Block types `quantize` produces.
    public static let quantizable: [DType] = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_k, .q3_k, .q4_k, .q5_k, .q6_k, .iq4_nl]

    typealias QuantizeKernel = (UnsafePointer<Float>, UnsafeMutableRawPointer, Int) -> Void

    /// The scalar transcription of ggml's reference quantizer (nil: connkit does not quantize to it).
    static func referenceKernel(_ type: DType) -> QuantizeKernel? {
        switch type {
        case .q8_0: Q8_0.quantizeReference
        case .q4_0: Q4_0.quantizeReference
        case .q4_1: Q4_1.quantizeReference
        case .q5_0: Q5_0.quantizeReference
        case .q5_1: Q5_1.quantizeReference
        case .q2_k: Q2_K.quantizeReference
        case .q3_k: Q3_K.quantizeReference
        case .q4_k: Q4_K.quantizeReference
        case .q5_k: Q5_K.quantizeReference
        case .q6_k: Q6_K.quantizeReference
        case .iq4_nl: IQ4_NL.quantizeReference
        default: nil
        }
    }

    /// A kernel that also reports whether every value was finite (false: the output is meaningless).
    typealias CheckingQuantizeKernel = (UnsafePointer<Float>, UnsafeMutableRawPointer, Int) -> Bool

    /// The production kernel: vectorised where it pays, always byte-identical to `referenceKernel`.
    /// The legacy types check finiteness on the values they load (a separate pass would read the
    /// input twice); the others are preceded by `firstNonFinite`.
    /// `vectorExtensions`: use the C target's AVX2 kernels where the CPU has them.
    static func fastKernel(_ type: DType, vectorExtensions: Bool) -> (kernel: QuantizeKernel, checking: CheckingQuantizeKernel?)? {
        switch type {
        case .q8_0: ({ _ = Q8_0.quantize($0, $1, blocks: $2, vectorExtensions: vectorExtensions) },
                     { Q8_0.quantize($0, $1, blocks: $2, vectorExtensions: vectorExtensions) })
        case .q4_0: ({ _ = Q4_0.quantize($0, $1, blocks: $2, vectorExtensions: vectorExtensions) },
                     { Q4_0.quantize($0, $1, blocks: $2, vectorExtensions: vectorExtensions) })
        case .q4_1: ({ _ = Q4_1.quantize($0, $1, blocks: $2, vectorExtensions: vectorExtensions) },
                     { Q4_1.quantize($0, $1, blocks: $2, vectorExtensions: vectorExtensions) })
        case .q5_0: ({ _ = Q5_0.quantize($0, $1, blocks: $2, vectorExtensions: vectorExtensions) },
                     { Q5_0.quantize($0, $1, blocks: $2, vectorExtensions: vectorExtensions) })
        case .q5_1: ({ _ = Q5_1.quantize($0, $1, blocks: $2, vectorExtensions: vectorExtensions) },
                     { Q5_1.quantize($0, $1, blocks: $2, vectorExtensions: vectorExtensions) })
        case .q2_k: (Q2_K.quantize, nil)
        case .q3_k: (Q3_K.quantize, nil)
        case .q4_k: (Q4_K.quantize, nil)
        case .q5_k: (Q5_K.quantize, nil)
        case .q6_k: (Q6_K.quantize, nil)
        case .iq4_nl: vectorExtensions ? (IQ4_NL.quantize, nil) : (IQ4_NL.quantizeReference, nil)
        default: referenceKernel(type).map { ($0, nil) }
        }
    }
}
