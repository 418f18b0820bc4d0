import TensorFormats

/// One ggml block type that connkit quantizes to. A type is one conformance — its facts from llama.cpp
/// and its kernels — plus one entry in `GGMLBlocks.quantizers`; everything around the kernels (strides,
/// row splitting, threads, the NaN/inf check, the C/Swift hand-over) is written once, here and in
/// GGMLQuantize.swift. A quantizer extends its type's decoder (TensorFormats' `BlockDecoder`, which names
/// the `DType`); block geometry always comes from `DType.layout`.
///
/// Three kernels per type, all byte-identical to ggml's `ggml_quantize_chunk` without an importance matrix:
/// `quantizeBlockReference` (the scalar transcription of ggml, kept to prove the others and to read next
/// to ggml's C), `quantizePortable` (the Swift fast kernel: what a CPU without AVX2 runs) and, where there
/// is one, `quantizeVector` (the C target's AVX2 kernel, which leaves the blocks it cannot do exactly to
/// `quantizePortable`).
///
/// Importance weights (ggml's `quant_weights`, issue 13) have one entry, `quantizeRowReference(_:_:rowLength:
/// importance:)`: the scalar transcription of ggml's weighted quantizer for one row, for the types whose
/// `facts.takesImportance` is true (ggml's legacy types take statistics over the whole row, so the unit is
/// the row). The fast kernels run `quantizeRowPortable`, which hands the row to the reference unless the
/// type has a weighted Swift kernel.
protocol BlockQuantizer: BlockDecoder, SendableMetatype {
    /// What llama.cpp says about the type.
    static var facts: BlockFacts { get }

    /// One block: the scalar transcription of ggml's reference quantizer.
    static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer)

    /// One row of `rowLength` values (a whole number of blocks) weighted by `importance` (one weight per
    /// element, ggml's `quant_weights` for the row): the scalar transcription of what `ggml_quantize_chunk`
    /// does given an importance matrix.
    static func quantizeRowReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, rowLength: Int,
                                     importance: UnsafePointer<Float>)
    /// The same row through the Swift fast kernel where the type has a weighted one (q2_k, q4_k, q5_k, q4_1,
    /// q5_1: the search four groups at once), else the reference; what the `fast` and `portable` kernels run.
    static func quantizeRowPortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, rowLength: Int,
                                    importance: UnsafePointer<Float>)

    /// The Swift fast kernel over `blocks` whole blocks. Returns false when a value may be NaN or ±inf
    /// (then the driver scans the input exactly); a kernel that does not look (`checksFiniteness` false)
    /// returns true, and the driver scans its input before it runs.
    static func quantizePortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool
    /// True when `quantizePortable` and `quantizeVector` report non-finite input themselves (on the values
    /// they load anyway: a separate pass would read the input twice).
    static var checksFiniteness: Bool { get }

    /// The C target's AVX2 kernel: quantizes whole groups of `vectorGroup` blocks from the start of `x`
    /// and returns how many blocks it wrote. It stops before a group that needs the exact scalar path,
    /// when fewer than a group remain, and at once (returning 0) on a CPU without AVX2; it clears
    /// `finite` when a value it read may be NaN or ±inf (kernels that check).
    static func quantizeVector(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int, finite: inout Bool) -> Int
    /// Blocks per group of `quantizeVector`; 0: the type has no C kernel.
    static var vectorGroup: Int { get }
}

/// What llama.cpp says about a block type connkit quantizes to (the type itself is the decoder's `dtype`).
struct BlockFacts {
    /// The width of a value's code (q4_0: 4, q6_k: 6, iq4_nl: 4 …), scales and minimums apart.
    let bits: Int
    /// llama.cpp's `general.file_type` (`LLAMA_FTYPE_MOSTLY_*`) for a file of this type; the `_S` value
    /// for a k-quant.
    let fileType: UInt32
    /// The next type of llama.cpp's fallback chain for a row that is not a whole number of blocks.
    let fallback: DType?
    /// True when ggml's quantizer for this type weights its error by an importance vector when given one.
    let takesImportance: Bool

