import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats

/// `connkit export` end to end: one JSON object in every outcome, validation gating, token counts, the
/// files it writes (names, dtypes, external data, metadata) and what it refuses.
@Suite struct ExportCLITests {
    static let runtime = CLI.fixture("runtime")

    func expectSchema(_ result: CommandResult) throws -> JSONValue {
        let json = try CLI.json(result)
        #expect(try CLI.schema("export.schema.json").validate(json) == [], "\(result.stdout)")
        return json
    }

    func shape(_ json: JSONValue?, _ key: String) -> [String] {
        (json?["export"]?[key]?["shape"]?.arrayValue ?? []).map { $0.intValue.map(String.init) ?? $0.stringValue ?? "?" }
    }

    @Test func everyOutcomeIsOneJSONObject() throws {
        let scratch = try Scratch()
        let out = scratch.file("mlp.onnx")
        let ok = try CLI.run(["export", Self.runtime + "/mlp2x_gelu/hf", "--dim", "tokens=36", "-o", out, "--json"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let json = try expectSchema(ok)
        #expect(json["family"]?.stringValue == "mlp" && json["export"]?["file"]?.stringValue == out)
        #expect(shape(json, "input") == ["batch", "36", "32"] && shape(json, "output") == ["batch", "36", "48"])
        #expect(json["export"]?["operators"]?["MatMul"]?.intValue == 2 && json["export"]?["grid"] == .null)

        // The connector fails validation: exit 1, the report, no model.
        let invalid = try CLI.run(["export", CLI.repositoryRoot + "/examples/broken-llava-tiny", "--tokens", "4", "-o", scratch.file("b.onnx"), "--json"])
        #expect(invalid.status == 1)
        let report = try expectSchema(invalid)
        #expect(report["valid"] == .bool(false) && report["export"] == .null)

        // Bad usage and an existing output: exit 2, an error object, nothing written.
        for (arguments, code) in [(["--tokens", "4", "--dynamic"], "usage"), (["--tokens", "4", "--opset", "16"], "usage"),
                                  (["--tokens", "4", "--dtype", "bf16"], "unknown-value"), ([], "usage"),
                                  (["--tokens", "4"], "output-exists")] {
            // (The LLaVA names' config gives no token count, transformers' does: validate's 36.)
            let scheme = arguments.isEmpty ? "llava" : "hf"
            let target = code == "output-exists" ? out : scratch.file("x.onnx")
            let result = try CLI.run(["export", Self.runtime + "/mlp2x_gelu/" + scheme, "-o", target, "--json"] + arguments)
            #expect(result.status == 2, "\(arguments)")
            let error = try expectSchema(result)
            #expect(error["code"]?.stringValue == code, "\(arguments): \(result.stdout)")
            // The object says what stderr says, in one line; without --json, stdout stays empty.
            #expect(result.stderr == "connkit: \(error["error"]?.stringValue ?? "")\n", "\(arguments): \(result.stderr)")
            let plain = try CLI.run(["export", Self.runtime + "/mlp2x_gelu/" + scheme, "-o", target] + arguments)
            #expect(plain.status == 2 && plain.stdout.isEmpty && plain.stderr == result.stderr)
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.file("x.onnx")))
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted() == ["mlp.onnx"])
    }

    /// Values are checked while the weights are written: a NaN fails the export (exit 1) and nothing is put
    /// in place.
    @Test func aValueErrorLeavesNoModel() throws {
        let scratch = try Scratch()
        let folder = scratch.file("nan")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.runtime + "/linear/llava/config.json", toPath: folder + "/config.json")
        let source = try CheckpointReader.open(Self.runtime + "/linear/llava/model.safetensors")
        let outputs = try source.tensors.map { tensor in
            var values = try tensor.floats()
            if tensor.name.hasSuffix("weight") { values[7] = .nan }
            return OutputTensor(info: try TensorInfo(name: tensor.name, dtype: .f32, shape: tensor.shape)) { output in
                try values.withUnsafeBytes { try output.write($0) }
            }
        }
        try CheckpointWriter(path: folder + "/model.safetensors").write(outputs, metadata: [])
        for extra in [[], ["--external-data"]] {
            let result = try CLI.run(["export", folder, "--tokens", "36", "-o", scratch.file("nan.onnx"), "--json"] + extra)
            #expect(result.status == 1)
            let json = try expectSchema(result)
            #expect(json["export"] == .null && json["diagnostics"]?.arrayValue?.contains { $0["code"]?.stringValue == "non-finite" } == true)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["nan"])
    }

