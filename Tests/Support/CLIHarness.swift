import Foundation
import TensorFormats
#if canImport(Glibc)
import Glibc
#endif

/// What one run of the `connkit` executable printed and returned.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
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
    /// The environment is the test's, without the variables that change connkit's colours, plus
    /// `environment`. With `terminal`, stdout is a pseudo-terminal (its `\r\n` line ends read back as `\n`).
    public static func run(_ arguments: [String], in directory: String = repositoryRoot, environment: [String: String] = [:],
                           terminal: Bool = false) throws -> CommandResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var inherited = ProcessInfo.processInfo.environment
        inherited["NO_COLOR"] = nil
        inherited["CLICOLOR_FORCE"] = nil
        process.environment = inherited.merging(environment) { $1 }
        let err = Pipe()
        process.standardError = err
        if terminal {
            var primary: Int32 = -1, replica: Int32 = -1
            guard openpty(&primary, &replica, nil, nil, nil) == 0 else { throw CocoaError(.fileWriteUnknown) }
            process.standardOutput = FileHandle(fileDescriptor: replica, closeOnDealloc: false)
            try process.run()
            close(replica)
            let stderrBox = DataBox()
            let done = DispatchSemaphore(value: 0)
            DispatchQueue.global().async {
                stderrBox.data = err.fileHandleForReading.readDataToEndOfFile()
                done.signal()
            }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {  // until the child's side closes (EIO on Linux)
                let count = read(primary, &chunk, chunk.count)
                if count <= 0 { break }
                bytes += chunk[0 ..< count]
            }
            close(primary)
            done.wait()
            let stderrData = stderrBox.data
            process.waitUntilExit()
            return CommandResult(status: process.terminationStatus,
                                 stdout: String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n"),
                                 stderr: String(decoding: stderrData, as: UTF8.self))
        }
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
        let stderrData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CommandResult(status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
                             stderr: String(decoding: stderrData, as: UTF8.self))
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

private final class DataBox: @unchecked Sendable {
    var data = Data()
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
