import Foundation
import Testing
@testable import TensorFormats

/// PyTorch checkpoints written by real `torch.save` (Tests/Fixtures/pytorch/generate.py): every storage
/// dtype, both serialisation formats, wrappers, views, shards, big-endian storages.
struct PyTorchReaderTests {
    static let expected: [JSONValue.Member] = (try? Fixtures.json("pytorch/expected.json").objectMembers) ?? []
    static let fixtureNames: [String] = expected.map(\.key)

    private func open(_ name: String) throws -> Checkpoint {
        try CheckpointReader.open(Fixtures.path("pytorch/" + name))
    }

    @Test func everyFixtureIsListed() {
        #expect(Self.fixtureNames.count >= 15)
    }

    @Test(arguments: fixtureNames)
    func tensorsMatchTorch(fixture: String) throws {
        let checkpoint = try open(fixture)
        #expect(checkpoint.format == .pytorch)
        let expected = try #require(Self.expected.first(where: { $0.key == fixture })?.value)
        let tensors = try #require(expected["tensors"]?.arrayValue)
        #expect(Set(checkpoint.tensors.map(\.name)) == Set(tensors.compactMap { $0["name"]?.stringValue }))
        for entry in tensors {
            let name = try #require(entry["name"]?.stringValue)
            let tensor = try #require(checkpoint.tensor(named: name), "\(fixture): missing \(name)")
            #expect(tensor.dtype.rawValue == entry["dtype"]?.stringValue, "\(fixture): \(name)")
            #expect(tensor.shape == entry["shape"]?.arrayValue?.compactMap(\.intValue), "\(fixture): \(name)")
            let data = try bytes(of: tensor)
            #expect(data.count == entry["nbytes"]?.intValue, "\(fixture): \(name)")
            #expect(hexDigest(data) == entry["sha256"]?.stringValue, "\(fixture): \(name) bytes differ from torch's")
        }
    }

    @Test(arguments: fixtureNames)
    func nonTensorLeavesBecomeMetadata(fixture: String) throws {
        let checkpoint = try open(fixture)
        let expected = try #require(Self.expected.first(where: { $0.key == fixture })?.value)
        let metadata = expected["metadata"]?.objectMembers ?? []
        #expect(Set(checkpoint.metadata.map(\.key)) == Set(metadata.map(\.key)), "\(fixture)")
        for member in metadata {
            let value = try #require(checkpoint.metadata[member.key], "\(fixture): \(member.key)")
            let pair = try #require(member.value.arrayValue)
            let (type, reference) = (pair[0].stringValue, pair[1])
            #expect(Self.matches(value, type: type, reference), "\(fixture): \(member.key) = \(value) vs \(reference)")
        }
    }

    private static func matches(_ value: MetadataValue, type: String?, _ reference: JSONValue) -> Bool {
        switch (value, type) {
        case (.int64(let number), "int64"): return reference.int64Value == number
        case (.float64(let number), "float64"): return reference.doubleValue == number
        case (.bool(let flag), "bool"): return reference.boolValue == flag
        case (.string(let text), "string"): return reference.stringValue == text
        case (.array(_, let items), "array"):
            guard let references = reference.arrayValue, references.count == items.count else { return false }
            return zip(items, references).allSatisfy { item, ref in
                switch item {
                case .int64(let number): ref.int64Value == number
                case .float64(let number): ref.doubleValue == number
                case .bool(let flag): ref.boolValue == flag
                case .string(let text): ref.stringValue == text
                default: false
                }
            }
        default: return false
        }
    }

    @Test(arguments: ["nested.pt", "wrapper_state_dict.pt", "wrapper_module.pt", "wrapper_model_module.pt"])
    func strippedWrappersAreNoted(fixture: String) throws {
        let checkpoint = try open(fixture)
        let expected = try #require(Self.expected.first(where: { $0.key == fixture })?.value)
        let wrappers = expected["stripped"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let note = checkpoint.notes.first(where: { $0.contains("wrapper") })
        #expect(note != nil)
        for wrapper in wrappers { #expect(note?.contains("'\(wrapper)'") == true) }
    }

    @Test func plainStateDictsAreNotStripped() throws {
        let checkpoint = try open("mm_projector.bin")
        #expect(checkpoint.tensors.map(\.name) == [
            "model.mm_projector.0.weight", "model.mm_projector.0.bias",
            "model.mm_projector.2.weight", "model.mm_projector.2.bias",
        ])
        #expect(!checkpoint.notes.contains { $0.contains("wrapper") })
        #expect(checkpoint.tensors.map(\.shape) == [[64, 32], [64], [64, 64], [64]])
        #expect(checkpoint.tensors.allSatisfy { $0.dtype == .f16 })
    }

