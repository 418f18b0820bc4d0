import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats

/// `connkit inspect` and `connkit convert` end to end: output, schema, exit statuses, one-line errors.
struct InspectCLITests {
    static let inputs = ["safetensors/dtypes.safetensors", "safetensors/special.safetensors", "safetensors/sharded",
                         "gguf/metadata.gguf", "gguf/dtypes.gguf", "gguf/bigendian.gguf", "gguf/v1.gguf"]

    @Test(arguments: inputs)
    func jsonOutputConformsToTheSchema(input: String) throws {
        let result = try CLI.run(["inspect", CLI.fixture(input), "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try CLI.json(result)
        let violations = try CLI.schema("inspect.schema.json").validate(json)
        #expect(violations.isEmpty, "\(violations)")
    }

    @Test func jsonListsWhatTheFileHolds() throws {
        let json = try CLI.json(try CLI.run(["inspect", CLI.fixture("safetensors/special.safetensors"), "--json"]))
        #expect(json["format"] == .string("safetensors"))
        #expect(json["metadata"]?["format"] == .string("pt"))
        let tensors = try #require(json["tensors"]?.arrayValue)
        #expect(tensors.compactMap { $0["name"]?.stringValue } == ["vector", "scalar", "empty"])
        #expect(tensors[1]["shape"] == .array([]))
        #expect(tensors[0]["nbytes"] == .int(24))
    }

    @Test func shardedTensorsNameTheirFile() throws {
        let json = try CLI.json(try CLI.run(["inspect", CLI.fixture("safetensors/sharded"), "--json"]))
        let files = try #require(json["tensors"]?.arrayValue).compactMap { $0["file"]?.stringValue }
        #expect(files == ["model-00001-of-00002.safetensors", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])
        #expect(json["metadata"]?["total_size"] == .int(112))
    }

    @Test func humanOutputHasTableAndTotals() throws {
        let result = try CLI.run(["inspect", CLI.fixture("safetensors/numpy_writer.safetensors")])
        #expect(result.status == 0)
        #expect(result.stdout.contains("model.mm_projector.2.weight  f16    [8, 8]"))
        #expect(result.stdout.contains("total: 4 tensors, 112 elements, 224 B"))
        #expect(result.stderr.isEmpty)
    }

    @Test(arguments: ["hostile/safetensors/data_past_eof.safetensors", "hostile/safetensors/duplicate_key.safetensors",
                      "does/not/exist.safetensors"])
    func unusableInputIsOneLineOnStderrWithStatus2(input: String) throws {
        let result = try CLI.run(["inspect", CLI.fixture(input)])
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains(CLI.fixture(input)))
    }

    @Test(arguments: [["inspect"], ["inspect", "a", "b"], ["convert", "a.safetensors"], ["frobnicate"],
                      ["convert", "a.safetensors", "b.txt"], ["convert", "a.safetensors", "b.gguf", "--dtype", "f8"],
                      ["inspect", "--bogus", "x"]])
    func badUsageExitsWith2InOneLine(arguments: [String]) throws {
        let result = try CLI.run(arguments)
        #expect(result.status == 2)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test func helpAndVersionSucceed() throws {
        #expect(try CLI.run(["--help"]).status == 0)
        #expect(try CLI.run(["convert", "--help"]).status == 0)
        #expect(try CLI.run(["--version"]).status == 0)
    }
}

struct ConvertCLITests {
    @Test func convertsCastsAndRefusesToClobber() throws {
        let scratch = try Scratch()
        let input = CLI.fixture("safetensors/numpy_writer.safetensors")
        let out = scratch.file("out.safetensors")
        let first = try CLI.run(["convert", input, out, "--dtype", "f32"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("4 tensors, 4 cast"))
        let converted = try CheckpointReader.open(out)
        #expect(converted.tensors.allSatisfy { $0.dtype == .f32 })
        let again = try CLI.run(["convert", input, out])
        #expect(again.status == 2)
        #expect(again.stderr.contains("--force"))
        #expect(try CLI.run(["convert", input, out, "--force"]).status == 0)
        #expect(try CheckpointReader.open(out).tensors.allSatisfy { $0.dtype == .f16 })
        let clobber = try CLI.run(["convert", out, out, "--force"])
        #expect(clobber.status == 2)
        #expect(clobber.stderr.contains("never writes over an input"))
    }

    @Test func failedConversionLeavesNoOutput() throws {
        let scratch = try Scratch()
        let out = scratch.file("out.npz")
        let result = try CLI.run(["convert", CLI.fixture("safetensors/dtypes.safetensors"), out])
        #expect(result.status == 2)
        #expect(result.stderr.contains("tensor '"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
    }
}

struct FormatPairCLITests {
    /// safetensors -> GGUF -> safetensors keeps names, dtypes, shapes, bytes and string metadata.
    @Test func safetensorsThroughGGUFAndBack() throws {
        let scratch = try Scratch()
        let input = CLI.fixture("safetensors/numpy_writer.safetensors")
        let gguf = scratch.file("x.gguf"), back = scratch.file("back.safetensors")
        #expect(try CLI.run(["convert", input, gguf]).status == 0)
        #expect(try CLI.run(["convert", gguf, back]).status == 0)
        let a = try CheckpointReader.open(input), g = try CheckpointReader.open(gguf), b = try CheckpointReader.open(back)
        #expect(g.metadata["general.architecture"] == .string("tensors"))
        #expect(g.metadata["format"] == .string("np"))
        #expect(a.tensors.map(\.info) == b.tensors.map(\.info))
        for (x, y) in zip(a.tensors, b.tensors) {
            #expect(try x.withBytes { Array($0) } == y.withBytes { Array($0) })
        }
    }

