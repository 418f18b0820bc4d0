import Foundation
import Testing
import TensorFormats

/// Runs the built `connkit` executable, as a user would.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum CLI {
    static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()  // CLITests
        url.deleteLastPathComponent()  // Tests
        url.deleteLastPathComponent()
        return url.path
    }()

    static func fixture(_ relative: String) -> String { repositoryRoot + "/Tests/Fixtures/" + relative }

    /// The `connkit` binary next to the test bundle (SwiftPM builds every product before testing).
    static let executable: String = {
        var url = Bundle.main.bundleURL
        for _ in 0 ..< 4 {
            let candidate = url.appendingPathComponent("connkit").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            url.deleteLastPathComponent()
        }
        return repositoryRoot + "/.build/debug/connkit"
    }()

    static func run(_ arguments: [String]) throws -> CommandResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
        let stderrData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CommandResult(status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
                             stderr: String(decoding: stderrData, as: UTF8.self))
    }

    static func schema(_ name: String) throws -> JSONSchema {
        let data = try Data(contentsOf: URL(fileURLWithPath: repositoryRoot + "/schemas/" + name))
        return JSONSchema(try data.withUnsafeBytes { try JSONValue.parse($0) })
    }

    /// Parses stdout as exactly one JSON value.
    static func json(_ result: CommandResult) throws -> JSONValue {
        try JSONValue.parse(result.stdout)
    }
}

final class Scratch {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "connkit-cli-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}
