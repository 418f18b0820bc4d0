/// The fixed Swift meaning of calling an allowed global (REDUCE, NEWOBJ, BUILD).
///
/// Nothing is looked up by name at run time: each allowed global has one behaviour written here, and
/// the ones connkit cannot represent are refused with an error naming them.
enum TorchCalls {

    // MARK: REDUCE

    static func call(_ callable: PickleValue, arguments: PickleValue, arena: PickleArena) throws -> PickleValue {
        guard case .global(let global) = callable else {
            throw FormatError(.invalidHeader("malformed pickle: REDUCE calls \(callable.aTypeName), expected an allowed global"))
        }
        guard case .tuple(let tuple) = arguments else {
            throw FormatError(.invalidHeader("malformed pickle: arguments of \(global.qualifiedName) are \(arguments.aTypeName), expected a tuple"))
        }
        let args = tuple.items
        switch global {
        case .orderedDict, .counter:
            let dict = arena.newDict(global == .orderedDict ? .ordered : .counter)
            guard args.count <= 1 else { throw arity(global, args.count, "0 or 1") }
            if let source = args.first { try fill(dict, from: source, global: global) }
            return .dict(dict)
        case .builtinSet:
            let set = arena.newList()
            guard args.count <= 1 else { throw arity(global, args.count, "0 or 1") }
            if let source = args.first {
                switch source {
                case .set(let items): set.items = items.items
                default:
                    guard let items = source.sequenceItems else { throw argument(global, source) }
                    set.items = items
                }
            }
            return .set(set)
        case .builtinBytearray, .codecsEncode:
            if global == .builtinBytearray, args.isEmpty { return .bytes([]) }
            if global == .builtinBytearray, args.count == 1, case .bytes(let bytes) = args[0] { return .bytes(bytes) }
            guard args.count == 2, case .string(let text) = args[0], case .string(let encoding) = args[1] else {
                throw arity(global, args.count, "(str, encoding)")
            }
            return .bytes(try encode(text, encoding: encoding, global: global))
        case .builtinComplex:
            guard args.count == 2, let real = number(args[0]), let imaginary = number(args[1]) else {
                throw arity(global, args.count, "(real, imaginary)")
            }
            return .complex(real, imaginary)
        case .torchSize:
            guard args.count == 1, let items = args[0].sequenceItems else { throw arity(global, args.count, "(sizes,)") }
            return arena.tuple(items)
        case .torchDevice:
            guard let kind = args.first?.stringValue, args.count <= 2 else { throw arity(global, args.count, "(type[, index])") }
            if args.count == 2, let index = args[1].intValue { return .device("\(kind):\(index)") }
            return .device(kind)
        case .getLayout:
            guard args.count == 1, let name = args[0].stringValue else { throw arity(global, args.count, "(name,)") }
            return .layout(name)
        case .rebuild(let function):
            return try rebuild(function, args, arena: arena)
        default:
            throw FormatError(.unsupportedFormat("calling '\(global.qualifiedName)' is not supported"))
        }
    }

    // MARK: NEWOBJ

    static func newObject(_ type: PickleValue, arguments: PickleValue, arena: PickleArena) throws -> PickleValue {
        guard case .global(let global) = type else {
            throw FormatError(.invalidHeader("malformed pickle: NEWOBJ on \(type.aTypeName), expected an allowed class"))
        }
        guard case .tuple(let tuple) = arguments else {
            throw FormatError(.invalidHeader("malformed pickle: NEWOBJ arguments are \(arguments.aTypeName)"))
        }
        switch global {
        case .orderedDict: return .dict(arena.newDict(.ordered))
        case .counter: return .dict(arena.newDict(.counter))
        case .builtinSet: return .set(arena.newList())
        case .torchSize:
            guard tuple.items.count == 1, let items = tuple.items[0].sequenceItems else { throw arity(global, tuple.items.count, "(sizes,)") }
            return arena.tuple(items)
        case .parameterClass:
            // torch.nn.Parameter(data, requires_grad)
            guard let data = tuple.items.first, case .tensor(let tensor) = data else {
                throw FormatError(.unsupportedFormat("a torch.nn.Parameter without tensor data is not supported"))
            }
            return .tensor(tensor)
        default:
            throw FormatError(.unsupportedFormat("creating a '\(global.qualifiedName)' object is not supported"))
        }
    }

    // MARK: BUILD

