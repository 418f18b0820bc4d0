import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats

/// What the writing commands promise (issue 10, items 1, 3 and 14): a selection that selects nothing is an
/// error with a near miss; a quantization that re-encodes nothing is refused and the file type names what
/// the tensors are; a cast to ±inf is counted, and refused with --strict; non-finite positions are given
/// as a multi-index.
struct WriterPromiseCLITests {
    static let projector = "examples/llava-1.5-tiny"

    static func floats(_ count: Int, seed: UInt64, scale: Float = 0.1) -> [UInt8] {
        var state = seed
        let values: [Float] = (0 ..< count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (Float(state >> 40) * 0x1p-24 - 0.5) * scale
        }
        return values.withUnsafeBytes { Array($0) }
    }

    /// (command, near miss expected or nil)
    static let emptySelections: [(arguments: [String], message: String)] = [
        (["convert", projector, "OUT.safetensors", "--only", "mm_projector.*"],
         "--only 'mm_projector.*' matches no tensor; did you mean --only 'model.mm_projector.*' (4 tensors)?"),
        (["convert", "examples/qwen2-vl-merger-tiny", "OUT.gguf", "--only", "merger.mlp.*"],
         "--only 'merger.mlp.*' matches no tensor; did you mean --only 'model.visual.merger.mlp.*' (4 tensors)?"),
        (["convert", projector, "OUT.safetensors", "--exclude", "*.weight", "--only", "*.weight"],
         "--only '*.weight' --exclude '*.weight' leave no tensor"),
        (["convert", projector, "OUT.safetensors", "--connector", "--only", "model.embed_tokens.*"],
         "--only 'model.embed_tokens.*' matches no tensor"),
        (["convert", projector, "OUT.safetensors", "--exclude", "resampler.*"], "--exclude 'resampler.*' matches no tensor"),
        (["quantize", projector, "OUT.gguf", "--type", "q8_0", "--only", "mm_projector.*.weight"],
         "--only 'mm_projector.*.weight' matches no tensor; did you mean --only 'model.mm_projector.*.weight' (2 tensors)?"),
        (["quantize", projector, "OUT.gguf", "--type", "q8_0", "--keep", "*.0.*", "--keep", "embed"],
         "--keep 'embed' matches no tensor"),
        (["quantize", projector, "OUT.gguf", "--type", "q8_0", "--exclude", "*"], "--exclude '*' leaves no tensor"),
    ]

    @Test(arguments: emptySelections.indices)
    func aSelectionThatSelectsNothingIsAnError(_ index: Int) throws {
        let (arguments, message) = Self.emptySelections[index]
        let scratch = try Scratch()
        let line = arguments.map { $0.hasPrefix("OUT.") ? scratch.file($0) : $0 } + ["--json"]
        let result = try CLI.run(line)
        #expect(result.status == 2, "\(line): \(result.stderr)")
        let json = try CLI.json(result)
        #expect(json["code"]?.stringValue == "empty-selection", "\(result.stdout)")
        let error = try #require(json["error"]?.stringValue)
        #expect(error.hasSuffix(": " + message), "\(error)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
    }

