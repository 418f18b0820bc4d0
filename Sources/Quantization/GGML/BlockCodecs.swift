import TensorFormats

/// The ggml block types connkit quantizes to (`quantizers`, BlockQuantizer.swift) and reads, and the
/// kernels behind each.
///
/// Quantization is bit-exact with ggml's `ggml_quantize_chunk` without an importance matrix (the
/// reference build evaluates float32 strictly, without fused multiply-adds). Dequantization gives the
/// values of gguf-py's `gguf.quants.dequantize` (ggml's `to_float` for the types gguf-py lacks).
public enum GGMLBlocks {
    /// Block types `dequantize` reads.
    public static let dequantizable: [DType] = [
        .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .q2_k, .q3_k, .q4_k, .q5_k, .q6_k, .q8_k,
        .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s, .iq1_m,
        .iq4_nl, .iq4_xs, .tq1_0, .tq2_0, .mxfp4, .nvfp4, .q1_0, .q2_0,
    ]

    typealias DequantizeKernel = (UnsafeRawPointer, UnsafeMutablePointer<Float>, Int) -> Void

    static func dequantizeKernel(_ type: DType) -> DequantizeKernel? {
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
}
