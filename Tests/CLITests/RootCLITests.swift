import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats

/// What the root command does for every subcommand. Every failure goes through the one mapping there: its
/// exit status, one line on stderr, and for a command run with `--json` one `{"error", "code"}` object on
/// stdout that follows schemas/error.schema.json and the command's own schema. Closed sets are listed by
/// `--help` and offered by shell completion.
@Suite struct RootCLITests {
    static let hostile = "Tests/Fixtures/hostile/safetensors/"

    /// (command line with --json, the command's schema, exit status, code)
    static let jsonFailures: [(arguments: [String], schema: String, status: Int32, code: String)] = [
        (["inspect", "examples/does-not-exist.safetensors"], "inspect", 2, "unreadable-input"),
        (["inspect", hostile + "offsets_hole.safetensors"], "inspect", 2, "malformed-input"),
        (["inspect", hostile + "invalid_json.safetensors"], "inspect", 2, "malformed-input"),
        (["inspect"], "inspect", 2, "usage"),
        (["quantize", "examples/llava-1.5-tiny", "OUT.gguf", "--type", "q7_k"], "quantize-report", 2, "unknown-value"),
        (["quantize", "examples/llava-1.5-tiny", "OUT.gguf", "--type", "q4_0", "--group-size", "64"], "quantize-report", 2, "usage"),
        (["quantize", "examples/llava-1.5-tiny", "OUT.gguf", "--type", "mlx-q4", "--group-size", "48"], "quantize-report", 2,
         "unknown-value"),
        (["quantize", "examples/llava-1.5-tiny", "--type", "q4_0"], "quantize-report", 2, "usage"),
        (["validate", "examples/llava-1.5-tiny", "--family", "mpl"], "validation-report", 2, "unknown-value"),
        (["validate", "examples/llava-1.5-tiny", "--llm", "llama-9"], "validation-report", 2, "unknown-value"),
        (["validate", "examples/llava-1.5-tiny", "--dim", "qeuries=3"], "validation-report", 2, "unknown-value"),
        (["validate", "examples/llava-1.5-tiny", "--encoder-dim", "0"], "validation-report", 2, "usage"),
        (["validate", "examples/llava-1.5-tiny", "--frobnicate"], "validation-report", 2, "usage"),
        (["validate", "examples/llava-1.5-tiny", "--family", "mlp", "--graph", "examples/graphs/mlp.mlpNx_gelu.json"],
         "validation-report", 2, "usage"),
        (["validate", "examples/llava-1.5-tiny", "--graph", "examples/make_examples.py"], "validation-report", 2, "malformed-input"),
        (["validate", "examples/make_examples.py"], "validation-report", 2, "unreadable-input"),
        (["describe", "mlp", "--variant", "mlp9"], "describe", 2, "unknown-value"),
        (["describe", "--compare"], "describe", 2, "usage"),
        (["describe", "examples/does-not-exist.safetensors"], "describe", 2, "unreadable-input"),
    ]

    @Test(arguments: jsonFailures.indices)
    func jsonFailuresPrintOneErrorObject(_ index: Int) throws {
        let (arguments, schemaName, status, code) = Self.jsonFailures[index]
        let scratch = try Scratch()
        let line = arguments.map { $0 == "OUT.gguf" ? scratch.file("out.gguf") : $0 } + ["--json"]
        let result = try CLI.run(line)
        #expect(result.status == status, "\(line): \(result.stderr)")
        let json = try CLI.json(result)
        #expect(try CLI.schema("error.schema.json").validate(json).isEmpty, "\(line): \(result.stdout)")
        #expect(try CLI.schema(schemaName + ".schema.json").validate(json).isEmpty, "\(line): \(result.stdout)")
        #expect(json["code"]?.stringValue == code, "\(line): \(result.stdout)")
        // The object says what stderr says, in one line.
        let error = try #require(json["error"]?.stringValue)
        #expect(result.stderr == "connkit: \(error)\n", "\(line)")
        #expect(!FileManager.default.fileExists(atPath: scratch.file("out.gguf")))
    }

