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

    /// JSON form: integers exact (u64 above 2^53 included), arrays as arrays.
    public var json: JSONValue {
        switch self {
        case .uint8(let v): .int(v)
        case .int8(let v): .int(v)
        case .uint16(let v): .int(v)
        case .int16(let v): .int(v)
        case .uint32(let v): .int(v)
        case .int32(let v): .int(v)
        case .uint64(let v): .int(v)
        case .int64(let v): .int(v)
        case .float32(let v): .float(v)
        case .float64(let v): .double(v)
        case .bool(let v): .bool(v)
        case .string(let v): .string(v)
        case .array(_, let items): .array(items.map(\.json))
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
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(exactly: v)
        default: nil
        }
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
public struct MetadataEntry: Sendable, Equatable {
    public var key: String
    public var value: MetadataValue
    public init(_ key: String, _ value: MetadataValue) {
        self.key = key
        self.value = value
    }
}

extension Array where Element == MetadataEntry {
    public subscript(key: String) -> MetadataValue? {
        first(where: { $0.key.isSameName(as: key) })?.value
    }
}
