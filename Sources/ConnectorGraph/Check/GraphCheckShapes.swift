import TensorFormats

// MARK: - Phase 3: finding the tensors

extension GraphCheck.Expanded {
    /// Looks up every expected parameter; reports duplicates, missing tensors (an optional node may be
    /// absent as a whole), zero-element placeholders and integer tensors standing for float weights.
    func resolve() -> GraphCheck.Resolved {
        var state = self.state
        let index = state.scope.index
        var resolved = params.map { FoundParam(expected: $0) }
        for i in resolved.indices {
            var param = resolved[i]
            if param.isParts {
                param.found = param.names.compactMap { index.tensors($0).first }
                if param.found.count != param.names.count { param.found = [] }
            } else {
                let present = param.names.filter { index.contains($0) }
                if present.count > 1 {
                    state.diagnostics.append(Diagnostic(.duplicateTensor, tensor: present[1],
                        "\(param.role) is stored twice, as \(present[0]) and as \(present[1])",
                        hint: "keep one of them; loaders pick one silently"))
                }
                param.found = present.first.map { index.tensors($0) } ?? []
            }
            resolved[i] = param
        }
        // A name occurring twice among pooled inputs.
        var reported = Set<String>()
        for param in resolved {
            for tensor in param.found where index.tensors(tensor.name).count > 1 && reported.insert(tensor.name).inserted {
                let files = index.tensors(tensor.name).compactMap(\.file)
                state.diagnostics.append(Diagnostic(.duplicateTensor, tensor: tensor.name,
                    "\(tensor.name) occurs \(index.tensors(tensor.name).count) times among the inputs\(files.isEmpty ? "" : " (\(files.joined(separator: ", ")))")"))
            }
        }
        // Missing: optional nodes only when partly present; conditioned layers missing as a whole are
        // already reported as a layer-index problem.
        var optionalPresence: [String: Bool] = [:]
        for param in resolved { if let node = param.optionalNode, !param.found.isEmpty { optionalPresence[node] = true } }
        for i in resolved.indices where resolved[i].found.isEmpty && resolved[i].isStored {
            let param = resolved[i]
            if let node = param.optionalNode, optionalPresence[node] != true { continue }
            if let key = param.conditionKey, missingConditioned.contains(key) { continue }
            let names = param.isParts ? param.names.filter { !index.contains($0) } : [param.names[0]]
            let aliases = param.isParts ? "" : param.names.dropFirst().map { " or \($0)" }.joined()
            state.diagnostics.append(Diagnostic(.missingTensor, tensor: names.first,
                "\(param.role) (\(param.node)) is missing: expected \(names.joined(separator: ", "))\(aliases)",
                expected: param.storedShape.map { $0.value(state.binder.lookup) }))
        }
        // Header checks of what was found.
        for i in resolved.indices where !resolved[i].found.isEmpty {
            for tensor in resolved[i].found {
                if tensor.shape.contains(0) {
                    state.diagnostics.append(Diagnostic(.zeroElements, tensor: tensor.name,
                        "\(tensor.name) has shape \(shapeText(tensor.shape)) with no elements",
                        found: tensor.shape, hint: "a DeepSpeed ZeRO-3 partitioned placeholder; save with the full state dict gathered"))
                    resolved[i].skipShape = true
                    continue
                }
                switch tensor.dtype.kind {
                case .signedInteger, .unsignedInteger, .bool:
                    let packed = tensor.shape.count == 2 && tensor.shape[1] == 1 && resolved[i].shape.count >= 2
                    if packed {
                        state.diagnostics.append(Diagnostic(.packedQuantized, tensor: tensor.name,
                            "\(tensor.name) is \(tensor.dtype.rawValue) \(shapeText(tensor.shape)): a bitsandbytes-packed weight, not the \(resolved[i].shape.count)-D float parameter",
                            expected: resolved[i].storedShape.map { $0.value(state.binder.lookup) }, found: tensor.shape,
                            hint: "save the connector unquantized (dequantize before saving)"))
                    } else {
                        state.diagnostics.append(Diagnostic(.unexpectedDType, tensor: tensor.name,
                            "\(tensor.name) is \(tensor.dtype.rawValue); a float parameter belongs here", found: tensor.shape))
                    }
                    resolved[i].skipShape = true
                case .complex:
                    state.diagnostics.append(Diagnostic(.unexpectedDType, tensor: tensor.name, "\(tensor.name) is complex; a real float parameter belongs here"))
                    resolved[i].skipShape = true
                default:
                    break
                }
            }
        }
        return GraphCheck.Resolved(state: state, params: resolved, reportedNames: reportedNames)
    }
}

// MARK: - Phases 4 and 5: binding and checking the shapes

extension GraphCheck.Resolved {
    /// Binds the dimensions the tensor shapes tell, then the advisory values left open.
    func bindDimensions() -> GraphCheck.Sized {
        var state = self.state
        state.bindFromTensors(params)
        state.settleAdvisory()
        return GraphCheck.Sized(state: state, params: params, reportedNames: reportedNames)
    }
}

