import CONNXProto
import CProtobufC

/// Bytes held by the unpacked model: a `raw_data` copy, or a typed field whose array already is the
/// tensor's little-endian layout (`float_data` of a float or complex64 tensor, `int64_data`, `double_data`,
/// `uint64_data` of a uint64 tensor, `int32_data` of an int32 tensor). Zero-copy.
struct ONNXHeldTensorData: TensorData, @unchecked Sendable {
    /// Keeps the memory alive.
    let message: ONNXModelMessage
    let base: UnsafeRawPointer?
    let count: Int

    var fileRegion: FileRegion? { nil }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try body(UnsafeRawBufferPointer(start: count == 0 ? nil : base, count: count))
    }
}

/// A typed field whose entries are wider than the tensor's elements (`int32_data` of 8- and 16-bit types
/// and bool, two 4-bit floats per entry; `uint64_data` of a uint32 tensor): the low bits of each entry,
/// gathered for the call. The reader has checked every entry's range.
struct ONNXNarrowedTensorData: MaterializedTensorData, @unchecked Sendable {
    enum Source {
        case int32(UnsafePointer<Int32>)
        case uint64(UnsafePointer<UInt64>)
    }

    let message: ONNXModelMessage
    let source: Source
    let entries: Int
    /// Bytes kept from each entry: 1, 2 or 4.
    let width: Int

    var byteCount: Int { entries * width }
    var materializedWhat: String { "a narrowed ONNX tensor field" }

    func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        for index in 0..<entries {
            let value: UInt64 = switch source {
            case .int32(let pointer): UInt64(UInt32(bitPattern: pointer[index]))
            case .uint64(let pointer): pointer[index]
            }
            switch width {
            case 1: buffer.storeBytes(of: UInt8(truncatingIfNeeded: value), toByteOffset: index, as: UInt8.self)
            case 2: buffer.storeBytes(of: UInt16(truncatingIfNeeded: value).littleEndian, toByteOffset: index * 2, as: UInt16.self)
            default: buffer.storeBytes(of: UInt32(truncatingIfNeeded: value).littleEndian, toByteOffset: index * 4, as: UInt32.self)
            }
        }
    }
}

/// Turns a `TensorProto` into a connkit tensor: dtype, shape, and where its bytes are.
struct ONNXTensorBuilder {
    let message: ONNXModelMessage
    let external: ONNXExternalData

    static let maxDimensions = 64

    func tensor(_ proto: UnsafeMutablePointer<Onnx__TensorProto>, name: String) throws -> Tensor {
        do {
            return try build(proto.pointee, name: name)
        } catch let error as FormatError {
            throw error.at(.tensor(name))
        }
    }

    private func build(_ proto: Onnx__TensorProto, name: String) throws -> Tensor {
        let info = try Self.info(proto, name: name)
        guard proto.segment == nil else {
            throw FormatError(.refused("segmented tensors (TensorProto.segment) are not read"))
        }
        if proto.n_string_data > 0 {
            throw FormatError(.invalidHeader("string_data holds values but the data type is \(ONNXDataType.name(proto.data_type))"))
        }
        switch proto.data_location {
        case ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL:
            let inline = typedCounts(proto).filter { $0.count > 0 }.map(\.field.rawValue) + (proto.raw_data.len > 0 ? ["raw_data"] : [])
            guard inline.isEmpty else {
                throw FormatError(.invalidHeader("data_location is EXTERNAL but \(inline.joined(separator: " and ")) also hold data"))
            }
            let (data, path) = try external.data(ONNXFields.messages(proto.external_data, proto.n_external_data), info: info)
            return Tensor(info: info, data: data, file: path)
        case ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT:
            guard proto.n_external_data == 0 else {
                throw FormatError(.invalidHeader("external_data is set but data_location is not EXTERNAL"))
            }
        default:
            throw FormatError(.invalidHeader("data_location \(proto.data_location.rawValue) is neither DEFAULT nor EXTERNAL"))
        }
        let typed = typedCounts(proto).filter { $0.count > 0 }
        if proto.raw_data.len > 0 {
            if let other = typed.first {
                throw FormatError(.invalidHeader("both raw_data and \(other.field.rawValue) hold data"))
            }
            guard proto.raw_data.len == info.byteCount else {
                throw FormatError(.sizeMismatch(expected: info.byteCount, found: proto.raw_data.len))
            }
            return Tensor(info: info, data: ONNXHeldTensorData(message: message, base: UnsafeRawPointer(proto.raw_data.data),
                                                               count: info.byteCount))
        }
        guard let (field, count) = typed.first else {
            guard info.byteCount == 0 else { throw FormatError(.sizeMismatch(expected: info.byteCount, found: 0)) }
            return Tensor(info: info, data: ONNXHeldTensorData(message: message, base: nil, count: 0))
        }
        if typed.count > 1 {
            throw FormatError(.invalidHeader("both \(typed[0].field.rawValue) and \(typed[1].field.rawValue) hold data"))
        }
        return Tensor(info: info, data: try typedData(proto, info: info, field: field, count: count))
    }