    @Test func theModelReadsBackUnderTheCheckpointsNames() throws {
        let scratch = try Scratch()
        for scheme in ["hf", "llava", "mmproj"] {
            let checkpoint = Self.runtime + "/mlp2x_gelu/" + scheme + (scheme == "mmproj" ? "/mmproj.gguf" : "/model.safetensors")
            let out = scratch.file("\(scheme).onnx")
            #expect(try CLI.run(["export", checkpoint, "--tokens", "36", "-o", out, "--quiet"]).status == 0)
            let source = try CheckpointReader.open(checkpoint)
            let model = try CheckpointReader.open(out)
            // Initializers first, in graph order, then the Constant nodes (shapes, scalars).
            let initializers = model.tensors.prefix { !$0.name.hasPrefix("/const/") }
            #expect(Set(initializers.map(\.name)) == Set(source.tensors.map(\.name)))
            #expect(model.tensors.dropFirst(initializers.count).allSatisfy { $0.name.hasPrefix("/const/") })
            #expect(initializers.allSatisfy { $0.dtype == .f32 })
            #expect(model.metadata["connkit.family"] == .string("mlp") && model.metadata["connkit.scheme"] == .string(scheme))
            #expect(model.metadata["connkit.dims"] == .string(#"{"encoder":32,"llm":48,"tokens":36,"feature_layers":1,"depth":2}"#))
            #expect(model.metadata["onnx.producer_name"] == .string("connkit"))
            // validate finds the same connector in the exported model.
            let validated = try CLI.json(try CLI.run(["validate", out, "--json"]))
            #expect(validated["valid"] == .bool(true) && validated["variant"]?.stringValue == "mlp2x_gelu")
        }
    }

