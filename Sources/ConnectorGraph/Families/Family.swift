/// The built-in connector families (the `family` value of reports and graph files).
public enum Family: String, Sendable, CaseIterable, Codable {
    case linear
    case mlp
    case qformer
    case perceiverResampler = "perceiver-resampler"
    case attentionResampler = "attention-resampler"
    case patchMerger = "patch-merger"
    case pixelShuffleMLP = "pixel-shuffle-mlp"
    case ldp

    public var summary: String {
        switch self {
        case .linear: "one Linear from the encoder width to the LLM width (LLaVA-1.0)"
        case .mlp: "Linear-GELU-Linear… MLP per token (LLaVA-1.5/NeXT mlpNx_gelu, Yi-VL mlp_norm)"
        case .qformer: "BERT-style Q-Former: learned queries cross-attending to the image, then a projection (BLIP-2, InstructBLIP)"
        case .perceiverResampler: "Perceiver Resampler: latents attending to image features and themselves (Flamingo, IDEFICS, Idefics2)"
        case .attentionResampler: "one cross-attention from learned queries to the image (MiniCPM-V, Qwen-VL)"
        case .patchMerger: "LayerNorm, 2x2 spatial merge, MLP (Qwen2-VL, Qwen2.5-VL)"
        case .pixelShuffleMLP: "pixel shuffle then LayerNorm+MLP or one Linear (InternVL, Idefics3/SmolVLM)"
        case .ldp: "MobileVLM lightweight downsample projector (LDP, LDPv2)"
        }
    }
}

/// The closed vocabulary of built-in naming schemes.
public enum SchemeName: String, Sendable, CaseIterable {
    case llava, hf, hfLegacy = "hf-legacy", mmproj, lavis, openFlamingo = "open_flamingo", minicpmv
    case qwenVL = "qwen-vl", internvl, mobilevlm

    public var summary: String {
        switch self {
        case .llava: "original LLaVA repository names (`model.mm_projector.*`), also Yi-VL"
        case .hf: "Hugging Face transformers names as saved by transformers >= 4.52 (`model.`-prefixed layout)"
        case .hfLegacy: "Hugging Face transformers names of checkpoints saved before 4.52 (no `model.` prefix on the connector)"
        case .mmproj: "llama.cpp mmproj GGUF names (`mm.*`, `resampler.*`, `v.post_ln`)"
        case .lavis: "Salesforce LAVIS names (`Qformer.bert.*`, `opt_proj`/`t5_proj`/`llm_proj`)"
        case .openFlamingo: "OpenFlamingo `checkpoint.pt` names (`perceiver.*`, `lang_encoder.gated_cross_attn_layers.*`)"
        case .minicpmv: "MiniCPM-V model-repository names (`resampler.*`, fused `attn.in_proj_weight`, `proj` stored as x @ P)"
        case .qwenVL: "Qwen-VL model-repository names (`transformer.visual.attn_pool.*`)"
        case .internvl: "original InternVL names (`mlp1.*`)"
        case .mobilevlm: "original MobileVLM names (`model.mm_projector.model.*`, `…mlp.mlp.*`, `…peg.peg.*`)"
        }
    }
}

/// A built-in family variant: its parameterised graph (with naming schemes) plus what the generic
/// machinery cannot know: which variant name a set of bound dimensions means, the config and
/// metadata spellings that identify it, and whether its encoder input keeps the class token.
public struct FamilyVariant: Sendable {
    public var family: Family
    /// The variant as reported; for parameterised variants (mlpNx_gelu) the name pattern.
    public var variant: String
    public var graph: ConnectorGraph
    /// Refines the variant name from bound dimensions (mlp depth, MiniCPM-V release).
    var refine: @Sendable (_ dims: [String: Int], _ metadata: VariantEvidence) -> String
    /// The encoder's class token is part of the connector input (BLIP-2, IDEFICS) rather than dropped.
    public var keepsClassToken: Bool
    /// Whether `describe`/`--compare` use this variant for the family by default.
    public var isDefault: Bool
    /// The names that fix dimensions of the graph (`mlp3x_gelu`: depth 3; `minicpmv-2.5`: the LLM width and
    /// query count of that release): what `describe --variant NAME` binds, and what `variantName` reports
    /// for a connector with those dimensions.
    public var named: [NamedVariant]
    /// `variant` is a pattern (`mlpNx_gelu`), never reported itself: only the `named` variants are.
    var isPattern: Bool

