/// Locating a zip archive's central directory: the end record, and the Zip64 locator and end record
/// when present (layouts in `ZipArchive`'s description).
extension ZipArchive {
    struct Directory {
        var entryCount: Int
        var offset: Int
        var size: Int
        /// Where the central directory must end: the Zip64 end record or the end record.
        var end: Int
        var isZip64: Bool
    }

    /// The fields the end record and the Zip64 end record share: disk numbers, entry counts and the
    /// directory's extent (u16, u16, u32 in the end record; u32, u64, u64 in the Zip64 one).
    struct EndRecordFields {
        var disk: UInt64, directoryDisk: UInt64, entriesHere: UInt64, entries: UInt64, size: UInt64, offset: UInt64

        init(_ cursor: inout ByteCursor, zip64: Bool) throws {
            let what = zip64 ? "zip64 end record" : "zip end record"
            func read(_ width: Int) throws -> UInt64 {
                switch width {
                case 2: UInt64(try cursor.readU16(what))
                case 4: UInt64(try cursor.readU32(what))
                default: try cursor.readU64(what)
                }
            }
            let (diskWidth, countWidth, extentWidth) = zip64 ? (4, 8, 8) : (2, 2, 4)
            (disk, directoryDisk) = (try read(diskWidth), try read(diskWidth))
            (entriesHere, entries) = (try read(countWidth), try read(countWidth))
            (size, offset) = (try read(extentWidth), try read(extentWidth))
        }

        /// Single-disk archives only.
        func checkSingleDisk(_ what: String, at position: Int) throws {
            guard disk == 0, directoryDisk == 0, entriesHere == entries else {
                throw FormatError(.unsupportedFormat(
                    "multi-disk zip archives are not supported (\(what): disk \(disk), directory on disk \(directoryDisk), "
                        + "\(entriesHere) of \(entries) entries here)"), at: .byte(position))
            }
        }
    }

