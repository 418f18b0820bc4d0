import ConnkitTestSupport
import Testing
import TensorFormats
@testable import ConnectorRuntime

/// `--random T --seed S` against numpy (Tests/Fixtures/random/generate.py computes the values the README
/// documents): the same float32 bits, anywhere in the sequence.
@Suite struct RandomFeaturesTests {
    static let reference: JSONValue = {
        let file = try! MappedFile(path: CLI.fixture("random/values.json"))
        return try! file.withBytes { try JSONValue.parse($0) }
    }()

    @Test func valuesMatchNumpyBitForBit() throws {
        let cases = try #require(Self.reference["cases"]?.arrayValue)
        #expect(cases.count == 4)
        for entry in cases {
            let seed = try #require(entry["seed"]?.uint64Value), first = try #require(entry["first"]?.intValue)
            let bits = try #require(entry["bits"]?.arrayValue).compactMap(\.uint64Value).map(UInt32.init)
            let ours = (0 ..< bits.count).map { RandomFeatures.value(seed: seed, index: first + $0).bitPattern }
            #expect(ours == bits, "seed \(seed) from element \(first)")
        }
    }

    @Test func featuresAreRowMajorAndStandardNormal() throws {
        let features = try Features.random(tokens: 1024, width: 1024, seed: 0)
        #expect(features.shape == [1024, 1024] && features.batch == 1)
        let values = features.values.array
        #expect(values[1025].bitPattern == RandomFeatures.value(seed: 0, index: 1025).bitPattern)
        let mean = values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
        let variance = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(values.count)
        let moments = try #require(Self.reference["moments"])
        #expect(abs(mean - moments["mean"]!.doubleValue!) < 1e-12)
        #expect(abs(variance.squareRoot() - moments["std"]!.doubleValue!) < 1e-12)
        #expect(try Features.random(tokens: 3, width: 5, seed: 9).values.array == Features.random(tokens: 3, width: 5, seed: 9).values.array)
        #expect(throws: RuntimeError.self) { try Features.random(tokens: 0, width: 5, seed: 0) }
    }
}
