import TensorFormats

/// The pooled tensors of a checkpoint, indexed by name: exact lookup, and the names under a prefix
/// (binary search over names sorted by UTF-8 bytes), so matching templates against thousands of
/// tensors costs O(templates · log n) plus the matches.
struct NameIndex {
    let sorted: [String]
    let byName: [String: [Tensor]]
    /// Names by skeleton (every run of digits replaced by `#`): a template with indices looks up its own
    /// skeleton instead of scanning names.
    let bySkeleton: [String: [String]]

    init(_ tensors: [Tensor]) {
        var byName: [String: [Tensor]] = [:]
        for tensor in tensors { byName[tensor.name, default: []].append(tensor) }
        self.byName = byName
        sorted = byName.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var bySkeleton: [String: [String]] = [:]
        for name in sorted { bySkeleton[NameIndex.skeleton(name), default: []].append(name) }
        self.bySkeleton = bySkeleton
    }

    /// `qformer.encoder.layer.11.attention` → `qformer.encoder.layer.#.attention`.
    static func skeleton(_ text: String) -> String {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count)
        var inDigits = false
        for byte in text.utf8 {
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                if !inDigits { out.append(UInt8(ascii: "#")) }
                inDigits = true
            } else {
                out.append(byte)
                inDigits = false
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    func tensors(_ name: String) -> [Tensor] { byName[name] ?? [] }
    func contains(_ name: String) -> Bool { byName[name] != nil }

    /// The names starting with `prefix`, in sorted order.
    func names(withPrefix prefix: String) -> ArraySlice<String> {
        if prefix.isEmpty { return sorted[...] }
        var low = 0, high = sorted.count
        while low < high {
            let mid = (low + high) / 2
            if sorted[mid].utf8.lexicographicallyPrecedes(prefix.utf8) { low = mid + 1 } else { high = mid }
        }
        var end = low
        while end < sorted.count, sorted[end].utf8.starts(with: prefix.utf8) { end += 1 }
        return sorted[low ..< end]
    }

    /// Every name matching `template`, with its index values.
    func matches(_ template: NameTemplate) -> [(name: String, indices: [String: Int])] {
        if !template.hasIndex { return contains(template.text) ? [(template.text, [:])] : [] }
        if let skeleton = template.skeleton {
            return (bySkeleton[skeleton] ?? []).compactMap { name in template.match(name).map { (name, $0) } }
        }
        return names(withPrefix: template.literalPrefix).compactMap { name in template.match(name).map { (name, $0) } }
    }
}

/// A naming scheme with its templates parsed, ready to match.
struct CompiledScheme {
    /// A role's stored form with its templates parsed.
    struct Entry {
        var stored: SchemeEntry
        var roleTemplate: NameTemplate
        /// Primary name then aliases (or the parts, for split storage).
        var names: [NameTemplate]

        var role: String { stored.role }
        var isParts: Bool { !stored.parts.isEmpty }
        var transposed: Bool { stored.transposed }
        var squeezed: Bool { stored.squeezed }
    }
    let scheme: NamingScheme
    let entries: [Entry]
    let entryByRole: [String: Entry]
    /// Roles of optional nodes (a scheme may lack them).
    let optionalRoles: Set<String>
    let ignored: [Glob]
    /// Prefixes (ending in ".") or exact names under which anything is part of the connector.
    let roots: [String]
    /// The module path the connector's names start with: the scheme's own (`model.mm_projector.`;
    /// empty for a scheme spread over several modules), or the one it was found under instead.
    let prefix: String
    /// The scheme's own prefix (differs from `prefix` when the names were found under another one).
    let ownPrefix: String
    var isRerooted: Bool { prefix != ownPrefix }
    /// Each role's parameter shape (by role template).
    let shapes: [String: [DimExpr]]

    init(_ scheme: NamingScheme, graph: ConnectorGraph) throws {
        let own = CompiledScheme.ownPrefix(of: scheme, graph: graph)
        try self.init(scheme, graph: graph, prefix: own, ownPrefix: own)
    }

