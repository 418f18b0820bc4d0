import ConnectorGraph
import ConnkitTestSupport
import Testing
import TensorFormats
@testable import ConnectorRuntime

/// Reading features in every floating dtype, and plans the machine cannot hold.
@Suite struct FeaturesTests {
    /// f32, f16, bf16 and f64 features read as the same float32 values (values exact in every dtype).
    @Test(arguments: [DType.f32, .f16, .bf16, .f64])
    func featuresOfEveryFloatingDtype(dtype: DType) throws {
        let scratch = try Scratch()
        let values: [Float] = (0 ..< 24).map { Float($0 - 12) * 0.25 }
        let tensor = try TestSupport.tensor("x", [2, 3, 4], values, dtype: dtype)
        let path = scratch.file("features.safetensors")
        try CheckpointWriter(path: path).write([OutputTensor(copying: tensor)], metadata: [])
        let features = try Features.read(path: path)
        #expect(features.shape == [2, 3, 4] && features.batch == 2 && features.batchAxis)
        #expect(features.values.array == values)
    }

    @Test func integerFeaturesAndSeveralFloatingTensorsAreRefused() throws {
        let scratch = try Scratch()
        let path = scratch.file("two.safetensors")
        try CheckpointWriter(path: path).write([OutputTensor(copying: try TestSupport.tensor("a", [2, 2], [1, 2, 3, 4])),
                                                OutputTensor(copying: try TestSupport.tensor("b", [2, 2], [1, 2, 3, 4]))], metadata: [])
        #expect(throws: RuntimeError.self) { try Features.read(path: path) }
        #expect(try Features.read(path: path, tensorName: "b").shape == [2, 2])
        #expect(throws: RuntimeError.self) { try Features.read(path: path, tensorName: "c") }
    }

    /// Sizes come from checked arithmetic, and a plan larger than the machine's memory is refused before
    /// anything is allocated.
    @Test func plansBeyondTheMachineAreRefused() throws {
        var g = SplitMix(seed: 1)
        let graph = TestSupport.graph([TestSupport.node("proj", .linear(in: "D", out: "D", bias: false), ["image"], "out")])
        let connector = try TestSupport.connector(graph, dims: ["D": 8], weights: ["proj.weight": ([8, 8], g.floats(64))])
        #expect(throws: RuntimeError.self) { try connector.plan(tokens: 1 << 40) }
        #expect(throws: RuntimeError.self) { try connector.plan(tokens: Int.max / 2) }
        #expect(try connector.plan(tokens: 16).activationBytes > 0)
        #expect(throws: RuntimeError.self) { try WeightStore([StoredParameter(role: "w", tensors: [], shape: [1 << 40, 1 << 20])]) }
    }
}
