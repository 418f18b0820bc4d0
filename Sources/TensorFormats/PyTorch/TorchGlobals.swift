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

    /// torch's dtypes: `_dtype_to_storage_type_map`, `_new_dtypes`, and the sub-byte integer types.
    static let dtypeNames: Set<String> = {
        var names: Set<String> = [
            "float64", "float32", "float16", "bfloat16", "complex128", "complex64", "complex32",
            "int64", "int32", "int16", "int8", "uint8", "bool",
            "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
            "uint16", "uint32", "uint64",
            "float8_e5m2", "float8_e4m3fn", "float8_e5m2fnuz", "float8_e4m3fnuz", "float8_e8m0fnu",
            "float4_e2m1fn_x2",
            "bits8", "bits16", "bits1x8", "bits2x4", "bits4x2",
        ]
        for width in 1 ... 7 {
            names.insert("uint\(width)")
            names.insert("int\(width)")
        }
        return names
    }()

    /// torch's legacy typed-storage classes (`torch._storage_classes` minus the two generic ones).
    static let storageClassNames: [String] = [
        "DoubleStorage", "FloatStorage", "LongStorage", "IntStorage", "ShortStorage", "CharStorage",
        "ByteStorage", "HalfStorage", "BoolStorage", "BFloat16Storage", "ComplexDoubleStorage",
        "ComplexFloatStorage", "QUInt8Storage", "QInt8Storage", "QInt32Storage", "QUInt4x2Storage",
        "QUInt2x4Storage",
    ]

    /// torch's legacy tensor-type classes (`torch._tensor_classes`), CPU and CUDA.
    static let tensorClassBaseNames: [String] = [
        "DoubleTensor", "FloatTensor", "LongTensor", "IntTensor", "ShortTensor", "CharTensor", "ByteTensor",
        "HalfTensor", "BoolTensor", "BFloat16Tensor",
    ]

    static let qschemeNames: Set<String> = [
        "per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric",
        "per_channel_affine_float_qparams",
    ]

    static let blockedModules: Set<String> = ["sys", "os", "posix", "nt"]

    /// torch applies CPython's Python 2 → 3 renames before looking a global up (`torch._utils.IMPORT_MAPPING`
    /// and `NAME_MAPPING`); these are the ones that can reach an allowed global.
    static func mapPython2(module: String, name: String) -> (module: String, name: String) {
        switch (module, name) {
        case ("__builtin__", "set"): ("builtins", "set")
        case ("__builtin__", "bytearray"): ("builtins", "bytearray")
        case ("__builtin__", "complex"): ("builtins", "complex")
        default: (module == "__builtin__" ? "builtins" : module, name)
        }
    }

    /// The allowed global `module.name`, or nil when it is not on the allow-list.
    static func resolve(module: String, name: String) -> TorchGlobal? {
        if blockedModules.contains(module) { return nil }
        switch (module, name) {
        case ("collections", "OrderedDict"): return .orderedDict
        case ("collections", "Counter"): return .counter
        case ("builtins", "set"): return .builtinSet
        case ("builtins", "bytearray"): return .builtinBytearray
        case ("builtins", "complex"): return .builtinComplex
        case ("_codecs", "encode"): return .codecsEncode
        case ("torch", "Size"): return .torchSize
        case ("torch", "device"): return .torchDevice
        case ("torch.serialization", "_get_layout"): return .getLayout
        case ("torch", "Tensor"): return .tensorClass
        case ("torch.nn.parameter", "Parameter"): return .parameterClass
        case ("torch", "UntypedStorage"), ("torch.storage", "UntypedStorage"): return .untypedStorage
        case ("torch.storage", "TypedStorage"), ("torch", "TypedStorage"): return .typedStorageClass
        case ("torch._tensor", "_rebuild_from_type_v2"): return .rebuild(.fromTypeV2)
        default: break
        }
        if module == "torch._utils", let function = RebuildFunction(rawValue: name), function != .fromTypeV2 {
            return .rebuild(function)
        }
        if module == "torch" {
            if dtypeNames.contains(name) { return .dtype(name) }
            if qschemeNames.contains(name) { return .qscheme(name) }
            if storageClassNames.contains(name) { return .typedStorage(name) }
            if tensorClassBaseNames.contains(name) { return .legacyTensorClass("torch.\(name)") }
        }
        if module == "torch.cuda" {
            if storageClassNames.contains(name) { return .typedStorage("torch.cuda.\(name)") }
            if tensorClassBaseNames.contains(name) { return .legacyTensorClass("torch.cuda.\(name)") }
        }
        return nil
    }
}
