import ConnectorGraph
import Quantization
import TensorFormats

/// The storage type of each new connector tensor in the spliced file.
///
/// - `--type T`: every tensor as `quantize --type T` encodes it (its keep rules and fallbacks included),
///   through the quantization pipeline itself.
/// - otherwise a block-quantized tensor keeps its type (never dequantized and re-rounded), and a float
///   tensor takes the type the base stored under the same name: a float type by a cast, a block type
///   through the quantize policy for that type. A tensor the base does not have gets what llama.cpp's
///   converters write: f16 for a weight of two or more dimensions, f32 for the rest.
extension Splicer {
    struct Encoded {
        var tensor: OutputTensor
        var entry: SpliceReport.Tensor
    }

    /// The tensors encoded, and the quantization pipelines that encode some of them (their reports hold the
    /// warnings of their f16 casts once written).
    static func encode(_ conversion: SchemeConversion, base: BoundConnector, request: SpliceRequest,
                       overflow: CastOverflow) throws -> ([Encoded], [QuantizePipeline.Prepared]) {
        let baseTensors = Dictionary(base.parameters.flatMap(\.tensors).map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var result: [Encoded] = []
        var pipelines: [QuantizePipeline.Prepared] = []
        func quantizeRequest(_ type: QuantizationType) -> QuantizeRequest {
            var quantize = QuantizeRequest(type: type)
            quantize.strict = request.strict
            quantize.refuseNothingToQuantize = false
            return quantize
        }
        if let type = request.type {
            let tensors = conversion.parameters.flatMap(\.tensors)
            let checkpoint = Checkpoint(path: request.connector.checkpoint.path, format: request.connector.checkpoint.format,
                                        metadata: [], tensors: tensors)
            let prepared = try QuantizePipeline.prepare(checkpoint, outputPath: request.outputPath, request: quantizeRequest(type))
            var entries = prepared.report.entries.makeIterator()
            for (tensor, output) in zip(tensors, prepared.tensors) {
                let reason = entries.next().map { $0.reason == .selected ? "--type \(type.name)" : $0.reason.description } ?? ""
                result.append(Encoded(tensor: output, entry: entry(tensor, conversion, output.info.dtype, reason)))
            }
            return (result, [prepared])
        }
        for tensor in conversion.parameters.flatMap(\.tensors) {
            var (target, reason) = storageType(of: tensor, base: baseTensors[tensor.name])
            let output: OutputTensor
            if target == tensor.dtype {
                output = OutputTensor(copying: tensor)
            } else if target.isBlockQuantized {
                let single = Checkpoint(path: request.connector.checkpoint.path, format: .safetensors, metadata: [], tensors: [tensor])
                let prepared = try QuantizePipeline.prepare(single, outputPath: request.outputPath,
                                                            request: quantizeRequest(.ggml(target)))
                pipelines.append(prepared)
                output = prepared.tensors[0]
                if let decided = prepared.report.entries.first, !decided.reason.isQuantized { reason += " (\(decided.reason.description))" }
                target = output.info.dtype
            } else {
                output = try Converter.castTensor(tensor, to: target, overflow: overflow)
            }
            result.append(Encoded(tensor: output, entry: entry(tensor, conversion, output.info.dtype, reason)))
        }
        return (result, pipelines)
    }

    /// The type a float tensor is stored as without `--type`, and why.
    static func storageType(of tensor: Tensor, base: Tensor?) -> (DType, String) {
        if tensor.dtype.isBlockQuantized { return (tensor.dtype, "kept: already \(tensor.dtype.rawValue)") }
        guard tensor.dtype.kind == .float else { return (tensor.dtype, "copied: not a floating-point tensor") }
        if let base {
            guard base.dtype.kind == .float || (base.dtype.isBlockQuantized && GGMLBlocks.quantizable.contains(base.dtype)) else {
                return (tensor.dtype, "kept: the base's \(base.dtype.rawValue) is not a type connkit writes")
            }
            return (base.dtype, "the base's type")
        }
        let weight = tensor.shape.filter { $0 > 1 }.count >= 2 && tensor.name.hasSuffix(".weight")
        return (weight ? .f16 : .f32, "not in the base: llama.cpp's converter default")
    }

    static func entry(_ tensor: Tensor, _ conversion: SchemeConversion, _ dtype: DType, _ reason: String) -> SpliceReport.Tensor {
        let parameter = conversion.parameters.first { $0.tensors.contains { $0.name == tensor.name } }
        let bytes = (try? TensorInfo(name: tensor.name, dtype: dtype, shape: tensor.shape).byteCount) ?? 0
        return SpliceReport.Tensor(name: tensor.name, role: parameter?.role ?? "", from: parameter?.sourceNames ?? [], sourceDType: tensor.dtype,
                                   dtype: dtype, shape: tensor.shape, reason: reason, bytes: bytes)
    }
}

/// `general.file_type` of what a file holds: llama.cpp's number for the type holding the most bytes among
/// its tensors of two or more dimensions (nil when that type has none).
public enum FileType {
    public static func describing(_ infos: [TensorInfo]) -> UInt32? {
        var bytes: [DType: Int] = [:]
        for info in infos where info.shape.filter({ $0 > 1 }).count >= 2 { bytes[info.dtype, default: 0] += info.byteCount }
        guard let dominant = bytes.max(by: { ($0.value, $1.key) < ($1.value, $0.key) })?.key else { return nil }
        switch dominant.kind {
        case .float: return QuantizationPolicy.fileType(.cast(dominant))
        case .blockQuantized: return QuantizationPolicy.fileType(.ggml(dominant))
        default: return nil
        }
    }
}
