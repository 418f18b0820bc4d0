import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats

/// `connkit quantize --eval | --imatrix | --target-cosine` end to end: every outcome's `--json` against
/// the schemas, exit statuses, and bad input refused in one line with nothing written.
struct OutputQuantizeCLITests {
    /// transformers' LLaVA projector (32 -> 48) and BLIP-2 (Q-Former and projection), with config.json.
    static let llava = CLI.fixture("runtime/mlp2x_gelu/hf")
    static let blip2 = CLI.fixture("runtime/blip2/hf")

    /// Exit 0 with the eval object, its sensitivity table in the text report, and the schema kept.
    @Test func evalReportsFiguresInTextAndJSON() throws {
        let scratch = try Scratch()
        let out = scratch.file("out.gguf")
        let result = try CLI.run(["quantize", Self.blip2, out, "--type", "q8_0", "--eval", "--random", "64", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try CLI.json(result)
        #expect(try CLI.schema("quantize-report.schema.json").validate(json) == [])
        let eval = try #require(json["eval"])
        #expect(eval["features"]?["synthetic"] == .bool(true) && eval["passed"] == .null)
        #expect(eval["features"]?["tokens"]?.intValue == 8)  // 8 queries
        #expect((eval["features"]?["sensitivity"]?.arrayValue?.count ?? 0) > 10)
        #expect(json["target"] == nil && json["imatrix"] == nil)

        let text = try CLI.run(["quantize", Self.blip2, out, "--type", "q8_0", "--eval", "--random", "64", "--force"])
        #expect(text.status == 0)
        #expect(text.stdout.contains("synthetic features --random 64 --seed 0") && text.stdout.contains("sensitivity: tensor alone"))
    }

    /// `--min-cosine` missed: exit 1, the file written, one report object saying so.
    @Test func minCosineMissedExitsOneAndWrites() throws {
        let scratch = try Scratch()
        let out = scratch.file("out.gguf")
        let result = try CLI.run(["quantize", Self.blip2, out, "--type", "q4_0", "--eval", "--min-cosine", "0.9999999", "--json"])
        #expect(result.status == 1, "\(result.stderr)")
        let json = try CLI.json(result)
        #expect(try CLI.schema("quantize-report.schema.json").validate(json) == [])
        #expect(json["eval"]?["passed"] == .bool(false) && json["eval"]?["min_cosine_threshold"] == .double(0.9999999))
        #expect(FileManager.default.fileExists(atPath: out))
        let text = try CLI.run(["quantize", Self.blip2, out, "--type", "q4_0", "--eval", "--min-cosine", "0.9999999", "--force"])
        #expect(text.status == 1 && text.stdout.contains("FAILED: minimum output cosine"))
    }

    /// A target: exit 0, "mixed", the chosen types and figures, the metadata keys in the file.
    @Test func targetCosineReportsTheSearch() throws {
        let scratch = try Scratch()
        let out = scratch.file("out.gguf")
        let result = try CLI.run(["quantize", Self.blip2, out, "--target-cosine", "0.999", "--random", "64", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try CLI.json(result)
        #expect(try CLI.schema("quantize-report.schema.json").validate(json) == [])
        #expect(json["type"] == .string("mixed"))
        let target = try #require(json["target"])
        #expect(target["ladder"] == .array(["q4_k", "q5_k", "q6_k", "q8_0", "f16"].map { .string($0) }))
        #expect((target["achieved"]?["cosine"]?["min"]?.doubleValue ?? 0) >= 0.999)
        #expect((json["eval"]?["features"]?["cosine"]?["min"]?.doubleValue ?? 0) >= 0.999)
        let file = try CheckpointReader.open(out)
        #expect(file.metadata["connkit.quantization.target_cosine"] == .float64(0.999))
        #expect(file.metadata["connkit.quantization.eval_tokens"] == .uint32(8))
    }

    /// Even the top of the ladder misses X: exit 1, nothing written, the error names the best cosine.
    @Test func unreachableTargetExitsOneWritingNothing() throws {
        let scratch = try Scratch()
        let out = scratch.file("out.gguf")
        let result = try CLI.run(["quantize", Self.blip2, out, "--target-cosine", "1", "--types", "q4_0,q5_0", "--json"])
        #expect(result.status == 1, "\(result.stderr)")
        let json = try CLI.json(result)
        #expect(try CLI.schema("error.schema.json").validate(json) == [])
        #expect(json["code"] == .string("check-failed"))
        #expect(json["error"]?.stringValue?.contains("best achievable") == true)
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    /// `--imatrix-out` for a checkpoint whose names with `.in_sum2` exceed GGUF's 63 bytes (BLIP-2's
    /// Q-Former): refused before anything is written.
    @Test func imatrixOutWithNamesTooLongForGGUF() throws {
        let scratch = try Scratch()
        let (out, matrix) = (scratch.file("out.gguf"), scratch.file("imatrix.gguf"))
        let result = try CLI.run(["quantize", Self.blip2, out, "--type", "q8_0", "--imatrix", "--imatrix-out", matrix])
        #expect(result.status == 2 && result.stderr.contains("GGML_MAX_NAME"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out) && !FileManager.default.fileExists(atPath: matrix))
    }

    /// `--imatrix` with q8_0 (which ggml does not weight): the vectors collected and saved, exit 0.
    @Test func imatrixWithQ8_0SavesTheVectors() throws {
        let scratch = try Scratch()
        let result = try CLI.run(["quantize", Self.llava, scratch.file("out.gguf"), "--type", "q8_0", "--imatrix",
                                  "--imatrix-out", scratch.file("imatrix.gguf"), "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try CLI.json(result)
        #expect(try CLI.schema("quantize-report.schema.json").validate(json) == [])
        #expect(json["imatrix"]?["source"] == .string("features"))
        #expect(json["imatrix"]?["tensors"]?.arrayValue?.count == 2)
        let file = try CheckpointReader.open(scratch.file("imatrix.gguf"))
        #expect(file.metadata["general.type"] == .string("imatrix"))
        // Read back with --imatrix-file.
        let again = try CLI.run(["quantize", Self.llava, scratch.file("again.gguf"), "--type", "q8_0", "--imatrix-file",
                                 scratch.file("imatrix.gguf"), "--json"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try CLI.json(again)["imatrix"]?["source"] == .string("file"))
    }

    /// Bad usage and input: exit 2, one line naming the problem, the JSON error object, nothing written.
    @Test(arguments: [
        (["--target-cosine", "0"], "usage"),
        (["--target-cosine", "1.5"], "usage"),
        (["--target-cosine", "-0.1"], "usage"),
        (["--target-cosine", "nan"], "usage"),
        (["--target-cosine", "0.99", "--types", ""], "usage"),
        (["--target-cosine", "0.99", "--types", "q4_k,,q8_0"], "usage"),
        (["--target-cosine", "0.99", "--types", "q4_k,q9_k"], "unknown-value"),
        (["--target-cosine", "0.99", "--types", "q4_k,mlx-q4"], "usage"),
        (["--target-cosine", "0.99", "--type", "q4_k"], "usage"),
        (["--types", "q4_k"], "usage"),
        (["--type", "q8_0", "--min-cosine", "0.9"], "usage"),
        (["--type", "q8_0", "--random", "16"], "usage"),
        (["--type", "q8_0", "--imatrix", "--imatrix-out", "IM.safetensors"], "usage"),
        (["--type", "q8_0", "--imatrix-out", "IM.gguf"], "usage"),
        (["--type", "q8_0", "--eval", "--input", CLI.fixture("runtime/blip2/input.npy")], nil),
        (["--type", "q8_0", "--imatrix-file", CLI.fixture("quant/imatrix/llava.imatrix.gguf")], "malformed-input"),
    ] as [([String], String?)])
    func badInputIsRefused(options: [String], code: String?) throws {
        let scratch = try Scratch()
        let out = scratch.file("out.gguf")
        let line = ["quantize", Self.llava, out] + options.map { $0.hasPrefix("IM.") ? scratch.file($0) : $0 }
        let result = try CLI.run(line)
        #expect(result.status == 2, "\(options): \(result.stderr)")
        #expect(result.stdout.isEmpty && result.stderr.hasPrefix("connkit: ") && result.stderr.split(separator: "\n").count == 1,
                "\(options): \(result.stderr)")
        let json = try CLI.json(try CLI.run(line + ["--json"]))
        #expect(try CLI.schema("error.schema.json").validate(json) == [])
        if let code { #expect(json["code"]?.stringValue == code, "\(options): \(json)") }
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(!FileManager.default.fileExists(atPath: scratch.file("IM.gguf")) && !FileManager.default.fileExists(atPath: scratch.file("IM.safetensors")))
    }

    /// `--imatrix` with a type ggml weights, and with --target-cosine's default ladder: exit 0, the report
    /// names the tensors that got a vector.
    @Test(arguments: [["--type", "q4_0"], ["--target-cosine", "0.999"]])
    func imatrixWithWeightedTypes(_ options: [String]) throws {
        let scratch = try Scratch()
        let result = try CLI.run(["quantize", Self.llava, scratch.file("out.gguf"), "--imatrix", "--json"] + options)
        #expect(result.status == 0, "\(result.stderr)")
        let json = try CLI.json(result)
        #expect(try CLI.schema("quantize-report.schema.json").validate(json) == [])
        #expect(json["imatrix"]?["tensors"]?.arrayValue?.count == 2)
    }

    /// `--imatrix` with an MLX type: MLX's affine quantizer takes no weights.
    @Test func imatrixWithMLXIsAUsageError() throws {
        let scratch = try Scratch()
        let out = scratch.file("out.safetensors")
        let result = try CLI.run(["quantize", Self.llava, out, "--type", "mlx-q4", "--group-size", "32", "--imatrix"])
        #expect(result.status == 2 && result.stderr.contains("MLX"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
