import Foundation
import Testing
@testable import TensorFormats

/// Reading files written by the reference implementation (Tests/Fixtures/safetensors/generate.py).
struct SafetensorsReadTests {
    @Test func everyReferenceDTypeReadsWithItsBytes() throws {
        let expected = try #require(try Fixtures.json("safetensors/expected.json")["dtypes"]?.arrayValue)
        let main = try CheckpointReader.open(Fixtures.path("safetensors/dtypes.safetensors"))
        let f6 = try CheckpointReader.open(Fixtures.path("safetensors/f6.safetensors"))
        #expect(main.format == .safetensors)
        #expect(main.metadata["made_by"]?.stringValue?.hasPrefix("safetensors ") == true)
        let tensors = main.tensors + f6.tensors
        #expect(tensors.count == 22)
        for entry in expected {
            let name = try #require(entry["name"]?.stringValue)
            let tensor = try #require(tensors.first { $0.name == name }, "missing \(name)")
            #expect(tensor.dtype.rawValue == entry["dtype"]?.stringValue)
            #expect(tensor.shape == entry["shape"]?.arrayValue?.compactMap(\.intValue))
            #expect(tensor.info.byteCount == entry["nbytes"]?.intValue)
            #expect(hexDigest(try bytes(of: tensor)) == entry["sha256"]?.stringValue, "\(name) bytes")
        }
    }

    @Test func tensorsAreListedInDataOrder() throws {
        let checkpoint = try CheckpointReader.open(Fixtures.path("safetensors/dtypes.safetensors"))
        let offsets = checkpoint.tensors.compactMap { $0.data.fileRegion?.offset }
        #expect(offsets.count == checkpoint.tensors.count)
        #expect(offsets == offsets.sorted())
    }

    @Test func scalarsEmptyTensorsAndMetadata() throws {
        let checkpoint = try CheckpointReader.open(Fixtures.path("safetensors/special.safetensors"))
        let scalar = try #require(checkpoint.tensor(named: "scalar"))
        #expect(scalar.shape == [])
        #expect(try bytes(of: scalar) == [0, 0, 0xC0, 0x3F])  // 1.5f
        let empty = try #require(checkpoint.tensor(named: "empty"))
        #expect(empty.shape == [0, 4])
        #expect(empty.info.byteCount == 0)
        #expect(Set(checkpoint.metadata.map(\.key)) == ["format", "note"])  // file order (the reference hashes)
        #expect(checkpoint.metadata["note"]?.stringValue == "unicode ✓ and \"quotes\"")
    }

    @Test func numpyWriterValues() throws {
        let values = try #require(try Fixtures.json("safetensors/expected.json")["numpy_values"]?.objectMembers)
        let checkpoint = try CheckpointReader.open(Fixtures.path("safetensors/numpy_writer.safetensors"))
        for member in values {
            let tensor = try #require(checkpoint.tensor(named: member.key))
            let expected = try #require(member.value.arrayValue).compactMap(\.doubleValue)
            let got: [Double] = try tensor.withBytes { raw in
                raw.bindMemory(to: UInt16.self).map { Double(Float16(bitPattern: $0)) }
            }
            #expect(got == expected, "\(member.key)")
        }
    }

    /// The writer sorts as the reference does, so even a shuffled input gives the reference's bytes.
    @Test func ourWriterReproducesReferenceFilesByteForByte() throws {
        let directory = try TemporaryDirectory()
        for name in ["dtypes", "numpy_writer", "special", "f6"] {
            let source = Fixtures.path("safetensors/\(name).safetensors")
            let checkpoint = try CheckpointReader.open(source)
            let target = directory.file("\(name).safetensors")
            let output = try OutputFile(path: target, overwrite: false)
            try SafetensorsWriter.write(tensors: checkpoint.tensors.reversed().map { OutputTensor(copying: $0) },
                                        metadata: checkpoint.metadata, to: output)
            try output.commit()
            let original = try Data(contentsOf: URL(fileURLWithPath: source))
            let written = try Data(contentsOf: URL(fileURLWithPath: target))
            #expect(original == written, "\(name): connkit's bytes differ from the reference writer's")
        }
    }
}

