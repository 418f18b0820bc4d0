/// A restricted pickle machine for PyTorch checkpoints: it builds plain values and never executes anything.
///
/// Byte layout: a pickle is a sequence of one-byte opcodes, each followed by its inline argument, ending
/// with STOP (`.`). Protocols 2 to 5 are read (`PROTO n` first; protocol 4's FRAME markers are skipped).
/// Supported opcodes are those of the binary protocols:
///
/// - structure: MARK, STOP, POP, POP_MARK, DUP, FRAME, PROTO, MEMOIZE, BINPUT/LONG_BINPUT, BINGET/LONG_BINGET
/// - scalars: NONE, NEWTRUE/NEWFALSE, BININT/BININT1/BININT2, LONG1/LONG4, BINFLOAT (big-endian double),
///   BINUNICODE/SHORT_BINUNICODE/BINUNICODE8, BINSTRING/SHORT_BINSTRING, BINBYTES/SHORT_BINBYTES/BINBYTES8,
///   BYTEARRAY8
/// - containers: EMPTY_TUPLE, TUPLE, TUPLE1-3, EMPTY_LIST, LIST, APPEND, APPENDS, EMPTY_DICT, DICT, SETITEM,
///   SETITEMS, EMPTY_SET, ADDITEMS, FROZENSET
/// - objects: GLOBAL, STACK_GLOBAL (allow-list only, see `TorchGlobal`), REDUCE, NEWOBJ, NEWOBJ_EX, BUILD
///   (with the fixed Swift meaning of the allowed global, see `TorchCalls`), BINPERSID (storages only)
///
/// Protocol 0/1 text opcodes, extension-registry codes (EXT1/2/4), INST/OBJ and out-of-band buffers are
/// refused, like any unknown byte. Every length is checked against the bytes left before it is used; the
/// stack, the memo and the nesting depth are bounded.
struct Unpickler {
    /// Bounds that keep a hostile pickle from exhausting memory or the call stack.
    struct Limits {
        var maxStack = 1 << 20
        var maxMemoIndex = 1 << 22
        var maxNesting = 200
    }

    private var cursor: ByteCursor
    private let arena: PickleArena
    private let limits: Limits
    private let persistentLoad: (PickleValue) throws -> PickleValue
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    /// Indexed by memo key (picklers number them 0, 1, 2…); `memoCount` is the number of keys set, which
    /// MEMOIZE uses as its key, as Python's `len(memo)`.
    private var memo: [PickleValue?] = []
    private var memoCount = 0
    /// File offset of the opcode being run, for errors.
    private var opcodeOffset = 0

    /// Reads one pickle from the start of `bytes` (whose first byte is at file offset `origin`).
    init(bytes: UnsafeRawBufferPointer, origin: Int, arena: PickleArena, limits: Limits = Limits(),
         persistentLoad: @escaping (PickleValue) throws -> PickleValue) {
        cursor = ByteCursor(bytes, origin: origin)
        self.arena = arena
        self.limits = limits
        self.persistentLoad = persistentLoad
    }

    /// Runs the pickle to its STOP; returns the value and the file offset just past STOP.
    mutating func load() throws -> (value: PickleValue, end: Int) {
        while true {
            opcodeOffset = cursor.fileOffset
            let opcode = try cursor.readU8("pickle opcode")
            do {
                if opcode == Op.stop {
                    guard marks.isEmpty else { throw invalid("STOP inside an unclosed MARK") }
                    guard stack.count == 1 else {
                        throw invalid("STOP with \(stack.count) values on the stack, expected 1")
                    }
                    return (stack[0], cursor.fileOffset)
                }
                try execute(opcode)
            } catch let error as FormatError {
                throw error.at(.byte(opcodeOffset))
            }
        }
    }

    // MARK: - Opcodes

