/// A small, strict JSON value type with its own parser and writer.
///
/// Foundation's parsers silently accept duplicate keys and lose integer precision above 2^53; this one
/// keeps object members in file order, keeps numbers as their exact text, reports duplicate keys with
/// their byte offset, and bounds nesting depth. It is also the writer behind every `--json` output,
/// so key order is deterministic.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's exact JSON text (e.g. `18446744073709551615`, `0.5`, `1e-05`).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([Member])

    public typealias Member = KeyValue<JSONValue>

    public static func int<T: BinaryInteger>(_ value: T) -> JSONValue { .number(String(value)) }
    public static func double(_ value: Double) -> JSONValue { value.isFinite ? .number(jsonText(value)) : .null }
    public static func float(_ value: Float) -> JSONValue { value.isFinite ? .number(jsonText(value)) : .null }

    // MARK: accessors

    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first(where: { $0.key.isSameName(as: key) })?.value
    }

    public var objectMembers: [Member]? {
        if case .object(let members) = self { return members }
        return nil
    }
    public var arrayValue: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }
    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }
    public var boolValue: Bool? {
        if case .bool(let flag) = self { return flag }
        return nil
    }
    /// The number as an exact integer (no fraction, no exponent), if it fits.
    public var intValue: Int? {
        guard case .number(let text) = self, !text.contains(where: { ".eE".contains($0) }) else { return nil }
        return Int(text)
    }
    public var uint64Value: UInt64? {
        guard case .number(let text) = self, !text.contains(where: { ".eE-".contains($0) }) else { return nil }
        return UInt64(text)
    }
    public var int64Value: Int64? {
        guard case .number(let text) = self, !text.contains(where: { ".eE".contains($0) }) else { return nil }
        return Int64(text)
    }
    public var doubleValue: Double? {
        if case .number(let text) = self { return Double(text) }
        return nil
    }
    public var isNull: Bool { self == .null }
}

private func jsonText(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
    return "\(value)"
}

private func jsonText(_ value: Float) -> String {
    if value == value.rounded(), abs(value) < 1e7 { return String(Int64(value)) }
    return "\(value)"
}

// MARK: - Writing

extension JSONValue {
    /// Compact (`pretty == false`) or indented JSON text; `spaced`: one line with Python's `json.dumps`
    /// separators (`", "`, `": "`), as JSON that Python tools keep in a string reads.
    public func serialized(pretty: Bool = false, spaced: Bool = false) -> String {
        var out = ""
        write(into: &out, pretty: pretty, spaced: spaced && !pretty, indent: 0)
        return out
    }

    private func write(into out: inout String, pretty: Bool, spaced: Bool, indent: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .number(let text): out += text
        case .string(let text): JSONValue.writeString(text, into: &out)
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            // Arrays of scalars stay on one line: shapes read as [4096, 1024].
            let inline = !pretty || items.allSatisfy { !$0.isContainer }
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += (inline && pretty) || spaced ? ", " : "," }
                if !inline { newline(&out, indent + 1) }
                item.write(into: &out, pretty: pretty, spaced: spaced, indent: indent + 1)
            }
            if !inline { newline(&out, indent) }
            out += "]"
        case .object(let members):
            if members.isEmpty { out += "{}"; return }
            out += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { out += spaced ? ", " : "," }
                if pretty { newline(&out, indent + 1) }
                JSONValue.writeString(member.key, into: &out)
                out += pretty || spaced ? ": " : ":"
                member.value.write(into: &out, pretty: pretty, spaced: spaced, indent: indent + 1)
            }
            if pretty { newline(&out, indent) }
            out += "}"
        }
    }

    private var isContainer: Bool {
        switch self {
        case .array, .object: true
        default: false
        }
    }

    private func newline(_ out: inout String, _ level: Int) {
        out += "\n" + String(repeating: "  ", count: level)
    }

    static func writeString(_ text: String, into out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

// MARK: - Parsing

public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Byte offset within the parsed text.
    public var offset: Int
    public var reason: Reason

    public enum Reason: Sendable, Equatable {
        case syntax(String)
        case duplicateKey(String)
        case tooDeep(limit: Int)
    }

    /// What is wrong, without the offset (callers that report offsets themselves use this).
    public var detail: String {
        switch reason {
        case .syntax(let detail): detail
        case .duplicateKey(let key): "duplicate key \"\(key)\""
        case .tooDeep(let limit): "nesting deeper than \(limit) levels"
        }
    }

    public var description: String { "\(detail) at byte \(offset)" }
}

extension JSONParseError: ConnkitError {
    public var failure: FailureClass { .unusableInput }
    public var code: ErrorCode { .malformedInput }
}

extension JSONValue {
    /// Parses exactly one JSON value (throws `JSONParseError`) (surrounded by optional whitespace) from UTF-8 bytes.
    /// Duplicate keys in any object are an error: the first duplicate is reported with its offset.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 128) throws -> JSONValue {
        var parser = JSONParser(bytes: bytes.bindMemoryAssumingUInt8(), maxDepth: maxDepth)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.position == parser.bytes.count else { throw parser.error("trailing characters after the JSON value") }
        return value
    }

    public static func parse(_ text: String, maxDepth: Int = 128) throws -> JSONValue {
        var copy = text
        return try copy.withUTF8 { buffer in try parse(UnsafeRawBufferPointer(buffer), maxDepth: maxDepth) }
    }
}

private struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    var position = 0

    func error(_ detail: String) -> JSONParseError { JSONParseError(offset: position, reason: .syntax(detail)) }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws -> JSONValue {
        guard depth <= maxDepth else { throw JSONParseError(offset: position, reason: .tooDeep(limit: maxDepth)) }
        guard position < bytes.count else { throw error("unexpected end of input") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0") ... UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected character '\(printable(bytes[position]))'")
        }
    }

    mutating func expectWord(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard bytes.count - position >= count else { throw error("invalid literal") }
        let ok = word.withUTF8Buffer { literal in
            (0 ..< count).allSatisfy { bytes[position + $0] == literal[$0] }
        }
        guard ok else { throw error("invalid literal") }
        position += count
    }

    mutating func parseObject(depth: Int) throws -> JSONValue {
        var members: [JSONValue.Member] = []
        var seen = Set<ExactName>()  // names are bytes: NFC and NFD spellings are two keys
        try parseElements(closing: "}", in: "an object") { parser in
            guard parser.position < parser.bytes.count, parser.bytes[parser.position] == UInt8(ascii: "\"") else {
                throw parser.error("expected a string key")
            }
            let keyOffset = parser.position
            let key = try parser.parseString()
            guard seen.insert(ExactName(key)).inserted else {
                throw JSONParseError(offset: keyOffset, reason: .duplicateKey(key))
            }
            parser.skipWhitespace()
            guard parser.position < parser.bytes.count, parser.bytes[parser.position] == UInt8(ascii: ":") else {
                throw parser.error("expected ':'")
            }
            parser.position += 1
            parser.skipWhitespace()
            members.append(JSONValue.Member(key, try parser.parseValue(depth: depth + 1)))
        }
        return .object(members)
    }

    mutating func parseArray(depth: Int) throws -> JSONValue {
        var items: [JSONValue] = []
        try parseElements(closing: "]", in: "an array") { items.append(try $0.parseValue(depth: depth + 1)) }
        return .array(items)
    }

    /// From the opening bracket to the matching `close`: the comma-separated elements, each read by
    /// `element` (called with whitespace skipped).
    mutating func parseElements(closing close: Unicode.Scalar, in what: String, _ element: (inout Self) throws -> Void) throws {
        position += 1
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: close) {
            position += 1
            return
        }
        while true {
            skipWhitespace()
            try element(&self)
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of input in \(what)") }
            if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
            if bytes[position] == UInt8(ascii: close) { position += 1; return }
            throw error("expected ',' or '\(close)'")
        }
    }

    mutating func parseNumber() throws -> String {
        let start = position
        func digit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard position < bytes.count, digit(bytes[position]) else { throw error("invalid number") }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            while position < bytes.count, digit(bytes[position]) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard position < bytes.count, digit(bytes[position]) else { throw error("invalid number") }
            while position < bytes.count, digit(bytes[position]) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard position < bytes.count, digit(bytes[position]) else { throw error("invalid number") }
            while position < bytes.count, digit(bytes[position]) { position += 1 }
        }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start ..< position]), as: UTF8.self)
    }

    mutating func parseString() throws -> String {
        position += 1  // opening quote
        var scalars = String.UnicodeScalarView()
        var runStart = position
        func flushRun(_ end: Int, into scalars: inout String.UnicodeScalarView) throws {
            guard end > runStart else { return }
            let run = UnsafeBufferPointer(rebasing: bytes[runStart ..< end])
            guard let text = String(validating: run, as: UTF8.self) else {
                throw JSONParseError(offset: runStart, reason: .syntax("invalid UTF-8 in a string"))
            }
            scalars.append(contentsOf: text.unicodeScalars)
        }
        while true {
            guard position < bytes.count else { throw error("unterminated string") }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                try flushRun(position, into: &scalars)
                position += 1
                return String(scalars)
            }
            if byte < 0x20 { throw error("control character in a string") }
            if byte == UInt8(ascii: "\\") {
                try flushRun(position, into: &scalars)
                position += 1
                guard position < bytes.count else { throw error("unterminated escape") }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "b"): scalars.append("\u{08}")
                case UInt8(ascii: "f"): scalars.append("\u{0C}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    let first = try parseHex4()
                    var value = UInt32(first)
                    if (0xD800 ..< 0xDC00).contains(first) {
                        guard bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"),
                              bytes[position + 1] == UInt8(ascii: "u") else { throw error("unpaired surrogate") }
                        position += 2
                        let second = try parseHex4()
                        guard (0xDC00 ..< 0xE000).contains(second) else { throw error("unpaired surrogate") }
                        value = 0x10000 + ((UInt32(first) - 0xD800) << 10) + (UInt32(second) - 0xDC00)
                    } else if (0xDC00 ..< 0xE000).contains(first) {
                        throw error("unpaired surrogate")
                    }
                    guard let scalar = Unicode.Scalar(value) else { throw error("invalid \\u escape") }
                    scalars.append(scalar)
                default: throw error("invalid escape")
                }
                runStart = position
                continue
            }
            position += 1
        }
    }

    mutating func parseHex4() throws -> UInt16 {
        guard bytes.count - position >= 4 else { throw error("truncated \\u escape") }
        var value: UInt16 = 0
        for _ in 0 ..< 4 {
            let byte = bytes[position]
            let digit: UInt16
            switch byte {
            case 0x30 ... 0x39: digit = UInt16(byte - 0x30)
            case 0x41 ... 0x46: digit = UInt16(byte - 0x41 + 10)
            case 0x61 ... 0x66: digit = UInt16(byte - 0x61 + 10)
            default: throw error("invalid hex digit in \\u escape")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    func printable(_ byte: UInt8) -> String {
        byteText(byte)
    }
}
