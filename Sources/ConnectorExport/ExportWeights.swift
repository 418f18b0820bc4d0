import ConnectorGraph
import ConnectorRuntime
import TensorFormats

/// The connector's parameters as initializers named by their checkpoint names, and the graph values that
/// put them in the layout an operation reads. The storage a naming scheme uses is undone in the graph,
/// where the runtime undoes it in memory (`WeightStore`): parts are concatenated (`Concat`), a transposed
/// matrix is used as it is where a product wants `[in, out]` and transposed back otherwise; a squeezed
/// tensor is written with its full shape (the same bytes). Each tensor is written once, as f32 or the
/// compute type, by `FloatOutputs` (copied when its dtype already is the target, else cast or dequantized
/// chunk by chunk when the writer reaches it).
final class ExportWeights {
    let bound: BoundConnector
    let builder: GraphBuilder
    let outputs: FloatOutputs
    private(set) var initializers: [OutputTensor] = []
    private var written: [String: DType] = [:]
    private var cache: [String: String] = [:]

    init(bound: BoundConnector, builder: GraphBuilder, strict: Bool) {
        self.bound = bound
        self.builder = builder
        outputs = FloatOutputs(strict: strict)
    }

    /// The stored parameter of a concrete role, or nil when the checkpoint does not hold it.
    func stored(_ role: String) -> BoundParameter? {
        guard let parameter = bound.parameter(role: role), parameter.layout != .absent, !parameter.tensors.isEmpty else { return nil }
        return parameter
    }

    private func parameter(_ role: String) throws -> (BoundParameter, [Int]) {
        guard let parameter = stored(role) else { throw RuntimeError(.weight("parameter \(role) is not in the checkpoint")) }
        let shape = parameter.shape.compactMap { $0 }
        guard shape.count == parameter.shape.count else {
            throw RuntimeError(.weight("\(role): the shape of \(parameter.tensors.map(\.name).joined(separator: " + ")) is not fully known"))
        }
        return (parameter, shape)
    }

    /// The initializer for `tensor` as `type` with `shape`; a tensor already written as another type is
    /// read through a `Cast`.
    private func initializer(_ tensor: Tensor, _ type: DType, shape: [Int], scope: String) throws -> String {
        if let existing = written[tensor.name] {
            return existing == type ? tensor.name : builder.cast(tensor.name, to: type, scope: scope)
        }
        initializers.append(try outputs.output(tensor, as: type, shape: shape))
        written[tensor.name] = type
        return tensor.name
    }

    /// The parameter in the graph's canonical layout (`nn.Linear` weights `[out, in]`, size-1 axes kept).
    func canonical(_ role: String, _ type: DType, scope: String) throws -> String {
        let key = "\(role)|canonical|\(type.rawValue)"
        if let value = cache[key] { return value }
        let (parameter, shape) = try self.parameter(role)
        let value: String
        switch parameter.layout {
        case .direct, .squeezed:
            value = try initializer(parameter.tensors[0], type, shape: shape, scope: scope)
        case .transposed:
            let tensor = parameter.tensors[0]
            value = builder.transpose(try initializer(tensor, type, shape: tensor.shape, scope: scope), [1, 0], scope: scope)
        case .parts:
            let parts = try parameter.tensors.map { try initializer($0, type, shape: $0.shape, scope: scope) }
            value = parts.count == 1 ? parts[0] : builder.concat(parts, axis: 0, scope: scope)
        case .absent:
            throw RuntimeError(.weight("parameter \(role) is not in the checkpoint"))
        }
        cache[key] = value
        return value
    }

    /// A matrix parameter (`[out, in]`, or a 1×1 convolution's `[out, in, 1, 1]`) as the right operand of
    /// `MatMul`, `[in, out]`: a matrix stored transposed is read as it is.
    func matmulRight(_ role: String, out: Int, in inDim: Int, _ type: DType, scope: String) throws -> String {
        let key = "\(role)|right|\(type.rawValue)"
        if let value = cache[key] { return value }
        let (parameter, shape) = try self.parameter(role)
        let value: String
        if parameter.layout == .transposed, parameter.tensors[0].shape == [inDim, out] {
            value = try initializer(parameter.tensors[0], type, shape: [inDim, out], scope: scope)
        } else {
            let matrix = try canonical(role, type, scope: scope)
            value = builder.transpose(shape == [out, inDim] ? matrix : builder.reshape(matrix, [out, inDim], scope: scope), [1, 0],
                                      scope: scope)
        }
        cache[key] = value
        return value
    }
}
