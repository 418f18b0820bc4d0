import CConnkit
import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats
@testable import Quantization

/// A per-test temporary folder.
final class TemporaryFolder {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "connkit-quant-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
    var contents: [String] { (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] }
}

/// A tensor to write into a test checkpoint.
struct TestTensor {
    var name: String
    var dtype: DType
    var shape: [Int]
    var bytes: [UInt8]

    init(_ name: String, _ dtype: DType, _ shape: [Int], bytes: [UInt8]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// Float values stored as `dtype` (f32, f16 or bf16).
    init(_ name: String, _ dtype: DType, _ shape: [Int], values: [Float]) {
        var bytes = [UInt8](repeating: 0, count: values.count * dtype.elementSize!)
        bytes.withUnsafeMutableBytes { out in
            values.withUnsafeBufferPointer { Cast.fromFloat32($0.baseAddress!, count: values.count, to: dtype, into: out.baseAddress!) }
        }
        self.init(name, dtype, shape, bytes: bytes)
    }
}

func writeCheckpoint(_ path: String, _ tensors: [TestTensor], metadata: [MetadataEntry] = []) throws {
    let outputs = try tensors.map { tensor in
        OutputTensor(info: try TensorInfo(name: tensor.name, dtype: tensor.dtype, shape: tensor.shape)) { try $0.write(tensor.bytes) }
    }
    let file = try OutputFile(path: path, overwrite: true)
    if path.hasSuffix(".gguf") {
        try GGUFWriter.write(tensors: outputs, metadata: metadata, to: file)
    } else {
        try SafetensorsWriter.write(tensors: outputs, metadata: metadata, to: file)
    }
    try file.commit()
}

func floats(_ tensor: Tensor) throws -> [Float] {
    var values = [Float](repeating: 0, count: tensor.info.elementCount)
    try tensor.withBytes { bytes in
        try values.withUnsafeMutableBufferPointer { try Quantization.dequantize(tensor.dtype, bytes, into: $0) }
    }
    return values
}

/// Bell-shaped values with a few exact zeros, deterministic.
func sampleValues(_ count: Int, seed: UInt64, scale: Float = 0.02) -> [Float] {
    var state = seed
    return (0 ..< count).map { i in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let a = Float(state >> 40) * 0x1p-24
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let b = Float(state >> 40) * 0x1p-24
        return i % 97 == 0 ? 0 : (a + b - 1) * scale
    }
}

/// The report's figures recomputed here from scratch, as a check of `ErrorMetrics`.
struct IndependentFigures {
    var rmse: Double, maxAbs: Double, snr: Double?, cosine: Double?

