import Testing
import TensorFormats
@testable import ConnectorGraph

/// For each check, a broken variant of a real layout fails with the expected code naming the right
/// tensor. Layouts come from the meta-device fixtures (real dimensions, sparse files, no values read).
@Suite struct BrokenVariantTests {
    struct Case {
        var fixture: String
        var mutate: ([(String, [Int])]) -> [(String, [Int])] = { $0 }
        var dtypes: [String: DType] = [:]
        var metadata: ((inout [MetadataEntry]) -> Void)? = nil
        var claims: [DimensionClaim] = []
        var config: String? = nil
        var family: Family? = nil
    }

    func run(_ c: Case) throws -> ValidationReport {
        let fixture = try MetaFixture(c.fixture + ".json")
        let layout = c.mutate(fixture.tensors)
        var metadata = fixture.metadata
        c.metadata?(&metadata)
        let directory = temporaryDirectory()
        var infos: [TensorInfo] = []
        for (name, shape) in layout { infos.append(try TensorInfo(name: name, dtype: c.dtypes[name] ?? .f16, shape: shape)) }
        let base = try sparseCheckpoint(layout, format: fixture.format, metadata: metadata, directory: directory)
        let tensors = zip(base.tensors, infos).map { tensor, info in Tensor(info: info, data: tensor.data) }
        let checkpoint = Checkpoint(path: base.path, format: base.format, metadata: metadata, tensors: tensors)
        let config = c.config.map { ConfigReader.interpret(try! JSONValue.parse($0), file: "config.json") }
        return Validator.validate(ValidationRequest(checkpoint: checkpoint, family: c.family, flagClaims: c.claims, configs: config.map { [$0] } ?? [],
                                                    checkValues: false))
    }

