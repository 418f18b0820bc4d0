import Foundation
import Testing
@testable import TensorFormats

/// ZipArchive on valid archives: the zip features numpy and other writers use (Zip64 fields where only some values
/// are large, CP437 names, comments, data descriptors without signature, padded extra fields), bounded inflation,
/// CRC caching. Hostile archives are in ZipHostileTests.
@Suite struct ZipArchiveTests {
    /// A stored member for the byte builder below.
    struct Member {
        var name: [UInt8]
        var content: [UInt8]
        var flags: UInt16 = 0
        var centralZip64Offset = false
        var localExtraPadding = 0
        var descriptor: Descriptor = .none
        var comment: [UInt8] = []
        enum Descriptor { case none, withSignature, withoutSignature, wideWithoutZip64Field }
    }

    static func le16(_ value: Int) -> [UInt8] { [UInt8(value & 0xFF), UInt8((value >> 8) & 0xFF)] }
    static func le32(_ value: UInt32) -> [UInt8] { (0 ..< 4).map { UInt8((value >> (8 * $0)) & 0xFF) } }
    static func le64(_ value: Int) -> [UInt8] { (0 ..< 8).map { UInt8((value >> (8 * $0)) & 0xFF) } }
    static func crc(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { ZipCRC32.checksum($0) } }

