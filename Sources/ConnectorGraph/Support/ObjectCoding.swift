/// A struct read and written as a JSON object: its members are `fields`, written in that order;
/// unknown members are refused when reading.
protocol ObjectCoded: Codable {
    static var fields: [CodedField<Self>] { get }
    /// The value the fields are read into.
    static var blank: Self { get }
}

extension ObjectCoded {
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(Self.fields.map(\.key))
        let container = try decoder.container(keyedBy: AnyKey.self)
        var value = Self.blank
        for field in Self.fields { try field.decode(container, &value) }
        self = value
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: AnyKey.self)
        for field in Self.fields { try field.encode(self, &container) }
    }
}

/// One member of an `ObjectCoded` struct: its JSON key, and how it is read into and written from the
/// struct.
struct CodedField<Root> {
    let key: String
    let decode: (KeyedDecodingContainer<AnyKey>, inout Root) throws -> Void
    let encode: (Root, inout KeyedEncodingContainer<AnyKey>) throws -> Void

    /// Must be present; always written.
    static func required<V: Codable>(_ key: String, _ path: WritableKeyPath<Root, V>) -> CodedField {
        CodedField(key: key, decode: { container, root in root[keyPath: path] = try container.decode(V.self, forKey: AnyKey(key)) },
                   encode: { root, container in try container.encode(root[keyPath: path], forKey: AnyKey(key)) })
    }

    /// May be absent (nil); written when present.
    static func optional<V: Codable>(_ key: String, _ path: WritableKeyPath<Root, V?>) -> CodedField {
        CodedField(key: key, decode: { container, root in root[keyPath: path] = try container.decodeIfPresent(V.self, forKey: AnyKey(key)) },
                   encode: { root, container in try container.encodeIfPresent(root[keyPath: path], forKey: AnyKey(key)) })
    }

    /// May be absent, meaning `fallback`; written always, or (`writesFallback` false) only when it
    /// differs from `fallback`.
    static func defaulted<V: Codable & Equatable>(_ key: String, _ path: WritableKeyPath<Root, V>, _ fallback: V,
                                                  writesFallback: Bool = true) -> CodedField {
        CodedField(key: key, decode: { container, root in
            root[keyPath: path] = try container.decodeIfPresent(V.self, forKey: AnyKey(key)) ?? fallback
        }, encode: { root, container in
            let value = root[keyPath: path]
            if writesFallback || value != fallback { try container.encode(value, forKey: AnyKey(key)) }
        })
    }
}
