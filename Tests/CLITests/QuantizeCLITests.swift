import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats

/// `connkit quantize` end to end, and `connkit convert --dtype` of block-quantized GGUF.
struct QuantizeCLITests {
    /// A safetensors file: a 32×256 f16 matrix (bell-shaped values), its f16 bias and an i32 table.
    static func writeInput(_ path: String, poison: Int? = nil) throws {
        var state: UInt64 = 42
        var matrix: [Float] = (0 ..< 32 * 256).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (Float(state >> 40) * 0x1p-24 - 0.5) * 0.1
        }
        if let poison { matrix[poison] = .nan }
        try write(path, [
            ("mm.0.weight", .f32, [32, 256], matrix.withUnsafeBytes { Array($0) }),
            ("mm.0.bias", .f32, [32], [Float](repeating: 0.25, count: 32).withUnsafeBytes { Array($0) }),
            ("ids", .i32, [2, 2], [Int32](arrayLiteral: 1, 2, 3, 4).withUnsafeBytes { Array($0) }),
        ])
    }

    static func write(_ path: String, _ tensors: [(String, DType, [Int], [UInt8])], metadata: [MetadataEntry] = []) throws {
        let outputs = try tensors.map { name, dtype, shape, bytes in
            OutputTensor(info: try TensorInfo(name: name, dtype: dtype, shape: shape)) { try $0.write(bytes) }
        }
        let file = try OutputFile(path: path, overwrite: true)
        if path.hasSuffix(".gguf") {
            try GGUFWriter.write(tensors: outputs, metadata: metadata, to: file)
        } else {
            try SafetensorsWriter.write(tensors: outputs, metadata: metadata, to: file)
        }
        try file.commit()
    }

    @Test func helpPrintsTheTypesAndTheSelectionRule() throws {
        let result = try CLI.run(["quantize", "--help"])
        #expect(result.status == 0)
        let text = result.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for phrase in ["q4_k", "iq4_nl", "mlx-q4", "--group-size", "Candidates are floating tensors", "*query_tokens*",
                       "q2_k/q3_k -> iq4_nl", "general.file_type"] {
            #expect(text.contains(phrase), "--help lacks \(phrase)")
        }
    }

    @Test func jsonReportConformsToTheSchema() throws {
        let scratch = try Scratch()
        try Self.writeInput(scratch.file("in.safetensors"))
        let result = try CLI.run(["quantize", scratch.file("in.safetensors"), scratch.file("out.gguf"), "--type", "Q4_K", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try CLI.json(result)
        #expect(try CLI.schema("quantize-report.schema.json").validate(json) == [])
        let tensors = try #require(json["tensors"]?.arrayValue)
        let types = Dictionary(uniqueKeysWithValues: tensors.map { ($0["name"]!.stringValue!, $0["type"]!.stringValue!) })
        #expect(types == ["mm.0.weight": "q4_k", "mm.0.bias": "f32", "ids": "i32"])
        #expect(json["totals"]?["quantized"] == .int(1))
    }

    @Test func humanReportHasOneLinePerTensorAndTotals() throws {
        let scratch = try Scratch()
        try Self.writeInput(scratch.file("in.safetensors"))
        let result = try CLI.run(["quantize", scratch.file("in.safetensors"), scratch.file("out.safetensors"), "--type", "mlx-q4",
                                  "--group-size", "32", "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("mm.0.weight"))
        #expect(result.stdout.contains("mlx-q4"))
        #expect(result.stdout.contains("3 tensors, 1 quantized"))
        let output = try CheckpointReader.open(scratch.file("out.safetensors"))
        #expect(Set(output.tensors.map(\.name)) == ["mm.0.weight", "mm.0.scales", "mm.0.biases", "mm.0.bias", "ids"])
    }

    @Test(arguments: [
        (["--type", "q7_k"], "unknown quantization type"),
        (["--type", "q4_k", "--group-size", "64"], "--group-size"),
        (["--type", "mlx-q4", "--group-size", "48"], "--group-size"),
        (["--type", "q4_0", "--only", "ids"], "not a floating-point type"),
        (["--type", "q4_0", "--only", "nothing"], "matches no tensor"),
    ])
    func badRequestsExitWith2InOneLineAndWriteNothing(arguments: [String], message: String) throws {
        let scratch = try Scratch()
        try Self.writeInput(scratch.file("in.safetensors"))
        let result = try CLI.run(["quantize", scratch.file("in.safetensors"), scratch.file("out.gguf")] + arguments)
        #expect(result.status == 2)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.file("out.gguf")))
    }

    @Test func nanValuesAreRefusedNamingTheTensorAndElement() throws {
        let scratch = try Scratch()
        try Self.writeInput(scratch.file("in.safetensors"), poison: 1000)
        let result = try CLI.run(["quantize", scratch.file("in.safetensors"), scratch.file("out.gguf"), "--type", "q8_0"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("tensor 'mm.0.weight': element [3, 232] (flat index 1000) is nan"), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["in.safetensors"])
    }

    @Test func truncatedBlockDataIsRefused() throws {
        let scratch = try Scratch()
        // A q8_0 GGUF, then cut inside its tensor data.
        var block: [UInt8] = [0x00, 0x3C]  // d = 1.0
        block += (0 ..< 32).map { UInt8(bitPattern: Int8($0 - 16)) }
        try Self.write(scratch.file("full.gguf"), [("w", .q8_0, [4, 32], Array([[UInt8]](repeating: block, count: 4)).joined().map { $0 })],
                       metadata: [MetadataEntry("general.architecture", .string("tensors"))])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: scratch.file("full.gguf")))
        try bytes.prefix(bytes.count - 60).write(to: URL(fileURLWithPath: scratch.file("cut.gguf")))
        let result = try CLI.run(["quantize", scratch.file("cut.gguf"), scratch.file("out.gguf"), "--type", "q4_0", "--only", "w"])
        #expect(result.status == 2)
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(result.stderr.contains("cut.gguf"))
        #expect(!FileManager.default.fileExists(atPath: scratch.file("out.gguf")))
    }

    @Test func existingOutputNeedsForce() throws {
        let scratch = try Scratch()
        try Self.writeInput(scratch.file("in.safetensors"))
        try Data("x".utf8).write(to: URL(fileURLWithPath: scratch.file("out.gguf")))
        let refused = try CLI.run(["quantize", scratch.file("in.safetensors"), scratch.file("out.gguf"), "--type", "q8_0"])
        #expect(refused.status == 2)
        let forced = try CLI.run(["quantize", scratch.file("in.safetensors"), scratch.file("out.gguf"), "--type", "q8_0", "--force", "--quiet"])
        #expect(forced.status == 0, "\(forced.stderr)")
    }

    @Test func convertDequantizesBlockTypes() throws {
        let scratch = try Scratch()
        // Two q8_0 blocks with d = 0.5 and codes -16..15: values are code / 2, exactly.
        var block: [UInt8] = [0x00, 0x38]  // d = 0.5
        block += (0 ..< 32).map { UInt8(bitPattern: Int8($0 - 16)) }
        try Self.write(scratch.file("in.gguf"), [("w", .q8_0, [2, 32], block + block)],
                       metadata: [MetadataEntry("general.architecture", .string("tensors"))])
        let result = try CLI.run(["convert", scratch.file("in.gguf"), scratch.file("out.safetensors"), "--dtype", "f32", "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        let tensor = try #require(try CheckpointReader.open(scratch.file("out.safetensors")).tensors.first)
        #expect(tensor.dtype == .f32)
        let values = try tensor.withBytes { raw in Array(raw.bindMemory(to: Float.self)) }
        let expected = (0 ..< 64).map { Float(($0 % 32) - 16) * 0.5 }
        #expect(values == expected)
    }
}
