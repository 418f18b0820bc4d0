import TensorFormats

/// Why a connector cannot be re-expressed in a naming scheme (`convert --scheme`, `splice`).
public enum SchemeConversionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The connector's graph has no scheme of that name.
    case unknownScheme(scheme: String, family: String, variant: String, known: [String])
    /// A scheme whose name templates cannot be used (a custom graph's).
    case invalidScheme(scheme: String, reason: String)
    /// A parameter the connector stores has no place in the target scheme; `holders` are the schemes of
    /// its graph that can hold it.
    case roleNotHeld(role: String, scheme: String, holders: [String])
    /// A transpose moves single elements; a block-quantized (or sub-byte) tensor has none.
    case transposeOfBlocks(tensor: String, dtype: DType)
    /// The target layout cuts the dtype's blocks (a split or an unsqueeze of a block-quantized row).
    case layoutUnfit(role: String, dtype: DType)
    /// Parts that cannot be joined along the first axis (different dtypes or trailing shapes).
    case partsDisagree(role: String, tensors: [String])
    /// A fused parameter whose first axis does not split into the target's parts evenly.
    case unevenParts(role: String, rows: Int, parts: Int)
    /// A parameter's shape is not determined (the connector does not validate).
    case unresolvedShape(role: String)
    /// A tensor outside the connector already has a name the target scheme gives a connector tensor.
    case nameTaken(name: String, scheme: String)
    /// `--only`/`--exclude` pick some but not all of the tensors that store one parameter.
    case selectionSplits(role: String, selected: [String], left: [String])

    public var description: String {
        switch self {
        case .unknownScheme(let scheme, let family, let variant, let known):
            "the \(family) connector (\(variant)) has no naming scheme '\(scheme)' (its schemes: \(known.joined(separator: ", ")); `connkit schemes \(family)` lists them)"
        case .invalidScheme(let scheme, let reason):
            "naming scheme '\(scheme)' cannot be written: \(reason)"
        case .roleNotHeld(let role, let scheme, let holders):
            "the connector's parameter '\(role)' has no place in the \(scheme) scheme"
                + (holders.isEmpty ? "" : " (schemes that hold it: \(holders.joined(separator: ", ")))")
        case .transposeOfBlocks(let tensor, let dtype):
            "tensor '\(tensor)' is \(dtype.rawValue) and the target scheme stores it transposed; block-quantized data cannot be transposed (its blocks run along the stored rows): add --dtype f16 or f32"
        case .layoutUnfit(let role, let dtype):
            "the target scheme stores '\(role)' in a shape whose rows are not whole \(dtype.rawValue) blocks: add --dtype f16 or f32"
        case .partsDisagree(let role, let tensors):
            "the parts of '\(role)' (\(tensors.joined(separator: ", "))) do not join along their first axis"
        case .unevenParts(let role, let rows, let parts):
            "'\(role)' has \(rows) rows, which do not split into \(parts) equal parts"
        case .unresolvedShape(let role):
            "the shape of '\(role)' is not determined; `connkit validate` says why"
        case .nameTaken(let name, let scheme):
            "tensor '\(name)' is not part of the connector but the \(scheme) scheme names a connector tensor so (use --connector, or --exclude it)"
        case .selectionSplits(let role, let selected, let left):
            "the selection keeps \(selected.joined(separator: ", ")) but not \(left.joined(separator: ", ")), which store the same parameter '\(role)': select all of them or none"
        }
    }
}

extension SchemeConversionError: ConnkitError {
    public var failure: FailureClass {
        switch self {
        case .unknownScheme, .selectionSplits: .usage
        default: .unusableInput
        }
    }

    public var code: ErrorCode {
        switch self {
        case .unknownScheme: .unknownValue
        case .selectionSplits: .usage
        case .partsDisagree, .unresolvedShape: .malformedInput
        default: .notConvertible
        }
    }
}
