/// An ONNX model to write, as plain values: the graph's nodes, inputs and outputs, small constant tensors
/// held in memory, and the initializers as lazy producers (`OutputTensor`) that stream their bytes from
/// wherever they come from (a mapped checkpoint, a cast, a dequantization) only when the writer reaches
/// them. `ONNXWriter` turns it into protobuf-c messages and files.
public struct ONNXModelDescription {
    /// `ModelProto.ir_version`; `ONNXModelDescription.irVersion(opset:)` gives the one onnx pairs with an opset.
    public var irVersion: Int
    /// The version of the default (`ai.onnx`) operator set, the only one imported.
    public var opset: Int
    public var producerName: String
    public var producerVersion: String
    public var graphName: String
    /// `ModelProto.metadata_props`, in this order.
    public var metadata: [(key: String, value: String)]
    public var inputs: [ONNXValueInfo]
    public var outputs: [ONNXValueInfo]
    /// In execution order (ONNX requires a topologically sorted graph).
    public var nodes: [ONNXNode]
    /// Written in this order.
    public var initializers: [OutputTensor]

    public init(irVersion: Int, opset: Int, producerName: String, producerVersion: String, graphName: String,
                metadata: [(key: String, value: String)], inputs: [ONNXValueInfo], outputs: [ONNXValueInfo],
                nodes: [ONNXNode], initializers: [OutputTensor]) {
        self.irVersion = irVersion
        self.opset = opset
        self.producerName = producerName
        self.producerVersion = producerVersion
        self.graphName = graphName
        self.metadata = metadata
        self.inputs = inputs
        self.outputs = outputs
        self.nodes = nodes
        self.initializers = initializers
    }

    /// The IR version onnx's release table pairs with a default-domain opset (`onnx.helper.VERSION_TABLE`):
    /// the lowest IR version that may carry it.
    public static func irVersion(opset: Int) -> Int {
        switch opset {
        case ...18: 8
        case 19 ... 20: 9
        case 21 ... 22: 10
        case 23: 11
        case 24: 12
        case 25 ... 27: 13
        default: 14
        }
    }
}

/// A graph input or output: a tensor of `elementType` with fixed and symbolic dimensions.
public struct ONNXValueInfo: Sendable, Equatable {
    public enum Dimension: Sendable, Equatable {
        case fixed(Int)
        case symbolic(String)
    }

    public var name: String
    public var elementType: DType
    public var shape: [Dimension]

    public init(name: String, elementType: DType, shape: [Dimension]) {
        self.name = name
        self.elementType = elementType
        self.shape = shape
    }
}

/// One node of the graph (default domain).
public struct ONNXNode: Sendable, Equatable {
    public var name: String
    public var opType: String
    /// Value names; an empty string is an omitted optional input.
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [ONNXAttribute]

    public init(name: String, opType: String, inputs: [String], outputs: [String], attributes: [ONNXAttribute] = []) {
        self.name = name
        self.opType = opType
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
    }
}

public struct ONNXAttribute: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case int(Int)
        case float(Float)
        case string(String)
        case ints([Int])
        case floats([Float])
        case tensor(ONNXConstantTensor)
    }

    public var name: String
    public var value: Value

    public init(_ name: String, _ value: Value) {
        self.name = name
        self.value = value
    }
}

/// A small tensor held in memory (a `Constant` node's value): little-endian, row-major bytes.
public struct ONNXConstantTensor: Sendable, Hashable {
    public var dtype: DType
    public var shape: [Int]
    public var bytes: [UInt8]

    /// Refuses bytes that are not exactly the shape's size in `dtype`.
    public init(dtype: DType, shape: [Int], bytes: [UInt8]) throws {
        let (_, count) = try Checked.byteCount(shape: shape, dtype: dtype)
        guard count == bytes.count else { throw FormatError(.sizeMismatch(expected: count, found: bytes.count)) }
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    public init(int64 values: [Int], shape: [Int]? = nil) {
        dtype = .i64
        self.shape = shape ?? [values.count]
        bytes = values.flatMap { value in withUnsafeBytes(of: Int64(value).littleEndian, Array.init) }
    }

    /// `values` as f32, or rounded to f16 (nearest even).
    public init(floats values: [Float], shape: [Int], dtype: DType) {
        precondition(dtype == .f32 || dtype == .f16, "constant floats are f32 or f16")
        self.dtype = dtype
        self.shape = shape
        var out = [UInt8](repeating: 0, count: values.count * dtype.layout.blockBytes)
        guard !values.isEmpty else {
            bytes = out
            return
        }
        values.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBytes { Cast.fromFloat32(source.baseAddress!, count: values.count, to: dtype, into: $0.baseAddress!) }
        }
        bytes = out
    }
}
