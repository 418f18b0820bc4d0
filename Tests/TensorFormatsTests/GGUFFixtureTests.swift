import Foundation
import Testing
@testable import TensorFormats

/// Reads the files gguf-py wrote (Tests/Fixtures/gguf/generate.py) and compares everything with what
/// gguf-py's own reader reported in expected.json.
struct GGUFFixtureTests {
    static let fixtureNames = ["metadata.gguf", "dtypes.gguf", "align64.gguf", "align1.gguf", "bigendian.gguf",
                               "v2.gguf", "v1.gguf"]

    static func expectation(_ name: String) throws -> JSONValue {
        let all = try GGUFTestSupport.json(at: GGUFTestSupport.ggufFixtures.appendingPathComponent("expected.json"))
        return try #require(all[name], "expected.json has no entry for \(name)")
    }

    @Test func sidecarListsEveryFixture() throws {
        let all = try GGUFTestSupport.json(at: GGUFTestSupport.ggufFixtures.appendingPathComponent("expected.json"))
        #expect(Set(all.objectMembers?.map(\.key) ?? []) == Set(Self.fixtureNames))
    }

    @Test(arguments: fixtureNames)
    func metadataMatchesGGUFPy(_ name: String) throws {
        let expected = try Self.expectation(name)
        let checkpoint = try GGUFTestSupport.read(GGUFTestSupport.ggufFixtures.appendingPathComponent(name))
        #expect(checkpoint.format == .gguf)
        let entries = try #require(expected["metadata"]?.arrayValue)
        #expect(checkpoint.metadata.map(\.key) == entries.compactMap { $0["key"]?.stringValue })
        for (entry, expectedEntry) in zip(checkpoint.metadata, entries) {
            let types = (expectedEntry["types"]?.arrayValue ?? []).compactMap(\.intValue)
            let value = try #require(expectedEntry["value"])
            #expect(GGUFTestSupport.matches(entry.value, value, types: types[...]),
                    "\(name): \(entry.key) = \(entry.value) but gguf-py reported \(value.serialized())")
        }
    }

    @Test(arguments: fixtureNames)
    func tensorsMatchGGUFPy(_ name: String) throws {
        let expected = try Self.expectation(name)
        let checkpoint = try GGUFTestSupport.read(GGUFTestSupport.ggufFixtures.appendingPathComponent(name))
        let tensors = try #require(expected["tensors"]?.arrayValue)
        #expect(checkpoint.tensors.map(\.name) == tensors.compactMap { $0["name"]?.stringValue })
        for (tensor, want) in zip(checkpoint.tensors, tensors) {
            #expect(tensor.dtype.rawValue == want["dtype"]?.stringValue, "\(tensor.name)")
            #expect(tensor.shape == (want["shape"]?.arrayValue ?? []).compactMap(\.intValue), "\(tensor.name)")
            #expect(tensor.info.byteCount == want["nbytes"]?.intValue, "\(tensor.name)")
            if let region = tensor.data.fileRegion {
                #expect(region.offset == want["offset"]?.intValue, "\(tensor.name)")
            }
            if want["readable"]?.boolValue == false {
                let error = GGUFTestSupport.formatError { try tensor.withBytes { _ in } }
                #expect(error.map { GGUFTestSupport.kindName($0.kind) } == "unsupportedFormat", "\(tensor.name)")
                #expect(error?.location == .tensor(tensor.name))
                continue
            }
            try tensor.withBytes { bytes in
                #expect(GGUFTestSupport.fnv1a64(bytes) == want["fnv1a64"]?.stringValue, "\(name): \(tensor.name)")
                guard let values = want["values"]?.arrayValue else { return }
                if tensor.dtype == .i64 {
                    #expect(GGUFTestSupport.decodeInt64(bytes).map { JSONValue.int($0) } == values, "\(tensor.name)")
                } else {
                    let decoded = try #require(GGUFTestSupport.decode(bytes, as: tensor.dtype))
                    #expect(decoded == values.compactMap(\.doubleValue), "\(name): \(tensor.name)")
                }
            }
        }
    }

    @Test func versionAndByteOrderAreReported() throws {
        let bigEndian = try GGUFTestSupport.read(GGUFTestSupport.ggufFixtures.appendingPathComponent("bigendian.gguf"))
        #expect(bigEndian.notes.contains { $0.contains("big-endian") })
        // Plain tensors of a big-endian file are swapped, so they are not verbatim file ranges.
        #expect(bigEndian.tensor(named: "f32")?.data.fileRegion == nil)
        #expect(bigEndian.tensor(named: "i8")?.data.fileRegion != nil)
        let v1 = try GGUFTestSupport.read(GGUFTestSupport.ggufFixtures.appendingPathComponent("v1.gguf"))
        #expect(v1.notes.contains { $0.contains("version 1") })
        let v3 = try GGUFTestSupport.read(GGUFTestSupport.ggufFixtures.appendingPathComponent("metadata.gguf"))
        #expect(v3.notes.isEmpty)
    }

    @Test func shapesAreRowMajor() throws {
        let checkpoint = try GGUFTestSupport.read(GGUFTestSupport.ggufFixtures.appendingPathComponent("dtypes.gguf"))
        // gguf-py stores numpy (2, 3, 2, 5) as ne = [5, 2, 3, 2]; connkit presents the numpy shape again.
        #expect(checkpoint.tensor(named: "f32.4d")?.shape == [2, 3, 2, 5])
        // n_dims = 0 (gguf-py's 0-d array) is a scalar.
        #expect(checkpoint.tensor(named: "f32.scalar")?.shape == [])
        #expect(checkpoint.tensor(named: "f32.empty")?.shape == [0, 4])
        // Block rows run along the last row-major axis: two q8_0 rows of 64 elements.
        #expect(checkpoint.tensor(named: "q8_0.2d")?.shape == [2, 64])
    }

    @Test func everyGGMLTypeHasTheGeometryOfGGUFPy() throws {
        // gguf-py's GGML_QUANT_SIZES agrees with ggml except Q8_1 (gguf-py 0.19.0: 40, ggml's struct: 36)
        // and lacks Q2_0; the dtypes fixture holds every other type, read with the DType table's geometry.
        let checkpoint = try GGUFTestSupport.read(GGUFTestSupport.ggufFixtures.appendingPathComponent("dtypes.gguf"))
        let present = Set(checkpoint.tensors.map(\.dtype))
        let missing = DType.allCases.filter { $0.ggmlType != nil && !present.contains($0) }
        #expect(Set(missing) == [.q8_1, .q2_0])
    }

    /// The DType table against ggml's own `ggml_blck_size` / `ggml_type_size` / `ggml_type_name` (dumped by
    /// generate.py from llama-cpp-python's libggml-base.so) and gguf-py's GGML_QUANT_SIZES.
    @Test func dtypeTableMatchesGGMLAndGGUFPy() throws {
        let geometry = try GGUFTestSupport.json(at: GGUFTestSupport.ggufFixtures.appendingPathComponent("type_geometry.json"))
        let ggml = try #require(geometry["ggml"]?.objectMembers, "type_geometry.json was made without libggml")
        #expect(ggml.count == 43)  // GGML_TYPE_COUNT
        for member in ggml {
            let id = try #require(UInt32(member.key))
            let dtype = DType(ggmlType: id)
            guard let facts = member.value.arrayValue else {
                #expect(dtype == nil, "ggml id \(id) is removed but connkit maps it to \(String(describing: dtype))")
                continue
            }
            let known = try #require(dtype, "ggml id \(id) (\(facts[2].stringValue ?? "")) has no DType")
            #expect(known.layout.blockElements == facts[0].intValue, "\(known)")
            #expect(known.layout.blockBytes == facts[1].intValue, "\(known)")
            #expect(known.ggmlName == facts[2].stringValue, "\(known)")
        }
        let ggufPy = try #require(geometry["gguf_py"]?.objectMembers)
        for member in ggufPy {
            let id = try #require(UInt32(member.key))
            let dtype = try #require(DType(ggmlType: id))
            let facts = (member.value.arrayValue ?? []).compactMap(\.intValue)
            if dtype == .q8_1 {
                #expect(facts == [32, 40], "gguf-py 0.19.0's stale Q8_1 size changed; ggml's is 36")
            } else {
                #expect(facts == [dtype.layout.blockElements, dtype.layout.blockBytes], "\(dtype)")
            }
        }
        #expect(ggufPy.count == DType.allCases.filter { $0.ggmlType != nil }.count - 1)  // gguf-py lacks q2_0
    }
}
