import TensorFormats

/// Why a splice cannot be done at all (exit status 2). A connector that does not fit its base is not an
/// error but an invalid report (exit status 1).
public enum SpliceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The base has no `clip.*` keys (or is not GGUF): it is not an llama.cpp mmproj.
    case notMmproj(path: String)
    /// The base's connector is stored under another scheme's names.
    case baseNotInMmprojScheme(path: String, scheme: String)
    /// No connector (or several candidates) in the base or among the connector inputs.
    case noConnector(path: String, isBase: Bool, ambiguous: String?)
    /// A tensor of the base outside its connector has a name the new connector needs.
    case nameTaken(name: String, path: String)
    /// The output must be a GGUF file.
    case outputNotGGUF(path: String)

    public var description: String {
        switch self {
        case .notMmproj(let path):
            "\(path): not an llama.cpp mmproj (a GGUF with clip.* keys, as convert_hf_to_gguf.py --mmproj or convert_image_encoder_to_gguf.py write)"
        case .baseNotInMmprojScheme(let path, let scheme):
            "\(path): its connector is stored under \(scheme) names, not llama.cpp's (convert it with --scheme mmproj first)"
        case .noConnector(let path, let isBase, let ambiguous):
            if let ambiguous { "\(path): \(isBase ? "the base holds" : "the inputs hold") more than one candidate connector: \(ambiguous)" }
            else { "\(path): no connector of a built-in family found" + (isBase ? " in the base" : "") }
        case .nameTaken(let name, let path):
            "\(path): tensor '\(name)' lies outside the base's connector but the new connector needs its name"
        case .outputNotGGUF(let path):
            "\(path): the output of a splice is an mmproj and must end in .gguf"
        }
    }
}

extension SpliceError: ConnkitError {
    public var failure: FailureClass {
        switch self {
        case .outputNotGGUF: .usage
        default: .unusableInput
        }
    }

    public var code: ErrorCode {
        switch self {
        case .outputNotGGUF: .usage
        case .noConnector(_, _, nil): .emptySelection
        default: .notConvertible
        }
    }
}
