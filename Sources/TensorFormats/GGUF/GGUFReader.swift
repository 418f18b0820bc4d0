/// Reads a GGUF file (ggml / llama.cpp's model container) into a `Checkpoint`.
///
/// Byte layout accepted (v2 and v3; every integer in the file's byte order, see below):
/// ```
/// magic         4 bytes "GGUF"
/// version       u32: 1, 2 or 3
/// tensor_count  u64                     (u32 in v1)
/// kv_count      u64                     (u32 in v1)
/// kv_count × { key: string, value_type: u32, value }
/// tensor_count × { name: string, n_dims: u32, ne: n_dims × u64 (u32 in v1), ggml_type: u32, offset: u64 }
/// zero padding to the alignment (only when tensor_count > 0, as ggml does)
/// tensor data: tensor i at data_start + offset_i
/// string = length u64 (u32 in v1) + UTF-8 bytes;  array = element type u32 + count u64 (u32 in v1) + elements
/// ```
/// Rules, in file order (those of ggml's `gguf.cpp` unless marked *connkit*):
/// - Byte order: the version is read little-endian; if its low 16 bits are zero the file is big-endian
///   and everything after the magic is read swapped (ggml's and gguf-py's detection). Plain tensors
///   of a big-endian file are byte-swapped on access; block-quantized ones are listed but their data is
///   refused (see `BigEndianBlockTensorData`).
/// - Versions 2 and 3; version 1 too (*connkit*: ggml and gguf-py dropped it), whose counts, lengths and
///   dims are u32.
/// - Counts are checked against the bytes left before anything is allocated: `count × smallest
///   possible entry ≤ bytes left`.
/// - Keys: non-empty, unique. Strings at most 1 GiB and (*connkit*) valid UTF-8 — ggml does not check,
///   gguf-py fails on invalid keys and names when decoding; connkit refuses everywhere so that what
///   it reads can be written back unchanged.
/// - Value types 0…12; a bool byte must be 0 or 1 (*connkit*: the spec's rule; ggml takes any non-zero
///   as true). Arrays may nest (*connkit*: ggml refuses nesting, gguf-py reads it) up to
///   `GGUFLayout.maxArrayNesting` levels, with at most `GGUFLayout.maxMetadataValues` values in all.
/// - `general.alignment`, if present, is a u32 non-zero power of two; otherwise 32.
/// - Tensor names: at most 63 bytes (ggml's `GGML_MAX_NAME` with its NUL), unique, without a NUL byte
///   (*connkit*: ggml would cut the name there, gguf-py keeps it).
/// - `n_dims ≤ 4`; each dim is a non-negative int64; the element count does not overflow; the
///   `ggml_type` is one of the current enum (removed ids 4, 5, 31–33, 36–38 and ids ≥ 43 are unknown);
///   `ne[0]` is a multiple of the type's block size; the byte size does not overflow.
/// - Offsets: each one a multiple of the alignment (reported as `.misaligned`) and exactly the running
///   sum of the preceding tensors' sizes rounded up to the alignment (`.badOffset`), so tensors lie in
///   info order without overlap; each tensor's bytes lie inside the file (*connkit*: ggml with
///   `no_alloc` and llama.cpp check this per tensor; padding after the last tensor and trailing bytes
///   are not required or refused).
///
/// Shapes are presented row-major (numpy / PyTorch order): `ne` reversed, so `ne[0]`, the contiguous
/// axis, is the last dimension. A tensor with `n_dims = 0` has shape `[]`.
public enum GGUFReader {
    public static func read(_ file: MappedFile) throws -> Checkpoint {
        try attributing(to: file.path) {
            try file.withBytes { bytes in try parse(bytes, file: file) }
        }
    }

