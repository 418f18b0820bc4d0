import ConnectorGraph
import Dispatch
import Quantization
import TensorFormats

/// What `connkit splice` is asked to do: replace the connector of an llama.cpp mmproj (`base`) with the
/// connector found in `connector.checkpoint`.
public struct SpliceRequest: Sendable {
    public var base: Checkpoint
    /// The new connector with every dimension source but the base's (flags, presets, config.json, the
    /// LLM checkpoint): the base's encoder is added as a source by the splice.
    public var connector: ValidationRequest
    /// `--type T`: every connector tensor encoded as `quantize --type T` would encode it.
    public var type: QuantizationType?
    /// The output path (its extension must be `.gguf`).
    public var outputPath: String
    /// `--strict`: a cast to f16/bf16 that turns finite values into ±inf is an error (`CastOverflowError`,
    /// exit status 1) and nothing is written.
    public var strict = false
    public init(base: Checkpoint, connector: ValidationRequest, type: QuantizationType? = nil, outputPath: String) {
        self.base = base
        self.connector = connector
        self.type = type
        self.outputPath = outputPath
    }
}

/// The checked splice: the report, and when the connector fits, the output's tensors and metadata.
public struct SplicePlan {
    public var report: SpliceReport
    /// In the base's order, the base's connector replaced by the new one (empty when the report is not valid).
    public var tensors: [OutputTensor]
    public var metadata: [MetadataEntry]
    /// f16 casts whose values overflowed (filled while writing).
    public var overflow = CastOverflow()
    /// The quantization pipelines encoding connector tensors (`--type`, a quantized base's types).
    var pipelines: [QuantizePipeline.Prepared] = []
    /// The full check (values scanned) that `write` runs beside the writing.
    var valueCheck: ValueCheck?
}

/// The connector's check with its values scanned, and the kind diagnostics added to it.
struct ValueCheck: Sendable {
    var request: ValidationRequest
    var kind: [Diagnostic]
}

/// A value check running on a background queue.
final class ValueScan: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var report: ValidationReport?

    init(_ check: ValueCheck) {
        DispatchQueue.global().async {
            var report = Validator.validate(check.request)
            report.diagnostics += check.kind
            self.report = report
            self.done.signal()
        }
    }

    /// Waits for the scan (once).
    func result() -> ValidationReport {
        done.wait()
        done.signal()
        return report!
    }
}

