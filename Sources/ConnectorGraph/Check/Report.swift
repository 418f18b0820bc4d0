import TensorFormats

extension ValidationReport {
    /// The `--json` object (`schemas/validation-report.schema.json`); the CLI lays out the human report.
    public func json(inputs: [String]) -> JSONValue {
        func optionalString(_ text: String?) -> JSONValue { text.map { .string($0) } ?? .null }
        func optionalInt(_ value: Int?) -> JSONValue { value.map { .int($0) } ?? .null }
        return .object([
            JSONValue.Member("valid", .bool(valid)),
            JSONValue.Member("inputs", .array(inputs.map { .string($0) })),
            JSONValue.Member("family", optionalString(family)),
            JSONValue.Member("variant", optionalString(variant)),
            JSONValue.Member("scheme", optionalString(scheme)),
            JSONValue.Member("prefix", optionalString(prefix)),
            JSONValue.Member("graph", optionalString(graphName)),
            JSONValue.Member("dims", .object(dims.map { JSONValue.Member($0.key, optionalInt($0.value)) })),
            JSONValue.Member("dim_sources", .object(dims.map { JSONValue.Member($0.key, $0.source?.json ?? .null) })),
            JSONValue.Member("detected_by", .array(detectedBy.map { .string($0) })),
            JSONValue.Member("parameters", optionalInt(parameters)),
            JSONValue.Member("tokens", .object([JSONValue.Member("input", optionalInt(inputTokens)),
                                                JSONValue.Member("output", optionalInt(outputTokens))])),
            JSONValue.Member("diagnostics", .array(diagnostics.map(\.json))),
        ])
    }
}
