import TensorFormats

/// Why a quantization judged by the connector's output cannot be done as asked. Tests match `kind`.
public struct OutputQuantizationError: ConnkitError, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A request that contradicts itself or names what does not exist (a ladder mixing GGUF and MLX
        /// types, a target outside (0, 1], `--imatrix` with an MLX type…).
        case usage(String)
        /// The checkpoint's connector cannot be run (it fails validation, or no connector is found).
        case notRunnable(String)
        /// An importance-matrix file that is not one, or does not fit the checkpoint.
        case importanceFile(String)
        /// Even the top of the ladder does not reach the target: `best` is the highest minimum output
        /// cosine any assignment of the ladder gives (every candidate at the top).
        case targetUnreachable(target: Double, best: Double, top: String)
    }

    public var kind: Kind
    /// The file the problem is in (the input, an importance-matrix file, `--imatrix-out`), when one is.
    public var file: String?

    public var message: String {
        switch kind {
        case .usage(let text), .notRunnable(let text), .importanceFile(let text): text
        case .targetUnreachable(let target, let best, let top):
            "no assignment of the ladder reaches a minimum output cosine of \(target): the best achievable, every candidate "
                + "tensor at its top type (\(top)), is \(best); nothing written"
        }
    }

    public var description: String { file.map { "\($0): \(message)" } ?? message }

    public var failure: FailureClass {
        switch kind {
        case .usage: .usage
        case .notRunnable, .importanceFile: .unusableInput
        case .targetUnreachable: .checkFailed
        }
    }

    public var code: ErrorCode {
        switch kind {
        case .usage: .usage
        case .notRunnable: .notConvertible
        case .importanceFile: .malformedInput
        case .targetUnreachable: .checkFailed
        }
    }

    public init(_ kind: Kind, file: String? = nil) {
        self.kind = kind
        self.file = file
    }
}
