import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats

/// Closed sets on the command line (issue 10, items 6, 7 and 12): every error about one lists its values,
/// led by the closest; names match in any case with `-` and `_` alike; float aliases name the canonical
/// type; llama.cpp's whole-model mixes are explained; unknown commands and options are named first.
struct VocabularyCLITests {
    static let projector = "examples/llava-1.5-tiny"
    static let quantTypes = ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "iq4_nl", "f16", "bf16",
                             "f32", "mlx-q2", "mlx-q3", "mlx-q4", "mlx-q6", "mlx-q8"]
    static let families = ["linear", "mlp", "qformer", "perceiver-resampler", "attention-resampler", "patch-merger",
                           "pixel-shuffle-mlp", "ldp"]

    /// (command line with OUT for an output path, the value the error must suggest, every value it must list,
    /// whether the command takes --json)
    static let unknownValues: [(arguments: [String], guess: String?, listed: [String], json: Bool)] = [
        (["convert", projector, "OUT.safetensors", "--dtype", "f61"], "f16", ["keep", "f32", "f16", "bf16"], false),
        (["quantize", projector, "OUT.gguf", "--type", "q4k"], "q4_k", quantTypes, true),
        (["quantize", projector, "OUT.gguf", "--type", "nf4"], nil, quantTypes, true),
        (["validate", projector, "--family", "mpl"], "mlp", families, true),
        (["describe", "mlp", "--variant", "mlp2xgelu"], "mlp2x_gelu", ["mlp1x_gelu", "mlp8x_gelu", "mlp_norm"], true),
        (["describe", "qformer", "--variant", "blip"], "blip2", ["blip2", "instructblip"], true),
        (["validate", projector, "--encoder", "clip-vit-l-14-33"], "clip-vit-l-14-336",
         ["clip-vit-b-16", "siglip-so400m-patch14-384", "qwen2-vl-vit"], true),
        (["describe", "mlp", "--llm", "vicuna7b"], "vicuna-7b", ["vicuna-7b", "llama-3-8b", "mobilellama-2.7b"], true),
        (["validate", projector, "--dim", "qeuries=3"], "queries", ["encoder", "queries", "grid_positions"], true),
        (["describe", "mlp", "heds=4"], "heads", ["heads", "kv_heads", "head_dim"], true),
        (["describe", "MPL"], "mlp", families, true),
    ]

    @Test(arguments: unknownValues.indices)
    func everyClosedSetErrorListsItsValues(_ index: Int) throws {
        let (arguments, guess, listed, takesJSON) = Self.unknownValues[index]
        let scratch = try Scratch()
        let line = arguments.map { $0.hasPrefix("OUT.") ? scratch.file($0) : $0 }
        let result = try CLI.run(line)
        #expect(result.status == 2, "\(line): \(result.stderr)")
        #expect(result.stdout.isEmpty)
        let message = result.stderr
        if let guess { #expect(message.contains("did you mean \(guess)"), "\(message)") }
        for value in listed { #expect(message.contains(value), "\(line): \(value) not listed in \(message)") }
        if takesJSON {
            let json = try CLI.json(try CLI.run(line + ["--json"]))
            #expect(json["code"]?.stringValue == "unknown-value", "\(json)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
    }

    /// Aliases and any case name the canonical type, which is what the output says.
    @Test(arguments: [("fp16", "f16"), ("float16", "f16"), ("half", "f16"), ("HALF", "f16"), ("F16", "f16"), ("bfloat16", "bf16"),
                      ("BF16", "bf16"), ("fp32", "f32"), ("Float32", "f32")])
    func floatAliasesNameTheCanonicalType(alias: String, canonical: String) throws {
        let scratch = try Scratch()
        let converted = try CLI.run(["convert", Self.projector, scratch.file("c.safetensors"), "--dtype", alias, "--quiet"])
        #expect(converted.status == 0, "\(converted.stderr)")
        let dtypes = Set(try CheckpointReader.open(scratch.file("c.safetensors")).tensors.map(\.dtype.rawValue))
        #expect(dtypes == [canonical])
        // quantize re-encodes: an f32 input for f16/bf16, the f16 projector for f32.
        try QuantizeCLITests.writeInput(scratch.file("f32.safetensors"))
        let input = canonical == "f32" ? Self.projector : scratch.file("f32.safetensors")
        let quantized = try CLI.run(["quantize", input, scratch.file("q.safetensors"), "--type", alias, "--json"])
        #expect(quantized.status == 0, "\(quantized.stderr)")
        #expect(try CLI.json(quantized)["type"]?.stringValue == canonical)
    }

    /// Families (and variants, dimension keys, presets) in any case, with `-` and `_` swapped.
    @Test func familiesInAnyCaseOrSeparator() throws {
        let mlp = try CLI.run(["validate", Self.projector, "--family", "MLP", "--json"])
        #expect(mlp.status == 0, "\(mlp.stderr)")
        #expect(try CLI.json(mlp)["family"]?.stringValue == "mlp")
        let merger = try CLI.run(["validate", "examples/qwen2-vl-merger-tiny", "--family", "Patch_Merger", "--json"])
        #expect(merger.status == 0, "\(merger.stderr)")
        #expect(try CLI.json(merger)["family"]?.stringValue == "patch-merger")
        let described = try CLI.run(["describe", "PIXEL_SHUFFLE_MLP", "--variant", "IDEFICS3", "ENCODER=64", "--llm", "Vicuna_7B", "--json"])
        #expect(described.status == 0, "\(described.stderr)")
        let json = try CLI.json(described)
        #expect(json["family"]?.stringValue == "pixel-shuffle-mlp" && json["variant"]?.stringValue == "idefics3")
        #expect(json["dims"]?["llm"] == .int(4096) && json["dims"]?["encoder"] == .int(64))
    }

    /// llama.cpp's whole-model mixes are not a tensor type: exit 2, explained, pointing at --target-cosine
    /// (a type per tensor by output error) and the uniform type.
    @Test(arguments: [("Q4_K_M", "q4_k"), ("q4_k_s", "q4_k"), ("Q5_K_M", "q5_k"), ("q3_k_l", "q3_k")])
    func llamaCppMixesAreExplained(mix: String, type: String) throws {
        let scratch = try Scratch()
        let result = try CLI.run(["quantize", Self.projector, scratch.file("out.gguf"), "--type", mix, "--json"])
        #expect(result.status == 2)
        let json = try CLI.json(result)
        #expect(json["code"]?.stringValue == "unknown-value")
        let error = try #require(json["error"]?.stringValue)
        #expect(error.contains("whole-model mix") && error.contains("--type \(type)") && error.contains("--target-cosine"), "\(error)")
        #expect(!FileManager.default.fileExists(atPath: scratch.file("out.gguf")))
    }

    /// An unknown option is named as such, before any missing argument, with the option it resembles most
    /// first (quantize's `--types` and `--target-cosine` resemble `-t` too).
    @Test(arguments: [
        (["quantize", projector, "OUT.gguf", "-t", "q4_0"], "-t", "--type"),
        (["quantize", projector, "OUT.gguf", "--tpye", "q4_0"], "--tpye", "--type"),
        (["convert", projector, "OUT.safetensors", "-d", "f16"], "-d", "--dtype"),
        (["validate", projector, "--famliy", "mlp"], "--famliy", "--family"),
        (["inspect", "-j", projector], "-j", "--json"),
    ])
    func unknownOptionsAreNamed(arguments: [String], option: String, suggestion: String) throws {
        let scratch = try Scratch()
        let line = arguments.map { $0.hasPrefix("OUT.") ? scratch.file($0) : $0 }
        let result = try CLI.run(line)
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("connkit: unknown option '\(option)': did you mean \(suggestion)"), "\(result.stderr)")
        let json = try CLI.json(try CLI.run(line + ["--json"]))
        #expect(json["code"]?.stringValue == "usage" && json["error"]?.stringValue?.contains("unknown option '\(option)'") == true)
    }

    @Test(arguments: [("frob", nil), ("valdate", "validate"), ("inpsect", "inspect")])
    func unknownCommandsListTheCommands(command: String, guess: String?) throws {
        let result = try CLI.run([command, "x"])
        #expect(result.status == 2 && result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("connkit: unknown command '\(command)'"), "\(result.stderr)")
        if let guess { #expect(result.stderr.contains("did you mean \(guess)?")) }
        for name in ["inspect", "convert", "quantize", "validate", "describe"] { #expect(result.stderr.contains(name)) }
    }

    /// `connkit` alone prints the overview with the subcommands; `--version` the version and the commit.
    @Test func overviewAndVersion() throws {
        let overview = try CLI.run([])
        #expect(overview.status == 0 && overview.stderr.isEmpty)
        for name in ["OVERVIEW:", "SUBCOMMANDS:", "inspect", "convert", "quantize", "validate", "describe"] {
            #expect(overview.stdout.contains(name))
        }
        let version = try CLI.run(["--version"])
        #expect(version.status == 0)
        let line = version.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let commit = try #require(line.split(separator: " ").last.map { String($0.dropLast()) })
        #expect(line.hasPrefix("connkit 0.1.0 (commit ") && line.hasSuffix(")"), "\(line)")
        // A checkout records git's name for its commit; `unknown` only without one.
        if FileManager.default.fileExists(atPath: CLI.repositoryRoot + "/.git") {
            #expect(commit != "unknown" && commit.count >= 7 && commit.allSatisfy { $0.isLetter || $0.isNumber || "-._+".contains($0) },
                    "\(line)")
        }
    }
}
