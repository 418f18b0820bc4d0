/// Reads safetensors files.
///
/// Layout accepted:
///
///     offset 0      u64 LE  N, the byte length of the header (N <= 100_000_000)
///     offset 8      N bytes UTF-8 JSON object:
///                   { "__metadata__": {string: string} | null,        (optional)
///                     "<name>": {"dtype": "F16", "shape": [d0, …], "data_offsets": [begin, end]}, … }
///     offset 8 + N  data: every tensor's bytes, row-major little-endian, back to back
///
/// Rules, as the reference Rust reader enforces them: offsets are relative to the data section, sorted by
/// (begin, end) they must be contiguous from 0 with no holes or overlaps, each tensor's length must equal
/// element count × dtype size (in bits for the sub-byte types), and the last end must be exactly the end
/// of the file. Leniencies kept from the reference: whitespace around the JSON object (writers pad the
/// header with spaces), unknown fields inside a tensor entry, `"__metadata__": null`.
/// Stricter than the reference: duplicate keys are refused (it silently keeps the last one), and at most
/// `maxDimensions` dimensions.
public enum SafetensorsReader {
    public static let maxHeaderSize = 100_000_000
    public static let maxDimensions = 64

    public static func read(_ file: MappedFile) throws -> Checkpoint {
        try attributing(to: file.path) {
            let (metadata, entries, dataStart) = try file.withBytes { bytes in try parseHeader(bytes, fileSize: file.size) }
            let tensors = entries.map { entry in
                Tensor(info: entry.info,
                       data: MappedTensorData(file: file, offset: dataStart + entry.begin, count: entry.info.byteCount))
            }
            return Checkpoint(path: file.path, format: .safetensors, metadata: metadata, tensors: tensors)
        }
    }

    struct Entry {
        var info: TensorInfo
        var begin: Int
        var end: Int
    }

    /// Parses and validates the header against the whole file's bytes. Returns metadata, tensors sorted
    /// by data offset, and the absolute offset of the data section.
    static func parseHeader(_ bytes: UnsafeRawBufferPointer, fileSize: Int) throws -> ([MetadataEntry], [Entry], Int) {
        var cursor = ByteCursor(bytes)
        if bytes.count < 8, let error = FileSniffer.notFormat("safetensors", bytes) { throw error }
        let declared = try cursor.readU64("header length")
        guard let headerLength = Int(fileValue: declared), headerLength <= maxHeaderSize else {
            throw FileSniffer.notFormat("safetensors", bytes) ?? FormatError(.limitExceeded(what: "header length", value: String(declared), limit: String(maxHeaderSize)),
                              at: .byte(0))
        }
        guard headerLength <= cursor.remaining else {
            throw FileSniffer.notFormat("safetensors", bytes) ?? FormatError(.truncated(what: "header", needed: headerLength, available: cursor.remaining), at: .byte(8))
        }
        let headerBytes = try cursor.readBytes(headerLength, "header")
        guard String(validatingUTF8Bytes: headerBytes) != nil else {
            throw FormatError(.invalidUTF8(what: "the header"), at: .byte(8))
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(headerBytes, maxDepth: 8)
        } catch let error as JSONParseError {
            if case .duplicateKey(let key) = error.reason {
                throw FormatError(.duplicateName(key), at: .byte(8 + error.offset))
            }
            throw FormatError(.invalidJSON(error.detail), at: .byte(8 + error.offset))
        }
        guard let members = json.objectMembers else {
            throw FormatError(.invalidHeader("the header is not a JSON object"), at: .byte(8))
        }

        var metadata: [MetadataEntry] = []
        var entries: [Entry] = []
        entries.reserveCapacity(members.count)  // bounded by the header size, already checked
        for member in members {
            if member.key == "__metadata__" {
                metadata = try parseMetadata(member.value)
                continue
            }
            entries.append(try parseEntry(name: member.key, member.value))
        }

        // Validate coverage in data order, as the reference does.
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var expectedBegin = 0
        for entry in entries {
            guard entry.end >= entry.begin else {
                throw FormatError(.invalidHeader("data_offsets [\(entry.begin), \(entry.end)] end before they begin"),
                                  at: .tensor(entry.info.name))
            }
            guard entry.begin == expectedBegin else {
                throw FormatError(.badOffset(expected: expectedBegin, found: UInt64(entry.begin)), at: .tensor(entry.info.name))
            }
            guard entry.end - entry.begin == entry.info.byteCount else {
                throw FormatError(.sizeMismatch(expected: entry.info.byteCount, found: entry.end - entry.begin),
                                  at: .tensor(entry.info.name))
            }
            expectedBegin = entry.end
        }
        let dataStart = 8 + headerLength
        guard let dataEnd = Checked.add(dataStart, expectedBegin), dataEnd == fileSize else {
            throw FormatError(.uncoveredBytes(expectedEnd: dataStart &+ expectedBegin, fileSize: fileSize))
        }
        return (metadata, entries, dataStart)
    }

    private static func parseMetadata(_ value: JSONValue) throws -> [MetadataEntry] {
        if value.isNull { return [] }
        guard let members = value.objectMembers else {
            throw FormatError(.invalidHeader("__metadata__ is not an object of strings"), at: .key("__metadata__"))
        }
        return try members.map { member in
            guard let text = member.value.stringValue else {
                throw FormatError(.invalidHeader("metadata value is not a string"), at: .key(member.key))
            }
            return MetadataEntry(member.key, .string(text))
        }
    }

    private static func parseEntry(name: String, _ value: JSONValue) throws -> Entry {
        func fail(_ detail: String) -> FormatError { FormatError(.invalidHeader(detail), at: .tensor(name)) }
        guard value.objectMembers != nil else { throw fail("entry is not an object") }
        guard let dtypeName = value["dtype"]?.stringValue else { throw fail("missing or non-string \"dtype\"") }
        guard let dtype = DType(safetensorsName: dtypeName) else {
            throw FormatError(.unknownDType(dtypeName), at: .tensor(name))
        }
        guard let dims = value["shape"]?.arrayValue else { throw fail("missing or non-array \"shape\"") }
        guard dims.count <= maxDimensions else {
            throw FormatError(.tooManyDimensions(count: dims.count, limit: maxDimensions), at: .tensor(name))
        }
        let shape = try dims.map { dim in
            guard case .number = dim, let size = dim.intValue, size >= 0 else {
                if let big = dim.uint64Value, Int(exactly: big) == nil {
                    throw FormatError(.overflow(what: "dimension \(big)"), at: .tensor(name))
                }
                throw fail("shape entries must be non-negative integers")
            }
            return size
        }
        guard let offsets = value["data_offsets"]?.arrayValue, offsets.count == 2 else {
            throw fail("\"data_offsets\" must be [begin, end]")
        }
        guard let begin = offsets[0].intValue, let end = offsets[1].intValue, begin >= 0, end >= 0 else {
            if offsets.contains(where: { $0.uint64Value != nil && $0.intValue == nil }) {
                throw FormatError(.overflow(what: "data offsets [\(offsets.map { $0.serialized() }.joined(separator: ", "))]"),
                                  at: .tensor(name))
            }
            throw fail("data offsets must be non-negative integers")
        }
        let info: TensorInfo
        do {
            info = try TensorInfo(name: name, dtype: dtype, shape: shape)
        } catch let error as FormatError {
            throw error.at(.tensor(name))
        }
        return Entry(info: info, begin: begin, end: end)
    }
}
