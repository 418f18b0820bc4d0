import Foundation
import Testing
import TensorFormats
@testable import Quantization

/// generate.py's weighted fixtures: `ggml_quantize_chunk` with an importance vector (`imatrix`).
extension QuantFixtures {
    static var weighted: JSONValue { manifest["weighted"]! }
    static var weightedRows: Int { weighted["rows"]!.intValue! }
    static var weightedRowLength: Int { weighted["n_per_row"]!.intValue! }
    /// The importance vectors in the order of each weighted file's chunks.
    static var importanceNames: [String] { weighted["importance"]!.arrayValue!.map { $0["name"]!.stringValue! } }

    /// Rows 0..<32 of the recipe at the weighted row length (generate.py's `weighted_inputs`).
    static let weightedInputs: [Float] = (0 ..< weightedRows).flatMap { fixtureRow($0, length: weightedRowLength) }

    /// generate.py's `importance(name)`: nil for "none".
    static func importance(_ name: String) -> [Float]? {
        let n = weightedRowLength
        switch name {
        case "none": return nil
        case "ones": return [Float](repeating: 1, count: n)
        default:
            let words = splitmix(weighted["seed"]!.uint64Value!, 3 * n)
            return (0 ..< n).map { i in
                let significand = (Float(words[i] >> 41) + 8_388_608) * 0x1p-23
                let q = significand * Float(sign: .plus, exponent: Int(words[n + i] % 21) - 10, significand: 1)
                return name == "sparse" && words[2 * n + i] % 4 == 0 ? 0 : q
            }
        }
    }

    /// ggml's bytes for `type` with importance vector `name`.
    static func weightedBytes(_ type: DType, _ name: String) throws -> [UInt8] {
        let entry = weighted["quantize"]![type.rawValue]!
        let chunk = entry["chunk_bytes"]!.intValue!
        let k = importanceNames.firstIndex(of: name)!
        return Array(try bytes(entry["file"]!.stringValue!)[k * chunk ..< (k + 1) * chunk])
    }
}

@Suite struct WeightedExactnessTests {
    @Test func inputsAndImportanceAreRebuiltExactly() {
        #expect(fnv64(QuantFixtures.weightedInputs) == QuantFixtures.weighted["inputs_fnv64"]!.stringValue!)
        for entry in QuantFixtures.weighted["importance"]!.arrayValue! {
            let name = entry["name"]!.stringValue!
            #expect(QuantFixtures.importance(name).map(fnv64) == entry["fnv64"]!.stringValue, "\(name)")
        }
    }

    static func quantize(_ type: DType, importance: [Float]?, kernel: QuantizationKernel, threads: Int = 2) throws -> [UInt8] {
        let inputs = QuantFixtures.weightedInputs
        let (elements, bytes) = type.layout
        var output = [UInt8](repeating: 0xAA, count: inputs.count / elements * bytes)
        try inputs.withUnsafeBufferPointer { values in
            try output.withUnsafeMutableBytes { out in
                try GGMLBlocks.quantize(values, rowLength: QuantFixtures.weightedRowLength, as: type, importance: importance,
                                        into: out, threads: threads, kernel: kernel)
            }
        }
        return output
    }

    /// Every type, every importance vector (and none), every kernel: ggml's bytes, block by block.
    @Test(arguments: GGMLBlocks.quantizable, QuantizationKernel.allCases)
    func weightedQuantizationIsBitExactWithGGML(type: DType, kernel: QuantizationKernel) throws {
        let blockBytes = type.layout.blockBytes
        let blocksPerRow = QuantFixtures.weightedRowLength / type.layout.blockElements
        for name in QuantFixtures.importanceNames {
            let expected = try QuantFixtures.weightedBytes(type, name)
            let output = try Self.quantize(type, importance: QuantFixtures.importance(name), kernel: kernel)
            #expect(output.count == expected.count)
            var mismatches: [String] = []
            for block in 0 ..< expected.count / blockBytes {
                let range = block * blockBytes ..< (block + 1) * blockBytes
                if output[range] != expected[range] {
                    mismatches.append("row \(block / blocksPerRow) block \(block % blocksPerRow)")
                }
            }
            #expect(mismatches.isEmpty, "\(type.rawValue) \(name) \(kernel): \(mismatches.count) blocks differ, first: \(mismatches.prefix(5))")
        }
    }