    /// Name, dtype and shape, checked.
    static func info(_ proto: Onnx__TensorProto, name: String) throws -> TensorInfo {
        let dtype: DType
        switch ONNXDataType.mapping(proto.data_type) {
        case .dtype(let mapped): dtype = mapped
        case .refused(let reason): throw FormatError(.unsupportedDType(ONNXDataType.name(proto.data_type), reason: reason))
        case nil: throw FormatError(.unknownDType(ONNXDataType.name(proto.data_type)))
        }
        guard proto.n_dims <= maxDimensions else {
            throw FormatError(.tooManyDimensions(count: proto.n_dims, limit: maxDimensions))
        }
        let shape = try ONNXFields.array(proto.dims, proto.n_dims).enumerated().map { axis, dim in
            guard dim >= 0 else { throw FormatError(.invalidShape("dimension \(axis) is \(dim)")) }
            return Int(dim)
        }
        return try TensorInfo(name: name, dtype: dtype, shape: shape)
    }

    private func typedCounts(_ proto: Onnx__TensorProto) -> [(field: ONNXDataType.TypedField, count: Int)] {
        [(.floatData, proto.n_float_data), (.int32Data, proto.n_int32_data), (.int64Data, proto.n_int64_data),
         (.doubleData, proto.n_double_data), (.uint64Data, proto.n_uint64_data)]
    }

    private func typedData(_ proto: Onnx__TensorProto, info: TensorInfo, field: ONNXDataType.TypedField,
                           count: Int) throws -> any TensorData {
        let dtype = info.dtype
        let expectedField = ONNXDataType.typedField(for: dtype)
        guard field == expectedField else {
            throw FormatError(.invalidHeader(
                "\(field.rawValue) holds data but a \(ONNXDataType.name(proto.data_type)) tensor is stored in \(expectedField.rawValue)"))
        }
        // Bytes one entry becomes in the tensor.
        let width = switch dtype {
        case .c64: 4
        case .f4: 1
        default: dtype.elementSize!
        }
        let needed = ONNXDataType.typedEntries(dtype: dtype, elements: info.elementCount) ?? -1
        guard count == needed else {
            throw FormatError(.sizeMismatch(expected: info.byteCount, found: count &* width))
        }
        func held(_ pointer: UnsafeRawPointer?) -> ONNXHeldTensorData {
            ONNXHeldTensorData(message: message, base: pointer, count: info.byteCount)
        }
        switch field {
        case .floatData: return held(proto.float_data)
        case .doubleData: return held(proto.double_data)
        case .int64Data: return held(proto.int64_data)
        case .uint64Data:
            if dtype == .u64 { return held(proto.uint64_data) }
            let values = ONNXFields.array(proto.uint64_data, count)
            if let index = values.firstIndex(where: { $0 > UInt64(UInt32.max) }) {
                throw FormatError(.invalidHeader("uint64_data[\(index)] = \(values[index]) does not fit UINT32"))
            }
            return ONNXNarrowedTensorData(message: message, source: .uint64(proto.uint64_data), entries: count, width: 4)
        case .int32Data:
            if dtype == .i32 { return held(proto.int32_data) }
            let range: ClosedRange<Int32> = switch width {
            case 1 where dtype == .bool: 0...1
            case 1: -128...255
            default: -32768...65535
            }
            let values = ONNXFields.array(proto.int32_data, count)
            if let index = values.firstIndex(where: { !range.contains($0) }) {
                throw FormatError(.invalidHeader(
                    "int32_data[\(index)] = \(values[index]) does not fit \(ONNXDataType.name(proto.data_type))"))
            }
            return ONNXNarrowedTensorData(message: message, source: .int32(proto.int32_data), entries: count, width: width)
        case .stringData:
            throw FormatError(.invalidHeader("string_data cannot hold a \(dtype.rawValue) tensor"))
        }
    }
}