    init(_ a: [Float], _ b: [Float]) {
        var sse = 0.0, sa = 0.0, sb = 0.0, dot = 0.0, maxAbs = 0.0
        for (x, y) in zip(a.map(Double.init), b.map(Double.init)) {
            sse += (x - y) * (x - y)
            sa += x * x
            sb += y * y
            dot += x * y
            maxAbs = Swift.max(maxAbs, abs(x - y))
        }
        rmse = (sse / Double(a.count)).squareRoot()
        self.maxAbs = maxAbs
        snr = sse > 0 && sa > 0 ? 10 * log10(sa / sse) : nil
        cosine = sa > 0 && sb > 0 ? dot / (sa.squareRoot() * sb.squareRoot()) : nil
    }
}

func close(_ a: Double?, _ b: Double?) -> Bool {
    switch (a, b) {
    case (nil, nil): true
    case (let x?, let y?): abs(x - y) <= 1e-9 * Swift.max(1, abs(x), abs(y))
    default: false
    }
}

@Suite(.serialized) struct PipelineTests {
    @Test func ggufOutputIsBitExactAndTheReportMatchesIndependentFigures() throws {
        let folder = try TemporaryFolder()
        let weight = sampleValues(16 * 512, seed: 1)
        let narrow = sampleValues(8 * 96, seed: 2)
        let input = folder.file("in.safetensors")
        try writeCheckpoint(input, [
            TestTensor("mm.0.weight", .f16, [16, 512], values: weight),
            TestTensor("mm.0.bias", .f16, [16], values: sampleValues(16, seed: 3)),
            TestTensor("mm.2.weight", .bf16, [8, 96], values: narrow),
            TestTensor("vision.pos_embed", .f32, [4, 512], values: sampleValues(4 * 512, seed: 4)),
            TestTensor("ids", .i32, [2, 2], bytes: [1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0]),
        ], metadata: [MetadataEntry("source", .string("test"))])
        let checkpoint = try CheckpointReader.open(input)
        let output = folder.file("out.gguf")
        let report = try QuantizePipeline.run(checkpoint, to: output, request: QuantizeRequest(type: .ggml(.q4_k)), overwrite: false)

        let result = try CheckpointReader.open(output)
        #expect(Set(result.tensors.map(\.name)) == Set(checkpoint.tensors.map(\.name)))
        let written = Dictionary(uniqueKeysWithValues: result.tensors.map { ($0.name, $0.dtype) })
        #expect(written == ["mm.0.weight": .q4_k, "mm.0.bias": .f32, "mm.2.weight": .q5_0, "vision.pos_embed": .f32, "ids": .i32])
        #expect(result.metadata["general.quantization_version"] == .uint32(2))
        #expect(result.metadata["general.file_type"] == .uint32(14))
        #expect(result.metadata["source"] == .string("test"))

        // The bytes are ggml's: the reference kernel on the f16 values widened to f32.
        for (name, type) in [("mm.0.weight", DType.q4_k), ("mm.2.weight", .q5_0)] {
            let source = try floats(checkpoint.tensor(named: name)!)
            let rowLength = checkpoint.tensor(named: name)!.shape.last!
            var expected = [UInt8](repeating: 0, count: source.count / type.layout.blockElements * type.layout.blockBytes)
            try source.withUnsafeBufferPointer { v in
                try expected.withUnsafeMutableBytes {
                    try GGMLBlocks.quantize(v, rowLength: rowLength, as: type, into: $0, kernel: .reference)
                }
            }
            #expect(try result.tensor(named: name)!.withBytes { Array($0) } == expected)
        }

        // Each figure, recomputed from the file's own bytes.
        for entry in report.entries where entry.sourceDType.kind == .float {
            let original = try floats(checkpoint.tensor(named: entry.name)!)
            let back = try floats(result.tensor(named: entry.name)!)
            let figures = IndependentFigures(original, back)
            #expect(close(entry.metrics?.rmse, figures.rmse), "\(entry.name) rmse")
            #expect(close(entry.metrics?.maxAbsErrorValue, figures.maxAbs), "\(entry.name) max")
            #expect(close(entry.metrics?.snrDB, figures.snr), "\(entry.name) snr")
            #expect(close(entry.metrics?.cosine, figures.cosine.map { min(1, $0) }), "\(entry.name) cosine")
            #expect(entry.bytesBefore == checkpoint.tensor(named: entry.name)!.info.byteCount)
            #expect(entry.bytesAfter == result.tensor(named: entry.name)!.info.byteCount)
        }
        let reasons = Dictionary(uniqueKeysWithValues: report.entries.map { ($0.name, $0.reason) })
        #expect(reasons["mm.0.weight"] == .selected)
        #expect(reasons["mm.2.weight"] == .fallback(from: .q4_k, rowLength: 96))
        #expect(reasons["mm.0.bias"] == .notMatrix)
        #expect(reasons["ids"] == .notFloat)
        #expect(report.entries.first { $0.name == "ids" }?.metrics == nil)
        #expect(report.quantizedCount == 2)
        #expect(report.bytesAfter == result.tensors.reduce(0) { $0 + $1.info.byteCount })

        let schemaData = try Data(contentsOf: QuantFixtures.directory.appendingPathComponent("../../../schemas/quantize-report.schema.json"))
        let schema = JSONSchema(try schemaData.withUnsafeBytes { try JSONValue.parse($0) })
        #expect(schema.validate(report.json) == [])
    }

    @Test func allZeroTensorsReportUndefinedFiguresAsNull() throws {
        let folder = try TemporaryFolder()
        try writeCheckpoint(folder.file("in.safetensors"), [TestTensor("w", .f32, [4, 64], values: [Float](repeating: 0, count: 256))])
        let report = try QuantizePipeline.run(try CheckpointReader.open(folder.file("in.safetensors")), to: folder.file("out.gguf"),
                                              request: QuantizeRequest(type: .ggml(.q8_0)), overwrite: false)
        let json = report.json["tensors"]!.arrayValue![0]
        #expect(json["rmse"] == .int(0))
        #expect(json["snr_db"] == .null)
        #expect(json["cosine"] == .null)
    }

