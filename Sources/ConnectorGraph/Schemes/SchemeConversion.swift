import TensorFormats

/// A bound connector re-expressed in another naming scheme of its graph: every parameter renamed
/// through its role, and its storage layout changed where the schemes differ — transposed ↔ direct
/// (MiniCPM-V's `x @ P` `proj`), fused ↔ split along the first axis (`in_proj_weight` ↔ q/k/v),
/// squeezed ↔ full rank (llama.cpp's legacy converter), under the target's names (the `model.` prefix,
/// Yi-VL's layer indices…).
///
/// Bytes are moved, never decoded: the tensors are lazy views (`ByteMoves.swift`) of the stored ones,
/// so a split, a squeeze or a transpose of f16 data is exact and an unchanged layout is copied by the
/// kernel. A transpose needs whole elements: a block-quantized tensor that needs one is refused unless
/// `decodeBlocks` (then it is decoded to f32 first: the `--dtype` and `--type` paths).
public struct SchemeConversion: Sendable {
    /// One parameter in the target scheme.
    public struct Parameter: Sendable {
        /// The concrete role (`layers.3.attn.q.weight`).
        public var role: String
        /// The tensors that held it in the source, in order.
        public var sourceNames: [String]
        /// Its tensors in the target scheme (target names and shapes; the parts in order when split).
        public var tensors: [Tensor]
        /// How the target stores it.
        public var layout: BoundParameter.Layout
    }

    public var family: String
    public var variant: String
    public var sourceScheme: String
    public var targetScheme: String
    /// The connector's parameters in graph order (those the source does not store are left out).
    public var parameters: [Parameter]
    /// Optional parameters the target could hold but the source does not store.
    public var notWritten: [String]
    /// Stored parameters the target never stores and the graph computes when absent (MiniCPM-V's
    /// precomputed key positions `resampler.pos_embed_k`, which only llama.cpp stores): left out.
    public var computedInstead: [String]

    /// Every source tensor the conversion replaces.
    public var sourceNames: Set<String> { Set(parameters.flatMap(\.sourceNames)) }

    /// Converts `connector` (from a valid `ValidationReport`) to the scheme named `scheme`. With
    /// `decodeBlocks`, a block-quantized tensor that needs a transpose is decoded to f32 first; without it,
    /// it is refused.
    public init(_ connector: BoundConnector, to scheme: String, decodeBlocks: Bool = false) throws {
        let graph = connector.graph
        guard let target = graph.schemes.first(where: { $0.name == scheme }) else {
            throw SchemeConversionError.unknownScheme(scheme: scheme, family: connector.family, variant: connector.variant,
                                                      known: graph.schemes.map(\.name))
        }
        let compiled: CompiledScheme
        do { compiled = try CompiledScheme(target, graph: graph) } catch {
            throw SchemeConversionError.invalidScheme(scheme: scheme, reason: "\(error)")
        }
        let sites = Dictionary(graph.parameterSites.map { ($0.param.role, $0) }, uniquingKeysWith: { first, _ in first })
        family = connector.family
        variant = connector.variant
        sourceScheme = connector.scheme
        targetScheme = scheme
        parameters = []
        notWritten = []
        computedInstead = []
        for parameter in connector.parameters {
            let entry = compiled.entryByRole[parameter.roleTemplate]
            guard parameter.layout != .absent else {
                if let entry, let name = entry.names.first?.instantiate({ parameter.indices[$0] }) { notWritten.append(name) }
                continue
            }
            guard let entry else {
                if sites[parameter.roleTemplate]?.node.operation.runsWithoutParameters == true {
                    computedInstead.append(parameter.role)
                    continue
                }
                let holders = graph.schemes.filter { !$0.absent.contains(parameter.roleTemplate) }.map(\.name)
                throw SchemeConversionError.roleNotHeld(role: parameter.role, scheme: scheme, holders: holders)
            }
            let exprs = sites[parameter.roleTemplate]?.param.shape ?? []
            let oriented = try GraphOriented(parameter, exprs: exprs, decodeBlocks: decodeBlocks)
            let names = entry.names.map { $0.instantiate { parameter.indices[$0] } }
            guard !names.isEmpty, names.allSatisfy({ $0 != nil }) else {
                throw SchemeConversionError.invalidScheme(scheme: scheme, reason: "no name for \(parameter.role)")
            }
            let tensors = try oriented.stored(as: entry, names: names.compactMap { $0 }, exprs: exprs)
            let layout: BoundParameter.Layout = entry.isParts ? .parts : entry.transposed ? .transposed
                : tensors[0].shape.count == exprs.count ? .direct : .squeezed
            parameters.append(Parameter(role: parameter.role, sourceNames: parameter.tensors.map(\.name), tensors: tensors, layout: layout))
        }
    }
}

