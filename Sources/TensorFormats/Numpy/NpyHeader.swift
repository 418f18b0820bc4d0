/// The header of an `.npy` array: format version, dtype, byte order, memory order and shape, validated.
///
/// Byte layout (numpy `lib/format.py`):
///
///     0   6   magic 93 4E 55 4D 50 59 ("\x93NUMPY")
///     6   1   major version (1, 2 or 3)
///     7   1   minor version (0)
///     8   2   HEADER_LEN, u16 LE (version 1.0) — or 4 bytes, u32 LE (2.0 and 3.0), then the header at 12
///     10  HEADER_LEN  header text: a Python dict literal, latin-1 (1.0, 2.0) or UTF-8 (3.0), e.g.
///                     {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }   then spaces and '\n'
///     10 + HEADER_LEN: the array data, product(shape) × itemsize bytes (1 element for shape ())
///
/// Accepted: exactly the keys `descr`, `fortran_order` (a bool) and `shape` (a tuple of non-negative ints, at
/// most `maxDimensions`); `descr` one of the plain numeric or bool dtypes below, in any byte order. Refused:
/// object arrays (`O` anywhere in the descr — their data is a pickle, never executed), structured dtypes,
/// strings, unicode, void (including ml_dtypes' bfloat16, which numpy saves as `<V2`), datetimes, complex128,
/// long double and `<f1` (ml_dtypes' float8_e5m2), and headers larger than `maxHeaderBytes`.
public struct NpyHeader: Sendable, Equatable {
    public var major: UInt8
    public var minor: UInt8
    /// The descr string as written (e.g. `>f4`).
    public var descr: String
    public var dtype: DType
    /// The data is big-endian and must be byte-swapped for connkit's little-endian view.
    public var bigEndian: Bool
    public var fortranOrder: Bool
    /// Logical (row-major) shape, as numpy presents it.
    public var shape: [Int]
    /// Offset of the array data from the start of the `.npy` bytes.
    public var dataOffset: Int
    public var elementCount: Int
    public var dataByteCount: Int

    public static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
    /// Larger than numpy's default `max_header_size` (10 000) so padded version-2 headers load; a plain array's
    /// header never needs more than a few hundred bytes.
    public static let maxHeaderBytes = 1 << 20
    /// numpy 2's `NPY_MAXDIMS`.
    public static let maxDimensions = 64

    /// How many bytes the header occupies (magic, version, length field and text), from the first 12 bytes;
    /// checks the magic, the version and the length cap. Lets an `.npz` reader inflate only the header.
    public static func headerSize(_ bytes: UnsafeRawBufferPointer, origin: Int = 0) throws -> Int {
        var cursor = ByteCursor(bytes, origin: origin)
        let (_, _, headerLength) = try prefix(&cursor, origin: origin)
        return cursor.position + headerLength
    }

    /// Magic, version and header length; leaves the cursor at the header text.
    private static func prefix(_ cursor: inout ByteCursor, origin: Int) throws -> (UInt8, UInt8, Int) {
        let magicBytes = try cursor.readBytes(6, "npy magic")
        guard magicBytes.elementsEqual(magic) else {
            throw FormatError(.badMagic(expected: "\\x93NUMPY", found: magicBytes.map(byteText).joined()),
                              at: .byte(origin))
        }
        let major = try cursor.readU8("npy version")
        let minor = try cursor.readU8("npy version")
        let headerLength: Int
        switch (major, minor) {
        case (1, 0): headerLength = Int(try cursor.readU16("npy header length"))
        case (2, 0), (3, 0): headerLength = Int(try cursor.readU32("npy header length"))
        default:
            throw FormatError(.unsupportedVersion("\(major).\(minor) (npy versions 1.0, 2.0 and 3.0 exist)"),
                              at: .byte(origin + 6))
        }
        guard headerLength <= maxHeaderBytes else {
            throw FormatError(.limitExceeded(what: "npy header length", value: "\(headerLength) bytes",
                                             limit: "\(maxHeaderBytes) bytes"), at: .byte(origin + 8))
        }
        return (major, minor, headerLength)
    }