public enum Splicer {
    /// Checks the connector against the base and plans the output; nothing is read beyond headers. Throws
    /// for unusable input (exit status 2: a base that is not an mmproj, no connector or two candidates,
    /// a layout the connector's types cannot take); a connector that does not fit the base gives a plan
    /// whose report is invalid, with validate-style diagnostics (exit status 1).
    public static func plan(_ request: SpliceRequest) throws -> SplicePlan {
        let base = request.base
        guard OutputFormat(path: request.outputPath) == .gguf else { throw SpliceError.outputNotGGUF(path: request.outputPath) }
        let baseFacts = MmprojFacts(metadata: base.metadata, format: base.format)
        guard baseFacts.isMmproj else { throw SpliceError.notMmproj(path: base.path) }
        let baseConnector = try connector(of: Validator.validate(ValidationRequest(checkpoint: base, checkValues: false)),
                                          path: base.path, isBase: true)
        guard baseConnector.scheme == SchemeName.mmproj.rawValue else {
            throw SpliceError.baseNotInMmprojScheme(path: base.path, scheme: baseConnector.scheme)
        }

        var connectorRequest = request.connector
        connectorRequest.flagClaims += encoderClaims(of: base, baseConnector: baseConnector)
        // Names and shapes decide the plan; the values (NaN, never-trained weights) are scanned while the
        // output is written (`write`), which is abandoned if the scan finds an error.
        let scanValues = connectorRequest.checkValues
        connectorRequest.checkValues = false
        var check = Validator.validate(connectorRequest)
        let connector = try self.connector(of: check, path: connectorRequest.checkpoint.path, isBase: false)
        let baseType = baseFacts.projectorType ?? Family(rawValue: baseConnector.family).flatMap {
            MmprojFacts.projectorType(for: $0, variant: baseConnector.variant)
        }
        let kind = kindDiagnostics(base: baseConnector, baseType: baseType, new: connector)
        check.diagnostics += kind
        var report = SpliceReport(base: base.path, output: request.outputPath, check: check, baseConnector: baseConnector,
                                  baseProjectorType: baseType)
        guard check.valid else { return SplicePlan(report: report, tensors: [], metadata: []) }

        // With --type every tensor is re-encoded anyway: a block-quantized one that needs a transpose is decoded first.
        let conversion = try SchemeConversion(connector, to: SchemeName.mmproj.rawValue, decodeBlocks: request.type != nil)
        let overflow = CastOverflow(strict: request.strict)
        let (encoded, pipelines) = try encode(conversion, base: baseConnector, request: request, overflow: overflow)
        let newRoles = Set(conversion.parameters.map(\.role))
        let kept = baseConnector.parameters.filter { !newRoles.contains($0.role) && !$0.tensors.isEmpty }
        let keptNames = Set(kept.flatMap(\.tensors).map(\.name))
        let baseConnectorNames = Set(baseConnector.parameters.flatMap(\.tensors).map(\.name))
        let newNames = Set(encoded.map(\.tensor.info.name))

        var tensors: [OutputTensor] = []
        var inserted = false
        for tensor in base.tensors {
            if baseConnectorNames.contains(tensor.name), !keptNames.contains(tensor.name) {
                if !inserted { tensors += encoded.map(\.tensor) }
                inserted = true
                continue
            }
            if newNames.contains(tensor.name) { throw SpliceError.nameTaken(name: tensor.name, path: base.path) }
            tensors.append(OutputTensor(copying: tensor))
        }
        if !inserted { tensors += encoded.map(\.tensor) }

        let keys = MmprojKeys.keys(for: connector)
        var metadata = MmprojKeys.updating(base.metadata, with: keys)
        let infos = tensors.map(\.info)
        if let fileType = FileType.describing(infos) { metadata = MmprojKeys.updating(metadata, with: [MetadataEntry("general.file_type", .uint32(fileType))]) }
        if infos.contains(where: { $0.dtype.isBlockQuantized }), metadata["general.quantization_version"] == nil {
            metadata.append(MetadataEntry("general.quantization_version", .uint32(2)))
        }
        report.tensors = encoded.map(\.entry)
        report.keptFromBase = kept.flatMap { parameter in parameter.tensors.map { SpliceReport.Kept(name: $0.name, role: parameter.role) } }
        report.keys = (keys + [metadata.first { $0.key == "general.file_type" }].compactMap { $0 }).map { entry in
            SpliceReport.Key(key: entry.key, value: entry.value, previous: base.metadata[entry.key])
        }
        report.baseTensorsCopied = base.tensors.count - baseConnectorNames.count + keptNames.count
        var valuesRequest = connectorRequest
        valuesRequest.checkValues = true
        return SplicePlan(report: report, tensors: tensors, metadata: metadata, overflow: overflow, pipelines: pipelines,
                          valueCheck: scanValues ? ValueCheck(request: valuesRequest, kind: kind) : nil)
    }

