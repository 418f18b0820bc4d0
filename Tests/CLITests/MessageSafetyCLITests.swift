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

    /// Empty tensors ([0, 2, 2^40], [2, 0, 2^62]…) in every format through every writing command: copied
    /// unchanged (quantize reports them `empty`), never sized by their other dimensions.
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
        // Refusals are fine where the format cannot hold a dtype (q8_0 in safetensors, bf16 kept…); crashes are not.
        #expect([0, 1, 2].contains(result.status) && !result.stderr.contains("Backtracing"), "\(arguments): \(result.stderr)")
        let input = try CheckpointReader.open(Self.accepted + file)
        guard command[0] == "quantize", result.status == 0 else { return }
        let json = try CLI.json(result)
        for entry in try #require(json["tensors"]?.arrayValue) {
            let name = try #require(entry["name"]?.stringValue)
            guard let tensor = input.tensors.first(where: { $0.name.isSameName(as: name) }), tensor.info.elementCount == 0 else { continue }
            #expect(entry["reason"] == .string("empty"), "\(name): \(entry)")
            #expect(entry["type"] == .string(tensor.dtype.rawValue), "\(name): \(entry)")
        }
        let back = try CheckpointReader.open(scratch.file(command[1].hasSuffix(".gguf") ? "out.gguf" : "out.safetensors"))
        for tensor in input.tensors where tensor.info.elementCount == 0 {
            let written = try #require(back.tensors.first { $0.name.isSameName(as: tensor.name) })
            #expect(written.shape == tensor.shape && written.dtype == tensor.dtype)
        }
    }
}