    /// Finds the end record (and the Zip64 records when present) and returns the directory's extent.
    static func locateDirectory(_ bytes: UnsafeRawBufferPointer) throws -> Directory {
        let size = bytes.count
        guard size >= endRecordSize else {
            throw FormatError(.truncated(what: "zip end of central directory record", needed: endRecordSize,
                                         available: size), at: .byte(0))
        }
        let lowest = max(0, size - endRecordSize - maxCommentLength)
        var position = size - endRecordSize
        var endRecord: Int?
        var misfit: (position: Int, commentLength: Int)?
        while position >= lowest {
            if bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self) == UInt32(0x0605_4b50).littleEndian {
                let commentLength = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: position + 20, as: UInt16.self)))
                if position + endRecordSize + commentLength == size {
                    endRecord = position
                    break
                }
                if misfit == nil { misfit = (position, commentLength) }
            }
            position -= 1
        }
        guard let endOffset = endRecord else {
            if let misfit {
                throw FormatError(.invalidHeader(
                    "the zip end record declares a \(misfit.commentLength)-byte comment but \(size - misfit.position - endRecordSize) bytes follow it"),
                    at: .byte(misfit.position))
            }
            throw FormatError(.badMagic(expected: "a zip end of central directory record (PK\\5\\6) in the last \(size - lowest) bytes",
                                        found: "none"), at: .byte(lowest))
        }

        var cursor = ByteCursor(UnsafeRawBufferPointer(rebasing: bytes[endOffset ..< size]), origin: endOffset)
        try cursor.skip(4)
        let classic = try EndRecordFields(&cursor, zip64: false)
        // Zip64: a locator immediately before the end record points at the Zip64 end record.
        let locatorOffset = endOffset - zip64LocatorSize
        if locatorOffset >= 0,
           bytes.loadUnaligned(fromByteOffset: locatorOffset, as: UInt32.self) == UInt32(0x0706_4b50).littleEndian {
            return try zip64Directory(bytes, locatorOffset: locatorOffset, classic: classic)
        }
        try classic.checkSingleDisk("zip end record", at: endOffset)
        return try checkedDirectory(count: Int(classic.entries), offset: Int(classic.offset), size: Int(classic.size),
                                    end: endOffset, isZip64: false)
    }

    private static func zip64Directory(_ bytes: UnsafeRawBufferPointer, locatorOffset: Int,
                                       classic: EndRecordFields) throws -> Directory {
        var locator = ByteCursor(UnsafeRawBufferPointer(rebasing: bytes[locatorOffset ..< locatorOffset + zip64LocatorSize]),
                                 origin: locatorOffset)
        try locator.skip(4)
        let recordDisk = try locator.readU32("zip64 locator")
        let recordOffsetValue = try locator.readU64("zip64 locator")
        let diskCount = try locator.readU32("zip64 locator")
        guard recordDisk == 0, diskCount <= 1 else {
            throw FormatError(.unsupportedFormat("multi-disk zip archives are not supported (zip64 locator: \(diskCount) disks)"),
                              at: .byte(locatorOffset))
        }
        guard let recordOffset = Int(fileValue: recordOffsetValue),
              recordOffset <= locatorOffset - zip64EndRecordFixedSize else {
            throw FormatError(.truncated(what: "zip64 end of central directory record at byte \(recordOffsetValue)",
                                         needed: zip64EndRecordFixedSize, available: max(0, locatorOffset - Int(clamping: recordOffsetValue))),
                              at: .byte(locatorOffset))
        }
        var record = ByteCursor(UnsafeRawBufferPointer(rebasing: bytes[recordOffset ..< locatorOffset]), origin: recordOffset)
        let signature = try record.readU32("zip64 end record")
        guard signature == 0x0606_4b50 else {
            throw FormatError(.badMagic(expected: "zip64 end record signature 0x06064b50", found: hexLiteral(signature)),
                              at: .byte(recordOffset))
        }
        let recordSize = try record.readU64("zip64 end record")
        // The record (12 bytes + its declared size) must end exactly at the locator.
        guard recordSize >= 44, let recordEnd = Int(fileValue: recordSize).flatMap({ Checked.add($0, recordOffset + 12) }),
              recordEnd == locatorOffset else {
            throw FormatError(.invalidHeader(
                "the zip64 end record declares \(recordSize) bytes but \(locatorOffset - recordOffset - 12) lie before the locator"),
                at: .byte(recordOffset + 4))
        }
        try record.skip(4) // made by, needed
        let zip64 = try EndRecordFields(&record, zip64: true)
        try zip64.checkSingleDisk("zip64 end record", at: recordOffset)
        // Where the classic record holds a real value (not the sentinel) it must agree with the Zip64 one.
        for (classicValue, sentinel, zip64Value, what) in [(classic.entries, 0xFFFF, zip64.entries, "entry count"),
                                                          (classic.size, 0xFFFF_FFFF, zip64.size, "central directory size"),
                                                          (classic.offset, 0xFFFF_FFFF, zip64.offset, "central directory offset")]
            where classicValue != sentinel && classicValue != zip64Value {
            throw FormatError(.inconsistent(
                "the zip end record says the \(what) is \(classicValue) but the zip64 end record says \(zip64Value)"),
                at: .byte(recordOffset))
        }
        guard let count = Int(fileValue: zip64.entries), let offset = Int(fileValue: zip64.offset),
              let size = Int(fileValue: zip64.size) else {
            throw FormatError(.overflow(what: "the zip64 central directory extent"), at: .byte(recordOffset))
        }
        return try checkedDirectory(count: count, offset: offset, size: size, end: recordOffset, isZip64: true)
    }

    private static func checkedDirectory(count: Int, offset: Int, size: Int, end: Int, isZip64: Bool) throws -> Directory {
        guard offset <= end, size <= end - offset else {
            throw FormatError(.truncated(what: "zip central directory (\(size) bytes at byte \(offset))", needed: size,
                                         available: max(0, end - min(offset, end))), at: .byte(min(offset, end)))
        }
        guard offset + size == end else {
            throw FormatError(.invalidHeader(
                "\(end - offset - size) unexplained bytes between the zip central directory (ending at byte \(offset + size)) and the end record at byte \(end)"),
                at: .byte(offset + size))
        }
        return Directory(entryCount: count, offset: offset, size: size, end: end, isZip64: isZip64)
    }
}
