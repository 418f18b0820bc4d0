/// A typed metadata value. The cases are GGUF's value types (the richest of the formats); safetensors
/// `__metadata__` values are always `.string`.
public enum MetadataValue: Sendable, Equatable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case uint64(UInt64)
    case int64(Int64)
    case float32(Float)
    case float64(Double)
    case bool(Bool)
    case string(String)
    /// Elements all of `elementType`; `.array` elements are nested arrays.
    case array(MetadataType, [MetadataValue])

    public var type: MetadataType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .uint64: .uint64
        case .int64: .int64
        case .float32: .float32
        case .float64: .float64
        case .bool: .bool
        case .string: .string
        case .array: .array
        }
    }

    /// The payload of an integer case.
    var integer: (any BinaryInteger)? {
        switch self {
        case .uint8(let v): v
        case .int8(let v): v
        case .uint16(let v): v
        case .int16(let v): v
        case .uint32(let v): v
        case .int32(let v): v
        case .uint64(let v): v
        case .int64(let v): v
        default: nil
        }
    }

    /// JSON form: integers exact (u64 above 2^53 included), arrays as arrays.
    public var json: JSONValue {
        if let integer { return .int(integer) }
        switch self {
        case .float32(let v): return .float(v)
        case .float64(let v): return .double(v)
        case .bool(let v): return .bool(v)
        case .string(let v): return .string(v)
        case .array(_, let items): return .array(items.map(\.json))
        default: preconditionFailure("every integer case has a payload")
        }
    }

    /// Text for formats whose metadata values are strings (safetensors): strings as they are, anything
    /// else as its JSON text.
    public var text: String {
        if case .string(let value) = self { return value }
        return json.serialized()
    }

    /// The value as an integer, for any integer type that fits.
    public var intValue: Int? {
        integer.flatMap { Int(exactly: $0) }
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }
}

/// GGUF metadata value type codes (`gguf_type`), shared by the reader and the writer.
public enum MetadataType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Fixed size of a scalar of this type (nil for strings and arrays).
    public var scalarSize: Int? {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64: 8
        case .string, .array: nil
        }
    }
}

/// One metadata entry; checkpoints keep them in file order.
public typealias MetadataEntry = KeyValue<MetadataValue>

/// A key and its value: a metadata entry, a JSON object member. Kept in arrays, in file order.
public struct KeyValue<Value> {
    public var key: String
    public var value: Value
    public init(_ key: String, _ value: Value) {
        self.key = key
        self.value = value
    }
}

extension KeyValue: Sendable where Value: Sendable {}
extension KeyValue: Equatable where Value: Equatable {}

extension Array {
    /// The value of the first entry named `key`.
    public subscript<Value>(key: String) -> Value? where Element == KeyValue<Value> {
        first(where: { $0.key.isSameName(as: key) })?.value
    }
}
