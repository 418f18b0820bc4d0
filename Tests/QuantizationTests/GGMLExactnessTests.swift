import Foundation
import Testing
import TensorFormats
@testable import Quantization

/// ggml block quantizers against ggml_quantize_chunk's bytes, and dequantizers against gguf-py.
@Suite struct GGMLExactnessTests {
    @Test func fixtureInputsAreRebuiltExactly() {
        #expect(fnv64(QuantFixtures.inputs) == QuantFixtures.manifest["inputs"]!["fnv64"]!.stringValue!)
    }

    @Test(arguments: GGMLBlocks.quantizable, QuantizationKernel.allCases)
    func quantizationIsBitExactWithGGML(type: DType, kernel: QuantizationKernel) throws {
        let entry = try #require(QuantFixtures.manifest["quantize"]?[type.rawValue])
        let expected = try QuantFixtures.bytes(entry["file"]!.stringValue!)
        let inputs = QuantFixtures.inputs
        var output = [UInt8](repeating: 0xAA, count: expected.count)
        try inputs.withUnsafeBufferPointer { values in
            try output.withUnsafeMutableBytes { out in
                try GGMLBlocks.quantize(values, rowLength: QuantFixtures.rowLength, as: type, into: out,
                                        threads: kernel == .reference ? 1 : 2, kernel: kernel)
            }
        }
        let blockBytes = type.layout.blockBytes
        let blocksPerRow = QuantFixtures.rowLength / type.layout.blockElements
        var mismatches: [String] = []
        for block in 0 ..< expected.count / blockBytes {
            let range = block * blockBytes ..< (block + 1) * blockBytes
            if output[range] != expected[range] {
                let row = block / blocksPerRow
                mismatches.append("row \(row) (kind \(row % QuantFixtures.kindCount)) block \(block % blocksPerRow)")
            }
        }
        #expect(mismatches.count == 0, "\(type.rawValue) \(kernel): \(mismatches.count) blocks differ, first: \(mismatches.prefix(5))")
    }

    static var dequantizationEntries: [String] {
        QuantFixtures.manifest["dequantize"]!.objectMembers!.map(\.key)
    }

    @Test(arguments: dequantizationEntries)
    func dequantizationMatchesReference(entryName: String) throws {
        let entry = QuantFixtures.manifest["dequantize"]![entryName]!
        let type = try #require(DType(rawValue: entry["type"]!.stringValue!))
        let bytes = try QuantFixtures.bytes(entry["file"]!.stringValue!)
        let unitElements = entry["elements"]!.intValue!
        let digests = entry["digests"]!.arrayValue!.map { $0.stringValue! }
        let (blockElements, blockBytes) = type.layout
        var values = [Float](repeating: 0, count: bytes.count / blockBytes * blockElements)
        try bytes.withUnsafeBytes { raw in
            try values.withUnsafeMutableBufferPointer { out in
                try GGMLBlocks.dequantize(type, raw, into: out)
            }
        }
        #expect(values.count == digests.count * unitElements)
        var mismatches: [Int] = []
        for (unit, digest) in digests.enumerated() {
            let slice = Array(values[unit * unitElements ..< (unit + 1) * unitElements])
            if fnv64(slice) != digest { mismatches.append(unit) }
        }
        #expect(mismatches.count == 0, "\(entryName): \(mismatches.count) \(entry["unit"]!.stringValue!)s differ, first: \(mismatches.prefix(8))")
    }
}
