#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a zip archive of stored members byte for byte the way CPython's `zipfile` does for `np.savez`
/// (`force_zip64=True` on a seekable file), so numpy reads it and the output is deterministic:
///
/// - local header: version needed 45, flags 0 (0x0800 when the name is not ASCII, then UTF-8), method 0,
///   time 0 / date 0x0021 (1980-01-01 00:00, the fixed stamp numpy uses), CRC-32, both sizes 0xFFFFFFFF and a
///   20-byte Zip64 extra field holding [uncompressed u64, compressed u64];
/// - central header: made by 0x032D (unix, 4.5), needed 45, real 32-bit sizes and offset; a Zip64 extra with
///   both sizes when a size exceeds 2^31-1, and with the offset when the offset does (CPython's threshold);
///   external attributes 0o600 << 16;
/// - end record, preceded by a Zip64 end record and locator when there are more than 65535 members or the
///   directory's offset or size exceeds 2^31-1.
///
/// Members are written in the order they are added. Their content is streamed to the output; the CRC, which the
/// local header needs before the data, is computed afterwards by reading the written bytes back and patched in
/// place (the archive is a temporary file until the caller commits the `OutputFile`).
public final class ZipWriter {
    private struct Member {
        let rawName: [UInt8]
        let flags: UInt16
        let crc32: UInt32
        let size: Int
        let headerOffset: Int
    }

    private let output: OutputFile
    private var members: [Member] = []
    private var names = Set<ExactName>()
    private var patchDescriptor: Int32 = -1
    private var finished = false

    /// CPython's `ZIP64_LIMIT` and `ZIP_FILECOUNT_LIMIT`.
    static let zip64Limit = (1 << 31) - 1
    static let fileCountLimit = (1 << 16) - 1
    private static let dosDate: UInt16 = 0x0021
    private static let externalAttributes: UInt32 = 0o600 << 16

    public init(output: OutputFile) {
        self.output = output
    }

    deinit {
        if patchDescriptor >= 0 { close(patchDescriptor) }
    }

    /// Adds a stored member of exactly `size` bytes, which `produce` writes to the output.
    public func addStored(name: String, size: Int, produce: (OutputFile) throws -> Void) throws {
        precondition(!finished, "ZipWriter used after finish()")
        guard names.insert(ExactName(name)).inserted else {
            throw FormatError(.duplicateName(name), file: output.path, at: .member(name))
        }
        try attributing(to: output.path) { try ZipWriter.checkName(name) }
        let isASCII = name.utf8.allSatisfy { $0 < 0x80 }
        let rawName = Array(name.utf8)
        let flags: UInt16 = isASCII ? 0 : 0x0800
        let headerOffset = output.position

        // Local header: signature, needed, flags, method (stored), time, date, CRC-32 (patched below), both
        // sizes in the Zip64 extra (id 1, 16 bytes) that follows the name.
        try write([.u32(0x0403_4b50), .u16(45), .u16(flags), .u16(0), .u16(0), .u16(ZipWriter.dosDate),
                   .u32(0), .u32(0xFFFF_FFFF), .u32(0xFFFF_FFFF), .u16(UInt16(rawName.count)), .u16(20),
                   .bytes(rawName), .u16(0x0001), .u16(16), .u64(UInt64(size)), .u64(UInt64(size))])

        let dataStart = output.position
        try produce(output)
        let written = output.position - dataStart
        guard written == size else {
            throw FormatError(.sizeMismatch(expected: size, found: written), file: output.path, at: .member(name))
        }
        let crc = try checksumWritten(offset: dataStart, count: size)
        if crc != 0 { try patch(crc.littleEndian, at: headerOffset + 14) } // the placeholder is already 0
        members.append(Member(rawName: rawName, flags: flags, crc32: crc, size: size, headerOffset: headerOffset))
    }

    /// Refuses a member name a zip cannot hold (over 65535 bytes).
    static func checkName(_ name: String) throws {
        let length = name.utf8.count
        guard length <= Int(UInt16.max) else {
            throw FormatError(.limitExceeded(what: "zip member name length", value: "\(length) bytes", limit: "65535 bytes"),
                              at: .member(name))
        }
    }

