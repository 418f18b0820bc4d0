#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ConnectorGraph
import ConnectorRuntime
import Quantization
import TensorFormats

/// An importance matrix in llama.cpp's sense, for a connector: for each weight of a linear layer the run
/// reaches, the sum over the tokens entering it of x² of each input column (`in_sum2`) and the number of
/// those tokens (`counts`), keyed by the checkpoint's tensor names. The importance vector ggml's quantizers
/// take (`quant_weights`) is `in_sum2 / counts` in float32, exactly as `llama-quantize` computes it from
/// the file.
///
/// File layout (llama.cpp's `tools/imatrix` `save_imatrix`, GGUF): `general.type` = `imatrix`,
/// `imatrix.datasets` (array of strings), `imatrix.chunk_count` and `imatrix.chunk_size` (uint32), and per
/// entry, in name order, `<tensor>.in_sum2` (f32, ggml `ne` = [columns, 1]: row-major [1, columns]) and
/// `<tensor>.counts` (f32, [1, 1]). Here a chunk is one image: `chunk_size` its input tokens.
public struct ImportanceMatrix: Sendable, Equatable {
    /// One weight's statistics as the file stores them (float32).
    public struct Entry: Sendable, Equatable {
        public var sums: [Float]
        public var count: Float

        public init(sums: [Float], count: Float) {
            self.sums = sums
            self.count = count
        }

        /// `sums / count` in float32 (`llama-quantize`'s `load_imatrix`: the count rounded to an integer
        /// first, and all ones for a zero count).
        public var vector: [Float] {
            let count = Float(Int64(lroundf(self.count)))
            return count > 0 ? sums.map { $0 / count } : [Float](repeating: 1, count: sums.count)
        }
    }

    /// By tensor name.
    public var entries: [String: Entry]
    public var datasets: [String]
    public var chunkCount: Int
    public var chunkSize: Int

    public init(entries: [String: Entry], datasets: [String], chunkCount: Int, chunkSize: Int) {
        self.entries = entries
        self.datasets = datasets
        self.chunkCount = chunkCount
        self.chunkSize = chunkSize
    }

    /// The importance vectors by tensor name.
    public var vectors: [String: [Float]] { entries.mapValues(\.vector) }

    // MARK: the file

    public static let typeKey = "general.type"
    public static let datasetsKey = "imatrix.datasets"
    public static let chunkCountKey = "imatrix.chunk_count"
    public static let chunkSizeKey = "imatrix.chunk_size"

    /// Writes the matrix to `path` (a `.gguf`) in llama.cpp's layout, atomically.
    public func write(to path: String, overwrite: Bool, inputs: [String] = []) throws {
        var tensors: [OutputTensor] = []
        for name in entries.keys.sorted() {
            let entry = entries[name]!
            for (suffix, values) in [(".in_sum2", entry.sums), (".counts", [entry.count])] {
                let info = try TensorInfo(name: name + suffix, dtype: .f32, shape: [1, values.count])
                tensors.append(OutputTensor(info: info) { output in try values.withUnsafeBytes { try output.write($0) } })
            }
        }
        let metadata = [
            MetadataEntry(Self.typeKey, .string("imatrix")),
            MetadataEntry(Self.datasetsKey, .array(.string, datasets.map { .string($0) })),
            MetadataEntry(Self.chunkCountKey, .uint32(UInt32(clamping: chunkCount))),
            MetadataEntry(Self.chunkSizeKey, .uint32(UInt32(clamping: chunkSize))),
        ]
        guard OutputFormat(path: path) == .gguf else {
            throw OutputQuantizationError(.usage("an importance matrix is written as GGUF: name it .gguf"), file: path)
        }
        try CheckpointWriter(path: path, overwrite: overwrite, inputs: inputs).write(tensors, metadata: metadata)
    }

    /// Refuses, before anything is written, a matrix `write` could not store: an entry whose tensor name
    /// with `.in_sum2` exceeds GGUF's 63 bytes (ggml's `GGML_MAX_NAME`; names are never truncated — the
    /// transformers names of a Q-Former's layers are that long).
    public func checkWritable(to path: String) throws {
        for name in entries.keys.sorted() where (name + ".in_sum2").utf8.count > GGUFLayout.maxTensorNameBytes {
            throw OutputQuantizationError(.usage("--imatrix-out: the entry \(name).in_sum2 is \((name + ".in_sum2").utf8.count) bytes, "
                + "over GGUF's \(GGUFLayout.maxTensorNameBytes) (ggml's GGML_MAX_NAME), so llama.cpp's imatrix layout cannot key this "
                + "checkpoint's tensors; quantize without --imatrix-out"), file: path)
        }
    }

