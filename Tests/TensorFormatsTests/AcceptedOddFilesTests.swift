import Foundation
import Testing
@testable import TensorFormats

/// The "odd but valid" corpus (Tests/Fixtures/hostile/accepted/generate.py): empty tensors with huge other
/// dimensions, names that differ only in Unicode normalisation, tied and tail PyTorch views. Every file is
/// read exactly as the reference reader reports it (`expected.json`): names by their bytes, dtypes, shapes,
/// byte counts and data.
struct AcceptedOddFilesTests {
    struct Expected: CustomTestStringConvertible, Sendable {
        let file: String
        let format: String
        /// (name bytes, dtype, shape, nbytes, data)
        let tensors: [([UInt8], String, [Int], Int, [UInt8])]
        let metadataKeys: [[UInt8]]
        var testDescription: String { file }
    }

    static let cases: [Expected] = {
        guard let members = try? Fixtures.json("hostile/accepted/expected.json").objectMembers else { return [] }
        return members.map { member in
            let tensors = (member.value["tensors"]?.arrayValue ?? []).map { tensor in
                (hex(tensor["name"]?.stringValue ?? ""), tensor["dtype"]?.stringValue ?? "?",
                 (tensor["shape"]?.arrayValue ?? []).compactMap(\.intValue), tensor["nbytes"]?.intValue ?? -1,
                 hex(tensor["data"]?.stringValue ?? ""))
            }
            let keys = (member.value["metadata"]?.arrayValue ?? []).map { hex($0.stringValue ?? "") }
            return Expected(file: member.key, format: member.value["format"]?.stringValue ?? "?", tensors: tensors,
                            metadataKeys: keys)
        }
    }()

