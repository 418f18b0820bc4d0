import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats

/// ONNX models through the `connkit` executable: inspect, convert, quantize, refusals.
struct ONNXCLITests {
    static let projector = CLI.fixture("onnx/torch/llava_projector_torchscript.onnx")

    @Test func inspectJSONReportsONNX() throws {
        let result = try CLI.run(["inspect", "--json", CLI.fixture("onnx/external/model.onnx")])
        #expect(result.status == 0)
        let json = try CLI.json(result)
        #expect(try CLI.schema("inspect.schema.json").validate(json).isEmpty)
        #expect(json["format"] == .string("onnx"))
        let tensors = try #require(json["tensors"]?.arrayValue)
        #expect(tensors.compactMap { $0["name"]?.stringValue } == ["proj.weight", "proj.bias", "proj2.weight", "small"])
        #expect(tensors[0]["file"]?.stringValue?.hasSuffix("external/model.onnx.data") == true)
        #expect(tensors[3]["file"] == nil, "the small tensor is inline")
        #expect(json["notes"]?.arrayValue?.first == .string("graph: 1 node (Identity 1), not interpreted"))
    }

    @Test func convertWritesSafetensorsWithTheSameBytes() throws {
        let scratch = try Scratch()
        let out = scratch.file("projector.safetensors")
        let result = try CLI.run(["convert", Self.projector, out, "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        let input = try CheckpointReader.open(Self.projector)
        let copy = try CheckpointReader.open(out)
        #expect(copy.tensors.count == input.tensors.count)
        for tensor in input.tensors {
            let written = try #require(copy.tensor(named: tensor.name))
            #expect(try written.withBytes { Array($0) } == tensor.withBytes { Array($0) })
        }
    }

    @Test func quantizeReadsONNX() throws {
        let scratch = try Scratch()
        let result = try CLI.run(["quantize", Self.projector, scratch.file("out.gguf"), "--type", "q8_0", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try CLI.json(result)
        #expect(try CLI.schema("quantize-report.schema.json").validate(json) == [])
        let types = (json["tensors"]?.arrayValue ?? []).compactMap { entry in
            entry["name"]?.stringValue.map { ($0, entry["type"]?.stringValue ?? "") }
        }
        #expect(types.contains { $0 == ("multi_modal_projector.linear_1.weight", "q8_0") })
    }

    @Test(arguments: ["graph_depth_20000.onnx", "varint_11_bytes.onnx", "external_symlink/model.onnx", "dtype_complex128.onnx"])
    func hostileModelExitsTwoWithOneLine(_ file: String) throws {
        let result = try CLI.run(["inspect", CLI.fixture("hostile/onnx/" + file)])
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("hostile/onnx/"))
    }
}
