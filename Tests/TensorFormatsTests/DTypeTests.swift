import Testing
@testable import TensorFormats

/// The dtype table against ggml's own type table and gguf-py's (Tests/Fixtures/dtypes/generate.py).
struct DTypeTests {
    @Test func everyGGMLTypeMatchesLibggml() throws {
        let table = try Fixtures.json("dtypes/ggml_types.json")
        let types = try #require(table["types"]?.arrayValue)
        #expect(types.count == 43)
        for entry in types {
            let id = try #require(entry["id"]?.intValue)
            let blockSize = try #require(entry["block_size"]?.intValue)
            let typeSize = try #require(entry["type_size"]?.intValue)
            let name = try #require(entry["ggml_name"]?.stringValue)
            if blockSize == 0 {
                #expect(DType(ggmlType: UInt32(id)) == nil, "removed ggml type \(id) must stay unknown")
                continue
            }
            let dtype = try #require(DType(ggmlType: UInt32(id)), "ggml type \(id) (\(name)) missing from DType")
            #expect(dtype.layout.blockElements == blockSize, "\(name) block size")
            #expect(dtype.layout.blockBytes == typeSize, "\(name) bytes per block")
            #expect(dtype.ggmlName == name)
            #expect(dtype.rawValue == name.lowercased())
        }
    }

    @Test func ggufPyAgreesExceptItsStaleQ8_1() throws {
        let table = try Fixtures.json("dtypes/ggml_types.json")
        for entry in try #require(table["types"]?.arrayValue) {
            guard let sizes = entry["gguf_py_sizes"]?.arrayValue, let id = entry["id"]?.intValue,
                  let dtype = DType(ggmlType: UInt32(id)) else { continue }
            let pySizes = sizes.compactMap(\.intValue)
            if dtype == .q8_1 {
                #expect(pySizes == [32, 40], "gguf-py 0.19.0 is known to say 40 bytes for q8_1")
                #expect(dtype.layout.blockBytes == 36)
            } else {
                #expect(pySizes == [dtype.layout.blockElements, dtype.layout.blockBytes], "\(dtype)")
            }
        }
    }

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