    /// BUILD sets an object's state. Only dicts accept one here: an `nn.Module` state dict keeps its
    /// `_metadata` (module versions) as an attribute; attribute names are kept for the notes.
    static func build(_ object: PickleValue, state: PickleValue) throws {
        guard case .dict(let dict) = object else {
            throw FormatError(.unsupportedFormat("setting the state of \(object.aTypeName) (BUILD) is not supported"))
        }
        var parts = [state]
        if case .tuple(let pair) = state, pair.items.count == 2 { parts = pair.items }
        for part in parts {
            switch part {
            case .none: continue
            case .dict(let attributes):
                for (key, _) in attributes.entries { dict.attributes.append(key.textOrASCIIBytes ?? key.typeName) }
            default:
                throw FormatError(.invalidHeader("malformed pickle: state of a dict is \(part.aTypeName)"))
            }
        }
    }

    // MARK: Tensor rebuild functions

    private static func rebuild(_ function: TorchGlobal.RebuildFunction, _ args: [PickleValue],
                                arena: PickleArena) throws -> PickleValue {
        let global = TorchGlobal.rebuild(function)
        switch function {
        case .tensor:
            guard args.count == 4 else { throw arity(global, args.count, "4") }
            return .tensor(try tensor(storage: args[0], offset: args[1], sizes: args[2], strides: args[3], dtype: nil))
        case .tensorV2:
            guard args.count == 6 || args.count == 7 else { throw arity(global, args.count, "6 or 7") }
            if args.count == 7 { try checkTensorMetadata(args[6]) }
            return .tensor(try tensor(storage: args[0], offset: args[1], sizes: args[2], strides: args[3], dtype: nil))
        case .tensorV3:
            guard args.count == 7 || args.count == 8 else { throw arity(global, args.count, "7 or 8") }
            if args.count == 8 { try checkTensorMetadata(args[7]) }
            return .tensor(try tensor(storage: args[0], offset: args[1], sizes: args[2], strides: args[3], dtype: args[6]))
        case .parameter, .parameterWithState:
            let expected = function == .parameter ? 3 : 4
            guard args.count == expected else { throw arity(global, args.count, "\(expected)") }
            guard case .tensor(let data) = args[0] else { throw argument(global, args[0]) }
            // requires_grad, backward hooks and Python attributes do not change the stored values.
            return .tensor(data)
        case .fromTypeV2:
            // (rebuild function, tensor type, its arguments, Python attributes)
            guard args.count == 4 else { throw arity(global, args.count, "4") }
            switch args[1] {
            case .global(.tensorClass), .global(.parameterClass), .global(.legacyTensorClass): break
            default:
                throw FormatError(.unsupportedFormat("tensor subclass \(args[1].typeName) is not supported"))
            }
            let result = try call(args[0], arguments: args[2], arena: arena)
            guard case .tensor = result else { throw argument(global, args[0]) }
            return result
        case .deviceTensorFromCPUTensor:
            // (cpu tensor, dtype, device, requires_grad): the bytes are the CPU tensor's.
            guard args.count == 4 else { throw arity(global, args.count, "4") }
            guard case .tensor = args[0] else { throw argument(global, args[0]) }
            return args[0]
        case .qtensor, .sparseTensor, .metaTensorNoStorage, .wrapperSubclass, .deviceTensorFromNumpy:
            let what = switch function {
            case .qtensor: "quantized tensors"
            case .sparseTensor: "sparse tensors"
            case .metaTensorNoStorage: "meta tensors (they have no data)"
            case .wrapperSubclass: "tensor wrapper subclasses"
            default: "tensors rebuilt from numpy arrays"
            }
            throw FormatError(.unsupportedFormat("\(what) ('\(global.qualifiedName)') are not supported"))
        }
    }

    /// torch's per-tensor metadata (`get_tensor_metadata`): only conj/neg bits exist; set ones would change
    /// the values, so they are refused.
    private static func checkTensorMetadata(_ value: PickleValue) throws {
        guard case .dict(let dict) = value else {
            throw FormatError(.invalidHeader("malformed pickle: tensor metadata is \(value.aTypeName)"))
        }
        for (key, flag) in dict.entries {
            if case .bool(false) = flag { continue }
            throw FormatError(.unsupportedFormat("tensor metadata '\(key.textOrASCIIBytes ?? key.typeName)' is set (conjugate/negative views are not supported)"))
        }
    }

