/// A storage named by a pickle's persistent id: `('storage', <storage class>, key, location, numel)`
/// in zip files, with a sixth `view_metadata` element in legacy files.
struct TorchStorageRef {
    /// The record key (`data/<key>` in a zip file; the key list of a legacy file).
    let key: String
    /// Element type of a typed storage; nil for `torch.UntypedStorage` (bytes).
    let dtype: DType?
    /// torch's element size for the storage type (1 for an untyped storage).
    let elementSize: Int
    /// Declared element count.
    let elementCount: Int
    /// Declared byte length (`elementCount × elementSize`, checked).
    let byteCount: Int
    /// Legacy storage views: the byte range of the root storage this storage covers.
    let viewByteOffset: Int
    let viewByteCount: Int

    /// Parses a persistent id. `legacy` files have the sixth `view_metadata` element.
    init(persistentID pid: PickleValue, legacy: Bool) throws {
        guard case .tuple(let tuple) = pid else {
            throw FormatError(.invalidHeader("persistent id is \(pid.aTypeName), expected a tuple"))
        }
        let items = tuple.items
        guard let tag = items.first, tag.textOrASCIIBytes == "storage" else {
            throw FormatError(.refused("persistent id \(items.first?.textOrASCIIBytes.map { "'\($0)'" } ?? "()")"
                + " is not a storage: only storages may be loaded by reference"))
        }
        let expected = legacy ? 6 : 5
        guard items.count == expected else {
            throw FormatError(.invalidHeader("storage persistent id has \(items.count) elements, expected \(expected)"))
        }
        guard case .global(let storageType) = items[1] else {
            throw FormatError(.invalidHeader("storage type is \(items[1].aTypeName), expected a storage class"))
        }
        switch storageType {
        case .untypedStorage:
            dtype = nil
            elementSize = 1
        case .typedStorage(let className):
            let base = className.split(separator: ".").last.map(String.init) ?? className
            guard let type = DType(torchStorageClass: base), let size = type.elementSize else {
                throw FormatError(.unsupportedDType(className, reason: "connkit's dtype vocabulary has no equivalent"))
            }
            dtype = type
            elementSize = size
        default:
            throw FormatError(.invalidHeader("'\(storageType.qualifiedName)' is not a storage class"))
        }
        guard let key = items[2].textOrASCIIBytes else {
            throw FormatError(.invalidHeader("storage key is \(items[2].aTypeName), expected a string"))
        }
        self.key = key
        // items[3] is the device the storage lived on ('cpu', 'cuda:0'): its bytes are in the file either way.
        guard let count = items[4].intValue, count >= 0 else {
            throw FormatError(.invalidHeader("storage '\(key)' has element count \(items[4].displayText), expected an integer from 0 to \(Int.max)"))
        }
        guard let bytes = Checked.multiply(count, elementSize) else {
            throw FormatError(.overflow(what: "the byte length of storage '\(key)' (\(count) elements of \(elementSize) bytes)"))
        }
        elementCount = count
        byteCount = bytes
        var viewOffset = 0, viewCount = bytes
        if legacy, case .tuple(let view) = items[5] {
            // (view_key, offset, size) in elements of the storage type; torch has not written views since
            // 0.4, but their reading rule is simple: a sub-range of the root storage.
            guard view.items.count == 3, let offset = view.items[1].intValue, let size = view.items[2].intValue,
                  offset >= 0, size >= 0 else {
                throw FormatError(.invalidHeader("storage '\(key)' has malformed view metadata"))
            }
            guard let offsetBytes = Checked.multiply(offset, elementSize),
                  let sizeBytes = Checked.multiply(size, elementSize),
                  let end = Checked.add(offsetBytes, sizeBytes) else {
                throw FormatError(.overflow(what: "the view range of storage '\(key)'"))
            }
            guard end <= bytes else {
                throw FormatError(.truncated(what: "view of storage '\(key)'", needed: end, available: bytes))
            }
            viewOffset = offsetBytes
            viewCount = sizeBytes
        } else if legacy, case .none = items[5] {
            // No view: the whole storage.
        } else if legacy {
            throw FormatError(.invalidHeader("storage '\(key)' view metadata is \(items[5].aTypeName)"))
        }
        viewByteOffset = viewOffset
        viewByteCount = viewCount
    }
}

/// A tensor rebuilt from a pickle: a strided view of one storage, checked against it when built. Nothing
/// is read until its bytes are needed.
struct TorchTensorRef {
    static let maxDimensions = 64

    let storage: TorchStorageRef
    let dtype: DType
    /// torch's element size for `dtype` (1 for float4_e2m1fn_x2, which holds two f4 values).
    let elementSize: Int
    /// torch's sizes and strides (in elements), outermost first.
    let sizes: [Int]
    let strides: [Int]
    /// The storage offset (given in elements of `dtype`) in bytes: at most the storage's byte length, for
    /// every view (empty ones too).
    let offsetBytes: Int
    /// Bytes from the first element to just past the last one the view can reach (0 for an empty view):
    /// `offsetBytes + extentBytes` never passes the end of the storage.
    let extentBytes: Int
    /// Bytes of the view's elements in row-major order (`elements × elementSize`).
    let logicalBytes: Int

