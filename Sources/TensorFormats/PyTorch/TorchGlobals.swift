/// The globals a PyTorch pickle may name, and nothing else.
///
/// The set is the one `torch.load(weights_only=True)` accepts by default (`torch/_weights_only_unpickler.py`,
/// `_get_allowed_globals`; a test compares it with the list torch itself reports): container types, torch
/// dtypes, tensor and storage classes, quantization schemes, the tensor rebuild functions and a few
/// builtins. A global is only *named*: connkit never imports or calls anything. Each allowed global has a
/// fixed meaning implemented in Swift (`TorchCalls`); those connkit cannot represent (quantized, sparse or
/// meta tensors) are refused with their own error when used. Modules `sys`, `os`, `posix` and `nt` are
/// refused whatever the name, as torch does.
enum TorchGlobal: Equatable {
    case orderedDict
    case counter
    case builtinSet
    case builtinBytearray
    case builtinComplex
    case codecsEncode
    case torchSize
    case torchDevice
    case getLayout
    case tensorClass
    case parameterClass
    /// `torch.float16`, `torch.qint8`…: the name without `torch.`.
    case dtype(String)
    /// `torch.FloatStorage`, `torch.cuda.HalfStorage`: the class name.
    case typedStorage(String)
    case untypedStorage
    case typedStorageClass
    /// Legacy tensor classes (`torch.FloatTensor`, `torch.cuda.LongTensor`…).
    case legacyTensorClass(String)
    case qscheme(String)
    case rebuild(RebuildFunction)

    enum RebuildFunction: String, CaseIterable {
        case tensor = "_rebuild_tensor"
        case tensorV2 = "_rebuild_tensor_v2"
        case tensorV3 = "_rebuild_tensor_v3"
        case parameter = "_rebuild_parameter"
        case parameterWithState = "_rebuild_parameter_with_state"
        case qtensor = "_rebuild_qtensor"
        case sparseTensor = "_rebuild_sparse_tensor"
        case metaTensorNoStorage = "_rebuild_meta_tensor_no_storage"
        case wrapperSubclass = "_rebuild_wrapper_subclass"
        case deviceTensorFromNumpy = "_rebuild_device_tensor_from_numpy"
        case deviceTensorFromCPUTensor = "_rebuild_device_tensor_from_cpu_tensor"
        /// `torch._tensor._rebuild_from_type_v2` (tensor subclasses and tensors with attributes).
        case fromTypeV2 = "_rebuild_from_type_v2"
    }

    /// `module.name` as written in the pickle (after torch's Python 2 name mapping).
    var qualifiedName: String {
        switch self {
        case .orderedDict: "collections.OrderedDict"
        case .counter: "collections.Counter"
        case .builtinSet: "builtins.set"
        case .builtinBytearray: "builtins.bytearray"
        case .builtinComplex: "builtins.complex"
        case .codecsEncode: "_codecs.encode"
        case .torchSize: "torch.Size"
        case .torchDevice: "torch.device"
        case .getLayout: "torch.serialization._get_layout"
        case .tensorClass: "torch.Tensor"
        case .parameterClass: "torch.nn.parameter.Parameter"
        case .dtype(let name): "torch.\(name)"
        case .typedStorage(let name): name.contains(".") ? name : "torch.\(name)"
        case .untypedStorage: "torch.storage.UntypedStorage"
        case .typedStorageClass: "torch.storage.TypedStorage"
        case .legacyTensorClass(let name): name
        case .qscheme(let name): "torch.\(name)"
        case .rebuild(.fromTypeV2): "torch._tensor._rebuild_from_type_v2"
        case .rebuild(let function): "torch._utils.\(function.rawValue)"
        }
    }

