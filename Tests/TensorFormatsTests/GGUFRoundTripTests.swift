import Foundation
import Testing
@testable import TensorFormats

/// GGUFWriter → GGUFReader round trips, the writer's refusals, and (with CONNKIT_GGUF_WRITE_DIR set)
/// files for Tests/Fixtures/gguf/check_written.py to check with gguf-py and ggml.
struct GGUFRoundTripTests {
    static let writableDTypes = DType.allCases.filter { $0.ggmlType != nil }
    static let unwritableDTypes = DType.allCases.filter { $0.ggmlType == nil }

    /// A tensor of `dtype` with deterministic bytes; block types get rows of whole blocks.
    static func tensor(_ name: String, _ dtype: DType, shape: [Int], seed: UInt64) throws -> (OutputTensor, [UInt8]) {
        let info = try TensorInfo(name: name, dtype: dtype, shape: shape)
        let bytes = GGUFTestSupport.bytes(count: info.byteCount, seed: seed)
        return (OutputTensor(info: info) { output in try output.write(bytes) }, bytes)
    }

    /// Shapes cycling through 0-d and 1-D…4-D; for block types the last axis is whole blocks.
    static func shape(for dtype: DType, index: Int) -> [Int] {
        let block = dtype.layout.blockElements
        let shapes: [[Int]] = block == 1
            ? [[], [5], [3, 2], [2, 1, 3], [1, 2, 2, 3]]
            : [[block], [2, block], [2, 1, block * 2], [1, 2, 1, block]]
        return shapes[index % shapes.count]
    }

    static func everyMetadataType() -> [MetadataEntry] {
        [
            MetadataEntry("test.u8", .uint8(255)),
            MetadataEntry("test.i8", .int8(-128)),
            MetadataEntry("test.u16", .uint16(65535)),
            MetadataEntry("test.i16", .int16(-32768)),
            MetadataEntry("test.u32", .uint32(4_000_000_000)),
            MetadataEntry("test.i32", .int32(-2_000_000_000)),
            MetadataEntry("test.f32", .float32(0.1)),
            MetadataEntry("test.u64", .uint64(UInt64.max)),
            MetadataEntry("test.u64_above_2_53", .uint64((1 << 53) + 1)),
            MetadataEntry("test.i64", .int64(Int64.min)),
            MetadataEntry("test.f64", .float64(-2.5e-300)),
            MetadataEntry("test.bool", .bool(true)),
            MetadataEntry("test.string", .string("héllo ✓ 𝄞")),
            MetadataEntry("test.string_empty", .string("")),
            MetadataEntry("test.array.u8", .array(.uint8, [.uint8(0), .uint8(255)])),
            MetadataEntry("test.array.i8", .array(.int8, [.int8(-1), .int8(1)])),
            MetadataEntry("test.array.u16", .array(.uint16, [.uint16(7)])),
            MetadataEntry("test.array.i16", .array(.int16, [.int16(-7), .int16(300)])),
            MetadataEntry("test.array.u32", .array(.uint32, [.uint32(UInt32.max)])),
            MetadataEntry("test.array.i32", .array(.int32, [.int32(Int32.min), .int32(0)])),
            MetadataEntry("test.array.f32", .array(.float32, [.float32(1.5), .float32(-0.0)])),
            MetadataEntry("test.array.u64", .array(.uint64, [.uint64(UInt64.max), .uint64((1 << 53) + 1)])),
            MetadataEntry("test.array.i64", .array(.int64, [.int64(-1), .int64(Int64.max)])),
            MetadataEntry("test.array.f64", .array(.float64, [.float64(1e300)])),
            MetadataEntry("test.array.bool", .array(.bool, [.bool(false), .bool(true)])),
            MetadataEntry("test.array.string", .array(.string, [.string("a"), .string(""), .string("ünï")])),
            MetadataEntry("test.array.empty", .array(.uint32, [])),
        ]
    }

    static func writeFile(_ path: String, tensors: [OutputTensor], metadata: [MetadataEntry]) throws {
        let output = try OutputFile(path: path, overwrite: true)
        do {
            try GGUFWriter.write(tensors: tensors, metadata: metadata, to: output)
            try output.commit()
        } catch {
            output.abandon()
            throw error
        }
    }