    /// Writes a valid plan atomically (nothing appears at the output unless everything succeeded). The
    /// connector's values are scanned meanwhile, on other threads; when the scan finds an error (NaN or
    /// infinite values) the output is abandoned and the report says why (`valid` false, nothing written).
    public static func write(_ plan: inout SplicePlan, overwrite: Bool, inputs: [String],
                             progress: ((Int, Int, Int, Int) -> Void)? = nil) throws {
        precondition(plan.report.valid, "only a valid plan is written")
        let scan = plan.valueCheck.map { ValueScan($0) }
        var writer = try CheckpointWriter(path: plan.report.output, overwrite: overwrite, inputs: inputs)
        if let progress { writer.progress = { progress($0.tensorsDone, $0.tensorsTotal, $0.bytesDone, $0.bytesTotal) } }
        // The scan is joined once the last tensor is out: failing it abandons the output before the commit.
        var tensors = plan.tensors
        if let scan, let last = tensors.popLast() {
            tensors.append(OutputTensor(info: last.info) { file in
                try last.produce(file)
                guard scan.result().valid else { throw ValuesRefused() }
            })
        }
        let result: WriteResult
        do {
            result = try writer.write(tensors, metadata: plan.metadata)
        } catch is ValuesRefused {
            plan.report.check = scan!.result()
            return
        } catch {
            _ = scan?.result()
            throw error
        }
        if let scan { plan.report.check = scan.result() }
        plan.report.warnings = plan.overflow.warnings + plan.pipelines.flatMap(\.report.warnings)
        plan.report.written = true
        plan.report.bytesWritten = result.bytesWritten
    }

    /// Thrown inside the writer to abandon the output when the value scan finds an error.
    private struct ValuesRefused: Error {}

    /// The connector a report bound, or why there is none.
    static func connector(of report: ValidationReport, path: String, isBase: Bool) throws -> BoundConnector {
        if let connector = report.connector { return connector }
        let ambiguous = report.diagnostics.first { $0.code == .ambiguousFamily || $0.code == .multipleConnectors }
        throw SpliceError.noConnector(path: path, isBase: isBase, ambiguous: ambiguous?.message)
    }

    /// What the base's vision encoder fixes for the connector: its width (`clip.vision.embedding_length`,
    /// else the base connector's input width) and, for the LLaVA line, how many encoder layers feed it
    /// (`clip.vision.feature_layer`, one when absent).
    static func encoderClaims(of base: Checkpoint, baseConnector: BoundConnector) -> [DimensionClaim] {
        var claims: [DimensionClaim] = []
        let widthKey = "clip.vision.embedding_length"
        if let width = base.metadata[widthKey]?.intValue, width > 0 {
            claims.append(DimensionClaim(key: "encoder", value: width, source: .mmprojBase(path: base.path, key: widthKey)))
        } else if let width = baseConnector.dimensions.first(where: { $0.key == "encoder" })?.value {
            claims.append(DimensionClaim(key: "encoder", value: width,
                                         source: .mmprojBase(path: base.path, key: "the input width of its connector")))
        }
        if baseConnector.dimensions.contains(where: { $0.key == "feature_layers" }) {
            let layersKey = "clip.vision.feature_layer"
            if case .array(_, let layers)? = base.metadata[layersKey], !layers.isEmpty {
                claims.append(DimensionClaim(key: "feature_layers", value: layers.count, source: .mmprojBase(path: base.path, key: layersKey)))
            } else {
                claims.append(DimensionClaim(key: "feature_layers", value: 1,
                                             source: .mmprojBase(path: base.path, key: "\(layersKey) absent: one layer")))
            }
        }
        return claims
    }

    /// The new connector must be the base's kind: same family and graph, the same release where both
    /// name one, and the projector type the base declares.
    static func kindDiagnostics(base: BoundConnector, baseType: String?, new: BoundConnector) -> [Diagnostic] {
        let newType = Family(rawValue: new.family).flatMap { MmprojFacts.projectorType(for: $0, variant: new.variant) }
        let generic: Set<String> = ["minicpmv"]
        let sameKind = base.family == new.family && base.graph.name == new.graph.name
            && (base.variant == new.variant || generic.contains(base.variant) || generic.contains(new.variant))
        guard !sameKind || newType != baseType else { return [] }
        let typeText = { (type: String?) in type.map { "clip.projector_type \"\($0)\"" } ?? "no llama.cpp projector type" }
        return [Diagnostic(.projectorTypeMismatch,
            "the base's connector is \(base.family)/\(base.variant) (\(typeText(baseType))) but the new one is \(new.family)/\(new.variant) (\(typeText(newType)))",
            hint: "splice a connector of the base's kind, or start from an mmproj of the new connector's model")]
    }
}
