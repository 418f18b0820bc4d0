import ConnkitTestSupport
import Foundation
import TensorFormats
@testable import ConnectorGraph

/// Tests/Fixtures/runtime: every family variant's seeded weights in every scheme connkit knows.
let runtimeFixtures = CLI.fixture("runtime")

/// One case of the runtime fixtures' manifest.
struct FixtureCase: Sendable, CustomStringConvertible {
    var name: String
    /// Scheme → the checkpoint files (relative to the fixtures folder).
    var checkpoints: [String: [String]]
    /// connkit's dimension keys → value, as validate reports them.
    var dims: [String: Int]
    /// Schemes validate refuses today (a known gap, named in the manifest).
    var expectInvalid: Set<String>
    /// The features file (relative to the fixtures folder) and the patch grid the run needs.
    var input: String = ""
    var grid: [Int]? = nil

    var description: String { name }

    static let all: [FixtureCase] = {
        guard let file = try? MappedFile(path: runtimeFixtures + "/manifest.json"),
              let manifest = try? file.withBytes({ try JSONValue.parse($0) }) else { return [] }
        return (manifest["cases"]?.arrayValue ?? []).compactMap { entry -> FixtureCase? in
            guard let name = entry["name"]?.stringValue, let checkpoints = entry["checkpoints"]?.objectMembers,
                  let dims = entry["dims"]?.objectMembers else { return nil }
            var files: [String: [String]] = [:]
            for member in checkpoints { files[member.key] = (member.value.arrayValue ?? []).compactMap(\.stringValue) }
            var values: [String: Int] = [:]
            for member in dims { if let value = member.value.intValue { values[member.key] = value } }
            let invalid = Set((entry["expect_invalid"]?.objectMembers ?? []).map(\.key))
            var fixture = FixtureCase(name: name, checkpoints: files, dims: values, expectInvalid: invalid)
            fixture.input = entry["input"]?["file"]?.stringValue ?? ""
            fixture.grid = entry["grid"]?.arrayValue?.compactMap(\.intValue)
            return fixture
        }
    }()

    /// The manifest's dimensions as flags: they pin every dimension whatever the scheme's files state.
    var claims: [DimensionClaim] {
        dims.sorted { $0.key < $1.key }.map { DimensionClaim(key: $0.key, value: $0.value, source: .flag("--dim \($0.key)=\($0.value)")) }
    }

    func checkpoint(_ scheme: String) throws -> Checkpoint {
        let paths = (checkpoints[scheme] ?? []).map { runtimeFixtures + "/" + $0 }
        return try Checkpoint.pooled(paths)
    }
}

extension Checkpoint {
    /// Several files as one checkpoint (as `validate PATH...` pools them).
    static func pooled(_ paths: [String]) throws -> Checkpoint {
        let parts = try paths.map { try CheckpointReader.open($0) }
        guard parts.count > 1 else { return parts[0] }
        return Checkpoint(path: paths.joined(separator: " + "), format: parts[0].format, metadata: parts.flatMap(\.metadata),
                          tensors: parts.flatMap(\.tensors))
    }
}

/// The connector of `checkpoint`, bound with `claims`; nil when none is detected.
func bind(_ checkpoint: Checkpoint, claims: [DimensionClaim]) -> ValidationReport {
    Validator.validate(ValidationRequest(checkpoint: checkpoint, flagClaims: claims, checkValues: false))
}

/// A fresh temporary directory.
func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "connkit-deploy-" + UUID().uuidString
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A tensor's bytes.
func bytes(of tensor: Tensor) throws -> [UInt8] { try tensor.withBytes { Array($0) } }

/// A plain float tensor's values as f32.
func floats(of tensor: Tensor) throws -> [Float] {
    try tensor.withBytes { raw in
        var values = [Float](repeating: 0, count: tensor.info.elementCount)
        if !values.isEmpty { values.withUnsafeMutableBufferPointer { Cast.toFloat32(raw.baseAddress!, tensor.dtype, count: $0.count, into: $0.baseAddress!) } }
        return values
    }
}

/// Tensor data held in memory.
struct MemoryData: TensorData {
    let bytes: [UInt8]
    var fileRegion: FileRegion? { nil }
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R { try bytes.withUnsafeBytes(body) }
}

func memoryTensor(_ name: String, _ dtype: DType, _ shape: [Int], seed: UInt64) -> Tensor {
    let info = try! TensorInfo(name: name, dtype: dtype, shape: shape)
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    let bytes = (0 ..< info.byteCount).map { _ -> UInt8 in
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return UInt8(truncatingIfNeeded: state)
    }
    return Tensor(info: info, data: MemoryData(bytes: bytes))
}
