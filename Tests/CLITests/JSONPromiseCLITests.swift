import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats

/// `--json` is a promise (issue 10, item 9): every command that takes it prints exactly one JSON object on
/// stdout in every outcome — success, a failed check, bad usage, an unknown value, unreadable input, a
/// refusal — and the object follows the command's schema (an error object follows error.schema.json too).
struct JSONPromiseCLITests {
    static let projector = "examples/llava-1.5-tiny"

    /// (command line without --json; OUT.* becomes a scratch path, EXISTING.* an existing file there), schema, status, code
    static let outcomes: [(arguments: [String], schema: String, status: Int32, code: String?)] = [
        (["inspect", projector], "inspect", 0, nil),
        (["inspect", "examples/nothing.gguf"], "inspect", 2, "unreadable-input"),
        (["inspect", projector, "--frob"], "inspect", 2, "usage"),
        (["convert", projector, "OUT.safetensors"], "convert", 0, nil),
        (["convert", "examples/qwen2-vl-merger-tiny", "OUT.gguf", "--dtype", "F16", "--only", "*merger*"], "convert", 0, nil),
        (["convert", "examples/qwen2-vl-merger-tiny", "OUT.npz"], "convert", 2, "not-convertible"),
        (["convert", projector, "OUT.safetensors", "--dtype", "f8"], "convert", 2, "unknown-value"),
        (["convert", projector, "OUT.txt"], "convert", 2, "usage"),
        (["convert", projector], "convert", 2, "usage"),
        (["convert", projector, "EXISTING.safetensors"], "convert", 2, "output-exists"),
        (["convert", "Tests/Fixtures/hostile/safetensors/offsets_hole.safetensors", "OUT.gguf"], "convert", 2, "malformed-input"),
        (["quantize", projector, "OUT.gguf", "--type", "q8_0"], "quantize-report", 0, nil),
        (["quantize", projector, "OUT.gguf", "--type", "Q4_K_M"], "quantize-report", 2, "unknown-value"),
        (["quantize", projector, "OUT.gguf", "-t", "q8_0"], "quantize-report", 2, "usage"),
        (["quantize", projector, "EXISTING.gguf", "--type", "q8_0"], "quantize-report", 2, "output-exists"),
        (["quantize", "examples/nothing", "OUT.gguf", "--type", "q8_0"], "quantize-report", 2, "unreadable-input"),
        (["validate", projector], "validation-report", 0, nil),
        (["validate", "examples/broken-llava-tiny"], "validation-report", 1, nil),
        (["validate", projector, "--family", "qformer"], "validation-report", 1, nil),
        (["validate", "examples/graphs"], "validation-report", 2, "unreadable-input"),
        (["validate", projector, "--encoder", "clip"], "validation-report", 2, "unknown-value"),
        (["validate", "--list-presets"], "presets", 0, nil),
        (["validate", "--list-presets", "--frob"], "presets", 2, "usage"),
        (["validate", "--list-presets", projector], "presets", 2, "usage"),
        (["describe", "mlp", "encoder=1024", "llm=4096"], "describe", 0, nil),
        (["describe", "--compare", "--encoder", "clip-vit-l-14-336", "--llm", "vicuna-7b"], "describe", 0, nil),
        (["describe", projector], "describe", 0, nil),
        (["describe", "mlp", "depth=x"], "describe", 2, "usage"),
        (["describe", "nothing"], "describe", 2, "unknown-value"),
        (["describe", "examples/graphs/mlp.mlpNx_gelu.json", "--variant", "mlp3x_gelu"], "describe", 2, "usage"),
        (["run", projector, "--random", "4"], "run", 0, nil),
        (["run", projector, "--random", "4", "--output", "OUT.npy"], "run", 0, nil),
        (["run", "examples/broken-llava-tiny", "--random", "4"], "run", 1, nil),
        (["run", projector], "run", 2, "usage"),
        (["run", projector, "--random", "4", "--family", "mpl"], "run", 2, "unknown-value"),
        (["run", projector, "--random", "4", "--output", "OUT.txt"], "run", 2, "usage"),
        (["run", "examples/nothing.safetensors", "--random", "4"], "run", 2, "unreadable-input"),
        (["compare", projector, projector, "--random", "4"], "compare", 0, nil),
        (["compare", projector, "examples/broken-llava-tiny", "--random", "4"], "compare", 1, nil),
        (["compare", projector, "examples/qwen2-vl-merger-tiny", "--random", "4"], "compare", 2, "not-convertible"),
        (["compare", projector, projector, "--random", "4", "--min-cosine", "2"], "compare", 2, "usage"),
        (["compare", projector, "--random", "4"], "compare", 2, "usage"),
        (["export", projector, "--tokens", "4", "-o", "OUT.onnx"], "export", 0, nil),
        (["export", projector, "--tokens", "4", "-o", "OUT.onnx", "--dynamic"], "export", 2, "usage"),
        (["export", "examples/broken-llava-tiny", "--tokens", "4", "-o", "OUT.onnx"], "export", 1, nil),
        (["export", projector, "-o", "OUT.onnx"], "export", 2, "usage"),
        (["export", projector, "--tokens", "4", "-o", "OUT.onnx", "--dtype", "bf16"], "export", 2, "unknown-value"),
        (["export", projector, "--tokens", "4", "-o", "EXISTING.onnx"], "export", 2, "output-exists"),
        (["export", "examples/nothing.safetensors", "--tokens", "4", "-o", "OUT.onnx"], "export", 2, "unreadable-input"),
        (["export", "Tests/Fixtures/hostile/safetensors/offsets_hole.safetensors", "--tokens", "4", "-o", "OUT.onnx"], "export", 2,
         "malformed-input"),
        (["export", "Tests/Fixtures/runtime/internvl/hf", "--tokens", "35", "-o", "OUT.onnx"], "export", 2, "not-convertible"),
    ]

