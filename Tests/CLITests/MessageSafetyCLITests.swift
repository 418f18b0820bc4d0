import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats

/// Issue 11, classes 1, 5, 6 and 7, through the `connkit` executable, with the corpora of
/// `Tests/Fixtures/hostile/writers` and `hostile/accepted`: no control byte from a file reaches a terminal
/// raw, errors about an input's content name the input, writers refuse what connkit's readers refuse, and
/// empty tensors with huge other dimensions go through every command.
struct MessageSafetyCLITests {
    static let writers = CLI.fixture("hostile/writers/")
    static let accepted = CLI.fixture("hostile/accepted/")

    /// The tensor name of control_name.*: a screen clear, a cursor home, CR LF, a forged line, BEL and NUL.
    static let controlName = "\u{1B}[2J\u{1B}[H\r\nconnkit: all good\u{07}\u{00}!"

    /// Every byte on either stream is printable, or a line break.
    static func expectClean(_ result: CommandResult, _ what: String) {
        for (stream, text) in [("stdout", result.stdout), ("stderr", result.stderr)] {
            let raw = text.unicodeScalars.filter { ($0.value < 0x20 && $0 != "\n") || (0x7F ... 0x9F).contains($0.value) }
            #expect(raw.isEmpty, "\(what): \(stream) holds raw control characters \(raw.map { $0.value })")
            #expect(!text.split(separator: "\n").contains { $0.hasPrefix("connkit: all good") }, "\(what): a forged line")
        }
    }

    @Test(arguments: ["control_name.safetensors", "control_name.bin"],
          [["inspect"], ["inspect", "--json"], ["convert", "OUT.safetensors", "--dtype", "f16"], ["convert", "OUT.gguf"],
           ["convert", "OUT.npz"], ["quantize", "OUT.gguf", "--type", "q8_0"], ["quantize", "OUT.safetensors", "--type", "mlx-q4"],
           ["quantize", "OUT.safetensors", "--type", "mlx-q4", "--json"], ["validate"], ["validate", "--json"], ["describe"]])
    func controlBytesNeverReachTheTerminal(_ file: String, _ command: [String]) throws {
        let scratch = try Scratch()
        let arguments = [command[0], Self.writers + file] + command.dropFirst().map { $0.replacingOccurrences(of: "OUT", with: scratch.file("out")) }
        let result = try CLI.run(arguments)
        Self.expectClean(result, arguments.joined(separator: " "))
        // What names the tensor shows it escaped, whichever stream it is on.
        let shown = result.stdout + result.stderr
        if command.contains("inspect") || command.contains("OUT.gguf") || command.contains("--dtype") {
            #expect(shown.contains(#"\u{1b}[2J"#) || shown.contains(#"\u001b[2J"#), "\(shown)")
        }
    }

