import CONNXProto
import CProtobufC

/// Reads ONNX models (`.onnx`): the weights a graph carries, not the graph's computation.
///
/// Layout accepted: a serialized `onnx.ModelProto` (protobuf; the fields connkit reads are declared in
/// schemas/onnx-subset.proto3, decoded by protobuf-c). Before protobuf-c unpacks anything, `ONNXWireScan`
/// walks the bytes: every length inside its message, varints of at most 10 bytes, valid wire types that
/// match the declared fields, no NUL in strings, graphs nested in attributes at most 8 levels deep, and
/// protobuf-c's allocations estimated and capped at 2 × the file + 256 MiB.
///
/// The tensors, in this order:
/// - `graph.initializer`: each `TensorProto` named by its `name` (required, unique);
/// - the `Constant` nodes of the main graph (domain `""` or `ai.onnx`): a `value` tensor, or
///   `value_float(s)` / `value_int(s)` as f32 / i64 scalars and vectors, named by the node's output.
///
/// Element types follow `ONNXDataType` (float, float16, bfloat16, double, the integers, bool, complex64 as
/// `c64`, the float8 types with the FNUZ variants and E8M0, FLOAT4E2M1 as `f4`); string, complex128, the
/// 4- and 2-bit integers and the 6-bit floats are refused, naming the tensor. A tensor's bytes come from
/// exactly one of: `raw_data` (its length must be element count × type size), the typed field for its type
/// (`float_data` for float and complex64, `double_data`, `int64_data`, `uint64_data` for uint32/uint64,
/// `int32_data` for the rest, the count checked), or external data (`ONNXExternalData`). Typed 8- and
/// 16-bit entries may be written signed or unsigned (-128…255, -32768…65535: their low bits are kept, as
/// either reading gives the same bits); bool entries must be 0 or 1; anything else is refused. Shapes
/// have at most 64 dimensions, none negative, and their sizes use checked arithmetic.
///
/// Metadata: `onnx.ir_version`, `onnx.producer_name`, `onnx.producer_version`, `onnx.domain`,
/// `onnx.model_version`, `onnx.doc_string`, `onnx.graph_name` (those present), `onnx.opset.<domain>` per
/// operator set (`ai.onnx` for the default domain), then `metadata_props` under their own keys (a key
/// given twice is refused). Notes list the graph's nodes counted by op type (not interpreted), the
/// tensors taken from `Constant` nodes, and fields of the model and graph connkit does not read.
///
/// Refused as well: a model without a graph, unnamed or duplicate tensor names, sparse initializers
/// and sparse or string `Constant` values, segmented tensors, data in two places at once, names that are
/// not UTF-8.
///
/// Memory: protobuf-c copies `raw_data` out of the file, so embedded weights are held once in memory
/// (read zero-copy from there); the model file's pages are let go as protobuf-c copies them (every 64 MiB)
/// and after unpacking. External data files are mapped and read zero-copy.
public enum ONNXReader {
    public static func read(_ file: MappedFile) throws -> Checkpoint {
        try attributing(to: file.path) {
            // A model starts with a protobuf field tag, never with text or another format's magic.
            if let error = file.withBytes({ FileSniffer.notFormat("ONNX", $0) }) { throw error }
            let message = try ONNXModelMessage(unpacking: file)
            if file.descriptor >= 0 { file.release(offset: 0, count: file.size) }
            return try checkpoint(message, path: file.path)
        }
    }

    private static func checkpoint(_ message: ONNXModelMessage, path: String) throws -> Checkpoint {
        let model = message.model.pointee
        guard let graph = model.graph?.pointee else {
            throw FormatError(.invalidHeader("the model has no graph (ModelProto.graph)"), at: .field("graph"))
        }
        let builder = ONNXTensorBuilder(message: message, external: ONNXExternalData(modelPath: path))
        var tensors: [Tensor] = []
        var names = Set<[UInt8]>()  // compared as bytes: ONNX names are byte strings
        func add(_ tensor: Tensor) throws {
            guard names.insert(Array(tensor.name.utf8)).inserted else {
                throw FormatError(.duplicateName(tensor.name), at: .tensor(tensor.name))
            }
            tensors.append(tensor)
        }
        for (index, proto) in ONNXFields.messages(graph.initializer, graph.n_initializer).enumerated() {
            let name = try ONNXFields.text(proto.pointee.name, field: "graph.initializer[\(index)].name")
            guard !name.isEmpty else {
                throw FormatError(.invalidHeader("initializer \(index) has no name"), at: .field("graph.initializer[\(index)].name"))
            }
            try add(try builder.tensor(proto, name: name))
        }
        if let sparse = ONNXFields.messages(graph.sparse_initializer, graph.n_sparse_initializer).first {
            let name = try sparse.pointee.values.map { try ONNXFields.text($0.pointee.name, field: "graph.sparse_initializer[0].values.name") }
            throw FormatError(.refused("sparse initializers are not read"), at: name.map { .tensor($0) } ?? .field("graph.sparse_initializer"))
        }
        let nodes = ONNXFields.messages(graph.node, graph.n_node)
        var constants = 0
        var opTypes: [String: Int] = [:]
        for (index, node) in nodes.enumerated() {
            let opType = try ONNXFields.text(node.pointee.op_type, field: "graph.node[\(index)].op_type")
            opTypes[opType, default: 0] += 1
            let domain = try ONNXFields.text(node.pointee.domain, field: "graph.node[\(index)].domain")
            guard opType == "Constant", domain.isEmpty || domain == "ai.onnx" else { continue }
            try add(try ONNXConstants.tensor(node, index: index, builder: builder))
            constants += 1
        }
        let metadata = try ONNXMetadata.entries(model, graph: graph)
        var notes = [ONNXMetadata.nodeNote(opTypes, count: nodes.count)]
        if constants > 0 {
            notes.append("\(constants) tensor\(constants == 1 ? "" : "s") from Constant nodes, named by their outputs")
        }
        notes += ONNXMetadata.unreadFields(model, graph: graph)
        return Checkpoint(path: path, format: .onnx, metadata: metadata, tensors: tensors, notes: notes)
    }
}
