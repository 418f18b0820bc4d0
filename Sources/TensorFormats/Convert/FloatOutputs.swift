/// Stored tensors written as a float dtype by writers other than `convert` (the ONNX export's
/// initializers), through the converter's casts: the bytes copied when the tensor already has the target
/// dtype (in the kernel for a verbatim file range), else read as float32 — widened, or dequantized for a
/// ggml block type (gguf-py's values) — and cast chunk by chunk, as `convert --dtype` does. Casts to f16
/// that overflow are counted by `CastOverflow` (warnings, or with `strict` an error before the commit).
public final class FloatOutputs: @unchecked Sendable {
    private let overflow: CastOverflow

    public init(strict: Bool = false) {
        overflow = CastOverflow(strict: strict)
    }

    /// `tensor` as `target` (f32, f16 or bf16), under `name` and `shape` (the same element count; a
    /// squeezed tensor given its full shape) when given.
    public func output(_ tensor: Tensor, as target: DType, name: String? = nil, shape: [Int]? = nil) throws -> OutputTensor {
        guard target == .f32 || target == .f16 || target == .bf16 else {
            preconditionFailure("FloatOutputs writes f32, f16 or bf16")
        }
        guard tensor.dtype == target || tensor.dtype.readsAsFloat32 else {
            throw FormatError(.unsupportedDType(tensor.dtype.rawValue, reason: "it has no float32 reading to cast to \(target.rawValue)"),
                              at: .tensor(tensor.name))
        }
        let base = tensor.dtype == target ? OutputTensor(copying: tensor) : try Converter.castTensor(tensor, to: target, overflow: overflow)
        let info = try TensorInfo(name: name ?? tensor.name, dtype: target, shape: shape ?? tensor.shape)
        guard info.byteCount == base.info.byteCount else {
            throw FormatError(.invalidShape("\(shape ?? []) does not hold the \(tensor.info.elementCount) elements of the tensor"),
                              at: .tensor(tensor.name))
        }
        return OutputTensor(info: info, produce: base.produce)
    }

    /// One line per tensor whose f16 values overflowed (the same words as `convert`'s).
    public var warnings: [String] { overflow.warnings }
}
