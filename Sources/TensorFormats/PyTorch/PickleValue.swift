/// The values the restricted unpickler builds.
///
/// Compound values are reference objects (Python's memo shares them, and `SETITEMS` fills a dict after it
/// was memoized), all owned by a `PickleArena`. The enum itself is flat — it never nests directly — so a
/// hostile pickle cannot build a chain that Swift would destroy recursively: `PickleArena.tearDown()`
/// empties every compound object before the arena goes away, which also breaks reference cycles.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int64)
    /// An integer outside Int64 (LONG1/LONG4): little-endian two's complement bytes, minimal length.
    case bigInt([UInt8])
    case float(Double)
    case complex(Double, Double)
    case string(String)
    case bytes([UInt8])
    case tuple(PickleTuple)
    case list(PickleList)
    case dict(PickleDict)
    case set(PickleList)
    /// An allow-listed global, never imported: only its identity is kept.
    case global(TorchGlobal)
    /// `torch.device(...)`, `torch.serialization._get_layout(...)`: kept as their text.
    case device(String)
    case layout(String)
    /// Boxed (`indirect`): these payloads are large, and every stack slot, memo entry and dict entry holds a
    /// `PickleValue`. Their boxes hold no `PickleValue`, so releasing them never recurses.
    indirect case storage(TorchStorageRef)
    indirect case tensor(TorchTensorRef)

    /// Python's name for the value's type, for messages.
    var typeName: String {
        switch self {
        case .none: "None"
        case .bool: "bool"
        case .int, .bigInt: "int"
        case .float: "float"
        case .complex: "complex"
        case .string: "str"
        case .bytes: "bytes"
        case .tuple: "tuple"
        case .list: "list"
        case .dict(let dict): dict.flavour.rawValue
        case .set: "set"
        case .global(let global): global.qualifiedName
        case .device: "torch.device"
        case .layout: "torch.layout"
        case .storage: "storage"
        case .tensor: "tensor"
        }
    }

    var intValue: Int? {
        if case .int(let value) = self { return Int(exactly: value) }
        return nil
    }

    var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// Items of a tuple or list (torch.Size pickles as a tuple, older files use lists).
    var sequenceItems: [PickleValue]? {
        switch self {
        case .tuple(let tuple): tuple.items
        case .list(let list): list.items
        default: nil
        }
    }
}

final class PickleTuple {
    var items: [PickleValue]
    init(_ items: [PickleValue]) { self.items = items }
}

final class PickleList {
    var items: [PickleValue] = []
}

final class PickleDict {
    enum Flavour: String { case dict, ordered = "collections.OrderedDict", counter = "collections.Counter" }
    let flavour: Flavour
    /// Entries in insertion order; duplicate keys are kept here and refused when names are built.
    var entries: [(key: PickleValue, value: PickleValue)] = []
    /// Attribute names set by BUILD (an `nn.Module` state dict carries `_metadata`).
    var attributes: [String] = []
    init(_ flavour: Flavour) { self.flavour = flavour }
}

/// Owns every compound object one unpickling creates, and destroys them without recursion.
final class PickleArena {
    private var tuples: [PickleTuple] = []
    private var lists: [PickleList] = []
    private var dicts: [PickleDict] = []

    func tuple(_ items: [PickleValue]) -> PickleValue {
        let tuple = PickleTuple(items)
        tuples.append(tuple)
        return .tuple(tuple)
    }

    func newList() -> PickleList {
        let list = PickleList()
        lists.append(list)
        return list
    }

    func newDict(_ flavour: PickleDict.Flavour) -> PickleDict {
        let dict = PickleDict(flavour)
        dicts.append(dict)
        return dict
    }

    /// Empties every compound object, so releasing them never recurses and cycles are broken.
    func tearDown() {
        for tuple in tuples { tuple.items = [] }
        for list in lists { list.items = [] }
        for dict in dicts { dict.entries = [] }
        tuples = []
        lists = []
        dicts = []
    }

    deinit { tearDown() }
}
