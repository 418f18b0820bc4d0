import ConnkitTestSupport
import Foundation
import ConnectorRuntime
import Testing
import TensorFormats
@testable import ConnectorGraph

/// Every family variant × every scheme its fixtures hold × every scheme its graph knows: A → B gives a
/// valid connector in B (the names and values llama.cpp's, transformers' or the original code's files
/// hold where the fixtures have them), and B → A gives back A's tensors: names, dtypes, shapes and bytes.
@Suite struct SchemeRoundTripTests {
    static let sources: [(FixtureCase, String)] = FixtureCase.all.flatMap { fixture in
        fixture.checkpoints.keys.sorted().filter { !fixture.expectInvalid.contains($0) }.map { (fixture, $0) }
    }

    @Test func theFixturesAreThere() {
        #expect(Self.sources.count >= 40)
    }

    @Test(arguments: sources)
    func roundTrip(_ fixture: FixtureCase, _ source: String) throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let original = try fixture.checkpoint(source)
        let report = bind(original, claims: fixture.claims)
        #expect(report.valid, "\(fixture) \(source): \(report.diagnostics.map(\.line))")
        let connector = try #require(report.connector)
        #expect(connector.scheme == source)
        var converted = 0
        for target in connector.graph.schemes.map(\.name) {
            let there: Checkpoint
            do {
                there = try write(connector, from: original, to: target, in: directory, name: "to-\(target)")
            } catch SchemeConversionError.roleNotHeld(let role, let scheme, let holders) {
                // Only a parameter the target scheme declares absent may be refused, naming its holders.
                let parameter = try #require(connector.parameter(role: role))
                let declared = try #require(connector.graph.schemes.first { $0.name == scheme })
                #expect(declared.absent.contains(parameter.roleTemplate), "\(fixture) \(source) → \(target): \(role)")
                #expect(holders.contains(source) && !holders.contains(target))
                continue
            }
            let targetReport = bind(there, claims: fixture.claims)
            #expect(targetReport.valid, "\(fixture) \(source) → \(target): \(targetReport.diagnostics.map(\.line))")
            #expect(targetReport.scheme == target, "\(fixture) \(source) → \(target)")
            if target != source, fixture.checkpoints[target] != nil, !fixture.expectInvalid.contains(target) {
                try expectSameValues(there, try fixture.checkpoint(target), "\(fixture) \(source) → \(target)")
            }
            // A table the target does not store and the graph computes (llama.cpp's pos_embed_k) does not come back.
            let computed = try SchemeConversion(connector, to: target).computedInstead
            try expectSameOutput(connector, try #require(targetReport.connector), fixture, "\(fixture) \(source) → \(target)",
                                 computed: !computed.isEmpty)
            let back = try write(try #require(targetReport.connector), from: there, to: source, in: directory, name: "back-from-\(target)")
            try expectSameTensors(back, connectorOf: report, except: computed, "\(fixture) \(source) → \(target) → \(source)")
            converted += 1
        }
        #expect(converted >= 1)
    }

    /// The forward pass (`connkit run`'s) on the fixture's features gives the same float32 bits for both
    /// (`connkit compare` says `identical`); where the conversion left out a table the graph computes
    /// instead, the outputs agree to a cosine of 0.99999 per token.
    func expectSameOutput(_ a: BoundConnector, _ b: BoundConnector, _ fixture: FixtureCase, _ label: String, computed: Bool) throws {
        let features = try Features.read(path: runtimeFixtures + "/" + fixture.input)
        let grid = fixture.grid.flatMap { $0.count == 2 ? Grid(height: $0[0], width: $0[1]) : nil }
        let outputA = try Connector(bound: a).run(features, grid: grid)
        let outputB = try Connector(bound: b).run(features, grid: grid)
        #expect(outputA.shape == outputB.shape, "\(label)")
        guard outputA.shape == outputB.shape else { return }
        let comparison = Comparison(outputA, outputB)
        if computed {
            #expect(comparison.minCosine >= 0.99999, "\(label): \(comparison.minCosine)")
        } else {
            #expect(comparison.identical, "\(label): max |a-b| \(comparison.maxAbsDifference)")
        }
    }

    /// `connector` of `checkpoint` written in `scheme` (GGUF for mmproj, safetensors otherwise) and read back.
    func write(_ connector: BoundConnector, from checkpoint: Checkpoint, to scheme: String, in directory: String,
               name: String) throws -> Checkpoint {
        let conversion = try SchemeConversion(connector, to: scheme)
        let applied = try conversion.applied(to: checkpoint, connector: connector, connectorOnly: true)
        let path = directory + "/" + name + (scheme == "mmproj" ? ".gguf" : ".safetensors")
        _ = try Converter.convert(applied, to: path, options: ConversionOptions())
        return try CheckpointReader.open(path)
    }

    /// Same names, dtypes, shapes and bytes as the connector's tensors in the original.
    func expectSameTensors(_ checkpoint: Checkpoint, connectorOf report: ValidationReport, except computed: [String],
                           _ label: String) throws {
        let original = try #require(report.connector).parameters.filter { !computed.contains($0.role) }.flatMap(\.tensors)
        #expect(Set(checkpoint.tensors.map(\.name)) == Set(original.map(\.name)), "\(label)")
        for tensor in original {
            guard let back = checkpoint.tensor(named: tensor.name) else { continue }
            #expect(back.dtype == tensor.dtype && back.shape == tensor.shape, "\(label): \(tensor.name)")
            #expect(try bytes(of: back) == bytes(of: tensor), "\(label): \(tensor.name) bytes")
        }
    }

    /// Every tensor of `converted` is in `reference` (a file the fixture generator wrote in that scheme)
    /// with the same shape and the same values (the fixtures' weights are exact in f16).
    func expectSameValues(_ converted: Checkpoint, _ reference: Checkpoint, _ label: String) throws {
        for tensor in converted.tensors {
            guard let expected = reference.tensor(named: tensor.name) else {
                Issue.record("\(label): \(tensor.name) is not in the fixture's own file")
                continue
            }
            #expect(expected.shape == tensor.shape, "\(label): \(tensor.name) \(tensor.shape) vs \(expected.shape)")
            if expected.shape == tensor.shape {
                #expect(try floats(of: tensor) == floats(of: expected), "\(label): \(tensor.name) values")
            }
        }
    }
}
