import CConnkit
import CZlib
import Synchronization

/// One member of a `ZipArchive`, validated: its data lies at `dataOffset ..< dataOffset + compressedSize`
/// in `file`, inside the file and overlapping no other member.
public struct ZipEntry: Sendable {
    public enum Method: UInt16, Sendable {
        case stored = 0
        case deflated = 8
    }

    /// State shared by the entries of one archive: the file and which stored members passed their CRC check.
    final class Shared: Sendable {
        let file: MappedFile
        let maxInflatedBytes: Int
        private let verified = Mutex(Set<Int>())

        init(file: MappedFile, maxInflatedBytes: Int) {
            self.file = file
            self.maxInflatedBytes = maxInflatedBytes
        }

        func isVerified(_ index: Int) -> Bool { verified.withLock { $0.contains(index) } }
        func markVerified(_ index: Int) { verified.withLock { _ = $0.insert(index) } }
    }

    let shared: Shared
    /// Position in the central directory.
    public let index: Int
    public let name: String
    public let method: Method
    public let flags: UInt16
    public let crc32: UInt32
    public let compressedSize: Int
    public let uncompressedSize: Int
    public let localHeaderOffset: Int
    /// First byte of the (compressed) data in the file.
    public let dataOffset: Int
    /// End of the member's bytes: after the data, or after its data descriptor.
    public let endOffset: Int

    init(shared: Shared, index: Int, name: String, method: Method, flags: UInt16, crc32: UInt32,
         compressedSize: Int, uncompressedSize: Int, localHeaderOffset: Int, dataOffset: Int, endOffset: Int) {
        self.shared = shared
        self.index = index
        self.name = name
        self.method = method
        self.flags = flags
        self.crc32 = crc32
        self.compressedSize = compressedSize
        self.uncompressedSize = uncompressedSize
        self.localHeaderOffset = localHeaderOffset
        self.dataOffset = dataOffset
        self.endOffset = endOffset
    }

    public var file: MappedFile { shared.file }
    public var hasDataDescriptor: Bool { flags & 0x8 != 0 }

    /// For stored members: where the content lies verbatim in the file, for mapping or copying it without a
    /// copy. Its CRC is not checked by this property: call `verifyCRC()` (or use `withData`) first.
    public var fileRegion: FileRegion? {
        method == .stored ? FileRegion(file: file, offset: dataOffset, count: compressedSize) : nil
    }

    /// True once the CRC of this stored member has been checked (by `withData` or `verifyCRC`).
    public var isCRCVerified: Bool { shared.isVerified(index) }

    /// The member's content, valid only inside `body`. Stored members are lent straight from the mapping
    /// (their CRC is checked on the first call and remembered); deflated ones are inflated into a buffer of
    /// exactly the declared size, CRC-checked on every call.
    public func withData<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        switch method {
        case .stored:
            try verifyCRC()
            return try file.withBytes(offset: dataOffset, count: compressedSize, body)
        case .deflated:
            try checkInflateLimit(uncompressedSize)
            return try withScratchBuffer(count: uncompressedSize, for: "zip member '\(name)'") { buffer in
                try located {
                    try file.withBytes(offset: dataOffset, count: compressedSize) { compressed in
                        _ = try ZipInflater.inflate(compressed, into: buffer, wholeStream: true)
                    }
                    try checkCRC(UnsafeRawBufferPointer(buffer))
                }
                return try body(UnsafeRawBufferPointer(buffer))
            }
        }
    }

    /// The first `min(count, uncompressedSize)` bytes of the content (to read a header without inflating a whole
    /// member). Not CRC-checked: the rest of the content is never seen.
    public func withPrefix<R>(_ count: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let length = min(max(count, 0), uncompressedSize)
        switch method {
        case .stored:
            return try file.withBytes(offset: dataOffset, count: length, body)
        case .deflated:
            return try withScratchBuffer(count: length, for: "the start of zip member '\(name)'") { buffer in
                let produced = try located {
                    try file.withBytes(offset: dataOffset, count: compressedSize) { compressed in
                        try ZipInflater.inflate(compressed, into: buffer, wholeStream: length == uncompressedSize)
                    }
                }
                guard produced == length else {
                    throw FormatError(.compression("the stream ends after \(produced) of the \(length) bytes requested"),
                                      file: file.path, at: .member(name))
                }
                return try body(UnsafeRawBufferPointer(buffer))
            }
        }
    }

    /// Checks a stored member's CRC-32 against its content (once; the result is remembered). Deflated members
    /// are checked each time they are inflated.
    public func verifyCRC() throws {
        switch method {
        case .stored:
            guard !shared.isVerified(index) else { return }
            try located {
                try file.withBytes(offset: dataOffset, count: compressedSize) { bytes in try checkCRC(bytes) }
            }
            shared.markVerified(index)
        case .deflated:
            try withData { _ in }
        }
    }

    private func checkCRC(_ bytes: UnsafeRawBufferPointer) throws {
        let computed = ZipCRC32.checksum(bytes)
        guard computed == crc32 else {
            throw FormatError(.crcMismatch(expected: crc32, found: computed))
        }
    }

    private func checkInflateLimit(_ size: Int) throws {
        guard size <= shared.maxInflatedBytes else {
            throw FormatError(.limitExceeded(what: "inflated size", value: "\(size) bytes",
                                             limit: "\(shared.maxInflatedBytes) bytes"),
                              file: file.path, at: .member(name))
        }
    }

    /// Attributes errors of this member's own checks to the archive and the member.
    private func located<R>(_ body: () throws -> R) throws -> R {
        do { return try body() } catch let error as FormatError { throw error.inFile(file.path).at(.member(name)) }
    }
}

