import Testing
@testable import TensorFormats

/// The dtype table's internal consistency (its geometry against libggml and gguf-py is in GGUFFixtureTests).
struct DTypeTests {
    @Test func vocabularyIsClosedAndCodesRoundTrip() {
        // 22 safetensors dtypes + the 27 ggml block types (ggml's 8 plain types are among the 22).
        #expect(DType.allCases.count == 22 + 27)
        for dtype in DType.allCases {
            if let name = dtype.safetensorsName { #expect(DType(safetensorsName: name) == dtype) }
            if let id = dtype.ggmlType { #expect(DType(ggmlType: id) == dtype) }
            if let code = dtype.numpyCode { #expect(DType(numpyCode: code) == dtype) }
            #expect(dtype.safetensorsName != nil || dtype.ggmlType != nil)
            #expect(dtype.rawValue == dtype.rawValue.lowercased())
        }
        #expect(DType(safetensorsName: "f32") == nil, "safetensors names are case-sensitive")
    }

    @Test(arguments: [(DType.f4, 3, nil), (.f4, 4, 2), (.f6_e2m3, 4, 3), (.f6_e3m2, 6, nil), (.q4_0, 64, 36),
                      (.q4_0, 33, nil), (.u8, Int.max, Int.max), (.f64, Int.max / 4, nil)] as [(DType, Int, Int?)])
    func byteCounts(dtype: DType, elements: Int, bytes: Int?) {
        #expect(dtype.byteCount(elements: elements) == bytes)
    }
}