    /// Every allowed `module.name` and its meaning.
    static let allowed: [String: TorchGlobal] = {
        var table: [String: TorchGlobal] = [
            "collections.OrderedDict": .orderedDict,
            "collections.Counter": .counter,
            "builtins.set": .builtinSet,
            "builtins.bytearray": .builtinBytearray,
            "builtins.complex": .builtinComplex,
            "_codecs.encode": .codecsEncode,
            "torch.Size": .torchSize,
            "torch.device": .torchDevice,
            "torch.serialization._get_layout": .getLayout,
            "torch.Tensor": .tensorClass,
            "torch.nn.parameter.Parameter": .parameterClass,
            "torch.storage.UntypedStorage": .untypedStorage,
            "torch.storage.TypedStorage": .typedStorageClass,
        ]
        // torch's dtypes: `_dtype_to_storage_type_map`, `_new_dtypes`, and the sub-byte integer types.
        var dtypes = [
            "float64", "float32", "float16", "bfloat16", "complex128", "complex64", "complex32", "bcomplex32",
            "int64", "int32", "int16", "int8", "uint8", "bool", "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
            "uint16", "uint32", "uint64", "float8_e5m2", "float8_e4m3fn", "float8_e5m2fnuz", "float8_e4m3fnuz",
            "float8_e8m0fnu", "float4_e2m1fn_x2", "bits8", "bits16", "bits1x8", "bits2x4", "bits4x2",
        ]
        for width in 1 ... 7 { dtypes += ["uint\(width)", "int\(width)"] }
        for name in dtypes { table["torch.\(name)"] = .dtype(name) }
        // Legacy typed-storage classes (`torch._storage_classes` minus the two generic ones), CPU and CUDA.
        let storages = [
            "DoubleStorage", "FloatStorage", "LongStorage", "IntStorage", "ShortStorage", "CharStorage",
            "ByteStorage", "HalfStorage", "BoolStorage", "BFloat16Storage", "ComplexDoubleStorage",
            "ComplexFloatStorage",
        ]
        for name in storages {
            table["torch.\(name)"] = .typedStorage(name)
            table["torch.cuda.\(name)"] = .typedStorage("torch.cuda.\(name)")
        }
        for name in ["QUInt8Storage", "QInt8Storage", "QInt32Storage", "QUInt4x2Storage", "QUInt2x4Storage"] {
            table["torch.\(name)"] = .typedStorage(name)
        }
        // Legacy tensor-type classes (`torch._tensor_classes`): dense CPU/CUDA, sparse CPU/CUDA.
        let sparseTensors = ["DoubleTensor", "FloatTensor", "LongTensor", "IntTensor", "ShortTensor", "CharTensor",
                             "ByteTensor", "HalfTensor", "BFloat16Tensor"]
        for module in ["torch", "torch.cuda"] {
            for name in sparseTensors + ["BoolTensor"] { table["\(module).\(name)"] = .legacyTensorClass("\(module).\(name)") }
            for name in sparseTensors { table["\(module).sparse.\(name)"] = .legacyTensorClass("\(module).sparse.\(name)") }
        }
        for name in ["per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric",
                     "per_channel_affine_float_qparams"] {
            table["torch.\(name)"] = .qscheme(name)
        }
        for function in RebuildFunction.allCases { table[TorchGlobal.rebuild(function).qualifiedName] = .rebuild(function) }
        return table
    }()

    static let blockedModules: Set<String> = ["sys", "os", "posix", "nt"]

    /// torch applies CPython's Python 2 → 3 renames before looking a global up (`torch._utils.NAME_MAPPING`,
    /// then `IMPORT_MAPPING` for the module).
    static func mapPython2(module: String, name: String) -> (module: String, name: String) {
        let names: [String: (String, String)] = [
            "__builtin__.xrange": ("builtins", "range"), "__builtin__.reduce": ("functools", "reduce"),
            "__builtin__.intern": ("sys", "intern"), "__builtin__.unichr": ("builtins", "chr"),
            "__builtin__.unicode": ("builtins", "str"), "__builtin__.long": ("builtins", "int"),
            "__builtin__.basestring": ("builtins", "str"), "itertools.izip": ("builtins", "zip"),
            "itertools.imap": ("builtins", "map"), "itertools.ifilter": ("builtins", "filter"),
            "itertools.ifilterfalse": ("itertools", "filterfalse"),
            "itertools.izip_longest": ("itertools", "zip_longest"),
            "UserDict.IterableUserDict": ("collections", "UserDict"), "UserDict.UserDict": ("collections", "UserDict"),
            "UserList.UserList": ("collections", "UserList"), "UserString.UserString": ("collections", "UserString"),
            "exceptions.StandardError": ("builtins", "Exception"),
        ]
        if let mapped = names["\(module).\(name)"] { return mapped }
        let modules = [
            "__builtin__": "builtins", "copy_reg": "copyreg", "Queue": "queue", "repr": "reprlib",
            "_abcoll": "collections.abc", "UserDict": "collections", "UserList": "collections",
            "UserString": "collections", "whichdb": "dbm", "StringIO": "io", "cStringIO": "io",
        ]
        return (modules[module] ?? module, name)
    }

    /// The allowed global `module.name`, or nil when it is not on the allow-list.
    static func resolve(module: String, name: String) -> TorchGlobal? {
        if blockedModules.contains(where: { $0.isSameName(as: module) }) { return nil }
        // Python looks globals up by their exact text: a canonically equivalent spelling (the Kelvin sign
        // for "K", say) is another name, not on the list, though `String` hashing would find the entry.
        let qualified = "\(module).\(name)"
        guard let index = allowed.index(forKey: qualified), allowed[index].key.isSameName(as: qualified) else { return nil }
        return allowed[index].value
    }
}