    /// A uniform importance vector is not the unweighted path: ggml's weighted quantizers weight by
    /// sqrt(sigma2 + x²) (q6_k: by 1) where the unweighted ones use x² or a max-based scale, so with all
    /// ones ggml's bytes differ from its bytes without an imatrix for every type that takes one, and equal
    /// them for q8_0, which ignores it. Checked on ggml's own bytes; the test above proves connkit's.
    @Test(arguments: GGMLBlocks.quantizable)
    func uniformImportanceDiffersFromNone(type: DType) throws {
        let ones = try QuantFixtures.weightedBytes(type, "ones")
        let none = try QuantFixtures.weightedBytes(type, "none")
        let blockBytes = type.layout.blockBytes
        let differing = (0 ..< ones.count / blockBytes).filter { b in
            ones[b * blockBytes ..< (b + 1) * blockBytes] != none[b * blockBytes ..< (b + 1) * blockBytes]
        }.count
        if GGMLBlocks.takesImportance(type) {
            #expect(differing > 0, "\(type.rawValue): ggml gives the same bytes with all-ones importance as without")
        } else {
            #expect(differing == 0, "\(type.rawValue): \(differing) blocks differ")
        }
    }

    /// The weighted Swift kernels (q2_k, q4_k, q5_k, q4_1, q5_1; the others hand rows to the reference) against the
    /// reference on FastKernelTests' varied rows, with an importance vector of mixed magnitudes and zeros.
    @Test(arguments: GGMLBlocks.quantizable.filter(GGMLBlocks.takesImportance), [QuantizationKernel.fast, .portable])
    func weightedFastKernelMatchesReference(type: DType, kernel: QuantizationKernel) throws {
        let rows = 96
        let input = FastKernelTests.randomRows(rows: rows, seed: 0x1A7 &+ UInt64(type.ggmlType!))
        let words = QuantFixtures.splitmix(0x5EED_1A7, 2 * 512)
        let importance = (0 ..< 512).map { i in
            words[i] % 8 == 0 ? 0 : Float(sign: .plus, exponent: Int(words[512 + i] % 21) - 10, significand: 1 + QuantFixtures.unit(words[i]))
        }
        let bytes = rows * 512 / type.layout.blockElements * type.layout.blockBytes
        var fast = [UInt8](repeating: 0, count: bytes)
        var reference = [UInt8](repeating: 1, count: bytes)
        try input.withUnsafeBufferPointer { values in
            try fast.withUnsafeMutableBytes {
                try GGMLBlocks.quantize(values, rowLength: 512, as: type, importance: importance, into: $0, threads: 2, kernel: kernel)
            }
            try reference.withUnsafeMutableBytes {
                try GGMLBlocks.quantize(values, rowLength: 512, as: type, importance: importance, into: $0, threads: 1, kernel: .reference)
            }
        }
        let blockBytes = type.layout.blockBytes
        let differing = (0 ..< bytes / blockBytes).filter {
            fast[$0 * blockBytes ..< ($0 + 1) * blockBytes] != reference[$0 * blockBytes ..< ($0 + 1) * blockBytes]
        }
        #expect(differing.count == 0, "\(type.rawValue) \(kernel): blocks \(differing.prefix(8)) differ")
    }

    /// The weighted path does not depend on the thread count.
    @Test func weightedBytesDoNotDependOnThreads() throws {
        let importance = QuantFixtures.importance("seeded")
        #expect(try Self.quantize(.q4_k, importance: importance, kernel: .fast, threads: 1)
            == Self.quantize(.q4_k, importance: importance, kernel: .fast, threads: 3))
    }

    @Test func badImportanceIsRejected() throws {
        let n = QuantFixtures.weightedRowLength
        #expect { try Self.quantize(.q4_k, importance: [Float](repeating: 1, count: n - 1), kernel: .fast) } throws: {
            ($0 as? QuantizationError)?.kind == .sizeMismatch(expected: n, found: n - 1)
        }
        for bad: Float in [-1, .nan, .infinity] {
            var importance = [Float](repeating: 1, count: n)
            importance[7] = bad
            #expect { try Self.quantize(.q4_0, importance: importance, kernel: .fast) } throws: {
                guard case .invalidRequest = ($0 as? QuantizationError)?.kind else { return false }
                return true
            }
        }
    }
}
