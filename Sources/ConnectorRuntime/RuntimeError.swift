import TensorFormats

/// Why a connector cannot run (or be exported as an ONNX model) as asked. Every case names its subject (the file, the tensor, the node, the
/// dimension and where its value came from) and what was expected; tests match the case, not the text.
public struct RuntimeError: ConnkitError, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The features do not fit the connector (their width, rank, dtype, count of tensors).
        case badFeatures(String)
        /// A NaN or infinity in the features, at the first bad element.
        case nonFiniteFeature(String)
        /// The token count (or the given grid) fits none of the family's rules.
        case tokens(String)
        /// A weight is missing, of the wrong shape or of a type that cannot be read as float32.
        case weight(String)
        /// The graph uses something the runtime does not execute (a node reading token ids, …).
        case unsupported(String)
        /// A size computed for the plan overflows, or the plan needs more memory than the machine has.
        case plan(String)
        /// Two connectors that should be compared bind differently (family, variant, dimensions).
        case mismatch(String)
        /// Bad usage of an option (a grid that is not HxW, a token count of zero…).
        case usage(String)
    }

    public var kind: Kind
    public var file: String?

    public init(_ kind: Kind, file: String? = nil) {
        self.kind = kind
        self.file = file
    }

    public var message: String {
        switch kind {
        case .badFeatures(let text), .nonFiniteFeature(let text), .tokens(let text), .weight(let text),
             .unsupported(let text), .plan(let text), .mismatch(let text), .usage(let text):
            text
        }
    }

    public var description: String { file.map { "\($0): \(message)" } ?? message }

    public var failure: FailureClass {
        switch kind {
        case .usage: .usage
        default: .unusableInput
        }
    }

    /// Features that do not fit, two connectors that cannot be compared, a plan too large: the run cannot
    /// be done as asked.
    public var code: ErrorCode {
        switch kind {
        case .usage: .usage
        case .badFeatures, .nonFiniteFeature, .tokens, .weight, .mismatch, .unsupported, .plan: .notConvertible
        }
    }

    func inFile(_ path: String) -> RuntimeError {
        var copy = self
        if copy.file == nil { copy.file = path }
        return copy
    }
}
