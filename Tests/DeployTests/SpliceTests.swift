import ConnkitTestSupport
import Deploy
import Foundation
import Quantization
import Testing
import TensorFormats
@testable import ConnectorGraph

/// A base mmproj: a fixture's connector with encoder tensors around it (random f16/f32, llama.cpp's
/// names) and the fixture's keys, written by connkit's GGUF writer.
func makeBase(_ fixture: String, in directory: String, name: String = "base.gguf", extraMetadata: [MetadataEntry] = [],
              retype: [String: DType] = [:]) throws -> String {
    let source = try CheckpointReader.open(runtimeFixtures + "/" + fixture)
    let width = source.metadata["clip.vision.embedding_length"]?.intValue ?? 32
    let encoder = [memoryTensor("v.patch_embd.weight", .f16, [width, 3, 14, 14], seed: 1),
                   memoryTensor("v.position_embd.weight", .f32, [37, width], seed: 2),
                   memoryTensor("v.blk.0.attn_q.weight", .f16, [width, width], seed: 3),
                   memoryTensor("v.blk.0.attn_q.bias", .f32, [width], seed: 4)]
    var outputs = encoder.prefix(2).map { OutputTensor(copying: $0) }
    for tensor in source.tensors {
        if let dtype = retype[tensor.name] {
            let quantized = try QuantizePipeline.prepare(Checkpoint(path: "", format: .safetensors, metadata: [], tensors: [tensor]),
                                                         outputPath: "x.gguf", request: QuantizeRequest(type: .ggml(dtype)))
            outputs.append(quantized.tensors[0])
        } else {
            outputs.append(OutputTensor(copying: tensor))
        }
    }
    outputs += encoder.suffix(2).map { OutputTensor(copying: $0) }
    let path = directory + "/" + name
    let output = try OutputFile(path: path, overwrite: true)
    try GGUFWriter.write(tensors: outputs, metadata: source.metadata + extraMetadata, to: output)
    try output.commit()
    return path
}

func spliceRequest(base: String, connector paths: [String], output: String, type: QuantizationType? = nil,
                   claims: [DimensionClaim] = [], llm: DimensionClaim? = nil) throws -> SpliceRequest {
    let config = paths.first.flatMap { path -> String? in
        let folder = (path as NSString).deletingLastPathComponent + "/config.json"
        return FileManager.default.fileExists(atPath: folder) ? folder : nil
    }
    let request = ValidationRequest(checkpoint: try Checkpoint.pooled(paths), flagClaims: claims,
                                    configs: try config.map { [try ConfigReader.read(path: $0)] } ?? [], llmCheckpointClaim: llm)
    return SpliceRequest(base: try CheckpointReader.open(base), connector: request, type: type, outputPath: output)
}