    /// Reads a GGUF importance matrix (llama.cpp's layout, from `llama-imatrix` or `--imatrix-out`) whose
    /// entries name tensors of `checkpoint`: every `.in_sum2` needs its `.counts`, both float32, one matrix
    /// per entry (no experts), as many sums as the tensor's rows have elements, finite and not negative.
    public static func read(path: String, for checkpoint: Checkpoint) throws -> ImportanceMatrix {
        let file: Checkpoint
        do {
            file = try CheckpointReader.open(path)
        } catch let error as ConnkitError {
            throw OutputQuantizationError(.importanceFile("not an importance matrix: \(error.description)"), file: path)
        }
        func fail(_ message: String) -> OutputQuantizationError { OutputQuantizationError(.importanceFile(message), file: path) }
        guard file.format == .gguf else { throw fail("an importance matrix is a GGUF file (llama.cpp's imatrix layout)") }
        var sums: [String: Tensor] = [:], counts: [String: Tensor] = [:]
        for tensor in file.tensors {
            if tensor.name.hasSuffix(".in_sum2") {
                sums[String(tensor.name.dropLast(".in_sum2".count))] = tensor
            } else if tensor.name.hasSuffix(".counts") {
                counts[String(tensor.name.dropLast(".counts".count))] = tensor
            } else {
                throw fail("tensor \(tensor.name) is neither <name>.in_sum2 nor <name>.counts")
            }
        }
        guard !sums.isEmpty || !counts.isEmpty else { throw fail("no entries") }
        var entries: [String: Entry] = [:]
        for name in Set(sums.keys).union(counts.keys).sorted() {
            guard let sum = sums[name], let count = counts[name] else {
                throw fail("\(name) has \(sums[name] == nil ? "counts but no in_sum2" : "in_sum2 but no counts")")
            }
            guard sum.dtype == .f32, count.dtype == .f32 else {
                throw fail("\(name): in_sum2 and counts must be f32, found \(sum.dtype.rawValue) and \(count.dtype.rawValue)")
            }
            guard count.info.elementCount == 1 else {
                throw fail("\(name) has \(count.info.elementCount) counts: per-expert matrices are not supported")
            }
            guard let tensor = checkpoint.tensor(named: name) else {
                throw fail("\(name) names no tensor of \(checkpoint.path)")
            }
            let columns = tensor.shape.last ?? 1
            guard sum.info.elementCount == columns else {
                throw fail("\(name): in_sum2 holds \(sum.info.elementCount) values, the tensor's rows \(columns)")
            }
            var values = [Float](repeating: 0, count: columns)
            try values.withUnsafeMutableBufferPointer { try sum.readFloats(into: $0) }
            var number = [Float](repeating: 0, count: 1)
            try number.withUnsafeMutableBufferPointer { try count.readFloats(into: $0) }
            if let bad = values.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
                throw fail("\(name): in_sum2 value \(bad) is \(values[bad]); sums of squares are finite and not negative")
            }
            guard number[0].isFinite, number[0] >= 0 else { throw fail("\(name): the count is \(number[0])") }
            entries[name] = Entry(sums: values, count: number[0])
        }
        let datasets: [String]
        if case .array(_, let items)? = file.metadata[datasetsKey] {
            datasets = items.compactMap(\.stringValue)
        } else {
            datasets = []
        }
        return ImportanceMatrix(entries: entries, datasets: datasets, chunkCount: file.metadata[chunkCountKey]?.intValue ?? 0,
                                chunkSize: file.metadata[chunkSizeKey]?.intValue ?? 0)
    }
}

/// Accumulates an importance matrix while the original connector runs (`observer` goes to
/// `OutputReference` / `Connector.run`): per weight role and slice of its rows, Σx² of each input column
/// (in double precision) and the rows seen.
public final class ImportanceCollector: @unchecked Sendable {
    private struct Key: Hashable {
        let role: String
        let lower: Int
        let upper: Int
    }

    private var sums: [Key: [Double]] = [:]
    private var counts: [Key: Int] = [:]

    public init() {}

    /// The observer to run the connector with.
    public var observer: LinearInputObserver {
        { [self] input in add(input) }
    }

    private func add(_ input: LinearInput) {
        let key = Key(role: input.role, lower: input.weightRows.lowerBound, upper: input.weightRows.upperBound)
        let width = input.width, rows = input.rows.count / max(1, width)
        var sum = sums[key] ?? [Double](repeating: 0, count: width)
        guard sum.count == width else { return }
        sum.withUnsafeMutableBufferPointer { sum in
            for row in 0 ..< rows {
                let x = input.rows.baseAddress! + row * width
                for column in 0 ..< width {
                    let value = Double(x[column])
                    sum[column] += value * value
                }
            }
        }
        sums[key] = sum
        counts[key, default: 0] += rows
    }

    /// The matrix for the stored tensors of `bound`: a weight stored as one 2-D `[out, in]` tensor gets its
    /// layer's statistics; one stored as parts (q, k, v) gets, per part, those of the projections using its
    /// rows. Weights stored transposed or squeezed, convolutions, and weights the run never reached get no
    /// entry (they are quantized without weights, as llama.cpp does for tensors its imatrix lacks).
    public func matrix(for bound: BoundConnector, datasets: [String], chunkCount: Int, chunkSize: Int) -> ImportanceMatrix {
        var entries: [String: ImportanceMatrix.Entry] = [:]
        for parameter in bound.parameters where parameter.layout == .direct || parameter.layout == .parts {
            var firstRow = 0
            for tensor in parameter.tensors {
                guard tensor.shape.count == 2 else { break }
                let rows = firstRow ..< firstRow + tensor.shape[0]
                firstRow = rows.upperBound
                var total: [Double]?
                var count = 0
                for key in sums.keys.sorted(by: { ($0.lower, $0.upper) < ($1.lower, $1.upper) })
                    where key.role == parameter.role && key.lower < rows.upperBound && rows.lowerBound < key.upper {
                    let sum = sums[key]!
                    guard sum.count == tensor.shape[1] else { continue }
                    total = zip(total ?? [Double](repeating: 0, count: sum.count), sum).map(+)
                    count += counts[key] ?? 0
                }
                guard let total, count > 0 else { continue }
                entries[tensor.name] = ImportanceMatrix.Entry(sums: total.map { Float($0) }, count: Float(count))
            }
        }
        return ImportanceMatrix(entries: entries, datasets: datasets, chunkCount: chunkCount, chunkSize: chunkSize)
    }
}
