import TensorFormats

/// A validator for the JSON Schema subset connkit's own schemas use (`schemas/*.schema.json`), so outputs
/// and graph descriptions are checked in tests without a dependency (test support only; nothing ships it).
///
/// Keywords: `type` (a name or a list), `properties`, `required`, `additionalProperties` (bool or schema),
/// `patternProperties`, `items`, `minItems`, `maxItems`, `enum`, `const`, `minimum`, `maximum`,
/// `minLength`, `pattern`, `anyOf`, `oneOf`, `allOf`, `not`, `$ref` to `#/$defs/…` or to another schema
/// file (`error.schema.json`, `other.schema.json#/$defs/…`, read through `loader`); the annotations
/// `$schema`, `$id`, `$comment`, `title`, `description`, `examples`, `default` are ignored. Any other keyword
/// is an error, so a schema never silently checks less than it says.
public struct JSONSchema: Sendable {
    public let root: JSONValue
    /// Reads another schema document named by a `$ref` (a file name relative to this one).
    public let loader: (@Sendable (String) -> JSONValue?)?

    public init(_ root: JSONValue, loader: (@Sendable (String) -> JSONValue?)? = nil) {
        self.root = root
        self.loader = loader
    }

    public struct Violation: Sendable, Equatable, CustomStringConvertible {
        /// JSON Pointer of the offending value (`/tensors/3/shape`).
        public var path: String
        public var message: String
        public var description: String { (path.isEmpty ? "/" : path) + ": " + message }
    }

    /// Every violation found (empty when `value` conforms).
    public func validate(_ value: JSONValue) -> [Violation] {
        var out: [Violation] = []
        check(value, against: root, path: "", into: &out)
        return out
    }

    private static let annotations: Set<String> = ["$schema", "$id", "$comment", "title", "description", "examples",
                                                   "default", "$defs", "definitions"]

    /// The schema a `$ref` points at, and the document it lies in (whose own `#/…` references it uses).
    private func resolve(_ reference: String) -> (document: JSONSchema, node: JSONValue)? {
        let parts = reference.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let document: JSONSchema
        if parts[0].isEmpty {
            document = self
        } else {
            guard let loader, let root = loader(parts[0]) else { return nil }
            document = JSONSchema(root, loader: loader)
        }
        let fragment = parts.count > 1 ? parts[1] : ""
        guard fragment.isEmpty || fragment.hasPrefix("/") else { return nil }
        var node = document.root
        for part in fragment.dropFirst().split(separator: "/") {
            let key = String(part).split(separator: "~1", omittingEmptySubsequences: false).joined(separator: "/")
                .split(separator: "~0", omittingEmptySubsequences: false).joined(separator: "~")
            guard let next = node[key] else { return nil }
            node = next
        }
        return (document, node)
    }

