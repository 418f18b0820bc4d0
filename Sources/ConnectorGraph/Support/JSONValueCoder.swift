import TensorFormats

/// `Encoder`/`Decoder` over the package's strict, ordered `JSONValue`, so `Codable` types read JSON with
/// duplicate keys refused and write it with their keys in declaration order (deterministic output).
public enum JSONValueCoder {
    public static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try T(from: ValueDecoder(value: value, codingPath: []))
    }

    public static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let root = EncodedNode()
        try value.encode(to: ValueEncoder(node: root, codingPath: []))
        return root.json
    }

    /// One line naming where a decoding error happened: `nodes[2].params[0].shape: expected …`.
    public static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [CodingKey]) -> String {
            var text = ""
            for key in keys {
                if let index = key.intValue { text += "[\(index)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
            }
            return text.isEmpty ? "top level" : text
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)): expected \(typeName(type)); \(context.debugDescription)"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): missing \(typeName(type))"
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])): required key missing"
        case .dataCorrupted(let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        default: "\(type)"
        }
    }
}

/// A coding key built from any string or index.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        stringValue = String(intValue)
        self.intValue = intValue
    }
    init(_ text: String) { stringValue = text }
}

extension Decoder {
    /// Refuses object members other than `allowed` (the JSON Schemas say `additionalProperties: false`;
    /// a misspelt key must not be ignored silently).
    func rejectUnknownKeys(_ allowed: [String]) throws {
        let container = try container(keyedBy: AnyKey.self)
        for key in container.allKeys where !allowed.contains(key.stringValue) {
            throw DecodingError.dataCorrupted(.init(
                codingPath: codingPath + [key],
                debugDescription: "unknown key \"\(key.stringValue)\" (expected one of: \(allowed.joined(separator: ", ")))"))
        }
    }
}

// MARK: - Decoding