    private static func tensor(storage: PickleValue, offset: PickleValue, sizes: PickleValue, strides: PickleValue,
                               dtype explicitDType: PickleValue?) throws -> TorchTensorRef {
        guard case .storage(let storage) = storage else {
            throw FormatError(.invalidHeader("malformed pickle: tensor storage is \(storage.aTypeName)"))
        }
        let dtype: DType
        if let explicitDType {
            guard case .global(.dtype(let name)) = explicitDType else {
                throw FormatError(.invalidHeader("malformed pickle: tensor dtype is \(explicitDType.aTypeName)"))
            }
            guard let mapped = DType(torchName: name) else {
                throw FormatError(.unsupportedDType("torch.\(name)", reason: "connkit's dtype vocabulary has no equivalent"))
            }
            dtype = mapped
        } else {
            guard let typed = storage.dtype else {
                throw FormatError(.invalidHeader("malformed pickle: a tensor on an untyped storage needs an explicit dtype"))
            }
            dtype = typed
        }
        let elementSize = dtype == .f4 ? 1 : (dtype.elementSize ?? 0)
        guard elementSize > 0 else {
            throw FormatError(.unsupportedDType(dtype.rawValue, reason: "not a PyTorch element type"))
        }
        guard let offset = offset.intValue, offset >= 0 else {
            throw FormatError(.invalidHeader("tensor storage offset is \(offset.displayText), expected an integer from 0 to \(Int.max)"))
        }
        let sizes = try integers(sizes, "size")
        let strides = try integers(strides, "stride")
        // Views whose elements overlap (`expand`, stride 0) or that share a storage are capped per checkpoint
        // when the checkpoint is assembled (`TorchMaterialization`), not here.
        return try TorchTensorRef(storage: storage, dtype: dtype, elementSize: elementSize, storageOffset: offset,
                                  sizes: sizes, strides: strides)
    }

    private static func integers(_ value: PickleValue, _ what: String) throws -> [Int] {
        guard let items = value.sequenceItems else {
            throw FormatError(.invalidShape("tensor \(what)s are \(value.aTypeName), expected a tuple of integers"))
        }
        return try items.map { item in
            guard let number = item.intValue, number >= 0 else {
                throw FormatError(.invalidShape("tensor \(what) \(item.displayText) is not an integer from 0 to \(Int.max)"))
            }
            return number
        }
    }

    // MARK: Helpers

    private static func fill(_ dict: PickleDict, from source: PickleValue, global: TorchGlobal) throws {
        if case .dict(let other) = source {
            dict.entries = other.entries
            return
        }
        guard let pairs = source.sequenceItems else { throw argument(global, source) }
        for pair in pairs {
            guard let items = pair.sequenceItems, items.count == 2 else { throw argument(global, pair) }
            dict.entries.append((items[0], items[1]))
        }
    }

    /// Python 2-era `bytes` pickled as `_codecs.encode(text, 'latin1')`.
    private static func encode(_ text: String, encoding: String, global: TorchGlobal) throws -> [UInt8] {
        switch encoding.lowercased() {
        case "latin1", "latin-1", "iso-8859-1":
            var bytes: [UInt8] = []
            bytes.reserveCapacity(text.unicodeScalars.count)
            for scalar in text.unicodeScalars {
                guard scalar.value <= 0xFF else {
                    throw FormatError(.invalidHeader("\(global.qualifiedName): character U+\(String(scalar.value, radix: 16)) is not latin-1"))
                }
                bytes.append(UInt8(scalar.value))
            }
            return bytes
        case "utf-8", "utf8":
            return Array(text.utf8)
        default:
            throw FormatError(.unsupportedFormat("\(global.qualifiedName) with encoding '\(encoding)' is not supported"))
        }
    }

    private static func number(_ value: PickleValue) -> Double? {
        switch value {
        case .float(let number): number
        case .int(let number): Double(number)
        default: nil
        }
    }

    private static func arity(_ global: TorchGlobal, _ count: Int, _ expected: String) -> FormatError {
        FormatError(.invalidHeader("malformed pickle: '\(global.qualifiedName)' called with \(count) arguments, expected \(expected)"))
    }

    private static func argument(_ global: TorchGlobal, _ value: PickleValue) -> FormatError {
        FormatError(.invalidHeader("malformed pickle: '\(global.qualifiedName)' called with \(value.aTypeName)"))
    }
}
