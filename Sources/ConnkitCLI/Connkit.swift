import ArgumentParser
import TensorFormats
#if canImport(Glibc)
import Glibc
#endif

/// The `connkit` root command. Each subcommand lives in its own file.
public struct Connkit: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "connkit",
        abstract: "Inspect, convert, quantize and validate the weights of multimodal-LLM connectors.",
        version: "connkit \(version) (commit \(BuildInfo.commit))",
        subcommands: [Inspect.self, Convert.self, Quantize.self, Validate.self, Describe.self, Run.self, Compare.self,
                      Schemes.self, Splice.self, Export.self])

    /// The release version; `--version` adds the commit the binary was built from (`BuildInfo`, written
    /// by the BuildInfo plugin: `git describe --always --dirty`, or `unknown` outside a git checkout).
    public static let version = "0.1.0"

    public init() {}

    /// Runs the command line and returns the process exit status. Every failure is mapped here and only
    /// here: its `FailureClass` gives the status (0 success, 1 the input fails a check, 2 unusable input or
    /// bad usage), one line goes to stderr and, for a command run with `--json`, `{"error", "code"}` to stdout.
    public static func main(arguments: [String]) -> Int32 {
        ProcessGuard.install()
        var command: ParsableCommand
        do {
            command = try parseAsRoot(arguments)
        } catch {
            if exitCode(for: error) == .success { return helpOrVersion(error) }
            return fail(usageFailure(error, arguments: arguments), json: requestsJSON(arguments))
        }
        ProcessGuard.setJSONErrors((command as? JSONCommand)?.json == true)
        do {
            try command.run()
            return 0
        } catch let failure as CheckFailed {
            return failure.failure.exitStatus
        } catch let error as ConnkitError {
            return fail(error, json: (command as? JSONCommand)?.json == true)
        } catch {
            // `connkit` alone runs the root command, whose run() asks for help.
            if exitCode(for: error) == .success { return helpOrVersion(error) }
            return fail(CommandFailure(.unusableInput, .io, "\(error)"), json: (command as? JSONCommand)?.json == true)
        }
    }

    private static func helpOrVersion(_ error: Error) -> Int32 {
        print(fullMessage(for: error))
        return 0
    }

    /// What is wrong with the command line — an unknown command or option first, else the parser's
    /// message without its usage block — pointing at the (sub)command's help.
    private static func usageFailure(_ error: Error, arguments: [String]) -> CommandFailure {
        let message = CommandLineCheck.failure(arguments, commands: configuration.subcommands)
            ?? self.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid usage"
        let subcommand = arguments.first.flatMap { name in configuration.subcommands.first { $0._commandName == name } }
        return CommandFailure(.usage, .usage, message + " (see 'connkit \(subcommand.map { $0._commandName + " " } ?? "")--help')")
    }

    /// A command line that did not parse still asked for JSON when its subcommand takes `--json` and it
    /// holds the flag (before any `--`).
    private static func requestsJSON(_ arguments: [String]) -> Bool {
        guard let name = arguments.first,
              let subcommand = configuration.subcommands.first(where: { $0._commandName == name }),
              subcommand is JSONCommand.Type else { return false }
        return arguments.dropFirst().prefix { $0 != "--" }.contains("--json")
    }

    private static func fail(_ error: ConnkitError, json: Bool) -> Int32 {
        let text = error.description
        if json { emitJSON(.object([.init("error", .string(text)), .init("code", .string(error.code.rawValue))])) }
        printError(printable(text))
        return error.failure.exitStatus
    }
}

/// A command with a `--json` flag: with it, every outcome prints exactly one JSON object on stdout.
protocol JSONCommand {
    var json: Bool { get }
}

/// Thrown by a command whose input was read but failed a check (exit status 1); the report is already out.
public struct CheckFailed: ConnkitError {
    public init() {}
    public var failure: FailureClass { .checkFailed }
    public var code: ErrorCode { .checkFailed }
    public var description: String { "the input fails its checks (the report says which)" }
}

/// A usage or input problem the CLI layer itself finds: one line, its class and code said where it is thrown.
public struct CommandFailure: ConnkitError {
    public var failure: FailureClass
    public var code: ErrorCode
    public var message: String

    public init(_ failure: FailureClass, _ code: ErrorCode, _ message: String) {
        self.failure = failure
        self.code = code
        self.message = message
    }

    /// A malformed command line (exit status 2).
    public static func usage(_ message: String) -> CommandFailure { CommandFailure(.usage, .usage, message) }

    public var description: String { message }
}

/// One error line on stderr: `connkit: ` (red on a terminal) and the message.
func printError(_ text: String) {
    writeStandardError(Style.forStream(2).paint("connkit:", .red) + " " + text + (text.hasSuffix("\n") ? "" : "\n"))
}

/// Writes to file descriptor 2 directly (Glibc's `stderr` global is not concurrency-safe in Swift 6).
func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeMutableBytes { raw in write(2, raw.baseAddress! + offset, raw.count - offset) }
        if written <= 0 { return }
        offset += written
    }
}
