/// A value of the small Python literal language an `.npy` header is written in.
enum PythonLiteral: Equatable {
    case string(String)
    case int(Int)
    case bool(Bool)
    case none
    case tuple([PythonLiteral])
    case list([PythonLiteral])
    /// Keys in the order written.
    case dict([(key: PythonLiteral, value: PythonLiteral)])

    static func == (a: PythonLiteral, b: PythonLiteral) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): x == y
        case (.int(let x), .int(let y)): x == y
        case (.bool(let x), .bool(let y)): x == y
        case (.none, .none): true
        case (.tuple(let x), .tuple(let y)), (.list(let x), .list(let y)): x == y
        case (.dict(let x), .dict(let y)):
            x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }

    /// How the value would be spelled in Python (for messages).
    var repr: String {
        switch self {
        case .string(let text): "'\(text)'"
        case .int(let value): "\(value)"
        case .bool(let value): value ? "True" : "False"
        case .none: "None"
        case .tuple(let items): items.count == 1 ? "(\(items[0].repr),)" : "(" + items.map(\.repr).joined(separator: ", ") + ")"
        case .list(let items): "[" + items.map(\.repr).joined(separator: ", ") + "]"
        case .dict(let pairs): "{" + pairs.map { "\($0.key.repr): \($0.value.repr)" }.joined(separator: ", ") + "}"
        }
    }
}

/// A strict parser for the subset of Python literals numpy writes in `.npy` headers (`ast.literal_eval` input):
/// single- or double-quoted strings with the simple escapes, `True`/`False`/`None`, decimal integers (with the
/// Python 2 `L` suffix numpy tolerates in version 1 and 2 headers), tuples, lists and dicts, with optional
/// trailing commas. Nothing else (no floats, no expressions, no comments). Nesting is limited, so a hostile
/// header cannot exhaust the stack. Offsets in errors are absolute file offsets.
struct PythonLiteralParser {
    enum TextEncoding { case latin1, utf8 }

    static let maxDepth = 16

    private let bytes: UnsafeRawBufferPointer
    private let origin: Int
    private let encoding: TextEncoding
    private let allowLongSuffix: Bool
    private var position = 0

    /// Parses `bytes` as exactly one literal surrounded by optional whitespace.
    static func parse(_ bytes: UnsafeRawBufferPointer, origin: Int, encoding: TextEncoding,
                      allowLongSuffix: Bool) throws -> PythonLiteral {
        var parser = PythonLiteralParser(bytes: bytes, origin: origin, encoding: encoding, allowLongSuffix: allowLongSuffix)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else {
            throw parser.error("unexpected text after the header's dict")
        }
        return value
    }

    private init(bytes: UnsafeRawBufferPointer, origin: Int, encoding: TextEncoding, allowLongSuffix: Bool) {
        self.bytes = bytes
        self.origin = origin
        self.encoding = encoding
        self.allowLongSuffix = allowLongSuffix
    }

    private func error(_ detail: String) -> FormatError {
        let found = position < bytes.count ? describe(bytes[position]) : "the end of the header"
        return FormatError(.invalidHeader("invalid npy header literal: \(detail) (found \(found))"),
                           at: .byte(origin + position))
    }