    @Test func tensorsAreInFileDataOrder() throws {
        for fixture in ["mm_projector.bin", "dtypes_zip.pt", "views_zip.pt", "views_legacy.pt"] {
            let checkpoint = try open(fixture)
            let offsets = checkpoint.tensors.map { ($0.data as! TorchTensorData).touchedRange.offset }
            #expect(offsets == offsets.sorted(), "\(fixture)")
        }
    }

    @Test(arguments: ["views_zip.pt", "views_legacy.pt"])
    func contiguousTensorsAreMappedAndViewsAreGathered(fixture: String) throws {
        let checkpoint = try open(fixture)
        for name in ["big", "embed.weight", "offset_block", "param"] {
            let tensor = try #require(checkpoint.tensor(named: name))
            let region = try #require(tensor.data.fileRegion, "\(name) is contiguous: it must be mapped in place")
            #expect(region.count == tensor.info.byteCount)
        }
        for name in ["transposed", "sliced", "column", "expanded", "permuted"] {
            #expect(try #require(checkpoint.tensor(named: name)).data.fileRegion == nil, "\(name) is a strided view")
        }
        // Tied weights: two names, one storage.
        let embed = try #require(checkpoint.tensor(named: "embed.weight")?.data.fileRegion)
        let head = try #require(checkpoint.tensor(named: "lm_head.weight")?.data.fileRegion)
        #expect(embed.offset == head.offset)
        #expect(checkpoint.notes.contains { $0.contains("share") })
        #expect(checkpoint.notes.contains { $0.contains("non-contiguous") })
    }

    @Test func bigEndianStoragesAreSwapped() throws {
        let checkpoint = try open("bigendian.pt")
        #expect(checkpoint.tensors.allSatisfy { $0.dtype == .u8 || $0.data.fileRegion == nil })
        #expect(checkpoint.notes.contains { $0.contains("big-endian") })
    }

    @Test func bothFormatsGiveTheSameTensors() throws {
        let archive = try open("views_zip.pt"), legacy = try open("views_legacy.pt")
        // Same tensors; the order differs because the legacy format orders storages by their key.
        #expect(archive.tensors.count == legacy.tensors.count)
        for tensor in archive.tensors {
            let twin = try #require(legacy.tensor(named: tensor.name))
            #expect(twin.info == tensor.info)
            #expect(try bytes(of: twin) == bytes(of: tensor))
        }
        #expect(archive.notes.first?.contains("zip") == true)
        #expect(legacy.notes.first?.contains("legacy") == true)
    }

    @Test func allowListIsTorchWeightsOnlyList() throws {
        let reference = try Fixtures.json("pytorch/weights_only_globals.json")
        let names = Set(try #require(reference["globals"]?.arrayValue).compactMap(\.stringValue))
        #expect(names.count > 100)
        #expect(Set(TorchGlobal.allowed.keys) == names)
        for name in names {
            let dot = try #require(name.lastIndex(of: "."))
            #expect(TorchGlobal.resolve(module: String(name[..<dot]), name: String(name[name.index(after: dot)...])) != nil)
        }
        #expect(TorchGlobal.resolve(module: "os", name: "system") == nil)
        #expect(TorchGlobal.resolve(module: "torch", name: "load") == nil)
    }

    @Test(arguments: ["pt", "pth", "bin"])
    func dispatcherAcceptsEveryExtension(ext: String) throws {
        let directory = try TemporaryDirectory()
        let copy = directory.file("weights." + ext)
        try FileManager.default.copyItem(atPath: Fixtures.path("pytorch/nested_lists.pt"), toPath: copy)
        let checkpoint = try CheckpointReader.open(copy)
        #expect(checkpoint.format == .pytorch)
        #expect(checkpoint.tensors.count == 4)
    }

    @Test(arguments: ["views_legacy.pt", "views_zip.pt"])
    func fileIsSniffedWithoutExtension(fixture: String) throws {
        let directory = try TemporaryDirectory()
        let copy = directory.file("checkpoint")
        try FileManager.default.copyItem(atPath: Fixtures.path("pytorch/" + fixture), toPath: copy)
        #expect(try CheckpointReader.open(copy).format == .pytorch)
    }
}

/// Sharded `.bin` checkpoints through `pytorch_model.bin.index.json`.
struct PyTorchShardedTests {
    private let folder = Fixtures.path("pytorch/sharded")

