import ConnectorGraph
import Quantization
import TensorFormats

// The human renderings of the libraries' results (their `--json` forms stay with the data: they are the
// documented schemas, checked by the libraries' own tests).

extension ValidationReport {
    /// `validate`: one line per diagnostic, then a summary.
    public var text: String { text(style: .plain) }

    /// `validate`'s text with the severities and the verdict in `style`'s colours.
    func text(style: Style) -> String {
        // Each entry is one line, whatever names, prefixes and paths from the files it holds: escaped here,
        // before the severities and the verdict are painted (the only control bytes of the rendering).
        var lines = diagnostics.map { style.severity($0.severity) + printable(String($0.line.dropFirst($0.severity.rawValue.count))) }
        if !lines.isEmpty { lines.append("") }
        if let family {
            var head = "connector: \(family)"
            if let variant { head += " / \(variant)" }
            if let scheme {
                let place = ownPrefix.map { own in prefix?.isEmpty == true ? " without their prefix \(own)" : " under \(prefix ?? "") instead of \(own)" } ?? ""
                head += " (\(scheme) names\(place))"
            }
            lines.append(printable(head))
            if !detectedBy.isEmpty { lines.append(printable("detected by: " + detectedBy.joined(separator: ", "))) }
            for dim in dims {
                let value = dim.value.map(String.init) ?? "unknown"
                let source = dim.source.map { " (\($0))" } ?? ""
                lines.append(printable("  " + dim.key + String(repeating: " ", count: max(1, 16 - dim.key.count)) + value + source))
            }
            if let parameters { lines.append("parameters: \(formatCount(parameters)) in \(counted(connectorTensors.count, "tensor"))") }
            let input = inputTokens.map(String.init) ?? "?"
            let output = outputTokens.map(String.init) ?? "?"
            lines.append("tokens per image: \(input) in, \(output) to the LLM")
        }
        let errors = diagnostics.filter { $0.severity == .error }.count
        let warnings = diagnostics.filter { $0.severity == .warning }.count
        lines.append(style.verdict(valid) + " (\(counted(errors, "error")), \(counted(warnings, "warning")))")
        return lines.joined(separator: "\n")
    }
}

extension GraphDescription {
    /// `describe`: the graph's nodes with concrete shapes, then the totals.
    public var text: String {
        var lines = ["\(family) / \(variant) (\(graph)\(scheme.map { ", \($0) names" } ?? ""))"]
        lines.append("dims: " + dims.map { "\($0.key)=\($0.value.map(String.init) ?? "?")" }.joined(separator: " "))
        for node in nodes {
            var head = "  \(node.name) [\(node.op)\(node.site == .connector ? "" : ", \(node.site.rawValue)")\(node.optional ? ", optional" : "")] -> \(formatShape(node.output))"
            if !node.params.isEmpty { head += "  params \(formatCount(node.parameterCount))" }
            if let macs = node.macs, macs > 0 { head += "  MACs \(formatCount(macs))" }
            lines.append(head)
            for param in node.params {
                lines.append("      \(param.stored) \(formatShape(param.shape))")
            }
        }
        lines.append("parameters: \(formatCount(connectorParameters))" + Site.allCases.filter { $0 != .connector }.compactMap { site in
            parameters[site].map { ", \(site.rawValue)-side \(formatCount($0))" }
        }.joined())
        lines.append("multiply-accumulates per image: \(formatCount(macsPerImage))")
        lines.append("tokens per image: \(formatCount(inputTokens)) in, \(formatCount(outputTokens)) out")
        if !unknown.isEmpty { lines.append("unknown: " + unknown.joined(separator: ", ") + " (pass KEY=N)") }
        // Each entry is one line, whatever stored names from a checkpoint it holds.
        return lines.map(printable).joined(separator: "\n")
    }
}

extension QuantizationReport {
    /// `quantize`: one line per tensor (sizes and error figures right-aligned), then the totals.
    public var table: String {
        let header = ["tensor", "type", "before", "after", "rmse", "max|err|", "SNR dB", "cosine", "reason"]
        let rows = entries.map { entry in
            [
                printable(entry.name), entry.type, formatBytes(entry.bytesBefore), formatBytes(entry.bytesAfter),
                formatScientific(entry.metrics?.rmse), formatScientific(entry.metrics?.maxAbsErrorValue),
                formatNumber(entry.metrics?.snrDB, digits: 1), formatNumber(entry.metrics?.cosine, digits: 6),
                entry.reason == .selected ? "" : printable(entry.reason.description),
            ]
        }
        return renderTable(header, rows, rightAligned: Set(2 ... 7)) + "\n\n"
            + "\(counted(entries.count, "tensor")), \(quantizedCount) quantized"
            + (fellBackCount > 0 ? ", \(fellBackCount) fell back to f16" : "")
            + ": \(formatBytes(bytesBefore)) -> \(formatBytes(bytesAfter)) "
            + "(ratio \(formatNumber(compressionRatio, digits: 2)), \(formatNumber(bitsPerWeight, digits: 2)) bits per weight)"
    }
}

extension ConversionSummary {
    /// Tensors whose dtype changed.
    var castCount: Int { tensors.filter { $0.from != $0.to }.count }

    /// `convert`: one line saying what was written.
    var text: String {
        "wrote \(printable(output)) (\(format.rawValue)): \(counted(tensors.count, "tensor"))"
            + (castCount > 0 ? ", \(castCount) cast" : "") + ", \(formatBytes(bytesWritten))"
    }

    /// `convert --json` (schemas/convert.schema.json): every tensor written with its dtype before and after,
    /// the totals and the warnings; with `--scheme`, the conversion (`scheme`) and, for every connector
    /// tensor, the input tensors it was made from (`source`).
    func json(input: String, scheme: SchemeConversion? = nil) -> JSONValue {
        var sources: [String: [String]] = [:]
        for parameter in scheme?.parameters ?? [] {
            for tensor in parameter.tensors { sources[tensor.name] = parameter.sourceNames }
        }
        var members: [JSONValue.Member] = [
            .init("input", .string(input)),
            .init("output", .string(output)),
            .init("format", .string(format.rawValue)),
            .init("tensors", .array(tensors.map { entry in
                .object([.init("name", .string(entry.name)), .init("from", .string(entry.from.rawValue)),
                         .init("to", .string(entry.to.rawValue))]
                    + (sources[entry.name].map { [.init("source", .array($0.map { .string($0) }))] } ?? []))
            })),
            .init("totals", .object([.init("tensors", .int(tensors.count)), .init("cast", .int(castCount)),
                                     .init("bytes", .int(bytesWritten))])),
            .init("warnings", .array(warnings.map { .string($0) })),
        ]
        if let scheme {
            members.append(.init("scheme", .object([
                .init("family", .string(scheme.family)), .init("variant", .string(scheme.variant)),
                .init("from", .string(scheme.sourceScheme)), .init("to", .string(scheme.targetScheme)),
                .init("computed_instead", .array(scheme.computedInstead.map { .string($0) })),
            ])))
        }
        return .object(members)
    }
}
