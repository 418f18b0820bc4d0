import CONNXProto
import CProtobufC

/// The tensors of `Constant` nodes, named by the node's output.
enum ONNXConstants {
    static func tensor(_ node: UnsafeMutablePointer<Onnx__NodeProto>, index: Int, builder: ONNXTensorBuilder) throws -> Tensor {
        let place = "graph.node[\(index)]"
        let outputs = ONNXFields.array(node.pointee.output, node.pointee.n_output)
        guard outputs.count == 1, let output = outputs.first,
              case let name = try ONNXFields.text(output, field: place + ".output"), !name.isEmpty else {
            throw FormatError(.invalidHeader("a Constant node needs one named output"), at: .field(place + ".output"))
        }
        let attributes = ONNXFields.messages(node.pointee.attribute, node.pointee.n_attribute)
        guard attributes.count == 1, let attribute = attributes.first else {
            throw FormatError(.invalidHeader("a Constant node needs exactly one attribute, found \(attributes.count)"),
                              at: .tensor(name))
        }
        let kind = try ONNXFields.text(attribute.pointee.name, field: place + ".attribute.name")
        let message = builder.message
        func scalarField<T>(_ key: KeyPath<Onnx__AttributeProto, T>) -> UnsafeRawPointer {
            UnsafeRawPointer(attribute) + MemoryLayout<Onnx__AttributeProto>.offset(of: key)!
        }
        do {
            switch kind {
            case "value":
                guard let proto = attribute.pointee.t else {
                    throw FormatError(.invalidHeader("a Constant's value attribute holds no tensor (AttributeProto.t)"))
                }
                return try builder.tensor(proto, name: name)
            case "value_float":
                let info = try TensorInfo(name: name, dtype: .f32, shape: [])
                return Tensor(info: info, data: ONNXHeldTensorData(message: message, base: scalarField(\.f), count: 4))
            case "value_int":
                let info = try TensorInfo(name: name, dtype: .i64, shape: [])
                return Tensor(info: info, data: ONNXHeldTensorData(message: message, base: scalarField(\.i), count: 8))
            case "value_floats":
                let info = try TensorInfo(name: name, dtype: .f32, shape: [attribute.pointee.n_floats])
                return Tensor(info: info, data: ONNXHeldTensorData(message: message, base: attribute.pointee.floats,
                                                                   count: info.byteCount))
            case "value_ints":
                let info = try TensorInfo(name: name, dtype: .i64, shape: [attribute.pointee.n_ints])
                return Tensor(info: info, data: ONNXHeldTensorData(message: message, base: attribute.pointee.ints,
                                                                   count: info.byteCount))
            case "value_string", "value_strings":
                throw FormatError(.unsupportedDType("STRING", reason: "string tensors are not weights"))
            case "sparse_value":
                throw FormatError(.refused("sparse Constant values are not read"))
            default:
                throw FormatError(.invalidHeader("a Constant node has no attribute '\(kind)'"))
            }
        } catch let error as FormatError {
            throw error.at(.tensor(name))
        }
    }
}

/// The model's metadata entries and the notes about its graph.
enum ONNXMetadata {
    static func entries(_ model: Onnx__ModelProto, graph: Onnx__GraphProto) throws -> [MetadataEntry] {
        var entries: [MetadataEntry] = [MetadataEntry("onnx.ir_version", .int64(model.ir_version))]
        func text(_ key: String, _ pointer: UnsafePointer<CChar>?, field: String) throws {
            let value = try ONNXFields.text(pointer, field: field)
            if !value.isEmpty { entries.append(MetadataEntry(key, .string(value))) }
        }
        try text("onnx.producer_name", model.producer_name, field: "producer_name")
        try text("onnx.producer_version", model.producer_version, field: "producer_version")
        try text("onnx.domain", model.domain, field: "domain")
        if model.model_version != 0 { entries.append(MetadataEntry("onnx.model_version", .int64(model.model_version))) }
        try text("onnx.doc_string", model.doc_string, field: "doc_string")
        try text("onnx.graph_name", graph.name, field: "graph.name")
        for opset in ONNXFields.messages(model.opset_import, model.n_opset_import) {
            let domain = try ONNXFields.text(opset.pointee.domain, field: "opset_import.domain")
            entries.append(MetadataEntry("onnx.opset." + (domain.isEmpty ? "ai.onnx" : domain), .int64(opset.pointee.version)))
        }
        for property in ONNXFields.messages(model.metadata_props, model.n_metadata_props) {
            let key = try ONNXFields.text(property.pointee.key, field: "metadata_props.key")
            entries.append(MetadataEntry(key, .string(try ONNXFields.text(property.pointee.value, field: "metadata_props.value"))))
        }
        var keys = Set<[UInt8]>()
        for entry in entries where !keys.insert(Array(entry.key.utf8)).inserted {
            throw FormatError(.duplicateName(entry.key), at: .key(entry.key))
        }
        return entries
    }

    /// `graph: 7 nodes (MatMul 2, Add 2, Constant 2, Gelu 1)` — most frequent first.
    static func nodeNote(_ opTypes: [String: Int], count: Int) -> String {
        guard count > 0 else { return "graph: no nodes" }
        let counts = opTypes.sorted { ($0.value, $1.key) > ($1.value, $0.key) }
            .map { "\($0.key.isEmpty ? "(no op type)" : $0.key) \($0.value)" }
        return "graph: \(count) node\(count == 1 ? "" : "s") (\(counts.joined(separator: ", "))), not interpreted"
    }

    /// Fields of the model and its graph that this subset does not declare (protobuf-c kept them as
    /// unknown fields), and subgraphs whose tensors are not read.
    static func unreadFields(_ model: Onnx__ModelProto, graph: Onnx__GraphProto) -> [String] {
        let known: [String: [UInt32: String]] = [
            "ModelProto": [20: "training_info", 25: "functions", 26: "configuration"],
            "GraphProto": [14: "quantization_annotation", 16: "metadata_props"],
        ]
        var unread: [String] = []
        for (message, base) in [("ModelProto", model.base), ("GraphProto", graph.base)] {
            let tags = Set(ONNXFields.array(base.unknown_fields, Int(base.n_unknown_fields)).map(\.tag)).sorted()
            unread += tags.map { "\(message).\(known[message]?[$0] ?? "#\($0)")" }
        }
        var notes = unread.isEmpty ? [] : ["not read: " + unread.joined(separator: ", ")]
        var subgraphs = 0
        for node in ONNXFields.messages(graph.node, graph.n_node) {
            for attribute in ONNXFields.messages(node.pointee.attribute, node.pointee.n_attribute) {
                subgraphs += (attribute.pointee.g == nil ? 0 : 1) + Int(attribute.pointee.n_graphs)
            }
        }
        if subgraphs > 0 {
            notes.append("\(subgraphs) subgraph\(subgraphs == 1 ? "" : "s") in node attributes (If/Loop/Scan bodies): not read")
        }
        return notes
    }
}