    static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var digits = text.utf8.makeIterator()
        while let high = digits.next(), let low = digits.next() {
            bytes.append(UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)!)
        }
        return bytes
    }

    @Test func corpusIsComplete() {
        #expect(Self.cases.count >= 15)
    }

    @Test(arguments: cases)
    func readsAsTheReferenceDoes(_ expected: Expected) throws {
        let checkpoint = try CheckpointReader.open(Fixtures.path("hostile/accepted/" + expected.file))
        #expect(checkpoint.format.rawValue == expected.format)
        // Order: connkit lists tensors in data order, the references in their own; compare by name bytes.
        #expect(checkpoint.tensors.count == expected.tensors.count)
        for (name, dtype, shape, nbytes, data) in expected.tensors {
            let matches = checkpoint.tensors.filter { Array($0.name.utf8) == name }
            #expect(matches.count == 1, "\(String(decoding: name, as: UTF8.self)) (\(name)): \(matches.count) tensors")
            guard let tensor = matches.first else { continue }
            #expect(tensor.dtype.rawValue == dtype)
            #expect(tensor.shape == shape)
            #expect(tensor.info.byteCount == nbytes)
            if shape.contains(0) { #expect(tensor.info.elementCount == 0) }
            #expect(try bytes(of: tensor) == data)
        }
        for key in expected.metadataKeys {
            #expect(checkpoint.metadata.filter { Array($0.key.utf8) == key }.count == 1,
                    "metadata key \(String(decoding: key, as: UTF8.self))")
        }
        // Lookups by name are by bytes too.
        for tensor in checkpoint.tensors {
            #expect(checkpoint.tensor(named: tensor.name).map { Array($0.name.utf8) } == Array(tensor.name.utf8))
        }
    }

    /// The shapes exercise no size derived from the other dimensions: the data regions are empty and sit
    /// inside the file (the empty PyTorch view at the end of its storage included).
    @Test func emptyTensorsHaveEmptyRegions() throws {
        for file in ["empty_huge_dims.safetensors", "empty_huge_dims.gguf", "empty_row_2p62.gguf", "empty_huge_dims.pt",
                     "empty_huge_dims_legacy.pt", "empty_huge_dims.npy", "empty_huge_dims_fortran.npy",
                     "empty_long_row_fortran.npy"] {
            let checkpoint = try CheckpointReader.open(Fixtures.path("hostile/accepted/" + file))
            for tensor in checkpoint.tensors where tensor.info.elementCount == 0 {
                let size = try #require(try? FileManager.default.attributesOfItem(atPath: checkpoint.path)[.size] as? Int)
                if let region = tensor.data.fileRegion {
                    #expect(region.count == 0 && region.offset >= 0 && region.offset <= size, "\(file): \(tensor.name)")
                }
                tensor.data.release()
            }
        }
    }

    /// NFC and NFD spellings (and "K" / the Kelvin sign) are distinct names wherever names are compared.
    @Test func canonicallyEquivalentNamesAreDistinct() {
        let nfc = "caf\u{e9}", nfd = "cafe\u{301}"
        #expect(nfc == nfd)  // what Swift's String does, and why names never use it
        #expect(!nfc.isSameName(as: nfd))
        #expect(Set([ExactName(nfc), ExactName(nfd), ExactName("K"), ExactName("\u{212A}")]).count == 4)
        #expect(ExactName(nfc) == ExactName("caf\u{e9}"))
        #expect("x.npy".hasNameSuffix(".npy") && !"x.npy\u{301}".hasNameSuffix(".npy"))
        #expect("\u{600}.npy".hasNameSuffix(".npy"))  // a prepended scalar joins the "." into one Character
        #expect(!"\u{600}.npy".hasSuffix(".npy"))
    }

    /// JSON objects keep both spellings as two keys (the safetensors header and the sharded index).
    @Test func jsonKeysAreBytes() throws {
        let json = try JSONValue.parse("{\"caf\u{e9}\": 1, \"cafe\u{301}\": 2}")
        #expect(json.objectMembers?.count == 2)
        #expect(json["caf\u{e9}"]?.intValue == 1)
        #expect(json["cafe\u{301}"]?.intValue == 2)
        let error = try? JSONValue.parse("{\"caf\u{e9}\": 1, \"caf\u{e9}\": 2}")
        #expect(error == nil)
    }

    /// A sharded index that lists an NFC and an NFD name, in two shards.
    @Test func shardedIndexKeysAreBytes() throws {
        let directory = try TemporaryDirectory()
        let nfc = "caf\u{e9}", nfd = "cafe\u{301}"
        for (index, name) in [nfc, nfd].enumerated() {
            try writeSafetensors(directory.file("s\(index).safetensors"), name: name)
        }
        let index = "{\"weight_map\": {\"\(nfc)\": \"s0.safetensors\", \"\(nfd)\": \"s1.safetensors\"}}"
        try writeFile(directory.file("model.safetensors.index.json"), Array(index.utf8))
        let checkpoint = try CheckpointReader.open(directory.path)
        #expect(checkpoint.tensors.map { Array($0.name.utf8) } == [Array(nfc.utf8), Array(nfd.utf8)])
        #expect(checkpoint.shards == ["s0.safetensors", "s1.safetensors"])
    }

    /// Shard names are checked by bytes, as the file system splits them: a scalar that `Character`s join
    /// to the "/" cannot hide a ".." component.
    @Test func shardNamesCannotHideParentComponents() throws {
        let directory = try TemporaryDirectory()
        let index = "{\"weight_map\": {\"w\": \"a\u{600}/../../x.safetensors\"}}"
        try writeFile(directory.file("model.safetensors.index.json"), Array(index.utf8))
        let error = formatError { _ = try CheckpointReader.open(directory.path) }
        #expect(error?.kind.caseName == "refused", "\(String(describing: error))")
    }

    /// ONNX external data must resolve inside the model's folder, compared by bytes: a link from ".../café/"
    /// (NFC) into its sibling ".../cafe\u{301}/" (NFD) leaves the folder, though `hasPrefix` calls them equal.
    @Test func onnxExternalDataFolderIsComparedByBytes() throws {
        let directory = try TemporaryDirectory()
        let hostile = Fixtures.path("hostile/onnx/")
        let inside = directory.file("caf\u{e9}"), sibling = directory.file("cafe\u{301}")
        for folder in [inside, sibling] { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false) }
        try FileManager.default.copyItem(atPath: hostile + "external_symlink/model.onnx", toPath: inside + "/model.onnx")
        try FileManager.default.copyItem(atPath: hostile + "outside.bin", toPath: sibling + "/outside.bin")
        try FileManager.default.createSymbolicLink(atPath: inside + "/link.bin", withDestinationPath: "../cafe\u{301}/outside.bin")
        let error = try #require(formatError { _ = try CheckpointReader.open(inside + "/model.onnx") })
        #expect(error.kind.caseName == "refused", "\(error)")
        #expect(error.location == .tensor("w"))
    }

    private func writeSafetensors(_ path: String, name: String) throws {
        var header = Array("{\"\(name)\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}".utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var bytes = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) }
        bytes += header + [0, 0, 0x80, 0x3F]
        try writeFile(path, bytes)
    }
}