private struct ValueDecoder: Decoder {
    let value: JSONValue
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else {
            throw DecodingError.typeMismatch([String: Any].self, .init(codingPath: codingPath, debugDescription: "expected an object"))
        }
        return KeyedDecodingContainer(KeyedValueDecoder<Key>(members: members, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard case .array(let items) = value else {
            throw DecodingError.typeMismatch([Any].self, .init(codingPath: codingPath, debugDescription: "expected an array"))
        }
        return UnkeyedValueDecoder(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer { SingleValueDecoder(value: value, codingPath: codingPath) }
}

private func decodeScalar<T: Decodable>(_ type: T.Type, _ value: JSONValue, _ path: [CodingKey]) throws -> T {
    func mismatch(_ what: String) -> DecodingError {
        .typeMismatch(T.self, .init(codingPath: path, debugDescription: "expected \(what)"))
    }
    switch type {
    case is String.Type:
        guard case .string(let text) = value else { throw mismatch("a string") }
        return text as! T
    case is Bool.Type:
        guard case .bool(let flag) = value else { throw mismatch("true or false") }
        return flag as! T
    case is Int.Type:
        guard let number = value.intValue else { throw mismatch("an integer") }
        return number as! T
    case is Double.Type:
        guard let number = value.doubleValue else { throw mismatch("a number") }
        return number as! T
    case is JSONValue.Type:
        return value as! T
    case let integer as any FixedWidthInteger.Type:
        // Other integer widths: exact conversion from the JSON text, never a wrap-around.
        guard let number = value.int64Value, let converted = integer.init(exactly: number) else { throw mismatch("an integer in range") }
        return converted as! T
    case let real as any BinaryFloatingPoint.Type:
        guard let number = value.doubleValue else { throw mismatch("a number") }
        return real.init(number) as! T
    default:
        return try T(from: ValueDecoder(value: value, codingPath: path))
    }
}

private struct KeyedValueDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [JSONValue.Member]
    let codingPath: [CodingKey]

    var allKeys: [Key] { members.compactMap { Key(stringValue: $0.key) } }

    func contains(_ key: Key) -> Bool { members.contains { $0.key == key.stringValue } }

    private func member(_ key: Key) throws -> JSONValue {
        guard let found = members.first(where: { $0.key == key.stringValue }) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing"))
        }
        return found.value
    }

    func decodeNil(forKey key: Key) throws -> Bool { (try? member(key)) == JSONValue.null }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try decodeScalar(type, try member(key), codingPath + [key])
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let found = members.first(where: { $0.key == key.stringValue }), found.value != .null else { return nil }
        return try decodeScalar(type, found.value, codingPath + [key])
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try ValueDecoder(value: try member(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
        try ValueDecoder(value: try member(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> Decoder { ValueDecoder(value: .object(members), codingPath: codingPath) }
    func superDecoder(forKey key: Key) throws -> Decoder { ValueDecoder(value: try member(key), codingPath: codingPath + [key]) }
}

private struct UnkeyedValueDecoder: UnkeyedDecodingContainer {
    let items: [JSONValue]
    let codingPath: [CodingKey]
    var currentIndex = 0

    init(items: [JSONValue], codingPath: [CodingKey]) {
        self.items = items
        self.codingPath = codingPath
    }

    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private mutating func next() throws -> (JSONValue, [CodingKey]) {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(JSONValue.self, .init(codingPath: codingPath, debugDescription: "array too short"))
        }
        defer { currentIndex += 1 }
        return (items[currentIndex], codingPath + [AnyKey(intValue: currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, items[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (value, path) = try next()
        return try decodeScalar(type, value, path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (value, path) = try next()
        return try ValueDecoder(value: value, codingPath: path).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer {
        let (value, path) = try next()
        return try ValueDecoder(value: value, codingPath: path).unkeyedContainer()
    }

    mutating func superDecoder() throws -> Decoder {
        let (value, path) = try next()
        return ValueDecoder(value: value, codingPath: path)
    }
}

private struct SingleValueDecoder: SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [CodingKey]
    func decodeNil() -> Bool { value == .null }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeScalar(type, value, codingPath) }
}

// MARK: - Encoding

/// A node of the value being built; containers share nodes, so nested containers can fill them later.
private final class EncodedNode {
    enum Content {
        case empty
        case scalar(JSONValue)
        case object([(String, EncodedNode)])
        case array([EncodedNode])
    }
    var content: Content = .empty

    var json: JSONValue {
        switch content {
        case .empty: .null
        case .scalar(let value): value
        case .object(let members): .object(members.map { JSONValue.Member($0.0, $0.1.json) })
        case .array(let items): .array(items.map(\.json))
        }
    }

    func child(forKey key: String) -> EncodedNode {
        var members: [(String, EncodedNode)] = []
        if case .object(let existing) = content { members = existing }
        if let found = members.first(where: { $0.0 == key }) { return found.1 }
        let node = EncodedNode()
        members.append((key, node))
        content = .object(members)
        return node
    }

    func makeObject() {
        if case .object = content { return }
        content = .object([])
    }

    func appendChild() -> EncodedNode {
        var items: [EncodedNode] = []
        if case .array(let existing) = content { items = existing }
        let node = EncodedNode()
        items.append(node)
        content = .array(items)
        return node
    }

    func makeArray() {
        if case .array = content { return }
        content = .array([])
    }

    var arrayCount: Int {
        if case .array(let items) = content { return items.count }
        return 0
    }
}

private func encodeScalar<T: Encodable>(_ value: T, into node: EncodedNode, _ path: [CodingKey]) throws {
    switch value {
    case let text as String: node.content = .scalar(.string(text))
    case let flag as Bool: node.content = .scalar(.bool(flag))
    case let number as Int: node.content = .scalar(.int(number))
    case let number as Double: node.content = .scalar(.double(number))
    case let json as JSONValue: node.content = .scalar(json)
    default: try value.encode(to: ValueEncoder(node: node, codingPath: path))
    }
}

private struct ValueEncoder: Encoder {
    let node: EncodedNode
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.makeObject()
        return KeyedEncodingContainer(KeyedValueEncoder<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        node.makeArray()
        return UnkeyedValueEncoder(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> SingleValueEncodingContainer { SingleValueEncoder(node: node, codingPath: codingPath) }
}

private struct KeyedValueEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: EncodedNode
    let codingPath: [CodingKey]

    mutating func encodeNil(forKey key: Key) throws { node.child(forKey: key.stringValue).content = .scalar(.null) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try encodeScalar(value, into: node.child(forKey: key.stringValue), codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        ValueEncoder(node: node.child(forKey: key.stringValue), codingPath: codingPath + [key]).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        ValueEncoder(node: node.child(forKey: key.stringValue), codingPath: codingPath + [key]).unkeyedContainer()
    }

    mutating func superEncoder() -> Encoder { ValueEncoder(node: node.child(forKey: "super"), codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> Encoder {
        ValueEncoder(node: node.child(forKey: key.stringValue), codingPath: codingPath + [key])
    }
}

private struct UnkeyedValueEncoder: UnkeyedEncodingContainer {
    let node: EncodedNode
    let codingPath: [CodingKey]
    var count: Int { node.arrayCount }

    mutating func encodeNil() throws { node.appendChild().content = .scalar(.null) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let path = codingPath + [AnyKey(intValue: count)]
        try encodeScalar(value, into: node.appendChild(), path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = codingPath + [AnyKey(intValue: count)]
        return ValueEncoder(node: node.appendChild(), codingPath: path).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        let path = codingPath + [AnyKey(intValue: count)]
        return ValueEncoder(node: node.appendChild(), codingPath: path).unkeyedContainer()
    }

    mutating func superEncoder() -> Encoder { ValueEncoder(node: node.appendChild(), codingPath: codingPath) }
}

private struct SingleValueEncoder: SingleValueEncodingContainer {
    let node: EncodedNode
    let codingPath: [CodingKey]
    mutating func encodeNil() throws { node.content = .scalar(.null) }
    mutating func encode<T: Encodable>(_ value: T) throws { try encodeScalar(value, into: node, codingPath) }
}
