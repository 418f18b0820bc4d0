import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats

/// `connkit schemes`, `convert --scheme` and `splice` end to end: exit statuses, one JSON object in every
/// outcome (checked against its schema), nothing written on failure.
@Suite final class DeployCLITests {
    let scratch = try! Scratch()

    func expectSchema(_ result: CommandResult, _ schema: String) throws {
        let json = try CLI.json(result)
        let problems = try CLI.schema(schema).validate(json)
        #expect(problems == [], "\(problems)\n\(result.stdout)")
    }

    func errorCode(_ result: CommandResult) throws -> String? { try CLI.json(result)["code"]?.stringValue }

    @Test func schemesListsEveryFamily() throws {
        let result = try CLI.run(["schemes", "--json"])
        #expect(result.status == 0)
        try expectSchema(result, "schemes.schema.json")
        let families = try CLI.json(result)["families"]?.arrayValue ?? []
        #expect(families.count == 8)
        let one = try CLI.run(["schemes", "attention-resampler", "--json"])
        #expect((try CLI.json(one)["families"]?.arrayValue?.first?["schemes"]?.arrayValue?.compactMap { $0["name"]?.stringValue })
            == ["minicpmv", "mmproj", "qwen-vl"])
        let text = try CLI.run(["schemes", "mlp"])
        #expect(text.status == 0 && text.stdout.contains("multi_modal_projector.linear_1.weight"))
        let unknown = try CLI.run(["schemes", "mlpx", "--json"])
        #expect(unknown.status == 2)
        try expectSchema(unknown, "schemes.schema.json")
        #expect(try errorCode(unknown) == "unknown-value")
    }

    @Test func convertSchemeWritesTheTargetNames() throws {
        let out = scratch.file("lavis.safetensors")
        let result = try CLI.run(["convert", CLI.fixture("runtime/blip2/hf/model.safetensors"), out, "--scheme", "lavis", "--connector",
                                  "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        let written = try CheckpointReader.open(out)
        #expect(written.tensor(named: "Qformer.bert.embeddings.LayerNorm.weight") != nil && written.tensor(named: "opt_proj.weight") != nil)
        let validate = try CLI.run(["validate", out, "--dim", "heads=4", "--json"])
        #expect(validate.status == 0, "\(validate.stdout)")
        #expect(try CLI.json(validate)["scheme"]?.stringValue == "lavis")
    }

    @Test func aSchemeRefusalNamesTheInputFile() throws {
        let input = CLI.fixture("runtime/blip2/hf/model.safetensors")
        let out = scratch.file("named.gguf")
        let text = try CLI.run(["convert", input, out, "--scheme", "mmproj"])
        #expect(text.status == 2 && text.stderr.contains("\(input): the qformer connector"), "\(text.stderr)")
        let json = try CLI.run(["convert", input, out, "--scheme", "mmproj", "--json"])
        let code = try CLI.json(json)["code"]?.stringValue
        #expect(json.status == 2 && code == "unknown-value", "\(json.stdout)")
        let mmproj = CLI.fixture("runtime/minicpmv-2.6/mmproj/mmproj.gguf")
        let split = try CLI.run(["convert", mmproj, out, "--scheme", "mmproj", "--exclude", "resampler.attn.k.weight"])
        #expect(split.status == 2 && split.stderr.contains("\(mmproj): the selection keeps"), "\(split.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func convertSchemeRefusals() throws {
        let out = scratch.file("o.gguf")
        // A Q-Former has no mmproj scheme (llama.cpp does not run it).
        let qformer = try CLI.run(["convert", CLI.fixture("runtime/blip2/hf/model.safetensors"), out, "--scheme", "mmproj"])
        #expect(qformer.status == 2 && qformer.stderr.contains("no naming scheme 'mmproj'") && qformer.stderr.contains("hf, lavis"))
        let unknown = try CLI.run(["convert", CLI.fixture("runtime/blip2/hf/model.safetensors"), out, "--scheme", "gguf"])
        #expect(unknown.status == 2 && unknown.stderr.contains("unknown naming scheme"))
        // llama.cpp's precomputed key positions are left out of the repository's names (the graph computes them).
        let computed = scratch.file("computed.safetensors")
        let dropped = try CLI.run(["convert", CLI.fixture("runtime/minicpmv-2.6/mmproj/mmproj.gguf"), computed, "--scheme", "minicpmv",
                                   "--connector"])
        #expect(dropped.status == 0, "\(dropped.stderr)")
        #expect(try CheckpointReader.open(computed).tensor(named: "resampler.pos_embed_k") == nil)
        // A broken connector fails its checks: exit 1, nothing written.
        let broken = try CLI.run(["convert", CLI.repositoryRoot + "/examples/broken-llava-tiny", out, "--scheme", "hf"])
        #expect(broken.status == 1 && broken.stderr.contains("shape-mismatch"))
        // Selecting one part of a split projection.
        let parts = try CLI.run(["convert", CLI.fixture("runtime/minicpmv-2.6/mmproj/mmproj.gguf"), out, "--scheme", "mmproj",
                                 "--exclude", "resampler.attn.k.weight"])
        #expect(parts.status == 2 && parts.stderr.contains("select all of them or none"), "\(parts.stderr)")
        // The output is the input.
        let copy = scratch.file("in.safetensors")
        try FileManager.default.copyItem(atPath: CLI.fixture("runtime/qwen2-vl/hf/model.safetensors"), toPath: copy)
        let same = try CLI.run(["convert", copy, copy, "--scheme", "hf-legacy", "--force"])
        #expect(same.status == 2 && same.stderr.contains("never writes over an input"))
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    /// A LLaVA projector spliced into a base (the fixture's mmproj, copied): JSON per schema, exit 0; another
    /// kind: exit 1 with the report, nothing written; not an mmproj: exit 2 with an error object.
    @Test func spliceOutcomes() throws {
        let base = scratch.file("base.gguf")
        try FileManager.default.copyItem(atPath: CLI.fixture("runtime/mlp2x_gelu/mmproj/mmproj.gguf"), toPath: base)
        let out = scratch.file("out.gguf")
        let ok = try CLI.run(["splice", base, CLI.fixture("runtime/llava-next/llava/model.safetensors"), "-o", out, "--json"])
        #expect(ok.status == 0, "\(ok.stderr)")
        try expectSchema(ok, "splice.schema.json")
        #expect(try CLI.json(ok)["written"]?.boolValue == true)
        let text = try CLI.run(["splice", base, CLI.fixture("runtime/llava-next/llava/model.safetensors"), "-o", out, "--force", "--type", "q8_0"])
        #expect(text.status == 0 && text.stdout.contains("mm.0.weight") && text.stdout.contains("--type q8_0"), "\(text.stdout)\(text.stderr)")

        let other = scratch.file("other.gguf")
        let wrong = try CLI.run(["splice", base, CLI.fixture("runtime/qwen2-vl/hf/model.safetensors"), "-o", other, "--json"])
        #expect(wrong.status == 1)
        try expectSchema(wrong, "splice.schema.json")
        #expect(try CLI.json(wrong)["check"]?["diagnostics"]?.arrayValue?.contains { $0["code"]?.stringValue == "projector-type-mismatch" } == true)
        #expect(!FileManager.default.fileExists(atPath: other))

        let notMmproj = try CLI.run(["splice", CLI.fixture("runtime/qwen2-vl/hf/model.safetensors"),
                                     CLI.fixture("runtime/qwen2-vl/hf-legacy/model.safetensors"), "-o", other, "--json"])
        #expect(notMmproj.status == 2 && notMmproj.stderr.contains("not an llama.cpp mmproj"))
        try expectSchema(notMmproj, "splice.schema.json")
        let intoItself = try CLI.run(["splice", base, CLI.fixture("runtime/llava-next/llava/model.safetensors"), "-o", base, "--force", "--json"])
        #expect(intoItself.status == 2)
        #expect(try errorCode(intoItself) == "output-exists")
        let usage = try CLI.run(["splice", base, "--json"])
        #expect(usage.status == 2)
        try expectSchema(usage, "splice.schema.json")
    }
}
