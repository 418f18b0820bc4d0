import Foundation
import Testing
@testable import TensorFormats

/// Reads the fixtures numpy wrote (Tests/Fixtures/numpy/generate.py) and compares every tensor with numpy's
/// own reading of it: name, dtype, row-major shape and the little-endian row-major bytes.
@Suite struct NumpyFixtureTests {
    static let npyFiles = NumpyFixtures.files(in: NumpyFixtures.numpy.appendingPathComponent("npy"), ext: "npy")
    static let npzFiles = NumpyFixtures.files(in: NumpyFixtures.numpy.appendingPathComponent("npz"), ext: "npz")

    static func check(_ tensor: Tensor, against expected: JSONValue) throws {
        #expect(tensor.name == expected["name"]?.stringValue)
        #expect(tensor.dtype.rawValue == expected["dtype"]?.stringValue)
        #expect(tensor.shape == expected["shape"]?.arrayValue?.compactMap(\.intValue))
        let hex = try tensor.withBytes { NumpyFixtures.hex($0) }
        #expect(hex == expected["hex"]?.stringValue, "values of '\(tensor.name)'")
        #expect(tensor.info.byteCount * 2 == hex.count)
    }

    @Test func fixtureSetIsComplete() {
        #expect(Self.npyFiles.count == NumpyFixtures.expected["npy"]?.objectMembers?.count)
        #expect(Self.npzFiles.count == NumpyFixtures.expected["npz"]?.objectMembers?.count)
        #expect(Self.npyFiles.count >= 30 && Self.npzFiles.count >= 6)
    }

    @Test(arguments: npyFiles)
    func npyMatchesNumpy(_ filename: String) throws {
        let path = NumpyFixtures.numpy.appendingPathComponent("npy/\(filename)").path
        let checkpoint = try NpyReader.read(MappedFile(path: path))
        #expect(checkpoint.format == .npy)
        #expect(checkpoint.tensors.count == 1)
        let expected = try #require(NumpyFixtures.expected["npy"]?[filename])
        try Self.check(checkpoint.tensors[0], against: expected)
    }

    @Test(arguments: npzFiles)
    func npzMatchesNumpy(_ filename: String) throws {
        let path = NumpyFixtures.numpy.appendingPathComponent("npz/\(filename)").path
        let checkpoint = try NpzReader.read(MappedFile(path: path))
        #expect(checkpoint.format == .npz)
        let expected = try #require(NumpyFixtures.expected["npz"]?[filename]?.arrayValue)
        // numpy lists members in central-directory order, which is also the order of their data.
        #expect(checkpoint.tensors.map(\.name) == expected.compactMap { $0["name"]?.stringValue })
        for (tensor, want) in zip(checkpoint.tensors, expected) { try Self.check(tensor, against: want) }
    }

    @Test func nestedAndPositionalMemberNames() throws {
        let path = NumpyFixtures.numpy.appendingPathComponent("npz/savez.npz").path
        let names = try NpzReader.read(MappedFile(path: path)).tensors.map(\.name)
        #expect(names == ["enc/layer.0.weight", "proj", "scalar", "empty", "mask", "arr_0"]) // np.savez puts keywords first
        let utf8 = NumpyFixtures.numpy.appendingPathComponent("npz/savez_utf8_name.npz").path
        #expect(try NpzReader.read(MappedFile(path: utf8)).tensors.map(\.name) == ["é/π"])
    }

    @Test func npyNameIsFileStem() {
        #expect(NpyReader.stem(of: "/a/b/proj.weight.npy") == "proj.weight")
        #expect(NpyReader.stem(of: "x.npy") == "x")
        #expect(NpyReader.stem(of: "dir/noext") == "noext")
        #expect(NpyReader.stem(of: ".hidden") == ".hidden")
    }

    @Test func littleEndianCOrderNpyIsZeroCopy() throws {
        let path = NumpyFixtures.numpy.appendingPathComponent("npy/le_f4.npy").path
        let file = try MappedFile(path: path)
        let tensor = try NpyReader.read(file).tensors[0]
        let region = try #require(tensor.data.fileRegion)
        #expect(region.offset == 128 && region.count == 24)
        let base = file.withBytes { UInt(bitPattern: $0.baseAddress) }
        let lent = try tensor.withBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(lent == base + 128, "bytes are lent from the mapping, not copied")
    }

    @Test func reorderedDataHasNoFileRegion() throws {
        for name in ["be_f4.npy", "fortran_2d_f4.npy"] {
            let path = NumpyFixtures.numpy.appendingPathComponent("npy/\(name)").path
            let checkpoint = try NpyReader.read(MappedFile(path: path))
            #expect(checkpoint.tensors[0].data.fileRegion == nil)
            #expect(!checkpoint.notes.isEmpty, "a note says the stored bytes are reordered")
        }
        // Fortran order with a single non-unit axis is already row-major.
        let oneD = NumpyFixtures.numpy.appendingPathComponent("npy/fortran_1d.npy").path
        #expect(try NpyReader.read(MappedFile(path: oneD)).tensors[0].data.fileRegion != nil)
    }