/// A parameter in the graph's orientation (PyTorch's: `nn.Linear` weight `[out, in]`), held as row
/// blocks along the first axis (one per stored part), or as the stored tensor whose transpose it is.
private struct GraphOriented {
    var role: String
    var shape: [Int]
    var dtype: DType
    /// The row blocks, in order; their rows add up to `shape[0]`.
    var blocks: [Tensor]
    /// Set when the parameter is stored transposed: the stored tensor itself (`blocks` then holds its
    /// transpose), so a target that also stores it transposed takes it unchanged.
    var transposedSource: Tensor?

    init(_ parameter: BoundParameter, exprs: [DimExpr], decodeBlocks: Bool) throws {
        role = parameter.role
        let stored = parameter.tensors
        guard let first = stored.first else { throw SchemeConversionError.unresolvedShape(role: parameter.role) }
        dtype = first.dtype
        switch parameter.layout {
        case .absent:
            throw SchemeConversionError.unresolvedShape(role: parameter.role)
        case .direct:
            shape = first.shape
            blocks = [first]
        case .squeezed:
            shape = try GraphOriented.unsqueezed(first.shape, graph: parameter.shape, exprs: exprs, role: parameter.role)
            blocks = [try first.reshaped(first.name, shape)]
        case .parts:
            guard stored.allSatisfy({ $0.dtype == first.dtype && $0.shape.count == first.shape.count && $0.shape.dropFirst() == first.shape.dropFirst() }),
                  !first.shape.isEmpty else {
                throw SchemeConversionError.partsDisagree(role: parameter.role, tensors: stored.map(\.name))
            }
            var rows = 0
            for part in stored {
                guard let sum = Checked.add(rows, part.shape[0]) else { throw SchemeConversionError.partsDisagree(role: parameter.role, tensors: stored.map(\.name)) }
                rows = sum
            }
            shape = [rows] + first.shape.dropFirst()
            blocks = stored
        case .transposed:
            guard first.shape.count == 2 else { throw SchemeConversionError.unresolvedShape(role: parameter.role) }
            transposedSource = first
            shape = [first.shape[1], first.shape[0]]
            let source = try GraphOriented.transposable(first, decodeBlocks: decodeBlocks)
            dtype = source.dtype
            blocks = [try GraphOriented.transpose(source, name: first.name)]
        }
    }

    /// The stored tensors of the target `entry`, named `names`.
    func stored(as entry: CompiledScheme.Entry, names: [String], exprs: [DimExpr]) throws -> [Tensor] {
        if entry.isParts {
            guard !shape.isEmpty, shape[0] % names.count == 0 else {
                throw SchemeConversionError.unevenParts(role: role, rows: shape.first ?? 0, parts: names.count)
            }
            let rows = shape[0] / names.count
            return try names.indices.map { index in
                try rowRange(index * rows, rows, name: names[index], shape: [rows] + shape.dropFirst())
            }
        }
        if entry.transposed {
            guard shape.count == 2 else { throw SchemeConversionError.unresolvedShape(role: role) }
            if let transposedSource { return [try transposedSource.reshaped(names[0], transposedSource.shape)] }
            return [try GraphOriented.transpose(try joined(name: names[0]), name: names[0])]
        }
        var target = shape
        if entry.squeezed, exprs.count == shape.count {
            target = zip(shape, exprs).filter { !$0.1.isLiteralOne }.map(\.0)
        }
        return [try checked(joined(name: names[0]).reshaped(names[0], target))]
    }

