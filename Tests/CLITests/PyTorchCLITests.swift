import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats

/// PyTorch checkpoints through the `connkit` executable: inspect, convert, refusals.
struct PyTorchCLITests {
    @Test func inspectJSONReportsPyTorch() throws {
        let result = try CLI.run(["inspect", "--json", CLI.fixture("pytorch/mm_projector.bin")])
        #expect(result.status == 0)
        let json = try CLI.json(result)
        #expect(try CLI.schema("inspect.schema.json").validate(json).isEmpty)
        #expect(json["format"] == .string("pytorch"))
        let names = json["tensors"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
        #expect(names == ["model.mm_projector.0.weight", "model.mm_projector.0.bias",
                          "model.mm_projector.2.weight", "model.mm_projector.2.bias"])
    }

    @Test func inspectShowsTheStrippedWrapperAndMetadata() throws {
        let result = try CLI.run(["inspect", CLI.fixture("pytorch/nested.pt")])
        #expect(result.status == 0)
        #expect(result.stdout.contains("'model'"))
        #expect(result.stdout.contains("epoch"))
    }

    @Test func convertWritesSafetensors() throws {
        let scratch = try Scratch()
        let out = scratch.file("projector.safetensors")
        let result = try CLI.run(["convert", CLI.fixture("pytorch/sharded"), out, "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        let copy = try CheckpointReader.open(out)
        #expect(copy.tensors.count == 4)
    }

    @Test(arguments: ["reduce_os_system.pt", "builtins_eval.pt", "numpy_reconstruct.pt"])
    func maliciousPickleExitsTwoWithOneLine(file: String) throws {
        let result = try CLI.run(["inspect", CLI.fixture("hostile/pytorch/" + file)])
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.contains("not allowed") == true)
    }
}
