import Foundation
import Testing
@testable import TensorFormats

/// The models of Tests/Fixtures/onnx (generate.py): connkit reads what onnx's own reader reads
/// (`onnx.load` + `numpy_helper.to_array`, recorded in expected.json) — names, dtypes, shapes, the bytes
/// (sha256), metadata and the graph's op counts — and converts them to safetensors without changing a byte.
struct ONNXFixtureTests {
    static let expected: [JSONValue.Member] = (try? Fixtures.json("onnx/expected.json").objectMembers) ?? []
    static let models: [String] = expected.map(\.key)

    static func facts(_ model: String) throws -> JSONValue {
        try #require(expected.first { $0.key == model }?.value)
    }

    @Test func everyModelIsListed() throws {
        #expect(Self.models.count == 15)
        let torch = try FileManager.default.contentsOfDirectory(atPath: Fixtures.path("onnx/torch")).filter { $0.hasSuffix(".onnx") }
        #expect(Set(torch.map { "torch/" + $0 }).isSubset(of: Set(Self.models)))
    }

    @Test(arguments: models)
    func tensorsMatchOnnx(_ model: String) throws {
        let facts = try Self.facts(model)
        let checkpoint = try CheckpointReader.open(Fixtures.path("onnx/" + model))
        #expect(checkpoint.format == .onnx)
        let expected = try #require(facts["tensors"]?.arrayValue)
        #expect(checkpoint.tensors.map(\.name) == expected.compactMap { $0["name"]?.stringValue })
        for (tensor, entry) in zip(checkpoint.tensors, expected) {
            #expect(tensor.dtype.rawValue == entry["dtype"]?.stringValue, "\(tensor.name)")
            #expect(tensor.shape == entry["shape"]?.arrayValue?.compactMap(\.intValue), "\(tensor.name)")
            #expect(hexDigest(try bytes(of: tensor)) == entry["sha256"]?.stringValue, "\(tensor.name)")
            if let location = entry["external"]?.stringValue {
                let file = try #require(tensor.file, "\(tensor.name) has no external file")
                #expect(file.hasSuffix("/" + location))
                #expect(tensor.data.fileRegion != nil, "external data is read zero-copy from the mapped file")
            } else {
                #expect(tensor.file == nil)
            }
        }
    }

    @Test(arguments: models)
    func metadataAndNotesMatchOnnx(_ model: String) throws {
        let facts = try Self.facts(model)
        let checkpoint = try CheckpointReader.open(Fixtures.path("onnx/" + model))
        let metadata = try #require(facts["metadata"]?.objectMembers)
        #expect(Set(checkpoint.metadata.map(\.key)) == Set(metadata.map(\.key)))
        for member in metadata {
            #expect(checkpoint.metadata[member.key]?.json == member.value, "\(member.key)")
        }
        let counts = try #require(facts["op_counts"]?.objectMembers)
        let nodes = counts.reduce(0) { $0 + ($1.value.intValue ?? 0) }
        let note = try #require(checkpoint.notes.first)
        if nodes == 0 {
            #expect(note == "graph: no nodes")
        } else {
            #expect(note.hasPrefix("graph: \(nodes) node"))
            for count in counts { #expect(note.contains("\(count.key) \(count.value.intValue ?? -1)"), "\(note)") }
        }
        let constants = facts["constants"]?.intValue ?? 0
        #expect(checkpoint.notes.contains { $0.hasPrefix("\(constants) tensor") } == (constants > 0))
    }

    @Test func typedAndRawFieldsGiveTheSameTensors() throws {
        let raw = try CheckpointReader.open(Fixtures.path("onnx/dtypes_raw.onnx"))
        let typed = try CheckpointReader.open(Fixtures.path("onnx/dtypes_typed.onnx"))
        #expect(raw.tensors.count == 22)
        #expect(Set(raw.tensors.map(\.dtype)).count == 20, "every dtype ONNX shares with connkit")
        for (a, b) in zip(raw.tensors, typed.tensors) {
            #expect(a.info == b.info)
            #expect(try bytes(of: a) == bytes(of: b), "\(a.name)")
        }
    }

    @Test func signedTypedEntriesKeepTheirLowBits() throws {
        let checkpoint = try CheckpointReader.open(Fixtures.path("onnx/typed_signed.onnx"))
        let uint8 = try #require(checkpoint.tensor(named: "uint8_signed"))
        #expect(try bytes(of: uint8) == [255, 128, 5])
        let int8 = try #require(checkpoint.tensor(named: "int8_unsigned"))
        #expect(try bytes(of: int8) == [255, 128, 5])
    }

    /// Lossless conversion keeps every byte (and the external tensors go through the kernel copy path).
    @Test(arguments: models)
    func convertsToSafetensorsKeepingBytes(_ model: String) throws {
        let checkpoint = try CheckpointReader.open(Fixtures.path("onnx/" + model))
        let scratch = try TemporaryDirectory()
        let out = scratch.file("out.safetensors")
        _ = try Converter.convert(checkpoint, to: out, options: ConversionOptions())
        let copy = try CheckpointReader.open(out)
        #expect(Set(copy.tensors.map(\.name)) == Set(checkpoint.tensors.map(\.name)))
        for tensor in checkpoint.tensors {
            let written = try #require(copy.tensor(named: tensor.name))
            #expect(written.info == tensor.info)
            #expect(try bytes(of: written) == bytes(of: tensor), "\(tensor.name)")
        }
    }

    @Test func aFolderWithModelOnnxOpensIt() throws {
        let checkpoint = try CheckpointReader.open(Fixtures.path("onnx/external"))
        #expect(checkpoint.format == .onnx)
        #expect(checkpoint.path.hasSuffix("external/model.onnx"))
    }

    @Test func everyONNXDataTypeIsReadOrRefused() {
        for code in Int32(1)...28 {
            #expect(ONNXDataType.mapping(code) != nil, "\(ONNXDataType.name(code))")
        }
        #expect(ONNXDataType.mapping(0) == nil)
        #expect(ONNXDataType.mapping(29) == nil)
        #expect(ONNXDataType.name(10) == "FLOAT16")
        #expect(ONNXDataType.name(99) == "data type 99")
        #expect(ONNXDataType.code(of: .bf16) == 16)
        #expect(ONNXDataType.code(of: .q4_0) == nil)
    }
}
