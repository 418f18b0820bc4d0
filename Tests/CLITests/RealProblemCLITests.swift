import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats

/// Errors name the real problem (issue 10, item 8): what a file is when it is not what its name says, an
/// argument that is neither a family nor a path, a missing output folder, an output that is a folder.
struct RealProblemCLITests {
    /// (content written, what the error must say it looks like)
    static let impostors: [(name: String, bytes: [UInt8], looksLike: String)] = [
        ("text", Array("hello, this is a text file\nsecond line\n".utf8), "text (\"hello, this is a text file\")"),
        ("lfs", Array("version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 42\n".utf8), "a Git LFS pointer"),
        ("html", Array("<!DOCTYPE html>\n<html><body>Not found</body></html>\n".utf8), "an HTML page"),
        ("gguf", Array("GGUF".utf8) + [3, 0, 0, 0] + [UInt8](repeating: 0, count: 16), "a GGUF file"),
        ("zip", [0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 0, count: 26), "a zip archive"),
        ("pickle", [0x80, 0x02, 0x8A, 0x0A] + [UInt8](repeating: 0x6C, count: 10), "a Python pickle (protocol 2"),
        ("gzip", [0x1F, 0x8B, 0x08, 0x00] + [UInt8](repeating: 0, count: 12), "gzip-compressed data"),
    ]

    /// Each impostor under each reader's extension, through two commands: the format it is not, and what it is.
    @Test(arguments: impostors.indices)
    func aFileThatIsNotItsFormatSaysWhatItIs(_ index: Int) throws {
        let (name, bytes, looksLike) = Self.impostors[index]
        let scratch = try Scratch()
        for (ext, format) in [("safetensors", "a safetensors"), ("gguf", "a GGUF"), ("npy", "an npy"), ("npz", "an npz"), ("pt", "a PyTorch"),
                               ("onnx", "an ONNX")] {
            if (name == "gguf" && ext == "gguf") || (name == "zip" && ["npz", "pt"].contains(ext)) || (name == "pickle" && ext == "pt") {
                continue  // the file's own format: a broken file of it, reported by its reader
            }
            let path = scratch.file("\(name).\(ext)")
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let inspected = try CLI.run(["inspect", path, "--json"])
            #expect(inspected.status == 2)
            let json = try CLI.json(inspected)
            #expect(json["code"]?.stringValue == "unreadable-input")
            #expect(json["error"]?.stringValue == "\(path): not \(format) file: it looks like \(looksLike)"
                    || json["error"]?.stringValue?.hasPrefix("\(path): not \(format) file: it looks like \(looksLike)") == true,
                    "\(inspected.stdout)")
            let converted = try CLI.run(["convert", path, scratch.file("out.safetensors")])
            #expect(converted.status == 2 && converted.stderr.contains("not \(format) file: it looks like \(looksLike)"), "\(converted.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.file("out.safetensors")))
    }

    /// A broken file of the expected format keeps its reader's own error (not "not a … file").
    @Test(arguments: ["hostile/safetensors/header_too_large.safetensors", "hostile/safetensors/header_length_u64_max.safetensors",
                      "hostile/gguf/bad_magic.gguf", "hostile/npy/bad_magic.npy", "hostile/npz/not_a_zip.npz"])
    func brokenFilesOfTheFormatKeepTheirError(_ fixture: String) throws {
        let result = try CLI.run(["inspect", CLI.fixture(fixture)])
        #expect(result.status == 2)
        #expect(!result.stderr.contains("not a"), "\(result.stderr)")
    }

    @Test func describeOfNeitherAFamilyNorAPath() throws {
        for arguments in [["describe", "MPL", "--json"], ["describe", "projector", "--json"]] {
            let result = try CLI.run(arguments)
            #expect(result.status == 2)
            let json = try CLI.json(result)
            #expect(json["code"]?.stringValue == "unknown-value")
            let error = try #require(json["error"]?.stringValue)
            #expect(error.hasPrefix("'\(arguments[1])' is neither a family nor an existing file or folder"), "\(error)")
            #expect(error.contains("families: linear, mlp, qformer, perceiver-resampler"))
        }
        // A path that does not exist is reported as a path.
        let missing = try CLI.json(try CLI.run(["describe", "examples/nothing.safetensors", "--json"]))
        #expect(missing["code"]?.stringValue == "unreadable-input")
    }

    /// A folder without a checkpoint lists what it holds, tensor files first (inspect, validate, convert).
    @Test func aFolderWithoutACheckpointListsWhatItHolds() throws {
        let scratch = try Scratch()
        try FileManager.default.createDirectory(atPath: scratch.file("sub"), withIntermediateDirectories: false)
        for name in ["mmproj-f16.gguf", "notes.txt"] { try Data().write(to: URL(fileURLWithPath: scratch.file(name))) }
        for arguments in [["inspect", scratch.path, "--json"], ["validate", scratch.path, "--json"],
                          ["convert", scratch.path, scratch.file("out.safetensors"), "--json"]] {
            let result = try CLI.run(arguments)
            #expect(result.status == 2)
            let json = try CLI.json(result)
            #expect(json["code"]?.stringValue == "unreadable-input")
            let error = try #require(json["error"]?.stringValue)
            #expect(error.hasPrefix("\(scratch.path): no checkpoint in this folder"), "\(error)")
            #expect(error.hasSuffix("it holds tensor file mmproj-f16.gguf (give one as the path); and notes.txt, sub/"), "\(error)")
        }
        let empty = try Scratch()
        #expect(try CLI.run(["inspect", empty.path]).stderr.hasSuffix("; it is empty\n"))
    }

    /// The missing folder is named (convert and quantize); nothing is created.
    @Test func writingIntoAMissingFolderNamesIt() throws {
        let scratch = try Scratch()
        for arguments in [["convert", "examples/llava-1.5-tiny", scratch.file("no/such/out.safetensors")],
                          ["quantize", "examples/llava-1.5-tiny", scratch.file("no/such/out.gguf"), "--type", "q8_0"]] {
            let result = try CLI.run(arguments)
            #expect(result.status == 2)
            #expect(result.stderr.contains("folder \(scratch.file("no/such/")) not found"), "\(result.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
    }

    /// An existing folder as OUT is refused as a folder, with or without --force, named or not like a file.
    @Test func anOutputFolderIsRefusedAsAFolder() throws {
        let scratch = try Scratch()
        try FileManager.default.createDirectory(atPath: scratch.file("d.safetensors"), withIntermediateDirectories: false)
        for output in [scratch.path, scratch.file("d.safetensors")] {
            for arguments in [["convert", "examples/llava-1.5-tiny", output], ["convert", "examples/llava-1.5-tiny", output, "--force"],
                              ["quantize", "examples/llava-1.5-tiny", output, "--type", "f16", "--force", "--json"]] {
                let result = try CLI.run(arguments)
                #expect(result.status == 2)
                #expect(result.stderr.contains("\(output): the output is a folder; give a file name"), "\(result.stderr)")
                if arguments.contains("--json") { #expect(try CLI.json(result)["code"]?.stringValue == "output-exists") }
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.file("d.safetensors")).isEmpty)
    }
}