    /// Checks the view against its storage, as torch's `set_` does for a non-empty view (the last element
    /// it can reach lies inside the storage) and, stricter than torch, for an empty one too (its offset lies
    /// inside the storage or at its end): no later arithmetic on the offset can overflow or leave the
    /// storage. Every size, stride and offset is a non-negative `Int` here; all arithmetic is checked.
    init(storage: TorchStorageRef, dtype: DType, elementSize: Int, storageOffset offset: Int, sizes: [Int],
         strides: [Int]) throws {
        guard sizes.count == strides.count else {
            throw FormatError(.invalidShape("\(sizes.count) sizes but \(strides.count) strides"))
        }
        guard sizes.count <= TorchTensorRef.maxDimensions else {
            throw FormatError(.tooManyDimensions(count: sizes.count, limit: TorchTensorRef.maxDimensions))
        }
        guard let elements = Checked.product(sizes), let logicalBytes = Checked.multiply(elements, elementSize) else {
            throw FormatError(.overflow(what: "the element count of shape \(sizes)"))
        }
        if dtype == .f4, let last = sizes.last, Checked.multiply(last, 2) == nil {
            throw FormatError(.overflow(what: "the f4 element count of shape \(sizes)"))
        }
        guard let offsetBytes = Checked.multiply(offset, elementSize) else {
            throw FormatError(.overflow(what: "the byte offset of storage offset \(offset) (\(elementSize)-byte elements)"))
        }
        // Only for messages: built when an error is thrown, not for every tensor.
        var view: String { "a view with sizes \(sizes), strides \(strides) and offset \(offset)" }
        var extentBytes = 0
        if elements > 0 {
            // The storage must hold the last element the view can reach.
            var lastIndex = offset
            for (size, stride) in zip(sizes, strides) {
                guard let step = Checked.multiply(size - 1, stride), let next = Checked.add(lastIndex, step) else {
                    throw FormatError(.overflow(what: "the extent of \(view)"))
                }
                lastIndex = next
            }
            guard let endElement = Checked.add(lastIndex, 1), let endByte = Checked.multiply(endElement, elementSize) else {
                throw FormatError(.overflow(what: "the byte extent of \(view)"))
            }
            guard endByte <= storage.viewByteCount else {
                throw FormatError(.truncated(what: "storage '\(storage.key)' for \(view)", needed: endByte,
                                             available: storage.viewByteCount))
            }
            extentBytes = endByte - offsetBytes
        } else if offsetBytes > storage.viewByteCount {
            throw FormatError(.truncated(what: "storage '\(storage.key)' for the empty \(view.dropFirst(2))",
                                         needed: offsetBytes, available: storage.viewByteCount))
        }
        self.storage = storage
        self.dtype = dtype
        self.elementSize = elementSize
        self.sizes = sizes
        self.strides = strides
        self.offsetBytes = offsetBytes
        self.extentBytes = extentBytes
        self.logicalBytes = logicalBytes
    }

    /// A storage saved on its own: its elements as a 1-D tensor (bytes for an untyped storage).
    init(wholeStorage storage: TorchStorageRef) throws {
        try self.init(storage: storage, dtype: storage.dtype ?? .u8, elementSize: storage.elementSize, storageOffset: 0,
                      sizes: [storage.viewByteCount / storage.elementSize], strides: [1])
    }

    /// The row-major shape connkit reports (f4: torch's last size counts pairs of values).
    var logicalShape: [Int] {
        guard dtype == .f4, let last = sizes.last else { return sizes }
        return sizes.dropLast() + [last * 2]
    }
}

extension PickleValue {
    /// A string, or bytes holding ASCII text (Python 2 pickles store storage tags and keys as bytes).
    var textOrASCIIBytes: String? {
        switch self {
        case .string(let text): return text
        case .bytes(let bytes) where bytes.allSatisfy({ $0 < 0x80 }):
            return String(decoding: bytes, as: UTF8.self)
        default: return nil
        }
    }

    /// Short text for messages.
    var displayText: String {
        switch self {
        case .int(let value): String(value)
        case .string(let text): "'\(text)'"
        case .bool(let flag): flag ? "True" : "False"
        case .float(let value): String(value)
        case .bigInt(let digits): TorchStateTree.bigIntText(digits)
        default: aTypeName
        }
    }

    /// The type with its article, for messages: "an int", "a tuple", "None".
    var aTypeName: String {
        if case .none = self { return "None" }
        let name = typeName
        return (name.first.map { "aeiouAEIOU".contains($0) } == true ? "an " : "a ") + name
    }
}
