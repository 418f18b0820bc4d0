import Foundation
import TensorFormats

/// What one run of the `connkit` executable printed and returned.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// The run was killed after its timeout (the command blocked).
    public var timedOut = false
}

/// Runs the built `connkit` executable as a user would, from the repository root; every CLI test goes
/// through here.
public enum CLI {
    /// The package folder, located from this file (Tests/Support/CLIHarness.swift).
    public static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0 ..< 3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// A file under Tests/Fixtures.
    public static func fixture(_ relative: String) -> String { repositoryRoot + "/Tests/Fixtures/" + relative }

    /// The `connkit` binary next to the test bundle (SwiftPM builds every product before testing).
    public static let executable: String = {
        var url = Bundle.main.bundleURL
        for _ in 0 ..< 4 {
            let candidate = url.appendingPathComponent("connkit").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            url.deleteLastPathComponent()
        }
        return repositoryRoot + "/.build/debug/connkit"
    }()

    /// Runs `connkit arguments…` in `directory` (the repository root unless given) and collects both streams.
    /// With a `timeout` (seconds), a run that has not ended by then is killed and reported as `timedOut`,
    /// so a test of something that must not block fails instead of hanging the suite.
    public static func run(_ arguments: [String], in directory: String = repositoryRoot,
                           timeout: Double? = nil) throws -> CommandResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let watchdog = timeout.map { seconds in
            DispatchWorkItem { if process.isRunning { process.terminate() } }
        }
        if let watchdog, let timeout { DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog) }
        let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
        let stderrData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        watchdog?.cancel()
        return CommandResult(status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
                             stderr: String(decoding: stderrData, as: UTF8.self),
                             timedOut: watchdog != nil && process.terminationReason == .uncaughtSignal
                                 && process.terminationStatus == SIGTERM)
    }

    /// A schema under schemas/; its references to the other schema files there are followed.
    public static func schema(_ name: String) throws -> JSONSchema {
        JSONSchema(try schemaDocument(name)) { try? schemaDocument($0) }
    }

    private static func schemaDocument(_ name: String) throws -> JSONValue {
        let file = try MappedFile(path: repositoryRoot + "/schemas/" + name)
        return try file.withBytes { try JSONValue.parse($0) }
    }

    /// Parses stdout as exactly one JSON value.
    public static func json(_ result: CommandResult) throws -> JSONValue {
        try JSONValue.parse(result.stdout)
    }
}

/// A per-test temporary folder, removed when the test lets go of it.
public final class Scratch {
    public let path: String

    public init() throws {
        path = NSTemporaryDirectory() + "connkit-cli-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func file(_ name: String) -> String { path + "/" + name }
}
