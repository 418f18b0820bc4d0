import CRuntimeKernels
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Testing
@testable import ConnectorRuntime

/// The C kernels against libm in double precision, and their vector path against their portable path.
@Suite(.serialized) struct ElementKernelTests {
    /// Values across the ranges that matter, plus the awkward ones.
    static let inputs: [Float] = {
        var values: [Float] = [0, -0.0, 1e-30, -1e-30, 1e-8, 0.5, -0.5, 0.62, 0.63, -0.63, 1, -1, 2.5, -2.5, 5, -5, 9, -9, 20, -20,
                               40, -40, 80, 88.5, 88.8, -87, -88, -100, -104, -110, 1e10, -1e10,
                               .infinity, -.infinity, .nan, Float.leastNonzeroMagnitude, Float.greatestFiniteMagnitude]
        var generator = SplitMix(seed: 7)
        for _ in 0 ..< 997 { values.append(Float(generator.normal() * 4)) }
        return values
    }()

    func run(_ kind: Int32, _ values: [Float]) -> [Float] {
        var copy = values
        ckr_activate(&copy, copy.count, kind)
        return copy
    }

    static func reference(_ kind: Int32, _ x: Double) -> Double {
        switch Int(kind) {
        case Int(CKR_GELU): return x / 2 * (1 + erf(x / 2.0.squareRoot()))
        case Int(CKR_GELU_TANH): return x / 2 * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
        case Int(CKR_QUICK_GELU): return x / (1 + exp(-1.702 * x))
        case Int(CKR_RELU): return max(0, x)
        case Int(CKR_SILU): return x / (1 + exp(-x))
        case Int(CKR_TANH): return tanh(x)
        case Int(CKR_HARDSWISH): return x * min(max(x + 3, 0), 6) / 6
        default: return min(max(x + 3, 0), 6) / 6
        }
    }

    static let kinds: [Int32] = [CKR_GELU, CKR_GELU_TANH, CKR_QUICK_GELU, CKR_RELU, CKR_SILU, CKR_TANH, CKR_HARDSWISH, CKR_HARDSIGMOID].map { Int32($0) }

    @Test(arguments: kinds)
    func activationMatchesLibm(kind: Int32) {
        let out = run(kind, Self.inputs)
        for (x, y) in zip(Self.inputs, out) where x.isFinite {
            let expected = Self.reference(kind, Double(x))
            guard expected.isFinite, abs(expected) < 1e30 else { continue }
            // erf by Abramowitz-Stegun is within 1.5e-7 absolute; the rest within a few float ulps.
            let tolerance = max(abs(expected) * 4e-7, 3e-7 * max(1, abs(Double(x))))
            #expect(abs(Double(y) - expected) <= tolerance, "kind \(kind) at \(x): \(y) vs \(expected)")
        }
    }

    @Test func expMatchesLibm() {
        var values = Self.inputs
        ckr_exp(&values, values.count)
        for (x, y) in zip(Self.inputs, values) {
            let expected = exp(Double(x))
            if x.isNaN { #expect(y.isNaN); continue }
            if expected > Double(Float.greatestFiniteMagnitude) { #expect(y == .infinity); continue }
            if expected < Double(Float.leastNormalMagnitude) { #expect(abs(Double(y) - expected) <= 1e-38); continue }
            #expect(abs(Double(y) - expected) <= expected * 3e-7, "exp(\(x)) = \(y), libm \(expected)")
        }
    }

    @Test(arguments: kinds)
    func vectorAndPortablePathsGiveTheSameBits(kind: Int32) throws {
        try #require(ckr_vector_path() == 1, "the machine has no AVX2+FMA: only the portable path exists")
        let vector = run(kind, Self.inputs)
        ckr_force_portable(1)
        defer { ckr_force_portable(0) }
        let portable = run(kind, Self.inputs)
        #expect(vector.map(\.bitPattern) == portable.map(\.bitPattern))
    }

    @Test func rowKernelsVectorAndPortableAgreeBitwise() throws {
        try #require(ckr_vector_path() == 1)
        var generator = SplitMix(seed: 3)
        let cols = 37, rows = 5
        let x = (0 ..< rows * cols).map { _ in Float(generator.normal() * 3 + 1) }
        let w = (0 ..< cols).map { _ in Float(generator.normal()) }, b = (0 ..< cols).map { _ in Float(generator.normal()) }
        func all() -> [UInt32] {
            var ln = [Float](repeating: 0, count: x.count), rms = ln, soft = x
            ckr_layer_norm(x, &ln, rows, cols, w, b, 1e-5)
            ckr_rms_norm(x, &rms, rows, cols, w, 1e-6)
            ckr_softmax_rows(&soft, rows, cols, cols)
            return (ln + rms + soft).map(\.bitPattern)
        }
        let vector = all()
        ckr_force_portable(1)
        defer { ckr_force_portable(0) }
        #expect(vector == all())
    }

    @Test func normsAndSoftmaxMatchDoublePrecision() {
        var generator = SplitMix(seed: 11)
        let cols = 203, rows = 3
        let x = (0 ..< rows * cols).map { _ in Float(generator.normal() * 2 + 0.5) }
        let w = (0 ..< cols).map { _ in Float(generator.normal()) }, b = (0 ..< cols).map { _ in Float(generator.normal()) }
        var ln = [Float](repeating: 0, count: x.count), rms = ln, soft = x
        ckr_layer_norm(x, &ln, rows, cols, w, b, 1e-5)
        ckr_rms_norm(x, &rms, rows, cols, w, 1e-6)
        ckr_softmax_rows(&soft, rows, cols, cols)
        for r in 0 ..< rows {
            let row = x[r * cols ..< (r + 1) * cols].map(Double.init)
            let mean = row.reduce(0, +) / Double(cols)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(cols)
            let meanSquare = row.map { $0 * $0 }.reduce(0, +) / Double(cols)
            let top = row.max()!
            let total = row.map { exp($0 - top) }.reduce(0, +)
            for c in 0 ..< cols {
                let i = r * cols + c
                let expectedLN = (row[c] - mean) / (variance + 1e-5).squareRoot() * Double(w[c]) + Double(b[c])
                let expectedRMS = row[c] / (meanSquare + 1e-6).squareRoot() * Double(w[c])
                let expectedSoft = exp(row[c] - top) / total
                #expect(abs(Double(ln[i]) - expectedLN) <= 2e-6 * max(1, abs(expectedLN)))
                #expect(abs(Double(rms[i]) - expectedRMS) <= 2e-6 * max(1, abs(expectedRMS)))
                #expect(abs(Double(soft[i]) - expectedSoft) <= 1e-6 * expectedSoft + 1e-9)
            }
        }
    }
}

/// splitmix64 and Box–Muller, for test inputs.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }
    mutating func normal() -> Double {
        let u1 = uniform() + 0x1p-53, u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
    mutating func floats(_ count: Int, scale: Double = 1) -> [Float] { (0 ..< count).map { _ in Float(normal() * scale) } }
}