    private enum Op {
        static let mark: UInt8 = 0x28, stop: UInt8 = 0x2E, pop: UInt8 = 0x30, popMark: UInt8 = 0x31
        static let dup: UInt8 = 0x32, binInt: UInt8 = 0x4A, binInt1: UInt8 = 0x4B, binInt2: UInt8 = 0x4D
        static let none: UInt8 = 0x4E, binPersID: UInt8 = 0x51, reduce: UInt8 = 0x52
        static let binString: UInt8 = 0x54, shortBinString: UInt8 = 0x55, binUnicode: UInt8 = 0x58
        static let append: UInt8 = 0x61, build: UInt8 = 0x62, global: UInt8 = 0x63, dict: UInt8 = 0x64
        static let emptyDict: UInt8 = 0x7D, appends: UInt8 = 0x65, binGet: UInt8 = 0x68
        static let longBinGet: UInt8 = 0x6A, list: UInt8 = 0x6C, emptyList: UInt8 = 0x5D
        static let binPut: UInt8 = 0x71, longBinPut: UInt8 = 0x72, setItem: UInt8 = 0x73, tuple: UInt8 = 0x74
        static let emptyTuple: UInt8 = 0x29, setItems: UInt8 = 0x75, binFloat: UInt8 = 0x47
        static let proto: UInt8 = 0x80, newObj: UInt8 = 0x81, tuple1: UInt8 = 0x85, tuple2: UInt8 = 0x86
        static let tuple3: UInt8 = 0x87, newTrue: UInt8 = 0x88, newFalse: UInt8 = 0x89, long1: UInt8 = 0x8A
        static let long4: UInt8 = 0x8B, binBytes: UInt8 = 0x42, shortBinBytes: UInt8 = 0x43
        static let shortBinUnicode: UInt8 = 0x8C, binUnicode8: UInt8 = 0x8D, binBytes8: UInt8 = 0x8E
        static let emptySet: UInt8 = 0x8F, addItems: UInt8 = 0x90, frozenSet: UInt8 = 0x91
        static let newObjEx: UInt8 = 0x92, stackGlobal: UInt8 = 0x93, memoize: UInt8 = 0x94
        static let frame: UInt8 = 0x95, byteArray8: UInt8 = 0x96
    }

