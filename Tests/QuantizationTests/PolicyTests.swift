import Testing
import TensorFormats
@testable import Quantization

/// The selection rule, one behaviour per test.
@Suite struct PolicyTests {
    func info(_ name: String, _ shape: [Int], _ dtype: DType = .f16) -> TensorInfo {
        try! TensorInfo(name: name, dtype: dtype, shape: shape)
    }

    func policy(_ type: QuantizationType, keep: [String] = [], only: [String] = [], output: OutputFormat = .gguf) -> QuantizationPolicy {
        QuantizationPolicy(type: type, keep: keep.map(Glob.init), only: only.map(Glob.init), output: output)
    }

    @Test func matricesAreQuantized() throws {
        let decision = try policy(.ggml(.q4_k)).decide(info("mm.0.weight", [4096, 1024]))
        #expect(decision == .init(action: .ggml(.q4_k), reason: .selected))
    }

    @Test(arguments: [[4096], [1, 4096], [4096, 1, 1], []])
    func effectivelyOneDimensionalTensorsAreKeptAsF32InGGUF(shape: [Int]) throws {
        let decision = try policy(.ggml(.q8_0)).decide(info("mm.0.bias", shape))
        #expect(decision == .init(action: .float(.f32), reason: .notMatrix))
    }

    @Test func keptTensorsKeepTheirDTypeInSafetensors() throws {
        let decision = try policy(.mlx(bits: 4), output: .safetensors).decide(info("mm.0.bias", [4096]))
        #expect(decision == .init(action: .copy, reason: .notMatrix))
    }

    @Test(arguments: [
        ("model.query_tokens", "*query_tokens*"), ("perceiver.latents", "*latents*"), ("resampler.query", "*resampler.query"),
        ("vision.pos_embed", "*pos_embed*"), ("v.position_embd.weight", "*position*"), ("v.patch_embd.weight", "*embd*"),
        ("tok_embeddings.weight", "*embed*"),
    ])
    func defaultKeepListKeepsPreciseRoles(name: String, pattern: String) throws {
        let decision = try policy(.ggml(.q4_0)).decide(info(name, [64, 4096]))
        guard case .defaultKeep(let matched, _) = decision.reason else {
            Issue.record("\(name) not kept: \(decision)")
            return
        }
        #expect(matched == pattern)
        #expect(decision.action == .float(.f32))
    }

    @Test func gatesAreKeptWhenEffectivelyOneDimensional() throws {
        #expect(try policy(.ggml(.q4_0)).decide(info("layers.0.attn_gate", [1])).reason == .gate(pattern: "*gate"))
        #expect(try policy(.ggml(.q4_0)).decide(info("xattn.alpha_ff", [1])).reason == .gate(pattern: "*alpha_*"))
        // A 2-D tensor named like a gate is an ordinary matrix.
        #expect(try policy(.ggml(.q4_0)).decide(info("mlp.gate", [64, 64])).reason == .selected)
    }

    @Test func keepOptionAddsToTheList() throws {
        let decision = try policy(.ggml(.q4_0), keep: ["mm.2.*"]).decide(info("mm.2.weight", [64, 64]))
        #expect(decision == .init(action: .float(.f32), reason: .keepOption(pattern: "mm.2.*")))
        #expect(try policy(.ggml(.q4_0), keep: ["mm.2.*"]).decide(info("mm.0.weight", [64, 64])).reason == .selected)
    }

