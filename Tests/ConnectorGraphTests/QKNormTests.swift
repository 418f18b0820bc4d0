import Testing
import TensorFormats
@testable import ConnectorGraph

/// IDEFICS's perceiver with and without per-head q/k LayerNorms (`qk_layer_norms_perceiver`, false in
/// transformers' default and idefics-9b's public config), on the forward-pass fixtures' checkpoints.
@Suite struct QKNormTests {
    func report(_ fixture: String, dropping dropped: String? = nil) throws -> ValidationReport {
        let folder = repositoryRoot + "/Tests/Fixtures/runtime/\(fixture)/hf/"
        let checkpoint = try CheckpointReader.open(folder + "model.safetensors")
        let kept = Checkpoint(path: checkpoint.path, format: checkpoint.format, metadata: checkpoint.metadata,
                              tensors: checkpoint.tensors.filter { $0.name != dropped })
        return Validator.validate(ValidationRequest(checkpoint: kept, configs: [try ConfigReader.read(path: folder + "config.json")]))
    }

    @Test func withoutTheNormsTheConnectorIsValid() throws {
        let without = try report("idefics-noqk")
        #expect(without.valid && without.variant == "idefics", "\(without.diagnostics.map(\.message))")
        let connector = try #require(without.connector)
        #expect(connector.parameter(role: "blocks.0.attn.q_norm.weight")?.layout == .absent)
        let with = try report("idefics")
        #expect(with.valid)
        #expect(with.connector?.parameter(role: "blocks.0.attn.q_norm.weight")?.layout == .direct)
    }

    @Test func halfAPairIsMissing() throws {
        let broken = try report("idefics", dropping: "model.perceiver_resampler.blocks.1.0.k_layer_norm.weight")
        #expect(!broken.valid)
        #expect(broken.diagnostics.contains { $0.code == .missingTensor && $0.tensor == "model.perceiver_resampler.blocks.1.0.k_layer_norm.weight" })
    }
}
