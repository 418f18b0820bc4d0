import CConnkit
import Foundation
import Testing
import TensorFormats
@testable import Quantization

/// MLX affine quantization against digests of mlx's own `mx.quantize` / `mx.dequantize` output
/// (Tests/Fixtures/quant/generate_mlx.py): codes, scales and biases must be identical.
@Suite struct MLXAffineTests {
    static let manifest: JSONValue = {
        let data = try! Data(contentsOf: QuantFixtures.directory.appendingPathComponent("mlx-manifest.json"))
        return try! data.withUnsafeBytes { try JSONValue.parse($0) }
    }()

    static var cases: [Int] { Array(0 ..< manifest["cases"]!.arrayValue!.count) }

    /// The source rows of a dtype, widened to float32 after the cast mlx saw.
    static func source(_ dtype: DType) -> [Float] {
        let length = manifest["row_length"]!.intValue!
        let rows = manifest["rows"]![dtype.rawValue]!.arrayValue!.map { $0.intValue! }
        var values = rows.flatMap { QuantFixtures.fixtureRow($0, length: length) }
        var half = [UInt16](repeating: 0, count: values.count)
        switch dtype {
        case .f16:
            ck_f32_to_f16(values, &half, values.count)
            ck_f16_to_f32(half, &values, values.count)
        case .bf16:
            ck_f32_to_bf16(values, &half, values.count)
            ck_bf16_to_f32(half, &values, values.count)
        default: break
        }
        return values
    }

    @Test(arguments: cases)
    func quantizationEqualsMLX(index: Int) throws {
        let entry = Self.manifest["cases"]!.arrayValue![index]
        let dtype = DType(rawValue: entry["dtype"]!.stringValue!)!
        let bits = entry["bits"]!.intValue!
        let groupSize = entry["group_size"]!.intValue!
        let rowLength = Self.manifest["row_length"]!.intValue!
        let values = Self.source(dtype)
        let groups = values.count / groupSize
        let parameterSize = dtype.elementSize!
        var words = [UInt8](repeating: 0, count: values.count * bits / 8)
        var scales = [UInt8](repeating: 0, count: groups * parameterSize)
        var biases = [UInt8](repeating: 0, count: groups * parameterSize)
        try values.withUnsafeBufferPointer { v in
            try words.withUnsafeMutableBytes { w in
                try scales.withUnsafeMutableBytes { s in
                    try biases.withUnsafeMutableBytes { b in
                        try MLXAffine.quantize(v, rowLength: rowLength, groupSize: groupSize, bits: bits,
                                               parameterType: MLXAffine.parameterDType(for: dtype), words: w, scales: s, biases: b)
                    }
                }
            }
        }
        let label = "\(dtype.rawValue) bits \(bits) group \(groupSize)"
        #expect(words.withUnsafeBytes { fnv64($0) } == entry["words"]!.stringValue!, "codes differ: \(label)")
        #expect(scales.withUnsafeBytes { fnv64($0) } == entry["scales"]!.stringValue!, "scales differ: \(label)")
        #expect(biases.withUnsafeBytes { fnv64($0) } == entry["biases"]!.stringValue!, "biases differ: \(label)")
        if let dequantized = entry["dequantized"]?.stringValue {
            var back = [Float](repeating: 0, count: values.count)
            try words.withUnsafeBytes { w in
                try scales.withUnsafeBytes { s in
                    try biases.withUnsafeBytes { b in
                        try back.withUnsafeMutableBufferPointer {
                            try MLXAffine.dequantize(words: w, scales: s, biases: b, parameterType: .f32, rowLength: rowLength,
                                                     groupSize: groupSize, bits: bits, into: $0)
                        }
                    }
                }
            }
            #expect(fnv64(back) == dequantized, "mx.dequantize differs: \(label)")
        }
    }

    @Test func groupSizeMustBeOneMLXAccepts() {
        let values = [Float](repeating: 1, count: 96)
        var words = [UInt8](repeating: 0, count: 48)
        var parameters = [UInt8](repeating: 0, count: 8)
        let error = #expect(throws: QuantizationError.self) {
            try values.withUnsafeBufferPointer { v in
                try words.withUnsafeMutableBytes { w in
                    try parameters.withUnsafeMutableBytes { p in
                        try MLXAffine.quantize(v, rowLength: 96, groupSize: 48, bits: 4, parameterType: .f32, words: w, scales: p, biases: p)
                    }
                }
            }
        }
        #expect(error?.kind == .groupSize(48))
    }
}
