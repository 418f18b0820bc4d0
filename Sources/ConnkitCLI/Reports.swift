import ConnectorGraph
import Quantization
import TensorFormats

// The human renderings of the libraries' results (their `--json` forms stay with the data: they are the
// documented schemas, checked by the libraries' own tests).

extension ValidationReport {
    /// `validate`: one line per diagnostic, then a summary.
    public var text: String {
        var lines = diagnostics.map(\.line)
        if !lines.isEmpty { lines.append("") }
        if let family {
            var head = "connector: \(family)"
            if let variant { head += " / \(variant)" }
            if let scheme {
                let place = ownPrefix.map { own in prefix?.isEmpty == true ? " without their prefix \(own)" : " under \(prefix ?? "") instead of \(own)" } ?? ""
                head += " (\(scheme) names\(place))"
            }
            lines.append(head)
            if !detectedBy.isEmpty { lines.append("detected by: " + detectedBy.joined(separator: ", ")) }
            for dim in dims {
                let value = dim.value.map(String.init) ?? "unknown"
                let source = dim.source.map { " (\($0))" } ?? ""
                lines.append("  " + dim.key + String(repeating: " ", count: max(1, 16 - dim.key.count)) + value + source)
            }
            if let parameters { lines.append("parameters: \(formatCount(parameters)) in \(connectorTensors.count) tensors") }
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
        return lines.joined(separator: "\n")
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
            + "\(entries.count) tensors, \(quantizedCount) quantized: \(formatBytes(bytesBefore)) -> \(formatBytes(bytesAfter)) "
            + "(ratio \(formatNumber(compressionRatio, digits: 2)), \(formatNumber(bitsPerWeight, digits: 2)) bits per weight)"
    }
}
