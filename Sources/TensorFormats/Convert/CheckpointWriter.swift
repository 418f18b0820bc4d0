/// The container a path names, by extension.
public enum OutputFormat: String, Sendable, CaseIterable {
    case safetensors, gguf, npz, npy

    public init?(path: String) {
        switch CheckpointReader.fileExtension(path) {
        case "safetensors": self = .safetensors
        case "gguf": self = .gguf
        case "npz": self = .npz
        case "npy": self = .npy
        default: return nil
        }
    }

    /// Whether the format stores `dtype` as it is.
    public func holds(_ dtype: DType) -> Bool {
        switch self {
        case .safetensors: dtype.safetensorsName != nil
        case .gguf: dtype.ggmlType != nil
        case .npz, .npy: dtype.numpyCode != nil
        }
    }
}

/// How far a write has got: the output tensors' bytes (headers and padding not counted).
public struct WriteProgress: Sendable, Equatable {
    public var tensorsDone: Int
    public var tensorsTotal: Int
    public var bytesDone: Int
    public var bytesTotal: Int
}

/// What a write did.
public struct WriteResult: Sendable, Equatable {
    /// Bytes in the file, headers included.
    public var bytesWritten: Int
    /// Human-readable notes on what the format could not carry (metadata in a numpy file).
    public var warnings: [String]
}

/// Writes a checkpoint file: the one write path of connkit. `convert`, `quantize` and every later writer
/// hand it `[OutputTensor]` (lazy producers) and metadata; it picks the format from the extension,
/// applies the format's metadata rules, streams the tensors through that format's writer into an
/// `OutputFile` (temporary file beside the target, never over an input) and commits it, or abandons
/// it on any error so no partial file appears.
///
/// Metadata carried, per format (each rule lives in one place):
/// - GGUF: every entry, typed; a file without `general.architecture` gets `"tensors"`
///   (`defaultArchitecture`, here); `GGUFWriter` puts `general.architecture` first and takes the
///   alignment from `general.alignment` (`GGUFLayout.alignment(of:)`).
/// - safetensors: every entry, a non-string value as its JSON text (`SafetensorsWriter`).
/// - npy, npz: none (a warning says how many entries were dropped); `.npy` holds exactly one tensor.
///
/// What the format cannot hold, or connkit's reader of it would refuse (a name, a shape, a metadata value),
/// is refused before the output file is created, and named as a fault of `source` (the input), not of
/// the output: every writer refuses what the matching reader refuses, so whatever is written reads back.
public struct CheckpointWriter {
    public let path: String
    public let format: OutputFormat
    /// Replace an existing file at `path` (an input is never replaced).
    public var overwrite = false
    /// Files the output must not be (compared by device and inode): the inputs.
    public var inputs: [String] = []
    /// The checkpoint the tensors and metadata come from, named by errors about their content (a tensor
    /// or key the format cannot hold); nil names the output instead.
    public var source: String?
    /// Called on the writing thread after each tensor and about every MiB within one.
    public var progress: ((WriteProgress) -> Void)?

    /// `general.architecture` of a GGUF written from metadata that names none: it holds plain tensors.
    public static let defaultArchitecture = "tensors"

    /// A writer for `path`, whose extension sets the format.
    public init(path: String, overwrite: Bool = false, inputs: [String] = []) throws {
        guard let format = OutputFormat(path: path) else {
            // A path the command line gave: a usage error, not an input connkit cannot read.
            throw FormatError(.unsupportedFormat("unknown output extension (use .safetensors, .gguf, .npz or .npy)"), file: path,
                              code: .usage)
        }
        self.path = path
        self.format = format
        self.overwrite = overwrite
        self.inputs = inputs
    }

    /// A writer for `path` that never writes over any file `checkpoint` was read from.
    public init(path: String, from checkpoint: Checkpoint, overwrite: Bool = false) throws {
        try self.init(path: path, overwrite: overwrite, inputs: checkpoint.files)
        source = checkpoint.path
    }

    /// Refuses a tensor count the format cannot hold, before any work is done.
    public func check(tensorCount: Int) throws {
        if format == .npy, tensorCount != 1 {
            throw FormatError(.unconvertible(
                ".npy holds exactly one tensor but \(tensorCount) are selected (use --only NAME, or write .npz)"), file: source ?? path)
        }
    }

