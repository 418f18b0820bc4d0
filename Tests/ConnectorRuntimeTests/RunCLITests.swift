import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats
@testable import ConnectorRuntime

/// `connkit run`, `compare` and `validate --run` end to end: outputs against the library and the fixtures,
/// every outcome's one JSON object against its schema, bad input refused with exit 2 and nothing written.
@Suite struct RunCLITests {
    static let fixtures = CLI.fixture("runtime")
    static let mlp = fixtures + "/mlp2x_gelu"
    static let internvl = fixtures + "/internvl"

    /// Writes float32 tensors to a safetensors file.
    static func writeSafetensors(_ path: String, _ tensors: [(String, [Int], [Float])]) throws {
        let outputs = try tensors.map { name, shape, values in
            OutputTensor(info: try TensorInfo(name: name, dtype: .f32, shape: shape)) { output in
                try values.withUnsafeBytes { try output.write($0) }
            }
        }
        try CheckpointWriter(path: path, overwrite: true).write(outputs, metadata: [])
    }

    static func floats(_ path: String) throws -> (shape: [Int], values: [Float]) {
        let tensor = try CheckpointReader.open(path).tensors[0]
        return (tensor.shape, try tensor.floats())
    }

    func expectSchema(_ result: CommandResult, _ schema: String) throws -> JSONValue {
        let json = try CLI.json(result)
        #expect(try CLI.schema(schema).validate(json) == [], "\(result.stdout)")
        return json
    }

