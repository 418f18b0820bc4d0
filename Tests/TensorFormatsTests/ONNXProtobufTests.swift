import CONNXProto
import Foundation
import Testing
@testable import TensorFormats

/// The protobuf-c layer: the committed generated code is what protoc-c makes of the committed schema, and
/// protobuf-c's packing (what `export` will write with) keeps a model whole.
struct ONNXProtobufTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// protoc-c 1.4.1 made the committed files; another version may format its output differently.
    static let protocVersion: String? = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["protoc-c", "--version"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = Pipe()
        guard (try? process.run()) != nil else { return nil }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return process.terminationStatus == 0 ? String(decoding: output, as: UTF8.self) : nil
    }()

    @Test(.enabled(if: protocVersion?.contains("protobuf-c 1.4.1") == true,
                   "needs protoc-c 1.4.1 (Debian protobuf-c-compiler), the version that made the committed code"))
    func generatedCodeMatchesTheSchema() throws {
        let scratch = try TemporaryDirectory()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.root + "/Sources/CONNXProto/generate.sh")
        process.arguments = [scratch.path]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        for file in ["onnx-subset.proto3.pb-c.c", "include/onnx-subset.proto3.pb-c.h"] {
            let fresh = try Data(contentsOf: URL(fileURLWithPath: scratch.file(file)))
            let committed = try Data(contentsOf: URL(fileURLWithPath: Self.root + "/Sources/CONNXProto/" + file))
            #expect(fresh == committed, "Sources/CONNXProto/\(file) differs from what generate.sh makes of schemas/onnx-subset.proto3")
        }
    }

    /// Unpacked by protobuf-c and packed again (through the streaming path and the in-memory one), a model
    /// reads back as the same tensors and metadata. (Not the same bytes as onnx wrote: onnx serializes with
    /// its proto2 schema, where `dims` is unpacked and an empty `raw_data` is still written; the proto3
    /// schema packs repeated scalars and leaves empty fields out — both are valid encodings of one model.)
    @Test(arguments: ["dtypes_raw.onnx", "dtypes_typed.onnx", "typed_signed.onnx", "constants.onnx",
                      "torch/blip2_qformer_torchscript.onnx", "torch/llava_projector_dynamo.onnx"])
    func repackingKeepsTheModel(_ model: String) throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.path("onnx/" + model))))
        let message = try original.withUnsafeBytes { try ONNXModelMessage(unpacking: $0) }
        let base = UnsafeRawPointer(message.model).assumingMemoryBound(to: ProtobufCMessage.self)
        var streamed: [UInt8] = []
        var chunks = 0
        let size = try ONNXPacking.pack(base) { chunk in
            streamed += chunk
            chunks += 1
        }
        #expect(size == streamed.count)
        #expect(chunks > 1)
        #expect(ONNXPacking.packedBytes(base) == streamed)
        let before = try original.withUnsafeBytes { try ONNXReader.read(MappedFile(copying: $0, path: model)) }
        let after = try streamed.withUnsafeBytes { try ONNXReader.read(MappedFile(copying: $0, path: model)) }
        #expect(after.metadata == before.metadata)
        #expect(after.notes == before.notes)
        #expect(after.tensors.map(\.info) == before.tensors.map(\.info))
        for (a, b) in zip(after.tensors, before.tensors) {
            #expect(try bytes(of: a) == bytes(of: b), "\(a.name)")
        }
        // Packing is stable: the repacked model packs to the same bytes again.
        let again = try streamed.withUnsafeBytes { try ONNXModelMessage(unpacking: $0) }
        #expect(ONNXPacking.packedBytes(UnsafeRawPointer(again.model).assumingMemoryBound(to: ProtobufCMessage.self)) == streamed)
    }

    @Test func aSinkErrorStopsThePacking() throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.path("onnx/constants.onnx"))))
        let message = try original.withUnsafeBytes { try ONNXModelMessage(unpacking: $0) }
        let base = UnsafeRawPointer(message.model).assumingMemoryBound(to: ProtobufCMessage.self)
        struct Full: Error {}
        var calls = 0
        #expect(throws: Full.self) {
            _ = try ONNXPacking.pack(base) { _ in
                calls += 1
                throw Full()
            }
        }
        #expect(calls == 1)
    }

    /// A model built in Swift and written with protobuf-c's streaming pack (as `export` will), large enough
    /// (120 MiB of embedded weights) that the reader lets the file's pages go while protobuf-c copies them:
    /// every byte reads back.
    @Test func largeEmbeddedModelReadsBack() throws {
        let shape: [Int64] = [2560, 4096]
        let count = 2560 * 4096 * 4
        let names = ["a.weight", "b.weight", "c.weight"]
        let buffers = names.indices.map { index in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 16)
            for block in stride(from: 0, to: count, by: 4096) {  // each 4 KiB block says which it is
                buffer.storeBytes(of: UInt64(index << 40 | block), toByteOffset: block, as: UInt64.self)
                buffer.storeBytes(of: UInt64(block) &* 0x9E37_79B9_7F4A_7C15, toByteOffset: block + 8, as: UInt64.self)
            }
            return buffer
        }
        defer { buffers.forEach { $0.deallocate() } }
        let dims = UnsafeMutablePointer<Int64>.allocate(capacity: 2)
        dims.initialize(from: shape, count: 2)
        let cNames = names.map { strdup($0)! }
        let tensors = UnsafeMutablePointer<Onnx__TensorProto>.allocate(capacity: names.count)
        let list = UnsafeMutablePointer<UnsafeMutablePointer<Onnx__TensorProto>?>.allocate(capacity: names.count)
        defer {
            dims.deallocate()
            cNames.forEach { free($0) }
            tensors.deallocate()
            list.deallocate()
        }
        for index in names.indices {
            onnx__tensor_proto__init(tensors + index)
            tensors[index].data_type = 1
            tensors[index].n_dims = 2
            tensors[index].dims = dims
            tensors[index].name = cNames[index]
            tensors[index].raw_data = ProtobufCBinaryData(len: count, data: buffers[index].baseAddress!.assumingMemoryBound(to: UInt8.self))
            list[index] = tensors + index
        }
        var graph = Onnx__GraphProto()
        onnx__graph_proto__init(&graph)
        graph.n_initializer = names.count
        graph.initializer = list
        var model = Onnx__ModelProto()
        onnx__model_proto__init(&model)
        model.ir_version = 9
        let scratch = try TemporaryDirectory()
        let path = scratch.file("large.onnx")
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        let written = try withUnsafeMutablePointer(to: &graph) { graphPointer in
            model.graph = graphPointer
            return try withUnsafePointer(to: &model) { modelPointer in
                try ONNXPacking.pack(UnsafeRawPointer(modelPointer).assumingMemoryBound(to: ProtobufCMessage.self)) { chunk in
                    try handle.write(contentsOf: chunk)
                }
            }
        }
        try handle.close()
        #expect(written > 3 * count)
        let checkpoint = try CheckpointReader.open(path)
        #expect(checkpoint.tensors.map(\.name) == names)
        for (tensor, buffer) in zip(checkpoint.tensors, buffers) {
            #expect(tensor.shape == [2560, 4096])
            let same = try tensor.withBytes { $0.count == count && memcmp($0.baseAddress!, buffer.baseAddress!, count) == 0 }
            #expect(same, "\(tensor.name)")
        }
    }
}
