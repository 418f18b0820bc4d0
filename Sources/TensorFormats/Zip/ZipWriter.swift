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
    private var names = Set<String>()
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
        guard names.insert(name).inserted else {
            throw FormatError(.duplicateName(name), file: output.path, at: .member(name))
        }
        let isASCII = name.utf8.allSatisfy { $0 < 0x80 }
        let rawName = Array(name.utf8)
        guard rawName.count <= Int(UInt16.max) else {
            throw FormatError(.limitExceeded(what: "zip member name length", value: "\(rawName.count) bytes",
                                             limit: "65535 bytes"), file: output.path, at: .member(name))
        }
        let flags: UInt16 = isASCII ? 0 : 0x0800
        let headerOffset = output.position

        try output.writeLE(UInt32(0x0403_4b50))
        try output.writeLE(UInt16(45))
        try output.writeLE(flags)
        try output.writeLE(UInt16(0)) // stored
        try output.writeLE(UInt16(0)) // time
        try output.writeLE(ZipWriter.dosDate)
        try output.writeLE(UInt32(0)) // CRC-32, patched below
        try output.writeLE(UInt32(0xFFFF_FFFF))
        try output.writeLE(UInt32(0xFFFF_FFFF))
        try output.writeLE(UInt16(rawName.count))
        try output.writeLE(UInt16(20))
        try output.write(rawName)
        try output.writeLE(UInt16(0x0001))
        try output.writeLE(UInt16(16))
        try output.writeLE(UInt64(size))
        try output.writeLE(UInt64(size))

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
            try output.writeLE(UInt32(0x0201_4b50))
            try output.writeLE(UInt16(0x032D)) // made by: unix, version 4.5
            try output.writeLE(UInt16(45))
            try output.writeLE(member.flags)
            try output.writeLE(UInt16(0))
            try output.writeLE(UInt16(0))
            try output.writeLE(ZipWriter.dosDate)
            try output.writeLE(member.crc32)
            try output.writeLE(size32)
            try output.writeLE(size32)
            try output.writeLE(UInt16(member.rawName.count))
            try output.writeLE(UInt16(extra.isEmpty ? 0 : 4 + 8 * extra.count))
            try output.writeLE(UInt16(0)) // comment
            try output.writeLE(UInt16(0)) // disk
            try output.writeLE(UInt16(0)) // internal attributes
            try output.writeLE(ZipWriter.externalAttributes)
            try output.writeLE(offset32)
            try output.write(member.rawName)
            if !extra.isEmpty {
                try output.writeLE(UInt16(0x0001))
                try output.writeLE(UInt16(8 * extra.count))
                for value in extra { try output.writeLE(value) }
            }
        }
        let directoryEnd = output.position
        var count = members.count
        var directorySize = directoryEnd - directoryOffset
        var offset = directoryOffset
        if count > ZipWriter.fileCountLimit || offset > ZipWriter.zip64Limit || directorySize > ZipWriter.zip64Limit {
            try output.writeLE(UInt32(0x0606_4b50))
            try output.writeLE(UInt64(44))
            try output.writeLE(UInt16(45))
            try output.writeLE(UInt16(45))
            try output.writeLE(UInt32(0))
            try output.writeLE(UInt32(0))
            try output.writeLE(UInt64(count))
            try output.writeLE(UInt64(count))
            try output.writeLE(UInt64(directorySize))
            try output.writeLE(UInt64(offset))
            try output.writeLE(UInt32(0x0706_4b50))
            try output.writeLE(UInt32(0))
            try output.writeLE(UInt64(directoryEnd))
            try output.writeLE(UInt32(1))
            count = min(count, 0xFFFF)
            directorySize = min(directorySize, 0xFFFF_FFFF)
            offset = min(offset, 0xFFFF_FFFF)
        }
        try output.writeLE(UInt32(0x0605_4b50))
        try output.writeLE(UInt16(0))
        try output.writeLE(UInt16(0))
        try output.writeLE(UInt16(count))
        try output.writeLE(UInt16(count))
        try output.writeLE(UInt32(directorySize))
        try output.writeLE(UInt32(offset))
        try output.writeLE(UInt16(0))
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
