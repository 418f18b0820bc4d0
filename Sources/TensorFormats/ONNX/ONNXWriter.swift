import CONNXProto
import CProtobufC
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes an `ONNXModelDescription` as an ONNX model file, and its external data file when the weights
/// go there, atomically (each written to a temporary file beside its target and renamed into place only
/// once both are complete; an existing target needs `overwrite`, an input is never replaced).
///
/// Layout of `OUT.onnx` (every byte laid out by protobuf-c): the serialization of the header `ModelProto`
/// (producer, opset, metadata, graph name, nodes, inputs, outputs), then one serialized
/// `ModelProto { graph { initializer: [t] } }` per initializer, which protobuf parsers merge into one
/// model (a message field that occurs again is merged, repeated fields appended). Only one initializer is
/// in flight at a time: an embedded one is packed by protobuf-c with its `raw_data` pointing at
/// untouched zero pages, the serialization minus its last `raw_data.len` bytes (the payload, the last
/// field packed) is written, and the tensor's producer streams the payload itself.
///
/// External data, as `onnx.save_model(..., save_as_external_data=True, all_tensors_to_one_file=True)` lays
/// it out, with each tensor's offset aligned to 64 bytes: every initializer of at least 1 KiB goes to
/// `OUT.onnx.data` beside the model (`location` is that file name, relative to the model's folder;
/// `offset` and `length` given), smaller ones stay embedded. Data goes there when asked, or when the
/// model would otherwise exceed protobuf's 2 GiB limit.
public struct ONNXWriter {
    public enum DataPlacement: Sendable {
        /// Embedded unless the model would exceed 2 GiB.
        case automatic
        /// Initializers of at least `externalThreshold` bytes in the external data file.
        case external
    }

    public let path: String
    public var placement: DataPlacement = .automatic
    /// Replace existing outputs (an input is never replaced).
    public var overwrite = false
    /// Files the outputs must not be: the inputs.
    public var inputs: [String] = []
    /// Called after each initializer and about every MiB within one.
    public var progress: ((WriteProgress) -> Void)?
    /// Called once everything is written, before either output is put in place: throwing abandons both
    /// (a check that runs while the model is written, such as the export's value scan).
    public var beforeCommit: (() throws -> Void)?
    /// The largest model written with every initializer embedded (protobuf's limit; tests lower it).
    var embeddedLimit = ONNXWriter.protobufLimit

    /// onnx's `size_threshold`: smaller initializers stay in the model.
    public static let externalThreshold = 1024
    public static let alignment = 64
    /// protobuf's limit for one serialized message.
    public static let protobufLimit = Int(Int32.max)

    public init(path: String) {
        self.path = path
    }

    /// The external data file beside the model, and the `location` the model names it by.
    public var dataPath: String { path + ".data" }
    public var dataLocation: String {
        String(path.split(separator: "/", omittingEmptySubsequences: false).last ?? Substring(path)) + ".data"
    }

