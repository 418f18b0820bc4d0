import Testing
import TensorFormats
@testable import ConnectorGraph

/// `ValidationReport.connector`: the graph, every dimension's value and each parameter's stored
/// tensors with their layout, on the real-dimension layouts (Tests/Fixtures/graph/meta).
@Suite struct BoundConnectorTests {
    func bind(_ fixture: String, config: Bool = true) throws -> (ValidationReport, BoundConnector) {
        let meta = try MetaFixture(fixture + ".json")
        let checkpoint = try meta.checkpoint(directory: temporaryDirectory())
        let report = Validator.validate(ValidationRequest(checkpoint: checkpoint, config: config ? meta.config : nil, checkValues: false))
        let connector = try #require(report.connector, "\(fixture):\n\(report.text)")
        return (report, connector)
    }

    func names(_ parameter: BoundParameter?) -> [String]? { parameter?.tensors.map(\.name) }

    @Test func llavaProjectorIsDirectAndItsNewlineAbsent() throws {
        let (report, connector) = try bind("llava-1.5-7b__llava")
        #expect(report.valid)
        #expect(connector.family == "mlp" && connector.variant == "mlp2x_gelu" && connector.scheme == "llava")
        #expect(connector.graph.name == "llava-mlp")
        let dims = Dictionary(uniqueKeysWithValues: connector.dimensions.map { ($0.symbol, $0.value) })
        #expect(dims["D_enc"] == 1024 && dims["D_llm"] == 4096 && dims["depth"] == 2 && dims["F"] == 1)
        let first = try #require(connector.parameter(role: "proj.0.weight"))
        #expect(first.layout == .direct && first.shape == [4096, 1024] && first.node == "proj.0" && first.slot == "weight")
        #expect(names(first) == ["model.mm_projector.0.weight"])
        // The repeat `more` (index k) holds proj.{k+1}: the second Linear is proj.1 at k = 0.
        let block = try #require(connector.graph.nodes.compactMap { node -> RepeatBlock? in
            if case .repeatBlock(let block) = node { return block } else { return nil }
        }.first)
        #expect(connector.value(block.count) == 1)
        guard case .operation(let linear) = block.body[1] else { Issue.record("expected the Linear"); return }
        #expect(names(connector.parameter(linear.params[0], indices: ["k": 0])) == ["model.mm_projector.2.weight"])
        #expect(connector.parameter(linear.params[0], indices: ["k": 1]) == nil)
        // LLaVA-1.5 has no image_newline: the optional node is absent.
        let newline = try #require(connector.parameter(role: "image_newline.newline"))
        #expect(newline.layout == .absent && newline.tensors.isEmpty)
        #expect(report.connectorTensors == connector.parameters.flatMap(\.tensors).map(\.name))
    }

    @Test func llavaNextNewlineIsPresent() throws {
        let (_, connector) = try bind("llava-v1.6-mistral-7b__hf")
        let newline = try #require(connector.parameter(role: "image_newline.newline"))
        #expect(newline.layout == .direct && names(newline) == ["model.image_newline"] && newline.shape == [4096])
    }

    @Test func minicpmvStoresProjTransposedAndOmitsTheKeyTable() throws {
        let (report, connector) = try bind("minicpm-v-2__minicpmv")
        #expect(report.valid && connector.variant == "minicpmv-2.0")
        let proj = try #require(connector.parameter(role: "proj.weight"))
        #expect(proj.layout == .transposed && names(proj) == ["resampler.proj"] && proj.shape == [2304, 2304])
        let qkv = try #require(connector.parameter(role: "attn.qkv.weight"))
        #expect(qkv.layout == .direct && qkv.shape == [6912, 2304])
        // The scheme never stores llama.cpp's key position table.
        #expect(connector.parameter(role: "pos_embed_k.table")?.layout == .absent)
        #expect(connector.parameter(role: "pos_embed.table")?.layout == .direct)
    }

    @Test func mmprojSplitsTheFusedProjection() throws {
        let (report, connector) = try bind("minicpm-v-2_6__mmproj")
        #expect(report.valid)
        let qkv = try #require(connector.parameter(role: "attn.qkv.weight"))
        #expect(qkv.layout == .parts && qkv.shape == [3 * 3584, 3584])
        #expect(names(qkv) == ["resampler.attn.q.weight", "resampler.attn.k.weight", "resampler.attn.v.weight"])
        #expect(connector.parameter(role: "proj.weight")?.layout == .direct)
        #expect(connector.parameter(role: "pos_embed.table")?.layout == .absent)
    }

    @Test func llamaCppSqueezesConvolutions() throws {
        let (report, connector) = try bind("mobilevlm-1.7b__mmproj")
        #expect(report.valid)
        let depthwise = try #require(connector.parameter(role: "mb_block.1.dw.weight"))
        #expect(depthwise.layout == .squeezed && depthwise.shape == [2048, 1, 3, 3])
        #expect(depthwise.tensors.first?.shape == [2048, 3, 3])
        #expect(connector.parameter(role: "mb_block.1.se.fc1.weight")?.shape == [512, 2048, 1, 1])
    }

    @Test func conditionedLayersBindOnlyWhereTheyRun() throws {
        let (report, connector) = try bind("blip2-opt-2.7b__hf")
        #expect(report.valid)
        #expect(connector.dimensions.first { $0.key == "cross_every" }?.value == 2)
        #expect(names(connector.parameter(role: "layers.0.xattn.q.weight")) == ["qformer.encoder.layer.0.crossattention.attention.query.weight"])
        #expect(connector.parameter(role: "layers.1.xattn.q.weight") == nil)
        #expect(connector.parameter(role: "layers.11.ffn.up.weight")?.shape == [3072, 768])
        #expect(connector.value("H/heads") == 64)
        #expect(connector.value("X*i", indices: ["i": 3]) == 6)
    }

    @Test func customGraphIsReportedAsCustom() throws {
        let meta = try MetaFixture("llava-1.5-7b__llava.json")
        let checkpoint = try meta.checkpoint(directory: temporaryDirectory())
        let graph = try #require(Catalog.variant(.mlp, "mlp2x_gelu")?.graph)
        let report = Validator.validate(ValidationRequest(checkpoint: checkpoint, graph: graph, checkValues: false))
        let connector = try #require(report.connector)
        #expect(connector.family == "custom" && connector.variant == "custom" && connector.scheme == "custom")
        #expect(connector.graph == graph)
    }

    @Test func noConnectorNoBinding() throws {
        let checkpoint = Checkpoint(path: "empty", format: .safetensors, metadata: [], tensors: [memoryTensor("unrelated.weight", [2, 2])])
        let report = Validator.validate(ValidationRequest(checkpoint: checkpoint))
        #expect(report.connector == nil)
        #expect(report.diagnostics.map(\.code) == [.noConnector])
    }
}