    /// The format's layout of the tensors and metadata, checked: nothing is written yet.
    private enum Plan {
        case safetensors(order: [Int], header: [UInt8])
        case gguf(GGUFWriter.Plan)
        case npz(headers: [[UInt8]])
        case npy(header: [UInt8])

        var warnings: [String] {
            if case .gguf(let plan) = self { return plan.warnings }
            return []
        }
    }

    private func plan(_ infos: [TensorInfo], _ entries: [MetadataEntry]) throws -> Plan {
        switch format {
        case .safetensors:
            let order = SafetensorsWriter.referenceOrder(infos)
            return .safetensors(order: order, header: try SafetensorsWriter.headerBytes(tensors: order.map { infos[$0] }, metadata: entries))
        case .gguf: return .gguf(try GGUFWriter.plan(tensors: infos, metadata: entries))
        case .npz: return .npz(headers: try NpzWriter.headers(for: infos))
        case .npy: return .npy(header: try NpyWriter.header(for: infos[0]))
        }
    }

    /// The metadata a file of this format carries from `metadata`, and a warning for what it drops.
    public func carried(_ metadata: [MetadataEntry]) -> (entries: [MetadataEntry], warnings: [String]) {
        switch format {
        case .gguf:
            guard metadata[GGUFLayout.architectureKey] == nil else { return (metadata, []) }
            return ([MetadataEntry(GGUFLayout.architectureKey, .string(Self.defaultArchitecture))] + metadata, [])
        case .safetensors:
            return (metadata, [])
        case .npz, .npy:
            let warnings = metadata.isEmpty ? [] : ["\(path): \(metadata.count) metadata \(metadata.count == 1 ? "entry" : "entries") not carried: numpy files hold no metadata"]
            return ([], warnings)
        }
    }

    /// Writes `tensors` (in this order where the format keeps an order) and what the format carries of
    /// `metadata` to `path`, atomically.
    @discardableResult
    public func write(_ tensors: [OutputTensor], metadata: [MetadataEntry]) throws -> WriteResult {
        try check(tensorCount: tensors.count)
        let (entries, carryWarnings) = carried(metadata)
        // The content is checked before the output exists; what it refuses is the input's.
        let plan = try attributing(to: source ?? path) { try self.plan(tensors.map(\.info), entries) }
        let output = try OutputFile(path: path, overwrite: overwrite, inputs: inputs)
        TestHold.point()
        do {
            let tracked = tracking(tensors, output: output)
            switch plan {
            case .safetensors(let order, let header):
                try SafetensorsWriter.write(tensors: order.map { tracked[$0] }, header: header, to: output)
            case .gguf(let layout): try GGUFWriter.write(tensors: tracked, plan: layout, to: output)
            case .npz(let headers): try NpzWriter.write(tensors: tracked, headers: headers, to: output)
            case .npy(let header): try NpyWriter.write(tensor: tracked[0], header: header, to: output)
            }
            try output.commit()
        } catch {
            output.abandon()
            throw error
        }
        return WriteResult(bytesWritten: output.position, warnings: carryWarnings + plan.warnings.map { "\(path): \($0)" })
    }

    /// The tensors with their producers reporting progress: after each one (in the order the format's
    /// writer runs them) and, through the output's buffer hand-offs, within it.
    private func tracking(_ tensors: [OutputTensor], output: OutputFile) -> [OutputTensor] {
        guard let progress else { return tensors }
        var state = WriteProgress(tensorsDone: 0, tensorsTotal: tensors.count, bytesDone: 0,
                                  bytesTotal: tensors.reduce(0) { $0 + $1.info.byteCount })
        var tensorStart: Int?
        output.progress = { position in
            guard let start = tensorStart else { return }
            var now = state
            now.bytesDone += position - start
            progress(now)
        }
        return tensors.map { tensor in
            OutputTensor(info: tensor.info) { file in
                tensorStart = file.position
                try tensor.produce(file)
                tensorStart = nil
                state.tensorsDone += 1
                state.bytesDone += tensor.info.byteCount
                progress(state)
            }
        }
    }
}
