import Testing
import TensorFormats
@testable import ConnectorGraph

/// Node attributes a config sets over the graph's: norm epsilons from the connector's own sub-config,
/// InternVL's pixel-shuffle order; and the precedence config > description > PyTorch default.
@Suite struct ConfiguredAttributesTests {
    func facts(_ text: String) throws -> ConfigFacts { ConfigReader.interpret(try JSONValue.parse(text), file: "config.json") }

    @Test func qformerEpsComesFromItsSubConfig() throws {
        let blip2 = try facts(#"{"model_type": "blip-2", "qformer_config": {"layer_norm_eps": 1e-6}, "text_config": {"layer_norm_eps": 0.25}}"#)
        #expect(blip2.attributes.layerNormEps == 1e-6 && blip2.attributes.rmsNormEps == nil)
        #expect(blip2.attributes.sources == ["config.json: qformer_config.layer_norm_eps"])
        // Without the key the family's value (BERT's 1e-12) stays.
        #expect(try facts(#"{"model_type": "blip-2", "qformer_config": {}}"#).attributes.layerNormEps == nil)
    }

    @Test func idefics2PerceiverEpsAndItsFallbackToTheTextModel() throws {
        #expect(try facts(#"{"model_type": "idefics2", "perceiver_config": {"rms_norm_eps": 1e-5}}"#).attributes.rmsNormEps == 1e-5)
        // Idefics2Config.__post_init__: a perceiver config whose (default 4096) width differs from the text model's
        // takes the text model's epsilon.
        let differs = try facts(#"{"model_type": "idefics2", "perceiver_config": {}, "text_config": {"hidden_size": 2048, "rms_norm_eps": 1e-4}}"#)
        #expect(differs.attributes.rmsNormEps == 1e-4)
        #expect(try facts(#"{"model_type": "idefics2", "perceiver_config": {}, "text_config": {"hidden_size": 4096}}"#).attributes.rmsNormEps == nil)
    }

    @Test func llavaConfigsSetNoConnectorEps() throws {
        // The top-level rms_norm_eps of an original LLaVA config is the LLM's, not the projector's.
        let llava = try facts(#"{"mm_hidden_size": 1024, "hidden_size": 4096, "rms_norm_eps": 1e-5, "mm_projector_type": "mlp2x_gelu_Norm"}"#)
        #expect(llava.attributes == ConfiguredAttributes())
    }

    @Test func internvlPsVersion() throws {
        #expect(try facts(#"{"model_type": "internvl_chat", "ps_version": "v1"}"#).attributes.pixelShuffleOrder == .columns)
        #expect(try facts(#"{"model_type": "internvl_chat", "ps_version": "v2"}"#).attributes.pixelShuffleOrder == .rows)
        #expect(try facts(#"{"model_type": "internvl_chat"}"#).attributes.pixelShuffleOrder == nil)
    }

    @Test func precedenceConfigThenDescriptionThenDefault() throws {
        let qformer = Catalog.defaultVariant(of: .qformer).graph
        var norm: OperationNode?
        qformer.forEachOperation { node, _ in if norm == nil, case .layerNorm = node.operation { norm = node } }
        let node = try #require(norm)
        #expect(node.normEps() == 1e-12)
        #expect(node.normEps(ConfiguredAttributes(layerNormEps: 1e-6)) == 1e-6)
        #expect(node.normEps(ConfiguredAttributes(rmsNormEps: 1e-3)) == 1e-12)
        var plain = node
        plain.eps = nil
        #expect(plain.normEps() == 1e-5)
    }
}
