import TensorFormats

/// Everything `validate` knows: the (pooled) checkpoint and the dimension sources.
public struct ValidationRequest: Sendable {
    public var checkpoint: Checkpoint
    /// Restrict detection to one family (`--family`).
    public var family: Family?
    /// A user-written graph (`--graph`), instead of the built-in families.
    public var graph: ConnectorGraph?
    /// `--encoder-dim`, `--llm-dim`, `--dim KEY=N`.
    public var flagClaims: [DimensionClaim]
    public var encoderPreset: EncoderPreset?
    public var llmPreset: LLMPreset?
    /// The config.json of every folder among the inputs (or the one `--config` names), in input order;
    /// two that disagree on a dimension are a `dimension-conflict` naming both files.
    public var configs: [ConfigFacts]
    /// The LLM's width from `--llm-checkpoint`.
    public var llmCheckpointClaim: DimensionClaim?
    public var checkValues: Bool

    public init(checkpoint: Checkpoint, family: Family? = nil, graph: ConnectorGraph? = nil, flagClaims: [DimensionClaim] = [],
                encoderPreset: EncoderPreset? = nil, llmPreset: LLMPreset? = nil, configs: [ConfigFacts] = [],
                llmCheckpointClaim: DimensionClaim? = nil, checkValues: Bool = true) {
        self.checkpoint = checkpoint
        self.family = family
        self.graph = graph
        self.flagClaims = flagClaims
        self.encoderPreset = encoderPreset
        self.llmPreset = llmPreset
        self.configs = configs
        self.llmCheckpointClaim = llmCheckpointClaim
        self.checkValues = checkValues
    }
}

/// The result of `validate`: what was found, its dimensions with their sources, and every diagnostic.
public struct ValidationReport: Sendable {
    public var family: String?
    public var variant: String?
    public var scheme: String?
    /// The module path the connector's names start with (`BoundConnector.prefix`).
    public var prefix: String?
    /// The scheme's own prefix, when the connector was found under another one (`prefix`).
    public var ownPrefix: String?
    /// The graph checked (a built-in graph's name, or a custom graph's).
    public var graphName: String?
    public var isCustom = false
    /// Dimension keys in report order (`encoder`, `llm`, then the family's others) with their values.
    public var dims: [(key: String, value: Int?, source: DimensionSource?)] = []
    /// The tensors (or config/metadata facts) that decided the detection.
    public var detectedBy: [String] = []
    public var diagnostics: [Diagnostic] = []
    public var parameters: Int?
    public var inputTokens: Int?
    public var outputTokens: Int?
    public var connectorTensors: [String] = []
    /// The detected connector bound to the checkpoint (nil when none was detected); complete, and so
    /// ready to run, only when the report is `valid`.
    public var connector: BoundConnector?

    public var valid: Bool { !diagnostics.contains { $0.severity == .error } }

    public func dim(_ key: String) -> Int? { dims.first { $0.key == key }?.value ?? nil }
}

public enum Validator {
    /// Detects the connector, binds its dimensions from every source, checks it against the graph
    /// (`GraphCheck`'s phases), compares it with what the config and metadata declare, and scans its
    /// values.
    public static func validate(_ request: ValidationRequest) -> ValidationReport {
        var report = ValidationReport()
        let checkpoint = request.checkpoint
        let index = NameIndex(checkpoint.tensors)
        let mmproj = MmprojFacts(metadata: checkpoint.metadata, format: checkpoint.format)
        report.diagnostics += request.configs.flatMap(\.notes)
        report.isCustom = request.graph != nil

        let detection = detect(request, index: index, mmproj: mmproj)
        report.diagnostics += detection.diagnostics
        guard let chosen = detection.chosen else { return report }
        report.detectedBy = detection.deciding
        if chosen.compiled.isRerooted { report.ownPrefix = chosen.compiled.ownPrefix }
        let variant = chosen.variant

        let scope = GraphCheck.Scope(variant: variant, compiled: chosen.compiled, index: index)
        let check = GraphCheck.Seeded(scope, sources: sources(request, chosen: chosen, mmproj: mmproj))
            .expand().resolve().bindDimensions().finish()
        report.diagnostics += check.diagnostics

        // What the config and the mmproj metadata declare, against what was found.
        let evidence = VariantEvidence(minicpmvVersion: request.configs.lazy.compactMap(\.minicpmvVersion).first ?? mmproj.minicpmvVersion)
        var bound: [String: Int] = [:]
        for dim in variant.graph.dimensions {
            if let key = dim.key, let value = check.binder.value(dim.symbol) { bound[key] = value }
        }
        let variantName = report.isCustom ? (variant.graph.variant ?? "custom") : variant.variantName(dims: bound, evidence: evidence)
        if !report.isCustom {
            for config in request.configs {
                report.diagnostics += declaredKindDiagnostics(config.hint, chosen: variant, variantName: variantName)
            }
            report.diagnostics += mmprojDiagnostics(mmproj, chosen: variant, variantName: variantName)
        }
        if request.checkValues {
            report.diagnostics += valueDiagnostics(check.params)
        }

        // A --graph description is reported as "custom" (its own names are in `graph`), so the closed
        // vocabularies of family, variant and scheme stay closed.
        var connector = BoundConnector(family: report.isCustom ? "custom" : variant.family.rawValue,
                                       variant: report.isCustom ? "custom" : variantName,
                                       scheme: report.isCustom ? "custom" : chosen.scheme, prefix: chosen.compiled.prefix, check: check,
                                       graph: variant.graph)
        connector.attributes = ConfiguredAttributes(merging: request.configs.map(\.attributes))
        report.describe(connector)
        report.diagnostics = ordered(report.diagnostics)
        return report
    }

