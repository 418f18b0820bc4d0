import Testing
import TensorFormats
@testable import Quantization

/// The conformances against the facts they rely on: the `DType` geometry the kernels assume, llama.cpp's
/// fallback chain and ggml's use of importance vectors.
@Suite struct BlockQuantizerTests {
    @Test func everyQuantizerIsADistinctBlockTypeListedOnce() {
        let types = GGMLBlocks.quantizers.map { $0.dtype }
        #expect(Set(types).count == types.count)
        #expect(types == GGMLBlocks.quantizable)
        for type in types {
            #expect(type.isBlockQuantized && type.ggmlType != nil, "\(type)")
            #expect(GGMLBlocks.quantizer(type)?.dtype == type)
        }
        #expect(GGMLBlocks.quantizer(.q8_1) == nil && GGMLBlocks.quantizer(.f16) == nil)
    }

    /// The codes fit the block, and each family's kernels match the geometry: a legacy block is eight
    /// 4-lane vectors with the codes after 2 (q8_0, q4_0, q5_0) or 4 (q4_1, q5_1) bytes of f16 fields; a
    /// k-quant super-block is a whole number of quads of groups.
    @Test func familiesMatchTheBlockGeometry() {
        for quantizer in GGMLBlocks.quantizers {
            let (elements, bytes) = quantizer.dtype.layout
            #expect(quantizer.bits * elements <= 8 * bytes, "\(quantizer.dtype)")
            switch quantizer {
            case let legacy as any LegacyBlock.Type:
                let header = legacy is any AffineLegacy.Type ? 4 : 2
                #expect(elements == 32 && bytes == header + legacy.bits * elements / 8, "\(quantizer.dtype)")
            case let kQuant as any KQuantBlock.Type:
                #expect(elements % (4 * kQuant.groupSize) == 0, "\(quantizer.dtype)")
            default:
                #expect(quantizer.dtype == .iq4_nl)
            }
        }
    }

    /// Every fallback is itself quantizable with shorter blocks, so the chain ends.
    @Test func fallbacksHaveShorterBlocks() {
        for quantizer in GGMLBlocks.quantizers {
            guard let fallback = quantizer.facts.fallback else { continue }
            #expect(GGMLBlocks.quantizable.contains(fallback))
            #expect(fallback.layout.blockElements < quantizer.dtype.layout.blockElements, "\(quantizer.dtype)")
        }
    }

    /// ggml-quants.c: `quantize_q8_0` ignores `quant_weights`; every other type connkit produces uses them.
    @Test func importanceWeightsAreTakenAsGGMLTakesThem() {
        let weighted = GGMLBlocks.quantizable.filter { GGMLBlocks.takesImportance($0) }
        #expect(weighted == [.q4_0, .q4_1, .q5_0, .q5_1, .q2_k, .q3_k, .q4_k, .q5_k, .q6_k, .iq4_nl])
        #expect(!GGMLBlocks.takesImportance(.q8_0) && !GGMLBlocks.takesImportance(.f16))
    }
}