    init(bits: Int, fileType: UInt32, fallback: DType? = nil, takesImportance: Bool) {
        self.bits = bits
        self.fileType = fileType
        self.fallback = fallback
        self.takesImportance = takesImportance
    }
}

extension BlockQuantizer {
    static var bits: Int { facts.bits }
    static var checksFiniteness: Bool { false }
    static var vectorGroup: Int { 0 }

    static func quantizeVector(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int, finite: inout Bool) -> Int {
        0
    }

    /// A type without a Swift fast kernel runs the reference.
    static func quantizePortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool {
        quantizeReference(x, y, blocks: blocks)
        return true
    }

    /// A type whose ggml quantizer ignores `quant_weights` (q8_0, `facts.takesImportance` false): the
    /// unweighted reference.
    static func quantizeRowReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, rowLength: Int,
                                     importance: UnsafePointer<Float>) {
        quantizeReference(x, y, blocks: rowLength / dtype.layout.blockElements)
    }

    static func quantizeRowPortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, rowLength: Int,
                                    importance: UnsafePointer<Float>) {
        quantizeRowReference(x, y, rowLength: rowLength, importance: importance)
    }

    /// `blocks` consecutive blocks through the reference.
    static func quantizeReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
        let (elements, bytes) = dtype.layout
        for i in 0 ..< blocks {
            quantizeBlockReference(x + elements * i, y + bytes * i)
        }
    }

    /// The production kernel: the C kernel where the CPU has it, `quantizePortable` for the groups it
    /// leaves; `quantizePortable` alone without `vectorExtensions` or a C kernel. Returns false when a
    /// value may be NaN or ±inf (kernels that check).
    static func quantizeFast(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int, vectorExtensions: Bool) -> Bool {
        let group = vectorGroup
        guard vectorExtensions, group > 0 else { return quantizePortable(x, y, blocks: blocks) }
        let (elements, bytes) = dtype.layout
        var finite = true
        var clean = true
        var i = 0
        while i < blocks {
            i += quantizeVector(x + elements * i, y + bytes * i, blocks: blocks - i, finite: &finite)
            guard i < blocks else { break }
            let count = min(group, blocks - i)
            clean = quantizePortable(x + elements * i, y + bytes * i, blocks: count) && clean
            i += count
        }
        return clean && finite
    }
}

/// The ggml block types connkit quantizes to (the decoders are TensorFormats' `GGMLBlocks.dequantize`).
///
/// Quantization is bit-exact with ggml's `ggml_quantize_chunk`, with or without an importance matrix (the
/// reference build evaluates float32 strictly, without fused multiply-adds).
extension GGMLBlocks {
    /// Every block type `quantize` produces, in the order `--help` lists them.
    static let quantizers: [any BlockQuantizer.Type] = [
        Q8_0.self, Q4_0.self, Q4_1.self, Q5_0.self, Q5_1.self, Q2_K.self, Q3_K.self, Q4_K.self, Q5_K.self, Q6_K.self,
        IQ4_NL.self,
    ]

    /// Block types `quantize` produces.
    public static let quantizable: [DType] = quantizers.map { $0.dtype }

    static func quantizer(_ type: DType) -> (any BlockQuantizer.Type)? {
        quantizers.first { $0.dtype == type }
    }

    /// llama.cpp's `general.file_type` for a file of block type `type` (nil: connkit does not produce it).
    public static func fileType(_ type: DType) -> UInt32? {
        quantizer(type)?.facts.fileType
    }

    /// llama.cpp's fallback for a row that is not a whole number of `type`'s blocks.
    public static func fallback(_ type: DType) -> DType? {
        quantizer(type)?.facts.fallback
    }

    /// True when ggml weights `type`'s quantization by an importance vector when given one.
    public static func takesImportance(_ type: DType) -> Bool {
        quantizer(type)?.facts.takesImportance ?? false
    }
}