    /// Parses the header at the start of `bytes` (which may end anywhere after it); `origin` is the position of
    /// `bytes` in the file, for error offsets.
    public static func parse(_ bytes: UnsafeRawBufferPointer, origin: Int = 0) throws -> NpyHeader {
        var cursor = ByteCursor(bytes, origin: origin)
        let (major, minor, headerLength) = try prefix(&cursor, origin: origin)
        let textOffset = cursor.fileOffset
        let text = try cursor.readBytes(headerLength, "npy header")
        let literal = try PythonLiteralParser.parse(text, origin: textOffset, encoding: major == 3 ? .utf8 : .latin1,
                                                    allowLongSuffix: major < 3)
        let fields = try headerFields(literal, at: textOffset)

        let (dtype, bigEndian) = try NpyDType.resolve(fields.descr, at: textOffset)
        guard fields.shape.count <= maxDimensions else {
            throw FormatError(.tooManyDimensions(count: fields.shape.count, limit: maxDimensions), at: .byte(textOffset))
        }
        if let negative = fields.shape.first(where: { $0 < 0 }) {
            throw FormatError(.invalidShape("negative dimension \(negative) in \(fields.shapeText)"), at: .byte(textOffset))
        }
        let (elements, byteCount): (Int, Int)
        do {
            (elements, byteCount) = try Checked.byteCount(shape: fields.shape, dtype: dtype)
        } catch let error as FormatError {
            throw error.at(.byte(textOffset))
        }
        return NpyHeader(major: major, minor: minor, descr: fields.descrText, dtype: dtype, bigEndian: bigEndian,
                         fortranOrder: fields.fortranOrder, shape: fields.shape, dataOffset: cursor.position,
                         elementCount: elements, dataByteCount: byteCount)
    }

    private struct Fields {
        var descr: PythonLiteral
        var fortranOrder: Bool
        var shape: [Int]
        var shapeText: String

        var descrText: String {
            if case .string(let text) = descr { return text }
            return descr.repr
        }
    }

    private static func headerFields(_ literal: PythonLiteral, at offset: Int) throws -> Fields {
        guard case .dict(let pairs) = literal else {
            throw FormatError(.invalidHeader("the npy header is \(literal.repr.prefix(60)), not a dict"), at: .byte(offset))
        }
        var values: [String: PythonLiteral] = [:]
        for (key, value) in pairs {
            guard case .string(let name) = key else {
                throw FormatError(.invalidHeader("the npy header has a non-string key \(key.repr)"), at: .byte(offset))
            }
            guard values.updateValue(value, forKey: name) == nil else {
                throw FormatError(.duplicateName(name), at: .byte(offset))
            }
        }
        let expected: Set<String> = ["descr", "fortran_order", "shape"]
        guard Set(values.keys) == expected else {
            let missing = expected.subtracting(values.keys).sorted()
            let extra = Set(values.keys).subtracting(expected).sorted()
            var problems: [String] = []
            if !missing.isEmpty { problems.append("missing " + missing.joined(separator: ", ")) }
            if !extra.isEmpty { problems.append("unexpected " + extra.joined(separator: ", ")) }
            throw FormatError(.invalidHeader(
                "the npy header must have exactly the keys descr, fortran_order and shape (\(problems.joined(separator: "; ")))"),
                at: .byte(offset))
        }
        guard case .bool(let fortranOrder) = values["fortran_order"]! else {
            throw FormatError(.invalidHeader("fortran_order is \(values["fortran_order"]!.repr), not True or False"),
                              at: .byte(offset))
        }
        let shapeLiteral = values["shape"]!
        guard case .tuple(let items) = shapeLiteral else {
            throw FormatError(.invalidShape("shape is \(shapeLiteral.repr.prefix(60)), not a tuple of ints"), at: .byte(offset))
        }
        var shape: [Int] = []
        shape.reserveCapacity(items.count)
        for item in items {
            guard case .int(let dimension) = item else {
                throw FormatError(.invalidShape("dimension \(item.repr.prefix(40)) of the shape is not an int"), at: .byte(offset))
            }
            shape.append(dimension)
        }
        return Fields(descr: values["descr"]!, fortranOrder: fortranOrder, shape: shape,
                      shapeText: String(shapeLiteral.repr.prefix(200)))
    }

    // MARK: - Writing