    private init(_ scheme: NamingScheme, graph: ConnectorGraph, prefix: String, ownPrefix: String) throws {
        self.scheme = scheme
        self.prefix = prefix
        self.ownPrefix = ownPrefix
        var entries: [Entry] = []
        for role in graph.roles where !scheme.absent.contains(role) {
            let stored = scheme.storage(for: role)
            entries.append(Entry(stored: stored, roleTemplate: try NameTemplate(role), names: try stored.allNames.map(NameTemplate.init)))
        }
        self.entries = entries
        var byRole: [String: Entry] = [:]
        for entry in entries { byRole[entry.role] = entry }
        entryByRole = byRole
        var optional = Set<String>()
        var shapes: [String: [DimExpr]] = [:]
        graph.forEachOperation { node, _ in
            for param in node.params {
                if node.optionalGroup(slot: param.slot, instance: node.name) != nil { optional.insert(param.role) }
                shapes[param.role] = param.shape
            }
        }
        optionalRoles = optional
        self.shapes = shapes
        ignored = scheme.ignored.map(Glob.init)
        var roots: [String] = []
        for entry in entries {
            for name in entry.names {
                let root = CompiledScheme.root(of: name)
                if !roots.contains(root) { roots.append(root) }
            }
        }
        self.roots = roots
    }

    /// Module path components that say nothing about the connector by themselves.
    static let genericComponents: Set<String> = ["model", "transformer", "lang_encoder", "language_model", "v", "visual",
                                                 "vision_model", "vision_tower", "vpm", "llm", "module", "base_model"]

    /// The part of a name template that identifies the connector: leading generic components plus the
    /// first specific one (`model.mm_projector.`, `transformer.visual.attn_pool.`, `mm.`), or the whole
    /// name when it ends before that (`model.image_newline`).
    static func root(of template: NameTemplate) -> String {
        let literal = template.literalPrefix
        let components = literal.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        var root = ""
        for (index, component) in components.enumerated() {
            let isLast = index == components.count - 1
            if isLast {
                // The literal ends inside this component (before an index, or at the end of the name).
                return template.hasIndex ? root + component : template.text
            }
            root += component + "."
            if !genericComponents.contains(component) { return root }
        }
        return root
    }

    /// The longest module path (ending in ".") that every name of the scheme's required roles starts
    /// with, up to their first index: `model.mm_projector.` for LLaVA's names, `resampler.` for
    /// MiniCPM-V's, empty for BLIP-2's (`query_tokens`, `qformer.*`, `language_projection.*`).
    static func ownPrefix(of scheme: NamingScheme, graph: ConnectorGraph) -> String {
        var optional = Set<String>()
        graph.forEachOperation { node, _ in if node.optional { for param in node.params { optional.insert(param.role) } } }
        let texts = graph.roles.filter { !optional.contains($0) && !scheme.absent.contains($0) }
            .flatMap { scheme.storage(for: $0).allNames }
            .map { Array($0.utf8.prefix { $0 != UInt8(ascii: "{") }) }
        guard var common = texts.first else { return "" }
        for text in texts.dropFirst() {
            let shared = zip(common, text).prefix { pair in pair.0 == pair.1 }.count
            common = Array(common.prefix(shared))
        }
        guard let dot = common.lastIndex(of: UInt8(ascii: ".")) else { return "" }
        return String(decoding: common[...dot], as: UTF8.self)
    }

    /// The same scheme with its own prefix replaced by `prefix` (names outside it, such as LLaVA-NeXT's
    /// `model.image_newline`, unchanged).
    func rerooted(to prefix: String, graph: ConnectorGraph) throws -> CompiledScheme {
        let own = self.prefix
        func move(_ name: String) -> String { name.hasPrefix(own) ? prefix + name.dropFirst(own.count) : name }
        var moved = scheme
        moved.entries = scheme.entries.map { entry in
            SchemeEntry(role: entry.role, name: move(entry.name), aliases: entry.aliases.map(move), parts: entry.parts.map(move),
                        transposed: entry.transposed, squeezed: entry.squeezed)
        }
        moved.ignored = scheme.ignored.map(move)
        return try CompiledScheme(moved, graph: graph, prefix: prefix, ownPrefix: ownPrefix)
    }

    /// The name the first required role's primary tensor has at index 0, relative to the prefix
    /// (`0.weight` for LLaVA's `model.mm_projector.0.weight`): what a search for other prefixes looks for.
    var anchor: String? {
        guard let entry = entries.first(where: { !optionalRoles.contains($0.role) }),
              let name = entry.names.first?.instantiate({ _ in 0 }), name.hasPrefix(prefix) else { return nil }
        return String(name.dropFirst(prefix.count))
    }

    /// Whether a tensor of `rank` axes can hold `role` (as is, or with its size-1 axes dropped).
    func fits(_ role: String, rank: Int) -> Bool {
        guard let shape = shapes[role] else { return true }
        return rank == shape.count || rank == shape.filter { !$0.isLiteralOne }.count
    }

    func isConnectorLike(_ name: String) -> Bool {
        roots.contains { $0.hasSuffix(".") ? name.hasPrefix($0) : (name == $0 || name.hasPrefix($0)) }
    }

    func isIgnored(_ name: String) -> Bool { ignored.contains { $0.matches(name) } }
}
