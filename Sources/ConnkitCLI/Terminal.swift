import ConnectorGraph
import TensorFormats
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

/// The one progress display of the CLI: a line on stderr, drawn only when stderr is a terminal (never with
/// `--quiet` or `--json`), fed with bytes written by the writer's progress callback:
///
///     converting  [#########.....................]  31%  312.5 MiB / 1.0 GiB  210.3 MiB/s  0:03 left
///
/// It redraws at most `maxRedrawsPerSecond` times a second (and once more at 100%), fits the terminal's
/// width, and `finish()` erases it so the lines that follow start on a clean line.
final class ProgressBar {
    static let maxRedrawsPerSecond = 10.0

    private let enabled: Bool
    private let label: String
    private let clock: () -> Double
    private let sink: (String) -> Void
    private let columns: Int
    private var start: Double?
    private var lastDraw = -Double.infinity
    private var drawn = false

    /// `enabled` defaults to "stderr is a terminal"; `clock` (seconds) and `sink` stand in for the real
    /// ones in tests.
    init(label: String, quiet: Bool, enabled: Bool? = nil, columns: Int? = nil, clock: @escaping () -> Double = monotonicSeconds,
         sink: @escaping (String) -> Void = writeStandardError) {
        self.label = label
        self.enabled = !quiet && (enabled ?? (isatty(2) == 1))
        self.clock = clock
        self.sink = sink
        self.columns = columns ?? terminalColumns(2) ?? 80
    }

    func update(done: Int, total: Int, bytesDone: Int, bytesTotal: Int) {
        guard enabled else { return }
        let now = clock()
        if start == nil { start = now }
        let complete = bytesDone >= bytesTotal
        guard now - lastDraw >= 1 / Self.maxRedrawsPerSecond || (complete && drawn) else { return }
        lastDraw = now
        drawn = true
        sink("\r" + line(bytesDone: bytesDone, bytesTotal: bytesTotal, elapsed: now - (start ?? now)) + "\u{1B}[K")
    }

    /// The text of one redraw.
    func line(bytesDone: Int, bytesTotal: Int, elapsed: Double) -> String {
        let fraction = bytesTotal > 0 ? min(1, Double(bytesDone) / Double(bytesTotal)) : 1
        var parts = [label, "\(Int(fraction * 100))%", "\(formatBytes(bytesDone)) / \(formatBytes(bytesTotal))"]
        if elapsed >= 0.25, bytesDone > 0 {
            let rate = Double(bytesDone) / elapsed
            parts.append(formatBytes(Int(rate)) + "/s")
            if bytesDone < bytesTotal { parts.append(formatDuration(Double(bytesTotal - bytesDone) / rate) + " left") }
        }
        let text = parts.joined(separator: "  ")
        let width = min(30, columns - text.count - 5)
        guard width >= 10 else { return String(text.prefix(max(0, columns - 1))) }
        let filled = Int(fraction * Double(width))
        let bar = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
        return parts[0] + "  " + bar + "  " + parts.dropFirst().joined(separator: "  ")
    }

    /// Erases the line (once; later calls do nothing).
    func finish() {
        guard drawn else { return }
        drawn = false
        sink("\r\u{1B}[K")
    }
}

/// `0:07`, `12:34`, `1:02:03`.
func formatDuration(_ seconds: Double) -> String {
    let total = seconds.isFinite ? max(0, Int(seconds.rounded(.up))) : 0
    let (hours, minutes, secs) = (total / 3600, total / 60 % 60, total % 60)
    let tail = (secs < 10 ? "0" : "") + String(secs)
    return hours > 0 ? "\(hours):\(minutes < 10 ? "0" : "")\(minutes):\(tail)" : "\(minutes):\(tail)"
}

/// Seconds on a monotonic clock.
func monotonicSeconds() -> Double { Stopwatch.now() }

/// The width of the terminal on `fd`, when it is one.
func terminalColumns(_ fd: Int32) -> Int? {
    var size = winsize()
    guard ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
    return Int(size.ws_col)
}
