import ConnectorGraph
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Colour for a terminal: severities (error, warning, note) and the valid/INVALID verdict. On only when
/// the stream is a terminal and `NO_COLOR` is not set (https://no-color.org); `CLICOLOR_FORCE` (any
/// value but `0`) turns it on for a pipe too — what tests and `less -R` use. `NO_COLOR` always wins.
struct Style: Sendable {
    let enabled: Bool

    static let plain = Style(enabled: false)

    /// The style for file descriptor `fd` (1 stdout, 2 stderr) under the current environment.
    static func forStream(_ fd: Int32) -> Style {
        Style(enabled: colourWanted(isTerminal: isatty(fd) == 1))
    }

    static func colourWanted(isTerminal: Bool) -> Bool {
        if let noColor = getenv("NO_COLOR"), noColor.pointee != 0 { return false }
        if let force = getenv("CLICOLOR_FORCE"), String(cString: force) != "0", force.pointee != 0 { return true }
        return isTerminal
    }

    enum Colour: String {
        case red = "31", yellow = "33", cyan = "36", green = "32"
    }

    /// `text` in bold `colour` (unchanged when colour is off).
    func paint(_ text: String, _ colour: Colour) -> String {
        enabled ? "\u{1B}[1;\(colour.rawValue)m\(text)\u{1B}[0m" : text
    }

    /// A severity word in its colour: error red, warning yellow, note cyan.
    func severity(_ severity: Severity) -> String {
        switch severity {
        case .error: paint(severity.rawValue, .red)
        case .warning: paint(severity.rawValue, .yellow)
        case .note: paint(severity.rawValue, .cyan)
        }
    }

    /// The verdict of a check: `valid` green, `INVALID` red.
    func verdict(_ valid: Bool) -> String {
        valid ? paint("valid", .green) : paint("INVALID", .red)
    }
}

/// One warning line on stderr (`connkit: warning: …`): never silenced, `--quiet` included.
func printWarning(_ text: String) {
    writeStandardError("connkit: \(Style.forStream(2).severity(.warning)): \(printable(text))\n")
}