    /// Writes the central directory and the end records. The caller then commits the `OutputFile`.
    public func finish() throws {
        precondition(!finished, "ZipWriter.finish() called twice")
        finished = true
        let directoryOffset = output.position
        for member in members {
            var extra: [UInt64] = []
            var size32 = UInt32(truncatingIfNeeded: member.size)
            var offset32 = UInt32(truncatingIfNeeded: member.headerOffset)
            if member.size > ZipWriter.zip64Limit {
                extra += [UInt64(member.size), UInt64(member.size)]
                size32 = 0xFFFF_FFFF
            }
            if member.headerOffset > ZipWriter.zip64Limit {
                extra.append(UInt64(member.headerOffset))
                offset32 = 0xFFFF_FFFF
            }
            // Central header: signature, made by (unix, 4.5), needed, flags, method, time, date, CRC-32, sizes,
            // name length, extra length, comment length, disk, internal and external attributes, offset.
            try write([.u32(0x0201_4b50), .u16(0x032D), .u16(45), .u16(member.flags), .u16(0), .u16(0),
                       .u16(ZipWriter.dosDate), .u32(member.crc32), .u32(size32), .u32(size32),
                       .u16(UInt16(member.rawName.count)), .u16(UInt16(extra.isEmpty ? 0 : 4 + 8 * extra.count)),
                       .u16(0), .u16(0), .u16(0), .u32(ZipWriter.externalAttributes), .u32(offset32),
                       .bytes(member.rawName)]
                      + (extra.isEmpty ? [] : [.u16(0x0001), .u16(UInt16(8 * extra.count))] + extra.map { .u64($0) }))
        }
        let directoryEnd = output.position
        var count = members.count
        var directorySize = directoryEnd - directoryOffset
        var offset = directoryOffset
        if count > ZipWriter.fileCountLimit || offset > ZipWriter.zip64Limit || directorySize > ZipWriter.zip64Limit {
            // Zip64 end record (size 44, made by and needed 4.5, disks 0, counts, directory size and offset),
            // then its locator (disk 0, the record's offset, 1 disk).
            try write([.u32(0x0606_4b50), .u64(44), .u16(45), .u16(45), .u32(0), .u32(0), .u64(UInt64(count)),
                       .u64(UInt64(count)), .u64(UInt64(directorySize)), .u64(UInt64(offset)),
                       .u32(0x0706_4b50), .u32(0), .u64(UInt64(directoryEnd)), .u32(1)])
            count = min(count, 0xFFFF)
            directorySize = min(directorySize, 0xFFFF_FFFF)
            offset = min(offset, 0xFFFF_FFFF)
        }
        // End record: disks 0, counts, directory size and offset, no comment.
        try write([.u32(0x0605_4b50), .u16(0), .u16(0), .u16(UInt16(count)), .u16(UInt16(count)),
                   .u32(UInt32(directorySize)), .u32(UInt32(offset)), .u16(0)])
    }

    /// A little-endian field of a zip record.
    private enum Field {
        case u16(UInt16), u32(UInt32), u64(UInt64), bytes([UInt8])
    }

    /// Writes a record's fields in order.
    private func write(_ fields: [Field]) throws {
        for field in fields {
            switch field {
            case .u16(let value): try output.writeLE(value)
            case .u32(let value): try output.writeLE(value)
            case .u64(let value): try output.writeLE(value)
            case .bytes(let bytes): try output.write(bytes)
            }
        }
    }

    // MARK: - Read-back and patching of the temporary file

    private func openPatchDescriptor() throws -> Int32 {
        if patchDescriptor >= 0 { return patchDescriptor }
        let fd = open(output.temporaryPath, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            throw FormatError(.io(operation: "reopen the temporary output", message: String(cString: strerror(errno))),
                              file: output.path)
        }
        patchDescriptor = fd
        return fd
    }

    private func checksumWritten(offset: Int, count: Int) throws -> UInt32 {
        guard count > 0 else { return 0 }
        try output.flush()
        let fd = try openPatchDescriptor()
        let chunkSize = 1 << 20
        return try withScratchBuffer(count: min(count, chunkSize), for: "a CRC-32 read-back buffer") { buffer in
            var crc: UInt32 = 0
            var position = offset
            let end = offset + count
            while position < end {
                let wanted = min(end - position, buffer.count)
                let got = pread(fd, buffer.baseAddress, wanted, off_t(position))
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else {
                    throw FormatError(.io(operation: "read back the written member", message: got < 0 ? String(cString: strerror(errno)) : "unexpected end of file"),
                                      file: output.path)
                }
                crc = ZipCRC32.checksum(UnsafeRawBufferPointer(rebasing: buffer[0 ..< got]), continuing: crc)
                position += got
            }
            return crc
        }
    }

    private func patch<T: FixedWidthInteger>(_ value: T, at offset: Int) throws {
        try output.flush()
        let fd = try openPatchDescriptor()
        var copy = value
        let written = withUnsafeBytes(of: &copy) { raw in pwrite(fd, raw.baseAddress, raw.count, off_t(offset)) }
        guard written == MemoryLayout<T>.size else {
            throw FormatError(.io(operation: "patch the zip local header", message: String(cString: strerror(errno))),
                              file: output.path)
        }
    }
}