    /// A GGUF cannot hold a name with a NUL byte (ggml cuts it; connkit's reader refuses it): refused by the
    /// writer, for every input format and through quantize, naming the input and the tensor, leaving nothing.
    @Test(arguments: [("control_name.safetensors", ["convert"]), ("control_name.bin", ["convert"]),
                      ("nul_name.npz", ["convert"]), ("control_name.safetensors", ["quantize", "--type", "q8_0"])])
    func aGGUFNameWithANulIsRefusedNamingTheInput(_ file: String, _ command: [String]) throws {
        let scratch = try Scratch()
        let result = try CLI.run([command[0], Self.writers + file, scratch.file("out.gguf")] + command.dropFirst())
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("connkit: \(Self.writers + file): tensor '"), "\(result.stderr)")
        #expect(result.stderr.contains("NUL"), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == [])
    }

    /// Errors about the input's content that used to name the output.
    @Test(arguments: [("long_name.safetensors", "out.gguf", "tensor name length"),
                      ("arch_not_string.gguf", "out.gguf", "general.architecture must be a string"),
                      ("nested_array.gguf", "out.gguf", "nested arrays"),
                      ("nested_array.gguf", "out.safetensors", ""),
                      ("empty_name.gguf", "out.npz", "non-empty tensor name"),
                      ("../accepted/empty_huge_dims.gguf", "out.safetensors", "safetensors cannot hold q8_0")])
    func contentErrorsNameTheInput(_ file: String, _ output: String, _ phrase: String) throws {
        let scratch = try Scratch()
        let result = try CLI.run(["convert", Self.writers + file, scratch.file(output)])
        if phrase.isEmpty {
            // A nested array is text in safetensors metadata: written, and read back.
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try CLI.run(["inspect", scratch.file(output)]).status == 0)
            return
        }
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("connkit: \(Self.writers + file): "), "\(result.stderr)")
        #expect(result.stderr.contains(phrase), "\(result.stderr)")
        #expect(!result.stderr.contains(scratch.path), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == [])
    }

    /// NFC and NFD names are two tensors and two keys: every output holds both, and reads back.
    @Test(arguments: ["names_nfc_nfd.safetensors", "names_nfc_nfd.gguf", "names_nfc_nfd.pt", "names_nfc_nfd.npz",
                      "empty_dims_names.onnx"],
          ["out.safetensors", "out.gguf", "out.npz"])
    func namesThatDifferOnlyInNormalisationAreConverted(_ file: String, _ output: String) throws {
        let scratch = try Scratch()
        let input = try CheckpointReader.open(Self.accepted + file)
        let result = try CLI.run(["convert", Self.accepted + file, scratch.file(output)])
        #expect(result.status == 0, "\(result.stderr)")
        let back = try CheckpointReader.open(scratch.file(output))
        #expect(back.tensors.map { Array($0.name.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
            == input.tensors.map { Array($0.name.utf8) }.sorted { $0.lexicographicallyPrecedes($1) })
    }

    /// Empty tensors ([0, 2, 2^40], [2, 0, 2^62]…) in every format through every writing command: never sized
    /// by their other dimensions. The accepted corpus holds nothing else worth quantizing, so quantize says
    /// so (nothing-to-quantize, the empty tensors counted as such); convert copies them; validate reports no
    /// connector (exit 1).
    @Test(arguments: ["empty_huge_dims.safetensors", "empty_huge_dims.gguf", "empty_huge_dims.npy", "empty_huge_dims_fortran.npy",
                      "empty_long_row.npy", "empty_row_2p62.gguf", "empty_huge_dims.pt", "empty_huge_dims_legacy.pt",
                      "empty_dims_names.onnx"],
          [["quantize", "OUT.gguf", "--type", "q8_0", "--json"], ["quantize", "OUT.safetensors", "--type", "mlx-q4", "--json"],
           ["quantize", "OUT.gguf", "--type", "q4_k", "--json"], ["convert", "OUT.safetensors", "--dtype", "f16"],
           ["convert", "OUT.gguf"], ["validate"]])
    func emptyTensorsGoThroughEveryCommand(_ file: String, _ command: [String]) throws {
        let scratch = try Scratch()
        let arguments = [command[0], Self.accepted + file] + command.dropFirst().map { $0.replacingOccurrences(of: "OUT", with: scratch.file("out")) }
        let result = try CLI.run(arguments)
        let input = try CheckpointReader.open(Self.accepted + file)
        switch command[0] {
        case "validate":
            #expect(result.status == 1, "\(arguments): \(result.stderr)")
        case "convert":
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            let back = try CheckpointReader.open(scratch.file(command[1].replacingOccurrences(of: "OUT", with: "out")))
            for tensor in input.tensors where tensor.info.elementCount == 0 {
                let written = try #require(back.tensors.first { $0.name.isSameName(as: tensor.name) })
                #expect(written.shape == tensor.shape, "\(arguments): \(tensor.name)")
            }
        default:
            if result.status == 0 {
                try Self.expectEmptyCopied(result, input: input, output: scratch.file(command[1].replacingOccurrences(of: "OUT", with: "out")))
            } else {
                #expect(result.status == 2, "\(arguments): \(result.stderr)")
                #expect(try CLI.json(result)["code"] == .string("nothing-to-quantize"), "\(arguments): \(result.stdout)")
                let count = input.tensors.filter { $0.info.elementCount == 0 }.count
                #expect(result.stderr.contains("\(count) empty"), "\(arguments): \(result.stderr)")
            }
        }
    }

    /// Empty tensors beside a 64 x 64 f32 weight (hostile/writers/empty_beside_weights.*, one per input format,
    /// a Fortran-ordered member in the npz): quantize quantizes the weight and copies each empty tensor unchanged
    /// (its dtype and shape, whatever its other dimensions), reported with the reason `empty`.
    @Test(arguments: ["empty_beside_weights.safetensors", "empty_beside_weights.gguf", "empty_beside_weights.npz",
                      "empty_beside_weights.pt"],
          [["OUT.gguf", "--type", "q8_0"], ["OUT.gguf", "--type", "q4_k"], ["OUT.safetensors", "--type", "mlx-q4"],
           ["OUT.safetensors", "--type", "f16"]])
    func emptyTensorsAreCopiedWithTheReasonEmpty(_ file: String, _ command: [String]) throws {
        let scratch = try Scratch()
        let output = scratch.file(command[0].replacingOccurrences(of: "OUT", with: "out"))
        let result = try CLI.run(["quantize", Self.writers + file, output] + command.dropFirst() + ["--json"])
        let input = try CheckpointReader.open(Self.writers + file)
        #expect(input.tensors.filter { $0.info.elementCount == 0 }.count >= 2)
        if output.hasSuffix(".safetensors") && input.tensors.contains(where: { $0.dtype.isBlockQuantized }) {
            // An empty q8_0 tensor is still q8_0: safetensors cannot hold it, and the input is named for it.
            #expect(result.status == 2 && result.stderr.hasPrefix("connkit: \(Self.writers + file): tensor 'c': "), "\(result.stderr)")
            return
        }
        #expect(result.status == 0, "\(result.stderr)")
        try Self.expectEmptyCopied(result, input: input, output: output)
        let entries = try #require(try CLI.json(result)["tensors"]?.arrayValue)
        let weight = try #require(entries.first { $0["name"] == .string("w") })
        #expect(weight["reason"] != .string("empty"), "\(weight)")
        #expect(weight["type"] != .string("f32"), "\(weight)")
    }

    /// Each empty tensor of `input` is reported `empty` with its own dtype, and written with its shape and dtype.
    static func expectEmptyCopied(_ result: CommandResult, input: Checkpoint, output: String) throws {
        let json = try CLI.json(result)
        let entries = try #require(json["tensors"]?.arrayValue)
        let back = try CheckpointReader.open(output)
        for tensor in input.tensors where tensor.info.elementCount == 0 {
            let entry = try #require(entries.first { $0["name"]?.stringValue?.isSameName(as: tensor.name) == true })
            #expect(entry["reason"] == .string("empty"), "\(tensor.name): \(entry)")
            #expect(entry["type"] == .string(tensor.dtype.rawValue), "\(tensor.name): \(entry)")
            let written = try #require(back.tensors.first { $0.name.isSameName(as: tensor.name) })
            #expect(written.shape == tensor.shape && written.dtype == tensor.dtype, "\(tensor.name)")
        }
    }
}