    private static func parse(_ bytes: UnsafeRawBufferPointer, file: MappedFile) throws -> Checkpoint {
        var cursor = ByteCursor(bytes)
        if bytes.count < 4, let error = FileSniffer.notFormat("GGUF", bytes) { throw error }
        let magic = try cursor.readBytes(4, "magic")
        guard magic.elementsEqual(GGUFLayout.magic) else {
            throw FileSniffer.notFormat("GGUF", bytes) ?? FormatError(.badMagic(expected: "\"GGUF\"", found: describeMagic(magic)), at: .byte(0))
        }
        let rawVersion = try cursor.readU32("version")
        let bigEndian = rawVersion != 0 && rawVersion & 0xFFFF == 0
        let version = bigEndian ? rawVersion.byteSwapped : rawVersion
        guard (1 ... 3).contains(version) else {
            throw FormatError(.unsupportedVersion("GGUF \(version) (connkit reads versions 1, 2 and 3)"), at: .byte(4))
        }
        cursor.bigEndian = bigEndian

        var header = HeaderParser(cursor: cursor, lengthSize: version == 1 ? 4 : 8)
        let tensorCountOffset = header.cursor.fileOffset
        let declaredTensorCount = try header.readLength("tensor count")
        let kvCountOffset = header.cursor.fileOffset
        let declaredKVCount = try header.readLength("metadata count")
        // Smallest entries: an empty key, a type and a one-byte value; an empty name, n_dims 0, type, offset.
        let kvCount = try header.checkCount(declaredKVCount, minimumSize: header.lengthSize + 4 + 1,
                                            what: "metadata entries", at: kvCountOffset)
        let tensorCount = try header.checkCount(declaredTensorCount, minimumSize: header.lengthSize + 4 + 4 + 8,
                                                what: "tensor infos", at: tensorCountOffset)

        let metadata = try header.readMetadata(count: kvCount)
        let alignment = try GGUFLayout.alignment(of: metadata)
        let infos = try header.readTensorInfos(count: tensorCount)

        var dataStart = header.cursor.position
        if tensorCount > 0 {
            guard let aligned = Checked.alignUp(dataStart, to: alignment), aligned <= bytes.count else {
                throw FormatError(.truncated(what: "padding before the tensor data (alignment \(alignment))",
                                             needed: alignment - dataStart % alignment,
                                             available: bytes.count - dataStart), at: .byte(dataStart))
            }
            dataStart = aligned
        }

        var tensors: [Tensor] = []
        tensors.reserveCapacity(infos.count)
        var expectedOffset = 0
        for entry in infos {
            let info = entry.info
            let location = FormatError.Location.tensor(info.name)
            guard entry.offset % UInt64(alignment) == 0 else {
                throw FormatError(.misaligned(offset: entry.offset, alignment: alignment), at: location)
            }
            guard entry.offset == UInt64(expectedOffset) else {
                throw FormatError(.badOffset(expected: expectedOffset, found: entry.offset), at: location)
            }
            // No overflow: the previous tensor ended inside the file and padding adds less than 2^32.
            let start = dataStart + expectedOffset
            guard start <= bytes.count, info.byteCount <= bytes.count - start else {
                throw FormatError(.truncated(what: "tensor data", needed: info.byteCount,
                                             available: max(0, bytes.count - start)), at: location)
            }
            tensors.append(Tensor(info: info, data: tensorData(info, file: file, offset: start, bigEndian: bigEndian)))
            guard let padded = Checked.alignUp(info.byteCount, to: alignment),
                  let next = Checked.add(expectedOffset, padded)
            else {
                throw FormatError(.overflow(what: "the data offset after tensor '\(info.name)'"), at: location)
            }
            expectedOffset = next
        }

        var notes: [String] = []
        if version == 1 {
            notes.append("GGUF version 1 (32-bit counts and lengths); ggml and gguf-py no longer read it")
        }
        if bigEndian {
            notes.append("big-endian GGUF: plain tensors are byte-swapped when read; block-quantized tensors are "
                + "listed but their data cannot be read")
        }
        return Checkpoint(path: file.path, format: .gguf, metadata: metadata, tensors: tensors, notes: notes)
    }

    private static func tensorData(_ info: TensorInfo, file: MappedFile, offset: Int, bigEndian: Bool) -> any TensorData {
        guard bigEndian else { return MappedTensorData(file: file, offset: offset, count: info.byteCount) }
        if info.dtype.isBlockQuantized {
            return BigEndianBlockTensorData(region: FileRegion(file: file, offset: offset, count: info.byteCount),
                                            name: info.name, dtype: info.dtype)
        }
        let unit = info.dtype.swapUnit
        guard unit > 1 else { return MappedTensorData(file: file, offset: offset, count: info.byteCount) }
        return ByteSwappedTensorData(file: file, offset: offset, count: info.byteCount, unit: unit)
    }

    private static func describeMagic(_ bytes: UnsafeRawBufferPointer) -> String {
        hexBytes(bytes)
    }
}

/// One parsed tensor info: the row-major description and the offset as stored.
private struct TensorInfoEntry {
    var info: TensorInfo
    var offset: UInt64
}