    /// A q4_k GGUF re-quantized to q4_0 without --only: nothing would change type. Refused, with the --only
    /// that selects the block-quantized tensors; with it, the file type is q4_0's.
    @Test func nothingToQuantizeThenTheFileTypeOfWhatIsWritten() throws {
        let scratch = try Scratch()
        try QuantizeCLITests.writeInput(scratch.file("in.safetensors"))
        let made = try CLI.run(["quantize", scratch.file("in.safetensors"), scratch.file("q4k.gguf"), "--type", "q4_k", "--quiet"])
        #expect(made.status == 0, "\(made.stderr)")
        let refused = try CLI.run(["quantize", scratch.file("q4k.gguf"), scratch.file("out.gguf"), "--type", "q4_0", "--json"])
        #expect(refused.status == 2)
        let json = try CLI.json(refused)
        #expect(json["code"]?.stringValue == "nothing-to-quantize")
        #expect(try CLI.schema("quantize-report.schema.json").validate(json) == [])
        let error = try #require(json["error"]?.stringValue)
        #expect(error.hasPrefix(scratch.file("q4k.gguf") + ": nothing to quantize: no tensor would be written in another type"), "\(error)")
        #expect(error.contains("1 already block-quantized") && error.contains("select them: --only 'mm.0.weight'"), "\(error)")
        #expect(!FileManager.default.fileExists(atPath: scratch.file("out.gguf")))
        // As suggested: the file type is the re-encoded tensor's.
        let requantized = try CLI.run(["quantize", scratch.file("q4k.gguf"), scratch.file("out.gguf"), "--type", "q4_0",
                                       "--only", "mm.0.weight", "--json"])
        #expect(requantized.status == 0, "\(requantized.stderr)")
        #expect(try Self.fileType(scratch.file("q4k.gguf")) == 14)
        #expect(try Self.fileType(scratch.file("out.gguf")) == 2)
        // The same type as the input is nothing to quantize either, and says `convert` changes containers.
        let same = try CLI.run(["quantize", Self.projector, scratch.file("same.gguf"), "--type", "F16"])
        #expect(same.status == 2 && same.stderr.contains("nothing to quantize") && same.stderr.contains("connkit convert"),
                "\(same.stderr)")
    }

    static func fileType(_ path: String) throws -> Int? {
        let json = try CLI.json(try CLI.run(["inspect", path, "--json"]))
        return json["metadata"]?["general.file_type"]?.intValue
    }

    /// The file type is that of the type holding the most bytes among re-encoded tensors (here q4_k's
    /// fallback q5_0), and a tensor that fell back to f16 counts as fell_back, not quantized.
    @Test func fileTypeFollowsTheBytesAndFallbacksAreCounted() throws {
        let scratch = try Scratch()
        try QuantizeCLITests.write(scratch.file("in.safetensors"), [
            ("wide", .f32, [64, 96], Self.floats(64 * 96, seed: 1)),    // q4_k needs 256: falls back to q5_0 (4,224 B)
            ("narrow", .f32, [8, 256], Self.floats(8 * 256, seed: 2)),  // q4_k (1,152 B)
            ("odd", .f32, [4, 40], Self.floats(4 * 40, seed: 3)),       // no block type divides 40: f16
        ])
        let result = try CLI.run(["quantize", scratch.file("in.safetensors"), scratch.file("out.gguf"), "--type", "q4_k", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try CLI.json(result)
        #expect(json["totals"]?["quantized"] == .int(2) && json["totals"]?["fell_back"] == .int(1), "\(result.stdout)")
        #expect(try Self.fileType(scratch.file("out.gguf")) == 8)  // LLAMA_FTYPE_MOSTLY_Q5_0
        let text = try CLI.run(["quantize", scratch.file("in.safetensors"), scratch.file("out2.gguf"), "--type", "q4_k"])
        #expect(text.stdout.contains("3 tensors, 2 quantized, 1 fell back to f16: "), "\(text.stdout)")
        // Only the fallback re-encodes: the file says f16.
        let alone = try CLI.run(["quantize", scratch.file("in.safetensors"), scratch.file("odd.gguf"), "--type", "q8_0",
                                 "--only", "odd", "--json"])
        #expect(alone.status == 0, "\(alone.stderr)")
        #expect(try CLI.json(alone)["totals"]?["quantized"] == .int(0))
        #expect(try Self.fileType(scratch.file("odd.gguf")) == 1)
    }

    /// Values beyond f16's range: a warning that counts them (convert and quantize, --quiet included);
    /// --strict makes it exit status 1 with nothing written.
    @Test(arguments: [["convert", "IN", "OUT.safetensors", "--dtype", "f16"], ["quantize", "IN", "OUT.gguf", "--type", "f16"],
                      ["quantize", "IN", "OUT.gguf", "--type", "q8_0"]])
    func overflowIsCountedAndStrictRefusesIt(_ arguments: [String]) throws {
        let scratch = try Scratch()
        let values: [Float] = [1, 70000, -1e6, 65519] + [Float](repeating: 0.5, count: 76)  // 40 wide: q8_0 falls back to f16
        try QuantizeCLITests.write(scratch.file("in.safetensors"), [("w", .f32, [2, 40], values.withUnsafeBytes { Array($0) })])
        let line = arguments.map { $0 == "IN" ? scratch.file("in.safetensors") : $0.hasPrefix("OUT.") ? scratch.file($0) : $0 }
        let warned = try CLI.run(line + ["--quiet"])
        #expect(warned.status == 0, "\(warned.stderr)")
        #expect(warned.stderr == "connkit: warning: \(line[1]): tensor 'w': 2 values beyond the f16 range (±65504), up to 1000000.0, became ±inf\n",
                "\(warned.stderr)")
        try FileManager.default.removeItem(atPath: line[2])
        let strict = try CLI.run(line + ["--strict", "--json"])
        #expect(strict.status == 1)
        let json = try CLI.json(strict)
        #expect(json["code"]?.stringValue == "check-failed")
        #expect(json["error"]?.stringValue?.contains("2 values beyond the f16 range") == true, "\(strict.stdout)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["in.safetensors"])
        // Values within the range pass --strict.
        try QuantizeCLITests.write(scratch.file("in.safetensors"), [("w", .f32, [2, 40], Self.floats(80, seed: 4))])
        #expect(try CLI.run(line + ["--strict", "--quiet"]).status == 0)
    }

    /// An f64 input: values that narrowing to float32 already turns into ±inf count too, with the largest as
    /// the input holds it — for a cast to f32 as for one to f16, and --strict refuses them.
    @Test(arguments: [(["convert", "IN", "OUT.safetensors", "--dtype", "f32"], "2 values beyond the f32 range (±3.40e38)"),
                      (["convert", "IN", "OUT.safetensors", "--dtype", "f16"], "3 values beyond the f16 range (±65504)"),
                      (["quantize", "IN", "OUT.gguf", "--type", "f16"], "3 values beyond the f16 range (±65504)")])
    func anF64InputsNarrowingOverflowIsCounted(_ arguments: [String], _ counted: String) throws {
        let scratch = try Scratch()
        let values: [Double] = [1, 70000, -1e39, 1e300] + [Double](repeating: 0.5, count: 76)
        try QuantizeCLITests.write(scratch.file("in.safetensors"), [("w", .f64, [2, 40], values.withUnsafeBytes { Array($0) })])
        let line = arguments.map { $0 == "IN" ? scratch.file("in.safetensors") : $0.hasPrefix("OUT.") ? scratch.file($0) : $0 }
        let warned = try CLI.run(line + ["--quiet"])
        #expect(warned.status == 0, "\(warned.stderr)")
        #expect(warned.stderr == "connkit: warning: \(line[1]): tensor 'w': \(counted), up to 1e+300, became ±inf\n", "\(warned.stderr)")
        try FileManager.default.removeItem(atPath: line[2])
        let strict = try CLI.run(line + ["--strict"])
        #expect(strict.status == 1 && strict.stderr.contains(counted), "\(strict.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["in.safetensors"])
    }

    /// A non-finite element is located by its multi-index and its flat index (ggml and MLX quantizers).
    @Test(arguments: [("q8_0", "out.gguf"), ("mlx-q4", "out.safetensors")])
    func nonFiniteElementsAreLocatedByPosition(type: String, output: String) throws {
        let scratch = try Scratch()
        try QuantizeCLITests.writeInput(scratch.file("in.safetensors"), poison: 17 * 256 + 42)
        let result = try CLI.run(["quantize", scratch.file("in.safetensors"), scratch.file(output), "--type", type])
        #expect(result.status == 2)
        #expect(result.stderr.contains("tensor 'mm.0.weight': element [17, 42] (flat index 4394) is nan"), "\(result.stderr)")
    }

    /// Counts in text agree with their nouns: "1 tensor", "1 metadata entry", "1 error" (convert, inspect,
    /// quantize, validate).
    @Test func singularAndPlural() throws {
        let scratch = try Scratch()
        let converted = try CLI.run(["convert", "examples/qwen2-vl-merger-tiny", scratch.file("one.npz"), "--dtype", "f16",
                                     "--only", "model.visual.merger.ln_q.bias"])
        #expect(converted.status == 0, "\(converted.stderr)")
        #expect(converted.stderr == "connkit: warning: \(scratch.file("one.npz")): 1 metadata entry not carried: numpy files hold no metadata\n")
        #expect(converted.stdout.hasPrefix("wrote \(scratch.file("one.npz")) (npz): 1 tensor, 1 cast, "), "\(converted.stdout)")
        let inspected = try CLI.run(["inspect", scratch.file("one.npz")])
        #expect(inspected.stdout.contains("total: 1 tensor, 32 elements, 64 B (64 bytes)"), "\(inspected.stdout)")
        try QuantizeCLITests.write(scratch.file("w.safetensors"), [("w", .f32, [2, 32], Self.floats(64, seed: 5))])
        let quantized = try CLI.run(["quantize", scratch.file("w.safetensors"), scratch.file("w.gguf"), "--type", "q8_0"])
        #expect(quantized.stdout.contains("\n1 tensor, 1 quantized: "), "\(quantized.stdout)")
        let validated = try CLI.run(["validate", "examples/broken-llava-tiny", "--no-values"])
        #expect(validated.stdout.contains("(1 error, 1 warning)"), "\(validated.stdout)")
    }

    /// bf16 into a numpy file suggests only the casts numpy holds.
    @Test func castHintsNameOnlyTypesTheOutputHolds() throws {
        let scratch = try Scratch()
        let result = try CLI.run(["convert", "examples/qwen2-vl-merger-tiny", scratch.file("out.npz")])
        #expect(result.status == 2)
        #expect(result.stderr.contains("npz cannot hold bf16 (use --dtype f32 or f16 to cast it)"), "\(result.stderr)")
        let npy = try CLI.run(["convert", Self.projector, scratch.file("out.npy"), "--only", "model.mm_projector.0.bias",
                               "--dtype", "bf16"])
        #expect(npy.status == 2 && npy.stderr.contains("numpy has no bf16 dtype (use --dtype f32 or f16)"), "\(npy.stderr)")
    }
}