    private func describe(_ byte: UInt8) -> String {
        (0x21 ... 0x7E).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x" + String(byte, radix: 16)
    }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0C {
            position += 1
        }
    }

    private mutating func expect(_ byte: UInt8) throws {
        guard current == byte else { throw error("expected '\(Character(Unicode.Scalar(byte)))'") }
        position += 1
    }

    private mutating func value(depth: Int) throws -> PythonLiteral {
        guard depth < PythonLiteralParser.maxDepth else {
            throw FormatError(.limitExceeded(what: "npy header literal nesting", value: "more than \(depth) levels",
                                             limit: "\(PythonLiteralParser.maxDepth)"), at: .byte(origin + position))
        }
        guard let byte = current else { throw error("expected a value") }
        switch byte {
        case UInt8(ascii: "'"), UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "("): return try sequence(close: UInt8(ascii: ")"), depth: depth)
        case UInt8(ascii: "["): return try sequence(close: UInt8(ascii: "]"), depth: depth)
        case UInt8(ascii: "{"): return try dict(depth: depth)
        case UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "0") ... UInt8(ascii: "9"): return .int(try integer())
        default:
            if try keyword("True") { return .bool(true) }
            if try keyword("False") { return .bool(false) }
            if try keyword("None") { return .none }
            throw error("expected a string, number, True, False, None, tuple, list or dict")
        }
    }

    private mutating func keyword(_ word: String) throws -> Bool {
        let utf8 = Array(word.utf8)
        guard bytes.count - position >= utf8.count,
              zip(bytes[position ..< position + utf8.count], utf8).allSatisfy({ $0 == $1 }) else { return false }
        let after = position + utf8.count
        if after < bytes.count, isIdentifierByte(bytes[after]) { return false }
        position = after
        return true
    }

    private func isIdentifierByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            || byte == 0x5F || byte >= 0x80
    }

    private mutating func integer() throws -> Int {
        let start = position
        var negative = false
        if current == UInt8(ascii: "-") || current == UInt8(ascii: "+") {
            negative = current == UInt8(ascii: "-")
            position += 1
            skipWhitespace()
        }
        var digits: [UInt8] = []
        while let byte = current, (byte >= 0x30 && byte <= 0x39) || byte == UInt8(ascii: "_") {
            if byte == UInt8(ascii: "_") {
                // Python allows single underscores between digits only.
                guard !digits.isEmpty, position + 1 < bytes.count, (0x30 ... 0x39).contains(bytes[position + 1]) else {
                    throw error("misplaced '_' in an integer")
                }
            } else {
                digits.append(byte - 0x30)
            }
            position += 1
        }
        guard !digits.isEmpty else { throw error("expected digits") }
        // Python 3 rejects leading zeros ("007"), except for zero itself.
        if digits.count > 1, digits[0] == 0, digits.contains(where: { $0 != 0 }) {
            position = start
            throw error("an integer with leading zeros")
        }
        if allowLongSuffix, current == UInt8(ascii: "L") || current == UInt8(ascii: "l") { position += 1 }
        if let byte = current, isIdentifierByte(byte) || byte == UInt8(ascii: ".") {
            throw error("only decimal integers are allowed")
        }
        var value = 0
        for digit in digits {
            guard let shifted = Checked.multiply(value, 10),
                  let next = negative ? Checked.add(shifted, -Int(digit)) : Checked.add(shifted, Int(digit)) else {
                let text = (negative ? "-" : "") + digits.map { String($0) }.joined()
                throw FormatError(.overflow(what: "the npy header integer \(text.prefix(80)) (beyond int64)"),
                                  at: .byte(origin + start))
            }
            value = next
        }
        return value
    }

    private mutating func string() throws -> String {
        let quote = bytes[position]
        let start = position
        position += 1
        var raw: [UInt8] = []
        while true {
            guard let byte = current else {
                position = start
                throw error("an unterminated string")
            }
            if byte == quote { position += 1; break }
            if byte == 0x0A || byte == 0x0D { throw error("a line break inside a string") }
            if byte == UInt8(ascii: "\\") {
                position += 1
                guard let escaped = current else { throw error("an unterminated escape") }
                switch escaped {
                case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""): raw.append(escaped)
                case UInt8(ascii: "n"): raw.append(0x0A)
                case UInt8(ascii: "t"): raw.append(0x09)
                case UInt8(ascii: "r"): raw.append(0x0D)
                case UInt8(ascii: "0"): raw.append(0)
                case UInt8(ascii: "x"):
                    guard bytes.count - position >= 3, let high = hexValue(bytes[position + 1]),
                          let low = hexValue(bytes[position + 2]) else { throw error("a bad \\x escape") }
                    // \xNN is a code point: encode it like the surrounding text.
                    let scalar = high << 4 | low
                    if encoding == .utf8 && scalar >= 0x80 {
                        raw.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar))).utf8))
                    } else {
                        raw.append(scalar)
                    }
                    position += 2
                default: throw error("an unsupported escape sequence")
                }
                position += 1
                continue
            }
            raw.append(byte)
            position += 1
        }
        switch encoding {
        case .utf8:
            guard let text = String(validating: raw, as: UTF8.self) else {
                throw FormatError(.invalidUTF8(what: "a string of the npy header"), at: .byte(origin + start))
            }
            return text
        case .latin1:
            var scalars = String.UnicodeScalarView()
            for byte in raw { scalars.append(Unicode.Scalar(byte)) }
            return String(scalars)
        }
    }

    private func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30 ... 0x39: byte - 0x30
        case 0x41 ... 0x46: byte - 0x41 + 10
        case 0x61 ... 0x66: byte - 0x61 + 10
        default: nil
        }
    }

    /// `( … )` or `[ … ]`; a parenthesised single value without a comma is that value (as in Python).
    private mutating func sequence(close: UInt8, depth: Int) throws -> PythonLiteral {
        let isTuple = close == UInt8(ascii: ")")
        position += 1
        var items: [PythonLiteral] = []
        var sawComma = false
        skipWhitespace()
        while current != close {
            items.append(try value(depth: depth + 1))
            skipWhitespace()
            if current == UInt8(ascii: ",") {
                sawComma = true
                position += 1
                skipWhitespace()
            } else if current != close {
                throw error("expected ',' or '\(Character(Unicode.Scalar(close)))'")
            }
        }
        position += 1
        if isTuple && items.count == 1 && !sawComma { return items[0] }
        return isTuple ? .tuple(items) : .list(items)
    }

    private mutating func dict(depth: Int) throws -> PythonLiteral {
        position += 1
        var pairs: [(key: PythonLiteral, value: PythonLiteral)] = []
        skipWhitespace()
        while current != UInt8(ascii: "}") {
            let key = try value(depth: depth + 1)
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            let item = try value(depth: depth + 1)
            pairs.append((key, item))
            skipWhitespace()
            if current == UInt8(ascii: ",") {
                position += 1
                skipWhitespace()
            } else if current != UInt8(ascii: "}") {
                throw error("expected ',' or '}'")
            }
        }
        position += 1
        return .dict(pairs)
    }
}