    @Test func indexFolderAndFileGiveAllTensors() throws {
        for path in [folder, folder + "/pytorch_model.bin.index.json"] {
            let checkpoint = try CheckpointReader.open(path)
            #expect(checkpoint.format == .pytorch)
            #expect(checkpoint.shards == ["pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"])
            #expect(checkpoint.tensors.map(\.name) == [
                "model.mm_projector.0.weight", "model.mm_projector.0.bias",
                "model.mm_projector.2.weight", "model.mm_projector.2.bias",
            ])
            #expect(checkpoint.tensors.map(\.file) == [
                "pytorch_model-00001-of-00002.bin", "pytorch_model-00001-of-00002.bin",
                "pytorch_model-00002-of-00002.bin", "pytorch_model-00002-of-00002.bin",
            ])
        }
    }

    /// Copies the shards with an edited weight map.
    private func shardedCopy(_ edit: (inout [String: String]) -> Void) throws -> TemporaryDirectory {
        let directory = try TemporaryDirectory()
        for shard in ["pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"] {
            try FileManager.default.copyItem(atPath: folder + "/" + shard, toPath: directory.file(shard))
        }
        var map: [String: String] = [
            "model.mm_projector.0.weight": "pytorch_model-00001-of-00002.bin",
            "model.mm_projector.0.bias": "pytorch_model-00001-of-00002.bin",
            "model.mm_projector.2.weight": "pytorch_model-00002-of-00002.bin",
            "model.mm_projector.2.bias": "pytorch_model-00002-of-00002.bin",
        ]
        edit(&map)
        let members = map.keys.sorted().map { JSONValue.Member($0, .string(map[$0]!)) }
        let index = JSONValue.object([.init("metadata", .object([])), .init("weight_map", .object(members))])
        try writeFile(directory.file("pytorch_model.bin.index.json"), Array(index.serialized().utf8))
        return directory
    }

    @Test func listedTensorMissingFromItsShardIsRefused() throws {
        let directory = try shardedCopy { $0["model.mm_projector.9.weight"] = "pytorch_model-00002-of-00002.bin" }
        let error = formatError { _ = try CheckpointReader.open(directory.path) }
        guard case .inconsistent = error?.kind else { Issue.record("expected .inconsistent, got \(String(describing: error))"); return }
        #expect(error?.location == .tensor("model.mm_projector.9.weight"))
    }

    @Test func shardTensorMissingFromTheIndexIsRefused() throws {
        let directory = try shardedCopy { $0["model.mm_projector.2.bias"] = nil }
        let error = formatError { _ = try CheckpointReader.open(directory.path) }
        guard case .inconsistent = error?.kind else { Issue.record("expected .inconsistent, got \(String(describing: error))"); return }
        #expect(error?.location == .tensor("model.mm_projector.2.bias"))
    }

    @Test func tensorInTheWrongShardIsRefused() throws {
        let directory = try shardedCopy { $0["model.mm_projector.0.bias"] = "pytorch_model-00002-of-00002.bin" }
        let error = formatError { _ = try CheckpointReader.open(directory.path) }
        guard case .inconsistent = error?.kind else { Issue.record("expected .inconsistent, got \(String(describing: error))"); return }
    }
}

/// `.bin`/`.pt` → safetensors gives exactly the bytes `safetensors.torch.save_file` writes for the same
/// tensors (the generator saved them next to the checkpoints): names, dtypes, shapes, order and every
/// value byte.
struct PyTorchConversionTests {
    @Test(arguments: [
        ("mm_projector.bin", "mm_projector.safetensors"),
        ("dtypes_zip.pt", "dtypes.safetensors"),
        ("views_zip.pt", "views.safetensors"),
        ("views_legacy.pt", "views.safetensors"),
    ])
    func convertsByteForByteLikeSafetensorsTorch(source: String, reference: String) throws {
        let directory = try TemporaryDirectory()
        let output = directory.file("out.safetensors")
        let checkpoint = try CheckpointReader.open(Fixtures.path("pytorch/" + source))
        _ = try Converter.convert(checkpoint, to: output, options: ConversionOptions())
        let produced = try Data(contentsOf: URL(fileURLWithPath: output))
        let expected = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("pytorch/" + reference)))
        #expect(produced == expected, "\(source) → safetensors differs from safetensors.torch.save_file")
    }

    @Test func convertedTensorsReadBackIdentically() throws {
        let directory = try TemporaryDirectory()
        let output = directory.file("nested.safetensors")
        let source = try CheckpointReader.open(Fixtures.path("pytorch/nested.pt"))
        _ = try Converter.convert(source, to: output, options: ConversionOptions())
        let copy = try CheckpointReader.open(output)
        // The writer stores tensors in the reference order (dtype, then name): compare by name.
        #expect(Set(copy.tensors.map(\.name)) == Set(source.tensors.map(\.name)))
        for a in source.tensors {
            let b = try #require(copy.tensor(named: a.name))
            #expect(a.info == b.info)
            #expect(try bytes(of: a) == bytes(of: b))
        }
        // Non-tensor leaves travel as safetensors metadata (strings).
        #expect(copy.metadata["epoch"] == .string("3"))
        #expect(copy.metadata["run_name"] == .string("llava-pretrain"))
    }
}
