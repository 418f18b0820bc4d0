import ArgumentParser
import ConnectorGraph
import Deploy
import Quantization
import TensorFormats

struct Splice: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replace the connector inside an llama.cpp mmproj with another one.",
        discussion: """
            BASE is an mmproj written by llama.cpp's converters (convert_hf_to_gguf.py --mmproj, or \
            convert_image_encoder_to_gguf.py for LLaVA-1.5/NeXT and MobileVLM); CONNECTOR is any checkpoint \
            `validate` reads (an mm_projector.bin, a transformers checkpoint, a connkit-quantized GGUF…), \
            several files being parts of one.

            Before anything is written, the new connector is checked as `validate` checks it, with the \
            base's vision encoder as a dimension source (clip.vision.embedding_length, its feature layers) \
            and, with --llm-checkpoint, the text model's width; it must be the base's kind (family, variant, \
            clip.projector_type). A mismatch prints validate-style diagnostics and exits 1, nothing written.

            Every other tensor and key of the base is copied byte for byte. The connector is renamed and laid \
            out as llama.cpp stores it; keys the connector determines (clip.projector_type, the MiniCPM-V \
            version and query count, merge sizes) are written, keys describing the encoder are left alone. \
            Storage types: with --type T every connector tensor is encoded as `quantize --type T` would; \
            without it a block-quantized connector keeps its types and a float one takes, tensor by tensor, \
            the type the base stored (f16 2-D weights, f32 norms and biases for llama.cpp's converters).

            Exit status: 0 written, 1 the connector does not fit the base, 2 unusable input or bad usage.
            """)

    @Argument(help: "The mmproj GGUF whose connector is replaced.")
    var base: String

    @Argument(help: "The new connector: a checkpoint file or folder (several: parts of one checkpoint).")
    var connectors: [String] = []

    @Option(name: [.customShort("o"), .customLong("output")], help: "The output mmproj (.gguf).")
    var output: String

    @Option(name: .customLong("type"), help: "Encode every connector tensor as `connkit quantize --type T` would.")
    var type: Choice<QuantizationType>?

    @OptionGroup var connector: ConnectorOptions

    @OptionGroup var write: WriteFlags

    @Flag(help: "Print one JSON object (schema: schemas/splice.schema.json).")
    var json = false

    func run() throws {
        if connectors.isEmpty { throw CommandFailure.usage("give the new connector's checkpoint after BASE") }
        if connector.graph != nil { throw CommandFailure.usage("splice takes a built-in family's connector; --graph describes a custom one") }
        let type = try type?.value
        let baseCheckpoint = try connector.reading.open(base)
        var request = SpliceRequest(base: baseCheckpoint, connector: try connector.request(connectors, checkValues: true),
                                    type: type, outputPath: output)
        request.strict = write.strict
        var plan: SplicePlan
        do {
            plan = try Splicer.plan(request)
        } catch let error as SchemeConversionError {
            throw ErrorInFile(file: request.connector.checkpoint.path, error: error)  // about the new connector's tensors
        }
        if plan.report.valid {
            let bar = ProgressBar(label: "splicing", quiet: write.quiet || json)
            defer { bar.finish() }
            let checkpoint = request.connector.checkpoint
            let folder = checkpoint.path.lastIndex(of: "/").map { String(checkpoint.path[...$0]) } ?? ""
            let inputs = [base] + connectors + (connector.llmCheckpoint.map { [$0] } ?? []) + checkpoint.shards.map { folder + $0 }
            try Splicer.write(&plan, overwrite: write.force, inputs: inputs, progress: bar.update)
            bar.finish()
            plan.report.warnings.forEach(printWarning)
        }
        json ? emitJSON(plan.report.json(inputs: connectors)) : emit(text(plan.report))
        if !plan.report.valid { throw CheckFailed() }
    }

    func text(_ report: SpliceReport) -> String {
        var lines = report.check.diagnostics.map { printable($0.line) }
        if !lines.isEmpty { lines.append("") }
        let check = report.check
        lines.append("base: \(printable(report.base)): \(report.baseConnector.family) / \(report.baseConnector.variant)"
            + (report.baseProjectorType.map { " (clip.projector_type \"\($0)\")" } ?? ""))
        lines.append("connector: \(check.family ?? "?") / \(check.variant ?? "?") (\(check.scheme ?? "?") names)")
        for dim in check.dims where dim.value != nil {
            lines.append("  " + dim.key + String(repeating: " ", count: max(1, 16 - dim.key.count)) + String(dim.value!)
                + (dim.source.map { " (\(printable($0.description)))" } ?? ""))
        }
        guard report.valid else {
            lines.append("INVALID: the connector does not fit the base; nothing written")
            return lines.joined(separator: "\n")
        }
        lines.append(renderTable(["TENSOR", "DTYPE", "SHAPE", "FROM", "WHY"], report.tensors.map {
            [printable($0.name), $0.dtype.rawValue, formatShape($0.shape), printable($0.from.joined(separator: " + ")), printable($0.reason)]
        }))
        for kept in report.keptFromBase { lines.append("kept from the base: \(printable(kept.name)) (the new connector has no \(printable(kept.role)))") }
        for key in report.keys {
            lines.append("key \(key.key) = \(printable(key.value.json.serialized()))"
                + (key.previous.map { $0 == key.value ? " (unchanged)" : " (was \(printable($0.json.serialized())))" } ?? " (new)"))
        }
        if report.written, !write.quiet {
            lines.append("wrote \(printable(report.output)): \(report.tensors.count) connector tensors, \(report.baseTensorsCopied) copied from the base, \(formatBytes(report.bytesWritten))")
        }
        return lines.joined(separator: "\n")
    }
}

extension Splice: JSONCommand {}