    /// A GGUF's typed metadata becomes JSON text in safetensors; GGUF -> GGUF keeps keys, types and tensors.
    @Test func ggufMetadataIntoSafetensorsAndGGUF() throws {
        let scratch = try Scratch()
        let input = CLI.fixture("gguf/metadata.gguf")
        #expect(try CLI.run(["convert", input, scratch.file("m.safetensors")]).status == 0)
        let st = try CheckpointReader.open(scratch.file("m.safetensors"))
        #expect(st.metadata["test.u64"] == .string("18446744073709551615"))
        #expect(st.metadata["test.array.i8"] == .string("[-128,0,127]"))
        // Nested arrays cannot be written (ggml refuses them): refused, naming the key.
        let nested = try CLI.run(["convert", input, scratch.file("m.gguf")])
        #expect(nested.status == 2)
        #expect(nested.stderr.contains("key 'test.nested"))
        let plain = CLI.fixture("gguf/dtypes.gguf")
        #expect(try CLI.run(["convert", plain, scratch.file("d.gguf")]).status == 0)
        let original = try CheckpointReader.open(plain), copy = try CheckpointReader.open(scratch.file("d.gguf"))
        #expect(original.metadata == copy.metadata)
        // GGUF has no 0-d tensors: a scalar comes back as [1].
        #expect(original.tensors.map { $0.shape.isEmpty ? [1] : $0.shape } == copy.tensors.map(\.shape))
        #expect(original.tensors.map(\.dtype) == copy.tensors.map(\.dtype))
        for (x, y) in zip(original.tensors, copy.tensors) {
            #expect(try x.withBytes { Array($0) } == y.withBytes { Array($0) }, "\(x.name)")
        }
    }
}

struct NumpyCLITests {
    /// safetensors -> npz -> npy (one tensor) -> safetensors keeps bytes; inspect reads both numpy forms.
    @Test func throughNpzAndNpy() throws {
        let scratch = try Scratch()
        let input = CLI.fixture("safetensors/numpy_writer.safetensors")
        let npz = scratch.file("x.npz"), npy = scratch.file("w.npy"), back = scratch.file("w.safetensors")
        let toNpz = try CLI.run(["convert", input, npz])
        #expect(toNpz.status == 0)
        #expect(toNpz.stderr.contains("1 metadata entry not carried"))
        let many = try CLI.run(["convert", npz, npy])
        #expect(many.status == 2, "an .npy holds one tensor")
        #expect(try CLI.run(["convert", npz, npy, "--only", "model.mm_projector.2.weight"]).status == 0)
        #expect(try CLI.run(["convert", npy, back]).status == 0)
        let original = try #require(try CheckpointReader.open(input).tensor(named: "model.mm_projector.2.weight"))
        let copy = try CheckpointReader.open(back)
        #expect(copy.tensors.map(\.name) == ["w"], "a .npy tensor is named after the file stem")
        #expect(copy.tensors[0].shape == original.shape)
        #expect(try copy.tensors[0].withBytes { Array($0) } == original.withBytes { Array($0) })
        for path in [npz, npy] {
            let json = try CLI.json(try CLI.run(["inspect", path, "--json"]))
            #expect(try CLI.schema("inspect.schema.json").validate(json).isEmpty)
        }
    }
}

struct ConnectorConvertCLITests {
    @Test func connectorFlagKeepsOnlyTheDetectedConnector() throws {
        let scratch = try Scratch()
        let out = scratch.file("projector.safetensors")
        let result = try CLI.run(["convert", CLI.repositoryRoot + "/examples/llava-1.5-tiny", out, "--connector"])
        #expect(result.status == 0, "\(result.stderr)")
        let names = try CheckpointReader.open(out).tensors.map(\.name)
        #expect(names == ["model.mm_projector.0.bias", "model.mm_projector.0.weight",
                          "model.mm_projector.2.bias", "model.mm_projector.2.weight"])
    }

    @Test func noConnectorIsAnError() throws {
        let scratch = try Scratch()
        let result = try CLI.run(["convert", CLI.fixture("safetensors/dtypes.safetensors"), scratch.file("x.safetensors"), "--connector"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("no connector"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
    }
}
