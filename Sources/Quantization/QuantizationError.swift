import TensorFormats

/// The error type of the quantization layer: what went wrong and, when known, the tensor it concerns.
/// Tests match `kind` cases, never messages.
public struct QuantizationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var kind: Kind
    /// The tensor concerned, when the error arose while processing one.
    public var tensor: String?
    /// The input file concerned, once known (`attributing(to:)`).
    public var file: String?

    public init(_ kind: Kind, tensor: String? = nil, file: String? = nil) {
        self.kind = kind
        self.tensor = tensor
        self.file = file
    }

    public enum Kind: Sendable, Equatable {
        /// A NaN or ±inf value: no quantizer defines a result for it. `index` is the flat row-major
        /// element index of the first one; `shape`, once known, the tensor's (for its position).
        case nonFinite(index: Int, value: String, shape: [Int]? = nil)
        /// The name given for a quantization type is not one connkit knows.
        case unknownType(String)
        /// The block type cannot be produced (connkit reads it but does not write it) or read.
        case unsupportedType(DType, operation: String)
        /// The row length is not a multiple of the block size.
        case rowLength(Int, blockElements: Int, type: String)
        /// `--only` selected a tensor whose values are not floating point.
        case notFloat(DType)
        /// The byte or element counts handed to a kernel do not fit together.
        case sizeMismatch(expected: Int, found: Int)
        /// The MLX group size is not 32, 64 or 128.
        case groupSize(Int)
        /// A command-line option or pattern that selects nothing or contradicts another.
        case invalidRequest(String)
        /// A working buffer could not be allocated.
        case outOfMemory(bytes: Int)
        /// No tensor would be written in another type than it has; the text says why and what to ask.
        case nothingToQuantize(String)
    }

    public var message: String {
        switch kind {
        case .nonFinite(let index, let value, let shape):
            "element \(QuantizationError.position(of: index, in: shape)) is \(value); no quantizer defines a result for NaN or infinite values"
        case .unknownType(let name):
            "unknown quantization type '\(name)' (known: \(QuantizationType.allNames.joined(separator: ", ")))"
        case .unsupportedType(let type, let operation):
            "connkit cannot \(operation) \(type.rawValue)"
        case .rowLength(let length, let blockElements, let type):
            "row length \(length) is not a multiple of \(type)'s block size \(blockElements)"
        case .notFloat(let dtype):
            "selected for quantization but its dtype \(dtype.rawValue) is not a floating-point type"
        case .sizeMismatch(let expected, let found):
            "buffer holds \(found) bytes or elements, expected \(expected)"
        case .groupSize(let size):
            "group size \(size) is not one of 32, 64, 128"
        case .invalidRequest(let detail):
            detail
        case .outOfMemory(let bytes):
            "could not allocate a working buffer of \(bytes == Int.max ? "2^63 or more" : String(bytes)) bytes"
        case .nothingToQuantize(let detail):
            "nothing to quantize: \(detail)"
        }
    }

    /// `[17, 42] (flat index 1000)`: the row-major position of flat element `index` in `shape`, with the
    /// flat index; the flat index alone without a shape.
    static func position(of index: Int, in shape: [Int]?) -> String {
        guard let shape, shape.count > 1, shape.allSatisfy({ $0 > 0 }) else { return String(index) }
        var rest = index
        var position = [Int](repeating: 0, count: shape.count)
        for axis in shape.indices.reversed() {
            position[axis] = rest % shape[axis]
            rest /= shape[axis]
        }
        return "[" + position.map(String.init).joined(separator: ", ") + "] (flat index \(index))"
    }

    /// The same error with a non-finite element's index counted from `firstElement` of a tensor of `shape`.
    func located(from firstElement: Int, shape: [Int]) -> QuantizationError {
        guard case .nonFinite(let index, let value, _) = kind else { return self }
        var copy = self
        copy.kind = .nonFinite(index: firstElement + index, value: value, shape: shape)
        return copy
    }

    /// One line: `file: tensor 'name': message`.
    public var description: String {
        ([file, tensor.map { "tensor '\($0)'" }].compactMap { $0 } + [message]).joined(separator: ": ")
    }

    /// The same error, attributed to `tensor` unless it already names one.
    public func on(tensor name: String) -> QuantizationError {
        var copy = self
        if copy.tensor == nil { copy.tensor = name }
        return copy
    }
}

extension QuantizationError: ConnkitError {
    /// A type name or group size outside its closed set is a usage error; the rest leave the input
    /// unusable as asked.
    public var failure: FailureClass {
        switch kind {
        case .unknownType, .groupSize, .invalidRequest: .usage
        case .nonFinite, .unsupportedType, .rowLength, .notFloat, .sizeMismatch, .outOfMemory, .nothingToQuantize: .unusableInput
        }
    }

    public var code: ErrorCode {
        switch kind {
        case .unknownType, .groupSize: .unknownValue
        case .invalidRequest: .usage
        case .nonFinite, .unsupportedType, .rowLength, .notFloat: .notConvertible
        case .nothingToQuantize: .nothingToQuantize
        case .sizeMismatch: .malformedInput
        case .outOfMemory: .io
        }
    }

    /// The same error, attributed to the input `path` unless it already names a file.
    public func inFile(_ path: String) -> QuantizationError {
        var copy = self
        if copy.file == nil { copy.file = path }
        return copy
    }
}
