import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats
#if canImport(Glibc)
import Glibc
#endif

/// Issue 11, classes 3 and 4, through the `connkit` executable: an input truncated while connkit reads it
/// (SIGBUS in a mapping, or a short kernel copy) is named and leaves nothing behind; a killed writer's
/// temporary file is removed by the next write to the same output (and a live writer's is not); `ulimit -f`
/// gives a clean "File too large"; SIGTERM removes the temporary file. Each run is held at connkit's test
/// hold point (`CONNKIT_TEST_HOLD`: after its temporary output exists, before any tensor is read), so what
/// happens in between is deterministic.
@Suite(.serialized)
struct WriterSafetyCLITests {
    /// A safetensors file of 2 MiB: 16 f32 tensors of [64, 512] (quantizable: rows of 512), pages enough
    /// that a truncation leaves most tensors beyond the end of the file.
    static func writeInput(_ path: String) throws {
        let tensors = try (0 ..< 16).map { index in
            OutputTensor(info: try TensorInfo(name: "mm.\(index).weight", dtype: .f32, shape: [64, 512])) { output in
                let values = (0 ..< 64 * 512).map { Float(($0 * 7 + index) % 101) / 101 - 0.5 }
                try values.withUnsafeBytes { try output.write($0) }
            }
        }
        try CheckpointWriter(path: path, overwrite: true).write(tensors, metadata: [])
    }

