import Foundation
import Testing
import TensorFormats
@testable import ConnectorGraph

/// `connkit validate` on connectors exported by `torch.onnx.export` (Tests/Fixtures/onnx/torch_exports.py):
/// the initializers keep the transformers parameter names, so the family, variant and scheme are detected
/// and every tensor is bound, as for a safetensors checkpoint.
extension ValidateCLITests {
    static let onnxExports: [(file: String, family: String, variant: String, scheme: String, dims: [String])] = [
        ("llava_projector_torchscript.onnx", "mlp", "mlp2x_gelu", "hf-legacy", []),
        ("llava_projector_dynamo.onnx", "mlp", "mlp2x_gelu", "hf-legacy", []),
        ("blip2_qformer_torchscript.onnx", "qformer", "blip2", "hf", ["--dim", "heads=2"]),
        ("idefics2_connector_torchscript.onnx", "perceiver-resampler", "idefics2", "hf", ["--dim", "heads=2"]),
    ]

    @Test(arguments: onnxExports.map { $0.file })
    func onnxExportValidates(_ file: String) throws {
        let expected = try #require(Self.onnxExports.first { $0.file == file })
        let json = try report(["validate", "Tests/Fixtures/onnx/torch/" + file] + expected.dims, status: 0)
        #expect(json["valid"] == .bool(true))
        #expect(json["family"]?.stringValue == expected.family)
        #expect(json["variant"]?.stringValue == expected.variant)
        #expect(json["scheme"]?.stringValue == expected.scheme)
        #expect(json["diagnostics"]?.arrayValue?.contains { $0["severity"]?.stringValue != "note" } == false)
    }

    /// The dynamo exporter's default optimisation folds each Linear weight's transpose into a new
    /// initializer named `val_N`: the weights are no longer found under their names.
    @Test func optimizedDynamoExportLosesTheWeightNames() throws {
        let json = try report(["validate", "Tests/Fixtures/onnx/torch/llava_projector_dynamo_optimized.onnx"], status: 1)
        let missing = (json["diagnostics"]?.arrayValue ?? []).filter { $0["code"]?.stringValue == "missing-tensor" }
        #expect(missing.compactMap { $0["tensor"]?.stringValue }.sorted()
                == ["multi_modal_projector.linear_1.weight", "multi_modal_projector.linear_2.weight"])
    }
}