    func expect(_ report: ValidationReport, _ code: DiagnosticCode, tensor: String?, sourceLocation: SourceLocation = #_sourceLocation) {
        let hit = report.diagnostics.contains { $0.code == code && (tensor == nil || $0.tensors.contains(tensor!)) }
        #expect(hit, "expected \(code.rawValue) on \(tensor ?? "-")\n\(report.text)", sourceLocation: sourceLocation)
        if code.severity == .error { #expect(!report.valid, sourceLocation: sourceLocation) }
    }

    static func replace(_ name: String, _ shape: [Int]) -> ([(String, [Int])]) -> [(String, [Int])] {
        { layout in layout.map { $0.0 == name ? ($0.0, shape) : $0 } }
    }

    static func drop(_ name: String) -> ([(String, [Int])]) -> [(String, [Int])] {
        { layout in layout.filter { $0.0 != name } }
    }

    static func add(_ name: String, _ shape: [Int]) -> ([(String, [Int])]) -> [(String, [Int])] {
        { layout in layout + [(name, shape)] }
    }

    static let llm13b = DimensionClaim(key: "llm", value: 5120, source: .preset("vicuna-13b"))

    @Test func shapeMismatchAgainstThePresetLLM() throws {
        // The issue's example: a 7B projector (4096) checked against a 13B LLM (5120). The LLM stored in the
        // checkpoint says 4096 too: one wrong dimension, one diagnostic naming both sources and every
        // projector tensor it affects (issue 10, item 14: this was a conflict plus four shape mismatches).
        let report = try run(Case(fixture: "llava-1.5-7b__llava", claims: [Self.llm13b]))
        expect(report, .dimensionConflict, tensor: "model.mm_projector.2.weight")
        let diagnostic = try #require(report.diagnostics.first { $0.tensors.contains("model.mm_projector.2.weight") })
        #expect(diagnostic.tensors == ["model.mm_projector.0.weight", "model.mm_projector.0.bias", "model.mm_projector.2.weight",
                                       "model.mm_projector.2.bias"])
        #expect(diagnostic.expected == [5120] && diagnostic.found == [4096])
        #expect(diagnostic.message.contains("preset vicuna-13b") && diagnostic.message.contains("model.embed_tokens.weight"))
        #expect(report.diagnostics.filter { $0.severity == .error }.count == 1, "\(report.text)")
    }

    @Test func shapeMismatchAgainstAFlagAlone() throws {
        // Only the tensors disagree with the flag: one shape-mismatch listing the four tensors, the first
        // tensor's shapes as expected/found.
        let projector = { (layout: [(String, [Int])]) in layout.filter { $0.0.hasPrefix("model.mm_projector.") } }
        let report = try run(Case(fixture: "llava-1.5-7b__llava", mutate: projector, claims: [Self.llm13b]))
        let errors = report.diagnostics.filter { $0.severity == .error }
        #expect(errors.count == 1, "\(report.text)")
        let diagnostic = try #require(errors.first)
        #expect(diagnostic.code == .shapeMismatch)
        #expect(diagnostic.tensors.count == 4 && diagnostic.tensor == "model.mm_projector.0.weight")
        #expect(diagnostic.expected == [5120, nil] && diagnostic.found == [4096, 1024])
        #expect(diagnostic.message.contains("4 tensors say llm = 4096"))
    }

    @Test func aWrongDimensionsConsequencesJoinIt() throws {
        // hidden=770 disagrees with every Q-Former tensor, and with 12 heads it is not divisible either: one
        // diagnostic says both, not a shape error per tensor plus heads-indivisible.
        let report = try run(Case(fixture: "blip2-opt-2.7b__hf", claims: [DimensionClaim(key: "hidden", value: 770, source: .flag("--dim hidden=770")),
                                                                           DimensionClaim(key: "heads", value: 12, source: .flag("--dim heads=12"))]))
        let errors = report.diagnostics.filter { $0.severity == .error }
        #expect(errors.count == 1, "\(report.text)")
        #expect(errors.first?.code == .shapeMismatch)
        #expect(errors.first?.message.hasSuffix("; with that value H = 770 is not a multiple of heads = 12 either") == true,
                "\(errors.first?.message ?? "")")
        #expect((errors.first?.tensors.count ?? 0) > 100)
    }

    @Test func shapeMismatchAgainstTheLLMInTheCheckpoint() throws {
        // The LLM stored alongside is 4096 wide; the second projector layer is 5120.
        let report = try run(Case(fixture: "llava-1.5-7b__hf", mutate: Self.replace("model.multi_modal_projector.linear_2.weight", [5120, 4096])))
        expect(report, .shapeMismatch, tensor: "model.multi_modal_projector.linear_2.weight")
    }

    @Test func encoderWidthMismatch() throws {
        // LLaVA #1161: a 1664-wide projector input on a 1024-wide tower.
        let report = try run(Case(fixture: "llava-1.5-7b__llava", mutate: Self.replace("model.mm_projector.0.weight", [4096, 1664]),
                                  claims: [DimensionClaim(key: "encoder", value: 1024, source: .flag("--encoder-dim"))]))
        expect(report, .shapeMismatch, tensor: "model.mm_projector.0.weight")
    }

    @Test func missingTensor() throws {
        let report = try run(Case(fixture: "llava-1.5-7b__hf", mutate: Self.drop("model.multi_modal_projector.linear_2.bias")))
        expect(report, .missingTensor, tensor: "model.multi_modal_projector.linear_2.bias")
    }

    @Test func missingSplitPart() throws {
        let report = try run(Case(fixture: "minicpm-v-2_6__mmproj", mutate: Self.drop("resampler.attn.k.weight")))
        expect(report, .missingTensor, tensor: "resampler.attn.k.weight")
    }

    @Test func duplicateConnectorUnderTwoPrefixes() throws {
        let legacy = try MetaFixture("llava-1.5-7b__hf-legacy.json").tensors.filter { $0.0.hasPrefix("multi_modal_projector.") }
        let report = try run(Case(fixture: "llava-1.5-7b__hf", mutate: { $0 + legacy }))
        expect(report, .duplicateConnector, tensor: "multi_modal_projector.linear_1.bias")
    }

    @Test func duplicateTensorUnderTwoAliases() throws {
        let report = try run(Case(fixture: "llava-v1.6-mistral-7b__mmproj", mutate: Self.add("v.image_newline", [4096])))
        expect(report, .duplicateTensor, tensor: "v.image_newline")
    }

    @Test func unexpectedConnectorTensor() throws {
        let report = try run(Case(fixture: "llava-1.5-7b__hf", mutate: Self.add("model.multi_modal_projector.norm.weight", [4096])))
        expect(report, .unexpectedTensor, tensor: "model.multi_modal_projector.norm.weight")
        #expect(report.valid)
    }

    @Test func wrongRank() throws {
        let report = try run(Case(fixture: "llava-1.5-7b__hf", mutate: Self.replace("model.multi_modal_projector.linear_1.weight", [4096, 1024, 2])))
        expect(report, .wrongRank, tensor: "model.multi_modal_projector.linear_1.weight")
    }

    @Test func transposedWeight() throws {
        let report = try run(Case(fixture: "llava-1.5-7b__hf", mutate: Self.replace("model.multi_modal_projector.linear_1.weight", [1024, 4096])))
        expect(report, .transposedWeight, tensor: "model.multi_modal_projector.linear_1.weight")
        // The transposed matrix still binds the widths the right way round: nothing else is blamed.
        #expect(report.diagnostics.filter { $0.severity == .error }.count == 1, "\(report.text)")
        #expect(report.dim("encoder") == 1024)
    }

    @Test func headsNotDividingTheWidth() throws {
        let report = try run(Case(fixture: "blip2-opt-2.7b__hf", claims: [DimensionClaim(key: "heads", value: 10, source: .flag("--dim heads=10"))]))
        expect(report, .headsIndivisible, tensor: "qformer.encoder.layer.0.attention.attention.query.weight")
    }

    @Test func resamplerWidthNotAMultipleOfTheHeadWidth() throws {
        let report = try run(Case(fixture: "minicpm-v-2_6__minicpmv", claims: [DimensionClaim(key: "head_dim", value: 100, source: .flag("--dim head_dim=100"))]))
        expect(report, .headsIndivisible, tensor: "resampler.attn.in_proj_weight")
    }

    @Test func queryCountAgainstTheConfig() throws {
        let config = #"{"model_type": "blip-2", "num_query_tokens": 64, "text_config": {"model_type": "opt", "hidden_size": 2560}}"#
        let report = try run(Case(fixture: "blip2-opt-2.7b__hf", config: config))
        expect(report, .queryCountMismatch, tensor: "query_tokens")
    }

    @Test func crossAttentionLayersAgainstTheInterval() throws {
        // OpenFlamingo-9B has gated blocks after every 4th layer (3, 7, …); an interval of 8 puts them at 7, 15, ….
        let report = try run(Case(fixture: "openflamingo-9b-vitl-mpt7b__open_flamingo",
                                  claims: [DimensionClaim(key: "cross_every", value: 8, source: .flag("--dim cross_every=8"))]))
        expect(report, .crossAttnLayers, tensor: "lang_encoder.gated_cross_attn_layers.3.attn.norm.weight")
    }

    @Test func crossAttentionLayersInferredFromTheNames() throws {
        let report = try run(Case(fixture: "openflamingo-9b-vitl-mpt7b__open_flamingo"))
        #expect(report.valid)
        #expect(report.dim("cross_every") == 4)
        // A missing block (layer 11) breaks the pattern.
        let broken = try run(Case(fixture: "openflamingo-9b-vitl-mpt7b__open_flamingo",
                                  mutate: { $0.filter { !$0.0.hasPrefix("lang_encoder.gated_cross_attn_layers.11.") } },
                                  claims: [DimensionClaim(key: "cross_every", value: 4, source: .flag("--dim cross_every=4"))]))
        expect(broken, .crossAttnLayers, tensor: "lang_encoder.gated_cross_attn_layers.11.attn.norm.weight")
    }

    @Test func qformerCrossAttentionFrequency() throws {
        let config = #"{"model_type": "blip-2", "qformer_config": {"cross_attention_frequency": 1}, "text_config": {"model_type": "opt", "hidden_size": 2560}}"#
        let report = try run(Case(fixture: "blip2-opt-2.7b__hf", config: config))
        expect(report, .crossAttnLayers, tensor: "qformer.encoder.layer.1.crossattention.attention.query.weight")
    }

    @Test func layerCountAgainstTheConfig() throws {
        let report = try run(Case(fixture: "blip2-opt-2.7b__hf", claims: [DimensionClaim(key: "layers", value: 10, source: .flag("--dim layers=10"))]))
        expect(report, .layerCountMismatch, tensor: "qformer.encoder.layer.10.attention.attention.query.weight")
    }

    @Test func zeroElementPlaceholder() throws {
        // DeepSpeed ZeRO-3 saves partitioned parameters as torch.Size([0]) (LLaVA #665).
        let report = try run(Case(fixture: "llava-1.5-7b__llava", mutate: Self.replace("model.mm_projector.0.weight", [0])))
        expect(report, .zeroElements, tensor: "model.mm_projector.0.weight")
    }

    @Test func bitsandbytesPackedWeight() throws {
        // LLaVA #433: a 4-bit Linear4bit expects [2097152, 1] for a [4096, 1024] weight.
        let report = try run(Case(fixture: "llava-1.5-7b__llava", mutate: Self.replace("model.mm_projector.0.weight", [2_097_152, 1]),
                                  dtypes: ["model.mm_projector.0.weight": .u8]))
        expect(report, .packedQuantized, tensor: "model.mm_projector.0.weight")
    }

    @Test func integerWhereAFloatBelongs() throws {
        let report = try run(Case(fixture: "llava-1.5-7b__llava", dtypes: ["model.mm_projector.0.bias": .i32]))
        expect(report, .unexpectedDType, tensor: "model.mm_projector.0.bias")
    }

    @Test func dimensionSourcesDisagree() throws {
        let config = #"{"model_type": "llava", "hidden_size": 4096, "mm_hidden_size": 1024, "mm_projector_type": "mlp2x_gelu"}"#
        let report = try run(Case(fixture: "llava-1.5-7b__llava", claims: [Self.llm13b], config: config))
        expect(report, .dimensionConflict, tensor: nil)
        let conflict = try #require(report.diagnostics.first { $0.code == .dimensionConflict })
        #expect(conflict.message.contains("preset vicuna-13b") && conflict.message.contains("hidden_size"))
    }

    @Test func declaredProjectorTypeDisagrees() throws {
        // LLaVA #1345: the config says nothing (linear), the weights are mlp2x_gelu.
        let config = #"{"model_type": "llava", "hidden_size": 4096, "mm_hidden_size": 1024}"#
        let report = try run(Case(fixture: "llava-1.5-7b__llava", config: config))
        expect(report, .projectorTypeMismatch, tensor: nil)
    }

    @Test func mmprojProjectorType() throws {
        let missing = try run(Case(fixture: "llava-1.5-7b__mmproj", metadata: { $0.removeAll { $0.key == "clip.projector_type" } }))
        expect(missing, .projectorTypeMissing, tensor: nil)
        #expect(missing.valid)
        #expect(missing.diagnostics.first { $0.code == .projectorTypeMissing }?.hint?.contains("\"mlp\"") == true)
        let unknown = try run(Case(fixture: "llava-1.5-7b__mmproj", metadata: { entries in
            entries = entries.map { $0.key == "clip.projector_type" ? MetadataEntry($0.key, .string("gemma9v")) : $0 }
        }))
        expect(unknown, .projectorTypeUnknown, tensor: nil)
        let wrong = try run(Case(fixture: "llava-1.5-7b__mmproj", metadata: { entries in
            entries = entries.map { $0.key == "clip.projector_type" ? MetadataEntry($0.key, .string("ldp")) : $0 }
        }))
        expect(wrong, .projectorTypeMismatch, tensor: nil)
    }

    @Test func mmprojMetadataDisagreesWithShapes() throws {
        let report = try run(Case(fixture: "qwen2-vl-7b__mmproj", metadata: { entries in
            entries = entries.map { $0.key == "clip.vision.embedding_length" ? MetadataEntry($0.key, .uint32(1024)) : $0 }
        }))
        expect(report, .metadataMismatch, tensor: nil)
        #expect(report.valid)
        #expect(report.dim("encoder") == 1280)
    }

    @Test func noConnectorAtAll() throws {
        let report = try run(Case(fixture: "llava-1.5-7b__hf", mutate: { $0.filter { !$0.0.contains("multi_modal_projector") } }))
        expect(report, .noConnector, tensor: nil)
        #expect(report.family == nil)
    }

    @Test func twoConnectorsAreSeveralConnectors() throws {
        // Two complete connectors of different families over disjoint tensors: `multiple-connectors` naming both
        // (issue 10, item 4; `ambiguous-family` before).
        let merger = try MetaFixture("qwen2-vl-7b__hf.json").tensors.filter { $0.0.contains("merger") }
        let report = try run(Case(fixture: "llava-1.5-7b__hf", mutate: { $0 + merger }))
        expect(report, .multipleConnectors, tensor: "model.multi_modal_projector.linear_1.bias")
        let several = try #require(report.diagnostics.first { $0.code == .multipleConnectors })
        #expect(several.message.contains("mlp/mlpNx_gelu") && several.message.contains("patch-merger/qwen2-vl"))
        #expect(several.tensors == ["model.multi_modal_projector.linear_1.bias", "model.visual.merger.ln_q.bias"])
        #expect(report.family == nil)
        // A config naming one of them does not hide the other.
        let config = #"{"model_type": "llava", "vision_config": {"hidden_size": 1024}, "text_config": {"hidden_size": 4096}}"#
        expect(try run(Case(fixture: "llava-1.5-7b__hf", mutate: { $0 + merger }, config: config)), .multipleConnectors, tensor: nil)
        // --family settles it.
        let chosen = try run(Case(fixture: "llava-1.5-7b__hf", mutate: { $0 + merger }, family: .patchMerger))
        #expect(chosen.family == "patch-merger")
    }

    @Test func unresolvedDimensionInACustomGraph() throws {
        // Two unknown factors of one axis with nothing to tell them apart.
        let text = """
            {"format": "connkit-connector-graph", "version": 1, "name": "two-factors", "family": "mine",
             "dimensions": [{"symbol": "A"}, {"symbol": "B"}, {"symbol": "C", "key": "llm"}, {"symbol": "N", "key": "tokens"}],
             "inputs": [{"name": "x", "shape": ["N", "A*B"]}],
             "nodes": [{"name": "proj", "op": "linear", "inputs": ["x"], "output": "y", "in": "A*B", "out": "C", "bias": false}],
             "outputs": [{"name": "y", "shape": ["N", "C"]}]}
            """
        let graph = try ConnectorGraph.parse(json: text)
        let directory = temporaryDirectory()
        let checkpoint = try sparseCheckpoint([("proj.weight", [64, 96])], directory: directory)
        let report = Validator.validate(ValidationRequest(checkpoint: checkpoint, graph: graph, checkValues: false))
        expect(report, .unresolvedDimension, tensor: "proj.weight")
        #expect(report.family == "custom" && report.dim("llm") == 64)
    }
}
