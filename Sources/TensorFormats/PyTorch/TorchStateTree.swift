/// Turns the object a PyTorch pickle holds into named tensors and metadata.
///
/// - Tensors are named by their path from the root, keys and list indices joined with `.`
///   (`{"model": {"proj": [w]}}` gives `model.proj.0`).
/// - A state dict wrapped in `{"model": …}`, `{"state_dict": …}` or `{"module": …}` (LAVIS, Lightning,
///   DeepSpeed) loses that key from its names; the note says which wrapper was stripped.
/// - Every non-tensor leaf (epoch counters, configs, strings, None) becomes a metadata entry under its
///   path; lists of same-typed scalars become one array entry. Nothing is dropped without a note.
/// - Walks are bounded in depth and refuse containers that contain themselves.
struct TorchStateTree {
    struct NamedTensor {
        let name: String
        let tensor: TorchTensorRef
    }

    private(set) var tensors: [NamedTensor] = []
    private(set) var metadata: [MetadataEntry] = []
    private(set) var notes: [String] = []

    static let wrapperKeys = ["state_dict", "model", "module"]

    private let maxDepth: Int
    /// Shared sub-objects are walked once per reference; a pickle can reference one list from two places at
    /// every level and ask for 2^depth visits. Containers reached again are counted (a real checkpoint
    /// shares tensors, rarely containers), and so is every visit.
    private let maxVisits = 1 << 21
    private let maxRevisits = 1 << 14
    private var visits = 0
    private var revisits = 0
    private var seenContainers: Set<ObjectIdentifier> = []
    /// Names are bytes: "café" (NFC) and "cafe\u{301}" (NFD) are two keys, as in the Python dict.
    private var tensorNames: Set<ExactName> = []
    private var metadataKeys: Set<ExactName> = []
    private var onPath: Set<ObjectIdentifier> = []
    private var attributeNames: [String] = []
    private var attributeOwners = 0
    /// Paths of the first empty containers met (for the note) and how many there were.
    private var emptyContainers: [String] = []
    private var emptyContainerCount = 0

    /// `rootName` names a tensor or scalar saved on its own (`torch.save(t, "w.pt")` gives `w`).
    init(root: PickleValue, rootName: String, maxDepth: Int = 200) throws {
        self.maxDepth = maxDepth
        var stripped: [String] = []
        try walk(root, path: [], depth: 0, rootName: rootName, strippedWrappers: &stripped)
        if !stripped.isEmpty {
            notes.append("stripped the wrapper key\(stripped.count > 1 ? "s" : "") "
                + stripped.map { "'\($0)'" }.joined(separator: " > ")
                + " from tensor names (the state dict is nested in it)")
        }
        if !attributeNames.isEmpty {
            var seen = Set<ExactName>()
            let unique = attributeNames.filter { seen.insert(ExactName($0)).inserted }
            notes.append("ignored the attribute\(unique.count > 1 ? "s" : "") \(unique.map { "'\($0)'" }.joined(separator: ", "))"
                + " of \(attributeOwners) dict\(attributeOwners > 1 ? "s" : "") (nn.Module keeps per-module version numbers there)")
        }
        if emptyContainerCount > 0 {
            let shown = emptyContainers.map { "'\($0)'" }.joined(separator: ", ")
            notes.append("empty container\(emptyContainerCount > 1 ? "s" : "") (no tensor, no value): \(shown)"
                + (emptyContainerCount > emptyContainers.count ? " and \(emptyContainerCount - emptyContainers.count) more" : ""))
        }
    }