    @Test func onlyRestrictsTheCandidates() throws {
        let p = policy(.ggml(.q8_0), only: ["mm.0.*"])
        #expect(try p.decide(info("mm.0.weight", [64, 64])).reason == .selected)
        #expect(try p.decide(info("mm.2.weight", [64, 64])) == .init(action: .float(.f32), reason: .notSelected))
        // --only never overrides a keep pattern.
        #expect(try policy(.ggml(.q8_0), only: ["*"]).decide(info("pos_embed", [64, 64])).reason
            == .defaultKeep(pattern: "*pos_embed*", role: "position table"))
    }

    @Test func nonFloatTensorsAreCopied() throws {
        #expect(try policy(.ggml(.q8_0)).decide(info("ids", [16, 16], .i64)) == .init(action: .copy, reason: .notFloat))
    }

    @Test func onlySelectingANonFloatTensorIsAnError() {
        let error = #expect(throws: QuantizationError.self) {
            try policy(.ggml(.q8_0), only: ["ids"]).decide(info("ids", [16, 16], .i32))
        }
        #expect(error?.kind == .notFloat(.i32))
        #expect(error?.tensor == "ids")
    }

    @Test(arguments: [
        (DType.q2_k, 96, QuantizationPolicy.Action.ggml(.iq4_nl)), (.q3_k, 96, .ggml(.iq4_nl)), (.q4_k, 96, .ggml(.q5_0)),
        (.q5_k, 96, .ggml(.q5_1)), (.q6_k, 96, .ggml(.q8_0)), (.q4_k, 48, .float(.f16)), (.q4_0, 48, .float(.f16)),
        (.iq4_nl, 80, .float(.f16)), (.q4_k, 512, .ggml(.q4_k)),
    ])
    func rowsThatDoNotFitFallBackLikeLlamaCpp(type: DType, rowLength: Int, action: QuantizationPolicy.Action) throws {
        let decision = try policy(.ggml(type)).decide(info("w", [8, rowLength]))
        #expect(decision.action == action)
        if action != .ggml(type) { #expect(decision.reason == .fallback(from: type, rowLength: rowLength)) }
    }

    @Test func mlxRowsTheGroupSizeDoesNotDivideStayUnquantized() throws {
        var p = policy(.mlx(bits: 4), output: .safetensors)
        p.groupSize = 128
        #expect(try p.decide(info("w", [8, 192], .bf16)) == .init(action: .copy, reason: .groupDoesNotDivide(rowLength: 192, groupSize: 128)))
        #expect(try p.decide(info("w", [8, 256], .bf16)) == .init(action: .mlx(bits: 4, groupSize: 128), reason: .selected))
    }

    @Test func blockQuantizedTensorsAreCopiedUnlessSelected() throws {
        #expect(try policy(.ggml(.q4_k)).decide(info("w", [8, 256], .q8_0)) == .init(action: .copy, reason: .alreadyQuantized))
        #expect(try policy(.ggml(.q4_k), only: ["w"]).decide(info("w", [8, 256], .q8_0))
            == .init(action: .ggml(.q4_k), reason: .requantized(from: .q8_0)))
    }

    @Test(arguments: [
        (QuantizationType.ggml(.q3_k), UInt32(11)), (.ggml(.q4_k), 14), (.ggml(.q5_k), 16), (.ggml(.q2_k), 10),
        (.ggml(.q6_k), 18), (.ggml(.q8_0), 7), (.ggml(.q4_0), 2), (.ggml(.q4_1), 3), (.ggml(.q5_0), 8), (.ggml(.q5_1), 9),
        (.ggml(.iq4_nl), 25), (.cast(.f16), 1), (.cast(.f32), 0), (.cast(.bf16), 32),
    ])
    func fileTypesFollowLlamaCpp(type: QuantizationType, fileType: UInt32) {
        #expect(QuantizationPolicy.fileType(type) == fileType)
    }

    @Test func typeNamesAreCaseInsensitiveAndUnknownOnesRefused() throws {
        #expect(try QuantizationType(parsing: "Q4_K") == .ggml(.q4_k))
        #expect(try QuantizationType(parsing: "MLX-Q4") == .mlx(bits: 4))
        #expect(try QuantizationType(parsing: "bf16") == .cast(.bf16))
        let error = #expect(throws: QuantizationError.self) { try QuantizationType(parsing: "q7_k") }
        #expect(error?.kind == .unknownType("q7_k"))
    }
}
