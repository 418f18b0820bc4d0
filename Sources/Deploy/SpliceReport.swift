import ConnectorGraph
import TensorFormats

/// What a splice checked and wrote (`schemas/splice.schema.json`).
public struct SpliceReport {
    /// One tensor of the new connector as written.
    public struct Tensor: Sendable {
        public var name: String
        public var role: String
        /// The input tensors it was made from.
        public var from: [String]
        public var sourceDType: DType
        public var dtype: DType
        public var shape: [Int]
        /// Why this storage type.
        public var reason: String
        public var bytes: Int
    }

    /// A tensor of the base's connector kept because the new connector does not hold its parameter.
    public struct Kept: Sendable {
        public var name: String
        public var role: String
    }

    /// A metadata key the splice set.
    public struct Key: Sendable {
        public var key: String
        public var value: MetadataValue
        public var previous: MetadataValue?
    }

    public var base: String
    public var output: String
    /// The new connector checked against the base's encoder and the other dimension sources, with the
    /// kind check's diagnostics.
    public var check: ValidationReport
    public var baseConnector: BoundConnector
    public var baseProjectorType: String?
    public var tensors: [Tensor] = []
    public var keptFromBase: [Kept] = []
    public var keys: [Key] = []
    public var baseTensorsCopied = 0
    public var written = false
    public var bytesWritten = 0
    /// What the writing changed (values beyond the f16 range cast to ±inf), as printed on stderr.
    public var warnings: [String] = []

    public var valid: Bool { check.valid }

    init(base: String, output: String, check: ValidationReport, baseConnector: BoundConnector, baseProjectorType: String?) {
        self.base = base
        self.output = output
        self.check = check
        self.baseConnector = baseConnector
        self.baseProjectorType = baseProjectorType
    }

    /// The `--json` object.
    public func json(inputs: [String]) -> JSONValue {
        .object([
            .init("valid", .bool(valid)),
            .init("written", .bool(written)),
            .init("base", .string(base)),
            .init("inputs", .array(inputs.map { .string($0) })),
            .init("output", .string(output)),
            .init("base_connector", .object([
                .init("family", .string(baseConnector.family)), .init("variant", .string(baseConnector.variant)),
                .init("projector_type", baseProjectorType.map { .string($0) } ?? .null),
            ])),
            .init("check", check.json(inputs: inputs)),
            .init("tensors", .array(tensors.map { tensor in
                .object([.init("name", .string(tensor.name)), .init("role", .string(tensor.role)),
                         .init("from", .array(tensor.from.map { .string($0) })), .init("source_dtype", .string(tensor.sourceDType.rawValue)),
                         .init("dtype", .string(tensor.dtype.rawValue)), .init("shape", .array(tensor.shape.map { .int($0) })),
                         .init("nbytes", .int(tensor.bytes)), .init("reason", .string(tensor.reason))])
            })),
            .init("kept_from_base", .array(keptFromBase.map { .object([.init("name", .string($0.name)), .init("role", .string($0.role))]) })),
            .init("keys", .array(keys.map { key in
                .object([.init("key", .string(key.key)), .init("value", key.value.json), .init("previous", key.previous?.json ?? .null)])
            })),
            .init("base_tensors_copied", .int(baseTensorsCopied)),
            .init("bytes_written", .int(bytesWritten)),
            .init("warnings", .array(warnings.map { .string($0) })),
        ])
    }
}