/// The sequential part of the header: metadata and tensor infos, read through one cursor.
private struct HeaderParser {
    var cursor: ByteCursor
    /// Width of counts, lengths and dims: 8, or 4 in version 1.
    let lengthSize: Int
    private var metadataValuesLeft = GGUFLayout.maxMetadataValues

    init(cursor: ByteCursor, lengthSize: Int) {
        self.cursor = cursor
        self.lengthSize = lengthSize
    }

    mutating func readLength(_ what: @autoclosure () -> String) throws -> UInt64 {
        lengthSize == 4 ? UInt64(try cursor.readU32(what())) : try cursor.readU64(what())
    }

    /// A declared count as `Int`, refused unless `count × minimumSize` bytes are left, so nothing is
    /// ever allocated or looped over from a count the file cannot back.
    mutating func checkCount(_ declared: UInt64, minimumSize: Int, what: @autoclosure () -> String,
                             at offset: Int) throws -> Int {
        guard let count = Int(fileValue: declared), let needed = Checked.multiply(count, minimumSize),
              needed <= cursor.remaining
        else {
            let needed = Int(fileValue: declared).flatMap { Checked.multiply($0, minimumSize) } ?? Int.max
            throw FormatError(.truncated(what: "\(declared) \(what()) of at least \(minimumSize) bytes each",
                                         needed: needed, available: cursor.remaining), at: .byte(offset))
        }
        return count
    }

    mutating func readString(_ what: @autoclosure () -> String) throws -> String {
        let start = cursor.fileOffset
        let length = try readLength("length of \(what())")
        guard length <= UInt64(GGUFLayout.maxStringBytes) else {
            throw FormatError(.limitExceeded(what: "length of \(what())", value: "\(length) bytes",
                                             limit: "\(GGUFLayout.maxStringBytes) bytes"), at: .byte(start))
        }
        return try cursor.readUTF8(Int(length), what())
    }

    // MARK: metadata

    mutating func readMetadata(count: Int) throws -> [MetadataEntry] {
        var entries: [MetadataEntry] = []
        entries.reserveCapacity(count)
        var keys = Set<ExactName>()
        for _ in 0 ..< count {
            let keyOffset = cursor.fileOffset
            let key = try readString("metadata key")
            guard !key.isEmpty else {
                throw FormatError(.invalidHeader("empty metadata key"), at: .byte(keyOffset))
            }
            guard keys.insert(ExactName(key)).inserted else {
                throw FormatError(.duplicateName(key), at: .key(key))
            }
            let type = try readType(of: key)
            let value = try readValue(type, key: key, nesting: 0)
            entries.append(MetadataEntry(key, value))
        }
        return entries
    }

    private mutating func readType(of key: String) throws -> MetadataType {
        let offset = cursor.fileOffset
        let raw = try cursor.readU32("value type of key '\(key)'")
        guard let type = MetadataType(rawValue: raw) else {
            throw FormatError(.invalidHeader("key '\(key)' has unknown value type \(raw) (valid: 0…12)"), at: .byte(offset))
        }
        return type
    }

