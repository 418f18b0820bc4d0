import ArgumentParser
import TensorFormats

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a tensor file's format, metadata and tensors.",
        discussion: """
            PATH is a .safetensors, .npy, .npz, .gguf, PyTorch (.bin/.pt/.pth) or ONNX (.onnx) file, or a sharded checkpoint \
            (a folder holding its index, or the index file itself). Shapes are row-major (numpy / PyTorch \
            order) whatever the file stores; tensors are listed in the order their data lies in the file.
            """)

    @Argument(help: "The file or sharded-checkpoint folder to inspect.")
    var path: String

    @Flag(help: "Print one JSON object (schema: schemas/inspect.schema.json).")
    var json = false

    @OptionGroup var reading: ReadingOptions

    func run() throws {
        let checkpoint = try reading.open(path)
        if json {
            emitJSON(InspectReport.json(checkpoint))
        } else {
            emit(InspectReport.text(checkpoint))
        }
    }
}

extension Inspect: JSONCommand {}

/// The two renderings of `inspect`.
enum InspectReport {
    static func json(_ checkpoint: Checkpoint) -> JSONValue {
        var members: [JSONValue.Member] = [
            .init("format", .string(checkpoint.format.rawValue)),
            .init("metadata", .object(checkpoint.metadata.map { .init($0.key, $0.value.json) })),
            .init("tensors", .array(checkpoint.tensors.map { tensor in
                var fields: [JSONValue.Member] = [
                    .init("name", .string(tensor.name)),
                    .init("dtype", .string(tensor.dtype.rawValue)),
                    .init("shape", .array(tensor.shape.map { .int($0) })),
                    .init("nbytes", .int(tensor.info.byteCount)),
                ]
                if let file = tensor.file { fields.append(.init("file", .string(file))) }
                return .object(fields)
            })),
        ]
        if !checkpoint.notes.isEmpty {
            members.append(.init("notes", .array(checkpoint.notes.map { .string($0) })))
        }
        return .object(members)
    }

    static func text(_ checkpoint: Checkpoint) -> String {
        var lines: [String] = []
        lines.append("\(printable(checkpoint.path)): \(checkpoint.format.rawValue)"
            + (checkpoint.shards.isEmpty ? "" : ", " + counted(checkpoint.shards.count, "shard")))
        for note in checkpoint.notes { lines.append("note: " + printable(note)) }
        if checkpoint.metadata.isEmpty {
            lines.append("metadata: none")
        } else {
            lines.append("metadata (\(checkpoint.metadata.count)):")
            let keyWidth = checkpoint.metadata.map(\.key.count).max() ?? 0
            for entry in checkpoint.metadata {
                let key = printable(entry.key)
                lines.append("  " + key + String(repeating: " ", count: max(0, keyWidth - key.count)) + "  "
                    + summarize(entry.value))
            }
        }
        let sharded = checkpoint.tensors.contains { $0.file != nil }
        var header = ["NAME", "DTYPE", "SHAPE", "SIZE"]
        if sharded { header.append("FILE") }
        let rows = checkpoint.tensors.map { tensor in
            var row = [printable(tensor.name), tensor.dtype.rawValue, formatShape(tensor.shape), formatBytes(tensor.info.byteCount)]
            if sharded { row.append(printable(tensor.file ?? "")) }
            return row
        }
        lines.append("tensors (\(checkpoint.tensors.count)):")
        if !rows.isEmpty {
            lines.append(renderTable(header, rows, indent: "  "))
        }
        let elements = checkpoint.tensors.reduce(0) { $0 &+ $1.info.elementCount }
        lines.append("total: \(counted(checkpoint.tensors.count, "tensor")), \(counted(elements, "element")), "
            + "\(formatBytes(checkpoint.totalBytes)) (\(counted(checkpoint.totalBytes, "byte")))")
        return lines.joined(separator: "\n")
    }

    /// A metadata value on one line: long arrays are elided after a few items.
    static func summarize(_ value: MetadataValue) -> String {
        switch value {
        case .string(let text):
            let shown = text.count > 120 ? String(text.prefix(117)) + "..." : text
            return "\"" + printable(shown) + "\""
        case .array(let type, let items):
            let shown = items.prefix(8).map(summarize).joined(separator: ", ")
            let more = items.count > 8 ? ", ... (\(formatCount(items.count)) \(type) items)" : ""
            return "[" + shown + more + "]"
        default:
            return value.json.serialized()
        }
    }
}