    private mutating func execute(_ opcode: UInt8) throws {
        switch opcode {
        case Op.proto:
            let version = try cursor.readU8("protocol version")
            guard (2 ... 5).contains(version) else {
                throw FormatError(.unsupportedVersion("pickle protocol \(version) (2 to 5 are read)"))
            }
        case Op.frame:
            let length = try cursor.readU64("frame length")
            guard length <= UInt64(cursor.remaining) else { throw pastTheEnd("pickle frame", length) }
        case Op.mark:
            guard marks.count < limits.maxNesting else { throw nesting() }
            marks.append(stack.count)
        case Op.pop:
            if let mark = marks.last, mark == stack.count {
                marks.removeLast()  // CPython: POP right after MARK discards the mark
            } else {
                _ = try pop()
            }
        case Op.popMark: _ = try popMark()
        case Op.dup: try push(try top())
        case Op.none: try push(.none)
        case Op.newTrue: try push(.bool(true))
        case Op.newFalse: try push(.bool(false))
        case Op.binInt: try push(.int(Int64(Int32(bitPattern: try cursor.readU32("BININT argument")))))
        case Op.binInt1: try push(.int(Int64(try cursor.readU8("BININT1 argument"))))
        case Op.binInt2: try push(.int(Int64(try cursor.readU16("BININT2 argument"))))
        case Op.long1:
            let count = Int(try cursor.readU8("LONG1 length"))
            try push(Unpickler.decodeLong(try cursor.readBytes(count, "LONG1 digits")))
        case Op.long4:
            // A signed 4-byte count, as CPython reads it ("LONG pickle has negative byte count").
            let count = Int32(bitPattern: try cursor.readU32("LONG4 length"))
            guard count >= 0 else { throw invalid("LONG4 with negative byte count \(count)") }
            try push(Unpickler.decodeLong(try cursor.readBytes(Int(count), "LONG4 digits")))
        case Op.binFloat:
            try push(.float(Double(bitPattern: try cursor.readU64("BINFLOAT argument").byteSwapped)))
        case Op.binUnicode: try push(.string(try readString(length: UInt64(try cursor.readU32("BINUNICODE length")))))
        case Op.shortBinUnicode:
            try push(.string(try readString(length: UInt64(try cursor.readU8("SHORT_BINUNICODE length")))))
        case Op.binUnicode8: try push(.string(try readString(length: try cursor.readU64("BINUNICODE8 length"))))
        case Op.binString:
            // Python 2 `str`: torch.load decodes it as UTF-8.
            let length = Int32(bitPattern: try cursor.readU32("BINSTRING length"))
            guard length >= 0 else { throw invalid("BINSTRING with negative length \(length)") }
            try push(.string(try readString(length: UInt64(length))))
        case Op.shortBinString:
            try push(.string(try readString(length: UInt64(try cursor.readU8("SHORT_BINSTRING length")))))
        case Op.binBytes: try push(.bytes(try readBytes(length: UInt64(try cursor.readU32("BINBYTES length")))))
        case Op.shortBinBytes:
            try push(.bytes(try readBytes(length: UInt64(try cursor.readU8("SHORT_BINBYTES length")))))
        case Op.binBytes8: try push(.bytes(try readBytes(length: try cursor.readU64("BINBYTES8 length"))))
        case Op.byteArray8: try push(.bytes(try readBytes(length: try cursor.readU64("BYTEARRAY8 length"))))
        case Op.emptyTuple: try push(arena.tuple([]))
        case Op.tuple: try push(arena.tuple(try popMark()))
        case Op.tuple1: try push(arena.tuple(try pop(1)))
        case Op.tuple2: try push(arena.tuple(try pop(2)))
        case Op.tuple3: try push(arena.tuple(try pop(3)))
        case Op.emptyList: try push(.list(arena.newList()))
        case Op.list:
            let list = arena.newList()
            list.items = try popMark()
            try push(.list(list))
        case Op.append:
            let item = try pop()
            try appendTarget("APPEND").items.append(item)
        case Op.appends:
            let items = try popMark()
            try appendTarget("APPENDS").items.append(contentsOf: items)
        case Op.emptyDict: try push(.dict(arena.newDict(.dict)))
        case Op.dict:
            let dict = arena.newDict(.dict)
            try Unpickler.addPairs(try popMark(), to: dict)
            try push(.dict(dict))
        case Op.setItem:
            let value = try pop()
            let key = try pop()
            try setItemTarget("SETITEM").entries.append((key, value))
        case Op.setItems:
            let items = try popMark()
            try Unpickler.addPairs(items, to: try setItemTarget("SETITEMS"))
        case Op.emptySet: try push(.set(arena.newList()))
        case Op.addItems:
            let items = try popMark()
            guard case .set(let set) = try top() else { throw invalid("ADDITEMS on \(try top().aTypeName)") }
            set.items.append(contentsOf: items)
        case Op.frozenSet:
            let set = arena.newList()
            set.items = try popMark()
            try push(.set(set))
        case Op.global:
            let module = try readLine("GLOBAL module")
            let name = try readLine("GLOBAL name")
            try push(.global(try Unpickler.allowedGlobal(module: module, name: name)))
        case Op.stackGlobal:
            let name = try pop()
            let module = try pop()
            guard case .string(let nameText) = name, case .string(let moduleText) = module else {
                throw invalid("STACK_GLOBAL needs two strings, found \(module.typeName) and \(name.typeName)")
            }
            try push(.global(try Unpickler.allowedGlobal(module: moduleText, name: nameText)))
        case Op.reduce:
            let arguments = try pop()
            let callable = try pop()
            try push(try TorchCalls.call(callable, arguments: arguments, arena: arena))
        case Op.newObj:
            let arguments = try pop()
            let type = try pop()
            try push(try TorchCalls.newObject(type, arguments: arguments, arena: arena))
        case Op.newObjEx:
            let keywords = try pop()
            let arguments = try pop()
            let type = try pop()
            if case .dict(let dict) = keywords, !dict.entries.isEmpty {
                throw FormatError(.unsupportedFormat("keyword arguments to \(type.typeName) are not supported"))
            }
            try push(try TorchCalls.newObject(type, arguments: arguments, arena: arena))
        case Op.build:
            let state = try pop()
            try TorchCalls.build(try top(), state: state)
        case Op.binPersID:
            try push(try persistentLoad(try pop()))
        case Op.binGet: try push(try memoValue(UInt32(try cursor.readU8("BINGET index"))))
        case Op.longBinGet: try push(try memoValue(try cursor.readU32("LONG_BINGET index")))
        case Op.binPut: try memoize(UInt32(try cursor.readU8("BINPUT index")))
        case Op.longBinPut: try memoize(try cursor.readU32("LONG_BINPUT index"))
        case Op.memoize: try memoize(UInt32(clamping: memoCount))
        default:
            throw FormatError(.unsupportedFormat("pickle opcode 0x\(String(opcode, radix: 16)) is not one connkit reads"
                + " (only protocol 2-5 opcodes used for tensors and plain containers are)"))
        }
    }

    // MARK: - Stack and memo

    private func invalid(_ detail: String) -> FormatError {
        FormatError(.invalidHeader("malformed pickle: \(detail)"))
    }

    private func nesting() -> FormatError {
        FormatError(.limitExceeded(what: "pickle nesting depth", value: "\(limits.maxNesting + 1)",
                                   limit: "\(limits.maxNesting)"))
    }

    private mutating func push(_ value: PickleValue) throws {
        guard stack.count < limits.maxStack else {
            throw FormatError(.limitExceeded(what: "pickle stack size", value: "\(stack.count + 1)",
                                             limit: "\(limits.maxStack)"))
        }
        stack.append(value)
    }

    /// The floor of the current MARK frame: values below it belong to an enclosing frame.
    private var frameFloor: Int { marks.last ?? 0 }

    private mutating func pop() throws -> PickleValue {
        guard stack.count > frameFloor else { throw invalid("stack underflow") }
        return stack.removeLast()
    }

    private mutating func pop(_ count: Int) throws -> [PickleValue] {
        guard stack.count - frameFloor >= count else { throw invalid("stack underflow") }
        let items = Array(stack[(stack.count - count)...])
        stack.removeLast(count)
        return items
    }

