#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A zip archive in a mapped file: its central directory, validated and cross-checked against every
/// local header, with member contents reached without copying (stored) or inflated within bounds
/// (deflated). Used for `.npz` and for PyTorch's `torch.save` archives.
///
/// Byte layout accepted (all integers little-endian; PKWARE APPNOTE 6.3):
///
///     per member:  local header   sig 50 4B 03 04, needed u16, flags u16, method u16, time u16, date u16,
///                                 crc32 u32, compressed u32, uncompressed u32, name_len u16, extra_len u16,
///                                 name, extra (a Zip64 field 0x0001 carries the sizes when they are FFFFFFFF)
///                  data           `compressed` bytes, stored (method 0) or raw DEFLATE (method 8)
///                  descriptor     only with flag bit 3: [sig 50 4B 07 08] crc32, sizes (u64 with Zip64, else u32)
///     central directory, one 46-byte header per member:
///                                 sig 50 4B 01 02, made by, needed, flags, method, time, date, crc32,
///                                 compressed u32, uncompressed u32, name_len, extra_len, comment_len,
///                                 disk u16, internal u16, external u32, local header offset u32,
///                                 name, extra (Zip64 field: only the values whose 32-bit field is the
///                                 FFFFFFFF / FFFF sentinel, in the order uncompressed, compressed, offset, disk),
///                                 comment (skipped)
///     optional:    Zip64 end record   sig 50 4B 06 06, record size u64, made by, needed, disk u32,
///                                 disk of directory u32, entries here u64, entries u64, directory size u64,
///                                 directory offset u64 (then extensible data)
///                  Zip64 locator  sig 50 4B 06 07, disk u32, end record offset u64, disks u32
///     end record                  sig 50 4B 05 06, disk u16, disk of directory u16, entries here u16,
///                                 entries u16, directory size u32, directory offset u32, comment_len u16, comment
///
/// Rules enforced (each violation is a `FormatError` naming the archive, the member or the byte):
/// - The end record is searched only in the last 65 557 bytes (22 + the largest comment), and its comment must
///   end exactly at the end of the file. Single-disk archives only.
/// - The central directory ends exactly where the Zip64 end record (or the end record) begins; its entry count is
///   checked against its size before anything is allocated; every entry is consumed exactly.
/// - Each local header lies before the central directory, repeats the central entry's name and method, and its
///   CRC and sizes agree with it (or are zero when a data descriptor follows, which must then agree too).
/// - Members lie inside the file, before the central directory, and do not overlap. Gaps are allowed.
/// - Duplicate names, encrypted members, patched data and methods other than stored/deflated are refused.
/// - Names are UTF-8 (flag bit 11, validated) or CP437, as Python's `zipfile` decodes them.
/// - A deflated member may not declare more than `maxDeflateRatio` × its compressed size (DEFLATE cannot expand
///   further); inflation writes into a buffer of exactly the declared size and fails if the stream would
///   produce more or less, or leaves compressed bytes unused. CRC-32 is always verified.
/// All arithmetic on file numbers is checked. Error locations carry absolute file offsets
/// (`.memberByte(name, offset)` once the member is known).
public struct ZipArchive: Sendable {
    public let file: MappedFile
    /// In central-directory order.
    public let entries: [ZipEntry]
    /// True when the archive has a Zip64 end record.
    public let isZip64: Bool
    public let centralDirectoryOffset: Int

    /// DEFLATE's largest possible expansion is 1032:1 (a 258-byte match in about 2 bits); anything declaring
    /// more than this (plus a small constant for tiny streams) is lying about its size.
    public static let maxDeflateRatio = 1032

