import Foundation
import Testing
@testable import TensorFormats

/// The ONNX hostile corpus (Tests/Fixtures/hostile/onnx/generate.py, manifest.json): every file is refused
/// with the FormatError case the manifest names, attributed to a file and located at a field, tensor or key.
struct ONNXHostileTests {
    static let folder = Fixtures.path("hostile/onnx")
    static let manifest: [JSONValue.Member] = (try? Fixtures.json("hostile/onnx/manifest.json").objectMembers) ?? []

    struct Case: CustomTestStringConvertible, Sendable {
        let file: String
        let kind: String
        var testDescription: String { "\(file) → \(kind)" }
    }

    static let refused: [Case] = manifest.compactMap { member in
        guard let kind = member.value["connkit"]?.stringValue, kind != "accepts" else { return nil }
        return Case(file: member.key, kind: kind)
    }

    @Test func theCorpusCoversEveryClass() {
        #expect(Self.refused.count == 54)
        let kinds = Set(Self.refused.map(\.kind))
        for kind in ["truncated", "invalidHeader", "limitExceeded", "sizeMismatch", "invalidShape", "overflow",
                     "tooManyDimensions", "duplicateName", "unsupportedDType", "unknownDType", "refused", "invalidUTF8", "io"] {
            #expect(kinds.contains(kind), "\(kind)")
        }
    }

    @Test(arguments: refused)
    func refusedWithItsCase(_ hostile: Case) throws {
        let path = Self.folder + "/" + hostile.file
        let error = try #require(formatError { _ = try CheckpointReader.open(path) })
        #expect(error.kind.caseName == hostile.kind, "\(error)")
        #expect(error.file != nil)
        #expect(error.location != nil, "\(error) names no field, tensor or key")
        #expect(!error.description.contains("\n"))
    }

    @Test(arguments: ["base.onnx", "base_depth_8.onnx"])
    func baseFilesAreRead(_ file: String) throws {
        let checkpoint = try CheckpointReader.open(Self.folder + "/" + file)
        #expect(checkpoint.format == .onnx)
        #expect(checkpoint.tensors.map(\.name) == (file == "base.onnx" ? ["w"] : []))
    }

    @Test func externalDataOutsideTheFolderNamesTheTensor() throws {
        for folder in ["external_dotdot", "external_absolute", "external_symlink"] {
            let error = try #require(formatError { _ = try CheckpointReader.open(Self.folder + "/\(folder)/model.onnx") })
            #expect(error.location == .tensor("w"), "\(error)")
        }
    }

    /// A graph of millions of empty nodes: 2 bytes each on the wire, about 100 times that once protobuf-c
    /// has allocated a struct, an array slot and its bookkeeping for each. Refused before unpacking.
    @Test func allocationBombIsRefusedBeforeUnpacking() throws {
        let nodes = 3_000_000
        var graph = [UInt8](repeating: 0, count: nodes * 2)
        for index in 0..<nodes { graph[index * 2] = 0x0A }  // GraphProto.node, length 0
        var model: [UInt8] = [0x3A]  // ModelProto.graph, length-delimited
        var length = graph.count
        while length >= 0x80 { model.append(UInt8(length & 0x7F) | 0x80); length >>= 7 }
        model.append(UInt8(length))
        model += graph
        let error = try #require(formatError {
            _ = try model.withUnsafeBytes { bytes in try ONNXReader.read(MappedFile(copying: bytes, path: "bomb.onnx")) }
        })
        #expect(error.kind.caseName == "limitExceeded", "\(error)")
        // The same nodes, fewer of them, are read: the limit is about memory, not about node counts.
        let small: [UInt8] = [0x3A, 0x80, 0x08] + graph.prefix(1024)  // 1024 bytes: 512 empty nodes
        let checkpoint = try small.withUnsafeBytes { try ONNXReader.read(MappedFile(copying: $0, path: "small.onnx")) }
        #expect(checkpoint.notes.first == "graph: 512 nodes ((no op type) 512), not interpreted")
    }
}
