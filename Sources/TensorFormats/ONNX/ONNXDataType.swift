import CONNXProto
import CProtobufC

/// ONNX's `TensorProto.DataType` codes and how each maps onto connkit's dtype vocabulary.
///
/// The codes and their names come from the generated protobuf-c enum (schemas/onnx-subset.proto3); this
/// file only says what connkit makes of each. Every code ONNX defines is listed: a code is either read as a
/// connkit dtype or refused with a reason, and a code ONNX does not define is unknown.
public enum ONNXDataType {
    /// What a tensor of this ONNX data type becomes in connkit.
    enum Mapping: Equatable {
        case dtype(DType)
        case refused(reason: String)
    }

    static func mapping(_ code: Int32) -> Mapping? {
        switch code {
        case 1: .dtype(.f32)
        case 2: .dtype(.u8)
        case 3: .dtype(.i8)
        case 4: .dtype(.u16)
        case 5: .dtype(.i16)
        case 6: .dtype(.i32)
        case 7: .dtype(.i64)
        case 8: .refused(reason: "string tensors are not weights")
        case 9: .dtype(.bool)
        case 10: .dtype(.f16)
        case 11: .dtype(.f64)
        case 12: .dtype(.u32)
        case 13: .dtype(.u64)
        case 14: .dtype(.c64)
        case 15: .refused(reason: "complex128 has no connkit dtype")
        case 16: .dtype(.bf16)
        case 17: .dtype(.f8_e4m3)
        case 18: .dtype(.f8_e4m3fnuz)
        case 19: .dtype(.f8_e5m2)
        case 20: .dtype(.f8_e5m2fnuz)
        case 21, 22: .refused(reason: "4-bit integers have no connkit dtype")
        // Two elements per byte, the first in the 4 least significant bits (ONNX's packing).
        case 23: .dtype(.f4)
        case 24: .dtype(.f8_e8m0)
        case 25, 26: .refused(reason: "2-bit integers have no connkit dtype")
        case 27, 28: .refused(reason: "ONNX packs 6-bit floats as an LSB-first bit stream; connkit's f6 layout is not confirmed to match it")
        default: nil
        }
    }

    /// ONNX's name for a code (`FLOAT16`), or the number when ONNX defines no such code.
    public static func name(_ code: Int32) -> String {
        // A copy of the generated descriptor: its tables are pointers to the generated arrays.
        withUnsafePointer(to: onnx__tensor_proto__data_type__descriptor) { descriptor in
            guard let value = protobuf_c_enum_descriptor_get_value(descriptor, code),
                  let name = value.pointee.name else { return "data type \(code)" }
            return String(cString: name)
        }
    }

    /// The ONNX code of a connkit dtype (nil: ONNX has no such type: f6, ggml block types).
    public static func code(of dtype: DType) -> Int32? {
        (0...Int32(64)).first { mapping($0) == .dtype(dtype) }
    }

    /// The typed repeated field of `TensorProto` that may hold a tensor of this dtype.
    static func typedField(for dtype: DType) -> TypedField {
        switch dtype {
        case .f32, .c64: .floatData
        case .f64: .doubleData
        case .i64: .int64Data
        case .u32, .u64: .uint64Data
        default: .int32Data
        }
    }

    /// How many entries of its typed field a tensor of `elements` elements has: two floats per complex64,
    /// one entry per pair of 4-bit floats (the last one alone when the count is odd), one per element
    /// otherwise.
    static func typedEntries(dtype: DType, elements: Int) -> Int? {
        switch dtype {
        case .c64: Checked.multiply(elements, 2)
        case .f4: elements / 2 + elements % 2
        default: elements
        }
    }

    enum TypedField: String, CaseIterable {
        case floatData = "float_data", int32Data = "int32_data", int64Data = "int64_data"
        case doubleData = "double_data", uint64Data = "uint64_data", stringData = "string_data"
    }
}