    /// Inflated members are held in memory while used; by default none may exceed the machine's RAM.
    public static var defaultMaxInflatedBytes: Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES))
        let pageSize = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, pageSize > 0, let bytes = Checked.multiply(pages, pageSize) else { return Int.max }
        return bytes
    }

    static let localHeaderSize = 30
    static let centralHeaderSize = 46
    static let endRecordSize = 22
    static let zip64LocatorSize = 20
    static let zip64EndRecordFixedSize = 56
    static let maxCommentLength = 65535

    public init(file: MappedFile, maxInflatedBytes: Int = ZipArchive.defaultMaxInflatedBytes) throws {
        self.file = file
        let parsed = try attributing(to: file.path) {
            try file.withBytes { bytes in try ZipArchive.parse(bytes, file: file, maxInflatedBytes: maxInflatedBytes) }
        }
        entries = parsed.entries
        isZip64 = parsed.isZip64
        centralDirectoryOffset = parsed.directoryOffset
    }

    public func entry(named name: String) -> ZipEntry? {
        entries.first(where: { $0.name.isSameName(as: name) })
    }

    // MARK: - Parsing

    private struct Parsed {
        var entries: [ZipEntry]
        var isZip64: Bool
        var directoryOffset: Int
    }

    private static func parse(_ bytes: UnsafeRawBufferPointer, file: MappedFile, maxInflatedBytes: Int) throws -> Parsed {
        let directory = try locateDirectory(bytes)
        let shared = ZipEntry.Shared(file: file, maxInflatedBytes: maxInflatedBytes)
        // Each central header is at least 46 bytes: the count must fit in the directory before we reserve.
        guard directory.entryCount <= directory.size / centralHeaderSize else {
            throw FormatError(.truncated(what: "zip central directory of \(directory.entryCount) entries",
                                         needed: directory.entryCount &* centralHeaderSize, available: directory.size),
                              at: .byte(directory.offset))
        }
        var entries: [ZipEntry] = []
        entries.reserveCapacity(directory.entryCount)
        var names = Set<ExactName>()
        var cursor = ByteCursor(UnsafeRawBufferPointer(rebasing: bytes[directory.offset ..< directory.offset + directory.size]),
                                origin: directory.offset)
        for index in 0 ..< directory.entryCount {
            let central = try CentralHeader(&cursor, index: index)
            guard names.insert(ExactName(central.name)).inserted else {
                throw FormatError(.duplicateName(central.name), at: .byte(central.headerOffset))
            }
            let entry = try validatedEntry(central, index: index, bytes: bytes, directoryOffset: directory.offset,
                                           shared: shared)
            entries.append(entry)
        }
        guard cursor.isAtEnd else {
            throw FormatError(.invalidHeader(
                "the zip central directory holds \(cursor.remaining) bytes after its \(directory.entryCount) declared entries"),
                at: .byte(cursor.fileOffset))
        }
        try checkNoOverlap(entries)
        return Parsed(entries: entries, isZip64: directory.isZip64, directoryOffset: directory.offset)
    }

    /// Reads the local header of `central`, checks it against the central entry and locates the data.
    private static func validatedEntry(_ central: CentralHeader, index: Int, bytes: UnsafeRawBufferPointer,
                                       directoryOffset: Int, shared: ZipEntry.Shared) throws -> ZipEntry {
        let name = central.name
        func fail(_ kind: FormatError.Kind, at offset: Int) -> FormatError {
            FormatError(kind, at: .memberByte(name, offset))
        }
        let start = central.localHeaderOffset
        // Members live before the central directory.
        let memberArea = UnsafeRawBufferPointer(rebasing: bytes[0 ..< directoryOffset])
        guard start <= directoryOffset else {
            throw fail(.truncated(what: "local header at byte \(start), past the member area ending at byte \(directoryOffset)",
                                  needed: localHeaderSize, available: 0), at: start)
        }
        var cursor = ByteCursor(UnsafeRawBufferPointer(rebasing: memberArea[start...]), origin: start)
        do {
            let signature = try cursor.readU32("local header")
            guard signature == 0x0403_4b50 else {
                throw fail(.badMagic(expected: "local header signature 0x04034b50", found: hexLiteral(signature)), at: start)
            }
            try cursor.skip(2) // version needed
            let flags = try cursor.readU16("local header")
            let method = try cursor.readU16("local header")
            try cursor.skip(4) // time, date
            let crc = try cursor.readU32("local header")
            let compressed32 = try cursor.readU32("local header")
            let uncompressed32 = try cursor.readU32("local header")
            let nameLength = Int(try cursor.readU16("local header"))
            let extraLength = Int(try cursor.readU16("local header"))
            let nameOffset = cursor.fileOffset
            let rawName = try cursor.readBytes(nameLength, "local header name")
            guard rawName.elementsEqual(central.rawName) else {
                throw fail(.inconsistent("the local header names the member '\(decodeName(rawName, utf8: flags & 0x800 != 0) ?? "?")' but the central directory says '\(name)'"),
                           at: nameOffset)
            }
            let extraOffset = cursor.fileOffset
            let extra = try cursor.readBytes(extraLength, "local header extra field")
            let dataOffset = cursor.fileOffset

            try checkFlags(flags, at: start + 6, member: name)
            guard method == central.method.rawValue else {
                throw fail(.inconsistent("the local header says compression method \(method), the central directory \(central.method.rawValue)"),
                           at: start + 8)
            }
            guard (flags & 0x8) == (central.flags & 0x8) else {
                throw fail(.inconsistent("the local header and the central directory disagree on the data descriptor flag"),
                           at: start + 6)
            }
            let zip64 = try zip64Fields(extra, origin: extraOffset, uncompressed: uncompressed32,
                                        compressed: compressed32, offset: nil, disk: nil, member: name)
            let localSizes = (compressed: zip64.compressed ?? UInt64(compressed32),
                              uncompressed: zip64.uncompressed ?? UInt64(uncompressed32))
            let hasDescriptor = flags & 0x8 != 0
            // With a data descriptor the local fields may be zero; otherwise they must be the central ones.
            func localAgrees(_ local: UInt64, _ centralValue: Int) -> Bool {
                UInt64(centralValue) == local || (hasDescriptor && local == 0)
            }
            guard crc == central.crc32 || (hasDescriptor && crc == 0) else {
                throw fail(.inconsistent("the local header's CRC-32 \(hexLiteral(crc)) differs from the central directory's \(hexLiteral(central.crc32))"),
                           at: start + 14)
            }
            guard localAgrees(localSizes.compressed, central.compressedSize),
                  localAgrees(localSizes.uncompressed, central.uncompressedSize) else {
                throw fail(.inconsistent(
                    "the local header's sizes (\(localSizes.compressed) compressed, \(localSizes.uncompressed) uncompressed) differ from the central directory's (\(central.compressedSize), \(central.uncompressedSize))"),
                    at: start + 18)
            }
            guard central.compressedSize <= cursor.remaining else {
                throw fail(.truncated(what: "member data", needed: central.compressedSize, available: cursor.remaining),
                           at: dataOffset)
            }
            let dataEnd = dataOffset + central.compressedSize
            var end = dataEnd
            if hasDescriptor {
                try cursor.skip(central.compressedSize)
                end = try descriptorEnd(&cursor, central: central, wide: zip64.present)
            }
            return ZipEntry(shared: shared, index: index, name: name, method: central.method, flags: central.flags,
                            crc32: central.crc32, compressedSize: central.compressedSize,
                            uncompressedSize: central.uncompressedSize, localHeaderOffset: start,
                            dataOffset: dataOffset, endOffset: end)
        } catch let error as FormatError {
            if case .byte(let offset)? = error.location {
                var relocated = error
                relocated.location = .memberByte(name, offset)
                throw relocated
            }
            throw error.at(.member(name))
        }
    }

    /// Checks a data descriptor after the data against the central entry; returns where it ends.
    /// The signature is optional, and sizes are 8 bytes when the local header has a Zip64 field (`wide`) — some
    /// writers use 8-byte sizes without one, so every combination is tried, the expected one first.
    private static func descriptorEnd(_ cursor: inout ByteCursor, central: CentralHeader, wide: Bool) throws -> Int {
        let start = cursor.fileOffset
        for (withSignature, sizeWidth) in [(true, wide ? 8 : 4), (false, wide ? 8 : 4), (true, wide ? 4 : 8), (false, wide ? 4 : 8)] {
            var probe = cursor
            if withSignature {
                guard probe.remaining >= 4, try probe.readU32("data descriptor") == 0x0807_4b50 else { continue }
            }
            guard probe.remaining >= 4 + 2 * sizeWidth else { continue }
            let crc = try probe.readU32("data descriptor")
            let compressed = sizeWidth == 8 ? try probe.readU64("data descriptor") : UInt64(try probe.readU32("data descriptor"))
            let uncompressed = sizeWidth == 8 ? try probe.readU64("data descriptor") : UInt64(try probe.readU32("data descriptor"))
            if crc == central.crc32, compressed == UInt64(central.compressedSize),
               uncompressed == UInt64(central.uncompressedSize) {
                cursor = probe
                return probe.fileOffset
            }
        }
        throw FormatError(.inconsistent(
            "the data descriptor after the member data does not repeat the central directory's CRC-32 \(hexLiteral(central.crc32)) and sizes (\(central.compressedSize), \(central.uncompressedSize))"),
            at: .byte(start))
    }

    private static func checkNoOverlap(_ entries: [ZipEntry]) throws {
        let ordered = entries.sorted { $0.localHeaderOffset < $1.localHeaderOffset }
        for (previous, next) in zip(ordered, ordered.dropFirst()) where next.localHeaderOffset < previous.endOffset {
            throw FormatError(.invalidHeader(
                "member '\(next.name)' (from byte \(next.localHeaderOffset)) overlaps member '\(previous.name)' (bytes \(previous.localHeaderOffset)..<\(previous.endOffset))"),
                at: .member(next.name))
        }
    }

    static func checkFlags(_ flags: UInt16, at offset: Int, member: String?) throws {
        let location: FormatError.Location = member.map { .memberByte($0, offset) } ?? .byte(offset)
        if flags & 0x1 != 0 || flags & 0x40 != 0 || flags & 0x2000 != 0 {
            throw FormatError(.refused("encrypted zip members are not supported (flags \(hexLiteral(flags)))"), at: location)
        }
        if flags & 0x20 != 0 {
            throw FormatError(.unsupportedFormat("zip patched data (flags \(hexLiteral(flags))) is not supported"), at: location)
        }
    }

    struct Zip64Fields {
        var present = false
        var uncompressed: UInt64?
        var compressed: UInt64?
        var offset: UInt64?
        var disk: UInt32?
    }

    /// Walks an extra field; from a Zip64 field (0x0001) takes the values whose 32-bit field is the sentinel,
    /// in the fixed order. Trailing bytes too short for a field header (zipalign padding) are ignored.
    static func zip64Fields(_ extra: UnsafeRawBufferPointer, origin: Int, uncompressed: UInt32, compressed: UInt32,
                            offset: UInt32?, disk: UInt16?, member: String) throws -> Zip64Fields {
        var fields = Zip64Fields()
        var cursor = ByteCursor(extra, origin: origin)
        while cursor.remaining >= 4 {
            let fieldStart = cursor.fileOffset
            let id = try cursor.readU16("extra field")
            let length = Int(try cursor.readU16("extra field"))
            guard length <= cursor.remaining else {
                throw FormatError(.truncated(what: "extra field \(hexLiteral(id)) of member '\(member)'", needed: length,
                                             available: cursor.remaining), at: .byte(fieldStart))
            }
            let body = try cursor.readBytes(length, "extra field")
            guard id == 0x0001 else { continue }
            guard !fields.present else {
                throw FormatError(.invalidHeader("member '\(member)' has two Zip64 extra fields"), at: .byte(fieldStart))
            }
            fields.present = true
            var values = ByteCursor(body, origin: fieldStart + 4)
            if uncompressed == 0xFFFF_FFFF { fields.uncompressed = try values.readU64("Zip64 uncompressed size of member '\(member)'") }
            if compressed == 0xFFFF_FFFF { fields.compressed = try values.readU64("Zip64 compressed size of member '\(member)'") }
            if offset == 0xFFFF_FFFF { fields.offset = try values.readU64("Zip64 local header offset of member '\(member)'") }
            if disk == 0xFFFF { fields.disk = try values.readU32("Zip64 disk number of member '\(member)'") }
        }
        return fields
    }

    // MARK: - Names

    static func decodeName(_ raw: UnsafeRawBufferPointer, utf8: Bool) -> String? {
        if utf8 { return String(validatingUTF8Bytes: raw) }
        if raw.allSatisfy({ $0 < 0x80 }) { return String(decoding: raw, as: UTF8.self) }
        var scalars = String.UnicodeScalarView()
        for byte in raw {
            let value = byte < 0x80 ? UInt32(byte) : UInt32(cp437High[Int(byte) - 0x80])
            scalars.append(Unicode.Scalar(value)!)
        }
        return String(scalars)
    }

    /// CP437 code points of bytes 0x80...0xFF (as Python's `cp437` codec maps them).
    private static let cp437High: [UInt16] = [
        0x00C7, 0x00FC, 0x00E9, 0x00E2, 0x00E4, 0x00E0, 0x00E5, 0x00E7, 0x00EA, 0x00EB, 0x00E8, 0x00EF, 0x00EE, 0x00EC,
        0x00C4, 0x00C5, 0x00C9, 0x00E6, 0x00C6, 0x00F4, 0x00F6, 0x00F2, 0x00FB, 0x00F9, 0x00FF, 0x00D6, 0x00DC, 0x00A2,
        0x00A3, 0x00A5, 0x20A7, 0x0192, 0x00E1, 0x00ED, 0x00F3, 0x00FA, 0x00F1, 0x00D1, 0x00AA, 0x00BA, 0x00BF, 0x2310,
        0x00AC, 0x00BD, 0x00BC, 0x00A1, 0x00AB, 0x00BB, 0x2591, 0x2592, 0x2593, 0x2502, 0x2524, 0x2561, 0x2562, 0x2556,
        0x2555, 0x2563, 0x2551, 0x2557, 0x255D, 0x255C, 0x255B, 0x2510, 0x2514, 0x2534, 0x252C, 0x251C, 0x2500, 0x253C,
        0x255E, 0x255F, 0x255A, 0x2554, 0x2569, 0x2566, 0x2560, 0x2550, 0x256C, 0x2567, 0x2568, 0x2564, 0x2565, 0x2559,
        0x2558, 0x2552, 0x2553, 0x256B, 0x256A, 0x2518, 0x250C, 0x2588, 0x2584, 0x258C, 0x2590, 0x2580, 0x03B1, 0x00DF,
        0x0393, 0x03C0, 0x03A3, 0x03C3, 0x00B5, 0x03C4, 0x03A6, 0x0398, 0x03A9, 0x03B4, 0x221E, 0x03C6, 0x03B5, 0x2229,
        0x2261, 0x00B1, 0x2265, 0x2264, 0x2320, 0x2321, 0x00F7, 0x2248, 0x00B0, 0x2219, 0x00B7, 0x221A, 0x207F, 0x00B2,
        0x25A0, 0x00A0,
    ]
}

