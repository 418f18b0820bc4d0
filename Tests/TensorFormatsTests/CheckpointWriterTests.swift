import Foundation
import Testing
@testable import TensorFormats

/// The one write path: format by extension, each format's metadata rules, progress, atomic commit.
struct CheckpointWriterTests {
    /// A float32 tensor whose producer writes `values` in pieces of `piece` elements.
    static func tensor(_ name: String, _ values: [Float], piece: Int = 1024) throws -> OutputTensor {
        OutputTensor(info: try TensorInfo(name: name, dtype: .f32, shape: [values.count])) { output in
            for start in stride(from: 0, to: values.count, by: piece) {
                try values[start ..< min(values.count, start + piece)].withUnsafeBytes { try output.write($0) }
            }
        }
    }

    static let metadata = [MetadataEntry("a", .string("x")), MetadataEntry("general.architecture", .string("clip")),
                           MetadataEntry("n", .uint32(7))]

    @Test(arguments: OutputFormat.allCases)
    func writesWhatItsOwnReaderReadsBack(format: OutputFormat) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("out.\(format.rawValue)")
        let writer = try CheckpointWriter(path: path)
        #expect(writer.format == format)
        let tensors = try [Self.tensor("w", (0 ..< 300).map(Float.init))] + (format == .npy ? [] : [try Self.tensor("b", [1, 2])])
        let result = try writer.write(tensors, metadata: Self.metadata)
        let back = try CheckpointReader.open(path)
        #expect(result.bytesWritten == (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int))
        // A .npy file's tensor is named after the file.
        #expect(Set(back.tensors.map(\.name)) == (format == .npy ? ["out"] : Set(tensors.map(\.info.name))))
        #expect(try back.tensor(named: format == .npy ? "out" : "w")?.floats() == (0 ..< 300).map(Float.init))
        switch format {
        case .gguf:
            #expect(back.metadata.map(\.key).first == "general.architecture")
            #expect(back.metadata["n"] == .uint32(7))
            #expect(result.warnings.isEmpty)
        case .safetensors:
            #expect(back.metadata["n"] == .string("7"))
            #expect(result.warnings.isEmpty)
        case .npz, .npy:
            #expect(back.metadata.isEmpty)
            #expect(result.warnings == ["\(path): 3 metadata entries not carried: numpy files hold no metadata"])
        }
    }

    @Test func aGGUFWithoutAnArchitectureGetsTheDefaultFirst() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("out.gguf")
        try CheckpointWriter(path: path).write([try Self.tensor("w", [1])], metadata: [MetadataEntry("a", .int8(1))])
        let back = try CheckpointReader.open(path)
        #expect(back.metadata.first == MetadataEntry("general.architecture", .string(CheckpointWriter.defaultArchitecture)))
        #expect(back.metadata["a"] == .int8(1))
    }

    @Test func unknownExtensionsAndTensorCountsAreRefusedBeforeWriting() throws {
        let directory = try TemporaryDirectory()
        let unknown = formatError { _ = try CheckpointWriter(path: directory.file("out.bin")) }
        #expect(unknown?.kind.caseName == "unsupportedFormat")
        let npy = try CheckpointWriter(path: directory.file("out.npy"))
        let count = formatError { try npy.write([try Self.tensor("a", [1]), try Self.tensor("b", [2])], metadata: []) }
        #expect(count?.kind.caseName == "unconvertible")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    @Test func aFailingProducerLeavesNothingAndInputsAreNeverReplaced() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("out.safetensors")
        struct Boom: Error {}
        let failing = OutputTensor(info: try TensorInfo(name: "x", dtype: .f32, shape: [4])) { _ in throw Boom() }
        #expect(throws: Boom.self) { try CheckpointWriter(path: path).write([failing], metadata: []) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
        try CheckpointWriter(path: path).write([try Self.tensor("w", [1])], metadata: [])
        let input = try CheckpointReader.open(path)
        let refused = formatError {
            try CheckpointWriter(path: path, from: input, overwrite: true).write([try Self.tensor("w", [2])], metadata: [])
        }
        #expect(refused?.kind.caseName == "refused")
        #expect(try CheckpointReader.open(path).tensor(named: "w")!.floats() == [1])
    }

    @Test func progressCountsTensorBytesInOrderAndWithinLargeTensors() throws {
        let directory = try TemporaryDirectory()
        let large = (0 ..< 3 << 18).map { Float($0 % 1000) }  // 3 MiB
        var writer = try CheckpointWriter(path: directory.file("out.gguf"))
        var reports: [WriteProgress] = []
        writer.progress = { reports.append($0) }
        try writer.write([try Self.tensor("small", [1, 2, 3]), try Self.tensor("large", large)], metadata: [])
        let total = (3 + large.count) * 4
        #expect(reports.allSatisfy { $0.bytesTotal == total && $0.tensorsTotal == 2 })
        #expect(zip(reports, reports.dropFirst()).allSatisfy { $0.bytesDone <= $1.bytesDone && $0.tensorsDone <= $1.tensorsDone })
        #expect(reports.last == WriteProgress(tensorsDone: 2, tensorsTotal: 2, bytesDone: total, bytesTotal: total))
        // Reports while the large tensor is being written, not only after it.
        #expect(reports.contains { $0.tensorsDone == 1 && $0.bytesDone > 12 && $0.bytesDone < total })
    }
}
