import CONNXProto
import CProtobufC
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds protobuf-c messages (the generated `Onnx__*` structs) from an `ONNXModelDescription`. Every
/// string, array and sub-message a message points to is allocated in the builder and freed with it, so a
/// built message is valid while its builder lives.
///
/// Two kinds of `ModelProto` are built, and `ONNXWriter` concatenates their serializations: protobuf merges
/// a message field that occurs several times (repeated fields are appended), so the header — graph name,
/// nodes, inputs, outputs, opset, producer, metadata — followed by one `ModelProto { graph { initializer } }`
/// per initializer parses as one model, and no more than one initializer is ever packed at a time.
final class ONNXMessageBuilder {
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit {
        for block in blocks { free(block) }
    }

    // MARK: - Memory

    private func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let bytes = max(1, count) * MemoryLayout<T>.stride
        guard let raw = malloc(bytes) else { fatalError("out of memory building an ONNX message") }
        blocks.append(raw)
        return raw.bindMemory(to: T.self, capacity: max(1, count))
    }

    /// A C string; names with a NUL byte are refused earlier (`checkedName`).
    func string(_ text: String) -> UnsafeMutablePointer<CChar> {
        let utf8 = Array(text.utf8)
        let pointer = allocate(CChar.self, count: utf8.count + 1)
        for (index, byte) in utf8.enumerated() { pointer[index] = CChar(bitPattern: byte) }
        pointer[utf8.count] = 0
        return pointer
    }

    /// A C array of `values` (nil when empty, as protobuf-c leaves absent repeated fields).
    private func array<T>(_ values: [T]) -> UnsafeMutablePointer<T>? {
        guard !values.isEmpty else { return nil }
        let pointer = allocate(T.self, count: values.count)
        pointer.initialize(from: values, count: values.count)
        return pointer
    }

    /// A repeated message field: its count and its array of pointers.
    private func list<T>(_ messages: [UnsafeMutablePointer<T>]) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<T>?>?) {
        (messages.count, array(messages.map { Optional($0) }))
    }

    /// A repeated string field.
    private func list(_ strings: [UnsafeMutablePointer<CChar>]) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) {
        (strings.count, array(strings.map { Optional($0) }))
    }

    private func message<T>(_ initialize: (UnsafeMutablePointer<T>) -> Void) -> UnsafeMutablePointer<T> {
        let pointer = allocate(T.self, count: 1)
        initialize(pointer)
        return pointer
    }

    private func bytes(_ values: [UInt8]) -> ProtobufCBinaryData {
        ProtobufCBinaryData(len: values.count, data: array(values))
    }

    /// A name protobuf-c can carry (it writes strings up to their first NUL).
    static func checkedName(_ name: String, what: String) throws -> String {
        guard !name.utf8.contains(0) else {
            throw FormatError(.refused("\(what) '\(name)' contains a NUL byte, which an ONNX name cannot hold"))
        }
        return name
    }

    // MARK: - Messages

    func tensor(name: String, dtype: DType, shape: [Int], raw: ProtobufCBinaryData,
                external: [(key: String, value: String)] = []) throws -> UnsafeMutablePointer<Onnx__TensorProto> {
        guard let code = ONNXDataType.code(of: dtype) else {
            throw FormatError(.unsupportedDType(dtype.rawValue, reason: "ONNX has no such element type"), at: .tensor(name))
        }
        let name = try Self.checkedName(name, what: "tensor")
        return message { (tensor: UnsafeMutablePointer<Onnx__TensorProto>) in
            onnx__tensor_proto__init(tensor)
            tensor.pointee.name = string(name)
            tensor.pointee.data_type = code
            tensor.pointee.n_dims = shape.count
            tensor.pointee.dims = array(shape.map(Int64.init))
            if external.isEmpty {
                tensor.pointee.raw_data = raw
            } else {
                tensor.pointee.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL
                (tensor.pointee.n_external_data, tensor.pointee.external_data) = list(external.map { entryMessage($0.key, $0.value) })
            }
        }
    }

    private func entryMessage(_ key: String, _ value: String) -> UnsafeMutablePointer<Onnx__StringStringEntryProto> {
        message { (entry: UnsafeMutablePointer<Onnx__StringStringEntryProto>) in
            onnx__string_string_entry_proto__init(entry)
            entry.pointee.key = string(key)
            entry.pointee.value = string(value)
        }
    }

    private func valueInfo(_ info: ONNXValueInfo) throws -> UnsafeMutablePointer<Onnx__ValueInfoProto> {
        guard let code = ONNXDataType.code(of: info.elementType) else {
            throw FormatError(.unsupportedDType(info.elementType.rawValue, reason: "ONNX has no such element type"))
        }
        let dimensions = info.shape.map { dimension in
            message { (dim: UnsafeMutablePointer<Onnx__TensorShapeProto__Dimension>) in
                onnx__tensor_shape_proto__dimension__init(dim)
                switch dimension {
                case .fixed(let value):
                    dim.pointee.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                    dim.pointee.dim_value = Int64(value)
                case .symbolic(let name):
                    dim.pointee.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
                    dim.pointee.dim_param = string(name)
                }
            }
        }
        let shape = message { (shape: UnsafeMutablePointer<Onnx__TensorShapeProto>) in
            onnx__tensor_shape_proto__init(shape)
            (shape.pointee.n_dim, shape.pointee.dim) = list(dimensions)
        }
        let tensorType = message { (type: UnsafeMutablePointer<Onnx__TypeProto__Tensor>) in
            onnx__type_proto__tensor__init(type)
            type.pointee.elem_type = code
            type.pointee.shape = shape
        }
        let type = message { (type: UnsafeMutablePointer<Onnx__TypeProto>) in
            onnx__type_proto__init(type)
            type.pointee.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE
            type.pointee.tensor_type = tensorType
        }
        let name = try Self.checkedName(info.name, what: "graph value")
        return message { (value: UnsafeMutablePointer<Onnx__ValueInfoProto>) in
            onnx__value_info_proto__init(value)
            value.pointee.name = string(name)
            value.pointee.type = type
        }
    }

    private func attribute(_ attribute: ONNXAttribute) throws -> UnsafeMutablePointer<Onnx__AttributeProto> {
        var constant: UnsafeMutablePointer<Onnx__TensorProto>?
        if case .tensor(let value) = attribute.value {
            constant = try tensor(name: "", dtype: value.dtype, shape: value.shape, raw: bytes(value.bytes))
        }
        return message { (proto: UnsafeMutablePointer<Onnx__AttributeProto>) in
            onnx__attribute_proto__init(proto)
            proto.pointee.name = string(attribute.name)
            switch attribute.value {
            case .int(let value):
                proto.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT
                proto.pointee.i = Int64(value)
            case .float(let value):
                proto.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT
                proto.pointee.f = value
            case .string(let value):
                proto.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING
                proto.pointee.s = bytes(Array(value.utf8))
            case .ints(let values):
                proto.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS
                proto.pointee.n_ints = values.count
                proto.pointee.ints = array(values.map(Int64.init))
            case .floats(let values):
                proto.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS
                proto.pointee.n_floats = values.count
                proto.pointee.floats = array(values)
            case .tensor:
                proto.pointee.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR
                proto.pointee.t = constant
            }
        }
    }

    private func node(_ node: ONNXNode) throws -> UnsafeMutablePointer<Onnx__NodeProto> {
        let attributes = try node.attributes.map(attribute)
        let inputs = try node.inputs.map { string(try Self.checkedName($0, what: "graph value")) }
        let outputs = try node.outputs.map { string(try Self.checkedName($0, what: "graph value")) }
        let name = try Self.checkedName(node.name, what: "node")
        return message { (proto: UnsafeMutablePointer<Onnx__NodeProto>) in
            onnx__node_proto__init(proto)
            proto.pointee.name = string(name)
            proto.pointee.op_type = string(node.opType)
            (proto.pointee.n_input, proto.pointee.input) = list(inputs)
            (proto.pointee.n_output, proto.pointee.output) = list(outputs)
            (proto.pointee.n_attribute, proto.pointee.attribute) = list(attributes)
        }
    }

    /// The model without initializers: producer, opset, metadata and the graph's structure.
    func header(_ model: ONNXModelDescription) throws -> UnsafeMutablePointer<Onnx__ModelProto> {
        let nodes = try model.nodes.map(node)
        let inputs = try model.inputs.map(valueInfo)
        let outputs = try model.outputs.map(valueInfo)
        let graph = message { (graph: UnsafeMutablePointer<Onnx__GraphProto>) in
            onnx__graph_proto__init(graph)
            graph.pointee.name = string(model.graphName)
            (graph.pointee.n_node, graph.pointee.node) = list(nodes)
            (graph.pointee.n_input, graph.pointee.input) = list(inputs)
            (graph.pointee.n_output, graph.pointee.output) = list(outputs)
        }
        let opset = message { (opset: UnsafeMutablePointer<Onnx__OperatorSetIdProto>) in
            onnx__operator_set_id_proto__init(opset)
            opset.pointee.domain = string("")
            opset.pointee.version = Int64(model.opset)
        }
        let metadata = model.metadata.map { entryMessage($0.key, $0.value) }
        return message { (proto: UnsafeMutablePointer<Onnx__ModelProto>) in
            onnx__model_proto__init(proto)
            proto.pointee.ir_version = Int64(model.irVersion)
            proto.pointee.producer_name = string(model.producerName)
            proto.pointee.producer_version = string(model.producerVersion)
            proto.pointee.graph = graph
            (proto.pointee.n_opset_import, proto.pointee.opset_import) = list([opset])
            (proto.pointee.n_metadata_props, proto.pointee.metadata_props) = list(metadata)
        }
    }

    /// `ModelProto { graph { initializer: [tensor] } }`: one initializer, merged into the model by the
    /// parser. When the tensor carries `raw_data`, its bytes are the last field of the serialization
    /// (fields are packed in number order and nothing after `raw_data` is set here), which lets the
    /// writer stream them instead of packing them.
    func initializerChunk(_ tensor: UnsafeMutablePointer<Onnx__TensorProto>) -> UnsafeMutablePointer<Onnx__ModelProto> {
        let graph = message { (graph: UnsafeMutablePointer<Onnx__GraphProto>) in
            onnx__graph_proto__init(graph)
            (graph.pointee.n_initializer, graph.pointee.initializer) = list([tensor])
        }
        return message { (proto: UnsafeMutablePointer<Onnx__ModelProto>) in
            onnx__model_proto__init(proto)
            proto.pointee.graph = graph
        }
    }

    /// The serialization of `model` (flat: protobuf-c sizes every sub-message first and packs in place).
    static func packed(_ model: UnsafeMutablePointer<Onnx__ModelProto>) -> [UInt8] {
        ONNXPacking.packedBytes(UnsafeRawPointer(model).assumingMemoryBound(to: ProtobufCMessage.self))
    }
}