    private mutating func walk(_ value: PickleValue, path: [String], depth: Int, rootName: String,
                               strippedWrappers: inout [String]) throws {
        guard depth <= maxDepth else {
            throw FormatError(.limitExceeded(what: "nesting depth of the pickled object", value: "\(depth)",
                                             limit: "\(maxDepth)"), at: .key(path.prefix(8).joined(separator: ".") + "…"))
        }
        visits += 1
        guard visits <= maxVisits else {
            throw FormatError(.limitExceeded(what: "number of objects reached in the pickled object",
                                             value: "\(visits)", limit: "\(maxVisits)"))
        }
        let name = path.isEmpty ? rootName : path.joined(separator: ".")
        switch value {
        case .tensor(let tensor):
            try addTensor(name, tensor)
        case .storage(let storage):
            do { try addTensor(name, try TorchTensorRef(wholeStorage: storage)) } catch let error as FormatError {
                throw error.at(.tensor(name))
            }
        case .dict(let dict):
            let identity = ObjectIdentifier(dict)
            try enter(identity, name)
            defer { onPath.remove(identity) }
            if !dict.attributes.isEmpty {
                attributeNames += dict.attributes
                attributeOwners += 1
            }
            if dict.entries.isEmpty {
                noteEmpty(name)
                return
            }
            // Only the root (or an already stripped wrapper) may lose a wrapper key.
            let mayStrip = path.isEmpty
            var stripKey: String?
            if mayStrip {
                for (key, child) in dict.entries {
                    guard let text = key.stringValue, TorchStateTree.wrapperKeys.contains(where: { $0.isSameName(as: text) }),
                          case .dict = child, try containsTensor(child, depth: depth + 1) else { continue }
                    stripKey = text
                    break
                }
            }
            for (key, child) in dict.entries {
                let keyText = try TorchStateTree.keyText(key, at: name)
                if let stripKey, key.stringValue?.isSameName(as: stripKey) == true {
                    strippedWrappers.append(stripKey)
                    // The wrapped dict is walked as a new root so a nested wrapper can be stripped too.
                    try walk(child, path: [], depth: depth + 1, rootName: rootName, strippedWrappers: &strippedWrappers)
                } else {
                    try walk(child, path: path + [keyText], depth: depth + 1, rootName: rootName,
                             strippedWrappers: &strippedWrappers)
                }
            }
        case .list(let list), .set(let list):
            let identity = ObjectIdentifier(list)
            try enter(identity, name)
            defer { onPath.remove(identity) }
            try walkSequence(list.items, path: path, name: name, depth: depth, rootName: rootName,
                             strippedWrappers: &strippedWrappers)
        case .tuple(let tuple):
            let identity = ObjectIdentifier(tuple)
            try enter(identity, name)
            defer { onPath.remove(identity) }
            try walkSequence(tuple.items, path: path, name: name, depth: depth, rootName: rootName,
                             strippedWrappers: &strippedWrappers)
        default:
            guard let scalar = TorchStateTree.scalarMetadata(value) else {
                throw FormatError(.invalidHeader("\(value.aTypeName) cannot be listed"), at: .key(name))
            }
            try addMetadata(name, scalar)
        }
    }

    private mutating func walkSequence(_ items: [PickleValue], path: [String], name: String, depth: Int,
                                       rootName: String, strippedWrappers: inout [String]) throws {
        if items.isEmpty {
            noteEmpty(name)
            return
        }
        if let array = TorchStateTree.scalarArray(items) {
            try addMetadata(name, array)
            return
        }
        for (index, item) in items.enumerated() {
            try walk(item, path: path + [String(index)], depth: depth + 1, rootName: rootName,
                     strippedWrappers: &strippedWrappers)
        }
    }

    private mutating func noteEmpty(_ name: String) {
        emptyContainerCount += 1
        if emptyContainers.count < 10 { emptyContainers.append(name) }
    }

    private mutating func addTensor(_ name: String, _ tensor: TorchTensorRef) throws {
        guard tensorNames.insert(ExactName(name)).inserted else { throw FormatError(.duplicateName(name), at: .tensor(name)) }
        tensors.append(NamedTensor(name: name, tensor: tensor))
    }

    private mutating func addMetadata(_ key: String, _ value: MetadataValue) throws {
        guard metadataKeys.insert(ExactName(key)).inserted else { throw FormatError(.duplicateName(key), at: .key(key)) }
        metadata.append(MetadataEntry(key, value))
    }

    /// Records a visit of a container; throws when shared containers are walked too often.
    private mutating func enter(_ identity: ObjectIdentifier, _ name: String) throws {
        guard onPath.insert(identity).inserted else { throw cycle(name) }
        if !seenContainers.insert(identity).inserted {
            revisits += 1
            guard revisits <= maxRevisits else {
                throw FormatError(.limitExceeded(what: "number of times shared containers are reached in the pickled object",
                                                 value: "\(revisits)", limit: "\(maxRevisits)"), at: .key(name))
            }
        }
    }

    private func cycle(_ name: String) -> FormatError {
        FormatError(.invalidHeader("the pickled object contains itself (a reference cycle)"), at: .key(name))
    }

