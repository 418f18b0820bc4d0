import ConnectorRuntime
import TensorFormats

/// One value of the exported graph: its ONNX name, element type and what is known of its shape. Every
/// activation is `[batch, tokens, width]`; `tokens` is nil when it follows a dynamic input, and `grid` is
/// the patch grid its tokens form while they still form one (as in the runtime's plan).
struct ExportValue {
    var name: String
    var type: DType
    var tokens: TokenCount
    var width: Int
    var grid: Grid?
}

/// A token count: fixed, or dynamic — the input's own (`tokens` in the declared shapes) or derived from it.
enum TokenCount: Equatable {
    case fixed(Int)
    case input
    case derived

    var fixed: Int? {
        if case .fixed(let count) = self { return count }
        return nil
    }

    /// The same count after an operation that changes it by a rule only known at run time.
    var changed: TokenCount { fixed == nil ? .derived : self }
}

/// Emits ONNX nodes (default domain) with unique node and value names: a node of graph node `scope` is
/// `scope/OpType` (`_1`, `_2`… when the scope has several of one type), its outputs `…:0`, `…:1`.
/// Constants are `Constant` nodes named `/const/…`, shared by value.
final class GraphBuilder {
    let opset: Int
    private(set) var nodes: [ONNXNode] = []
    private var used: [String: Int] = [:]
    private var constants: [ONNXConstantTensor: String] = [:]

    init(opset: Int) {
        self.opset = opset
    }

    private func uniqueName(_ base: String) -> String {
        let count = used[base, default: 0]
        used[base] = count + 1
        return count == 0 ? base : "\(base)_\(count)"
    }

    /// Adds a node and returns its output names.
    @discardableResult
    func node(_ opType: String, _ inputs: [String], scope: String, attributes: [ONNXAttribute] = [], outputs: Int = 1) -> [String] {
        let name = uniqueName("\(scope)/\(opType)")
        let names = (0 ..< outputs).map { "\(name):\($0)" }
        nodes.append(ONNXNode(name: name, opType: opType, inputs: inputs, outputs: names, attributes: attributes))
        return names
    }

    /// A single-output node.
    func op(_ opType: String, _ inputs: [String], scope: String, _ attributes: [ONNXAttribute] = []) -> String {
        node(opType, inputs, scope: scope, attributes: attributes)[0]
    }

    /// A node whose output takes a given name (the graph's output).
    func op(_ opType: String, _ inputs: [String], scope: String, output: String) {
        nodes.append(ONNXNode(name: uniqueName("\(scope)/\(opType)"), opType: opType, inputs: inputs, outputs: [output]))
    }

    /// A `Constant` node holding `tensor` (one per distinct tensor).
    func constant(_ tensor: ONNXConstantTensor, label: String) -> String {
        if let name = constants[tensor] { return name }
        let name = uniqueName("/const/\(label)")
        nodes.append(ONNXNode(name: name, opType: "Constant", inputs: [], outputs: [name], attributes: [ONNXAttribute("value", .tensor(tensor))]))
        constants[tensor] = name
        return name
    }

    func int64s(_ values: [Int]) -> String {
        constant(ONNXConstantTensor(int64: values), label: "i64")
    }

    /// A scalar of element type `type` (f32 or f16).
    func scalar(_ value: Float, _ type: DType) -> String {
        constant(ONNXConstantTensor(floats: [value], shape: [], dtype: type), label: type.rawValue)
    }

    // MARK: - Shape operations

    func reshape(_ input: String, _ shape: [Int], scope: String) -> String {
        op("Reshape", [input, int64s(shape)], scope: scope)
    }

    func transpose(_ input: String, _ perm: [Int], scope: String) -> String {
        op("Transpose", [input], scope: scope, [ONNXAttribute("perm", .ints(perm))])
    }

    func cast(_ input: String, to type: DType, scope: String) -> String {
        op("Cast", [input], scope: scope, [ONNXAttribute("to", .int(Int(ONNXDataType.code(of: type)!)))])
    }

    func concat(_ inputs: [String], axis: Int, scope: String) -> String {
        op("Concat", inputs, scope: scope, [ONNXAttribute("axis", .int(axis))])
    }

    /// `ReduceMean` over `axes`, keeping them (axes became an input in opset 18).
    func reduceMean(_ input: String, axes: [Int], scope: String) -> String {
        if opset >= 18 {
            return op("ReduceMean", [input, int64s(axes)], scope: scope, [ONNXAttribute("keepdims", .int(1))])
        }
        return op("ReduceMean", [input], scope: scope, [ONNXAttribute("axes", .ints(axes)), ONNXAttribute("keepdims", .int(1))])
    }

    /// `Split` of `input` along `axis` into parts of the given sizes (sizes became an input in opset 13).
    func split(_ input: String, sizes: [Int], axis: Int, scope: String) -> [String] {
        node("Split", [input, int64s(sizes)], scope: scope, attributes: [ONNXAttribute("axis", .int(axis))], outputs: sizes.count)
    }
}
