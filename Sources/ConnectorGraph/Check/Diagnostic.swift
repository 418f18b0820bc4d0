import TensorFormats

public enum Severity: String, Sendable, Equatable, Comparable, CaseIterable {
    case error, warning, note

    private var rank: Int {
        switch self {
        case .error: 0
        case .warning: 1
        case .note: 2
        }
    }
    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// The stable diagnostic codes, each with its severity (the README's table says what triggers each).
public enum DiagnosticCode: String, Sendable, CaseIterable {
    case noConnector = "no-connector"
    case ambiguousFamily = "ambiguous-family"
    case multipleConnectors = "multiple-connectors"
    case duplicateConnector = "duplicate-connector"
    case duplicateTensor = "duplicate-tensor"
    case missingTensor = "missing-tensor"
    case unexpectedTensor = "unexpected-tensor"
    case layerCountMismatch = "layer-count-mismatch"
    case wrongRank = "wrong-rank"
    case shapeMismatch = "shape-mismatch"
    case transposedWeight = "transposed-weight"
    case headsIndivisible = "heads-indivisible"
    case queryCountMismatch = "query-count-mismatch"
    case crossAttnLayers = "cross-attn-layers"
    case zeroElements = "zero-elements"
    case packedQuantized = "packed-quantized"
    case unexpectedDType = "unexpected-dtype"
    case dimensionConflict = "dimension-conflict"
    case unresolvedDimension = "unresolved-dimension"
    case nonFinite = "non-finite"
    case allZero = "all-zero"
    case constant = "constant"
    case zeroGate = "zero-gate"
    case f16OverflowRisk = "f16-overflow-risk"
    case projectorTypeMissing = "projector-type-missing"
    case projectorTypeUnknown = "projector-type-unknown"
    case projectorTypeMismatch = "projector-type-mismatch"
    case metadataMismatch = "metadata-mismatch"
    case quantizedCheckpoint = "quantized-checkpoint"
    case assumedDefault = "assumed-default"
    case valuesSkipped = "values-skipped"
    /// `validate --run`: the connector's output on test features holds NaN or infinity.
    case nonFiniteOutput = "non-finite-output"
    /// `validate --run`: every output token is bit-for-bit the same.
    case collapsedOutput = "collapsed-output"

    public var severity: Severity {
        switch self {
        case .noConnector, .ambiguousFamily, .multipleConnectors, .duplicateConnector, .duplicateTensor, .missingTensor, .layerCountMismatch,
             .wrongRank, .shapeMismatch, .transposedWeight, .headsIndivisible, .queryCountMismatch, .crossAttnLayers,
             .zeroElements, .packedQuantized, .unexpectedDType, .dimensionConflict, .nonFinite, .projectorTypeUnknown,
             .projectorTypeMismatch, .nonFiniteOutput:
            .error
        case .unexpectedTensor, .unresolvedDimension, .allZero, .constant, .zeroGate, .f16OverflowRisk, .projectorTypeMissing,
             .metadataMismatch, .quantizedCheckpoint, .collapsedOutput:
            .warning
        case .assumedDefault, .valuesSkipped:
            .note
        }
    }
}

/// One finding: a stable code, its severity, the tensors it concerns, expected vs found, and a hint.
public struct Diagnostic: Sendable, Equatable {
    public var code: DiagnosticCode
    public var severity: Severity { code.severity }
    /// Every tensor the finding concerns (one wrong dimension lists all the tensors it affects); empty
    /// when it concerns none.
    public var tensors: [String]
    public var message: String
    /// For a shape finding, the first tensor's expected and found shapes; for a dimension conflict,
    /// the two values.
    public var expected: [Int?]?
    public var found: [Int]?
    public var hint: String?
    /// Where a value scan found non-finite elements (the first few, in storage order).
    public var positions: [ElementPosition]?

    /// The first tensor concerned.
    public var tensor: String? { tensors.first }

    public init(_ code: DiagnosticCode, tensor: String? = nil, tensors more: [String] = [], _ message: String,
                expected: [Int?]? = nil, found: [Int]? = nil, hint: String? = nil, positions: [ElementPosition]? = nil) {
        self.code = code
        var tensors = tensor.map { [$0] } ?? []
        for name in more where !tensors.contains(name) { tensors.append(name) }
        self.tensors = tensors
        self.message = message
        self.expected = expected
        self.found = found
        self.hint = hint
        self.positions = positions
    }

    public var json: JSONValue {
        var members = [JSONValue.Member("severity", .string(severity.rawValue)), JSONValue.Member("code", .string(code.rawValue)),
                       JSONValue.Member("tensor", tensor.map { .string($0) } ?? .null),
                       JSONValue.Member("tensors", .array(tensors.map { .string($0) })), JSONValue.Member("message", .string(message))]
        if let expected { members.append(JSONValue.Member("expected", .array(expected.map { $0.map { .int($0) } ?? .null }))) }
        if let found { members.append(JSONValue.Member("found", .array(found.map { .int($0) }))) }
        if let hint { members.append(JSONValue.Member("hint", .string(hint))) }
        if let positions { members.append(JSONValue.Member("positions", .array(positions.map(\.json)))) }
        return .object(members)
    }

    /// Compiler-style line: `error[shape-mismatch] model.mm_projector.2.weight: … (hint: …)`.
    public var line: String {
        var text = "\(severity.rawValue)[\(code.rawValue)]"
        if let tensor { text += " \(tensor)" }
        text += ": " + message
        if let hint { text += " (hint: \(hint))" }
        return text
    }
}

func shapeText(_ shape: [Int?]) -> String { "[" + shape.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + "]" }
func shapeText(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }

/// An element of a tensor: its flat (storage-order) index and the same position as one index per axis.
public struct ElementPosition: Sendable, Equatable {
    public var flat: Int
    public var index: [Int]

    /// The position of element `flat` of a row-major tensor of `shape`.
    public init(flat: Int, shape: [Int]) {
        self.flat = flat
        var rest = flat
        var index = [Int](repeating: 0, count: shape.count)
        for axis in shape.indices.reversed() where shape[axis] > 0 {
            index[axis] = rest % shape[axis]
            rest /= shape[axis]
        }
        self.index = index
    }

    /// `[17, 42]`.
    public var text: String { shapeText(index) }

    public var json: JSONValue {
        .object([JSONValue.Member("flat", .int(flat)), JSONValue.Member("index", .array(index.map { .int($0) }))])
    }
}