    /// What a folder holds that connkit may have left: temporary files (`.NAME.connkit-PID-N.tmp`) and
    /// outputs (`out.*`).
    static func leftovers(_ folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix(".") || $0.hasPrefix("out") }.sorted()
    }

    static func temporaries(_ folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains(".connkit-") && $0.hasSuffix(".tmp") }
    }

    static let commands: [[String]] = [
        ["convert", "IN", "out.safetensors", "--dtype", "f32"],   // decoded from the mapping: SIGBUS
        ["convert", "IN", "out.safetensors"],                     // lossless: copy_file_range comes up short
        ["convert", "IN", "out.gguf"],
        ["convert", "IN", "out.npz", "--dtype", "f16"],
        ["quantize", "IN", "out.gguf", "--type", "q8_0"],
        ["quantize", "IN", "out.safetensors", "--type", "mlx-q4"],
        ["quantize", "IN", "out.gguf", "--type", "q4_k", "--json"],
    ]

    @Test(arguments: commands)
    func anInputTruncatedWhileReadIsNamedAndNothingIsLeft(_ command: [String]) throws {
        let scratch = try Scratch()
        let input = scratch.file("in.safetensors")
        try Self.writeInput(input)
        let arguments = command.map { $0 == "IN" ? input : $0.hasPrefix("out.") ? scratch.file($0) : $0 }
        let run = try HeldCommand(arguments, holdFile: scratch.file("hold"))
        #expect(run.isHeld)
        #expect(try Self.temporaries(scratch.path).count == 1)
        #expect(truncate(input, 100) == 0)
        let result = run.release()
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("connkit: \(input): changed while being read"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(try Self.leftovers(scratch.path) == [])
        if command.contains("--json") {
            let json = try CLI.json(result)
            #expect(json["code"] == .string("io"))
            #expect(json["error"]?.stringValue?.hasPrefix("\(input): changed while being read") == true)
        }
    }

    /// The value scan of `validate` reads in parallel, on other threads than the main one.
    @Test(arguments: [false, true])
    func theValueScanOfValidateNamesATruncatedInput(json: Bool) throws {
        let scratch = try Scratch()
        let folder = scratch.file("llava")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for name in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: CLI.repositoryRoot + "/examples/llava-1.5-tiny/" + name, toPath: folder + "/" + name)
        }
        let run = try HeldCommand(["validate", folder] + (json ? ["--json"] : []), holdFile: scratch.file("hold"))
        #expect(run.isHeld)
        #expect(truncate(folder + "/model.safetensors", 0) == 0)
        let result = run.release()
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("\(folder)/model.safetensors: changed while being read"), "\(result.stderr)")
        if json { #expect(try CLI.json(result)["code"] == .string("io")) }
    }

    /// `convert IN out.gguf` in a new folder, held once its temporary file exists.
    static func heldConversion() throws -> (scratch: Scratch, input: String, output: String, run: HeldCommand) {
        let scratch = try Scratch()
        let input = scratch.file("in.safetensors")
        try writeInput(input)
        let output = scratch.file("out.gguf")
        let run = try HeldCommand(["convert", input, output], holdFile: scratch.file("hold"))
        #expect(run.isHeld)
        return (scratch, input, output, run)
    }

    @Test func aKilledWritersTemporaryFileIsRemovedByTheNextWrite() throws {
        let (scratch, input, output, run) = try Self.heldConversion()
        kill(run.process.processIdentifier, SIGKILL)
        _ = run.wait()
        let stale = try Self.temporaries(scratch.path)
        #expect(stale.count == 1, "SIGKILL cannot be handled: the temporary file stays until the next write")
        let again = try CLI.run(["convert", input, output])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try Self.temporaries(scratch.path) == [])
        #expect(FileManager.default.fileExists(atPath: output))
    }

    @Test func aLiveWritersTemporaryFileIsLeftAlone() throws {
        let (scratch, input, output, first) = try Self.heldConversion()
        let held = try Self.temporaries(scratch.path)
        let second = try CLI.run(["convert", input, output])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try Self.temporaries(scratch.path) == held, "the live writer's temporary file was removed")
        // The first writer goes on and finds the output written meanwhile: refused, its temporary file gone.
        let result = first.release()
        #expect(result.status == 2)
        #expect(result.stderr.contains("already exists"), "\(result.stderr)")
        #expect(try Self.temporaries(scratch.path) == [])
    }

    /// A termination signal (SIGTERM, SIGINT, SIGHUP) or a crash signal that is not a changed input (sent with
    /// kill, so it has no faulting address in a mapping: SIGSEGV, SIGBUS, SIGABRT) removes the temporary file,
    /// then goes on to the action in place before connkit's handler — here the default one (Swift's backtracer
    /// turned off: its helper process would outlive the run and hold the pipes) — and the process ends with
    /// that signal.
    @Test(arguments: [SIGTERM, SIGINT, SIGHUP, SIGSEGV, SIGBUS, SIGABRT])
    func aSignalRemovesTheTemporaryFile(_ signal: Int32) throws {
        let scratch = try Scratch()
        let input = scratch.file("in.safetensors")
        try Self.writeInput(input)
        let run = try HeldCommand(["quantize", input, scratch.file("out.gguf"), "--type", "q8_0"], holdFile: scratch.file("hold"),
                                  environment: ["SWIFT_BACKTRACE": "enable=no"])
        #expect(run.isHeld)
        #expect(try Self.temporaries(scratch.path).count == 1)
        kill(run.process.processIdentifier, signal)
        let result = run.wait()
        #expect(run.process.terminationReason == .uncaughtSignal && result.status == signal, "\(result.stderr)")
        #expect(!result.stderr.contains("changed while being read"), "\(result.stderr)")
        #expect(try Self.leftovers(scratch.path) == [])
    }

    /// `ulimit -f` (in a shell of its own): SIGXFSZ is ignored, so the write fails with EFBIG, reported on the
    /// output, and the temporary file is removed — for a cast (write(2)) and a lossless copy (copy_file_range).
    @Test(arguments: [["--dtype", "f32"], []])
    func aFileSizeLimitIsACleanError(_ extra: [String]) throws {
        let scratch = try Scratch()
        let input = scratch.file("in.safetensors")
        try Self.writeInput(input)
        let output = scratch.file("out.safetensors")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // 256 blocks of 1 KiB (512 bytes in some shells): far below the 2 MiB output either way.
        process.arguments = ["-c", "ulimit -f 256; exec \"$0\" \"$@\"", CLI.executable, "convert", input, output] + extra
        let err = Pipe()
        process.standardError = err
        process.standardOutput = Pipe()
        try process.run()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 2, "\(message)")
        #expect(message.contains("\(output): write failed: File too large"), "\(message)")
        #expect(try Self.leftovers(scratch.path) == [])
    }
}
