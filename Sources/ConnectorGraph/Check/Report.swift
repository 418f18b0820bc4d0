import TensorFormats

extension ValidationReport {
    /// The `--json` object (`schemas/validation-report.schema.json`).
    public func json(inputs: [String]) -> JSONValue {
        func optionalString(_ text: String?) -> JSONValue { text.map { .string($0) } ?? .null }
        func optionalInt(_ value: Int?) -> JSONValue { value.map { .int($0) } ?? .null }
        return .object([
            JSONValue.Member("valid", .bool(valid)),
            JSONValue.Member("inputs", .array(inputs.map { .string($0) })),
            JSONValue.Member("family", optionalString(family)),
            JSONValue.Member("variant", optionalString(variant)),
            JSONValue.Member("scheme", optionalString(scheme)),
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

    /// The human report: one line per diagnostic, then a summary.
    public var text: String {
        var lines = diagnostics.map(\.line)
        if !lines.isEmpty { lines.append("") }
        if let family {
            var head = "connector: \(family)"
            if let variant { head += " / \(variant)" }
            if let scheme { head += " (\(scheme) names)" }
            lines.append(head)
            if !detectedBy.isEmpty { lines.append("detected by: " + detectedBy.joined(separator: ", ")) }
            for dim in dims {
                let value = dim.value.map(String.init) ?? "unknown"
                let source = dim.source.map { " (\($0))" } ?? ""
                lines.append("  " + dim.key + String(repeating: " ", count: max(1, 16 - dim.key.count)) + value + source)
            }
            if let parameters { lines.append("parameters: \(parameters.formatted3) in \(connectorTensors.count) tensors") }
            let input = inputTokens.map(String.init) ?? "?"
            let output = outputTokens.map(String.init) ?? "?"
            lines.append("tokens per image: \(input) in, \(output) to the LLM")
        }
        let errors = diagnostics.filter { $0.severity == .error }.count
        let warnings = diagnostics.filter { $0.severity == .warning }.count
        lines.append((valid ? "valid" : "INVALID") + " (\(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s"))")
        return lines.joined(separator: "\n")
    }
}

extension Int {
    /// `20979712` → `20,979,712`.
    var formatted3: String {
        let digits = String(self.magnitude)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return (self < 0 ? "-" : "") + out
    }
}
