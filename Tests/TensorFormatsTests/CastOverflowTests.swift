import Testing
import TensorFormats

/// What a cast to f16 or bf16 turns into ±inf: the thresholds (numpy's f16 and ml_dtypes' bf16 give inf
/// exactly from them: `np.float32(65520).astype(np.float16)`, `np.float32(3.3961775e38).astype(bfloat16)`,
/// and the next smaller float32 stays finite), the counts and `--strict`.
struct CastOverflowTests {
    @Test func thresholdsAreTheFirstValuesThatRoundToInfinity() throws {
        let f16 = try #require(CastOverflow.threshold(.f16))
        let bf16 = try #require(CastOverflow.threshold(.bf16))
        for (target, limit) in [(DType.f16, f16), (.bf16, bf16)] {
            var values: [Float] = [limit, limit.nextDown, -limit]
            var encoded = [UInt16](repeating: 0, count: 3)
            Cast.fromFloat32(&values, count: 3, to: target, into: &encoded)
            var back = [Float](repeating: 0, count: 3)
            Cast.toFloat32(encoded, target, count: 3, into: &back)
            #expect(back[0] == .infinity && back[1].isFinite && back[2] == -.infinity, "\(target)")
        }
        #expect(CastOverflow.threshold(.f32) == nil)
    }

    @Test func countsPerTensorAndWarns() throws {
        let log = CastOverflow()
        let first: [Float] = [1, 70000, -.infinity, .nan, 65519, -65520]
        let second: [Float] = [1e6, 2]
        first.withUnsafeBufferPointer { log.check($0, castTo: .f16, tensor: "w") }
        second.withUnsafeBufferPointer { log.check($0, castTo: .f16, tensor: "w") }
        first.withUnsafeBufferPointer { log.check($0, castTo: .bf16, tensor: "b") }
        try log.finish(tensor: "w")
        try log.finish(tensor: "b")
        #expect(log.entries == [CastOverflow.Entry(tensor: "w", target: .f16, count: 3, largest: 1e6)])
        #expect(log.warnings == ["tensor 'w': 3 values beyond the f16 range (±65504), up to 1000000.0, became ±inf"])
    }

    @Test func strictThrowsOnceTheTensorIsChecked() {
        let log = CastOverflow(strict: true)
        [Float(1e5)].withUnsafeBufferPointer { log.check($0, castTo: .f16, tensor: "w") }
        #expect(throws: CastOverflowError.self) { try log.finish(tensor: "w") }
        #expect(log.entries.isEmpty)
        let error = CastOverflowError(entry: .init(tensor: "w", target: .f16, count: 1, largest: 1e5))
        #expect(error.failure.exitStatus == 1 && error.code == ErrorCode.checkFailed)
    }
}
