import CConnkit
import Testing
import TensorFormats
@testable import Quantization

/// The fast kernels against the scalar transcriptions on inputs generated here (more blocks and more
/// shapes of data than the committed fixtures), so any divergence of a vector path shows up.
@Suite struct FastKernelTests {
    /// Rows of 512 values built from a seed: mixes of scales, signs, zeros, ties and extremes per
    /// 32-value block, so every fast-path branch and fallback is taken.
    static func randomRows(rows: Int, seed: UInt64) -> [Float] {
        var state = seed
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        func unit() -> Float { Float(next() >> 40) * 0x1p-24 }
        var values: [Float] = []
        values.reserveCapacity(rows * 512)
        for _ in 0 ..< rows * 16 {
            // Styles 7 and 8 send k-quant super-blocks to the reference path; half the blocks are plain
            // values so that most super-blocks stay on the vector path.
            let style = next() % 24
            let scale = Float(sign: .plus, exponent: Int(next() % 60) - 40, significand: 1)
            for j in 0 ..< 32 {
                let v: Float
                switch style {
                case 0: v = 0
                case 1: v = (unit() - 0.5) * scale
                case 2: v = unit() * scale
                case 3: v = -unit() * scale
                case 4: v = next() % 4 == 0 ? (unit() - 0.5) * scale : 0
                case 5: v = Float(Int(next() % 33) - 16) * 0.5 * scale
                case 6: v = j == 5 ? scale : (j == 9 ? -scale : (unit() - 0.5) * scale)
                case 7: v = Float(bitPattern: UInt32(truncatingIfNeeded: next()) & 0x807F_FFFF)
                case 8: v = (unit() - 0.5) * 3e38
                case 9: v = j % 2 == 0 ? -0.0 : 0
                case 10: v = 1000 + unit()
                case 11:
                    var bits = UInt32(truncatingIfNeeded: next())
                    if bits & 0x7F80_0000 == 0x7F80_0000 { bits &= 0xBFFF_FFFF }
                    v = Float(bitPattern: bits)
                default: v = (unit() - 0.5) * scale
                }
                values.append(v)
            }
        }
        return values
    }

    @Test(arguments: GGMLBlocks.quantizable, [QuantizationKernel.fast, .portable])
    func fastKernelMatchesReference(type: DType, kernel: QuantizationKernel) throws {
        let rows = 96
        let input = Self.randomRows(rows: rows, seed: 0xC0FFEE &+ UInt64(type.ggmlType!))
        let bytes = rows * 512 / type.layout.blockElements * type.layout.blockBytes
        var fast = [UInt8](repeating: 0, count: bytes)
        var reference = [UInt8](repeating: 1, count: bytes)
        try input.withUnsafeBufferPointer { values in
            try fast.withUnsafeMutableBytes {
                try GGMLBlocks.quantize(values, rowLength: 512, as: type, into: $0, threads: 2, kernel: kernel)
            }
            try reference.withUnsafeMutableBytes {
                try GGMLBlocks.quantize(values, rowLength: 512, as: type, into: $0, threads: 1, kernel: .reference)
            }
        }
        let blockBytes = type.layout.blockBytes
        let differing = (0 ..< bytes / blockBytes).filter {
            fast[$0 * blockBytes ..< ($0 + 1) * blockBytes] != reference[$0 * blockBytes ..< ($0 + 1) * blockBytes]
        }
        #expect(differing.count == 0, "\(type.rawValue) \(kernel): blocks \(differing.prefix(8)) differ")
    }

