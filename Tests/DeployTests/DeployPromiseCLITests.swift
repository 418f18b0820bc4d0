import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats

/// `convert --scheme` and `splice` keep the writers' promises (issue 10): `convert --json` in every outcome
/// valid against schemas/convert.schema.json (with what the scheme conversion did), `--strict` on casts
/// that overflow, `--quiet` dropping only the 'wrote' line; and `splice --type` writes a connector that is
/// already in that type (quantize's nothing-to-quantize refusal is quantize's, not splice's).
@Suite final class DeployPromiseCLITests {
    let scratch = try! Scratch()

    func json(_ result: CommandResult, _ schema: String) throws -> JSONValue {
        let json = try CLI.json(result)
        let problems = try CLI.schema(schema).validate(json)
        #expect(problems == [], "\(problems)\n\(result.stdout)")
        return json
    }

    @Test func convertSchemeJSON() throws {
        let out = scratch.file("minicpmv.safetensors")
        let result = try CLI.run(["convert", CLI.fixture("runtime/minicpmv-2.6/mmproj/mmproj.gguf"), out, "--scheme", "minicpmv",
                                  "--connector", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try json(result, "convert.schema.json")
        let scheme = try #require(report["scheme"])
        #expect(scheme["family"]?.stringValue == "attention-resampler" && scheme["variant"]?.stringValue == "minicpmv-2.6")
        #expect(scheme["from"]?.stringValue == "mmproj" && scheme["to"]?.stringValue == "minicpmv")
        #expect(scheme["computed_instead"]?.arrayValue?.compactMap(\.stringValue) == ["pos_embed_k.table"])
        let tensors = report["tensors"]?.arrayValue ?? []
        let fused = try #require(tensors.first { $0["name"]?.stringValue == "resampler.attn.in_proj_weight" })
        #expect(fused["source"]?.arrayValue?.compactMap(\.stringValue)
            == ["resampler.attn.q.weight", "resampler.attn.k.weight", "resampler.attn.v.weight"])
        #expect(tensors.count == (try CheckpointReader.open(out)).tensors.count)
        #expect(report["totals"]?["tensors"]?.intValue == tensors.count)

        // A plain conversion has neither `scheme` nor `source`.
        let plain = try CLI.run(["convert", CLI.fixture("runtime/minicpmv-2.6/mmproj/mmproj.gguf"), scratch.file("plain.gguf"), "--json"])
        let plainReport = try json(plain, "convert.schema.json")
        #expect(plainReport["scheme"] == nil && plainReport["tensors"]?.arrayValue?.allSatisfy { $0["source"] == nil } == true)

        // Every outcome is one JSON object: a connector failing its checks (exit 1), a family without the scheme (exit 2).
        let failed = scratch.file("failed.safetensors")
        let broken = try CLI.run(["convert", CLI.repositoryRoot + "/examples/broken-llava-tiny", failed, "--scheme", "hf", "--json"])
        #expect(broken.status == 1)
        #expect(try json(broken, "convert.schema.json")["code"]?.stringValue == "check-failed")
        let qformer = try CLI.run(["convert", CLI.fixture("runtime/blip2/hf/model.safetensors"), failed, "--scheme", "mmproj", "--json"])
        #expect(qformer.status == 2)
        #expect(try json(qformer, "convert.schema.json")["code"]?.stringValue == "unknown-value")
        let selection = try CLI.run(["convert", CLI.fixture("runtime/blip2/hf/model.safetensors"), failed, "--scheme", "lavis",
                                     "--only", "nothing.*", "--json"])
        #expect(selection.status == 2)
        #expect(try json(selection, "convert.schema.json")["code"]?.stringValue == "empty-selection")
        #expect(!FileManager.default.fileExists(atPath: failed))
    }

    /// `connkit compare` between the source and its conversion by `convert --scheme` says `identical`
    /// (the same float32 output bits), for every scheme of the case (the in-process round trips cover every
    /// fixture; this is the user's check, end to end).
    @Test(arguments: [
        ("mlp2x_gelu/llava", ["hf", "hf-legacy", "mmproj"], [String](), ""),
        ("qwen2-vl/hf", ["hf-legacy", "mmproj"], [], ""),
        ("minicpmv-2.6/minicpmv", ["mmproj"], ["--dim", "head_dim=16"], "3x5"),
    ])
    func compareSaysIdentical(_ source: String, _ targets: [String], _ dims: [String], _ grid: String) throws {
        let input = CLI.fixture("runtime/" + source.split(separator: "/")[0] + "/input.npy")
        for target in targets {
            let folder = scratch.file(source.replacingOccurrences(of: "/", with: "-") + "-" + target)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let out = folder + (target == "mmproj" ? "/mmproj.gguf" : "/model.safetensors")
            let convert = try CLI.run(["convert", CLI.fixture("runtime/" + source), out, "--scheme", target, "--connector", "--quiet"])
            #expect(convert.status == 0, "\(source) → \(target): \(convert.stderr)")
            let compare = try CLI.run(["compare", CLI.fixture("runtime/" + source), out, "--input", input, "--json"] + dims
                + (grid.isEmpty ? [] : ["--grid", grid]))
            #expect(compare.status == 0, "\(source) → \(target): \(compare.stdout)")
            #expect(try json(compare, "compare.schema.json")["identical"]?.boolValue == true, "\(source) → \(target)")
        }
    }

    /// An mmproj llama.cpp's converter wrote: `convert --scheme hf` without `--connector` renames the
    /// connector and copies every encoder tensor unchanged; with `--connector` it extracts the connector,
    /// and splicing that back gives every tensor of the base, byte for byte.
    @Test func extractAndSpliceBackThroughTheCLI() throws {
        let base = CLI.fixture("deploy/qwen2-vl/base.gguf")
        let original = try CheckpointReader.open(base)
        let connectorNames: Set = ["v.post_ln.weight", "v.post_ln.bias", "mm.0.weight", "mm.0.bias", "mm.2.weight", "mm.2.bias"]
        let all = scratch.file("all.safetensors")
        let whole = try CLI.run(["convert", base, all, "--scheme", "hf", "--quiet"])
        #expect(whole.status == 0, "\(whole.stderr)")
        let renamed = try CheckpointReader.open(all)
        #expect(renamed.tensors.count == original.tensors.count)
        for tensor in original.tensors where !connectorNames.contains(tensor.name) {
            let copy = try #require(renamed.tensor(named: tensor.name))
            #expect(try copy.dtype == tensor.dtype && bytes(of: copy) == bytes(of: tensor), "\(tensor.name)")
        }
        #expect(renamed.tensor(named: "model.visual.merger.mlp.0.weight") != nil && renamed.tensor(named: "mm.0.weight") == nil)

        let extracted = scratch.file("merger.safetensors")
        let extract = try CLI.run(["convert", base, extracted, "--scheme", "hf", "--connector", "--quiet"])
        #expect(extract.status == 0, "\(extract.stderr)")
        #expect(try CheckpointReader.open(extracted).tensors.count == connectorNames.count)
        let out = scratch.file("back.gguf")
        let splice = try CLI.run(["splice", base, extracted, "-o", out, "--quiet"])
        #expect(splice.status == 0, "\(splice.stderr)")
        let back = try CheckpointReader.open(out)
        #expect(Set(back.tensors.map(\.name)) == Set(original.tensors.map(\.name)))
        for tensor in original.tensors {
            let spliced = try #require(back.tensor(named: tensor.name))
            #expect(try spliced.dtype == tensor.dtype && bytes(of: spliced) == bytes(of: tensor), "\(tensor.name)")
        }
    }

    /// The LLaVA-NeXT fixture's projector with one value beyond the f16 range, as f32 safetensors.
    func overflowingConnector() throws -> String {
        let source = try CheckpointReader.open(CLI.fixture("runtime/llava-next/llava/model.safetensors"))
        let tensors = try source.tensors.map { tensor -> Tensor in
            guard tensor.name == "model.mm_projector.2.weight" else { return tensor }
            var values = try floats(of: tensor)
            values[5] = 1e6
            return Tensor(info: tensor.info, data: MemoryData(bytes: values.withUnsafeBytes { Array($0) }))
        }
        let path = scratch.file("overflow.safetensors")
        _ = try Converter.convert(Checkpoint(path: "overflow", format: .safetensors, metadata: [], tensors: tensors), to: path,
                                  options: ConversionOptions())
        return path
    }

    @Test func spliceCastOverflowAndStrict() throws {
        let base = scratch.file("base.gguf")
        try FileManager.default.copyItem(atPath: CLI.fixture("runtime/mlp2x_gelu/mmproj/mmproj.gguf"), toPath: base)
        let connector = try overflowingConnector()
        let out = scratch.file("out.gguf")
        // The base stores mm.2.weight as f16: the value becomes inf, with a warning on stderr and in the report.
        let warned = try CLI.run(["splice", base, connector, "-o", out, "--json"])
        #expect(warned.status == 0, "\(warned.stderr)")
        let warnings = try json(warned, "splice.schema.json")["warnings"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(warnings.count == 1 && warnings.first?.contains("mm.2.weight") == true, "\(warnings)")
        #expect(warned.stderr.contains("warning") && warned.stderr.contains("mm.2.weight"))
        // --strict: exit 1, one error object, nothing written.
        let strictOut = scratch.file("strict.gguf")
        let strict = try CLI.run(["splice", base, connector, "-o", strictOut, "--strict", "--json"])
        #expect(strict.status == 1, "\(strict.stderr)")
        #expect(try json(strict, "splice.schema.json")["code"]?.stringValue == "check-failed")
        #expect(!FileManager.default.fileExists(atPath: strictOut))
        // --quiet drops the 'wrote' line and the progress, not the report or the warning.
        let quiet = try CLI.run(["splice", base, connector, "-o", out, "--force", "--quiet"])
        #expect(quiet.status == 0)
        #expect(!quiet.stdout.contains("wrote") && quiet.stdout.contains("mm.2.weight") && quiet.stderr.contains("warning"))
        let loud = try CLI.run(["splice", base, CLI.fixture("runtime/llava-next/llava/model.safetensors"), "-o", out, "--force"])
        #expect(loud.status == 0 && loud.stdout.contains("wrote"))
    }

    /// A connector already in the asked type: `quantize` would refuse (nothing to re-encode), `splice`
    /// writes it, each tensor as quantize's policy decides (the q8_0 weight copied).
    @Test func spliceTypeOfAnAlreadyQuantizedConnector() throws {
        let quantized = scratch.file("q8.gguf")
        let quantize = try CLI.run(["quantize", CLI.fixture("runtime/llava-next/llava/model.safetensors"), quantized, "--type", "q8_0",
                                    "--quiet"])
        #expect(quantize.status == 0, "\(quantize.stderr)")
        let again = try CLI.run(["quantize", quantized, scratch.file("again.gguf"), "--type", "q8_0", "--json"])
        #expect(again.status == 2)
        #expect(try CLI.json(again)["code"]?.stringValue == "nothing-to-quantize")

        let base = scratch.file("base.gguf")
        try FileManager.default.copyItem(atPath: CLI.fixture("runtime/mlp2x_gelu/mmproj/mmproj.gguf"), toPath: base)
        let out = scratch.file("out.gguf")
        let result = try CLI.run(["splice", base, quantized, "-o", out, "--type", "q8_0", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try json(result, "splice.schema.json")
        let weight = report["tensors"]?.arrayValue?.first { $0["name"]?.stringValue == "mm.0.weight" }
        #expect(weight?["dtype"]?.stringValue == "q8_0" && weight?["source_dtype"]?.stringValue == "q8_0")
        let written = try CheckpointReader.open(out)
        let stored = try #require(written.tensor(named: "mm.0.weight"))
        let original = try #require(try CheckpointReader.open(quantized).tensor(named: "model.mm_projector.0.weight"))
        #expect(try bytes(of: stored) == bytes(of: original))
    }
}
