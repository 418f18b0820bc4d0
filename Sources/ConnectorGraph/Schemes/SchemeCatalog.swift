import TensorFormats

extension SchemeName {
    /// The container the ecosystem's files use (informative: `convert` writes any format connkit writes).
    public var format: FileFormat {
        switch self {
        case .llava, .lavis, .openFlamingo, .mobilevlm: .pytorch  // mm_projector.bin, LAVIS .pth, checkpoint.pt, llava.projector
        case .hf, .hfLegacy, .minicpmv, .qwenVL, .internvl: .safetensors
        case .mmproj: .gguf
        }
    }
}

/// The naming schemes each built-in family can be written in (`connkit schemes`), with an example name.
public enum SchemeCatalog {
    public struct Listing: Sendable, Equatable {
        public var name: String
        /// A stored name that tells this scheme apart from the family's others.
        public var example: String
        public var format: FileFormat
        public var description: String
        /// The family's variants that have this scheme.
        public var variants: [String]
    }

    /// The family's schemes in the order its variants declare them.
    public static func schemes(of family: Family) -> [Listing] {
        var listings: [Listing] = []
        let variants = Catalog.variants(of: family)
        for variant in variants {
            for scheme in variant.graph.schemes {
                if let index = listings.firstIndex(where: { $0.name == scheme.name }) {
                    listings[index].variants.append(variant.variant)
                    continue
                }
                let others = variant.graph.schemes.filter { $0.name != scheme.name }
                listings.append(Listing(name: scheme.name, example: example(scheme, among: others, graph: variant.graph),
                                        format: SchemeName(rawValue: scheme.name)?.format ?? .safetensors,
                                        description: scheme.description, variants: [variant.variant]))
            }
        }
        return listings
    }

    /// The first role (in graph order) whose stored name differs from every other scheme's, with its
    /// repeat indices at 0; the first role's name when none differs.
    static func example(_ scheme: NamingScheme, among others: [NamingScheme], graph: ConnectorGraph) -> String {
        func name(_ scheme: NamingScheme, _ role: String) -> String? {
            guard !scheme.absent.contains(role), let template = try? NameTemplate(scheme.storage(for: role).name) else { return nil }
            return template.instantiate { _ in 0 }
        }
        let roles = graph.roles.filter { !scheme.absent.contains($0) }
        for role in roles {
            guard let own = name(scheme, role) else { continue }
            if others.allSatisfy({ name($0, role) != own }) { return own }
        }
        return roles.first.flatMap { name(scheme, $0) } ?? ""
    }
}