extension GraphCheck.Sized {
    /// Checks every shape and constraint with the final bindings, reports leftover tensors, and fills
    /// what is still unknown from the family defaults (reported as an assumption).
    func finish() -> GraphCheck.Result {
        var state = self.state
        state.checkShapes(params)
        state.checkConstraints(params)
        state.reportUnexpected(params, reported: reportedNames)
        let assumed = state.binder.weakUses.filter { state.binder.source($0) == .familyDefault } + state.fillDefaults()
        if !assumed.isEmpty {
            let text = assumed.map { symbol in "\(state.scope.key(of: symbol)) = \(state.binder.value(symbol) ?? 0)" }
            state.diagnostics.append(Diagnostic(.assumedDefault,
                "assumed the \(state.scope.variant.family.rawValue) family's published value\(assumed.count > 1 ? "s" : "") for \(text.joined(separator: ", "))",
                hint: "pass --dim KEY=N or a config.json to check them"))
        }
        return GraphCheck.Result(binder: state.binder, params: params, diagnostics: state.diagnostics)
    }
}

extension GraphCheck.State {
    /// Binds dimensions from the tensors (1-D parameters first, so a transposed matrix cannot bind its
    /// axes the wrong way round), twice so that shapes with two unknowns can use symbols bound later.
    mutating func bindFromTensors(_ expected: [FoundParam]) {
        let order = expected.indices.sorted { (expected[$0].rank, $0) < (expected[$1].rank, $1) }
        for _ in 0 ..< 2 {
            for i in order {
                let param = expected[i]
                guard !param.skipShape, let found = param.foundShape else { continue }
                let exprs = param.storedShape
                guard exprs.count == found.count else { continue }
                let outcomes = binder.match(exprs, found, tensor: param.reportName, commit: true)
                let mismatched = outcomes.contains { if case .mismatch = $0 { return true } else { return false } }
                if mismatched, exprs.count == 2 {
                    // A transposed matrix still tells the dimensions, read the other way round.
                    _ = binder.match(exprs, found.reversed(), tensor: param.reportName, commit: true)
                }
            }
        }
    }

    /// After binding: advisory values left unused fill what is still unknown; advisory values that
    /// disagree with the tensors are reported.
    mutating func settleAdvisory() {
        for (symbol, claims) in binder.weak.sorted(by: { $0.key < $1.key }) {
            for claim in claims {
                guard case .ggufMetadata = claim.source else { continue }
                if let value = binder.value(symbol), value != claim.value, let source = binder.source(symbol) {
                    if case .ggufMetadata = source { continue }
                    diagnostics.append(Diagnostic(.metadataMismatch,
                        "\(claim.source) says \(scope.key(of: symbol)) = \(claim.value), but \(source) gives \(value)",
                        expected: [value], found: [claim.value], hint: "the tensor shapes win; fix the metadata if a runtime reads it"))
                } else if binder.value(symbol) == nil {
                    binder.bind(symbol, claim.value, claim.source)
                }
            }
        }
    }

    /// Checks every found parameter against its symbolic shape with the final bindings. Shapes that
    /// disagree are reported per wrong dimension, with the conflicts among the sources
    /// (`reportDimensions`); shapes that leave dimensions open, per set of open dimensions.
    mutating func checkShapes(_ expected: [FoundParam]) {
        var findings: [ShapeFinding] = []
        var open: [(symbols: [String], tensor: String, found: [Int])] = []
        defer {
            reportDimensions(findings)
            reportUnresolved(open)
        }
        for param in expected {
            guard !param.skipShape, let found = param.foundShape else { continue }
            var exprs = param.storedShape
            var shape = found
            if exprs.count != shape.count {
                // The same data with its size-1 axes dropped (or added) is accepted.
                let squeezedExprs = exprs.filter { !$0.isLiteralOne }
                let squeezedShape = shape.filter { $0 != 1 }
                if squeezedExprs.count == squeezedShape.count {
                    exprs = squeezedExprs
                    shape = squeezedShape
                } else {
                    diagnostics.append(Diagnostic(.wrongRank, tensor: param.reportName,
                        "\(param.reportName) has \(found.count) dimensions \(shapeText(found)), expected \(exprs.count) \(describe(exprs))",
                        expected: exprs.map { $0.value(binder.lookup) }, found: found))
                    continue
                }
            }
            var scratch = binder
            let outcomes = scratch.match(exprs, shape, tensor: param.reportName, commit: false)
            let mismatches = outcomes.compactMap { if case .mismatch(let m) = $0 { return m } else { return nil } }
            let unresolved = outcomes.compactMap { if case .unresolved(let symbols) = $0 { return symbols } else { return nil } }
            if mismatches.isEmpty {
                if let symbols = unresolved.first { open.append((symbols, param.reportName, found)) }
                continue
            }
            let expectedValues = exprs.map { $0.value(binder.lookup) }
            if shape.count == 2, expectedValues.allSatisfy({ $0 != nil }), Array(expectedValues.reversed()) == shape.map(Optional.some),
               shape[0] != shape[1] {
                diagnostics.append(Diagnostic(.transposedWeight, tensor: param.reportName,
                    "\(param.reportName) is stored transposed: \(shapeText(found)), expected \(shapeText(expectedValues)) \(describe(exprs))",
                    expected: expectedValues, found: found,
                    hint: param.transposed ? "this scheme stores it as x @ P ([in, out])" : "PyTorch nn.Linear weights are [out, in]"))
                continue
            }
            findings.append(ShapeFinding(tensor: param.reportName, found: found, compared: shape, expected: expectedValues,
                                         mismatches: mismatches))
        }
    }