    @Test func runWritesWhatTheLibraryComputesAndMatchesTheRelease() throws {
        let scratch = try Scratch()
        let out = scratch.file("out.npy")
        let result = try CLI.run(["run", Self.mlp + "/llava", "--input", Self.mlp + "/input.npy", "--output", out, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try expectSchema(result, "run.schema.json")
        #expect(json["output"]?["shape"]?.arrayValue?.compactMap(\.intValue) == [2, 36, 48])
        #expect(json["family"]?.stringValue == "mlp" && json["scheme"]?.stringValue == "llava")
        let written = try Self.floats(out)
        #expect(written.shape == [2, 36, 48])
        let reference = try Self.floats(Self.mlp + "/output.npy")
        let (cosine, delta, maxRef) = closeness(written.values, reference.values.map(Double.init), width: 48)
        #expect(cosine >= 0.99999 && delta <= 1e-4 * maxRef)
        // The same bits as the library, and as a second run.
        let again = try CLI.run(["run", Self.mlp + "/hf", "--input", Self.mlp + "/input.npy", "--output", scratch.file("b.safetensors"), "--quiet"])
        #expect(again.status == 0 && again.stdout.isEmpty)
        #expect(try Self.floats(scratch.file("b.safetensors")).values.map(\.bitPattern) == written.values.map(\.bitPattern))
    }

    @Test func runSummarisesWithoutAnOutput() throws {
        let result = try CLI.run(["run", Self.internvl + "/mmproj/mmproj.gguf", "--random", "36", "--seed", "3"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("output: [9, 48]") && result.stdout.contains("grid 6x6") && result.stdout.contains("non-finite 0"))
    }

    /// The same output bits on every run at a given thread count. (Across thread counts they may differ:
    /// OpenBLAS blocks a product by its thread count, and its kernels' sums depend on the blocking.)
    @Test func outputBitsAreTheSameOnEveryRun() throws {
        let scratch = try Scratch()
        var bits: [[UInt32]] = []
        for threads in ["2", "2", "1", "1"] {
            let out = scratch.file("t\(bits.count).npy")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CLI.executable)
            process.arguments = ["run", CLI.fixture("runtime/idefics2/hf"), "--random", "729", "--output", out]
            process.environment = ProcessInfo.processInfo.environment.merging(["OPENBLAS_NUM_THREADS": threads]) { $1 }
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
            bits.append(try Self.floats(out).values.map(\.bitPattern))
        }
        #expect(bits[0] == bits[1] && bits[2] == bits[3])
    }

    @Test func anOutputExtensionRunDoesNotWriteIsRefusedNamingOnlyWhatItWrites() throws {
        let scratch = try Scratch()
        for name in ["out.txt", "out.gguf"] {
            let result = try CLI.run(["run", Self.mlp + "/llava", "--random", "4", "--output", scratch.file(name)])
            #expect(result.status == 2, "\(name): \(result.stderr)")
            #expect(result.stderr.contains(".npy, .npz or .safetensors") && !result.stderr.contains(".gguf,"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: scratch.file(name)))
        }
    }

    @Test func badInputIsRefusedWithNothingWritten() throws {
        let scratch = try Scratch()
        let out = scratch.file("never.npy")
        func refused(_ arguments: [String], mentioning fragments: [String]) throws {
            let result = try CLI.run(arguments + ["--output", out])
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
            for fragment in fragments { #expect(result.stderr.contains(fragment), "\(result.stderr) lacks \(fragment)") }
            let json = try CLI.run(arguments + ["--output", out, "--json"])
            #expect(json.status == 2)
            #expect(try CLI.schema("run.schema.json").validate(try CLI.json(json)) == [])
            #expect(!FileManager.default.fileExists(atPath: out))
        }
        // Features of the wrong width: names D_enc, its value and where it came from.
        try Self.writeSafetensors(scratch.file("narrow.safetensors"), [("x", [36, 31], [Float](repeating: 0, count: 36 * 31))])
        try refused(["run", Self.mlp + "/llava", "--input", scratch.file("narrow.safetensors")],
                    mentioning: ["31 wide", "D_enc", "32", "config.json: mm_hidden_size"])
        // A token count no grid fits (a pixel shuffle needs a square grid).
        try refused(["run", Self.internvl + "/hf", "--random", "35"], mentioning: ["pixel shuffle", "35 tokens", "--grid"])
        try refused(["run", Self.internvl + "/hf", "--random", "36", "--grid", "4x9"], mentioning: ["square", "4x9"])
        // NaN in the features: the first bad element.
        var values = [Float](repeating: 0.5, count: 36 * 32)
        values[3 * 32 + 7] = .nan
        values[5 * 32] = .infinity
        try Self.writeSafetensors(scratch.file("nan.safetensors"), [("x", [36, 32], values)])
        try refused(["run", Self.mlp + "/llava", "--input", scratch.file("nan.safetensors")], mentioning: ["[3, 7]", "nan"])
        // An empty input.
        try Self.writeSafetensors(scratch.file("empty.safetensors"), [("x", [0, 32], [])])
        try refused(["run", Self.mlp + "/llava", "--input", scratch.file("empty.safetensors")], mentioning: ["empty"])
        // Usage.
        try refused(["run", Self.mlp + "/llava"], mentioning: ["--input FEATURES or --random T"])
        try refused(["run", Self.mlp + "/llava", "--random", "4", "--input", Self.mlp + "/input.npy"], mentioning: ["exclude"])
    }

    @Test func anOutputThatIsAnInputIsRefused() throws {
        let scratch = try Scratch()
        let features = scratch.file("features.npy")
        try FileManager.default.copyItem(atPath: Self.mlp + "/input.npy", toPath: features)
        let before = try Data(contentsOf: URL(fileURLWithPath: features))
        let result = try CLI.run(["run", Self.mlp + "/llava", "--input", features, "--output", features, "--json"])
        #expect(result.status == 2)
        #expect(try CLI.json(result)["code"]?.stringValue == "output-exists")
        #expect(try Data(contentsOf: URL(fileURLWithPath: features)) == before)
    }

    @Test func anInvalidConnectorDoesNotRun() throws {
        let result = try CLI.run(["run", CLI.repositoryRoot + "/examples/broken-llava-tiny", "--random", "16", "--json"])
        #expect(result.status == 1)
        let json = try expectSchema(result, "run.schema.json")
        #expect(json["valid"]?.boolValue == false && json["output"] == .null)
        #expect(json["diagnostics"]?.arrayValue?.contains { $0["code"]?.stringValue == "shape-mismatch" } == true)
    }

    @Test func compareSaysIdenticalAcrossSchemesAndContainers() throws {
        let result = try CLI.run(["compare", Self.internvl + "/internvl", Self.internvl + "/mmproj/mmproj.gguf", "--input",
                                  Self.internvl + "/input.npy"])
        #expect(result.status == 0 && result.stdout.contains("identical"), "\(result.stdout)\(result.stderr)")
        let json = try expectSchema(try CLI.run(["compare", Self.internvl + "/hf", Self.internvl + "/hf-legacy", "--random", "36", "--json"]),
                                    "compare.schema.json")
        #expect(json["identical"]?.boolValue == true && json["cosine"]?["min"]?.doubleValue == 1 && json["relative_l2"]?.doubleValue == 0)
    }

    /// A quantized copy (connkit quantize's q8_0 GGUF) runs (its blocks dequantized) and is close but not
    /// identical; a threshold above its cosine fails with exit status 1.
    @Test func compareGatesOnTheMinimumCosine() throws {
        let scratch = try Scratch()
        let quantized = scratch.file("q8.gguf")
        let quantize = try CLI.run(["quantize", Self.mlp + "/hf/model.safetensors", quantized, "--type", "q8_0", "--quiet"])
        #expect(quantize.status == 0, "\(quantize.stderr)")
        let pass = try CLI.run(["compare", Self.mlp + "/hf/model.safetensors", quantized, "--random", "36", "--json"])
        let json = try expectSchema(pass, "compare.schema.json")
        #expect(pass.status == 0 && json["identical"]?.boolValue == false)
        let minimum = try #require(json["cosine"]?["min"]?.doubleValue)
        #expect(minimum > 0.999 && minimum < 1)
        let fail = try CLI.run(["compare", Self.mlp + "/hf/model.safetensors", quantized, "--random", "36", "--min-cosine", "0.99999999"])
        #expect(fail.status == 1 && fail.stdout.contains("FAILED"))
    }

    @Test func compareRefusesDifferentConnectors() throws {
        let result = try CLI.run(["compare", Self.mlp + "/llava", CLI.fixture("runtime/linear/llava"), "--random", "36", "--json"])
        #expect(result.status == 2)
        let json = try expectSchema(result, "compare.schema.json")
        #expect(json["error"]?.stringValue?.contains("variant mlp2x_gelu vs linear") == true)
    }

    /// `validate --run`: finite weights whose activations overflow are an error; a connector that ignores
    /// its input a warning.
    @Test func validateRunFindsOverflowAndCollapse() throws {
        let scratch = try Scratch()
        let config = #"{"mm_hidden_size": 8, "hidden_size": 16, "mm_projector_type": "mlp2x_gelu"}"#
        for (name, scale) in [("overflow", Float(1e30)), ("zero", 0)] {
            let folder = scratch.file(name)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try config.write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
            var g = SplitMix(seed: 4)
            try Self.writeSafetensors(folder + "/model.safetensors", [
                ("model.mm_projector.0.weight", [16, 8], g.floats(128).map { $0 * scale }), ("model.mm_projector.0.bias", [16], g.floats(16)),
                ("model.mm_projector.2.weight", [16, 16], g.floats(256).map { $0 * scale }), ("model.mm_projector.2.bias", [16], g.floats(16)),
            ])
        }
        let overflow = try CLI.run(["validate", scratch.file("overflow"), "--run", "--random", "9", "--json"])
        #expect(overflow.status == 1)
        let report = try expectSchema(overflow, "validation-report.schema.json")
        #expect(report["diagnostics"]?.arrayValue?.first?["code"]?.stringValue == "non-finite-output")
        #expect(report["run"]?["output"]?["statistics"]?["non_finite"]?.intValue ?? 0 > 0)
        let zero = try CLI.run(["validate", scratch.file("zero"), "--run", "--random", "9", "--json"])
        #expect(zero.status == 0)
        let codes = try expectSchema(zero, "validation-report.schema.json")["diagnostics"]?.arrayValue?.compactMap { $0["code"]?.stringValue } ?? []
        #expect(codes.contains("collapsed-output") && codes.contains("all-zero"))
        // Without --run, no functional check; --run without a token count asks for one.
        let plain = try CLI.run(["validate", scratch.file("overflow")])
        #expect(plain.status == 0)
        let noTokens = try CLI.run(["validate", scratch.file("overflow"), "--run"])
        #expect(noTokens.status == 2 && noTokens.stderr.contains("--dim tokens=N"))
    }
}