    /// Lays out members (stored) with classic 32-bit local sizes, optional features, and an end record.
    static func archive(_ members: [Member], comment: [UInt8] = []) -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        for member in members {
            let offset = out.count
            let checksum = crc(member.content)
            let hasDescriptor = member.descriptor != .none
            let flags = member.flags | (hasDescriptor ? 0x8 : 0)
            let extra = [UInt8](repeating: 0, count: member.localExtraPadding)
            out += le32(0x0403_4b50) + le16(20) + le16(Int(flags)) + le16(0) + le16(0) + le16(0x21)
            out += hasDescriptor ? le32(0) + le32(0) + le32(0) : le32(checksum) + le32(UInt32(member.content.count)) + le32(UInt32(member.content.count))
            out += le16(member.name.count) + le16(extra.count) + member.name + extra + member.content
            switch member.descriptor {
            case .none: break
            case .withSignature: out += le32(0x0807_4b50) + le32(checksum) + le32(UInt32(member.content.count)) + le32(UInt32(member.content.count))
            case .withoutSignature: out += le32(checksum) + le32(UInt32(member.content.count)) + le32(UInt32(member.content.count))
            case .wideWithoutZip64Field: out += le32(0x0807_4b50) + le32(checksum) + le64(member.content.count) + le64(member.content.count)
            }
            let centralExtra = member.centralZip64Offset ? le16(1) + le16(8) + le64(offset) : []
            central += le32(0x0201_4b50) + le16(0x031E) + le16(20) + le16(Int(flags)) + le16(0) + le16(0) + le16(0x21)
            central += le32(checksum) + le32(UInt32(member.content.count)) + le32(UInt32(member.content.count))
            central += le16(member.name.count) + le16(centralExtra.count) + le16(member.comment.count) + le16(0) + le16(0) + le32(0)
            central += le32(member.centralZip64Offset ? 0xFFFF_FFFF : UInt32(offset))
            central += member.name + centralExtra + member.comment
        }
        let directoryOffset = out.count
        out += central
        out += le32(0x0605_4b50) + le16(0) + le16(0) + le16(members.count) + le16(members.count)
        out += le32(UInt32(central.count)) + le32(UInt32(directoryOffset)) + le16(comment.count) + comment
        return out
    }

    static func open(_ bytes: [UInt8], in directory: URL, name: String = "a.zip") throws -> ZipArchive {
        let path = directory.appendingPathComponent(name).path
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return try ZipArchive(file: MappedFile(path: path))
    }

    @Test func featuresOfOtherWriters() throws {
        try NumpyFixtures.withTemporaryDirectory { directory in
            let members = [
                Member(name: Array("plain".utf8), content: [1, 2, 3], comment: Array("a member comment".utf8)),
                Member(name: [0x63, 0x61, 0x66, 0x82], content: [4], centralZip64Offset: true), // CP437 "café"
                Member(name: Array("naïve/π".utf8), content: [5, 6], flags: 0x800, localExtraPadding: 3),
                Member(name: Array("streamed".utf8), content: Array(0 ..< 200), descriptor: .withSignature),
                Member(name: Array("bare".utf8), content: [9, 9], descriptor: .withoutSignature),
                Member(name: Array("empty".utf8), content: []),
                Member(name: Array("wide".utf8), content: [8, 8, 8], descriptor: .wideWithoutZip64Field),
            ]
            let archive = try Self.open(Self.archive(members, comment: Array("archive comment".utf8)), in: directory)
            #expect(archive.entries.map(\.name) == ["plain", "café", "naïve/π", "streamed", "bare", "empty", "wide"])
            #expect(!archive.isZip64)
            for (entry, member) in zip(archive.entries, members) {
                #expect(try entry.withData { Array($0) } == member.content, "\(entry.name)")
                #expect(entry.isCRCVerified)
                #expect(entry.fileRegion?.count == member.content.count)
            }
            #expect(archive.entry(named: "bare")?.hasDataDescriptor == true)
        }
    }

    @Test func endRecordIsFoundBehindTheLongestComment() throws {
        try NumpyFixtures.withTemporaryDirectory { directory in
            let member = Member(name: Array("x".utf8), content: [7])
            var comment = [UInt8](repeating: 0x41, count: 65535)
            // A decoy end-record signature inside the comment must not be taken for the real one.
            comment.replaceSubrange(100 ..< 104, with: [0x50, 0x4B, 0x05, 0x06])
            let archive = try Self.open(Self.archive([member], comment: comment), in: directory)
            #expect(archive.entries.map(\.name) == ["x"])
            // One byte more after the end record and the search window no longer reaches it.
            var bytes = Self.archive([member], comment: [UInt8](repeating: 0x41, count: 65535))
            bytes.append(0)
            #expect(throws: FormatError.self) { try Self.open(bytes, in: directory, name: "b.zip") }
        }
    }

    @Test func numpyZip64LocalHeadersAndCentralSizes() throws {
        let path = NumpyFixtures.numpy.appendingPathComponent("npz/savez.npz").path
        let archive = try ZipArchive(file: MappedFile(path: path))
        let first = try #require(archive.entries.first)
        // numpy: local sizes 0xFFFFFFFF + a 20-byte Zip64 extra, so data starts 30 + name + 20 bytes in.
        #expect(first.dataOffset == first.localHeaderOffset + 30 + first.name.utf8.count + 20)
        #expect(first.method == .stored && first.compressedSize == first.uncompressedSize)
    }

    @Test func deflatedMembersInflateWithinTheirDeclaredSize() throws {
        let path = NumpyFixtures.numpy.appendingPathComponent("npz/savez_compressed.npz").path
        let archive = try ZipArchive(file: MappedFile(path: path))
        for entry in archive.entries {
            #expect(entry.method == .deflated && entry.fileRegion == nil)
            let whole = try entry.withData { Array($0) }
            #expect(whole.count == entry.uncompressedSize)
            #expect(try entry.withPrefix(10) { Array($0) } == Array(whole.prefix(10)))
            #expect(try entry.withPrefix(1 << 30) { Array($0) } == whole)
        }
        // A cap below a member's size refuses to inflate it (listing still works).
        let capped = try ZipArchive(file: MappedFile(path: path), maxInflatedBytes: 100)
        #expect(capped.entries.count == archive.entries.count)
        let big = try #require(capped.entries.first(where: { $0.uncompressedSize > 100 }))
        do {
            _ = try big.withData { $0.count }
            Issue.record("inflated past the cap")
        } catch {
            #expect(NumpyFixtures.kindName(error) == "limitExceeded")
        }
    }

    @Test func storedCRCIsCheckedOnceOnFirstUse() throws {
        let path = NumpyFixtures.hostile.appendingPathComponent("npz/crc_mismatch_stored.npz").path
        let archive = try ZipArchive(file: MappedFile(path: path))
        let entry = try #require(archive.entries.first)
        #expect(!entry.isCRCVerified)
        #expect(entry.fileRegion != nil, "the raw region is available to callers that check it themselves")
        #expect(throws: FormatError.self) { try entry.verifyCRC() }
        #expect(!entry.isCRCVerified)
        let good = try ZipArchive(file: MappedFile(path: NumpyFixtures.numpy.appendingPathComponent("npz/savez.npz").path))
        try good.entries[0].verifyCRC()
        #expect(good.entries[0].isCRCVerified && !good.entries[1].isCRCVerified)
    }

    @Test func carrylessCRC32MatchesZlib() {
        var generator = SystemRandomNumberGenerator()
        let data = (0 ..< (1 << 20) + 37).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
        data.withUnsafeBytes { all in
            for (start, length) in [(0, 0), (1, 63), (0, 64), (3, 65), (5, 200), (7, 4096 + 9), (0, all.count), (13, all.count - 13)] {
                let slice = UnsafeRawBufferPointer(rebasing: all[start ..< start + length])
                for seed: UInt32 in [0, 0xDEAD_BEEF] {
                    #expect(ZipCRC32.checksum(slice, continuing: seed)
                        == ZipCRC32.checksum(slice, continuing: seed, carrylessMultiply: false), "\(start) +\(length)")
                }
            }
        }
    }

    @Test func crc32MatchesTheZipPolynomial() {
        // The standard check value of CRC-32/ISO-HDLC.
        #expect(Self.crc(Array("123456789".utf8)) == 0xCBF4_3926)
        let long = [UInt8](repeating: 0x61, count: 1000)
        #expect(long.withUnsafeBytes { ZipCRC32.checksum($0) } == long.withUnsafeBytes { ZipCRC32.checksum($0, carrylessMultiply: false) })
        #expect(Self.crc([]) == 0)
    }
}
