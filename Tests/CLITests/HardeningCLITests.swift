import ConnkitTestSupport
import Foundation
import Testing
@testable import ConnkitCLI
#if canImport(Glibc)
import Glibc
#endif

/// Issue 11's reader-side classes through the `connkit` executable: non-regular files, the materialisation
/// cap and its `--max-materialize` flag, empty PyTorch views with huge offsets, numbers in messages.
struct HardeningCLITests {
    static let hostile = CLI.fixture("hostile/")

    /// A FIFO opened for reading blocks until a writer comes: these runs are killed after 30 s.
    static func runWithTimeout(_ arguments: [String]) throws -> CommandResult {
        let result = try CLI.run(arguments, timeout: 30)
        #expect(!result.timedOut, "connkit \(arguments.joined(separator: " ")) blocked for 30 s")
        return result
    }

    @Test(arguments: [["inspect"], ["inspect", "--json"], ["convert", "OUT"], ["quantize", "OUT", "--type", "q8_0"],
                      ["validate", "--no-values"]])
    func fifoIsRefusedWithoutBlocking(_ command: [String]) throws {
        let scratch = try Scratch()
        let fifo = scratch.file("p.safetensors")
        #expect(mkfifo(fifo, 0o600) == 0)
        var arguments = [command[0], fifo] + command.dropFirst()
        arguments = arguments.map { $0 == "OUT" ? scratch.file(command[0] == "quantize" ? "out.gguf" : "out.safetensors") : $0 }
        let result = try Self.runWithTimeout(arguments)
        #expect(result.status == 2)
        #expect(result.stderr.contains(fifo) && result.stderr.contains("FIFO"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: scratch.file("out.safetensors")))
        #expect(!FileManager.default.fileExists(atPath: scratch.file("out.gguf")))
    }

    @Test func fifoShardNamedInAnIndexIsRefused() throws {
        let scratch = try Scratch()
        let shard = scratch.file("model-00001-of-00001.safetensors")
        #expect(mkfifo(shard, 0o600) == 0)
        let index = "{\"weight_map\": {\"w\": \"model-00001-of-00001.safetensors\"}}"
        try Data(index.utf8).write(to: URL(fileURLWithPath: scratch.file("model.safetensors.index.json")))
        let result = try Self.runWithTimeout(["inspect", scratch.path])
        #expect(result.status == 2)
        #expect(result.stderr.contains(shard) && result.stderr.contains("FIFO"), "\(result.stderr)")
    }

    @Test func characterDeviceIsRefused() throws {
        let result = try Self.runWithTimeout(["inspect", "/dev/zero"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("character device"), "\(result.stderr)")
    }

    /// 100 stride-0 views of a 64-byte storage list 100 GiB: refused by default with the amount and the flag;
    /// listed with a higher `--max-materialize`; never written by `convert`.
    @Test func amplificationIsCapped() throws {
        let file = Self.hostile + "pytorch/stride0_views_100gib.bin"
        let refused = try CLI.run(["inspect", file])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("107374182336") && refused.stderr.contains("--max-materialize"), "\(refused.stderr)")
        #expect(refused.stderr.contains("4294967296"))

        let listed = try CLI.run(["inspect", "--json", file, "--max-materialize", "100G"])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(try CLI.json(listed)["tensors"]?.arrayValue?.count == 100)

        let scratch = try Scratch()
        for command in [["convert", file, scratch.file("out.safetensors")],
                        ["quantize", file, scratch.file("out.gguf"), "--type", "q8_0"],
                        ["validate", file, "--no-values"], ["describe", file]] {
            let result = try CLI.run(command)
            #expect(result.status == 2, "\(command[0]): \(result.stderr)")
            #expect(result.stderr.contains("--max-materialize"), "\(command[0]): \(result.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
    }

    /// The flag caps tied weights too: `w` and `w_tied` repeat 16 bytes.
    @Test(arguments: [("15", 2), ("16", 0), ("1K", 0), ("0", 2)])
    func maxMaterializeApplies(_ size: String, _ status: Int32) throws {
        let result = try CLI.run(["inspect", CLI.fixture("hostile/accepted/empty_huge_dims.pt"), "--max-materialize", size])
        #expect(result.status == status, "\(size): \(result.stderr)")
    }

    @Test(arguments: ["4x", "-1", "G", "", "99999999999999999999", "1.5G", "4iB"])
    func badSizesAreUsageErrors(_ size: String) throws {
        let result = try CLI.run(["inspect", CLI.fixture("pytorch/mm_projector.bin"), "--max-materialize", size])
        #expect(result.status == 2)
        #expect(result.stderr.contains("--max-materialize"), "\(result.stderr)")
    }

    @Test(arguments: [("1073741824", 1 << 30), ("512M", 512 << 20), ("4G", 4 << 30), ("4g", 4 << 30), ("4GiB", 4 << 30),
                      ("4GB", 4 << 30), ("2T", 2 << 40), ("3k", 3 << 10), ("7", 7), ("7B", 7), ("0", 0)])
    func sizesParse(_ text: String, _ bytes: Int) {
        #expect(ByteSize.parse(text) == bytes)
    }

    @Test func sizeOverflowIsRefused() {
        #expect(ByteSize.parse("9223372036854775807") == Int.max)
        #expect(ByteSize.parse("8388608T") == nil)
    }

    /// Empty views whose offset lies past their storage: refused on open by every command, no output.
    @Test(arguments: ["empty_view_offset_2p62.pt", "empty_view_offset_1e9.pt"])
    func emptyViewsWithHugeOffsetsAreRefused(_ name: String) throws {
        let file = Self.hostile + "pytorch/" + name
        let scratch = try Scratch()
        for command in [["inspect", file], ["convert", file, scratch.file("o.safetensors")],
                        ["convert", file, scratch.file("o.gguf"), "--dtype", "f16"],
                        ["quantize", file, scratch.file("q.gguf"), "--type", "q8_0"]] {
            let result = try CLI.run(command)
            #expect(result.status == 2, "\(command): \(result.stderr)")
            #expect(result.stderr.contains(file) && result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
    }

    /// Messages print what the file holds, not a clamped or reinterpreted number.
    @Test(arguments: [
        ("gguf/offset_u64_near_max.gguf", "offset 18446744073709551584", "offset 9223372036854775807"),
        ("pytorch/long4_negative_length.pt", "-5", "4294967291"),
        ("pytorch/size_beyond_int64.pt", "size 18446744073709551616", "a int"),
        ("pytorch/legacy_storage_count_mismatch.pt", "1152921504606846976 elements", "bytes"),
    ])
    func messagesPrintTheFileValue(_ file: String, _ text: String, _ wrong: String) throws {
        let result = try CLI.run(["inspect", Self.hostile + file])
        #expect(result.status == 2)
        #expect(result.stderr.contains(text), "\(result.stderr)")
        #expect(!result.stderr.contains(wrong), "\(result.stderr)")
    }
}