    /// The same failures without --json: nothing on stdout, the same line on stderr.
    @Test(arguments: jsonFailures.indices)
    func withoutJSONStdoutStaysEmpty(_ index: Int) throws {
        let (arguments, _, status, _) = Self.jsonFailures[index]
        let scratch = try Scratch()
        let result = try CLI.run(arguments.map { $0 == "OUT.gguf" ? scratch.file("out.gguf") : $0 })
        #expect(result.status == status)
        #expect(result.stdout.isEmpty, "\(arguments): \(result.stdout)")
        #expect(result.stderr.hasPrefix("connkit: ") && result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }

    /// Only a malformed command line points at --help; a file connkit cannot use does not.
    @Test func onlyUsageErrorsPointAtHelp() throws {
        let usage = try CLI.run(["validate", "examples/llava-1.5-tiny", "--frobnicate"])
        #expect(usage.stderr.contains("(see 'connkit validate --help')"), "\(usage.stderr)")
        for arguments in [["inspect", "examples/does-not-exist.safetensors"], ["inspect", Self.hostile + "offsets_hole.safetensors"],
                          ["validate", "examples/llava-1.5-tiny", "--family", "mpl"]] {
            let result = try CLI.run(arguments)
            #expect(result.status == 2)
            #expect(!result.stderr.contains("--help"), "\(arguments): \(result.stderr)")
        }
    }

    /// A refused output and a refused value in commands without --json: the class decides the status.
    @Test func outputExistsAndEmptySelection() throws {
        let scratch = try Scratch()
        let out = scratch.file("out.safetensors")
        #expect(try CLI.run(["convert", "examples/llava-1.5-tiny", out]).status == 0)
        let again = try CLI.run(["quantize", "examples/llava-1.5-tiny", out, "--type", "bf16", "--json"])
        #expect(again.status == 2)
        #expect(try CLI.json(again)["code"]?.stringValue == "output-exists")
        let refused = try CLI.run(["convert", "examples/llava-1.5-tiny", scratch.file("x.safetensors"), "--dtype", "q4"])
        #expect(refused.status == 2 && refused.stdout.isEmpty)
        #expect(refused.stderr.contains("unknown dtype 'q4'"), "\(refused.stderr)")
    }

    /// A check that fails is exit status 1 with the report as the one JSON object, and no error line.
    @Test func checkFailedPrintsTheReportOnly() throws {
        let result = try CLI.run(["validate", "examples/broken-llava-tiny", "--json"])
        #expect(result.status == 1)
        let json = try CLI.json(result)
        #expect(json["valid"] == .bool(false) && json["error"] == nil)
        #expect(result.stderr.isEmpty)
    }

    /// The schema's closed list is the code's.
    @Test func errorSchemaListsEveryCode() throws {
        let schema = try CLI.schema("error.schema.json").root
        let codes = schema["properties"]?["code"]?["oneOf"]?.arrayValue?.compactMap { $0["const"]?.stringValue }
        #expect(codes == ErrorCode.allCases.map(\.rawValue))
    }

    /// --help and --version still succeed with their text on stdout; `connkit` alone prints the overview.
    @Test func helpAndVersion() throws {
        for arguments in [["--help"], ["quantize", "--help"], ["--version"], []] {
            let result = try CLI.run(arguments)
            #expect(result.status == 0 && !result.stdout.isEmpty && result.stderr.isEmpty, "\(arguments)")
        }
        // The closed sets are listed in --help (and so offered by shell completion).
        func help(_ command: String) throws -> String {
            try CLI.run([command, "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        }
        #expect(try help("quantize").contains("values: q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl, f16, bf16, f32, mlx-q2"))
        #expect(try help("convert").contains("values: keep, f32, f16, bf16; default: keep"))
        #expect(try help("validate").contains("values: linear, mlp, qformer, perceiver-resampler"))
        #expect(try help("describe").contains("values: vicuna-7b, vicuna-13b"))
    }

    @Test(arguments: ["bash", "zsh", "fish"])
    func completionOffersTheClosedSets(_ shell: String) throws {
        let script = try CLI.run(["--generate-completion-script", shell])
        #expect(script.status == 0)
        for value in ["bf16", "q4_k", "mlx-q4", "patch-merger", "clip-vit-l-14-336", "vicuna-7b", "mlp2x_gelu", "minicpmv-2.6"] {
            #expect(script.stdout.contains(value), "\(shell): \(value)")
        }
    }
}
