import CConnkit
import Testing
@testable import TensorFormats

/// Float casts against numpy and ml_dtypes results (Tests/Fixtures/safetensors/casts.json).
struct CastTests {
    let casts: JSONValue

    init() throws {
        casts = try Fixtures.json("safetensors/casts.json")
    }

    private func u32s(_ key: String) throws -> [UInt32] {
        try #require(casts[key]?.arrayValue).map { UInt32(try #require($0.uint64Value)) }
    }

    private func u16s(_ key: String) throws -> [UInt16] {
        try #require(casts[key]?.arrayValue).map { UInt16(try #require($0.uint64Value)) }
    }

    private static func isNaN16(_ bits: UInt16, bf16: Bool) -> Bool {
        bf16 ? (bits & 0x7F80) == 0x7F80 && (bits & 0x7F) != 0 : (bits & 0x7C00) == 0x7C00 && (bits & 0x3FF) != 0
    }

    private func check(_ got: [UInt16], _ expected: [UInt16], bf16: Bool, _ label: String) {
        #expect(got.count == expected.count)
        var mismatches = 0
        for (index, (a, b)) in zip(got, expected).enumerated() {
            let same = a == b || (Self.isNaN16(a, bf16: bf16) && Self.isNaN16(b, bf16: bf16) && (a & 0x8000) == (b & 0x8000))
            if !same {
                mismatches += 1
                if mismatches < 5 { Issue.record("\(label)[\(index)]: got \(a), expected \(b)") }
            }
        }
        #expect(mismatches == 0, "\(label): \(mismatches) mismatches")
    }

    @Test func f32ToF16MatchesNumpyOnBothPaths() throws {
        let input = try u32s("f32_bits").map(Float.init(bitPattern:))
        let expected = try u16s("f32_to_f16")
        var fast = [UInt16](repeating: 0, count: input.count)
        var portable = fast
        ck_f32_to_f16(input, &fast, input.count)
        ck_f32_to_f16_portable(input, &portable, input.count)
        check(fast, expected, bf16: false, "vector f32->f16")
        check(portable, expected, bf16: false, "portable f32->f16")
    }

    @Test func f32ToBF16MatchesMLDtypesOnBothPaths() throws {
        let input = try u32s("f32_bits").map(Float.init(bitPattern:))
        let expected = try u16s("f32_to_bf16")
        var fast = [UInt16](repeating: 0, count: input.count)
        var portable = fast
        ck_f32_to_bf16(input, &fast, input.count)
        ck_f32_to_bf16_portable(input, &portable, input.count)
        check(fast, expected, bf16: true, "vector f32->bf16")
        check(portable, expected, bf16: true, "portable f32->bf16")
    }

    @Test func f16WideningIsExactAndBothPathsAgree() {
        let all = (0 ... UInt16.max).map { $0 }
        var fast = [Float](repeating: 0, count: all.count)
        var portable = fast
        ck_f16_to_f32(all, &fast, all.count)
        ck_f16_to_f32_portable(all, &portable, all.count)
        for index in all.indices {
            let a = fast[index], b = portable[index]
            #expect(a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN))
            if !a.isNaN {
                // Narrowing back is the identity on every non-NaN f16.
                var back: UInt16 = 0
                ck_f32_to_f16([a], &back, 1)
                #expect(back == all[index])
            }
        }
    }

    /// numpy's `astype(np.float32)` keeps every bit of an f16 NaN's payload, signalling ones included
    /// (`0x7D01` -> `0x7FA02000`, checked with numpy 2.4); F16C's `vcvtph2ps` would set the quiet bit, so
    /// the result depended on whether an element fell in the vector part or the tail of a call.
    @Test func f16NaNsWidenWithTheirPayloadWhereverTheyFall() {
        let nans = (0 ... UInt16.max).filter { $0 & 0x7FFF > 0x7C00 }
        var fast = [Float](repeating: 0, count: nans.count)
        ck_f16_to_f32(nans, &fast, nans.count)
        let expected = nans.map { h in (UInt32(h & 0x8000) << 16) | 0x7F80_0000 | (UInt32(h & 0x3FF) << 13) }
        #expect(fast.map(\.bitPattern) == expected)
        #expect(fast.map(\.bitPattern)[nans.firstIndex(of: 0x7D01)!] == 0x7FA0_2000)
        var bf16 = [Float](repeating: 0, count: nans.count), portable = bf16
        ck_bf16_to_f32(nans, &bf16, nans.count)
        ck_bf16_to_f32_portable(nans, &portable, nans.count)
        #expect(bf16.map(\.bitPattern) == portable.map(\.bitPattern))
    }

    @Test func f64CastsMatchNumpyAndMLDtypes() throws {
        let doubles = try #require(casts["f64"]?.arrayValue).map { Double(try #require($0.stringValue).hexDoubleValue) }
        let expectF16 = try u16s("f64_to_f16")
        let expectBF16 = try u16s("f64_to_bf16")
        let expectF32 = try u32s("f64_to_f32")
        var f16: [UInt16] = []
        var bf16: [UInt16] = []
        for value in doubles {
            let odd = Cast.float32RoundedToOdd(value)
            var h: UInt16 = 0
            var b: UInt16 = 0
            ck_f32_to_f16([odd], &h, 1)
            ck_f32_to_bf16([Float(value)], &b, 1)  // ml_dtypes goes through f32 (rounds twice)
            f16.append(h)
            bf16.append(b)
        }
        check(f16, expectF16, bf16: false, "f64->f16")
        check(bf16, expectBF16, bf16: true, "f64->bf16")
        #expect(doubles.map { Float($0).bitPattern } == expectF32)
    }

    @Test(arguments: ["f8_e4m3", "f8_e5m2", "f8_e4m3fnuz", "f8_e5m2fnuz", "f8_e8m0"])
    func f8DecodingMatchesMLDtypes(name: String) throws {
        let dtype = try #require(DType(rawValue: name))
        let expected = try #require(casts["f8_to_f32"]?[name]?.arrayValue).map { Float(bitPattern: UInt32(try #require($0.uint64Value))) }
        let codes = (0 ..< 256).map { UInt8($0) }
        var decoded = [Float](repeating: 0, count: 256)
        codes.withUnsafeBytes { raw in
            Cast.toFloat32(raw.baseAddress!, dtype, count: 256, into: &decoded)
        }
        for code in 0 ..< 256 {
            let a = decoded[code], b = expected[code]
            #expect(a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN), "\(name) code \(code): \(a) vs \(b)")
        }
    }

    @Test func maxAbsFiniteIgnoresInfAndNaN() {
        var values = [Float](repeating: 1, count: 37)
        values[3] = -70000
        values[20] = .infinity
        values[30] = .nan
        values[36] = -.infinity
        #expect(Cast.maxAbsFinite(values, count: values.count) == 70000)
        #expect(Cast.maxAbsFinite([Float.nan, .infinity], count: 2) == 0)
    }
}

extension String {
    /// Parses Python's `float.hex()` form (e.g. `0x1.8p+3`).
    var hexDoubleValue: Double {
        Double(self) ?? .nan
    }
}
