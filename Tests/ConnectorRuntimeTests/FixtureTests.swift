import ConnectorGraph
import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats
@testable import ConnectorRuntime

/// One case of Tests/Fixtures/runtime/manifest.json (made by generate.py there from transformers' modules
/// and transcriptions of the releases' own code).
struct RuntimeCase: Sendable, CustomStringConvertible {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/runtime").path

    let name: String
    let family: String
    let variant: String
    let grid: Grid?
    let checkpoints: [(scheme: String, files: [String])]
    let configs: [String: String]
    let cliDims: [String: [(String, Int)]]
    let input: String
    let output: String
    let outputMaxAbs: Double

    var description: String { name }

    static let all: [RuntimeCase] = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: directory + "/manifest.json"))
        let manifest = try! data.withUnsafeBytes { try JSONValue.parse($0) }
        guard case .array(let cases) = manifest["cases"]! else { return [] }
        return cases.map { entry in
            func path(_ relative: String) -> String { directory + "/" + relative }
            var checkpoints: [(String, [String])] = []
            if case .object(let members) = entry["checkpoints"]! {
                for member in members {
                    guard case .array(let files) = member.value else { continue }
                    checkpoints.append((member.key, files.compactMap(\.stringValue).map(path)))
                }
            }
            var configs: [String: String] = [:]
            if case .object(let members) = entry["configs"]! {
                for member in members { if let file = member.value.stringValue { configs[member.key] = path(file) } }
            }
            var cliDims: [String: [(String, Int)]] = [:]
            if case .object(let members) = entry["cli_dims"]! {
                for member in members {
                    guard case .object(let dims) = member.value else { continue }
                    cliDims[member.key] = dims.compactMap { dim in dim.value.intValue.map { (dim.key, $0) } }
                }
            }
            var grid: Grid?
            if case .array(let sides) = entry["grid"]!, sides.count == 2, let h = sides[0].intValue, let w = sides[1].intValue {
                grid = Grid(height: h, width: w)
            }
            let maxAbs = entry["output_max_abs"]?.doubleValue ?? 0
            return RuntimeCase(name: entry["name"]!.stringValue!, family: entry["family"]!.stringValue!,
                               variant: entry["variant"]!.stringValue!, grid: grid, checkpoints: checkpoints, configs: configs,
                               cliDims: cliDims, input: path(entry["input"]!["file"]!.stringValue!),
                               output: path(entry["output"]!["file"]!.stringValue!), outputMaxAbs: maxAbs)
        }
    }()

    /// Every (case, scheme) pair, as `case/scheme`.
    static var pairs: [String] { all.flatMap { c in c.checkpoints.map { "\(c.name)/\($0.scheme)" } } }

    static func named(_ pair: String) -> (RuntimeCase, String) {
        let parts = pair.split(separator: "/", maxSplits: 1).map(String.init)
        return (all.first { $0.name == parts[0] }!, parts[1])
    }

    /// Validates one scheme's checkpoint as `connkit validate` does (its config, its --dim values).
    func validate(_ scheme: String) throws -> ValidationReport {
        let files = checkpoints.first { $0.scheme == scheme }!.files
        let parts = try files.map { try CheckpointReader.open($0) }
        let checkpoint = parts.count == 1 ? parts[0] : Checkpoint(path: files.joined(separator: " + "), format: parts[0].format,
            metadata: parts.flatMap(\.metadata), tensors: parts.flatMap(\.tensors))
        let claims = (cliDims[scheme] ?? []).map { DimensionClaim(key: $0.0, value: $0.1, source: .flag("--dim \($0.0)=\($0.1)")) }
        let config = try configs[scheme].map { try ConfigReader.read(path: $0) }
        return Validator.validate(ValidationRequest(checkpoint: checkpoint, flagClaims: claims, configs: config.map { [$0] } ?? []))
    }

    func connector(_ scheme: String) throws -> Connector {
        let report = try validate(scheme)
        guard report.valid, let bound = report.connector else {
            throw RuntimeError(.unsupported("\(name)/\(scheme) does not validate: \(report.diagnostics.map(\.message).joined(separator: "; "))"))
        }
        return try Connector(bound: bound)
    }

    func reference() throws -> [Float] {
        let checkpoint = try CheckpointReader.open(output)
        let tensor = checkpoint.tensors[0]
        return try tensor.withBytes { Array($0.bindMemory(to: Float.self)) }
    }
}

@Suite struct FixtureTests {
    /// Per-token cosine ≥ 0.99999 and max |Δ| ≤ 1e-4 · max |reference| against the release's module, in
    /// every naming scheme the fixtures hold.
    @Test(arguments: RuntimeCase.pairs)
    func matchesTheReleaseModule(pair: String) throws {
        let (fixture, scheme) = RuntimeCase.named(pair)
        let report = try fixture.validate(scheme)
        #expect(report.family == fixture.family && report.variant == fixture.variant && report.scheme == scheme)
        let connector = try fixture.connector(scheme)
        let features = try Features.read(path: fixture.input)
        let output = try connector.run(features, grid: fixture.grid)
        // describe's and validate's TOKENS OUT (optional nodes as the checkpoint holds them) is what runs.
        let bound = try #require(report.connector)
        let held = Set(bound.parameters.filter { $0.layout != .absent }.map(\.node))
        let tokenSymbol = bound.graph.dimension(key: "tokens")?.symbol
        let tokensOut = bound.graph.outputTokens({ $0 == tokenSymbol ? features.tokens : connector.dims[$0] }) { held.contains($0) }
        #expect(tokensOut == output.tokens, "\(pair): TOKENS OUT \(tokensOut.map(String.init) ?? "?"), the run gives \(output.tokens)")
        let reference = try fixture.reference()
        let checkpoint = try CheckpointReader.open(fixture.output)
        #expect(output.shape == checkpoint.tensors[0].shape)
        let (minCosine, maxDelta, maxReference) = closeness(output.values.array, reference.map(Double.init), width: output.width)
        #expect(minCosine >= 0.99999, "\(pair): minimum per-token cosine \(minCosine)")
        #expect(maxDelta <= 1e-4 * maxReference, "\(pair): max |Δ| \(maxDelta), 1e-4 · max |ref| = \(1e-4 * maxReference)")
    }

    /// The same weights in every naming scheme and container of a family give the same output bits. Where
    /// one scheme stores a parameter another computes (llama.cpp's precomputed MiniCPM-V key positions),
    /// the outputs agree to the accuracy bound instead.
    @Test(arguments: RuntimeCase.all.filter { $0.checkpoints.count > 1 }.map(\.name))
    func everySchemeGivesTheSameBits(name: String) throws {
        let fixture = RuntimeCase.all.first { $0.name == name }!
        let features = try Features.read(path: fixture.input)
        var first: (scheme: String, roles: [String], output: [Float])?
        for (scheme, _) in fixture.checkpoints {
            let connector = try fixture.connector(scheme)
            let output = try connector.run(features, grid: fixture.grid)
            let values = output.values.array
            guard let first else {
                first = (scheme, connector.weights.roles, values)
                continue
            }
            if connector.weights.roles == first.roles {
                let differing = zip(values, first.output).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(differing == 0, "\(name): \(differing) of \(values.count) values of \(scheme) differ from \(first.scheme)")
            } else {
                let (minCosine, maxDelta, maxReference) = closeness(values, first.output.map(Double.init), width: output.width)
                #expect(minCosine >= 0.99999 && maxDelta <= 1e-4 * maxReference, "\(name): \(scheme) against \(first.scheme)")
            }
        }
    }
}