    private func top() throws -> PickleValue {
        guard stack.count > frameFloor, let value = stack.last else { throw invalid("stack underflow") }
        return value
    }

    private mutating func popMark() throws -> [PickleValue] {
        guard let mark = marks.popLast() else { throw invalid("no MARK to pop to") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private func appendTarget(_ opcode: String) throws -> PickleList {
        guard case .list(let list) = try top() else { throw invalid("\(opcode) on \(try top().aTypeName)") }
        return list
    }

    private func setItemTarget(_ opcode: String) throws -> PickleDict {
        guard case .dict(let dict) = try top() else { throw invalid("\(opcode) on \(try top().aTypeName)") }
        return dict
    }

    private static func addPairs(_ items: [PickleValue], to dict: PickleDict) throws {
        guard items.count % 2 == 0 else {
            throw FormatError(.invalidHeader("malformed pickle: odd number of items for a dict"))
        }
        dict.entries.reserveCapacity(dict.entries.count + items.count / 2)
        for index in stride(from: 0, to: items.count, by: 2) {
            dict.entries.append((items[index], items[index + 1]))
        }
    }

    private mutating func memoize(_ index: UInt32) throws {
        guard Int(index) <= limits.maxMemoIndex else {
            throw FormatError(.limitExceeded(what: "pickle memo index", value: "\(index)", limit: "\(limits.maxMemoIndex)"))
        }
        let value = try top()
        let slot = Int(index)
        if slot >= memo.count { memo.append(contentsOf: repeatElement(nil, count: slot - memo.count + 1)) }
        if memo[slot] == nil { memoCount += 1 }
        memo[slot] = value
    }

    private func memoValue(_ index: UInt32) throws -> PickleValue {
        guard Int(index) < memo.count, let value = memo[Int(index)] else {
            throw invalid("memo entry \(index) is read before it is written")
        }
        return value
    }

    // MARK: - Inline arguments

    private mutating func readBytes(length: UInt64) throws -> [UInt8] {
        guard length <= UInt64(cursor.remaining) else { throw pastTheEnd("pickle bytes", length) }
        return Array(try cursor.readBytes(Int(length), "pickle bytes"))
    }

    private mutating func readString(length: UInt64) throws -> String {
        guard length <= UInt64(cursor.remaining) else { throw pastTheEnd("pickle string", length) }
        return try cursor.readUTF8(Int(length), "pickle string")
    }

    /// A declared length beyond the remaining bytes; one that does not even fit an `Int` is named in full.
    private func pastTheEnd(_ what: String, _ length: UInt64) -> FormatError {
        let needed = Int(exactly: length)
        return FormatError(.truncated(what: needed == nil ? "\(what) of \(length) bytes" : what,
                                      needed: needed ?? Int.max, available: cursor.remaining))
    }

    /// A newline-terminated UTF-8 line (GLOBAL arguments), without the newline.
    private mutating func readLine(_ what: String) throws -> String {
        let start = cursor.position
        let rest = UnsafeRawBufferPointer(rebasing: cursor.bytes[start...])
        guard let newline = rest.firstIndex(of: 0x0A) else {
            throw FormatError(.truncated(what: what, needed: rest.count + 1, available: rest.count))
        }
        let text = try cursor.readUTF8(newline, what)
        try cursor.skip(1)
        return text
    }

    private static func allowedGlobal(module: String, name: String) throws -> TorchGlobal {
        let (mappedModule, mappedName) = TorchGlobal.mapPython2(module: module, name: name)
        guard let global = TorchGlobal.resolve(module: mappedModule, name: mappedName) else {
            throw FormatError(.disallowedGlobal("\(mappedModule).\(mappedName)"))
        }
        return global
    }

    /// Python's `decode_long`: little-endian two's complement of any length.
    static func decodeLong(_ bytes: UnsafeRawBufferPointer) -> PickleValue {
        var digits = Array(bytes)
        guard !digits.isEmpty else { return .int(0) }
        // Drop redundant sign-extension bytes so the value's width is minimal.
        while digits.count > 1 {
            let last = digits[digits.count - 1], previous = digits[digits.count - 2]
            if (last == 0 && previous & 0x80 == 0) || (last == 0xFF && previous & 0x80 != 0) {
                digits.removeLast()
            } else {
                break
            }
        }
        guard digits.count <= 8 else { return .bigInt(digits) }
        let negative = digits.last! & 0x80 != 0
        var value: UInt64 = negative ? .max : 0
        for (index, byte) in digits.enumerated() {
            value &= ~(UInt64(0xFF) << (8 * index))
            value |= UInt64(byte) << (8 * index)
        }
        return .int(Int64(bitPattern: value))
    }
}
