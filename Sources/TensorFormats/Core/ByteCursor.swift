/// A bounds-checked, little-endian (or big-endian) reading cursor over borrowed bytes.
///
/// Every read checks the remaining length first (`count <= remaining`, never `offset + count`), so a
/// hostile length can only produce a `.truncated` error, never a trap. Use it only inside the
/// `withBytes` closure that lent the bytes. Offsets in errors are absolute:
/// `origin` is the position of `bytes` in the file.
public struct ByteCursor {
    public let bytes: UnsafeRawBufferPointer
    public let origin: Int
    public private(set) var position: Int = 0
    public var bigEndian: Bool = false

    public init(_ bytes: UnsafeRawBufferPointer, origin: Int = 0) {
        self.bytes = bytes
        self.origin = origin
    }

    public var remaining: Int { bytes.count - position }
    public var isAtEnd: Bool { position == bytes.count }
    /// Absolute file offset of the next byte.
    public var fileOffset: Int { origin + position }

    public mutating func need(_ count: Int, _ what: @autoclosure () -> String) throws {
        guard count >= 0, count <= remaining else {
            throw FormatError(.truncated(what: what(), needed: count, available: remaining), at: .byte(fileOffset))
        }
    }

    public mutating func skip(_ count: Int, _ what: @autoclosure () -> String = "data") throws {
        try need(count, what())
        position += count
    }

    public mutating func seek(to offset: Int) throws {
        guard offset >= 0, offset <= bytes.count else {
            throw FormatError(.truncated(what: "data", needed: offset, available: bytes.count), at: .byte(origin))
        }
        position = offset
    }

    public mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, what())
        let raw = bytes.loadUnaligned(fromByteOffset: position, as: T.self)
        position += MemoryLayout<T>.size
        return bigEndian ? T(bigEndian: raw) : T(littleEndian: raw)
    }

    public mutating func readU8(_ what: @autoclosure () -> String) throws -> UInt8 { try read(UInt8.self, what()) }
    public mutating func readU16(_ what: @autoclosure () -> String) throws -> UInt16 { try read(UInt16.self, what()) }
    public mutating func readU32(_ what: @autoclosure () -> String) throws -> UInt32 { try read(UInt32.self, what()) }
    public mutating func readU64(_ what: @autoclosure () -> String) throws -> UInt64 { try read(UInt64.self, what()) }

    /// A sub-range of `count` bytes, advancing past it.
    public mutating func readBytes(_ count: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        try need(count, what())
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position ..< position + count])
        position += count
        return slice
    }

    /// `count` bytes decoded as UTF-8 (strictly: invalid sequences are an error).
    public mutating func readUTF8(_ count: Int, _ what: @autoclosure () -> String) throws -> String {
        let start = fileOffset
        let raw = try readBytes(count, what())
        guard let text = String(validatingUTF8Bytes: raw) else {
            throw FormatError(.invalidUTF8(what: what()), at: .byte(start))
        }
        return text
    }
}

extension String {
    /// Strict UTF-8 decoding of raw bytes; nil when they are not valid UTF-8.
    public init?(validatingUTF8Bytes bytes: UnsafeRawBufferPointer) {
        // `String(validating:as:)` is generic and slow per call (metadata lookups), which dominates
        // headers made of many short strings (GGUF vocabularies). Decoding repairs invalid sequences
        // with U+FFFD, so non-ASCII bytes are valid UTF-8 exactly when decoding reproduces them.
        let raw = bytes.bindMemoryAssumingUInt8()
        let text = String(decoding: raw, as: UTF8.self)
        if raw.contains(where: { $0 >= 0x80 }) {
            let reproduced = text.utf8.withContiguousStorageIfAvailable { $0.elementsEqual(raw) }
                ?? text.utf8.elementsEqual(raw)
            guard reproduced else { return nil }
        }
        self = text
    }
}

extension UnsafeRawBufferPointer {
    /// View as bytes without rebinding memory (raw bytes are always valid `UInt8`).
    @inlinable
    public func bindMemoryAssumingUInt8() -> UnsafeBufferPointer<UInt8> {
        guard let base = baseAddress else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: count)
    }
}
