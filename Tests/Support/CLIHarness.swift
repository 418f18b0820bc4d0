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

    /// Which output stream a run puts on a pseudo-terminal.
    public enum Terminal: Sendable {
        case stdout, stderr
    }

    /// Runs `connkit arguments…` in `directory` (the repository root unless given) and collects both streams.
    /// The environment is the test's, without the variables that change connkit's colours, plus
    /// `environment`. With `terminal`, that stream is a pseudo-terminal (its `\r\n` line ends read back as `\n`).
    /// With a `timeout` (seconds), a run that has not ended by then is killed and reported as `timedOut`,
    /// so a test of something that must not block fails instead of hanging the suite.
    public static func run(_ arguments: [String], in directory: String = repositoryRoot, environment: [String: String] = [:],
                           terminal: Terminal? = nil, timeout: Double? = nil) throws -> CommandResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var inherited = ProcessInfo.processInfo.environment
        inherited["NO_COLOR"] = nil
        inherited["CLICOLOR_FORCE"] = nil
        process.environment = inherited.merging(environment) { $1 }
        var primary: Int32 = -1, replica: Int32 = -1
        if terminal != nil, openpty(&primary, &replica, nil, nil, nil) != 0 { throw CocoaError(.fileWriteUnknown) }
        let out = Pipe(), err = Pipe()
        let tty = FileHandle(fileDescriptor: replica, closeOnDealloc: false)
        process.standardOutput = terminal == .stdout ? tty : out
        process.standardError = terminal == .stderr ? tty : err
        try process.run()
        if terminal != nil { close(replica) }
        let watchdog = timeout.map { seconds in
            DispatchWorkItem { if process.isRunning { process.terminate() } }
        }
        if let watchdog, let timeout { DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog) }
        // Both streams are drained at once, so a child filling one never waits on the other.
        let stdoutBox = DataBox(), stderrBox = DataBox()
        let group = DispatchGroup()
        let terminalSide = primary
        for (box, pipe, stream) in [(stdoutBox, out, Terminal.stdout), (stderrBox, err, Terminal.stderr)] {
            DispatchQueue.global().async(group: group) {
                box.data = terminal == stream ? readTerminal(terminalSide) : pipe.fileHandleForReading.readDataToEndOfFile()
            }
        }
        group.wait()
        if terminal != nil { close(primary) }
        process.waitUntilExit()
        watchdog?.cancel()
        func text(_ box: DataBox, _ stream: Terminal) -> String {
            let string = String(decoding: box.data, as: UTF8.self)
            return terminal == stream ? string.replacingOccurrences(of: "\r\n", with: "\n") : string
        }
        return CommandResult(status: process.terminationStatus, stdout: text(stdoutBox, .stdout), stderr: text(stderrBox, .stderr),
                             timedOut: watchdog != nil && process.terminationReason == .uncaughtSignal
                                 && process.terminationStatus == SIGTERM)
    }

    /// Everything written to a pseudo-terminal until the child's side closes (EIO on Linux).
    private static func readTerminal(_ primary: Int32) -> Data {
        var bytes = Data()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(primary, &chunk, chunk.count)
            if count <= 0 { return bytes }
            bytes.append(contentsOf: chunk[0 ..< count])
        }
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

/// A `connkit` run held at its first `TestHold` point (`CONNKIT_TEST_HOLD`): the test changes the world
/// (truncates the input, kills the process…) while connkit is known to be past its mapping and, for a
/// writer, to have its temporary output open, then lets it go on with `release()`.
public final class HeldCommand: @unchecked Sendable {
    public let process: Process
    private let holdFile: String
    private let out = Pipe(), err = Pipe()
    private var stdoutData = Data(), stderrData = Data()
    private let readers = DispatchGroup()

    /// Starts `connkit arguments…` and waits (up to 60 s) until it reaches the hold point.
    public init(_ arguments: [String], holdFile: String, in directory: String = CLI.repositoryRoot,
                environment: [String: String] = [:]) throws {
        self.holdFile = holdFile
        process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = ProcessInfo.processInfo.environment.merging(environment.merging(["CONNKIT_TEST_HOLD": holdFile]) { $1 }) { $1 }
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Drained as they come, so a chatty run never blocks on a full pipe.
        for (pipe, keep) in [(out, true), (err, false)] {
            DispatchQueue.global().async(group: readers) { [self] in
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                if keep { stdoutData = data } else { stderrData = data }
            }
        }
        for _ in 0 ..< 6000 where !FileManager.default.fileExists(atPath: holdFile) && process.isRunning {
            usleep(10_000)
        }
    }

    /// Whether the run is waiting at its hold point.
    public var isHeld: Bool { process.isRunning && FileManager.default.fileExists(atPath: holdFile) }

    /// Lets the run go on and waits for its end.
    public func release() -> CommandResult {
        try? FileManager.default.removeItem(atPath: holdFile)
        return wait()
    }

    /// Waits for the run's end (after a release, or a kill).
    public func wait() -> CommandResult {
        process.waitUntilExit()
        readers.wait()
        try? FileManager.default.removeItem(atPath: holdFile)
        return CommandResult(status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
                             stderr: String(decoding: stderrData, as: UTF8.self))
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