    @Test func anLlamaCppMmprojKeepsEveryKeyAndTensor() throws {
        let folder = try TemporaryFolder()
        var q8 = [UInt8](repeating: 0, count: 2 * 34 * 2)
        try sampleValues(128, seed: 9).withUnsafeBufferPointer { v in
            try q8.withUnsafeMutableBytes { try GGMLBlocks.quantize(v, rowLength: 64, as: .q8_0, into: $0) }
        }
        let metadata = [
            MetadataEntry("general.architecture", .string("clip")),
            MetadataEntry("general.file_type", .uint32(1)),
            MetadataEntry("clip.has_vision_encoder", .bool(true)),
            MetadataEntry("clip.vision.image_size", .uint32(336)),
            MetadataEntry("clip.vision.image_mean", .array(.float32, [.float32(0.5), .float32(0.5), .float32(0.5)])),
            MetadataEntry("clip.projector_type", .string("mlp")),
        ]
        try writeCheckpoint(folder.file("mmproj.gguf"), [
            TestTensor("v.blk.0.attn_q.weight", .f16, [64, 64], values: sampleValues(4096, seed: 5)),
            TestTensor("v.position_embd.weight", .f16, [10, 64], values: sampleValues(640, seed: 6)),
            TestTensor("mm.0.weight", .f32, [64, 128], values: sampleValues(8192, seed: 7)),
            TestTensor("mm.0.bias", .f32, [64], values: sampleValues(64, seed: 8)),
            TestTensor("v.blk.0.ffn.weight", .q8_0, [2, 64], bytes: q8),
        ], metadata: metadata)
        let input = try CheckpointReader.open(folder.file("mmproj.gguf"))
        var request = QuantizeRequest(type: .ggml(.q8_0))
        request.only = ["mm.*"]
        let report = try QuantizePipeline.run(input, to: folder.file("out.gguf"), request: request, overwrite: false)
        let output = try CheckpointReader.open(folder.file("out.gguf"))

        var expectedMetadata = metadata
        expectedMetadata[1].value = .uint32(7)
        expectedMetadata.append(MetadataEntry("general.quantization_version", .uint32(2)))
        #expect(output.metadata == expectedMetadata)
        #expect(output.tensors.map(\.name) == input.tensors.map(\.name))
        #expect(output.tensors.map(\.dtype) == [.f16, .f16, .q8_0, .f32, .q8_0])
        for name in ["v.blk.0.attn_q.weight", "v.position_embd.weight", "mm.0.bias", "v.blk.0.ffn.weight"] {
            #expect(try output.tensor(named: name)!.withBytes { Array($0) } == input.tensor(named: name)!.withBytes { Array($0) },
                    "\(name) must be copied as it is")
        }
        #expect(report.entries.map(\.reason) == [.notSelected, .defaultKeep(pattern: "*position*", role: "position table"),
                                                  .selected, .notMatrix, .alreadyQuantized])
    }

    @Test func blockTensorsSelectedWithOnlyAreRequantized() throws {
        let folder = try TemporaryFolder()
        let values = sampleValues(4 * 256, seed: 11)
        var q8 = [UInt8](repeating: 0, count: 4 * 256 / 32 * 34)
        try values.withUnsafeBufferPointer { v in try q8.withUnsafeMutableBytes { try GGMLBlocks.quantize(v, rowLength: 256, as: .q8_0, into: $0) } }
        try writeCheckpoint(folder.file("in.gguf"), [TestTensor("w", .q8_0, [4, 256], bytes: q8)],
                            metadata: [MetadataEntry("general.architecture", .string("tensors"))])
        var request = QuantizeRequest(type: .ggml(.q4_0))
        request.only = ["w"]
        let input = try CheckpointReader.open(folder.file("in.gguf"))
        let report = try QuantizePipeline.run(input, to: folder.file("out.gguf"), request: request, overwrite: false)
        #expect(report.entries[0].reason == .requantized(from: .q8_0))
        let decoded = try floats(input.tensors[0])
        var expected = [UInt8](repeating: 0, count: 4 * 256 / 32 * 18)
        try decoded.withUnsafeBufferPointer { v in try expected.withUnsafeMutableBytes { try GGMLBlocks.quantize(v, rowLength: 256, as: .q4_0, into: $0) } }
        #expect(try CheckpointReader.open(folder.file("out.gguf")).tensors[0].withBytes { Array($0) } == expected)
    }

    /// A bf16 source puts the packed weight first in the file, an f32 one its biases and scales (the
    /// safetensors order): both orders, with the parts kept between the three tensors (then the first
    /// producer also computes the codes and the report's figures) and computed again.
    @Test(arguments: [DType.bf16, .f32], [64 << 20, 0])
    func mlxOutputIsWhatMlxLoads(dtype: DType, parameterCacheBytes: Int) throws {
        let folder = try TemporaryFolder()
        let weight = sampleValues(8 * 256, seed: 12)
        try writeCheckpoint(folder.file("in.safetensors"), [
            TestTensor("proj.weight", dtype, [8, 256], values: weight),
            TestTensor("proj.bias", dtype, [8], values: sampleValues(8, seed: 13)),
        ])
        var request = QuantizeRequest(type: .mlx(bits: 4))
        request.groupSize = 32
        request.mlxParameterCacheBytes = parameterCacheBytes
        let input = try CheckpointReader.open(folder.file("in.safetensors"))
        let report = try QuantizePipeline.run(input, to: folder.file("out.safetensors"), request: request, overwrite: false)
        let output = try CheckpointReader.open(folder.file("out.safetensors"))
        let layout = Dictionary(uniqueKeysWithValues: output.tensors.map { ($0.name, "\($0.dtype.rawValue) \($0.shape)") })
        let name = dtype.rawValue
        #expect(layout == ["proj.weight": "u32 [8, 32]", "proj.scales": "\(name) [8, 8]", "proj.biases": "\(name) [8, 8]",
                           "proj.bias": "\(name) [8]"])
        #expect(output.metadata["format"] == .string("mlx"))
        #expect(output.metadata["quantization"] == .string(#"{"group_size": 32, "bits": 4, "mode": "affine"}"#))

        let source = try floats(input.tensor(named: "proj.weight")!)
        var words = [UInt8](repeating: 0, count: 8 * 256 / 2)
        var scales = [UInt8](repeating: 0, count: 8 * 8 * dtype.layout.blockBytes)
        var biases = scales
        try source.withUnsafeBufferPointer { v in
            try words.withUnsafeMutableBytes { w in
                try scales.withUnsafeMutableBytes { s in
                    try biases.withUnsafeMutableBytes { b in
                        try MLXAffine.quantize(v, rowLength: 256, groupSize: 32, bits: 4, parameterType: dtype, words: w, scales: s, biases: b)
                    }
                }
            }
        }
        #expect(try output.tensor(named: "proj.weight")!.withBytes { Array($0) } == words)
        #expect(try output.tensor(named: "proj.scales")!.withBytes { Array($0) } == scales)
        #expect(try output.tensor(named: "proj.biases")!.withBytes { Array($0) } == biases)
        // The report's figures: the source against the codes read back by the Swift kernel.
        var back = [Float](repeating: 0, count: source.count)
        try words.withUnsafeBytes { w in
            try scales.withUnsafeBytes { s in
                try biases.withUnsafeBytes { b in
                    try back.withUnsafeMutableBufferPointer {
                        try MLXAffine.dequantize(words: w, scales: s, biases: b, parameterType: dtype, rowLength: 256, groupSize: 32,
                                                 bits: 4, into: $0, kernel: .portable)
                    }
                }
            }
        }
        let figures = IndependentFigures(source, back)
        let metrics = report.entries.first { $0.name == "proj.weight" }?.metrics
        #expect(close(metrics?.rmse, figures.rmse) && close(metrics?.maxAbsErrorValue, figures.maxAbs))
        #expect(close(metrics?.snrDB, figures.snr) && close(metrics?.cosine, figures.cosine.map { min(1, $0) }))
    }

    @Test func castTypesWriteSafetensorsToo() throws {
        let folder = try TemporaryFolder()
        let values = sampleValues(4 * 64, seed: 14)
        try writeCheckpoint(folder.file("in.safetensors"), [
            TestTensor("w", .f32, [4, 64], values: values), TestTensor("b", .f32, [64], values: sampleValues(64, seed: 15)),
        ])
        let report = try QuantizePipeline.run(try CheckpointReader.open(folder.file("in.safetensors")), to: folder.file("out.safetensors"),
                                              request: QuantizeRequest(type: .cast(.bf16)), overwrite: false)
        let output = try CheckpointReader.open(folder.file("out.safetensors"))
        #expect(output.tensor(named: "w")?.dtype == .bf16)
        #expect(output.tensor(named: "b")?.dtype == .f32)
        var expected = [UInt16](repeating: 0, count: values.count)
        ck_f32_to_bf16(values, &expected, values.count)
        #expect(try output.tensor(named: "w")!.withBytes { Array($0) } == expected.withUnsafeBytes { Array($0) })
        #expect(Dictionary(uniqueKeysWithValues: report.entries.map { ($0.name, $0.type) }) == ["w": "bf16", "b": "f32"])
    }

    @Test func nanIsRefusedNamingTheTensorAndElementAndNothingIsWritten() throws {
        let folder = try TemporaryFolder()
        var values = sampleValues(8 * 128, seed: 16)
        values[700] = .nan
        try writeCheckpoint(folder.file("in.safetensors"), [
            TestTensor("a", .f32, [4, 64], values: sampleValues(256, seed: 17)), TestTensor("w", .f32, [8, 128], values: values),
        ])
        for type in [QuantizationType.ggml(.q4_k), .ggml(.q8_0), .mlx(bits: 4)] {
            let out = folder.file(type.isMLX ? "out.safetensors" : "out.gguf")
            var request = QuantizeRequest(type: type)
            request.sliceElements = 256
            let error = #expect(throws: QuantizationError.self) {
                try QuantizePipeline.run(try CheckpointReader.open(folder.file("in.safetensors")), to: out,
                                         request: request, overwrite: false)
            }
            #expect(error?.tensor == "w")
            guard case .nonFinite(let index, _, _) = error?.kind else {
                Issue.record("\(type): expected .nonFinite, got \(String(describing: error))")
                continue
            }
            #expect(index == 700)
            #expect(folder.contents == ["in.safetensors"], "no output and no temporary file may remain")
        }
    }

    @Test func requestsThatCannotBeMetAreRefusedBeforeWriting() throws {
        let folder = try TemporaryFolder()
        try writeCheckpoint(folder.file("in.safetensors"), [
            TestTensor("w", .f32, [4, 64], values: sampleValues(256, seed: 18)), TestTensor("n", .i64, [4, 4], bytes: [UInt8](repeating: 0, count: 128)),
        ])
        let input = try CheckpointReader.open(folder.file("in.safetensors"))
        func kind(_ type: QuantizationType, _ out: String, only: [String] = []) -> QuantizationError.Kind? {
            var request = QuantizeRequest(type: type)
            request.only = only
            do {
                _ = try QuantizePipeline.run(input, to: folder.file(out), request: request, overwrite: false)
                return nil
            } catch let error as QuantizationError {
                return error.kind
            } catch {
                return nil
            }
        }
        #expect(kind(.ggml(.q4_0), "out.safetensors") == .invalidRequest("q4_0 is a ggml block type: write a .gguf file"))
        #expect(kind(.mlx(bits: 4), "out.gguf") == .invalidRequest("mlx-q4 is written to safetensors: write a .safetensors file"))
        #expect(kind(.ggml(.q4_0), "out.gguf", only: ["n"]) == .notFloat(.i64))
        #expect(throws: SelectionError(.matchesNothing(option: "--only", pattern: "nothing*", nearMiss: nil),
                                       file: folder.file("in.safetensors"))) {
            try QuantizePipeline.run(input, to: folder.file("out.gguf"), request: { var r = QuantizeRequest(type: .ggml(.q4_0)); r.only = ["nothing*"]; return r }(),
                                     overwrite: false)
        }
        #expect(folder.contents == ["in.safetensors"])
    }

    /// GGUF has no u8 or bool type: such a tensor is refused with a hint, and `--exclude` leaves it out.
    @Test func excludeLeavesTensorsOut() throws {
        let folder = try TemporaryFolder()
        try writeCheckpoint(folder.file("in.safetensors"), [
            TestTensor("w", .f32, [4, 64], values: sampleValues(256, seed: 19)),
            TestTensor("mask", .u8, [4, 4], bytes: [UInt8](repeating: 1, count: 16)),
        ])
        let input = try CheckpointReader.open(folder.file("in.safetensors"))
        func run(exclude: [String]) throws -> QuantizationReport {
            var request = QuantizeRequest(type: .ggml(.q4_0))
            request.exclude = exclude
            return try QuantizePipeline.run(input, to: folder.file("out.gguf"), request: request, overwrite: true)
        }
        let refused = #expect(throws: QuantizationError.self) { try run(exclude: []) }
        #expect(refused?.kind == .invalidRequest("gguf cannot hold u8 (leave it out with --exclude)"))
        #expect((#expect(throws: SelectionError.self) { try run(exclude: ["nothing*"]) })?.kind
            == .matchesNothing(option: "--exclude", pattern: "nothing*", nearMiss: nil))
        #expect((#expect(throws: SelectionError.self) { try run(exclude: ["*"]) })?.kind == .leavesNothing(options: "--exclude '*'"))
        #expect(folder.contents == ["in.safetensors"])
        let report = try run(exclude: ["mask"])
        #expect(report.entries.map(\.name) == ["w"])
        #expect(try CheckpointReader.open(folder.file("out.gguf")).tensors.map(\.name) == ["w"])
    }
}