    func describe(_ exprs: [DimExpr]) -> String { "[" + exprs.map(\.description).joined(separator: ", ") + "]" }

    /// `axis 0 is D_llm (llm) = 5120 from --llm-dim, found 4096`.
    func explain(_ mismatch: Binder.AxisMismatch, found: [Int]) -> String {
        func origin(_ symbol: String) -> String? {
            guard let value = binder.value(symbol), let source = binder.source(symbol) else { return nil }
            let key = scope.key(of: symbol)
            return "\(symbol)\(key != symbol ? " (\(key))" : "") = \(value) from \(source)"
        }
        var text = "axis \(mismatch.axis) is "
        if case .symbol(let symbol) = mismatch.expr, let described = origin(symbol) {
            text += described
        } else {
            text += mismatch.expr.description
            if let value = mismatch.expr.value(binder.lookup) { text += " = \(value)" }
            let origins = mismatch.expr.symbols.compactMap(origin)
            if !origins.isEmpty { text += " with " + origins.joined(separator: ", ") }
        }
        text += ", found \(found[mismatch.axis])"
        if let reason = mismatch.reason { text += " (\(reason))" }
        return text
    }

    func hint(for mismatches: [Binder.AxisMismatch]) -> String? {
        let keys = Set(mismatches.flatMap { $0.expr.symbols.map { scope.key(of: $0) } })
        if keys.contains("llm") { return "the connector does not produce the LLM's width: wrong LLM, or a projector trained for another one" }
        if keys.contains("encoder") { return "the connector does not read the encoder's width: wrong vision tower, feature layers or merge factor" }
        if keys.contains("queries") { return "the learned query count differs from the configuration" }
        return nil
    }

    // MARK: constraints and leftovers

    mutating func checkConstraints(_ expected: [FoundParam]) {
        for constraint in scope.graph.constraints {
            guard let value = constraint.value.value(binder.lookup), let by = constraint.by.value(binder.lookup) else { continue }
            let holds = constraint.kind == .divisible ? (by != 0 && value % by == 0) : value == by
            guard !holds, let code = DiagnosticCode(rawValue: constraint.code) else { continue }
            let relation = constraint.kind == .divisible ? "a multiple of" : "equal to"
            let broken = "\(constraint.value) = \(value) is not \(relation) \(constraint.by) = \(by)"
            // A consequence of a dimension already reported as wrong joins that diagnostic.
            let wrong = wrongDimensions
            if let index = (constraint.value.symbols + constraint.by.symbols).compactMap({ wrong[$0] }).first {
                diagnostics[index].message += "; with that value \(broken) either"
                continue
            }
            diagnostics.append(Diagnostic(code, tensor: tensor(for: constraint, in: expected), "\(broken): \(constraint.message)",
                                          expected: constraint.kind == .equal ? [by] : nil, found: constraint.kind == .equal ? [value] : nil))
        }
    }

    /// The tensor a failed constraint is about: the first found parameter whose shape uses one of its
    /// symbols, preferring an attention projection (where heads matter).
    func tensor(for constraint: Constraint, in expected: [FoundParam]) -> String? {
        let symbols = Set(constraint.value.symbols + constraint.by.symbols)
        let using = expected.filter { param in !param.found.isEmpty && param.shape.contains { !Set($0.symbols).isDisjoint(with: symbols) } }
        let attention = using.first(where: \.isAttention)
        return (attention ?? using.first)?.reportName
    }

    /// Connector-like tensors no parameter accounts for.
    mutating func reportUnexpected(_ expected: [FoundParam], reported reportedNames: Set<String>) {
        var consumed = Set<String>()
        for param in expected { for tensor in param.found { consumed.insert(tensor.name) } }
        var unexpected: [String] = []
        for name in scope.index.sorted where !consumed.contains(name) && !reportedNames.contains(name) && !scope.compiled.isIgnored(name) {
            if scope.compiled.isConnectorLike(name) { unexpected.append(name) }
        }
        for name in unexpected {
            let tensor = scope.index.tensors(name)[0]
            diagnostics.append(Diagnostic(.unexpectedTensor, tensor: name,
                "\(name) \(shapeText(tensor.shape)) looks like part of the connector but matches none of its parameters",
                found: tensor.shape, hint: "a leftover from another projector type, or a naming-scheme mismatch"))
        }
    }

    /// Binds what is still unknown from the family defaults (reported as assumptions).
    mutating func fillDefaults() -> [String] {
        var assumed: [String] = []
        for dim in scope.graph.dimensions where binder.value(dim.symbol) == nil {
            if let value = dim.defaultValue {
                binder.bind(dim.symbol, value, .familyDefault)
                assumed.append(dim.symbol)
            }
        }
        return assumed
    }
}
