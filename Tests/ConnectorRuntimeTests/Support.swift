import ConnectorGraph
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import TensorFormats
@testable import ConnectorRuntime

/// In-memory tensors and connectors for the runtime's tests.
enum TestSupport {
    /// A float32 tensor held in an anonymous mapping (read like a file).
    static func tensor(_ name: String, _ shape: [Int], _ values: [Float], dtype: DType = .f32) throws -> Tensor {
        let bytes: [UInt8]
        switch dtype {
        case .f32: bytes = values.withUnsafeBytes { Array($0) }
        case .f16: bytes = values.flatMap { withUnsafeBytes(of: Float16($0).bitPattern.littleEndian) { Array($0) } }
        case .bf16: bytes = values.flatMap { withUnsafeBytes(of: UInt16($0.bitPattern >> 16).littleEndian) { Array($0) } }
        default: bytes = values.flatMap { withUnsafeBytes(of: Double($0).bitPattern.littleEndian) { Array($0) } }
        }
        let file = try bytes.withUnsafeBytes { try MappedFile(copying: $0, path: name) }
        return Tensor(info: try TensorInfo(name: name, dtype: dtype, shape: shape), data: MappedTensorData(file: file, offset: 0, count: bytes.count))
    }

    /// A connector from a graph, dimensions by symbol and canonical weights by role.
    static func connector(_ graph: ConnectorGraph, dims: [String: Int], weights: [String: ([Int], [Float])]) throws -> Connector {
        let parameters = try weights.keys.sorted().map { role in
            let (shape, values) = weights[role]!
            return StoredParameter(role: role, tensors: [try tensor(role, shape, values)], shape: shape)
        }
        return try Connector(graph: graph, dims: dims, weights: try WeightStore(parameters))
    }

    static func features(_ values: [Float], tokens: Int, width: Int) -> Features {
        Features(values: FloatBuffer(values), batch: 1, tokens: tokens, width: width, batchAxis: false, origin: "test")
    }

    /// A graph of one or a few nodes, input `image [N, D]`, output `out`.
    static func graph(_ nodes: [GraphNode], input: [DimExpr] = ["N", "D"], output: [DimExpr] = ["N", "D"],
                      dimensions: [String] = ["N", "D"]) -> ConnectorGraph {
        ConnectorGraph(name: "test", family: "custom", dimensions: dimensions.map { DimensionDecl($0, "") },
                       inputs: [ValueDecl("image", input)], nodes: nodes, outputs: [ValueDecl("out", output)])
    }

    static func node(_ name: String, _ operation: Operation, _ inputs: [String], _ output: String, optional: Bool = false) -> GraphNode {
        .operation(OperationNode(name: name, operation: operation, inputs: inputs, output: output, roles: [:], optional: optional))
    }
}

/// Double-precision reference computations written directly from the PyTorch definitions.
enum Reference {
    /// `x [n, in] · Wᵀ [out, in] + b`.
    static func linear(_ x: [Double], rows: Int, _ w: [Float], out: Int, _ b: [Float]?) -> [Double] {
        let inDim = x.count / rows
        var y = [Double](repeating: 0, count: rows * out)
        for r in 0 ..< rows {
            for o in 0 ..< out {
                var sum = b.map { Double($0[o]) } ?? 0
                for i in 0 ..< inDim { sum += x[r * inDim + i] * Double(w[o * inDim + i]) }
                y[r * out + o] = sum
            }
        }
        return y
    }

    static func gelu(_ x: Double) -> Double { x / 2 * (1 + erf(x / 2.0.squareRoot())) }
    static func silu(_ x: Double) -> Double { x / (1 + exp(-x)) }

    static func layerNorm(_ x: [Double], width: Int, _ w: [Float], _ b: [Float]?, eps: Double) -> [Double] {
        var y = x
        for r in 0 ..< x.count / width {
            let row = Array(x[r * width ..< (r + 1) * width])
            let mean = row.reduce(0, +) / Double(width)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(width)
            for c in 0 ..< width { y[r * width + c] = (row[c] - mean) / (variance + eps).squareRoot() * Double(w[c]) + (b.map { Double($0[c]) } ?? 0) }
        }
        return y
    }

    static func rmsNorm(_ x: [Double], width: Int, _ w: [Float], eps: Double) -> [Double] {
        var y = x
        for r in 0 ..< x.count / width {
            let row = Array(x[r * width ..< (r + 1) * width])
            let ms = row.map { $0 * $0 }.reduce(0, +) / Double(width)
            for c in 0 ..< width { y[r * width + c] = row[c] / (ms + eps).squareRoot() * Double(w[c]) }
        }
        return y
    }

    /// Multi-head attention: q from `queries [tq, ·]`, k and v from `context` rows (already concatenated),
    /// `heads` query heads grouped over `kvHeads`.
    static func attention(q: [Double], k: [Double], v: [Double], tq: Int, tk: Int, heads: Int, kvHeads: Int, headDim: Int) -> [Double] {
        let inner = heads * headDim, kvInner = kvHeads * headDim
        var out = [Double](repeating: 0, count: tq * inner)
        for h in 0 ..< heads {
            let g = h / (heads / kvHeads)
            for i in 0 ..< tq {
                var scores = [Double](repeating: 0, count: tk)
                for j in 0 ..< tk {
                    var s = 0.0
                    for d in 0 ..< headDim { s += q[i * inner + h * headDim + d] * k[j * kvInner + g * headDim + d] }
                    scores[j] = s / Double(headDim).squareRoot()
                }
                let top = scores.max()!
                let e = scores.map { exp($0 - top) }
                let total = e.reduce(0, +)
                for d in 0 ..< headDim {
                    var sum = 0.0
                    for j in 0 ..< tk { sum += e[j] / total * v[j * kvInner + g * headDim + d] }
                    out[i * inner + h * headDim + d] = sum
                }
            }
        }
        return out
    }
}