    @Test(arguments: GGMLBlocks.quantizable, [Float.nan, .infinity, -.infinity])
    func nonFiniteValuesAreRefusedWithTheirIndex(type: DType, bad: Float) throws {
        var input = Self.randomRows(rows: 4, seed: 7).map { $0.isFinite ? $0 : 0 }
        input[1234] = bad
        input[1500] = bad
        var output = [UInt8](repeating: 0, count: 4 * 512 / type.layout.blockElements * type.layout.blockBytes)
        for kernel in QuantizationKernel.allCases {
            let error = #expect(throws: QuantizationError.self) {
                try input.withUnsafeBufferPointer { values in
                    try output.withUnsafeMutableBytes {
                        try GGMLBlocks.quantize(values, rowLength: 512, as: type, into: $0, threads: 2, kernel: kernel)
                    }
                }
            }
            guard case .nonFinite(let index, _, _) = error?.kind else {
                Issue.record("expected .nonFinite, got \(String(describing: error))")
                continue
            }
            #expect(index == 1234)
        }
    }

    /// The C kernels must really run where the CPU has AVX2 (otherwise the tests above compare the Swift
    /// kernels twice), do whole groups of four blocks, and stop before a group they cannot do exactly.
    @Test(arguments: [DType.q8_0, .q4_0, .q4_1, .q5_0, .q5_1])
    func vectorKernelsRunWhereTheCPUHasThem(type: DType) throws {
        let symmetric = type == .q4_0 || type == .q5_0
        let kernel = { ck_quantize_legacy(type.ggmlType!, $0, $1, $2, $3) }
        var input = (0 ..< 32 * 11).map { Float(($0 * 37) % 101) - 50.25 }  // never ±0, never a tie
        var output = [UInt8](repeating: 0, count: 11 * type.layout.blockBytes)
        var finite: Int32 = 1
        let done = kernel(input, &output, 11, &finite)
        #expect(done == (ck_has_f16c() != 0 ? 8 : 0))
        #expect(finite == 1)
        guard ck_has_f16c() != 0 else { return }
        // The sixth block: for q4_0/q5_0, extremes ±1 equal in magnitude (the kernel stops before the
        // block's group); for q8_0, subnormal values whose scale has no finite inverse (it stops too); for
        // q4_1/q5_1, a maximum of -0 (the first zero's sign, which it finds itself, carrying on).
        for j in 0 ..< 32 {
            input[5 * 32 + j] = symmetric ? (j == 3 ? 1 : (j == 7 ? -1 : 0.25)) : (type == .q8_0 ? 1e-40 : -Float(j))
        }
        #expect(kernel(input, &output, 11, &finite) == (symmetric || type == .q8_0 ? 4 : 8))
        input[40] = .infinity
        _ = kernel(input, &output, 4, &finite)
        #expect(finite == 0)
    }

    /// The k-quant C kernels run where the CPU has AVX2 and give the reference's bytes; the asymmetric
    /// types' (q2_k, q4_k, q5_k) stop before a super-block whose range overflows (their search's inverse
    /// scale is not finite), which the symmetric types' searches (q3_k, q6_k) do exactly.
    @Test(arguments: [DType.q2_k, .q3_k, .q4_k, .q5_k, .q6_k])
    func kQuantVectorKernelsRunWhereTheCPUHasThem(type: DType) throws {
        let blocks = 7
        var input = (0 ..< 256 * blocks).map { Float(($0 * 37) % 101) - 50.25 }
        input[5 * 256 + 3] = 3e38
        input[5 * 256 + 4] = -3e38
        var output = [UInt8](repeating: 0, count: blocks * type.layout.blockBytes)
        var reference = output
        try input.withUnsafeBufferPointer { values in
            try reference.withUnsafeMutableBytes {
                try GGMLBlocks.quantize(values, rowLength: 256, as: type, into: $0, threads: 1, kernel: .reference)
            }
        }
        let vector = ck_has_f16c() != 0
        let symmetric = type == .q3_k || type == .q6_k
        let done = ck_quantize_kquant(type.ggmlType!, input, &output, blocks)
        #expect(done == (vector ? (symmetric ? blocks : 5) : 0))
        let bytes = done * type.layout.blockBytes
        #expect(output[..<bytes] == reference[..<bytes])
    }

    /// iq4_nl's C kernel does groups of eight blocks and leaves a group whose sums overflow (values
    /// whose squares are infinite) to the reference.
    @Test func iq4VectorKernelRunsWhereTheCPUHasIt() throws {
        var input = (0 ..< 32 * 19).map { Float(($0 * 37) % 101) - 50.25 }
        var output = [UInt8](repeating: 0, count: 19 * 18)
        let vector = ck_has_f16c() != 0
        #expect(ck_quantize_iq4_nl(input, &output, 19) == (vector ? 16 : 0))
        input[8 * 32 + 5] = 3e38
        #expect(ck_quantize_iq4_nl(input, &output, 19) == (vector ? 8 : 0))
    }

    /// F16C's conversion (the C kernels' f16 fields) against ggml's software conversion, on a sweep of
    /// float32 bit patterns covering every exponent.
    @Test func vectorF16ConversionMatchesGGML() {
        let values = stride(from: UInt32(0), to: UInt32.max - 4093, by: 4093).map { Float(bitPattern: $0) }.filter(\.isFinite)
        var halves = [UInt16](repeating: 0, count: values.count)
        ck_f32_to_f16(values, &halves, values.count)
        let differing = values.indices.filter { halves[$0] != ggmlFP16(values[$0]) }
        #expect(differing.isEmpty, "first: \(differing.prefix(3).map { values[$0] })")
    }

    /// The report's sums: the vector path and the portable one give the same bits, for lengths with and
    /// without a tail, and agree with a plain double-precision loop; a NaN error makes the maximum NaN.
    @Test func errorSumsAreTheSameOnEveryPath() {
        let a = Self.randomRows(rows: 2, seed: 99).map { $0.isFinite ? $0 : 1 }
        let b = a.enumerated().map { $0.element + Float($0.offset % 7) * 0.001 }
        for n in [0, 1, 7, 8, 9, 63, 1000, a.count] {
            var vector = [Double](repeating: 0, count: 5), portable = vector
            ck_error_sums(a, b, n, &vector)
            ck_error_sums_portable(a, b, n, &portable)
            #expect(vector.map(\.bitPattern) == portable.map(\.bitPattern), "n = \(n)")
            var sse = 0.0, largest = 0.0
            for i in 0 ..< n {
                let e = Double(a[i]) - Double(b[i])
                sse += e * e
                largest = max(largest, abs(e))
            }
            #expect(abs(vector[0] - sse) <= 1e-9 * sse)
            #expect(vector[4] == largest)
        }
        var withNaN = b
        withNaN[3] = .nan
        var sums = [Double](repeating: 0, count: 5)
        ck_error_sums(a, withNaN, 100, &sums)
        #expect(sums[4].isNaN)
    }

    @Test func finiteValuesNearTheLimitAreNotRefused() throws {
        // The legacy kernels' probe sums values; a sum that overflows must not be reported as non-finite.
        let input = [Float](repeating: 3e38, count: 512)
        var output = [UInt8](repeating: 0, count: 512 / 32 * 18)
        try input.withUnsafeBufferPointer { values in
            try output.withUnsafeMutableBytes {
                try GGMLBlocks.quantize(values, rowLength: 512, as: .q4_0, into: $0)
            }
        }
    }

    @Test func rowLengthMustBeWholeBlocks() {
        let input = [Float](repeating: 1, count: 48)
        var output = [UInt8](repeating: 0, count: 1000)
        let error = #expect(throws: QuantizationError.self) {
            try input.withUnsafeBufferPointer { values in
                try output.withUnsafeMutableBytes {
                    try GGMLBlocks.quantize(values, rowLength: 48, as: .q4_0, into: $0)
                }
            }
        }
        #expect(error?.kind == .rowLength(48, blockElements: 32, type: "q4_0"))
    }
}
