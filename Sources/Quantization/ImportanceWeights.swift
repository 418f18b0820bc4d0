import TensorFormats

/// Importance-weighted quantization (ggml's `quant_weights`, llama.cpp's imatrix) in the pipeline: which
/// types use an importance vector, and the one place the pipeline hands one to a quantizer.
///
/// `ggml_quantize_chunk` weights the error of q2_k…q6_k, iq4_nl, q4_0, q4_1, q5_0 and q5_1 by the vector
/// when it is given one (one float32 per element of a row, the same for every row); q8_0 ignores it, and
/// so do float casts. MLX's affine quantizer takes none. The weighted kernels are `GGMLBlocks`' (bit-exact
/// with ggml given the vector); `accepted` is what they cover.
public enum ImportanceWeights {
    /// The block types ggml's quantizer weights by an importance vector.
    public static let weightedByGGML: Set<DType> = [.q2_k, .q3_k, .q4_k, .q5_k, .q6_k, .iq4_nl, .q4_0, .q4_1, .q5_0, .q5_1]

    /// The block types whose connkit quantizer takes an importance vector, bit-exact with ggml's.
    public static let accepted: Set<DType> = weightedByGGML.filter(GGMLBlocks.takesImportance)

    /// Refuses an importance vector that `action` cannot use as ggml would: a vector for a type ggml
    /// weights whose connkit quantizer does not take one, a vector whose length is not the row length, a
    /// non-finite or negative entry, or any vector for an MLX type. Kept, copied and q8_0 tensors ignore it.
    public static func check(_ weights: [Float], for info: TensorInfo, action: QuantizationPolicy.Action) throws {
        switch action {
        case .ggml(let type) where weightedByGGML.contains(type):
            guard accepted.contains(type) else {
                throw QuantizationError(.invalidRequest("connkit's \(type.rawValue) quantizer does not take importance weights"),
                                        tensor: info.name)
            }
            let rowLength = info.shape.last ?? 1
            guard weights.count == rowLength else {
                throw QuantizationError(.invalidRequest("its importance vector holds \(weights.count) values, its rows \(rowLength)"),
                                        tensor: info.name)
            }
            if let bad = weights.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
                throw QuantizationError(.invalidRequest("importance value \(bad) is \(weights[bad]); they must be finite and not negative"),
                                        tensor: info.name)
            }
        case .mlx:
            throw QuantizationError(.invalidRequest("MLX's affine quantizer takes no importance weights"), tensor: info.name)
        default:
            break
        }
    }

    /// Quantizes whole rows to `type` with ggml's arithmetic, weighted by `importance` for the types that
    /// use one (`check` has accepted it; `GGMLBlocks` ignores it for the others, as ggml does).
    static func quantize(_ values: UnsafeBufferPointer<Float>, rowLength: Int, as type: DType, importance: [Float]?,
                         into bytes: UnsafeMutableRawBufferPointer, threads: Int) throws {
        try GGMLBlocks.quantize(values, rowLength: rowLength, as: type, importance: accepted.contains(type) ? importance : nil,
                                into: bytes, threads: threads)
    }
}