    /// The header numpy's `np.save` writes for a C-ordered little-endian array: version 1.0 (2.0 when the header
    /// does not fit a u16 length), keys sorted, 21 − len(repr(shape[0])) spaces of room to grow axis 0, then spaces
    /// and `\n` up to a multiple of 64 bytes. Byte-identical to numpy's output.
    public static func encode(dtype: DType, shape: [Int]) -> [UInt8]? {
        guard let code = dtype.numpyCode else { return nil }
        let order = dtype.elementSize == 1 ? "|" : "<"
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var text = "{'descr': '\(order)\(code)', 'fortran_order': False, 'shape': \(shapeText), }"
        if let first = shape.first {
            text += String(repeating: " ", count: max(0, 21 - String(first).count))
        }
        let body = Array(text.utf8)
        for (major, lengthBytes) in [(UInt8(1), 2), (UInt8(2), 4)] {
            let prefix = 6 + 2 + lengthBytes
            let withNewline = body.count + 1
            let padding = 64 - (prefix + withNewline) % 64
            let headerLength = withNewline + padding
            if lengthBytes == 2 && headerLength > Int(UInt16.max) { continue }
            var bytes = magic + [major, 0]
            if lengthBytes == 2 {
                bytes += [UInt8(headerLength & 0xFF), UInt8(headerLength >> 8)]
            } else {
                bytes += (0 ..< 4).map { UInt8((headerLength >> (8 * $0)) & 0xFF) }
            }
            bytes += body
            bytes += [UInt8](repeating: 0x20, count: padding)
            bytes.append(0x0A)
            return bytes
        }
        return nil
    }
}

/// numpy descr strings ↔ connkit dtypes.
enum NpyDType {
    /// The dtype and byte order of a descr, or the reason it is refused.
    static func resolve(_ descr: PythonLiteral, at offset: Int) throws -> (DType, bigEndian: Bool) {
        if containsObject(descr) {
            throw FormatError(.refused(
                "npy descr \(descr.repr.prefix(80)) holds Python objects: the data is a pickle, which connkit never loads"),
                at: .byte(offset))
        }
        guard case .string(let text) = descr else {
            throw FormatError(.unsupportedDType(String(descr.repr.prefix(80)), reason: "structured (record) dtypes are not tensors"),
                              at: .byte(offset))
        }
        var rest = Substring(text)
        var order: Character = "|"
        if let first = rest.first, "<>|=".contains(first) {
            order = first
            rest = rest.dropFirst()
        }
        guard let kind = rest.first else { throw FormatError(.unknownDType("npy descr '\(text)'"), at: .byte(offset)) }
        let sizeText = rest.dropFirst()
        func unsupported(_ reason: String) -> FormatError {
            FormatError(.unsupportedDType("npy descr '\(text)'", reason: reason), at: .byte(offset))
        }
        switch kind {
        case "M", "m": throw unsupported("datetime and timedelta arrays are not tensors")
        case "S", "a": throw unsupported("byte strings are not tensors")
        case "U": throw unsupported("unicode strings are not tensors")
        case "V":
            if sizeText == "2" {
                throw unsupported("raw 2-byte void; ml_dtypes' bfloat16 is saved this way, but the file does not say so (save bf16 as safetensors, or as f32)")
            }
            throw unsupported("raw void data has no element type")
        default: break
        }
        guard !sizeText.isEmpty, sizeText.allSatisfy({ $0.isASCII && $0.isNumber }), let size = Int(sizeText) else {
            throw FormatError(.unknownDType("npy descr '\(text)'"), at: .byte(offset))
        }
        switch (kind, size) {
        case ("c", 16): throw unsupported("complex128 has no connkit dtype (c64 is the only complex type)")
        case ("c", 32): throw unsupported("complex256 has no connkit dtype")
        case ("f", 12), ("f", 16): throw unsupported("long double has no connkit dtype")
        case ("f", 1): throw unsupported("'<f1' is how ml_dtypes saves float8_e5m2; numpy itself cannot load it")
        default: break
        }
        guard let dtype = DType(numpyCode: "\(kind)\(size)") else {
            throw FormatError(.unknownDType("npy descr '\(text)'"), at: .byte(offset))
        }
        return (dtype, order == ">" && dtype.swapUnit > 1)
    }

    /// True when an `O` (object) type appears anywhere: the descr itself, or any field of a structured descr.
    private static func containsObject(_ descr: PythonLiteral) -> Bool {
        switch descr {
        case .string(let text):
            let body = text.first.map { "<>|=".contains($0) } == true ? text.dropFirst() : Substring(text)
            return body.first == "O"
        case .list(let fields):
            return fields.contains { field in
                if case .tuple(let parts) = field, parts.count >= 2 { return containsObject(parts[1]) }
                return containsObject(field)
            }
        case .tuple(let parts):
            return parts.contains(where: containsObject)
        default:
            return false
        }
    }
}
