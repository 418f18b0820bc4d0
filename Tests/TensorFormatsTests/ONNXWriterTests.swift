import Foundation
import Testing
@testable import TensorFormats

/// `ONNXWriter`: a header and one merged `ModelProto` per initializer read back as one model (by connkit's
/// reader here; by onnx and onnxruntime in Tests/Fixtures/onnx-export), embedded payloads streamed in
/// place of protobuf-c's zero placeholders, external data 64-byte aligned, both outputs atomic.
struct ONNXWriterTests {
    /// Deterministic bytes of `count` elements of `dtype`, as a producer that writes them in two pieces.
    static func tensor(_ name: String, _ dtype: DType, _ shape: [Int], seed: UInt8) throws -> (OutputTensor, [UInt8]) {
        let info = try TensorInfo(name: name, dtype: dtype, shape: shape)
        let bytes = (0 ..< info.byteCount).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
        let output = OutputTensor(info: info) { file in
            try file.write(Array(bytes[..<(bytes.count / 2)]))
            try file.write(Array(bytes[(bytes.count / 2)...]))
        }
        return (output, bytes)
    }

    static func model(_ initializers: [OutputTensor]) -> ONNXModelDescription {
        let input = ONNXValueInfo(name: "x", elementType: .f32, shape: [.symbolic("batch"), .fixed(4)])
        let output = ONNXValueInfo(name: "y", elementType: .f32, shape: [.symbolic("batch"), .fixed(4)])
        return ONNXModelDescription(
            irVersion: 8, opset: 17, producerName: "connkit", producerVersion: "test", graphName: "g",
            metadata: [("connkit.family", "test")], inputs: [input], outputs: [output],
            nodes: [ONNXNode(name: "id", opType: "Identity", inputs: ["x"], outputs: ["y"])], initializers: initializers)
    }

    static let tensors: [(String, DType, [Int])] = [
        ("a.weight", .f32, [512, 1024]), ("a.bias", .f32, [12]), ("empty", .f16, [0, 3]), ("b.weight", .f16, [300, 7]),
        ("scalar", .f32, []),
    ]

    func written(external: Bool, limit: Int? = nil) throws -> (TemporaryDirectory, String, [String: [UInt8]], ONNXWriteResult) {
        let scratch = try TemporaryDirectory()
        var outputs: [OutputTensor] = []
        var expected: [String: [UInt8]] = [:]
        for (index, (name, dtype, shape)) in Self.tensors.enumerated() {
            let (output, bytes) = try Self.tensor(name, dtype, shape, seed: UInt8(index))
            outputs.append(output)
            expected[name] = bytes
        }
        var writer = ONNXWriter(path: scratch.file("model.onnx"))
        writer.placement = external ? .external : .automatic
        if let limit { writer.embeddedLimit = limit }
        let result = try writer.write(Self.model(outputs))
        return (scratch, scratch.file("model.onnx"), expected, result)
    }

    @Test(arguments: [false, true])
    func everyInitializerReadsBack(external: Bool) throws {
        let (scratch, path, expected, result) = try written(external: external)
        let checkpoint = try CheckpointReader.open(path)
        #expect(checkpoint.tensors.map(\.name) == Self.tensors.map(\.0))
        #expect(checkpoint.tensors.map(\.shape) == Self.tensors.map(\.2))
        for tensor in checkpoint.tensors {
            #expect(try tensor.withBytes { Array($0) } == expected[tensor.name], "\(tensor.name)")
        }
        #expect(checkpoint.metadata["connkit.family"] == .string("test"))
        #expect(result.modelBytes == (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int))
        let dataFile = scratch.file("model.onnx.data")
        #expect(FileManager.default.fileExists(atPath: dataFile) == external)
        if external {
            // Tensors of 1 KiB or more in the data file, each at a multiple of 64; the rest embedded.
            #expect(result.dataFile == dataFile && result.externalTensors == 2 && result.embeddedTensors == 3)
            for tensor in checkpoint.tensors {
                let region = tensor.data.fileRegion
                #expect((region != nil) == (tensor.info.byteCount >= 1024), "\(tensor.name)")
                if let region { #expect(region.offset % 64 == 0 && region.file.path == dataFile) }
            }
        } else {
            #expect(result.dataFile == nil && result.embeddedTensors == Self.tensors.count)
        }
    }

    @Test func aModelOverTheLimitGoesExternal() throws {
        let (scratch, _, _, result) = try written(external: false, limit: 4096)
        #expect(result.dataFile == scratch.file("model.onnx.data") && result.externalTensors == 2)
    }

    @Test func aFailingProducerLeavesNeitherFile() throws {
        let scratch = try TemporaryDirectory()
        struct Broken: Error {}
        let (good, _) = try Self.tensor("good", .f32, [1024], seed: 1)
        let bad = OutputTensor(info: try TensorInfo(name: "bad", dtype: .f32, shape: [1024])) { _ in throw Broken() }
        var writer = ONNXWriter(path: scratch.file("model.onnx"))
        writer.placement = .external
        #expect(throws: Broken.self) { try writer.write(Self.model([good, bad])) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
    }

    @Test func existingOutputsNeedOverwrite() throws {
        let (scratch, path, _, _) = try written(external: false)
        defer { withExtendedLifetime(scratch) {} }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(throws: FormatError.self) { try ONNXWriter(path: path).write(Self.model([])) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        var writer = ONNXWriter(path: path)
        writer.overwrite = true
        try writer.write(Self.model([]))
        #expect(try CheckpointReader.open(path).tensors.isEmpty)
    }

    @Test func aNameWithANulByteIsRefused() throws {
        let scratch = try TemporaryDirectory()
        let (tensor, _) = try Self.tensor("bad\u{0}name", .f32, [2], seed: 0)
        #expect(throws: FormatError.self) { try ONNXWriter(path: scratch.file("model.onnx")).write(Self.model([tensor])) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
    }

    @Test func irVersionsFollowOnnxsTable() {
        // onnx.helper.VERSION_TABLE: the IR version of the release that introduced each opset.
        let table = [17: 8, 18: 8, 19: 9, 20: 9, 21: 10, 22: 10, 23: 11, 24: 12]
        for (opset, ir) in table { #expect(ONNXModelDescription.irVersion(opset: opset) == ir, "opset \(opset)") }
    }
}
