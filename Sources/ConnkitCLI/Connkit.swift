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
        version: "0.1.0",
        subcommands: [Inspect.self, Convert.self, Quantize.self, Validate.self, Describe.self])

    public init() {}

    /// Runs the command line and returns the process exit status, mapping every failure onto connkit's
    /// convention: 0 success, 1 the input fails a check, 2 unusable input or bad usage.
    public static func main(arguments: [String]) -> Int32 {
        installSignalCleanup()
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            return 0
        } catch let failure as CheckFailed {
            _ = failure
            return 1
        } catch let error as FormatError {
            printError(error.description)
            return 2
        } catch let error as CommandFailure {
            printError(error.message)
            return 2
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                // --help, --version
                print(fullMessage(for: error))
                return 0
            }
            // One line, as for every other failure: the parser's message without its usage block.
            let message = self.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid usage"
            let subcommand = arguments.first.flatMap { name in
                configuration.subcommands.first { $0._commandName == name }?._commandName
            }
            printError(message + " (see 'connkit \(subcommand.map { $0 + " " } ?? "")--help')")
            return 2
        }
    }
}

/// Thrown by a command whose input was read but failed a check (exit status 1); the report is already out.
public struct CheckFailed: Error {
    public init() {}
}

/// A usage or input problem detected by the CLI layer itself; printed as one line, exit status 2.
public struct CommandFailure: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

func printError(_ text: String) {
    var line = text.hasPrefix("connkit:") || text.hasPrefix("Error:") || text.hasPrefix("Usage:") ? text : "connkit: " + text
    if !line.hasSuffix("\n") { line += "\n" }
    writeStandardError(line)
}

private func installSignalCleanup() {
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        signal(sig) { received in
            TemporaryFiles.removeAll()
            signal(received, SIG_DFL)
            raise(received)
        }
    }
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