    @Test(arguments: outcomes.indices)
    func everyOutcomeIsOneJSONObjectFollowingTheSchema(_ index: Int) throws {
        let (arguments, schema, status, code) = Self.outcomes[index]
        let scratch = try Scratch()
        let line = try arguments.map { argument -> String in
            if argument.hasPrefix("OUT.") { return scratch.file(argument) }
            if argument.hasPrefix("EXISTING.") {
                try Data("x".utf8).write(to: URL(fileURLWithPath: scratch.file(argument)))
                return scratch.file(argument)
            }
            return argument
        } + ["--json"]
        let result = try CLI.run(line)
        #expect(result.status == status, "\(line): \(result.stderr)")
        let json = try CLI.json(result)  // exactly one JSON value: nothing before or after it
        guard case .object = json else { Issue.record("\(line): not an object"); return }
        #expect(try CLI.schema(schema + ".schema.json").validate(json) == [], "\(line): \(result.stdout)")
        if let code {
            #expect(json["code"]?.stringValue == code, "\(line): \(result.stdout)")
            #expect(try CLI.schema("error.schema.json").validate(json) == [])
            #expect(result.stderr == "connkit: \(json["error"]?.stringValue ?? "")\n")
        } else {
            #expect(json["error"] == nil, "\(line): \(result.stdout)")
        }
    }

    /// What `convert --json` says is what the file holds.
    @Test func convertJSONDescribesTheFileWritten() throws {
        let scratch = try Scratch()
        let result = try CLI.run(["convert", "examples/qwen2-vl-merger-tiny", scratch.file("out.safetensors"), "--dtype", "f32",
                                  "--exclude", "*ln_q*", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try CLI.json(result)
        let written = try CheckpointReader.open(scratch.file("out.safetensors"))
        let tensors = try #require(json["tensors"]?.arrayValue)
        #expect(tensors.compactMap { $0["name"]?.stringValue }.sorted() == written.tensors.map(\.name).sorted())
        #expect(tensors.allSatisfy { $0["from"] == .string("bf16") && $0["to"] == .string("f32") })
        #expect(json["totals"]?["tensors"] == .int(written.tensors.count) && json["totals"]?["cast"] == .int(written.tensors.count))
        let size = try FileManager.default.attributesOfItem(atPath: scratch.file("out.safetensors"))[.size] as? Int
        #expect(json["totals"]?["bytes"] == .int(size ?? -1))
        #expect(json["warnings"] == .array([]))
    }
}
