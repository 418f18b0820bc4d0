import Testing
import TensorFormats
@testable import ConnectorGraph

/// `ValidationReport.connector`: the graph, every dimension's value and each parameter's stored
/// tensors with their layout, on the real-dimension layouts (Tests/Fixtures/graph/meta).
@Suite struct BoundConnectorTests {
    func bind(_ fixture: String) throws -> (ValidationReport, BoundConnector) {
        let meta = try MetaFixture(fixture + ".json")
        let checkpoint = try meta.checkpoint(directory: temporaryDirectory())
        let report = Validator.validate(ValidationRequest(checkpoint: checkpoint, configs: meta.config.map { [$0] } ?? [], checkValues: false))
        let connector = try #require(report.connector, "\(fixture):\n\(report.text)")
        #expect(report.valid, "\(fixture):\n\(report.text)")
        return (report, connector)
    }

    struct LayoutCase: Sendable, CustomTestStringConvertible {
        var fixture: String
        var role: String
        var layout: BoundParameter.Layout
        var tensors: [String]
        var shape: [Int?]
        var testDescription: String { "\(fixture) \(role)" }
    }

    /// One parameter per storage layout, each in the scheme that stores it so.
    static let layouts: [LayoutCase] = [
        LayoutCase(fixture: "llava-1.5-7b__llava", role: "proj.0.weight", layout: .direct, tensors: ["model.mm_projector.0.weight"],
                   shape: [4096, 1024]),
        // LLaVA-1.5 has no image_newline (an optional node, absent); LLaVA-NeXT has one.
        LayoutCase(fixture: "llava-1.5-7b__llava", role: "image_newline.newline", layout: .absent, tensors: [], shape: [4096]),
        LayoutCase(fixture: "llava-v1.6-mistral-7b__hf", role: "image_newline.newline", layout: .direct, tensors: ["model.image_newline"],
                   shape: [4096]),
        // MiniCPM-V's repository stores `proj` as x @ P, and never the key position table llama.cpp adds.
        LayoutCase(fixture: "minicpm-v-2__minicpmv", role: "proj.weight", layout: .transposed, tensors: ["resampler.proj"],
                   shape: [2304, 2304]),
        LayoutCase(fixture: "minicpm-v-2__minicpmv", role: "attn.qkv.weight", layout: .direct, tensors: ["resampler.attn.in_proj_weight"],
                   shape: [6912, 2304]),
        LayoutCase(fixture: "minicpm-v-2__minicpmv", role: "pos_embed_k.table", layout: .absent, tensors: [], shape: [4900, 2304]),
        // llama.cpp splits the fused projection and drops MiniCPM-V 2.6's query position table.
        LayoutCase(fixture: "minicpm-v-2_6__mmproj", role: "attn.qkv.weight", layout: .parts,
                   tensors: ["resampler.attn.q.weight", "resampler.attn.k.weight", "resampler.attn.v.weight"], shape: [10752, 3584]),
        LayoutCase(fixture: "minicpm-v-2_6__mmproj", role: "pos_embed.table", layout: .absent, tensors: [], shape: [64, 3584]),
        // llama.cpp's legacy converter squeezes convolutions.
        LayoutCase(fixture: "mobilevlm-1.7b__mmproj", role: "mb_block.1.dw.weight", layout: .squeezed,
                   tensors: ["mm.model.mb_block.1.block.0.0.weight"], shape: [2048, 1, 3, 3]),
        LayoutCase(fixture: "mobilevlm-1.7b__mmproj", role: "mb_block.1.se.fc1.weight", layout: .squeezed,
                   tensors: ["mm.model.mb_block.1.block.1.fc1.weight"], shape: [512, 2048, 1, 1]),
    ]

    @Test(arguments: layouts)
    func storageLayouts(_ c: LayoutCase) throws {
        let (_, connector) = try bind(c.fixture)
        let parameter = try #require(connector.parameter(role: c.role))
        #expect(parameter.layout == c.layout)
        #expect(parameter.tensors.map(\.name) == c.tensors)
        #expect(parameter.shape == c.shape)
    }

    @Test func dimensionsAndRepeats() throws {
        let (report, connector) = try bind("llava-1.5-7b__llava")
        #expect(connector.family == "mlp" && connector.variant == "mlp2x_gelu" && connector.scheme == "llava")
        #expect(connector.graph.name == "llava-mlp")
        let dims = Dictionary(uniqueKeysWithValues: connector.dimensions.map { ($0.symbol, $0.value) })
        #expect(dims["D_enc"] == 1024 && dims["D_llm"] == 4096 && dims["depth"] == 2 && dims["F"] == 1)
        let first = try #require(connector.parameter(role: "proj.0.weight"))
        #expect(first.node == "proj.0" && first.slot == "weight")
        // The repeat `more` (index k) holds proj.{k+1}: the second Linear is proj.1 at k = 0.
        let block = try #require(connector.graph.nodes.compactMap { node -> RepeatBlock? in
            if case .repeatBlock(let block) = node { return block } else { return nil }
        }.first)
        #expect(connector.value(block.count) == 1)
        guard case .operation(let linear) = block.body[1] else { Issue.record("expected the Linear"); return }
        #expect(connector.parameter(linear.params[0], indices: ["k": 0])?.tensors.map(\.name) == ["model.mm_projector.2.weight"])
        #expect(connector.parameter(linear.params[0], indices: ["k": 1]) == nil)
        #expect(report.connectorTensors == connector.parameters.flatMap(\.tensors).map(\.name))
    }

    @Test func conditionedLayersBindOnlyWhereTheyRun() throws {
        let (_, connector) = try bind("blip2-opt-2.7b__hf")
        #expect(connector.dimensions.first { $0.key == "cross_every" }?.value == 2)
        #expect(connector.parameter(role: "layers.0.xattn.q.weight")?.tensors.map(\.name)
            == ["qformer.encoder.layer.0.crossattention.attention.query.weight"])
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
