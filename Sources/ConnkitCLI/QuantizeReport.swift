import ConnectorQuantization
import Quantization
import TensorFormats

extension OutputQuantizationReport {
    /// What `--eval`, `--target-cosine` and `--imatrix` add under the per-tensor table (empty without them).
    var judgedText: String {
        var lines: [String] = []
        if let importance {
            let source = importance.source == "file" ? "read from \(printable(importance.origin))" : "collected on \(printable(importance.origin))"
            lines.append("importance matrix \(source): \(importance.tensors.count) tensor\(importance.tensors.count == 1 ? "" : "s")"
                         + (importance.written.map { ", written to \(printable($0))" } ?? ""))
        }
        if let target {
            let uniform = target.uniform.map { item in
                "\(item.type) \(formatBytes(item.bytes))" + (item.minCosine.map { " (min cosine \(formatNumber($0, digits: 6)))" } ?? "")
            }.joined(separator: ", ")
            lines.append("target: minimum output cosine >= \(target.minCosine) over \(target.achieved.tokens) tokens; "
                         + "chosen by \(target.chosenBy) in \(formatNumber(target.seconds, digits: 1)) s "
                         + "(\(target.measurements) single-tensor runs, \(target.verifications) full runs)")
            lines.append("  quantized tensors: \(formatBytes(target.bytes)); uniform ladder types: \(uniform)")
        }
        if let evaluation {
            lines.append(OutputEvaluationText.run("output", evaluation.evaluation))
            if let heldOut = evaluation.heldOut { lines.append(OutputEvaluationText.run("held-out output", heldOut)) }
            if !evaluation.notReached.isEmpty {
                lines.append("not read by the connector's run (no effect on its output): "
                             + evaluation.notReached.map(printable).joined(separator: ", "))
            }
            if let threshold = evaluation.threshold {
                let worst = ([evaluation.evaluation] + (evaluation.heldOut.map { [$0] } ?? [])).map(\.output.minCosine).min() ?? 1
                lines.append(evaluation.passed == true ? "passed (minimum output cosine >= \(threshold))"
                             : "FAILED: minimum output cosine \(formatNumber(worst, digits: 9)) < \(threshold) (the file is written)")
            }
        }
        return lines.isEmpty ? "" : "\n\n" + lines.joined(separator: "\n")
    }
}

/// The text of one set of output figures and its sensitivity table.
enum OutputEvaluationText {
    static func figures(_ figures: OutputErrorFigures) -> String {
        "cosine min \(formatNumber(figures.minCosine, digits: 9)), mean \(formatNumber(figures.meanCosine, digits: 9)); "
            + "relative L2 \(formatScientific(figures.relativeL2)); max |diff| \(formatScientific(figures.maxAbsDifference))"
    }

    static func run(_ title: String, _ run: OutputEvaluation.Run) -> String {
        let features = run.features
        var lines = ["\(title) (\(run.output.tokens) tokens, \(features.synthetic ? "synthetic features " : "features ")"
                     + "\(printable(features.source)) \(formatShape(features.shape))): " + figures(run.output)]
        if !run.sensitivities.isEmpty {
            let header = ["sensitivity: tensor alone", "type", "min cosine", "mean cosine", "rel L2", "max|diff|"]
            let rows = run.sensitivities.map { item in
                [printable(item.name), item.type, formatNumber(item.figures.minCosine, digits: 9), formatNumber(item.figures.meanCosine, digits: 9),
                 formatScientific(item.figures.relativeL2), formatScientific(item.figures.maxAbsDifference)]
            }
            lines.append(renderTable(header, rows, rightAligned: Set(2 ... 5), indent: "  "))
        }
        return lines.joined(separator: "\n")
    }
}