    private func check(_ value: JSONValue, against schema: JSONValue, path: String, into out: inout [Violation]) {
        if case .bool(let allowed) = schema {
            if !allowed { out.append(.init(path: path, message: "no value is allowed here")) }
            return
        }
        guard let keywords = schema.objectMembers else {
            out.append(.init(path: path, message: "schema is not an object"))
            return
        }
        for keyword in keywords {
            let rule = keyword.value
            switch keyword.key {
            case let key where Self.annotations.contains(key):
                continue
            case "$ref":
                guard let reference = rule.stringValue, let target = resolve(reference) else {
                    out.append(.init(path: path, message: "unresolvable $ref \(rule.serialized())"))
                    continue
                }
                target.document.check(value, against: target.node, path: path, into: &out)
            case "type":
                let names = rule.arrayValue?.compactMap(\.stringValue) ?? [rule.stringValue ?? ""]
                if !names.contains(where: { Self.has(value, type: $0) }) {
                    out.append(.init(path: path, message: "expected \(names.joined(separator: " or ")), found \(Self.typeName(value))"))
                }
            case "properties":
                guard let members = value.objectMembers else { continue }
                for property in rule.objectMembers ?? [] {
                    if let member = members.first(where: { $0.key == property.key }) {
                        check(member.value, against: property.value, path: path + "/" + property.key, into: &out)
                    }
                }
            case "patternProperties":
                guard let members = value.objectMembers else { continue }
                for pattern in rule.objectMembers ?? [] {
                    guard let regex = try? Regex(pattern.key) else {
                        out.append(.init(path: path, message: "invalid pattern \(pattern.key)"))
                        continue
                    }
                    for member in members where member.key.contains(regex) {
                        check(member.value, against: pattern.value, path: path + "/" + member.key, into: &out)
                    }
                }
            case "required":
                guard let members = value.objectMembers else { continue }
                for name in rule.arrayValue?.compactMap(\.stringValue) ?? [] where !members.contains(where: { $0.key == name }) {
                    out.append(.init(path: path, message: "missing required property \"\(name)\""))
                }
            case "additionalProperties":
                guard let members = value.objectMembers else { continue }
                let known = Set(schema["properties"]?.objectMembers?.map(\.key) ?? [])
                let patterns = (schema["patternProperties"]?.objectMembers ?? []).compactMap { try? Regex($0.key) }
                for member in members where !known.contains(member.key) && !patterns.contains(where: { member.key.contains($0) }) {
                    if case .bool(false) = rule {
                        out.append(.init(path: path, message: "unexpected property \"\(member.key)\""))
                    } else {
                        check(member.value, against: rule, path: path + "/" + member.key, into: &out)
                    }
                }
            case "items":
                guard let items = value.arrayValue else { continue }
                for (index, item) in items.enumerated() {
                    check(item, against: rule, path: path + "/\(index)", into: &out)
                }
            case "minItems", "maxItems":
                guard let items = value.arrayValue, let bound = rule.intValue else { continue }
                if keyword.key == "minItems" ? items.count < bound : items.count > bound {
                    out.append(.init(path: path, message: "\(items.count) items, \(keyword.key) is \(bound)"))
                }
            case "minLength":
                guard let text = value.stringValue, let bound = rule.intValue else { continue }
                if text.count < bound { out.append(.init(path: path, message: "string shorter than \(bound)")) }
            case "pattern":
                guard let text = value.stringValue, let pattern = rule.stringValue else { continue }
                guard let regex = try? Regex(pattern) else {
                    out.append(.init(path: path, message: "invalid pattern \(pattern)"))
                    continue
                }
                if !text.contains(regex) { out.append(.init(path: path, message: "\"\(text)\" does not match \(pattern)")) }
            case "enum":
                if !(rule.arrayValue ?? []).contains(where: { Self.equal($0, value) }) {
                    out.append(.init(path: path, message: "\(value.serialized()) is not one of \(rule.serialized())"))
                }
            case "const":
                if !Self.equal(rule, value) {
                    out.append(.init(path: path, message: "expected \(rule.serialized()), found \(value.serialized())"))
                }
            case "minimum", "maximum":
                guard let number = value.doubleValue, let bound = rule.doubleValue else { continue }
                if keyword.key == "minimum" ? number < bound : number > bound {
                    out.append(.init(path: path, message: "\(value.serialized()) is beyond the \(keyword.key) \(rule.serialized())"))
                }
            case "anyOf", "oneOf":
                let options = rule.arrayValue ?? []
                let matching = options.filter { option in
                    var scratch: [Violation] = []
                    check(value, against: option, path: path, into: &scratch)
                    return scratch.isEmpty
                }.count
                if matching == 0 || (keyword.key == "oneOf" && matching > 1) {
                    out.append(.init(path: path, message: "\(matching) of the \(options.count) \(keyword.key) alternatives match"))
                }
            case "allOf":
                for option in rule.arrayValue ?? [] { check(value, against: option, path: path, into: &out) }
            case "not":
                var scratch: [Violation] = []
                check(value, against: rule, path: path, into: &scratch)
                if scratch.isEmpty { out.append(.init(path: path, message: "matches a schema it must not match")) }
            default:
                out.append(.init(path: path, message: "unsupported schema keyword \"\(keyword.key)\""))
            }
        }
    }

    private static func has(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object): true
        case ("number", .number): true
        case ("integer", .number): value.int64Value != nil || value.uint64Value != nil
        default: false
        }
    }

    private static func typeName(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "boolean"
        case .number: value.int64Value != nil || value.uint64Value != nil ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// JSON equality with numbers compared by value (`1` equals `1.0`).
    private static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.number(let x), .number(let y)): x == y || (Double(x) != nil && Double(x) == Double(y))
        case (.array(let x), .array(let y)): x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)):
            x.count == y.count && x.allSatisfy { m in y.contains { $0.key == m.key && equal($0.value, m.value) } }
        default: a == b
        }
    }
}