/// The zip CRC-32: PCLMULQDQ folding (CConnkit, about 10× zlib) for whole 16-byte blocks when the CPU has it,
/// zlib's `crc32_z` for the rest (and for everything with `carrylessMultiply: false`, the reference the tests
/// compare against).
public enum ZipCRC32 {
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0,
                                carrylessMultiply: Bool = true) -> UInt32 {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return crc }
        var value = crc
        var offset = 0
        if carrylessMultiply {
            var consumed = 0
            value = ck_crc32_blocks(value, base, bytes.count, &consumed)
            offset = consumed
        }
        while offset < bytes.count {
            let chunk = min(bytes.count - offset, 1 << 30)
            value = UInt32(truncatingIfNeeded: crc32_z(UInt(value), base + offset, z_size_t(chunk)))
            offset += chunk
        }
        return value
    }
}

/// Raw DEFLATE (RFC 1951, no zlib header) through zlib, into a caller-sized buffer.
enum ZipInflater {
    /// Inflates `input` into `output`. With `wholeStream`, the stream must end exactly when `output` is full and
    /// use every input byte; without it, inflation stops once `output` is full. Returns the bytes produced.
    static func inflate(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
                        wholeStream: Bool) throws -> Int {
        var stream = z_stream()
        let initStatus = inflateInit2_(&stream, -15, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard initStatus == Z_OK else { throw FormatError(.compression("zlib inflateInit2 failed (\(initStatus))")) }
        defer { inflateEnd(&stream) }

        let chunkLimit = 1 << 30
        var inputUsed = 0 // bytes handed to zlib so far
        var outputGiven = 0
        func feed() {
            if stream.avail_in == 0 && inputUsed < input.count {
                let chunk = min(input.count - inputUsed, chunkLimit)
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.advanced(by: inputUsed)
                    .assumingMemoryBound(to: Bytef.self))
                stream.avail_in = uInt(chunk)
                inputUsed += chunk
            }
            if stream.avail_out == 0 && outputGiven < output.count {
                let chunk = min(output.count - outputGiven, chunkLimit)
                stream.next_out = output.baseAddress!.advanced(by: outputGiven).assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(chunk)
                outputGiven += chunk
            }
        }
        var produced: Int { outputGiven - Int(stream.avail_out) }
        var consumed: Int { inputUsed - Int(stream.avail_in) }

        while true {
            feed()
            if produced == output.count && !wholeStream { return produced }
            if stream.avail_out == 0 {
                // The buffer is full: the stream must end here without producing anything more.
                var probe: UInt8 = 0
                let status = withUnsafeMutablePointer(to: &probe) { pointer -> Int32 in
                    stream.next_out = pointer
                    stream.avail_out = 1
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                if stream.avail_out == 0 {
                    throw FormatError(.compression("the member inflates to more than its declared \(output.count) bytes"))
                }
                stream.avail_out = 0
                if status == Z_STREAM_END { break }
                if status == Z_OK { continue }
                if status == Z_BUF_ERROR {
                    if stream.avail_in == 0 && inputUsed < input.count { continue }
                    throw FormatError(.compression("the deflate stream is truncated after \(input.count) compressed bytes"))
                }
                throw FormatError(.compression(zlibMessage(status, &stream)))
            }
            let status = CZlib.inflate(&stream, Z_NO_FLUSH)
            switch status {
            case Z_STREAM_END:
                if wholeStream && produced != output.count {
                    throw FormatError(.compression("the member inflates to \(produced) bytes, not its declared \(output.count)"))
                }
                break
            case Z_OK:
                continue
            case Z_BUF_ERROR:
                // No progress: fine only if zlib merely needs the next chunk of input or output.
                if (stream.avail_in == 0 && inputUsed < input.count) || (stream.avail_out == 0 && outputGiven < output.count) {
                    continue
                }
                if !wholeStream && stream.avail_in == 0 { return produced }
                throw FormatError(.compression("the deflate stream is truncated after \(input.count) compressed bytes"))
            default:
                throw FormatError(.compression(zlibMessage(status, &stream)))
            }
            break
        }
        if wholeStream && consumed != input.count {
            throw FormatError(.compression("the deflate stream ends after \(consumed) of the \(input.count) compressed bytes"))
        }
        return produced
    }

    private static func zlibMessage(_ status: Int32, _ stream: inout z_stream) -> String {
        let detail = stream.msg.map { String(cString: $0) } ?? "status \(status)"
        return "invalid deflate data (\(detail))"
    }
}