    private mutating func readValue(_ type: MetadataType, key: String, nesting: Int) throws -> MetadataValue {
        switch type {
        case .uint8: return .uint8(try cursor.readU8("value of key '\(key)'"))
        case .int8: return .int8(Int8(bitPattern: try cursor.readU8("value of key '\(key)'")))
        case .uint16: return .uint16(try cursor.readU16("value of key '\(key)'"))
        case .int16: return .int16(Int16(bitPattern: try cursor.readU16("value of key '\(key)'")))
        case .uint32: return .uint32(try cursor.readU32("value of key '\(key)'"))
        case .int32: return .int32(Int32(bitPattern: try cursor.readU32("value of key '\(key)'")))
        case .uint64: return .uint64(try cursor.readU64("value of key '\(key)'"))
        case .int64: return .int64(Int64(bitPattern: try cursor.readU64("value of key '\(key)'")))
        case .float32: return .float32(Float(bitPattern: try cursor.readU32("value of key '\(key)'")))
        case .float64: return .float64(Double(bitPattern: try cursor.readU64("value of key '\(key)'")))
        case .bool:
            let offset = cursor.fileOffset
            let raw = try cursor.readU8("value of key '\(key)'")
            guard raw <= 1 else {
                throw FormatError(.invalidHeader("bool value of key '\(key)' is \(raw), not 0 or 1"), at: .byte(offset))
            }
            return .bool(raw == 1)
        case .string:
            return .string(try readString("string value of key '\(key)'"))
        case .array:
            let elementType = try readType(of: key)
            let countOffset = cursor.fileOffset
            let declared = try readLength("array length of key '\(key)'")
            if elementType == .array, nesting + 1 >= GGUFLayout.maxArrayNesting {
                throw FormatError(.limitExceeded(what: "array nesting depth of key '\(key)'", value: "\(nesting + 2)",
                                                 limit: "\(GGUFLayout.maxArrayNesting)"), at: .byte(countOffset))
            }
            let minimumSize = elementType.scalarSize ?? (elementType == .string ? lengthSize : 4 + lengthSize)
            let count = try checkCount(declared, minimumSize: minimumSize, what: "array elements of key '\(key)'",
                                       at: countOffset)
            guard count <= metadataValuesLeft else {
                throw FormatError(.limitExceeded(what: "number of metadata values", value: "more than \(GGUFLayout.maxMetadataValues)",
                                                 limit: "\(GGUFLayout.maxMetadataValues)"), at: .byte(countOffset))
            }
            metadataValuesLeft -= count
            var items: [MetadataValue] = []
            items.reserveCapacity(count)
            for _ in 0 ..< count {
                items.append(try readValue(elementType, key: key, nesting: nesting + 1))
            }
            return .array(elementType, items)
        }
    }

    // MARK: tensor infos

    mutating func readTensorInfos(count: Int) throws -> [TensorInfoEntry] {
        var entries: [TensorInfoEntry] = []
        entries.reserveCapacity(count)
        var names = Set<ExactName>()
        for _ in 0 ..< count {
            let name = try readString("tensor name")
            let location = FormatError.Location.tensor(name)
            guard name.utf8.count <= GGUFLayout.maxTensorNameBytes else {
                throw FormatError(.limitExceeded(what: "tensor name length", value: "\(name.utf8.count) bytes",
                                                 limit: "\(GGUFLayout.maxTensorNameBytes) bytes (ggml's GGML_MAX_NAME)"),
                                  at: location)
            }
            // ggml copies names as C strings: "a\0x" and "a\0y" would both become tensor "a".
            guard !name.utf8.contains(0) else {
                throw FormatError(.invalidHeader("tensor name contains a NUL byte (ggml would cut the name there)"),
                                  at: location)
            }
            guard names.insert(ExactName(name)).inserted else {
                throw FormatError(.duplicateName(name), at: location)
            }

            let dimensionCount = try cursor.readU32("dimension count of tensor '\(name)'")
            guard dimensionCount <= UInt32(GGUFLayout.maxDimensions) else {
                throw FormatError(.tooManyDimensions(count: Int(dimensionCount), limit: GGUFLayout.maxDimensions), at: location)
            }
            var ne: [Int] = []
            for axis in 0 ..< Int(dimensionCount) {
                let raw = try readLength("dimension \(axis) of tensor '\(name)'")
                guard let dimension = Int(fileValue: raw) else {
                    throw FormatError(.invalidShape("ne[\(axis)] = \(Int64(bitPattern: raw)) is negative (ggml reads ne as int64)"), at: location)
                }
                ne.append(dimension)
            }
            guard Checked.product(ne) != nil else {
                throw FormatError(.overflow(what: "the element count of ne \(ne)"), at: location)
            }

            let rawType = try cursor.readU32("ggml type of tensor '\(name)'")
            guard let dtype = DType(ggmlType: rawType) else {
                throw FormatError(.unknownDType("ggml type \(rawType) (not a type of the current ggml enum)"), at: location)
            }
            let blockElements = dtype.layout.blockElements
            let rowLength = ne.first ?? 1
            guard rowLength % blockElements == 0 else {
                throw FormatError(.invalidShape(
                    "ne[0] = \(rowLength) is not a multiple of the \(dtype.ggmlName) block size \(blockElements)"),
                                  at: location)
            }
            let info: TensorInfo
            do {
                info = try TensorInfo(name: name, dtype: dtype, shape: ne.reversed())
            } catch let error as FormatError {
                throw error.at(location)
            }
            let offset = try cursor.readU64("data offset of tensor '\(name)'")
            entries.append(TensorInfoEntry(info: info, offset: offset))
        }
        return entries
    }
}
