import Foundation
import Testing
@testable import TensorFormats

/// Shared helpers of the NumPy and zip tests (namespaced so other test files can have their own).
enum NumpyFixtures {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static let numpy = fixtures.appendingPathComponent("numpy")
    static let hostile = fixtures.appendingPathComponent("hostile")

    /// numpy's own reading of every fixture, written by Tests/Fixtures/numpy/generate.py.
    static let expected: JSONValue = {
        let data = try! Data(contentsOf: numpy.appendingPathComponent("expected.json"))
        return try! data.withUnsafeBytes { try JSONValue.parse($0) }
    }()

    static func files(in folder: URL, ext: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
            .filter { $0.hasSuffix("." + ext) }.sorted()
    }

    /// The case name of a `FormatError` kind (`truncated`, `crcMismatch`, ...), or a description of another error.
    static func kindName(_ error: any Error) -> String {
        guard let error = error as? FormatError else { return "not a FormatError: \(error)" }
        let text = String(describing: error.kind)
        return String(text.prefix(while: { $0 != "(" }))
    }

    static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        let digits = Array("0123456789abcdef")
        var text = ""
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 15)])
        }
        return text
    }

    /// A fresh directory for one test, removed when `body` returns.
    static func withTemporaryDirectory<R>(_ body: (URL) throws -> R) throws -> R {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("connkit-numpy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: url) }
        return try body(url)
    }

    /// Runs `body` in a fresh temporary directory, or in `$CONNKIT_NUMPY_EXPORT` when set (kept: the dev check
    /// Tests/Fixtures/numpy/check_numpy_loads.py loads the files with numpy).
    static func withOutputDirectory<R>(_ body: (URL) throws -> R) throws -> R {
        if let export = ProcessInfo.processInfo.environment["CONNKIT_NUMPY_EXPORT"], !export.isEmpty {
            let url = URL(fileURLWithPath: export)
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            return try body(url)
        }
        return try withTemporaryDirectory(body)
    }

    /// Reads a checkpoint with the reader its extension names.
    static func read(_ path: String) throws -> Checkpoint {
        let file = try MappedFile(path: path)
        return path.hasSuffix(".npz") ? try NpzReader.read(file) : try NpyReader.read(file)
    }

    /// Reads the file and touches every tensor's bytes (CRC checks and inflation happen on access).
    static func readFully(_ path: String) throws -> Checkpoint {
        let checkpoint = try read(path)
        for tensor in checkpoint.tensors { _ = try tensor.withBytes { $0.count } }
        return checkpoint
    }

    static func bytes(of path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
