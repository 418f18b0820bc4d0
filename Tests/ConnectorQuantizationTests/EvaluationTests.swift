import ConnectorGraph
import ConnectorQuantization
import ConnectorRuntime
import ConnkitTestSupport
import Foundation
import Quantization
import TensorFormats
import Testing

/// `--eval`: the figures the report gives are recomputed here from the written bytes — every tensor of
/// the written file decoded by the file readers, put into a fresh checkpoint, bound and run anew — and
/// compared with the original's output by the definitions (IndependentFigures).
@Suite struct EvaluationTests {
    /// Whole-connector figures on four families, GGUF and MLX output.
    @Test(arguments: [("llava", "q4_k", "gguf"), ("qwen2-vl", "q5_k", "gguf"), ("blip2", "q8_0", "gguf"), ("idefics2", "mlx-q4", "safetensors")])
    func figuresAreRecomputedFromTheWrittenFile(name: String, type: String, ext: String) throws {
        let scratch = try Scratch()
        let connectorCase = try Self.connectorCase(name, scratch)
        var quantize = QuantizeRequest(type: try QuantizationType(parsing: type))
        if ext == "safetensors" { quantize.groupSize = 32 }
        var request = OutputQuantizeRequest(quantize: quantize)
        request.evaluate = true
        let path = scratch.file("out.\(ext)")
        let report = try connectorCase.quantize(request, to: path)
        let evaluation = try #require(report.evaluation)
        let (_, _, connector) = try connectorCase.open()
        let features = try connectorCase.features(connector).features
        let original = try connector.run(features, grid: connectorCase.grid)
        let quantized = try freshRunOfWritten(path, case: connectorCase, report: report, scratch: scratch, features: features)
        let figures = IndependentFigures(original, quantized)
        let reported = evaluation.evaluation.output
        #expect(reported.tokens == original.rows)
        #expect(abs(reported.minCosine - figures.minCosine) < 1e-9, "\(reported) vs \(figures)")
        #expect(abs(reported.meanCosine - figures.meanCosine) < 1e-9, "\(reported) vs \(figures)")
        #expect(abs(reported.relativeL2 - figures.relativeL2) <= 1e-9 * max(1, figures.relativeL2), "\(reported) vs \(figures)")
        #expect(abs(reported.maxAbsDifference - figures.maxAbs) <= 1e-9 * max(1, figures.maxAbs), "\(reported) vs \(figures)")
        // The quantization changed the output (the figures are not those of an identity).
        #expect(figures.minCosine < 1 && figures.relativeL2 > 0)
        #expect(evaluation.evaluation.features.synthetic)
        #expect(evaluation.passed == nil && evaluation.heldOut == nil)
        // One sensitivity per quantized tensor the run reads, in file order.
        let quantizedNames = report.entries.filter { $0.reason.isQuantized }.map(\.name)
        #expect(evaluation.evaluation.sensitivities.map(\.name) == quantizedNames.filter { !evaluation.notReached.contains($0) })
    }

    /// The sensitivity of a tensor (quantized to its own type) is the eval of a file where only it is
    /// quantized, and that file's figures are again recomputed from its bytes.
    @Test(arguments: [("llava", "q4_k"), ("blip2", "q4_0")])
    func sensitivityIsTheEvalOfAFileWithOnlyThatTensor(name: String, type: String) throws {
        let scratch = try Scratch()
        let connectorCase = try Self.connectorCase(name, scratch)
        var request = OutputQuantizeRequest(quantize: QuantizeRequest(type: try QuantizationType(parsing: type)))
        request.evaluate = true
        let whole = try connectorCase.quantize(request, to: scratch.file("all.gguf"))
        let sensitivities = try #require(whole.evaluation?.evaluation.sensitivities)
        #expect(sensitivities.count >= 2)
        let (_, _, connector) = try connectorCase.open()
        let features = try connectorCase.features(connector).features
        let original = try connector.run(features, grid: connectorCase.grid)
        for sensitivity in [sensitivities.first!, sensitivities.last!] {
            var alone = request
            alone.quantize.only = [sensitivity.name]
            let path = scratch.file("alone.gguf")
            let report = try connectorCase.quantize(alone, to: path)
            #expect(report.entries.filter { $0.reason.isQuantized }.map(\.name) == [sensitivity.name])
            let figures = try #require(report.evaluation?.evaluation.output)
            #expect(report.entries.first { $0.name == sensitivity.name }?.type == sensitivity.type)
            #expect(figures == sensitivity.figures, "\(sensitivity.name): \(figures) vs \(sensitivity.figures)")
            let fresh = IndependentFigures(original, try freshRunOfWritten(path, case: connectorCase, report: report, scratch: scratch,
                                                                           features: features))
            #expect(abs(fresh.minCosine - sensitivity.figures.minCosine) < 1e-9, "\(sensitivity.name)")
            #expect(abs(fresh.relativeL2 - sensitivity.figures.relativeL2) <= 1e-9 * max(1, fresh.relativeL2), "\(sensitivity.name)")
        }
    }

    /// `--min-cosine`: below it the file is still written and the report says it failed; held-out
    /// features (`--eval-input`) get their own figures, recomputed the same way.
    @Test func minCosineAndHeldOutFeatures() throws {
        let scratch = try Scratch()
        let connectorCase = try ConnectorCase.llava(in: scratch)
        let (_, _, connector) = try connectorCase.open()
        let heldOut = EvaluationFeatures(features: try Features.random(tokens: 32, width: connector.inputWidth, seed: 7), synthetic: false)
        var request = OutputQuantizeRequest(quantize: QuantizeRequest(type: .ggml(.q4_k)))
        request.evaluate = true
        request.minCosine = 0.99999
        let path = scratch.file("out.gguf")
        let report = try connectorCase.quantize(request, to: path, heldOut: heldOut)
        let evaluation = try #require(report.evaluation)
        #expect(evaluation.passed == false && evaluation.threshold == 0.99999)
        #expect(FileManager.default.fileExists(atPath: path))
        let held = try #require(evaluation.heldOut)
        #expect(held.output.tokens == 32 && !held.features.synthetic)
        let original = try connector.run(heldOut.features)
        let fresh = IndependentFigures(original, try freshRunOfWritten(path, case: connectorCase, report: report, scratch: scratch,
                                                                       features: heldOut.features))
        #expect(abs(fresh.minCosine - held.output.minCosine) < 1e-9)
        #expect(abs(fresh.maxAbs - held.output.maxAbsDifference) <= 1e-9 * max(1, fresh.maxAbs))

        request.minCosine = 0.9
        let passing = try connectorCase.quantize(request, to: path, heldOut: heldOut)
        #expect(passing.evaluation?.passed == true)
    }

    static func connectorCase(_ name: String, _ scratch: Scratch) throws -> ConnectorCase {
        switch name {
        case "llava": try ConnectorCase.llava(in: scratch)
        case "qwen2-vl": try ConnectorCase.qwen2VL(in: scratch)
        case "blip2": ConnectorCase.fixture("blip2", tokens: 64)
        default: ConnectorCase.fixture(name, tokens: 64)
        }
    }
}