    /// The whole parameter as one tensor in the graph's shape.
    private func joined(name: String) throws -> Tensor {
        if blocks.count == 1 { return try checked(blocks[0].reshaped(name, shape)) }
        let count = blocks.reduce(0) { $0 + $1.info.byteCount }
        return try checked(Tensor(info: TensorInfo(name: name, dtype: dtype, shape: shape), data: ConcatenatedData(parts: blocks, count: count)))
    }

    /// Rows `[first, first + count)` of the parameter, from the blocks that hold them.
    private func rowRange(_ first: Int, _ count: Int, name: String, shape: [Int]) throws -> Tensor {
        let info = try checked(TensorInfo(name: name, dtype: dtype, shape: shape))
        var pieces: [Tensor] = []
        var blockStart = 0
        for block in blocks {
            let blockRows = block.shape.first ?? 1
            let start = max(first, blockStart), end = min(first + count, blockStart + blockRows)
            if start < end {
                let rowBytes = block.info.byteCount / max(blockRows, 1)
                if start == blockStart && end == blockStart + blockRows {
                    pieces.append(block)
                } else {
                    let pieceShape = [end - start] + block.shape.dropFirst()
                    let data = RowRangeData(source: block.data, offset: (start - blockStart) * rowBytes, count: (end - start) * rowBytes)
                    pieces.append(try checked(Tensor(info: TensorInfo(name: name, dtype: dtype, shape: pieceShape), data: data, file: block.file)))
                }
            }
            blockStart += blockRows
        }
        if pieces.count == 1 { return Tensor(info: info, data: pieces[0].data, file: pieces[0].file) }
        return Tensor(info: info, data: ConcatenatedData(parts: pieces, count: info.byteCount))
    }

    /// A shape the dtype cannot hold (a block row cut by a split or an unsqueeze: blocks run along the
    /// last axis) is refused here.
    private func checked(_ make: @autoclosure () throws -> Tensor) throws -> Tensor {
        let tensor: Tensor
        do { tensor = try make() } catch let error as FormatError {
            if case .invalidShape = error.kind { throw SchemeConversionError.layoutUnfit(role: role, dtype: dtype) }
            throw error
        }
        _ = try checked(tensor.info)
        return tensor
    }

    private func checked(_ make: @autoclosure () throws -> TensorInfo) throws -> TensorInfo {
        let info: TensorInfo
        do { info = try make() } catch let error as FormatError {
            if case .invalidShape = error.kind { throw SchemeConversionError.layoutUnfit(role: role, dtype: dtype) }
            throw error
        }
        let (blockElements, _) = info.dtype.layout
        if blockElements > 1, (info.shape.last ?? 1) % blockElements != 0 {
            throw SchemeConversionError.layoutUnfit(role: role, dtype: info.dtype)
        }
        return info
    }

    /// The stored tensor, decoded to f32 when its elements are not whole bytes (block types) and asked to.
    static func transposable(_ tensor: Tensor, decodeBlocks: Bool) throws -> Tensor {
        if tensor.dtype.elementSize != nil { return tensor }
        guard decodeBlocks, tensor.dtype.readsAsFloat32 else {
            throw SchemeConversionError.transposeOfBlocks(tensor: tensor.name, dtype: tensor.dtype)
        }
        return Tensor(info: try TensorInfo(name: tensor.name, dtype: .f32, shape: tensor.shape), data: Float32Data(source: tensor))
    }

