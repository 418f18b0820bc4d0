import ConnectorGraph
import Quantization
import TensorFormats

/// The bodies of the libFuzzer entries (`Tests/Fuzz/<Name>Fuzz.swift` call them; `swift test` replays every
/// committed corpus file through each, `Tests/FuzzReplayTests`). Each takes one input and returns what it
/// found wrong (empty: nothing): a refusal is the expected outcome of most inputs; a trap, a sanitizer
/// report or a finding is a bug. Every checkpoint a reader accepts is read in full and then taken through
/// the writers (`WriterRoundTrip`).
public enum FuzzEntries {
    /// Every entry by name, as `build.sh` and the replay test list them.
    public static let all: [(name: String, run: @Sendable (UnsafeRawBufferPointer) -> [String])] = [
        ("Safetensors", { safetensors($0) }), ("GGUF", { gguf($0) }), ("Npy", { npy($0) }), ("Npz", { npz($0) }),
        ("Unpickler", { unpickler($0) }), ("ONNX", { onnx($0) }), ("Graph", { graph($0) }), ("Writers", { writers($0) }),
    ]

    /// Builds the global tables the entries use (the built-in families' compiled schemes, kernels' tables)
    /// before fuzzing starts (`LLVMFuzzerInitialize`).
    public static func warmUp() {
        let checkpoint = Checkpoint(path: "warm-up", format: .safetensors, metadata: [], tensors: [])
        _ = Validator.validate(ValidationRequest(checkpoint: checkpoint, checkValues: true))
        _ = QuantizationPolicy.rules
    }

    /// The safetensors reader (and, through it, the strict JSON parser).
    public static func safetensors(_ input: UnsafeRawBufferPointer) -> [String] {
        guard let file = try? MappedFile(copying: input, path: "fuzz.safetensors"),
              let checkpoint = try? SafetensorsReader.read(file) else { return [] }
        return accepted(checkpoint)
    }

    /// The GGUF reader, from a real file (in /dev/shm), as the CLI maps it.
    public static func gguf(_ input: UnsafeRawBufferPointer) -> [String] {
        FuzzFiles.withFolder("gguf") { folder in
            let path = folder + "/input.gguf"
            guard FuzzFiles.write(input, to: path), let file = try? MappedFile(path: path),
                  let checkpoint = try? GGUFReader.read(file) else { return [] }
            return accepted(checkpoint)
        }
    }

    /// The .npy reader (header literal parser, descr mapping, byte-swap / Fortran reordering).
    public static func npy(_ input: UnsafeRawBufferPointer) -> [String] {
        guard let file = try? MappedFile(copying: input, path: "fuzz.npy"),
              let checkpoint = try? NpyReader.read(file) else { return [] }
        return accepted(checkpoint)
    }

    /// The zip archive reader (central directory, Zip64, data descriptors, bounded inflation, CRC) and the
    /// .npz reader on top of it.
    public static func npz(_ input: UnsafeRawBufferPointer) -> [String] {
        guard let file = try? MappedFile(copying: input, path: "fuzz.npz") else { return [] }
        // Every member of an accepted archive, whatever it holds. A small inflation cap keeps memory flat
        // (the ratio check already bounds it by the input).
        if let archive = try? ZipArchive(file: file, maxInflatedBytes: 1 << 24) {
            for entry in archive.entries {
                _ = try? entry.withPrefix(64) { $0.count }
                Touch.sink &+= (try? entry.withData { $0.reduce(0, &+) }) ?? 0
            }
        }
        guard let checkpoint = try? NpzReader.read(file) else { return [] }
        return accepted(checkpoint)
    }