    @Test func storedNpzMemberIsZeroCopyAndCRCCheckedBeforeAnyUse() throws {
        let path = NumpyFixtures.numpy.appendingPathComponent("npz/savez.npz").path
        let file = try MappedFile(path: path)
        let checkpoint = try NpzReader.read(file)
        let tensor = try #require(checkpoint.tensor(named: "enc/layer.0.weight"))
        let base = file.withBytes { UInt(bitPattern: $0.baseAddress) }
        let lent = try tensor.withBytes { UInt(bitPattern: $0.baseAddress) }
        let region = try #require(tensor.data.fileRegion)
        #expect(lent == base + UInt(region.offset), "bytes are lent from the mapping, not copied")
        #expect(region.count == 64)
        // A corrupt stored member offers no region (a kernel copy would skip the check); its data access throws.
        let corrupt = NumpyFixtures.hostile.appendingPathComponent("npz/crc_mismatch_stored.npz").path
        let bad = try #require(try NpzReader.read(MappedFile(path: corrupt)).tensors.first)
        #expect(bad.data.fileRegion == nil)
        #expect(throws: FormatError.self) { try bad.withBytes { $0.count } }
        // Deflated members are never a file region.
        let compressed = NumpyFixtures.numpy.appendingPathComponent("npz/savez_compressed.npz").path
        let deflated = try #require(try NpzReader.read(MappedFile(path: compressed)).tensor(named: "enc/layer.0.weight"))
        _ = try deflated.withBytes { $0.count }
        #expect(deflated.data.fileRegion == nil)
    }

    @Test func streamedNpzUsesDataDescriptors() throws {
        let path = NumpyFixtures.numpy.appendingPathComponent("npz/savez_streamed.npz").path
        let archive = try ZipArchive(file: MappedFile(path: path))
        #expect(archive.entries.allSatisfy { $0.hasDataDescriptor })
        #expect(archive.entries.allSatisfy { $0.endOffset == $0.dataOffset + $0.compressedSize + 24 })
    }

    @Test func versionTwoHeaderLongerThan64KiB() throws {
        // numpy writes version 2.0 only for headers over 65535 bytes; build one by padding.
        try NumpyFixtures.withTemporaryDirectory { directory in
            let text = "{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }" + String(repeating: " ", count: 70_000)
            var body = Array(text.utf8)
            let padding = 64 - (12 + body.count + 1) % 64
            body += [UInt8](repeating: 0x20, count: padding) + [0x0A]
            var file = NpyHeader.magic + [2, 0]
            file += (0 ..< 4).map { UInt8((body.count >> (8 * $0)) & 0xFF) }
            file += body + [1, 0, 2, 0, 0xFF, 0x7F]
            let path = directory.appendingPathComponent("long.npy").path
            _ = FileManager.default.createFile(atPath: path, contents: Data(file))
            let tensor = try NpyReader.read(MappedFile(path: path)).tensors[0]
            #expect(tensor.shape == [3] && tensor.dtype == .i16)
            #expect(try tensor.withBytes { Array($0) } == [1, 0, 2, 0, 0xFF, 0x7F])
        }
    }

    @Test func headerLiteralParser() throws {
        func parse(_ text: String, long: Bool = false) throws -> PythonLiteral {
            try Array(text.utf8).withUnsafeBytes {
                try PythonLiteralParser.parse($0, origin: 0, encoding: .latin1, allowLongSuffix: long)
            }
        }
        #expect(try parse("(1, 2,)") == .tuple([.int(1), .int(2)]))
        #expect(try parse("(5)") == .int(5), "parentheses without a comma are not a tuple")
        #expect(try parse("()") == .tuple([]))
        #expect(try parse("[1_000, -3]") == .list([.int(1000), .int(-3)]))
        #expect(try parse("{'a': \"b\\x41\\n\", 'c': (True, False, None)}")
            == .dict([(.string("a"), .string("bA\n")), (.string("c"), .tuple([.bool(true), .bool(false), .none]))]))
        #expect(try parse("(3L,)", long: true) == .tuple([.int(3)]))
        for bad in ["(3L,)", "007", "1.5", "Truex", "'a", "(1,,)", "{'a' 1}", "(1 2)", "0x10", "1__0", "'\\q'", "(", ""] {
            #expect(throws: FormatError.self, "\(bad)") { try parse(bad) }
        }
        #expect(try parse("9223372036854775807") == .int(Int.max))
        #expect(throws: FormatError.self) { try parse("9223372036854775808") }
    }
}