@Suite final class SpliceTests {
    let directory = temporaryDirectory()

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// The base's other tensors and keys are copied byte for byte and in order; the connector is the new
    /// one in the base's storage types; the result validates as an mmproj of the same kind.
    @Test func replacesTheConnectorAndCopiesEverythingElse() throws {
        let base = try makeBase("mlp2x_gelu/mmproj/mmproj.gguf", in: directory)
        let out = directory + "/out.gguf"
        var plan = try Splicer.plan(try spliceRequest(base: base, connector: [runtimeFixtures + "/llava-next/llava/model.safetensors"], output: out))
        #expect(plan.report.valid, "\(plan.report.check.diagnostics.map(\.line))")
        try Splicer.write(&plan, overwrite: false, inputs: [base])
        let before = try CheckpointReader.open(base), after = try CheckpointReader.open(out)
        let connectorNames: Set = ["mm.0.weight", "mm.0.bias", "mm.2.weight", "mm.2.bias", "model.image_newline"]
        let kept = before.tensors.filter { !connectorNames.contains($0.name) }
        #expect(after.tensors.filter { !connectorNames.contains($0.name) }.map(\.name) == kept.map(\.name))
        for tensor in kept {
            let copy = try #require(after.tensor(named: tensor.name))
            #expect(copy.dtype == tensor.dtype && copy.shape == tensor.shape)
            #expect(try bytes(of: copy) == bytes(of: tensor), "\(tensor.name)")
        }
        #expect(after.metadata.map(\.key) == before.metadata.map(\.key))
        for entry in before.metadata { #expect(after.metadata[entry.key] == entry.value, "\(entry.key)") }
        // f16 weights, f32 biases as the base; values of the new connector (exact in f16).
        let source = try CheckpointReader.open(runtimeFixtures + "/llava-next/llava/model.safetensors")
        for (name, from, dtype) in [("mm.0.weight", "model.mm_projector.0.weight", DType.f16), ("mm.0.bias", "model.mm_projector.0.bias", .f32),
                                    ("mm.2.weight", "model.mm_projector.2.weight", .f16), ("model.image_newline", "model.image_newline", .f32)] {
            let tensor = try #require(after.tensor(named: name))
            #expect(tensor.dtype == dtype, "\(name)")
            #expect(try floats(of: tensor) == floats(of: try #require(source.tensor(named: from))), "\(name)")
        }
        let check = bind(after, claims: [])
        #expect(check.valid && check.scheme == "mmproj" && check.variant == "mlp2x_gelu", "\(check.diagnostics.map(\.line))")
    }

    /// Splice then extract (`convert --connector --scheme`) gives back the spliced tensors exactly when the
    /// source is already in the base's storage types.
    @Test func spliceThenExtractRoundTrips() throws {
        let base = try makeBase("qwen2-vl/mmproj/mmproj.gguf", in: directory)
        // The Qwen2.5-VL-shaped merger of another case? Same kind needed: take qwen2-vl's own hf weights
        // through the mmproj fixture (f16/f32, the base's types), back in hf names.
        let sourceReport = bind(try CheckpointReader.open(runtimeFixtures + "/qwen2-vl/mmproj/mmproj.gguf"), claims: [])
        let sourceConnector = try #require(sourceReport.connector)
        let source = directory + "/source.safetensors"
        let hf = try SchemeConversion(sourceConnector, to: "hf")
            .applied(to: try CheckpointReader.open(runtimeFixtures + "/qwen2-vl/mmproj/mmproj.gguf"), connector: sourceConnector, connectorOnly: true)
        _ = try Converter.convert(hf, to: source, options: ConversionOptions())
        let out = directory + "/out.gguf"
        var plan = try Splicer.plan(try spliceRequest(base: base, connector: [source], output: out))
        #expect(plan.report.valid, "\(plan.report.check.diagnostics.map(\.line))")
        try Splicer.write(&plan, overwrite: false, inputs: [base])
        let spliced = try CheckpointReader.open(out)
        let report = bind(spliced, claims: [])
        let connector = try #require(report.connector)
        let extracted = try SchemeConversion(connector, to: "hf").applied(to: spliced, connector: connector, connectorOnly: true)
        let original = try CheckpointReader.open(source)
        #expect(Set(extracted.tensors.map(\.name)) == Set(original.tensors.map(\.name)))
        for tensor in original.tensors {
            let back = try #require(extracted.tensor(named: tensor.name))
            #expect(back.dtype == tensor.dtype && back.shape == tensor.shape, "\(tensor.name)")
            #expect(try bytes(of: back) == bytes(of: tensor), "\(tensor.name)")
        }
    }

    /// `--type T` encodes every connector tensor as `quantize --type T` encodes the same tensors.
    @Test func typeEncodesAsQuantizeWould() throws {
        let base = try makeBase("mlp2x_gelu/mmproj/mmproj.gguf", in: directory)
        let connectorPath = runtimeFixtures + "/mlp2x_gelu/hf/model.safetensors"
        let out = directory + "/out.gguf"
        var plan = try Splicer.plan(try spliceRequest(base: base, connector: [connectorPath], output: out, type: .ggml(.q4_0)))
        try Splicer.write(&plan, overwrite: false, inputs: [base])
        // The reference: the connector in mmproj names, quantized by the quantize pipeline.
        let source = try CheckpointReader.open(connectorPath)
        let connector = try #require(bind(source, claims: []).connector)
        let renamed = try SchemeConversion(connector, to: "mmproj").applied(to: source, connector: connector, connectorOnly: true)
        let reference = directory + "/reference.gguf"
        _ = try QuantizePipeline.run(renamed, to: reference, request: QuantizeRequest(type: .ggml(.q4_0)), overwrite: false)
        let expected = try CheckpointReader.open(reference), spliced = try CheckpointReader.open(out)
        #expect(expected.tensors.contains { $0.dtype == .q4_0 })
        for tensor in expected.tensors {
            let written = try #require(spliced.tensor(named: tensor.name))
            #expect(written.dtype == tensor.dtype, "\(tensor.name)")
            #expect(try bytes(of: written) == bytes(of: tensor), "\(tensor.name)")
        }
        #expect(spliced.metadata["general.quantization_version"] == .uint32(2))
        #expect(spliced.metadata["general.file_type"] == .uint32(1), "the base's f16 encoder still holds the most bytes")
    }

    /// A quantized base's types are reproduced (with the quantize policy); a block-quantized connector
    /// keeps its types and bytes.
    @Test func quantizedBaseAndQuantizedConnector() throws {
        let base = try makeBase("mlp2x_gelu/mmproj/mmproj.gguf", in: directory, retype: ["mm.0.weight": .q8_0])
        let connectorPath = runtimeFixtures + "/llava-next/llava/model.safetensors"
        var plan = try Splicer.plan(try spliceRequest(base: base, connector: [connectorPath], output: directory + "/a.gguf"))
        try Splicer.write(&plan, overwrite: false, inputs: [base])
        let spliced = try CheckpointReader.open(directory + "/a.gguf")
        #expect(spliced.tensor(named: "mm.0.weight")?.dtype == .q8_0)
        #expect(spliced.tensor(named: "mm.2.weight")?.dtype == .f16)

        // That file's connector, spliced into the float base: its q8_0 weight stays q8_0, byte for byte.
        let floatBase = try makeBase("mlp2x_gelu/mmproj/mmproj.gguf", in: directory, name: "float.gguf")
        var again = try Splicer.plan(try spliceRequest(base: floatBase, connector: [directory + "/a.gguf"], output: directory + "/b.gguf"))
        #expect(again.report.valid, "\(again.report.check.diagnostics.map(\.line))")
        try Splicer.write(&again, overwrite: false, inputs: [floatBase])
        let second = try CheckpointReader.open(directory + "/b.gguf")
        let first = try #require(spliced.tensor(named: "mm.0.weight")), kept = try #require(second.tensor(named: "mm.0.weight"))
        #expect(kept.dtype == .q8_0)
        #expect(try bytes(of: kept) == bytes(of: first))
    }

    /// Roles the new connector does not hold stay as the base has them (MiniCPM-V's key position table).
    /// The repository's weights of the base's own model, spliced in, give back the base tensor for tensor:
    /// split q/k/v, `proj` transposed back to `[out, in]`, the base's f16/f32 types.
    @Test func keepsBaseOnlyRolesAndReproducesTheBase() throws {
        let base = try makeBase("minicpmv-2.6/mmproj/mmproj.gguf", in: directory)
        let claims = [DimensionClaim(key: "head_dim", value: 16, source: .flag("--dim head_dim=16"))]
        var plan = try Splicer.plan(try spliceRequest(base: base, connector: [runtimeFixtures + "/minicpmv-2.6/minicpmv/model.safetensors"],
                                                      output: directory + "/out.gguf", claims: claims))
        #expect(plan.report.valid, "\(plan.report.check.diagnostics.map(\.line))")
        #expect(plan.report.keptFromBase.map(\.name) == ["resampler.pos_embed_k"])
        try Splicer.write(&plan, overwrite: false, inputs: [base])
        let spliced = try CheckpointReader.open(directory + "/out.gguf"), original = try CheckpointReader.open(base)
        #expect(Set(spliced.tensors.map(\.name)) == Set(original.tensors.map(\.name)))
        for tensor in original.tensors {
            let written = try #require(spliced.tensor(named: tensor.name))
            #expect(written.dtype == tensor.dtype && written.shape == tensor.shape, "\(tensor.name)")
            #expect(try bytes(of: written) == bytes(of: tensor), "\(tensor.name)")
        }
        #expect(spliced.metadata["clip.minicpmv_query_num"] == .uint32(8))
    }

    /// A connector that does not fit the base: another kind, another encoder width, another depth, an LLM
    /// width that disagrees: an invalid report (exit status 1) and nothing written.
    @Test(arguments: [
        ("qwen2-vl/hf/model.safetensors", DiagnosticCode.projectorTypeMismatch),
        ("mlp3x_gelu/llava/model.safetensors", .projectorTypeMismatch),
        ("mlp_norm/llava/model.safetensors", .projectorTypeMismatch),
        ("blip2/hf/model.safetensors", .projectorTypeMismatch),
    ])
    func refusesAnotherKind(_ connector: String, _ code: DiagnosticCode) throws {
        let base = try makeBase("mlp2x_gelu/mmproj/mmproj.gguf", in: directory)
        let plan = try Splicer.plan(try spliceRequest(base: base, connector: [runtimeFixtures + "/" + connector], output: directory + "/out.gguf"))
        #expect(!plan.report.valid)
        #expect(plan.report.check.diagnostics.contains { $0.code == code })
        #expect(plan.tensors.isEmpty)
    }

    @Test func refusesAnotherEncoderWidthOrLLM() throws {
        let base = try makeBase("mlp2x_gelu/mmproj/mmproj.gguf", in: directory)
        // A base whose encoder is 40 wide.
        let wide = directory + "/wide.gguf"
        let checkpoint = try CheckpointReader.open(base)
        let metadata = checkpoint.metadata.map { $0.key == "clip.vision.embedding_length" ? MetadataEntry($0.key, .uint32(40)) : $0 }
        let output = try OutputFile(path: wide, overwrite: true)
        try GGUFWriter.write(tensors: checkpoint.tensors.map { OutputTensor(copying: $0) }, metadata: metadata, to: output)
        try output.commit()
        let connector = runtimeFixtures + "/llava-next/llava/model.safetensors"
        let plan = try Splicer.plan(try spliceRequest(base: wide, connector: [connector], output: directory + "/out.gguf"))
        #expect(!plan.report.valid)
        #expect(plan.report.check.diagnostics.contains { $0.code == .dimensionConflict || $0.code == .shapeMismatch })
        let llm = DimensionClaim(key: "llm", value: 64, source: .llmCheckpoint(path: "text.gguf", detail: "llama.embedding_length = 64"))
        let other = try Splicer.plan(try spliceRequest(base: base, connector: [connector], output: directory + "/out.gguf", llm: llm))
        #expect(!other.report.valid)
        #expect(!FileManager.default.fileExists(atPath: directory + "/out.gguf"))
    }

    /// Values are scanned while the output is written: a NaN abandons it (nothing at the output).
    @Test func nonFiniteValuesAbandonTheOutput() throws {
        let base = try makeBase("mlp2x_gelu/mmproj/mmproj.gguf", in: directory)
        let source = try CheckpointReader.open(runtimeFixtures + "/llava-next/llava/model.safetensors")
        let tensors = try source.tensors.map { tensor -> Tensor in
            guard tensor.name == "model.mm_projector.2.weight" else { return tensor }
            var values = try floats(of: tensor)
            values[17] = .nan
            return Tensor(info: tensor.info, data: MemoryData(bytes: values.withUnsafeBytes { Array($0) }))
        }
        let broken = Checkpoint(path: "broken.safetensors", format: .safetensors, metadata: [], tensors: tensors)
        let out = directory + "/out.gguf"
        let request = SpliceRequest(base: try CheckpointReader.open(base), connector: ValidationRequest(checkpoint: broken), outputPath: out)
        var plan = try Splicer.plan(request)
        #expect(plan.report.valid)
        try Splicer.write(&plan, overwrite: false, inputs: [base])
        #expect(!plan.report.valid && !plan.report.written)
        #expect(plan.report.check.diagnostics.contains { $0.code == .nonFinite && $0.tensor == "model.mm_projector.2.weight" })
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect((try FileManager.default.contentsOfDirectory(atPath: directory)).allSatisfy { !$0.contains(".tmp") })
    }

    @Test func refusesWhatIsNotAnMmproj() throws {
        let notGGUF = try spliceRequest(base: runtimeFixtures + "/mlp2x_gelu/hf/model.safetensors",
                                        connector: [runtimeFixtures + "/llava-next/llava/model.safetensors"], output: directory + "/o.gguf")
        #expect(throws: SpliceError.notMmproj(path: notGGUF.base.path)) { try Splicer.plan(notGGUF) }
        // Two candidate connectors in one mmproj.
        let mlp = try CheckpointReader.open(runtimeFixtures + "/mlp2x_gelu/mmproj/mmproj.gguf")
        let merger = try CheckpointReader.open(runtimeFixtures + "/idefics3/mmproj/mmproj.gguf")
        let both = directory + "/both.gguf"
        let output = try OutputFile(path: both, overwrite: true)
        try GGUFWriter.write(tensors: (mlp.tensors + merger.tensors).map { OutputTensor(copying: $0) },
                             metadata: mlp.metadata.filter { $0.key != "clip.projector_type" }, to: output)
        try output.commit()
        let request = try spliceRequest(base: both, connector: [runtimeFixtures + "/llava-next/llava/model.safetensors"], output: directory + "/o.gguf")
        #expect {
            try Splicer.plan(request)
        } throws: { error in
            guard case SpliceError.noConnector(_, true, let ambiguous) = error else { return false }
            return ambiguous != nil
        }
    }
}