    /// The restricted unpickler and the PyTorch readers. Inputs starting like a checkpoint (a zip archive
    /// or the legacy magic pickle) are read as a whole file; any other input is the object pickle of a
    /// legacy torch.save file, placed after fixed magic, protocol and system-info pickles, so mutations
    /// reach the unpickler directly.
    public static func unpickler(_ input: UnsafeRawBufferPointer) -> [String] {
        let isWholeFile = PyTorchReader.hasLegacyMagic(input) || (input.count >= 2 && input[0] == 0x50 && input[1] == 0x4B)
        let bytes = isWholeFile ? Array(input) : legacyPrefix + Array(input)
        // Views may repeat at most 64 MiB of storage here (4 GiB by default), so every accepted input is
        // gathered quickly under the sanitizer's memory limits.
        guard let file = bytes.withUnsafeBytes({ try? MappedFile(copying: $0, path: "fuzz.pt") }),
              let checkpoint = try? PyTorchReader.read(file, options: ReadOptions(maxMaterializedBytes: 64 << 20))
        else { return [] }
        return accepted(checkpoint)
    }

    private static let legacyPrefix: [UInt8] =
        [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]  // magic number
        + [0x80, 0x02, 0x4D, 0xE9, 0x03, 0x2E]  // protocol version 1001
        + [0x80, 0x02, 0x7D, 0x2E]  // system info: {}

    /// The ONNX reader (the wire scanner, protobuf-c's unpacking, initializers, Constant nodes and external
    /// data): each input is `model.onnx` in a folder that also holds a 4 KiB data file `w.bin`, so
    /// external-data locations, offsets and lengths meet a real file.
    public static func onnx(_ input: UnsafeRawBufferPointer) -> [String] {
        FuzzFiles.withFolder("onnx") { folder in
            let path = folder + "/model.onnx"
            guard externalData.withUnsafeBytes({ FuzzFiles.write($0, to: folder + "/w.bin") }),
                  FuzzFiles.write(input, to: path), let file = try? MappedFile(path: path),
                  let checkpoint = try? ONNXReader.read(file) else { return [] }
            return accepted(checkpoint)
        }
    }

    /// The user-written inputs of `validate`/`describe`: graph descriptions (JSON → Codable → structural
    /// verification) and config.json interpretation.
    public static func graph(_ input: UnsafeRawBufferPointer) -> [String] {
        guard let value = try? JSONValue.parse(input) else { return [] }
        if let graph = try? ConnectorGraph.parse(json: value.serialized()) {
            // An accepted graph must describe and round-trip without trapping.
            _ = try? graph.jsonText()
            _ = Describer.describe(FamilyVariant.custom(graph), claims: [])
            let checkpoint = Checkpoint(path: "fuzz", format: .safetensors, metadata: [], tensors: [])
            _ = Validator.validate(ValidationRequest(checkpoint: checkpoint, graph: graph, checkValues: false))
        }
        _ = ConfigReader.interpret(value, file: "config.json")
        return []
    }

    /// Any checkpoint file, by its first bytes (`CheckpointReader`'s sniffing), through the writers: the
    /// entry whose mutations reach convert, quantize and validate from every format at once.
    public static func writers(_ input: UnsafeRawBufferPointer) -> [String] {
        FuzzFiles.withFolder("input") { folder in
            let path = folder + "/input"
            guard FuzzFiles.write(input, to: path),
                  let checkpoint = try? CheckpointReader.open(path, options: ReadOptions(maxMaterializedBytes: 64 << 20))
            else { return [] }
            return accepted(checkpoint)
        }
    }

    /// Set by the libFuzzer binaries (`LLVMFuzzerInitialize`): the first accepted input installs connkit's
    /// signal handlers (`ProcessGuard`), as the CLI runs with them. Installed then, after libFuzzer has set
    /// its own handlers, they chain to libFuzzer's and AddressSanitizer's: a crash is still reported and
    /// its input saved, and the temporary outputs of the writers are removed first. The replay test leaves
    /// it off (the test runner's signals are its own).
    public nonisolated(unsafe) static var installsProcessGuard = false

    /// What happens to every accepted checkpoint: each byte read, then the writers.
    static func accepted(_ checkpoint: Checkpoint) -> [String] {
        if installsProcessGuard { ProcessGuard.install() }
        Touch.all(checkpoint)
        return WriterRoundTrip.check(checkpoint)
    }

    /// The ONNX entry's external data file `w.bin`.
    private static let externalData = (0 ..< 4096).map { UInt8(truncatingIfNeeded: $0 &* 31) }
}