    /// Writes the model (and its data file), returning what went where.
    @discardableResult
    public func write(_ model: ONNXModelDescription) throws -> ONNXWriteResult {
        let builder = ONNXMessageBuilder()
        let header = ONNXMessageBuilder.packed(try builder.header(model))
        let largest = model.initializers.map(\.info.byteCount).max() ?? 0
        let zeros = try ZeroPages(count: largest)
        // Each embedded initializer's chunk, packed size known before any byte is produced.
        var embeddedSizes: [Int] = []
        for tensor in model.initializers {
            let proto = try builder.tensor(name: tensor.info.name, dtype: tensor.info.dtype, shape: tensor.info.shape,
                                           raw: zeros.binary(tensor.info.byteCount))
            embeddedSizes.append(Self.packedSize(builder.initializerChunk(proto)))
        }
        let embeddedTotal = embeddedSizes.reduce(header.count) { Checked.add($0, $1) ?? Int.max }
        let external = placement == .external || embeddedTotal > embeddedLimit

        let modelFile = try OutputFile(path: path, overwrite: overwrite, inputs: inputs)
        var dataFile: OutputFile?
        do {
            if external { dataFile = try OutputFile(path: dataPath, overwrite: overwrite, inputs: inputs) }
            var result = ONNXWriteResult(modelBytes: 0, dataFile: external ? dataPath : nil, dataBytes: 0)
            var state = WriteProgress(tensorsDone: 0, tensorsTotal: model.initializers.count, bytesDone: 0,
                                      bytesTotal: model.initializers.reduce(0) { $0 + $1.info.byteCount })
            var tensorStart: (file: OutputFile, position: Int)?
            let report: (Int) -> Void = { _ in
                guard let progress = self.progress, let start = tensorStart else { return }
                var now = state
                now.bytesDone += start.file.position - start.position
                progress(now)
            }
            modelFile.progress = report
            dataFile?.progress = report
            try modelFile.write(header)
            for tensor in model.initializers {
                let info = tensor.info
                if let data = dataFile, info.byteCount >= Self.externalThreshold {
                    try data.pad(to: Self.alignment)
                    let entries = [("location", dataLocation), ("offset", String(data.position)), ("length", String(info.byteCount))]
                    let proto = try builder.tensor(name: info.name, dtype: info.dtype, shape: info.shape, raw: ProtobufCBinaryData(),
                                                   external: entries.map { (key: $0.0, value: $0.1) })
                    try modelFile.write(ONNXMessageBuilder.packed(builder.initializerChunk(proto)))
                    tensorStart = (data, data.position)
                    try tensor.write(to: data)
                    result.externalTensors += 1
                } else {
                    let proto = try builder.tensor(name: info.name, dtype: info.dtype, shape: info.shape,
                                                   raw: zeros.binary(info.byteCount))
                    let chunk = ONNXMessageBuilder.packed(builder.initializerChunk(proto))
                    try chunk.withUnsafeBytes { try modelFile.write(UnsafeRawBufferPointer(rebasing: $0[0 ..< chunk.count - info.byteCount])) }
                    tensorStart = (modelFile, modelFile.position)
                    try tensor.write(to: modelFile)
                    result.embeddedTensors += 1
                }
                tensorStart = nil
                state.tensorsDone += 1
                state.bytesDone += info.byteCount
                progress?(state)
            }
            try dataFile?.flush()
            try modelFile.flush()
            result.modelBytes = modelFile.position
            result.dataBytes = dataFile?.position ?? 0
            try beforeCommit?()
            try dataFile?.commit()
            try modelFile.commit()
            return result
        } catch {
            dataFile?.abandon()
            modelFile.abandon()
            throw error
        }
    }

    private static func packedSize(_ model: UnsafeMutablePointer<Onnx__ModelProto>) -> Int {
        protobuf_c_message_get_packed_size(UnsafeRawPointer(model).assumingMemoryBound(to: ProtobufCMessage.self))
    }
}

/// What an ONNX write produced.
public struct ONNXWriteResult: Sendable, Equatable {
    public var modelBytes: Int
    /// The external data file, when initializers went there.
    public var dataFile: String?
    public var dataBytes: Int
    public var embeddedTensors = 0
    public var externalTensors = 0
}

/// Readable memory that is all zeros and costs no resident memory: an anonymous private mapping never
/// written, whose pages the kernel serves from its shared zero page. protobuf-c copies an embedded
/// initializer's placeholder `raw_data` from here; the real bytes are streamed in its place.
private final class ZeroPages {
    let base: UnsafeMutableRawPointer?
    let count: Int

    init(count: Int) throws {
        self.count = count
        guard count > 0 else {
            base = nil
            return
        }
        let mapped = mmap(nil, count, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let mapped, mapped != MAP_FAILED else {
            throw FormatError(.limitExceeded(what: "a zero mapping of", value: "\(count) bytes", limit: "the address space"))
        }
        base = mapped
    }

    deinit {
        if let base { munmap(base, count) }
    }

    /// `length` zero bytes (at most `count`).
    func binary(_ length: Int) -> ProtobufCBinaryData {
        precondition(length <= count, "zero placeholder larger than the mapping")
        return ProtobufCBinaryData(len: length, data: length == 0 ? nil : base?.assumingMemoryBound(to: UInt8.self))
    }
}
