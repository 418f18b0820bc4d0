import Foundation
import Testing
@testable import TensorFormats

/// NpyWriter / NpzWriter: byte-identical to numpy's own output for the same arrays, lossless round trips,
/// refusals. (Tests/Fixtures/numpy/check_numpy_loads.py checks that numpy loads what these writers produce.)
@Suite struct NumpyWriterTests {
    static let numpyWritten = NumpyFixtureTests.npyFiles.filter {
        $0.hasPrefix("le_") || $0.hasPrefix("scalar_") || $0.hasPrefix("empty_")
    }

    static func write(_ path: String, _ body: (OutputFile) throws -> Void) throws {
        let output = try OutputFile(path: path, overwrite: true)
        do {
            try body(output)
            try output.commit()
        } catch {
            output.abandon()
            throw error
        }
    }

    @Test(arguments: numpyWritten)
    func npyIsByteIdenticalToNumpy(_ filename: String) throws {
        let source = NumpyFixtures.numpy.appendingPathComponent("npy/\(filename)").path
        let tensor = try NpyReader.read(MappedFile(path: source)).tensors[0]
        try NumpyFixtures.withTemporaryDirectory { directory in
            let target = directory.appendingPathComponent(filename).path
            try Self.write(target) { try NpyWriter.write(tensor: OutputTensor(copying: tensor), to: $0) }
            #expect(try NumpyFixtures.bytes(of: target) == NumpyFixtures.bytes(of: source))
        }
    }

    @Test(arguments: ["savez_plain.npz", "savez_utf8_name.npz", "empty.npz"])
    func npzIsByteIdenticalToNumpy(_ filename: String) throws {
        let source = NumpyFixtures.numpy.appendingPathComponent("npz/\(filename)").path
        let checkpoint = try NpzReader.read(MappedFile(path: source))
        try NumpyFixtures.withTemporaryDirectory { directory in
            let target = directory.appendingPathComponent(filename).path
            try Self.write(target) { try NpzWriter.write(tensors: checkpoint.tensors.map { OutputTensor(copying: $0) }, to: $0) }
            #expect(try NumpyFixtures.bytes(of: target) == NumpyFixtures.bytes(of: source))
        }
    }

    /// Every fixture (big-endian, Fortran order, deflated, data descriptors, 0-d, empty) written by connkit and read
    /// back gives the same logical bytes.
    @Test func roundTripEveryFixtureThroughNpyAndNpz() throws {
        var tensors: [Tensor] = []
        for file in NumpyFixtureTests.npyFiles {
            let tensor = try NpyReader.read(MappedFile(path: NumpyFixtures.numpy.appendingPathComponent("npy/\(file)").path)).tensors[0]
            tensors.append(tensor)
        }
        for file in ["savez.npz", "savez_compressed.npz", "savez_streamed.npz"] {
            let checkpoint = try NpzReader.read(MappedFile(path: NumpyFixtures.numpy.appendingPathComponent("npz/\(file)").path))
            let prefix = String(file.dropLast(4))
            tensors += checkpoint.tensors.map { tensor in
                Tensor(info: try! TensorInfo(name: "\(prefix)/\(tensor.name)", dtype: tensor.dtype, shape: tensor.shape),
                       data: tensor.data)
            }
        }
        let originals = try tensors.map { try $0.withBytes { Array($0) } }
        try NumpyFixtures.withOutputDirectory { directory in
            let npz = directory.appendingPathComponent("all.npz").path
            try Self.write(npz) { try NpzWriter.write(tensors: tensors.map { OutputTensor(copying: $0) }, to: $0) }
            let back = try NpzReader.read(MappedFile(path: npz))
            #expect(back.tensors.map(\.info) == tensors.map(\.info))
            for (tensor, original) in zip(back.tensors, originals) {
                #expect(try tensor.withBytes { Array($0) } == original, "\(tensor.name)")
                #expect(tensor.data.fileRegion != nil, "written little-endian, C order, stored")
            }
            for (index, tensor) in tensors.enumerated() {
                let npy = directory.appendingPathComponent(tensor.name.replacingOccurrences(of: "/", with: "__") + ".npy").path
                try Self.write(npy) { try NpyWriter.write(tensor: OutputTensor(copying: tensor), to: $0) }
                let single = try NpyReader.read(MappedFile(path: npy)).tensors[0]
                #expect(single.dtype == tensor.dtype && single.shape == tensor.shape)
                #expect(try single.withBytes { Array($0) } == originals[index], "\(tensor.name)")
            }
        }
    }

    @Test(arguments: [DType.bf16, .f8_e4m3, .f4, .q4_0])
    func dtypesNumpyCannotHoldAreRefused(_ dtype: DType) throws {
        let info = try TensorInfo(name: "mm.0.weight", dtype: dtype, shape: [64])
        let tensor = OutputTensor(info: info) { output in try output.writeZeros(info.byteCount) }
        try NumpyFixtures.withTemporaryDirectory { directory in
            for name in ["x.npy", "x.npz"] {
                let path = directory.appendingPathComponent(name).path
                let output = try OutputFile(path: path, overwrite: false)
                defer { output.abandon() }
                do {
                    if name.hasSuffix(".npy") {
                        try NpyWriter.write(tensor: tensor, to: output)
                    } else {
                        try NpzWriter.write(tensors: [tensor], to: output)
                    }
                    Issue.record("wrote \(dtype) to \(name)")
                } catch let error as FormatError {
                    #expect(NumpyFixtures.kindName(error) == "unconvertible")
                    #expect(error.location == .tensor("mm.0.weight"))
                    #expect(output.position == 0, "nothing written before the refusal")
                }
            }
        }
    }

    @Test func duplicateAndMisproducedTensorsAreRefused() throws {
        let info = try TensorInfo(name: "a", dtype: .f32, shape: [2])
        let good = OutputTensor(info: info) { try $0.writeZeros(8) }
        let short = OutputTensor(info: info) { try $0.writeZeros(4) }
        try NumpyFixtures.withTemporaryDirectory { directory in
            let output = try OutputFile(path: directory.appendingPathComponent("d.npz").path, overwrite: false)
            defer { output.abandon() }
            #expect(throws: FormatError.self) { try NpzWriter.write(tensors: [good, good], to: output) }
            let second = try OutputFile(path: directory.appendingPathComponent("s.npz").path, overwrite: false)
            defer { second.abandon() }
            do {
                try NpzWriter.write(tensors: [short], to: second)
                Issue.record("a producer writing too few bytes was accepted")
            } catch {
                #expect(NumpyFixtures.kindName(error) == "sizeMismatch")
            }
        }
    }

    /// More than 65535 members: CPython switches to a Zip64 end record; so does ZipWriter, and ZipArchive reads it.
    @Test func zip64EndRecordForManyMembers() throws {
        let count = 65_537
        try NumpyFixtures.withOutputDirectory { directory in
            let path = directory.appendingPathComponent("many.zip").path
            try Self.write(path) { output in
                let writer = ZipWriter(output: output)
                for index in 0 ..< count {
                    try writer.addStored(name: "m\(index)", size: index == count - 1 ? 3 : 0) { output in
                        if index == count - 1 { try output.write([1, 2, 3]) }
                    }
                }
                try writer.finish()
            }
            let archive = try ZipArchive(file: MappedFile(path: path))
            #expect(archive.isZip64)
            #expect(archive.entries.count == count)
            let last = try #require(archive.entries.last)
            #expect(last.name == "m65536")
            #expect(try last.withData { Array($0) } == [1, 2, 3])
        }
    }
}