    /// The candidate connector, or the diagnostics saying why none could be chosen.
    static func detect(_ request: ValidationRequest, index: NameIndex, mmproj: MmprojFacts) -> Detection {
        let pool: [(FamilyVariant, CompiledScheme)]
        if let graph = request.graph {
            do { pool = try Detector.custom(graph) } catch {
                return Detection(chosen: nil, deciding: [], diagnostics: [Diagnostic(.noConnector, "the graph's naming scheme is invalid: \(error)")],
                                 considered: [])
            }
        } else if let family = request.family {
            pool = Detector.builtIn.filter { $0.0.family == family }
        } else {
            pool = Detector.builtIn
        }
        let hints = request.graph == nil ? ([mmproj.hint] + request.configs.map(\.hint)).compactMap { $0 } : []
        var detection = Detector.find(pool, index: index, hints: hints, narrowed: request.family != nil || request.graph != nil,
                                      path: request.checkpoint.path)
        if detection.chosen == nil, detection.diagnostics.isEmpty {
            let checkpoint = request.checkpoint
            let scope = request.graph.map { "of the graph \($0.name)" } ?? request.family.map { "of the \($0.rawValue) family" } ?? "of any built-in family"
            let family = request.family?.rawValue ?? "FAMILY"
            let count = checkpoint.tensors.count
            if !detection.singleRole.isEmpty {
                let fits = detection.singleRole.map { "\($0.label) by \($0.matched.sorted().joined(separator: ", "))" }
                detection.diagnostics.append(Diagnostic(.noConnector,
                    "no connector found by more than one tensor among the \(count) tensor\(count == 1 ? "" : "s") of \(checkpoint.path); the names fit \(fits.joined(separator: "; "))",
                    hint: "one tensor name alone does not tell a connector; pass --family "
                        + Set(detection.singleRole.map(\.variant.family.rawValue)).sorted().joined(separator: " or --family ") + " to check it as one"))
                return detection
            }
            detection.diagnostics.append(Diagnostic(.noConnector,
                "no connector tensors \(scope) among the \(count) tensor\(count == 1 ? "" : "s") of \(checkpoint.path), under their own names or any other prefix",
                hint: request.graph == nil
                    ? "`connkit describe \(family)` lists the names a built-in family expects; for another connector write its graph: `connkit describe \(family) --graph-json > mine.json`, edit it, then `connkit validate PATH --graph mine.json`"
                    : "the graph's scheme names (or its role names when it has no scheme) are looked for; compare them with `connkit inspect PATH`"))
        }
        return detection
    }

    /// The dimension sources, strong ones in the order `GraphCheck` ranks them by precedence.
    static func sources(_ request: ValidationRequest, chosen: Candidate, mmproj: MmprojFacts) -> GraphCheck.Sources {
        var strong = request.flagClaims
        if let preset = request.encoderPreset {
            strong += Presets.claims(encoder: preset, keepsClassToken: chosen.variant.keepsClassToken, source: .preset(preset.name))
        }
        if let preset = request.llmPreset { strong += Presets.claims(llm: preset, source: .preset(preset.name)) }
        for config in request.configs { strong += config.claims(for: chosen.variant) }
        if let claim = request.llmCheckpointClaim { strong.append(claim) }
        if let embedded = LLMWidth.find(in: request.checkpoint, excluding: chosen.matched) { strong.append(embedded) }
        return GraphCheck.Sources(strong: strong, advisory: mmproj.claims)
    }

    /// Errors first, then warnings, then notes; within a severity the order they were found in.
    static func ordered(_ diagnostics: [Diagnostic]) -> [Diagnostic] {
        diagnostics.enumerated().sorted { ($0.element.severity, $0.offset) < ($1.element.severity, $1.offset) }.map(\.element)
    }

