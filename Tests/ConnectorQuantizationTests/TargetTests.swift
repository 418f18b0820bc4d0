import ConnectorGraph
import ConnectorQuantization
import ConnectorRuntime
import ConnkitTestSupport
import Foundation
import Quantization
import TensorFormats
import Testing

/// `--target-cosine X`: on four families (GGUF for three, MLX for Idefics2, whose transformers names exceed
/// GGUF's 63 bytes), the written file meets X on the features (recomputed from its bytes), and its tensors
/// are no larger than the smallest uniform ladder type that meets X nor than the plain greedy search's,
/// all measured here. The dimensions are small so that the suite stays fast; the release dimensions are
/// Benchmarks/target_bench.py's (README: "Mixed precision by output error").
@Suite struct TargetTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let target: Double
        let ext: String
        var testDescription: String { "\(name) X=\(target)" }
    }

    static let cases = [
        Case(name: "llava", target: 0.999, ext: "gguf"),
        Case(name: "qwen2-vl", target: 0.999, ext: "gguf"),
        Case(name: "blip2", target: 0.9995, ext: "gguf"),
        Case(name: "idefics2", target: 0.999, ext: "safetensors"),
    ]

    @Test(arguments: cases)
    func meetsTheTargetNoLargerThanUniformOrGreedy(_ item: Case) throws {
        let scratch = try Scratch()
        let connectorCase = try EvaluationTests.connectorCase(item.name, scratch)
        let format: OutputFormat = item.ext == "gguf" ? .gguf : .safetensors
        let ladder = TargetRequest.defaultLadder(for: format)
        func request(_ strategy: TargetRequest.Strategy) -> OutputQuantizeRequest {
            var quantize = QuantizeRequest(type: ladder[0])
            quantize.groupSize = 32
            var request = OutputQuantizeRequest(quantize: quantize)
            request.target = TargetRequest(minCosine: item.target, ladder: ladder, strategy: strategy)
            return request
        }
        let path = scratch.file("target.\(item.ext)")
        let chosen = try connectorCase.quantize(request(.knapsack), to: path)
        let greedy = try connectorCase.quantize(request(.greedy), to: scratch.file("greedy.\(item.ext)"))

        // Meets X, recomputed from the written bytes.
        let (_, _, connector) = try connectorCase.open()
        let features = try connectorCase.features(connector).features
        let original = try connector.run(features, grid: connectorCase.grid)
        let fresh = IndependentFigures(original, try freshRunOfWritten(path, case: connectorCase, report: chosen, scratch: scratch,
                                                                       features: features))
        #expect(fresh.minCosine >= item.target, "\(item.name): \(fresh.minCosine)")
        let summary = try #require(chosen.target)
        #expect(abs(summary.achieved.minCosine - fresh.minCosine) < 1e-9)
        #expect(summary.bytes <= greedy.target!.bytes, "\(item.name): knapsack \(summary.bytes) B, greedy \(greedy.target!.bytes) B")
        #expect(chosen.bytesAfter <= greedy.bytesAfter)

        // Every uniform ladder type, quantized and evaluated on its own.
        var smallestMeeting: Int?
        var bottomMisses = false
        for (index, type) in ladder.enumerated() {
            var quantize = QuantizeRequest(type: type)
            quantize.groupSize = 32
            var uniform = OutputQuantizeRequest(quantize: quantize)
            uniform.evaluate = true
            let report = try connectorCase.quantize(uniform, to: scratch.file("uniform.\(item.ext)"))
            let minCosine = try #require(report.evaluation?.evaluation.output.minCosine)
            if index == 0 { bottomMisses = minCosine < item.target }
            if minCosine >= item.target { smallestMeeting = min(smallestMeeting ?? .max, report.bytesAfter) }
        }
        #expect(bottomMisses, "\(item.name): the cheapest type alone meets \(item.target); the case tests nothing")
        let uniformBytes = try #require(smallestMeeting)
        #expect(chosen.bytesAfter <= uniformBytes, "\(item.name): \(chosen.bytesAfter) B against uniform \(uniformBytes) B")
        #expect(chosen.type == nil && chosen.json["type"]?.stringValue == "mixed")

        try checkMetadata(path, item: item, report: chosen, tokens: original.rows)
    }

    /// GGUF: `general.file_type` of the type holding the most bytes (`_S` numbering), the target and the
    /// evaluation tokens. MLX: mlx-lm's `quantization` object with a per-module entry for every weight
    /// whose bits differ from the file's.
    func checkMetadata(_ path: String, item: Case, report: OutputQuantizationReport, tokens: Int) throws {
        let written = try CheckpointReader.open(path)
        if item.ext == "gguf" {
            #expect(written.metadata[ConnectorQuantize.targetCosineKey] == .float64(item.target))
            #expect(written.metadata[ConnectorQuantize.evalTokensKey] == .uint32(UInt32(tokens)))
            var bytes: [DType: Int] = [:]
            for entry in report.entries where entry.reason.isQuantized {
                bytes[try #require(written.tensor(named: entry.name)).dtype, default: 0] += entry.bytesAfter
            }
            let most = try #require(bytes.max { $0.value < $1.value }?.key)
            let llamaCpp: [DType: UInt32] = [.f16: 1, .q4_0: 2, .q4_1: 3, .q8_0: 7, .q5_0: 8, .q5_1: 9, .q4_k: 14, .q5_k: 16, .q6_k: 18]
            #expect(written.metadata["general.file_type"] == .uint32(try #require(llamaCpp[most])))
            return
        }
        #expect(written.metadata["format"] == .string("mlx"))
        let text = try #require(written.metadata["quantization"]?.stringValue)
        let object = try Array(text.utf8).withUnsafeBytes { try JSONValue.parse($0) }
        let base = try #require(object["bits"]?.intValue)
        #expect(object["group_size"]?.intValue == 32)
        var overrides = 0
        for entry in report.entries where entry.reason.isQuantized {
            let weight = try #require(written.tensor(named: entry.name))
            let rowLength = try #require(CheckpointReader.open(ConnectorCase.fixture(item.name, tokens: 0).checkpoint).tensor(named: entry.name)?.shape.last)
            let bits = weight.shape.last! * 32 / rowLength
            let module = String(entry.name.dropLast(".weight".count))
            if bits == base {
                #expect(object[module] == nil, "\(module)")
            } else {
                #expect(object[module]?["bits"]?.intValue == bits && object[module]?["group_size"]?.intValue == 32, "\(module): \(text)")
                overrides += 1
            }
        }
        #expect(overrides > 0 || report.target?.chosenBy == "uniform")
    }

    /// Even the top of the ladder missing X: nothing is written and the error gives the best achievable.
    @Test func anUnreachableTargetWritesNothing() throws {
        let scratch = try Scratch()
        let connectorCase = try ConnectorCase.llava(in: scratch)
        var request = OutputQuantizeRequest(quantize: QuantizeRequest(type: .ggml(.q4_k)))
        request.target = TargetRequest(minCosine: 1, ladder: [.ggml(.q4_k), .ggml(.q5_k)])
        let path = scratch.file("out.gguf")
        #expect {
            _ = try connectorCase.quantize(request, to: path)
        } throws: { error in
            guard let error = error as? OutputQuantizationError, case .targetUnreachable(let target, let best, let top) = error.kind else { return false }
            return target == 1 && best < 1 && best > 0.99 && top == "q5_k" && error.failure == .checkFailed
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    /// X outside (0, 1], an empty ladder, a ladder mixing GGUF and MLX types: refused before any work.
    @Test(arguments: [(0.0, ["q4_k"]), (-0.5, ["q4_k"]), (1.5, ["q4_k"]), (Double.nan, ["q4_k"]), (0.99, []), (0.99, ["q4_k", "mlx-q4"])])
    func badTargetsAreUsageErrors(target: Double, ladder: [String]) throws {
        let types = try ladder.map { try QuantizationType(parsing: $0) }
        #expect {
            try TargetRequest(minCosine: target, ladder: types).check()
        } throws: { error in
            guard let error = error as? OutputQuantizationError, case .usage = error.kind else { return false }
            return error.failure == .usage
        }
    }
}
