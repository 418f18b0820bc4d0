import ConnkitTestSupport
import Foundation
import Testing
@testable import TensorFormats

/// Paths and helpers shared by the format tests.
enum Fixtures {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()  // TensorFormatsTests
        url.deleteLastPathComponent()  // Tests
        return url.appendingPathComponent("Fixtures").path
    }()

    static func path(_ relative: String) -> String { root + "/" + relative }

    static func json(_ relative: String) throws -> JSONValue {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(relative)))
        return try data.withUnsafeBytes { try JSONValue.parse($0) }
    }
}

/// A fresh temporary directory, removed when the value is released.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "connkit-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}

/// Runs `body` and returns the `FormatError` it throws (a test failure if it throws anything else or nothing).
func formatError(_ body: () throws -> Void) -> FormatError? {
    do {
        try body()
        Issue.record("expected a FormatError, nothing was thrown")
        return nil
    } catch let error as FormatError {
        return error
    } catch {
        Issue.record("expected a FormatError, got \(error)")
        return nil
    }
}

func bytes(of tensor: Tensor) throws -> [UInt8] {
    try tensor.withBytes { Array($0) }
}

func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func hexDigest(_ bytes: [UInt8]) -> String {
    SHA256.hex(bytes)
}