    /// A config that declares another connector kind than the tensors hold (LLaVA's
    /// `mm_projector_type` says `linear` while the weights are an MLP, say).
    static func declaredKindDiagnostics(_ hint: KindHint?, chosen: FamilyVariant, variantName: String) -> [Diagnostic] {
        guard let hint, hint.family != nil || hint.variant != nil else {
            if let hint { return [Diagnostic(.projectorTypeMismatch, "the config declares \(hint.evidence), which no built-in family builds, but the tensors are \(chosen.family.rawValue)/\(variantName)")] }
            return []
        }
        if hint.accepts(chosen, refinedVariant: variantName) { return [] }
        let declared = [hint.family?.rawValue, hint.variant].compactMap { $0 }.joined(separator: "/")
        return [Diagnostic(.projectorTypeMismatch,
            "the config declares \(hint.evidence) (\(declared)), but the tensors are \(chosen.family.rawValue)/\(variantName)",
            hint: "a loader following the config builds a different module and leaves these weights unused")]
    }

    static func mmprojDiagnostics(_ mmproj: MmprojFacts, chosen: FamilyVariant, variantName: String) -> [Diagnostic] {
        guard mmproj.isMmproj else { return [] }
        let inferred = MmprojFacts.projectorType(for: chosen.family, variant: variantName)
        guard let declared = mmproj.projectorType else {
            return [Diagnostic(.projectorTypeMissing,
                "clip.projector_type is missing; the tensors say \(inferred.map { "\"\($0)\"" } ?? "a connector llama.cpp has no type for")",
                hint: inferred.map { "add clip.projector_type = \"\($0)\": current llama.cpp refuses files without it" })]
        }
        guard MmprojFacts.knownProjectorTypes.contains(declared) else {
            return [Diagnostic(.projectorTypeUnknown, "clip.projector_type \"\(declared)\" is not a type llama.cpp knows",
                               hint: inferred.map { "the tensors are a \"\($0)\" projector" })]
        }
        if let inferred, inferred != declared {
            return [Diagnostic(.projectorTypeMismatch,
                "clip.projector_type is \"\(declared)\", but the tensors are a \"\(inferred)\" projector (\(chosen.family.rawValue)/\(variantName))")]
        }
        return []
    }

    /// NaN/Inf, all-zero or constant weights, zero gates and f16 overflow risk, from one parallel read.
    static func valueDiagnostics(_ expected: [FoundParam]) -> [Diagnostic] {
        var seen = Set<ExactName>()
        var params: [(FoundParam, Tensor)] = []
        for param in expected {
            for tensor in param.found where seen.insert(ExactName(tensor.name)).inserted && !param.skipShape { params.append((param, tensor)) }
        }
        let tensors = params.map(\.1)
        let stats: [ValueStats?]
        do { stats = try ValueScanner.scan(tensors) } catch {
            return [Diagnostic(.valuesSkipped, "values were not scanned: \(error)")]
        }
        var diagnostics: [Diagnostic] = []
        var skipped: [String] = []
        for ((param, tensor), stat) in zip(params, stats) {
            guard let stat else {
                skipped.append(tensor.name)
                continue
            }
            guard stat.elements > 0 else { continue }
            if stat.nan > 0 || stat.infinite > 0 {
                let parts = [stat.nan > 0 ? "\(stat.nan) NaN" : nil, stat.infinite > 0 ? "\(stat.infinite) infinite" : nil].compactMap { $0 }
                let count = stat.nan + stat.infinite
                let positions = stat.nonFinitePositions.map { ElementPosition(flat: $0, shape: tensor.shape) }
                let places = positions.prefix(3).map { "\($0.text) (flat \($0.flat))" }.joined(separator: ", ")
                let at = count <= 3 ? "at \(places)" : "first at \(places), …"
                diagnostics.append(Diagnostic(.nonFinite, tensor: tensor.name,
                    "\(tensor.name) holds \(parts.joined(separator: " and ")) value\(count == 1 ? "" : "s") (of \(stat.elements)) \(at)",
                    hint: "a diverged run, or an overflow in a cast to f16", positions: positions))
                continue
            }
            let isWeight = param.gate || tensor.shape.count >= 2 || param.slot == "queries" || param.slot == "table"
            if param.gate {
                if stat.zeros == stat.elements {
                    diagnostics.append(Diagnostic(.zeroGate, tensor: tensor.name,
                        "\(tensor.name) is exactly zero: tanh(0) = 0 switches its block off",
                        hint: "gates are initialised to zero; a zero gate means the block was never trained"))
                }
            } else if isWeight {
                if stat.zeros == stat.elements {
                    diagnostics.append(Diagnostic(.allZero, tensor: tensor.name, "every element of \(tensor.name) is zero",
                                                  hint: "a connector that was never trained, or weights that failed to load"))
                } else if stat.constant && stat.elements > 1 {
                    diagnostics.append(Diagnostic(.constant, tensor: tensor.name,
                        "every element of \(tensor.name) equals \(stat.first ?? 0)", hint: "an initialisation value, never trained"))
                }
            }
            if tensor.dtype == .bf16 || tensor.dtype == .f32 || tensor.dtype == .f64, stat.maxAbs > 65504 {
                diagnostics.append(Diagnostic(.f16OverflowRisk, tensor: tensor.name,
                    "\(tensor.name) (\(tensor.dtype.rawValue)) holds magnitudes up to \(stat.maxAbs), beyond f16's 65504",
                    hint: "casting it to f16 turns them into infinities; keep bf16/f32 for this tensor"))
            }
        }
        if !skipped.isEmpty {
            diagnostics.append(Diagnostic(.valuesSkipped, tensor: skipped[0],
                "values of \(skipped.count) tensor\(skipped.count == 1 ? "" : "s") were not scanned (block-quantized or non-float types): \(skipped.prefix(3).joined(separator: ", "))\(skipped.count > 3 ? ", …" : "")"))
        }
        return diagnostics
    }
}

