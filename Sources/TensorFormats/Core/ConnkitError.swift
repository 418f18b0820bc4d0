/// The one root every layer's error type conforms to: what a failure means for the process (its exit
/// status) and which closed code it carries in `--json` output (`schemas/error.schema.json`). The CLI maps
/// it once, at its root; no command wraps another layer's errors by hand.
public protocol ConnkitError: Error, CustomStringConvertible {
    /// Usage problem, unusable input, or a check the input failed.
    var failure: FailureClass { get }
    /// The stable code for machine-readable output.
    var code: ErrorCode { get }
}

/// What a failure means for the process: connkit's exit-status convention.
public enum FailureClass: Sendable, Equatable {
    /// Bad command line (exit status 2).
    case usage
    /// The input cannot be read or used as asked (exit status 2).
    case unusableInput
    /// The input was read but fails a check (exit status 1).
    case checkFailed

    public var exitStatus: Int32 {
        switch self {
        case .usage, .unusableInput: 2
        case .checkFailed: 1
        }
    }
}

/// The closed list of error codes printed as `"code"` with `--json` (`schemas/error.schema.json`).
public enum ErrorCode: String, Sendable, CaseIterable {
    /// A malformed command line: a missing argument, an unknown option, flags that exclude each other.
    case usage
    /// A value outside a closed set (a dtype, a quantization type, a family, a preset…).
    case unknownValue = "unknown-value"
    /// The input could not be opened or is not a file connkit reads.
    case unreadableInput = "unreadable-input"
    /// The input is a file of a known format that breaks the format's rules.
    case malformedInput = "malformed-input"
    /// The conversion cannot be done as asked (a dtype the output cannot hold…).
    case notConvertible = "not-convertible"
    /// A selection pattern matches nothing, or the selection leaves no tensor.
    case emptySelection = "empty-selection"
    /// No tensor would be written in another type than its input's.
    case nothingToQuantize = "nothing-to-quantize"
    /// The output exists (and `--force` was not given), is a folder, or is an input.
    case outputExists = "output-exists"
    /// A system call failed while reading or writing.
    case io
    /// The input was read but fails a check (an invalid connector, a comparison below its threshold…).
    case checkFailed = "check-failed"
}

/// Another layer's error about a file's content that does not name the file (a naming scheme's refusal of
/// a connector, say): the file, then the error. Exit status and code are the error's own.
public struct ErrorInFile: ConnkitError {
    public let file: String
    public let error: any ConnkitError

    public init(file: String, error: any ConnkitError) {
        self.file = file
        self.error = error
    }

    public var description: String { "\(file): \(error)" }
    public var failure: FailureClass { error.failure }
    public var code: ErrorCode { error.code }
}
