import ConnectorGraph
import TensorFormats
import CRuntimeKernels

/// The C kernels of `CRuntimeKernels`, split across the runtime's threads (element-wise work in any
/// chunks, row-wise work by whole rows: the bits do not depend on the split).
enum Elementwise {
    static func code(_ activation: Operation.Activation) -> Int32 {
        switch activation {
        case .gelu: Int32(CKR_GELU)
        case .gelu_tanh: Int32(CKR_GELU_TANH)
        case .quick_gelu: Int32(CKR_QUICK_GELU)
        case .relu: Int32(CKR_RELU)
        case .silu: Int32(CKR_SILU)
        case .tanh: Int32(CKR_TANH)
        case .hardswish: Int32(CKR_HARDSWISH)
        case .hardsigmoid: Int32(CKR_HARDSIGMOID)
        }
    }

    /// Cost of one element relative to an addition, for deciding when threads pay off.
    static func cost(_ activation: Operation.Activation) -> Int {
        switch activation {
        case .relu, .hardswish, .hardsigmoid: 1
        default: 16
        }
    }

    static func activate(_ x: UnsafeMutablePointer<Float>, count: Int, _ activation: Operation.Activation) {
        let kind = code(activation)
        let box = UncheckedSendable(x)
        Parallel.forEach(count, costPerItem: cost(activation)) { range in
            ckr_activate(box.value + range.lowerBound, range.count, kind)
        }
    }

    /// `g = act(g) * u`.
    static func activateMultiply(_ g: UnsafeMutablePointer<Float>, _ u: UnsafePointer<Float>, count: Int, _ activation: Operation.Activation) {
        let kind = code(activation)
        let box = UncheckedSendable((g, u))
        Parallel.forEach(count, costPerItem: cost(activation)) { range in
            ckr_activate_mul(box.value.0 + range.lowerBound, box.value.1 + range.lowerBound, range.count, kind)
        }
    }

    static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, stride: Int) {
        let box = UncheckedSendable(x)
        Parallel.forEach(rows, costPerItem: cols * 16) { range in
            ckr_softmax_rows(box.value + range.lowerBound * stride, range.count, cols, stride)
        }
    }

    static func layerNorm(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
                          weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, eps: Float) {
        let box = UncheckedSendable((x, y, weight, bias))
        Parallel.forEach(rows, costPerItem: cols * 4) { range in
            let (x, y, weight, bias) = box.value
            let offset = range.lowerBound * cols
            ckr_layer_norm(x + offset, y + offset, range.count, cols, weight, bias, eps)
        }
    }

    static func rmsNorm(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
                        weight: UnsafePointer<Float>, eps: Float) {
        let box = UncheckedSendable((x, y, weight))
        Parallel.forEach(rows, costPerItem: cols * 4) { range in
            let (x, y, weight) = box.value
            let offset = range.lowerBound * cols
            ckr_rms_norm(x + offset, y + offset, range.count, cols, weight, eps)
        }
    }

    /// `a += b`, or `a += s·b`.
    static func add(_ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, count: Int, scale: Float? = nil) {
        let box = UncheckedSendable((a, b))
        Parallel.forEach(count) { range in
            let (a, b) = box.value
            if let scale {
                ckr_add_scaled(a + range.lowerBound, b + range.lowerBound, scale, range.count)
            } else {
                ckr_add(a + range.lowerBound, b + range.lowerBound, range.count)
            }
        }
    }

    /// Each of `rows` rows of `row.count` floats set to `row` (a bias before a GEMM with beta = 1).
    static func fillRows(_ c: UnsafeMutablePointer<Float>, rows: Int, row: UnsafePointer<Float>, width: Int, stride: Int) {
        for r in 0 ..< rows { (c + r * stride).update(from: row, count: width) }
    }
}

/// `y[rows×out] = x[rows×in] · Wᵀ + b` with `W [out, in]` read in place as Bᵀ.
func applyLinear(_ x: UnsafePointer<Float>, rows: Int, inDim: Int, lda: Int? = nil, weight: UnsafePointer<Float>, outDim: Int,
                 ldw: Int? = nil, bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>, ldy: Int? = nil) {
    let ldy = ldy ?? outDim
    if let bias { Elementwise.fillRows(y, rows: rows, row: bias, width: outDim, stride: ldy) }
    BLAS.gemmNT(m: rows, n: outDim, k: inDim, a: x, lda: lda ?? inDim, b: weight, ldb: ldw ?? inDim, beta: bias == nil ? 0 : 1,
                c: y, ldc: ldy)
}