/// The detected connector's tensor names, for `connkit convert --connector`: detection as in
/// `validate` (no dimension sources), then the tensors its parameters resolve to, in checkpoint order.
/// Throws when no connector, or more than one, is found.
public func connectorTensorNames(in checkpoint: Checkpoint) throws -> [String] {
    let index = NameIndex(checkpoint.tensors)
    let mmproj = MmprojFacts(metadata: checkpoint.metadata, format: checkpoint.format)
    let detection = Detector.find(Detector.builtIn, index: index, hints: mmproj.hint.map { [$0] } ?? [], narrowed: false,
                                  path: checkpoint.path)
    guard let chosen = detection.chosen else {
        if let reason = detection.diagnostics.first(where: { $0.code == .ambiguousFamily || $0.code == .multipleConnectors }) {
            throw ConnectorDetectionError.ambiguous(reason.message)
        }
        throw ConnectorDetectionError.notFound(path: checkpoint.path, tensorCount: checkpoint.tensors.count)
    }
    let scope = GraphCheck.Scope(variant: chosen.variant, compiled: chosen.compiled, index: index)
    let resolved = GraphCheck.Seeded(scope, sources: nil).expand().resolve()
    let names = Set(resolved.params.flatMap(\.found).map { ExactName($0.name) })
    var seen = Set<ExactName>()
    return checkpoint.tensors.map(\.name).filter { names.contains(ExactName($0)) && seen.insert(ExactName($0)).inserted }
}

public enum ConnectorDetectionError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(path: String, tensorCount: Int)
    case ambiguous(String)

    public var description: String {
        switch self {
        case .notFound(let path, let count): "\(path): no connector of a built-in family among its \(count) tensor\(count == 1 ? "" : "s")"
        case .ambiguous(let detail): detail
        }
    }
}

extension ConnectorDetectionError: ConnkitError {
    public var failure: FailureClass { .unusableInput }
    /// No connector: the selection holds no tensor; several: none can be chosen as asked.
    public var code: ErrorCode {
        switch self {
        case .notFound: .emptySelection
        case .ambiguous: .notConvertible
        }
    }
}

extension ValidationReport {
    /// The summary fields, from the bound connector.
    mutating func describe(_ connector: BoundConnector) {
        self.connector = connector
        family = connector.family
        variant = connector.variant
        scheme = connector.scheme
        prefix = connector.prefix
        graphName = connector.graph.name
        var keys = ["encoder", "llm"]
        for dimension in connector.dimensions { if let key = dimension.key, !keys.contains(key) { keys.append(key) } }
        dims = keys.map { key in
            let dimension = connector.dimensions.first { $0.key == key }
            return (key, dimension?.value, dimension?.source)
        }
        var seen = Set<String>()
        var count = 0
        for tensor in connector.parameters.flatMap(\.tensors) where seen.insert(tensor.name).inserted {
            count = Checked.add(count, tensor.info.elementCount) ?? count
            connectorTensors.append(tensor.name)
        }
        parameters = count
        inputTokens = connector.graph.dimension(key: "tokens").flatMap { connector.value(.symbol($0.symbol)) }
        let held = Set(connector.parameters.filter { $0.layout != .absent }.map(\.node))
        outputTokens = connector.graph.outputTokens({ symbol in connector.value(.symbol(symbol)) }) { held.contains($0) }
    }
}