    /// Whether a wrapper candidate holds any tensor (bounded like the walk; cycles are left to the walk).
    private func containsTensor(_ value: PickleValue, depth: Int) throws -> Bool {
        var seen: Set<ObjectIdentifier> = []
        var pending: [(PickleValue, Int)] = [(value, depth)]
        while let (item, level) = pending.popLast() {
            guard level <= maxDepth else { return false }
            switch item {
            case .tensor, .storage: return true
            case .dict(let dict):
                guard seen.insert(ObjectIdentifier(dict)).inserted else { continue }
                pending += dict.entries.map { ($0.value, level + 1) }
            case .list(let list), .set(let list):
                guard seen.insert(ObjectIdentifier(list)).inserted else { continue }
                pending += list.items.map { ($0, level + 1) }
            case .tuple(let tuple):
                guard seen.insert(ObjectIdentifier(tuple)).inserted else { continue }
                pending += tuple.items.map { ($0, level + 1) }
            default: continue
            }
        }
        return false
    }

    /// Dict keys as name parts: strings as they are, numbers and constants in Python's spelling.
    static func keyText(_ key: PickleValue, at name: String) throws -> String {
        switch key {
        case .string(let text): return text
        case .int(let value): return String(value)
        case .bool(let flag): return flag ? "True" : "False"
        case .none: return "None"
        case .float(let value): return String(value)
        case .bytes where key.textOrASCIIBytes != nil: return key.textOrASCIIBytes!
        case .bigInt(let digits): return bigIntText(digits)
        case .tuple(let tuple) where tuple.items.allSatisfy({ scalarMetadata($0) != nil }):
            return "(" + (try tuple.items.map { try keyText($0, at: name) }).joined(separator: ", ") + ")"
        default:
            throw FormatError(.invalidHeader("a dict under '\(name)' has a key of type \(key.typeName)"))
        }
    }

    /// A scalar leaf as metadata; nil for containers, tensors and storages.
    static func scalarMetadata(_ value: PickleValue) -> MetadataValue? {
        switch value {
        case .none: .string("None")
        case .bool(let flag): .bool(flag)
        case .int(let number): .int64(number)
        case .bigInt(let digits):
            if digits.count == 9, digits[8] == 0 {
                .uint64(digits.prefix(8).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * $1.offset) })
            } else {
                .string(bigIntText(digits))
            }
        case .float(let number): .float64(number)
        case .complex(let real, let imaginary): .string("(\(real)\(imaginary < 0 ? "-" : "+")\(abs(imaginary))j)")
        case .string(let text): .string(text)
        case .bytes(let bytes): .array(.uint8, bytes.map { .uint8($0) })
        case .global(let global): .string(global.qualifiedName)
        case .device(let device): .string(device)
        case .layout(let layout): .string(layout)
        case .tuple, .list, .dict, .set, .storage, .tensor: nil
        }
    }

    /// A non-empty list of scalars of one metadata type, as one array value.
    static func scalarArray(_ items: [PickleValue]) -> MetadataValue? {
        var values: [MetadataValue] = []
        values.reserveCapacity(items.count)
        for item in items {
            switch item {
            case .bool, .int, .float, .string: break
            default: return nil
            }
            guard let value = scalarMetadata(item) else { return nil }
            if let first = values.first, first.type != value.type { return nil }
            values.append(value)
        }
        guard let first = values.first else { return nil }
        return .array(first.type, values)
    }

    /// Decimal text of a little-endian two's complement integer of any width.
    static func bigIntText(_ digits: [UInt8]) -> String {
        let negative = (digits.last ?? 0) & 0x80 != 0
        // Magnitude as little-endian bytes.
        var magnitude = digits
        if negative {
            var carry = 1
            for index in magnitude.indices {
                let value = Int(~magnitude[index] & 0xFF) + carry
                magnitude[index] = UInt8(value & 0xFF)
                carry = value >> 8
            }
        }
        var decimal: [Character] = []
        while magnitude.contains(where: { $0 != 0 }) {
            var remainder = 0
            for index in magnitude.indices.reversed() {
                let value = remainder << 8 | Int(magnitude[index])
                magnitude[index] = UInt8(value / 10)
                remainder = value % 10
            }
            decimal.append(Character(String(remainder)))
        }
        if decimal.isEmpty { return "0" }
        return (negative ? "-" : "") + String(decimal.reversed())
    }
}