    @Test(arguments: [nil, 1, 8, 64, 4096] as [UInt32?])
    func everyDTypeAndMetadataTypeRoundTrips(alignment: UInt32?) throws {
        let directory = try GGUFTestSupport.TemporaryDirectory()
        var metadata = Self.everyMetadataType()
        // general.architecture given last: the writer moves it first.
        metadata.append(MetadataEntry("general.architecture", .string("connkit-test")))
        if let alignment { metadata.insert(MetadataEntry("general.alignment", .uint32(alignment)), at: 3) }
        var outputs: [OutputTensor] = []
        var contents: [[UInt8]] = []
        for (index, dtype) in Self.writableDTypes.enumerated() {
            let (tensor, bytes) = try Self.tensor("t\(index).\(dtype.rawValue)", dtype,
                                                  shape: Self.shape(for: dtype, index: index), seed: UInt64(index + 1))
            outputs.append(tensor)
            contents.append(bytes)
        }
        let path = directory.path("all.gguf")
        try Self.writeFile(path, tensors: outputs, metadata: metadata)

        let checkpoint = try GGUFReader.read(MappedFile(path: path))
        let expectedMetadata = [metadata.last!] + metadata.dropLast()
        #expect(checkpoint.metadata.map(\.key) == expectedMetadata.map(\.key))
        for (read, written) in zip(checkpoint.metadata, expectedMetadata) {
            #expect(read.value == written.value, "\(written.key)")
        }
        #expect(checkpoint.tensors.map(\.name) == outputs.map(\.info.name))
        for (index, tensor) in checkpoint.tensors.enumerated() {
            let written = outputs[index].info
            #expect(tensor.dtype == written.dtype)
            // GGUF has no 0-d tensors: a scalar comes back as [1].
            #expect(tensor.shape == (written.shape.isEmpty ? [1] : written.shape), "\(tensor.name)")
            try tensor.withBytes { bytes in #expect(Array(bytes) == contents[index], "\(tensor.name)") }
            let region = try #require(tensor.data.fileRegion)
            #expect(region.offset % Int(alignment ?? 32) == 0, "\(tensor.name) misaligned")
        }
        // Padding follows every tensor, the last one included.
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(size % Int(alignment ?? 32) == 0)
    }

    @Test func emptyAndZeroSizedTensors() throws {
        let directory = try GGUFTestSupport.TemporaryDirectory()
        let path = directory.path("empty.gguf")
        let (a, _) = try Self.tensor("empty.rows", .f32, shape: [0, 4], seed: 1)
        let (b, _) = try Self.tensor("empty.cols", .f16, shape: [3, 0], seed: 2)
        let (c, _) = try Self.tensor("q.no_rows", .q4_k, shape: [0, 256], seed: 3)
        try Self.writeFile(path, tensors: [a, b, c], metadata: [])
        let checkpoint = try GGUFReader.read(MappedFile(path: path))
        #expect(checkpoint.tensors.map(\.shape) == [[0, 4], [3, 0], [0, 256]])
        #expect(checkpoint.tensors.map(\.info.byteCount) == [0, 0, 0])
        #expect(checkpoint.metadata.isEmpty)
    }

    @Test func noTensors() throws {
        let directory = try GGUFTestSupport.TemporaryDirectory()
        let path = directory.path("none.gguf")
        try Self.writeFile(path, tensors: [], metadata: [MetadataEntry("general.architecture", .string("x"))])
        let checkpoint = try GGUFReader.read(MappedFile(path: path))
        #expect(checkpoint.tensors.isEmpty)
        #expect(checkpoint.metadata == [MetadataEntry("general.architecture", .string("x"))])
    }

    @Test func rewritingGGUFPyFilesIsByteIdentical() throws {
        // Re-writing what the reader returns reproduces gguf-py's file exactly (same layout rules).
        let directory = try GGUFTestSupport.TemporaryDirectory()
        for name in ["align64.gguf", "align1.gguf"] {
            let source = GGUFTestSupport.ggufFixtures.appendingPathComponent(name)
            let checkpoint = try GGUFTestSupport.read(source)
            let path = directory.path(name)
            try Self.writeFile(path, tensors: checkpoint.tensors.map { OutputTensor(copying: $0) },
                               metadata: checkpoint.metadata)
            let original = try Data(contentsOf: source)
            let copy = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(original == copy, "\(name) re-written differs")
        }
    }

    @Test func rewritingEveryGGUFPyDTypeKeepsEverything() throws {
        // dtypes.gguf holds gguf-py's 0-d tensor (n_dims = 0), which connkit writes as [1]; all else is kept.
        let directory = try GGUFTestSupport.TemporaryDirectory()
        let source = try GGUFTestSupport.read(GGUFTestSupport.ggufFixtures.appendingPathComponent("dtypes.gguf"))
        let path = directory.path("dtypes.gguf")
        try Self.writeFile(path, tensors: source.tensors.map { OutputTensor(copying: $0) }, metadata: source.metadata)
        let copy = try GGUFReader.read(MappedFile(path: path))
        #expect(copy.metadata == source.metadata)
        #expect(copy.tensors.map(\.name) == source.tensors.map(\.name))
        for (read, original) in zip(copy.tensors, source.tensors) {
            #expect(read.dtype == original.dtype)
            #expect(read.shape == (original.shape.isEmpty ? [1] : original.shape))
            let same = try read.withBytes { a in try original.withBytes { b in a.elementsEqual(b) } }
            #expect(same, "\(read.name)")
        }
    }

    @Test func bigEndianPlainTensorsConvertToLittleEndian() throws {
        // The swapped data of a big-endian file is written out as an ordinary little-endian file.
        let directory = try GGUFTestSupport.TemporaryDirectory()
        let source = try GGUFTestSupport.read(GGUFTestSupport.ggufFixtures.appendingPathComponent("bigendian.gguf"))
        let plain = source.tensors.filter { !$0.dtype.isBlockQuantized }
        let path = directory.path("little.gguf")
        try Self.writeFile(path, tensors: plain.map { OutputTensor(copying: $0) }, metadata: source.metadata)
        let copy = try GGUFReader.read(MappedFile(path: path))
        #expect(copy.notes.isEmpty)
        #expect(copy.metadata == source.metadata)
        for (read, original) in zip(copy.tensors, plain) {
            let same = try read.withBytes { a in try original.withBytes { b in a.elementsEqual(b) } }
            #expect(same, "\(read.name)")
        }
    }

    // MARK: refusals

    struct Refusal: CustomTestStringConvertible, Sendable {
        let name: String
        let kind: String
        let location: FormatError.Location
        let tensors: @Sendable () throws -> [OutputTensor]
        let metadata: [MetadataEntry]
        var testDescription: String { "\(name) → \(kind)" }
    }

    static func plain(_ name: String, _ dtype: DType = .f32, _ shape: [Int] = [2]) -> @Sendable () throws -> [OutputTensor] {
        { [try GGUFRoundTripTests.tensor(name, dtype, shape: shape, seed: 9).0] }
    }

    static let refusals: [Refusal] = [
        Refusal(name: "nested array", kind: "unconvertible", location: .key("test.nested"), tensors: plain("a"),
                metadata: [MetadataEntry("test.nested", .array(.array, [.array(.uint8, [.uint8(1)])]))]),
        Refusal(name: "64-byte name", kind: "limitExceeded", location: .tensor(String(repeating: "x", count: 64)),
                tensors: plain(String(repeating: "x", count: 64)), metadata: []),
        Refusal(name: "5 dimensions", kind: "tooManyDimensions", location: .tensor("a"),
                tensors: plain("a", .f32, [1, 1, 1, 1, 2]), metadata: []),
        Refusal(name: "row not whole blocks", kind: "invalidShape", location: .tensor("q"),
                tensors: plain("q", .q8_0, [2, 16]), metadata: []),
        // 32 elements are one q8_0 block, but as [32, 1] each row holds a single element (ne[0] = 1).
        Refusal(name: "one-element rows", kind: "invalidShape", location: .tensor("q"),
                tensors: plain("q", .q8_0, [32, 1]), metadata: []),
        Refusal(name: "duplicate tensor", kind: "duplicateName", location: .tensor("a"),
                tensors: { try plain("a")() + plain("a")() }, metadata: []),
        Refusal(name: "duplicate key", kind: "duplicateName", location: .key("k"), tensors: plain("a"),
                metadata: [MetadataEntry("k", .uint8(1)), MetadataEntry("k", .uint8(2))]),
        Refusal(name: "alignment 0", kind: "invalidHeader", location: .key("general.alignment"), tensors: plain("a"),
                metadata: [MetadataEntry("general.alignment", .uint32(0))]),
        Refusal(name: "alignment 48", kind: "invalidHeader", location: .key("general.alignment"), tensors: plain("a"),
                metadata: [MetadataEntry("general.alignment", .uint32(48))]),
        Refusal(name: "alignment as u64", kind: "invalidHeader", location: .key("general.alignment"), tensors: plain("a"),
                metadata: [MetadataEntry("general.alignment", .uint64(32))]),
        Refusal(name: "architecture not a string", kind: "invalidHeader", location: .key("general.architecture"),
                tensors: plain("a"), metadata: [MetadataEntry("general.architecture", .uint32(1))]),
        Refusal(name: "mixed array", kind: "invalidHeader", location: .key("m"), tensors: plain("a"),
                metadata: [MetadataEntry("m", .array(.uint8, [.uint8(1), .int8(1)]))]),
        Refusal(name: "producer writes too little", kind: "sizeMismatch", location: .tensor("short"),
                tensors: { [OutputTensor(info: try TensorInfo(name: "short", dtype: .f32, shape: [4])) { output in
                    try output.write([UInt8](repeating: 0, count: 12))
                }] }, metadata: []),
    ]

    @Test(arguments: refusals)
    func writerRefuses(_ refusal: Refusal) throws {
        let directory = try GGUFTestSupport.TemporaryDirectory()
        let path = directory.path("refused.gguf")
        let error = try #require(GGUFTestSupport.formatError {
            try Self.writeFile(path, tensors: try refusal.tensors(), metadata: refusal.metadata)
        })
        #expect(GGUFTestSupport.kindName(error.kind) == refusal.kind, "\(error)")
        #expect(error.location == refusal.location, "\(error)")
        #expect(error.file == path)
        #expect(!FileManager.default.fileExists(atPath: path), "a refused write left a file")
    }

    @Test(arguments: unwritableDTypes)
    func dtypesWithoutAGGMLTypeAreUnconvertible(_ dtype: DType) throws {
        let directory = try GGUFTestSupport.TemporaryDirectory()
        let path = directory.path("refused.gguf")
        let shape = [dtype.layout.blockElements * 2]
        let error = try #require(GGUFTestSupport.formatError {
            try Self.writeFile(path, tensors: [try Self.tensor("x", dtype, shape: shape, seed: 1).0], metadata: [])
        })
        #expect(GGUFTestSupport.kindName(error.kind) == "unconvertible", "\(error)")
        #expect(error.location == .tensor("x"))
    }

    @Test func sixtyThreeByteNameIsWritten() throws {
        let directory = try GGUFTestSupport.TemporaryDirectory()
        let path = directory.path("name.gguf")
        let name = String(repeating: "é", count: 31) + "x"  // 63 bytes of UTF-8
        try Self.writeFile(path, tensors: Self.plain(name)(), metadata: [])
        #expect(try GGUFReader.read(MappedFile(path: path)).tensors.first?.name == name)
    }

    // MARK: files for the reference readers

    static let writeDirectory = ProcessInfo.processInfo.environment["CONNKIT_GGUF_WRITE_DIR"]

    /// Writes files plus `<name>.expected.json` for Tests/Fixtures/gguf/check_written.py, which reads them
    /// with gguf-py's GGUFReader and ggml's gguf_init_from_file. Skipped unless CONNKIT_GGUF_WRITE_DIR is set.
    @Test(.enabled(if: writeDirectory != nil, "set CONNKIT_GGUF_WRITE_DIR to write files for check_written.py"))
    func writeFilesForReferenceReaders() throws {
        let directory = try #require(Self.writeDirectory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // gguf-py 0.19.0 has no Q2_0 and a wrong Q8_1 block size, so those two go to a ggml-only file.
        let ggmlOnly: Set<DType> = [.q8_1, .q2_0]
        let architecture = MetadataEntry("general.architecture", .string("connkit-test"))
        var files: [(name: String, tensors: [OutputTensor], metadata: [MetadataEntry], ggufPy: Bool)] = []
        func tensors(_ dtypes: [DType], seed: UInt64) throws -> [OutputTensor] {
            try dtypes.enumerated().map { index, dtype in
                try Self.tensor("\(dtype.rawValue).\(index)", dtype, shape: Self.shape(for: dtype, index: index),
                                seed: seed + UInt64(index)).0
            }
        }
        files.append(("types.gguf", try tensors(Self.writableDTypes.filter { !ggmlOnly.contains($0) }, seed: 1),
                      [architecture, MetadataEntry("general.quantization_version", .uint32(2))], true))
        files.append(("types-ggml-only.gguf", try tensors(Array(ggmlOnly).sorted(), seed: 100), [architecture], false))
        files.append(("metadata.gguf", try tensors([.f32], seed: 200), Self.everyMetadataType() + [architecture], true))
        for alignment: UInt32 in [1, 64, 4096] {
            files.append(("align\(alignment).gguf", try tensors([.f16, .i8, .q4_0, .f32], seed: UInt64(alignment)),
                          [architecture, MetadataEntry("general.alignment", .uint32(alignment))], true))
        }
        let (scalar, _) = try Self.tensor("scalar", .f32, shape: [], seed: 300)
        let (emptyRows, _) = try Self.tensor("empty.rows", .f32, shape: [0, 4], seed: 301)
        let (emptyCols, _) = try Self.tensor("empty.cols", .i32, shape: [4, 0], seed: 302)
        let (longName, _) = try Self.tensor(String(repeating: "n", count: 63), .bf16, shape: [2, 2], seed: 303)
        files.append(("shapes.gguf", [scalar, emptyRows, emptyCols, longName], [architecture], true))
        files.append(("no-architecture.gguf", try tensors([.f32], seed: 400), [], true))

        for file in files {
            let path = (directory as NSString).appendingPathComponent(file.name)
            try Self.writeFile(path, tensors: file.tensors, metadata: file.metadata)
            let checkpoint = try GGUFReader.read(MappedFile(path: path))
            let expected = JSONValue.object([
                JSONValue.Member("gguf_py", .bool(file.ggufPy)),
                JSONValue.Member("metadata", .array(checkpoint.metadata.map { entry in
                    var members = [JSONValue.Member("key", .string(entry.key)),
                                   JSONValue.Member("type", .int(entry.value.type.rawValue)),
                                   JSONValue.Member("value", entry.value.json)]
                    if case .array(let elementType, _) = entry.value {
                        members.append(JSONValue.Member("element_type", .int(elementType.rawValue)))
                    }
                    return .object(members)
                })),
                JSONValue.Member("tensors", .array(try checkpoint.tensors.map { tensor in
                    let ne = tensor.shape.isEmpty ? [1] : Array(tensor.shape.reversed())
                    return .object([
                        JSONValue.Member("name", .string(tensor.name)),
                        JSONValue.Member("ggml_type", .int(tensor.dtype.ggmlType!)),
                        JSONValue.Member("ne", .array(ne.map { .int($0) })),
                        JSONValue.Member("nbytes", .int(tensor.info.byteCount)),
                        JSONValue.Member("fnv1a64", .string(try tensor.withBytes { GGUFTestSupport.fnv1a64($0) })),
                    ])
                })),
            ])
            try (expected.serialized(pretty: true) + "\n").write(toFile: path + ".expected.json", atomically: true, encoding: .utf8)
        }
    }
}
