import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats

/// Colour (issue 10, item 11): severities and the verdict are coloured on a terminal, never in a pipe or
/// with NO_COLOR; CLICOLOR_FORCE turns colour on for a pipe.
struct TerminalCLITests {
    static let red = "\u{1B}[1;31m", yellow = "\u{1B}[1;33m", green = "\u{1B}[1;32m", escape = "\u{1B}["

    @Test func validateColoursSeveritiesAndVerdictOnATerminal() throws {
        let broken = try CLI.run(["validate", "examples/broken-llava-tiny"], terminal: .stdout)
        #expect(broken.status == 1)
        #expect(broken.stdout.contains(Self.red + "error\u{1B}[0m[shape-mismatch]"), "\(broken.stdout)")
        #expect(broken.stdout.contains(Self.yellow + "warning\u{1B}[0m[unexpected-tensor]"))
        #expect(broken.stdout.contains(Self.red + "INVALID\u{1B}[0m (2 errors, 1 warning)"))
        let valid = try CLI.run(["validate", "examples/llava-1.5-tiny"], terminal: .stdout)
        #expect(valid.stdout.contains(Self.green + "valid\u{1B}[0m (0 errors, 0 warnings)"), "\(valid.stdout)")
    }

    @Test func noColourInAPipeOrWithNoColor() throws {
        let piped = try CLI.run(["validate", "examples/broken-llava-tiny"])
        #expect(piped.status == 1 && !piped.stdout.contains(Self.escape))
        #expect(piped.stdout.contains("\nINVALID (2 errors, 1 warning)"))
        let noColor = try CLI.run(["validate", "examples/broken-llava-tiny"], environment: ["NO_COLOR": "1"], terminal: .stdout)
        #expect(noColor.status == 1 && !noColor.stdout.contains(Self.escape), "\(noColor.stdout)")
        let both = try CLI.run(["validate", "examples/broken-llava-tiny"], environment: ["NO_COLOR": "1", "CLICOLOR_FORCE": "1"])
        #expect(!both.stdout.contains(Self.escape))
        let forced = try CLI.run(["validate", "examples/broken-llava-tiny"], environment: ["CLICOLOR_FORCE": "1"])
        #expect(forced.stdout.contains(Self.red + "INVALID"))
    }

    /// stderr follows its own stream: errors and warnings are coloured when forced, never with NO_COLOR, and
    /// the text is otherwise the same.
    @Test func errorAndWarningLinesOnStderr() throws {
        let scratch = try Scratch()
        let huge: [Float] = [1, 70000, -1e6, 3]
        try QuantizeCLITests.write(scratch.file("big.safetensors"), [("w", .f32, [2, 2], huge.withUnsafeBytes { Array($0) })])
        let warned = try CLI.run(["convert", scratch.file("big.safetensors"), scratch.file("out.safetensors"), "--dtype", "f16"],
                                 environment: ["CLICOLOR_FORCE": "1"])
        #expect(warned.status == 0)
        #expect(warned.stderr.contains("connkit: " + Self.yellow + "warning\u{1B}[0m: \(scratch.file("big.safetensors")): tensor 'w'"), "\(warned.stderr)")
        let failed = try CLI.run(["inspect", "examples/missing.safetensors"], environment: ["CLICOLOR_FORCE": "1"])
        #expect(failed.stderr.hasPrefix(Self.red + "connkit:\u{1B}[0m examples/missing.safetensors"), "\(failed.stderr)")
        let plain = try CLI.run(["inspect", "examples/missing.safetensors"], environment: ["CLICOLOR_FORCE": "1", "NO_COLOR": "x"])
        #expect(plain.stderr.hasPrefix("connkit: examples/missing.safetensors"))
    }
}