    init(_ family: Family, _ variant: String, graph: ConnectorGraph, keepsClassToken: Bool = false, isDefault: Bool = false,
         named: [NamedVariant] = [], isPattern: Bool = false,
         refine: @escaping @Sendable ([String: Int], VariantEvidence) -> String = { _, _ in "" }) {
        self.family = family
        self.variant = variant
        self.graph = graph
        self.keepsClassToken = keepsClassToken
        self.isDefault = isDefault
        self.named = named
        self.isPattern = isPattern
        self.refine = refine
    }

    /// The dimensions a variant name fixes, as claims from `source` (none for a name that fixes nothing,
    /// such as `blip2`, whose dimensions are the graph's published defaults).
    public func implied(by name: String, source: DimensionSource) -> [DimensionClaim] {
        guard let entry = named.first(where: { $0.name.lowercased() == name.lowercased() }) else { return [] }
        return entry.dims.map { DimensionClaim(key: $0.key, value: $0.value, source: source) }
    }


    /// A user-written graph as a variant (its `family` text need not be a built-in family).
    public static func custom(_ graph: ConnectorGraph) -> FamilyVariant {
        FamilyVariant(Family(rawValue: graph.family) ?? .linear, graph.variant ?? "custom", graph: graph)
    }

    public func variantName(dims: [String: Int], evidence: VariantEvidence = VariantEvidence()) -> String {
        let refined = refine(dims, evidence)
        return refined.isEmpty ? variant : refined
    }
}

/// A variant name and the dimensions it fixes.
public struct NamedVariant: Sendable {
    public var name: String
    public var dims: [(key: String, value: Int)]

    init(_ name: String, _ dims: [(key: String, value: Int)]) {
        self.name = name
        self.dims = dims
    }
}

/// Facts outside the tensors that can name a variant (a MiniCPM-V version from config or GGUF).
public struct VariantEvidence: Sendable {
    public var minicpmvVersion: String?
    public init(minicpmvVersion: String? = nil) { self.minicpmvVersion = minicpmvVersion }
}

/// Every built-in family variant, in a fixed order.
public enum Catalog {
    public static let variants: [FamilyVariant] = LinearFamilies.variants + QFormerFamily.variants + PerceiverFamily.variants
        + AttentionResamplerFamily.variants + PatchMergerFamily.variants + PixelShuffleFamily.variants + LDPFamily.variants

    public static func variants(of family: Family) -> [FamilyVariant] { variants.filter { $0.family == family } }

    public static func defaultVariant(of family: Family) -> FamilyVariant {
        variants.first { $0.family == family && $0.isDefault } ?? variants(of: family)[0]
    }

    public static func variant(_ family: Family, _ name: String) -> FamilyVariant? {
        variants.first { $0.family == family && ($0.variant == name || $0.variantNames.contains(name)) }
    }

    /// Every variant name a report can carry, per family (the schema's closed list).
    public static var allVariantNames: [String] {
        var names: [String] = []
        for variant in variants { for name in variant.variantNames where !names.contains(name) { names.append(name) } }
        return names
    }
}

extension FamilyVariant {
    /// The names `variantName` can produce: the named variants, and the variant itself unless it is a pattern.
    public var variantNames: [String] {
        let names = named.map(\.name)
        return isPattern || names.contains(variant) ? names : names + [variant]
    }
}

// MARK: - Building blocks for the family definitions