    @Test func halfPrecisionKeepsNormsInFloat32() throws {
        let scratch = try Scratch()
        let out = scratch.file("merger.onnx")
        let result = try CLI.run(["export", Self.runtime + "/qwen2.5-vl/hf", "--tokens", "36", "--dtype", "f16", "-o", out, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try expectSchema(result)
        #expect(json["export"]?["input"]?["dtype"]?.stringValue == "f16" && json["export"]?["output"]?["dtype"]?.stringValue == "f16")
        #expect((json["export"]?["operators"]?["Cast"]?.intValue ?? 0) >= 2)
        let dtypes = Dictionary(uniqueKeysWithValues: try CheckpointReader.open(out).tensors.filter { !$0.name.hasPrefix("/const/") }.map { ($0.name, $0.dtype) })
        #expect(dtypes["model.visual.merger.ln_q.weight"] == .f32)
        #expect(dtypes["model.visual.merger.mlp.0.weight"] == .f16 && dtypes["model.visual.merger.mlp.2.bias"] == .f16)
    }

    @Test func tokenCountsComeFromTheFlagsOrValidate() throws {
        let scratch = try Scratch()
        func shapes(_ arguments: [String]) throws -> ([String], [String]) {
            let result = try CLI.run(["export"] + arguments + ["-o", scratch.file("m.onnx"), "--force", "--json"])
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            let json = try CLI.json(result)
            return (shape(json, "input"), shape(json, "output"))
        }
        // validate's count for the encoder (transformers' config: (84/14)² patches), a dimension flag, a grid.
        #expect(try shapes([Self.runtime + "/mlp2x_gelu/hf"]).0 == ["batch", "36", "32"])
        #expect(try shapes([CLI.repositoryRoot + "/examples/llava-1.5-tiny", "--dim", "tokens=576"]).0 == ["batch", "576", "64"])
        #expect(try shapes([Self.runtime + "/minicpmv-2.5/minicpmv", "--grid", "4x6", "--dim", "head_dim=16"]).0 == ["batch", "24", "32"])
        #expect(try shapes([Self.runtime + "/llava-next/hf", "--dynamic"]) == (["batch", "tokens", "32"], ["batch", "tokens_out", "48"]))
        #expect(try shapes([Self.runtime + "/qwen2-vl/hf", "--dynamic"]) == (["batch", "tokens", "32"], ["batch", "tokens_out", "48"]))
        #expect(try shapes([Self.runtime + "/idefics2/hf", "--dynamic"]).1 == ["batch", "8", "48"])

        // Nothing fixes the count; a grid the computation needs from dynamic tokens; a grid that does not fit.
        for (arguments, message) in [([Self.runtime + "/mlp2x_gelu/llava"], "--tokens T or --dynamic"),
                                     ([Self.runtime + "/internvl/hf", "--dynamic"], "needs the patch grid"),
                                     ([Self.runtime + "/internvl/hf", "--tokens", "35"], "square grid"),
                                     ([Self.runtime + "/internvl/hf", "--tokens", "36", "--grid", "4x8"], "--grid 4x8")] {
            let result = try CLI.run(["export"] + arguments + ["-o", scratch.file("x.onnx")])
            #expect(result.status == 2 && result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.file("x.onnx")))
    }

    @Test func externalDataGoesBesideTheModel() throws {
        let scratch = try Scratch()
        let out = scratch.file("perceiver.onnx")
        let args = ["export", Self.runtime + "/idefics2/hf", "--tokens", "36", "-o", out, "--external-data", "--json"]
        let json = try expectSchema(try CLI.run(args))
        #expect(json["export"]?["data_file"]?.stringValue == out + ".data")
        let model = try CheckpointReader.open(out)
        let external = model.tensors.filter { $0.data.fileRegion != nil }
        #expect(!external.isEmpty && external.allSatisfy { $0.info.byteCount >= 1024 && $0.data.fileRegion!.offset % 64 == 0 })
        #expect(model.tensors.filter { $0.info.byteCount >= 1024 && !$0.name.hasPrefix("/const/") }.count == external.count)
        // An existing pair is replaced only with --force.
        let again = try CLI.run(Array(args.dropLast()))
        #expect(again.status == 2 && again.stderr.contains("--force"))
        #expect(try CLI.run(Array(args.dropLast()) + ["--force", "--quiet"]).status == 0)
        // A folder is refused as the output, --force or not, with a file name to give inside it.
        try FileManager.default.createDirectory(atPath: scratch.file("folder.onnx"), withIntermediateDirectories: true)
        let folder = try CLI.run(["export", Self.runtime + "/idefics2/hf", "--tokens", "36", "-o", scratch.file("folder.onnx"), "--force", "--json"])
        let refusal = try CLI.json(folder)
        #expect(folder.status == 2 && refusal["code"]?.stringValue == "output-exists")
        #expect(folder.stderr.contains("folder.onnx/model.onnx"), "\(folder.stderr)")
    }

    /// On a terminal the progress line is drawn and erased; --quiet drops it and the summary, never a warning
    /// (the validation's or the f16 cast's); --json draws no bar.
    @Test func progressQuietAndWarnings() throws {
        let scratch = try Scratch()
        let folder = scratch.file("big")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let config = #"{"model_type": "llava", "hidden_size": 1024, "mm_hidden_size": 1024, "mm_projector_type": "linear"}"#
        try Data(config.utf8).write(to: URL(fileURLWithPath: folder + "/config.json"))
        var weight = [Float](repeating: 0.5, count: 1 << 20)
        weight[3] = 70000  // beyond f16's range
        let tensors = [("model.mm_projector.weight", [1024, 1024], weight), ("model.mm_projector.bias", [1024], [Float](repeating: 0, count: 1024))]
        try CheckpointWriter(path: folder + "/model.safetensors").write(try tensors.map { name, shape, values in
            OutputTensor(info: try TensorInfo(name: name, dtype: .f32, shape: shape)) { output in try values.withUnsafeBytes { try output.write($0) } }
        }, metadata: [])
        let line = ["export", folder, "--tokens", "4", "--dtype", "f16", "-o", scratch.file("big.onnx"), "--force"]
        let overflow = "tensor 'model.mm_projector.weight': 1 value beyond the f16 range"  // after a coloured "warning:"

        let plain = try CLI.run(line, terminal: .stderr)
        #expect(plain.status == 0 && plain.stdout.contains("wrote \(scratch.file("big.onnx"))"), "\(plain.stderr)")
        #expect(plain.stderr.hasPrefix("\rexporting  [") && plain.stderr.contains("100%"), "\(plain.stderr.debugDescription)")
        #expect(plain.stderr.contains(overflow) && plain.stderr.contains("f16-overflow-risk"))
        let quiet = try CLI.run(line + ["--quiet"], terminal: .stderr)
        #expect(quiet.status == 0 && quiet.stdout.isEmpty && !quiet.stderr.contains("exporting"), "\(quiet.stderr.debugDescription)")
        #expect(quiet.stderr.contains(overflow) && quiet.stderr.contains("f16-overflow-risk"))
        let json = try CLI.run(line + ["--json"], terminal: .stderr)
        #expect(json.status == 0 && !json.stderr.contains("exporting"))
        #expect(try CLI.json(json)["export"]?["warnings"]?.arrayValue?.count == 1)
        // --strict: the overflow is an error (exit 1, check-failed) and nothing is written.
        let strictLine = ["export", folder, "--tokens", "4", "--dtype", "f16", "-o", scratch.file("strict.onnx"), "--strict", "--json"]
        let strict = try CLI.run(strictLine + ["--external-data"])
        let refusal = try CLI.json(strict)
        #expect(strict.status == 1 && refusal["code"]?.stringValue == "check-failed", "\(strict.stdout)")
        #expect(!FileManager.default.fileExists(atPath: scratch.file("strict.onnx"))
                && !FileManager.default.fileExists(atPath: scratch.file("strict.onnx.data")))
    }

    @Test func convertToOnnxPointsAtExport() throws {
        let scratch = try Scratch()
        let result = try CLI.run(["convert", Self.runtime + "/linear/llava/model.safetensors", scratch.file("out.onnx")])
        #expect(result.status == 2 && result.stderr.contains("connkit export"))
    }

    @Test func sha256MatchesTheStandardVectors() {
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(SHA256.hex(long) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }
}