    static func transpose(_ tensor: Tensor, name: String) throws -> Tensor {
        guard tensor.shape.count == 2, let size = tensor.dtype.elementSize else {
            throw SchemeConversionError.transposeOfBlocks(tensor: tensor.name, dtype: tensor.dtype)
        }
        let (rows, columns) = (tensor.shape[0], tensor.shape[1])
        return Tensor(info: try TensorInfo(name: name, dtype: tensor.dtype, shape: [columns, rows]),
                      data: TransposedData(source: tensor, rows: rows, columns: columns, elementBytes: size))
    }

    /// The graph's shape of a squeezed tensor: its axes where the graph has no literal 1, in order.
    static func unsqueezed(_ stored: [Int], graph: [Int?], exprs: [DimExpr], role: String) throws -> [Int] {
        if graph.allSatisfy({ $0 != nil }) {
            let full = graph.compactMap { $0 }
            guard Checked.product(full) == Checked.product(stored) else { throw SchemeConversionError.unresolvedShape(role: role) }
            return full
        }
        var rest = stored[...]
        var shape: [Int] = []
        for (index, expr) in exprs.enumerated() {
            if expr.isLiteralOne { shape.append(1); continue }
            if let value = graph[index], value == 1, rest.first != 1 { shape.append(1); continue }
            guard let next = rest.popFirst() else { throw SchemeConversionError.unresolvedShape(role: role) }
            shape.append(next)
        }
        guard rest.isEmpty else { throw SchemeConversionError.unresolvedShape(role: role) }
        return shape
    }
}

extension SchemeConversion {
    /// `checkpoint` with its connector in the target scheme: the converted tensors take the place of the
    /// connector's first stored tensor, every other tensor stays where it was (or goes, with
    /// `connectorOnly`). Metadata: written in the `mmproj` scheme, the file gets llama.cpp's connector keys
    /// (`MmprojKeys`); leaving it, those keys go.
    ///
    /// `selected` picks by the input's names (`--only`/`--exclude`): a parameter is written when all its
    /// stored tensors are selected and left out when none is; selecting some of them is refused.
    public func applied(to checkpoint: Checkpoint, connector: BoundConnector, connectorOnly: Bool,
                        selected: (String) -> Bool = { _ in true }) throws -> Checkpoint {
        let replaced = sourceNames
        var converted: [Tensor] = []
        for parameter in parameters {
            let picked = parameter.sourceNames.filter(selected)
            if picked.count == parameter.sourceNames.count {
                converted += parameter.tensors
            } else if !picked.isEmpty {
                throw SchemeConversionError.selectionSplits(role: parameter.role, selected: picked,
                                                            left: parameter.sourceNames.filter { !selected($0) })
            }
        }
        let convertedNames = Set(converted.map(\.name))
        var tensors: [Tensor] = []
        var inserted = false
        for tensor in checkpoint.tensors {
            if replaced.contains(tensor.name) {
                if !inserted { tensors += converted }
                inserted = true
            } else if !connectorOnly, selected(tensor.name) {
                if convertedNames.contains(tensor.name) { throw SchemeConversionError.nameTaken(name: tensor.name, scheme: targetScheme) }
                tensors.append(tensor)
            }
        }
        if !inserted { tensors += converted }
        var metadata = checkpoint.metadata
        let mmproj = SchemeName.mmproj.rawValue
        if targetScheme == mmproj {
            metadata = MmprojKeys.mmprojMetadata(metadata, connector: connector)
        } else if sourceScheme == mmproj {
            metadata = MmprojKeys.leavingMmproj(metadata, connector: connector, connectorOnly: connectorOnly)
        }
        return Checkpoint(path: checkpoint.path, format: checkpoint.format, metadata: metadata, tensors: tensors,
                          notes: checkpoint.notes, shards: checkpoint.shards)
    }
}