/// One central directory header, its Zip64 values resolved.
struct CentralHeader {
    let headerOffset: Int
    let name: String
    let rawName: [UInt8]
    let flags: UInt16
    let method: ZipEntry.Method
    let crc32: UInt32
    let compressedSize: Int
    let uncompressedSize: Int
    let localHeaderOffset: Int

    init(_ cursor: inout ByteCursor, index: Int) throws {
        let start = cursor.fileOffset
        headerOffset = start
        let signature = try cursor.readU32("central directory header \(index)")
        guard signature == 0x0201_4b50 else {
            throw FormatError(.badMagic(expected: "central directory header signature 0x02014b50", found: hexLiteral(signature)),
                              at: .byte(start))
        }
        try cursor.skip(4) // made by, needed
        flags = try cursor.readU16("central directory header")
        let methodCode = try cursor.readU16("central directory header")
        try cursor.skip(4) // time, date
        crc32 = try cursor.readU32("central directory header")
        let compressed32 = try cursor.readU32("central directory header")
        let uncompressed32 = try cursor.readU32("central directory header")
        let nameLength = Int(try cursor.readU16("central directory header"))
        let extraLength = Int(try cursor.readU16("central directory header"))
        let commentLength = Int(try cursor.readU16("central directory header"))
        let disk = try cursor.readU16("central directory header")
        try cursor.skip(6) // internal and external attributes
        let offset32 = try cursor.readU32("central directory header")
        let nameOffset = cursor.fileOffset
        let nameBytes = try cursor.readBytes(nameLength, "member name")
        rawName = Array(nameBytes)
        guard let decoded = ZipArchive.decodeName(nameBytes, utf8: flags & 0x800 != 0) else {
            throw FormatError(.invalidUTF8(what: "the name of zip member \(index) (flag bit 11 says UTF-8)"),
                              at: .byte(nameOffset))
        }
        name = decoded
        let extraOffset = cursor.fileOffset
        let extra = try cursor.readBytes(extraLength, "central directory extra field")
        try cursor.skip(commentLength, "member comment")

        try ZipArchive.checkFlags(flags, at: start + 8, member: decoded)
        guard let method = ZipEntry.Method(rawValue: methodCode) else {
            throw FormatError(.unsupportedFormat("zip compression method \(methodCode) (only 0 stored and 8 deflated are supported)"),
                              at: .memberByte(decoded, start + 10))
        }
        self.method = method
        let zip64 = try ZipArchive.zip64Fields(extra, origin: extraOffset, uncompressed: uncompressed32,
                                               compressed: compressed32, offset: offset32, disk: disk, member: decoded)
        // A sentinel with no Zip64 value behind it is a broken archive, not a 4 GiB member.
        func resolved(_ value32: UInt32, _ value64: UInt64?, _ what: String) throws -> Int {
            if value32 != 0xFFFF_FFFF { return Int(value32) }
            guard let value64 else {
                throw FormatError(.invalidHeader("the \(what) is 0xFFFFFFFF but the entry has no Zip64 value for it"),
                                  at: .memberByte(decoded, start))
            }
            guard let value = Int(fileValue: value64) else {
                throw FormatError(.overflow(what: "the Zip64 \(what) \(value64)"), at: .memberByte(decoded, extraOffset))
            }
            return value
        }
        compressedSize = try resolved(compressed32, zip64.compressed, "compressed size")
        uncompressedSize = try resolved(uncompressed32, zip64.uncompressed, "uncompressed size")
        localHeaderOffset = try resolved(offset32, zip64.offset, "local header offset")
        let diskNumber = disk == 0xFFFF ? zip64.disk.map(UInt64.init) : UInt64(disk)
        guard diskNumber == 0 else {
            throw FormatError(.unsupportedFormat("multi-disk zip archives are not supported (member on disk \(disk))"),
                              at: .memberByte(decoded, start + 34))
        }
        if method == .stored && compressedSize != uncompressedSize {
            throw FormatError(.inconsistent(
                "a stored member declares \(compressedSize) compressed but \(uncompressedSize) uncompressed bytes"),
                at: .memberByte(decoded, start + 20))
        }
        if method == .deflated {
            let bound = Checked.multiply(compressedSize, ZipArchive.maxDeflateRatio).flatMap { Checked.add($0, 1024) } ?? Int.max
            guard uncompressedSize <= bound else {
                throw FormatError(.limitExceeded(what: "declared inflated size", value: "\(uncompressedSize) bytes",
                                                 limit: "\(bound) bytes (\(ZipArchive.maxDeflateRatio)× the \(compressedSize) compressed bytes)"),
                                  at: .memberByte(decoded, start + 24))
            }
        }
    }
}
