@testable import ConnkitCLI
import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats

/// Progress (issue 10, item 10): bytes done, rate and time left, at most ten redraws a second, erased at the
/// end; `--quiet` drops it and the informational lines but never warnings, errors or results.
struct ProgressCLITests {
    /// A fake clock and a record of what the bar drew.
    final class Recorder {
        var now = 0.0
        var drawn: [String] = []
    }

    static func bar(_ recorder: Recorder, columns: Int = 100) -> ProgressBar {
        ProgressBar(label: "converting", quiet: false, enabled: true, columns: columns, clock: { recorder.now }) { recorder.drawn.append($0) }
    }

    @Test func drawsBytesRateAndTimeLeft() {
        let recorder = Recorder()
        let bar = Self.bar(recorder)
        bar.update(done: 0, total: 4, bytesDone: 0, bytesTotal: 4 << 30)
        recorder.now = 2
        bar.update(done: 1, total: 4, bytesDone: 1 << 30, bytesTotal: 4 << 30)
        #expect(recorder.drawn.last == "\rconverting  [#######.......................]  25%  1.0 GiB / 4.0 GiB  512.0 MiB/s  0:06 left\u{1B}[K")
        bar.finish()
        #expect(recorder.drawn.last == "\r\u{1B}[K")
        bar.finish()
        #expect(recorder.drawn.count == 3)  // erased once
    }

    /// Updates arrive every MiB; the bar redraws at most ten times a second, plus once at 100%.
    @Test func redrawsAtMostTenTimesASecond() {
        let recorder = Recorder()
        let bar = Self.bar(recorder)
        let total = 3000
        for step in 0 ... total {
            recorder.now = Double(step) / 1000  // 1,000 updates a second for 3 s
            bar.update(done: step, total: total, bytesDone: step << 20, bytesTotal: total << 20)
        }
        #expect(recorder.drawn.count <= 3 * 10 + 2)
        #expect(recorder.drawn.count >= 3 * 10 - 1)
        #expect(recorder.drawn.last?.contains("100%") == true && recorder.drawn.last?.contains("left") == false)
    }

    @Test func fitsANarrowTerminal() {
        let recorder = Recorder()
        let bar = Self.bar(recorder, columns: 40)
        bar.update(done: 0, total: 1, bytesDone: 10, bytesTotal: 100)
        let line = recorder.drawn[0].dropFirst().replacingOccurrences(of: "\u{1B}[K", with: "")
        #expect(line.count < 40 && !line.contains("["), "\(line)")
    }

    @Test func formatsDurations() {
        #expect([0.2, 7, 59.5, 754, 3723].map(formatDuration) == ["0:01", "0:07", "1:00", "12:34", "1:02:03"])
    }

    static func writeInput(_ path: String) throws {
        let values = [Float](repeating: 0.5, count: 1 << 20)  // 4 MiB
        try QuantizeCLITests.write(path, [("mm.0.weight", .f32, [1024, 1024], values.withUnsafeBytes { Array($0) })])
    }

    /// On a terminal the bar is drawn on stderr and erased before the command ends, for convert and quantize.
    @Test func theBarIsDrawnAndErasedOnATerminal() throws {
        let scratch = try Scratch()
        try Self.writeInput(scratch.file("in.safetensors"))
        for (command, label, extra) in [("convert", "converting", ["--dtype", "f16"]), ("quantize", "quantizing", ["--type", "q8_0"])] {
            let output = scratch.file("\(command).gguf")
            let result = try CLI.run([command, scratch.file("in.safetensors"), output] + extra, terminal: .stderr)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.hasPrefix("\r\(label)  ["), "\(result.stderr.debugDescription)")
            #expect(result.stderr.contains("100%") && result.stderr.contains(" MiB / "), "\(result.stderr.debugDescription)")
            #expect(result.stderr.hasSuffix("\r\u{1B}[K"), "\(result.stderr.debugDescription)")
            #expect(result.stdout.contains("wrote \(output)"))
            // --quiet: no bar, no 'wrote' line; quantize's report (its result) stays.
            let quiet = try CLI.run([command, scratch.file("in.safetensors"), output, "--force", "--quiet"] + extra, terminal: .stderr)
            #expect(quiet.status == 0 && quiet.stderr.isEmpty, "\(quiet.stderr.debugDescription)")
            #expect(!quiet.stdout.contains("wrote"))
            #expect(quiet.stdout.contains("mm.0.weight") == (command == "quantize"))
            // --json: no bar either.
            let json = try CLI.run([command, scratch.file("in.safetensors"), output, "--force", "--json"] + extra, terminal: .stderr)
            #expect(json.status == 0 && json.stderr.isEmpty)
        }
    }

    /// `run --quiet`: the summary is dropped only when --output holds the result.
    @Test func quietRunKeepsItsResult() throws {
        let scratch = try Scratch()
        let summary = try CLI.run(["run", "examples/llava-1.5-tiny", "--random", "4", "--quiet"])
        #expect(summary.status == 0 && summary.stdout.contains("output: [4, 128]"), "\(summary.stdout)")
        let written = try CLI.run(["run", "examples/llava-1.5-tiny", "--random", "4", "--quiet", "--output", scratch.file("o.npy")])
        #expect(written.status == 0 && written.stdout.isEmpty && written.stderr.isEmpty)
        #expect(FileManager.default.fileExists(atPath: scratch.file("o.npy")))
    }

    /// --quiet never drops a warning.
    @Test func quietKeepsWarnings() throws {
        let scratch = try Scratch()
        let huge: [Float] = [1, 70000, -1e6, 3]
        try QuantizeCLITests.write(scratch.file("big.safetensors"), [("w", .f32, [2, 2], huge.withUnsafeBytes { Array($0) })])
        let result = try CLI.run(["convert", scratch.file("big.safetensors"), scratch.file("out.safetensors"), "--dtype", "f16", "--quiet"])
        #expect(result.status == 0 && result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("connkit: warning: \(scratch.file("big.safetensors")): tensor 'w'"), "\(result.stderr)")
    }
}