extension ConnectorGraph {
    /// A built-in graph. Every connector reads `N` encoder tokens of width `D_enc` (the input `image`)
    /// and feeds an LLM of width `D_llm`: `encoder`, `llm` and `tokens` say what these are in the
    /// releases; `dims` declares the family's other dimensions (a `dims` table).
    init(_ family: Family, _ variant: String, name: String, _ description: String,
         encoder: String, llm: String = "LLM hidden size", llmSymbol: String = "D_llm", tokens: String, dims table: String = "",
         image: String, imageWidth: DimExpr = "D_enc", inputs: [ValueDecl] = [],
         nodes: [GraphNode], output: ValueDecl, constraints: [Constraint] = [], schemes: [NamingScheme]) {
        self.init(name: name, family: family.rawValue, variant: variant, description: description,
                  dimensions: [dim("D_enc", "encoder", encoder), dim(llmSymbol, "llm", llm), dim("N", "tokens", tokens)] + dims(table),
                  inputs: [ValueDecl("image", ["N", imageWidth], image)] + inputs, nodes: nodes, outputs: [output],
                  constraints: constraints, schemes: schemes)
    }
}

func op(_ name: String, _ operation: Operation, _ inputs: [String], _ output: String, when: Condition? = nil,
        site: Site = .connector, optional: Bool = false, eps: Double? = nil) -> GraphNode {
    .operation(OperationNode(name: name, operation: operation, inputs: inputs, output: output, roles: [:], when: when,
                             site: site, optional: optional, eps: eps))
}

func loop(_ name: String, _ index: String, _ count: DimExpr, _ body: [GraphNode]) -> GraphNode {
    .repeatBlock(RepeatBlock(name: name, index: index, count: count, body: body))
}

func dim(_ symbol: String, _ key: String?, _ description: String, _ defaultValue: Int? = nil) -> DimensionDecl {
    DimensionDecl(symbol, key: key, description, default: defaultValue)
}

/// Dimension declarations from a table, one a line: symbol, key, default (`-`: none), description.
func dims(_ table: String) -> [DimensionDecl] {
    table.split(separator: "\n").map { line in
        var rest = Substring(line)
        func column() -> String {
            rest = rest.drop { $0 == " " }
            let word = rest.prefix { $0 != " " }
            rest = rest.dropFirst(word.count)
            return String(word)
        }
        let symbol = column(), key = column(), defaultValue = column()
        let description = String(rest.drop { $0 == " " })
        precondition(!description.isEmpty && (defaultValue == "-" || Int(defaultValue) != nil), "malformed dimension row: \(line)")
        return dim(symbol, key == "-" ? nil : key, description, Int(defaultValue))
    }
}

/// A scheme entry: `role` stored as `name`.
func entry(_ role: String, _ name: String, aliases: [String] = [], transposed: Bool = false, squeezed: Bool = false) -> SchemeEntry {
    SchemeEntry(role: role, name: name, aliases: aliases, transposed: transposed, squeezed: squeezed)
}

/// Entries for every slot of a node: `node.slot` stored as `prefix + renamed slot`.
func entries(_ node: String, _ prefix: String, _ slots: [(String, String)], squeezed: Bool = false) -> [SchemeEntry] {
    slots.map { SchemeEntry(role: "\(node).\($0.0)", name: prefix + $0.1, squeezed: squeezed) }
}

let weightBias: [(String, String)] = [("weight", "weight"), ("bias", "bias")]

/// `weight`/`bias` of a node stored under `prefix.weight`/`prefix.bias`.
func linearEntries(_ node: String, _ prefix: String, bias: Bool = true, squeezed: Bool = false) -> [SchemeEntry] {
    entries(node, prefix + ".", bias ? weightBias : [("weight", "weight")], squeezed: squeezed)
}

extension NamingScheme {
    init(_ name: SchemeName, _ entries: [SchemeEntry], absent: [String] = [], ignored: [String] = []) {
        self.init(name: name.rawValue, description: name.summary, entries: entries, absent: absent, ignored: ignored)
    }
}
