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

    @Test(arguments: cases, [QuantizationKernel.fast, .portable])
    func quantizationEqualsMLX(index: Int, kernel: QuantizationKernel) throws {
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
                                               parameterType: MLXAffine.parameterDType(for: dtype), words: w, scales: s, biases: b,
                                               kernel: kernel)
                    }
                }
            }
        }
        let label = "\(dtype.rawValue) bits \(bits) group \(groupSize) \(kernel)"
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
                                                     groupSize: groupSize, bits: bits, into: $0, kernel: kernel)
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

    /// The first index where two arrays differ (nil when equal; the shorter's length when one is a prefix).
    func firstDifference<T: Equatable>(_ a: [T], _ b: [T]) -> Int? {
        (0 ..< min(a.count, b.count)).first { a[$0] != b[$0] } ?? (a.count == b.count ? nil : min(a.count, b.count))
    }

    /// Codes, scales and biases of `values` as raw bytes (f32 parameters; nil words: parameters only).
    static func quantized(_ values: [Float], rowLength: Int, groupSize: Int, bits: Int, codes: Bool = true,
                          threads: Int, kernel: QuantizationKernel) throws -> (words: [UInt8], scales: [UInt8], biases: [UInt8]) {
        var words = [UInt8](repeating: 0xA5, count: values.count * bits / 8)
        var scales = [UInt8](repeating: 0xA5, count: values.count / groupSize * 4), biases = scales
        try values.withUnsafeBufferPointer { v in
            try words.withUnsafeMutableBytes { w in
                try scales.withUnsafeMutableBytes { s in
                    try biases.withUnsafeMutableBytes { b in
                        try MLXAffine.quantize(v, rowLength: rowLength, groupSize: groupSize, bits: bits, parameterType: .f32,
                                               words: codes ? w : nil, scales: s, biases: b, threads: threads, kernel: kernel)
                    }
                }
            }
        }
        return (words, scales, biases)
    }

    /// The AVX2 kernel against the Swift one on varied data (FastKernelTests' mixes of scales, signs, zeros,
    /// ties, subnormals and values near the float32 limit), with rows of 512 and of 96 values, with and without
    /// codes, on one and two threads; and the two dequantization kernels on the codes.
    @Test(arguments: [2, 3, 4, 6, 8], MLXAffine.groupSizes)
    func fastKernelMatchesSwift(bits: Int, groupSize: Int) throws {
        let input = FastKernelTests.randomRows(rows: 48, seed: 0x31A5 &+ UInt64(bits * 1000 + groupSize))
        // Odd row counts, more than one thread's minimum chunk: partial batches of eight groups in each range.
        for (rowLength, rows) in [(512, 45), (96, 199)] where rowLength % groupSize == 0 {
            let values = Array(input.prefix(rows * rowLength))
            let portable = try Self.quantized(values, rowLength: rowLength, groupSize: groupSize, bits: bits, threads: 1,
                                              kernel: .portable)
            for threads in [1, 2] {
                let fast = try Self.quantized(values, rowLength: rowLength, groupSize: groupSize, bits: bits, threads: threads,
                                              kernel: .fast)
                let label = "bits \(bits) group \(groupSize) row \(rowLength) threads \(threads)"
                #expect(firstDifference(fast.words, portable.words) == nil, "codes: \(label)")
                #expect(firstDifference(fast.scales, portable.scales) == nil, "scales: \(label)")
                #expect(firstDifference(fast.biases, portable.biases) == nil, "biases: \(label)")
            }
            // Read back (the report's values) by both kernels, on two threads: the same bits.
            let back = try [QuantizationKernel.fast, .portable].map { kernel in
                var out = [Float](repeating: 0, count: values.count)
                try portable.words.withUnsafeBytes { w in
                    try portable.scales.withUnsafeBytes { s in
                        try portable.biases.withUnsafeBytes { b in
                            try out.withUnsafeMutableBufferPointer {
                                try MLXAffine.dequantize(words: w, scales: s, biases: b, parameterType: .f32, rowLength: rowLength,
                                                         groupSize: groupSize, bits: bits, into: $0, threads: 2, kernel: kernel)
                            }
                        }
                    }
                }
                return out.map(\.bitPattern)
            }
            #expect(firstDifference(back[0], back[1]) == nil, "read-back: bits \(bits) group \(groupSize) row \(rowLength)")
            let parametersOnly = try Self.quantized(values, rowLength: rowLength, groupSize: groupSize, bits: bits, codes: false,
                                                    threads: 2, kernel: .fast)
            #expect(firstDifference(parametersOnly.scales, portable.scales) == nil)
            #expect(firstDifference(parametersOnly.biases, portable.biases) == nil)
            #expect(parametersOnly.words.allSatisfy { $0 == 0xA5 }, "no codes are written without a buffer")
        }
    }

    @Test(arguments: [Float.nan, .infinity, -.infinity])
    func nonFiniteValuesAreRefusedWithTheirIndex(bad: Float) throws {
        var input = FastKernelTests.randomRows(rows: 4, seed: 7).map { $0.isFinite ? $0 : 0 }
        input[1234] = bad
        input[1500] = bad
        for kernel in QuantizationKernel.allCases {
            for codes in [true, false] {
                let error = #expect(throws: QuantizationError.self) {
                    _ = try Self.quantized(input, rowLength: 512, groupSize: 64, bits: 4, codes: codes, threads: 2, kernel: kernel)
                }
                guard case .nonFinite(let index, _, _) = error?.kind else {
                    Issue.record("expected .nonFinite, got \(String(describing: error))")
                    continue
                }
                #expect(index == 1234)
            }
        }
    }

    /// The C kernel must really run where the CPU has AVX2 (otherwise the tests above compare the Swift kernel
    /// with itself), for every group size and width MLX has, and decline the others.
    @Test func vectorKernelRunsWhereTheCPUHasIt() {
        let input = (0 ..< 128 * 9).map { Float(($0 * 37) % 101) - 50.25 }
        var words = [UInt32](repeating: 0, count: 128 * 9 * 8 / 32)
        var scales = [Float](repeating: 0, count: 9 * 4), biases = scales
        var back = [Float](repeating: 0, count: input.count)
        let expected = ck_has_f16c() != 0
        for groupSize in MLXAffine.groupSizes {
            for bits in MLXAffine.bits {
                var finite: Int32 = 1
                let groups = 128 * 9 / groupSize
                let done = ck_quantize_mlx(input, groups, Int32(groupSize), Int32(bits), &words, &scales, &biases, &finite)
                #expect(done == (expected ? groups : 0))
                #expect(finite == 1)
                #expect(ck_dequantize_mlx(words, scales, biases, groups, Int32(groupSize), Int32(bits), &back) == done)
            }
        }
        var finite: Int32 = 1
        #expect(ck_quantize_mlx(input, 24, 48, 4, &words, &scales, &biases, &finite) == 0)
        #expect(ck_quantize_mlx(input, 36, 32, 5, &words, &scales, &biases, &finite) == 0)
        #expect(ck_dequantize_mlx(words, scales, biases, 36, 32, 5, &back) == 0)
    }
}