/// Sharded checkpoints through `model.safetensors.index.json`.
struct ShardedTests {
    @Test(arguments: ["safetensors/sharded", "safetensors/sharded/", "safetensors/sharded/model.safetensors.index.json"])
    func readsFolderOrIndex(path: String) throws {
        let checkpoint = try CheckpointReader.open(Fixtures.path(path))
        #expect(checkpoint.format == .safetensors)
        #expect(checkpoint.shards == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])
        #expect(checkpoint.tensors.map(\.name) == ["a.bias", "a.weight", "b.weight"])
        #expect(checkpoint.tensors.map(\.file) == ["model-00001-of-00002.safetensors", "model-00001-of-00002.safetensors",
                                                   "model-00002-of-00002.safetensors"])
        #expect(checkpoint.metadata["total_size"] == .int64(112))
        // The shards' own metadata follows the index's, once per distinct key and value.
        #expect(checkpoint.metadata.map(\.key) == ["total_size", "format"])
        let bias = try #require(checkpoint.tensor(named: "a.bias"))
        #expect(try bias.withBytes { Array($0.bindMemory(to: Float.self)) } == [0, 1, 2, 3])
    }

    @Test(arguments: [
        ("missing_from_shard", "inconsistent", "b"), ("missing_from_index", "inconsistent", "b"),
        ("wrong_shard", "inconsistent", "b"), ("path_traversal", "refused", "a"), ("absolute_path", "refused", "a"),
        ("shard_file_missing", "io", nil), ("index_invalid_json", "invalidJSON", nil),
        ("index_no_weight_map", "invalidHeader", nil), ("index_duplicate_key", "duplicateName", nil),
    ] as [(String, String, String?)])
    func brokenIndexesAreRefused(name: String, kind: String, tensor: String?) throws {
        let error = formatError { _ = try CheckpointReader.open(Fixtures.path("hostile/safetensors/sharded/\(name)")) }
        #expect(error?.kind.caseName == kind, "\(name): \(String(describing: error))")
        if let tensor { #expect(error?.location == .tensor(tensor)) }
        #expect(error?.file != nil)
    }
}

/// One test per rejection class (Tests/Fixtures/hostile/safetensors/generate.py).
struct HostileSafetensorsTests {
    static let cases: [(String, String)] = [
        ("too_small", "truncated"), ("header_too_large", "limitExceeded"), ("header_length_u64_max", "limitExceeded"),
        ("header_past_eof", "truncated"), ("invalid_utf8", "invalidUTF8"), ("invalid_json", "invalidJSON"),
        ("nul_padding", "invalidJSON"), ("not_an_object", "invalidHeader"), ("entry_not_object", "invalidHeader"),
        ("duplicate_key", "duplicateName"), ("unknown_dtype", "unknownDType"), ("lowercase_dtype", "unknownDType"),
        ("shape_overflow", "overflow"), ("bytes_overflow", "overflow"), ("dim_beyond_int64", "overflow"),
        ("negative_dim", "invalidHeader"), ("float_dim", "invalidHeader"), ("too_many_dims", "tooManyDimensions"),
        ("offsets_hole", "badOffset"), ("offsets_overlap", "badOffset"), ("offsets_not_from_zero", "badOffset"),
        ("end_before_begin", "invalidHeader"), ("size_mismatch", "sizeMismatch"), ("trailing_bytes", "uncoveredBytes"),
        ("data_past_eof", "uncoveredBytes"), ("offset_beyond_int64", "overflow"), ("missing_offsets", "invalidHeader"),
        ("metadata_not_string", "invalidHeader"), ("metadata_not_object", "invalidHeader"), ("f4_odd_count", "invalidShape"),
        ("deep_nesting", "invalidJSON"),
    ]

    @Test(arguments: cases)
    func rejected(name: String, kind: String) throws {
        let path = Fixtures.path("hostile/safetensors/\(name).safetensors")
        let error = formatError { _ = try CheckpointReader.open(path) }
        #expect(error?.kind.caseName == kind, "\(name): \(String(describing: error))")
        #expect(error?.file == path)
        #expect(error?.location != nil || ["uncoveredBytes"].contains(kind), "\(name) must say where")
    }

    @Test func corpusHasNoUntestedFile() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Fixtures.path("hostile/safetensors"))
            .filter { $0.hasSuffix(".safetensors") }.map { String($0.dropLast(12)) }
        #expect(Set(files) == Set(Self.cases.map(\.0)))
    }

    /// Every prefix of a valid file is refused cleanly (no trap, no partial success).
    @Test func everyTruncationIsRefused() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("safetensors/special.safetensors")))
        let directory = try TemporaryDirectory()
        for length in 0 ..< data.count {
            let path = directory.file("cut.safetensors")
            try data.prefix(length).write(to: URL(fileURLWithPath: path))
            let error = formatError { _ = try SafetensorsReader.read(MappedFile(path: path)) }
            #expect(error != nil, "prefix of \(length) bytes was accepted")
        }
    }
}
