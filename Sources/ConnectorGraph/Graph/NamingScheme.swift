/// How one family of checkpoints names a graph's parameters: a table from canonical roles to stored
/// tensor names, with the storage quirks of that ecosystem.
///
/// Names are templates: `{i}` (or an index expression such as `{2*i+2}`) stands for the repeat index
/// the role carries. A role absent from the table is stored under its own name.
public struct NamingScheme: Sendable, Equatable {
    /// Closed vocabulary for built-in schemes (`llava`, `hf`, `mmproj`…); free text for custom graphs.
    public var name: String
    public var description: String
    public var entries: [SchemeEntry]
    /// Roles of optional nodes this ecosystem never stores (llama.cpp drops MiniCPM-V 2.0's query
    /// `pos_embed`): not looked for under any name.
    public var absent: [String] = []
    /// Globs (`*` crosses dots) of tensors the ecosystem stores next to the connector that are not
    /// parameters of it (buffers such as `position_ids`, the same module reached through a second
    /// path): accepted silently instead of being reported as unexpected.
    public var ignored: [String] = []

    public func entry(for role: String) -> SchemeEntry? { entries.first { $0.role == role } }

    /// How `role` is stored (its own name when the table does not list it).
    public func storage(for role: String) -> SchemeEntry { entry(for: role) ?? SchemeEntry(role: role, name: role) }
}

/// The stored form of one role.
public struct SchemeEntry: Sendable, Equatable {
    public var role: String
    /// The tensor name template.
    public var name: String
    /// Other names the same parameter is known by; at most one of `name` and `aliases` may be present.
    public var aliases: [String]
    /// The parameter is stored split along its first axis into these tensors, in order (llama.cpp splits
    /// a fused `in_proj_weight` into `attn.q/k/v`). `name` is then unused.
    public var parts: [String]
    /// Stored as the transpose of the graph's shape (a raw `x @ P` parameter instead of `nn.Linear`).
    public var transposed: Bool
    /// Stored with its size-1 axes removed (llama.cpp's legacy converter squeezes every tensor).
    public var squeezed: Bool

    public init(role: String, name: String, aliases: [String] = [], parts: [String] = [], transposed: Bool = false,
                squeezed: Bool = false) {
        self.role = role
        // A split parameter has no name of its own; its first part stands for it.
        self.name = parts.first ?? name
        self.aliases = aliases
        self.parts = parts
        self.transposed = transposed
        self.squeezed = squeezed
    }

    /// Every stored name template this entry can produce.
    public var allNames: [String] { parts.isEmpty ? [name] + aliases : parts }
}

/// A parsed name template: literal text and index expressions.
struct NameTemplate: Sendable, Equatable, Hashable {
    enum Piece: Sendable, Equatable, Hashable {
        case literal(String)
        case index(DimExpr)
    }
    let pieces: [Piece]
    let text: String

    init(_ text: String) throws {
        self.text = text
        var pieces: [Piece] = []
        var literal = ""
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            literal += rest[rest.startIndex ..< open]
            guard let close = rest[open...].firstIndex(of: "}") else {
                throw TemplateError(template: text, reason: "unclosed '{'")
            }
            if !literal.isEmpty { pieces.append(.literal(literal)) }
            literal = ""
            let inner = String(rest[rest.index(after: open) ..< close])
            do { pieces.append(.index(try DimExpr(parsing: inner))) } catch {
                throw TemplateError(template: text, reason: "\(error)")
            }
            rest = rest[rest.index(after: close)...]
        }
        literal += rest
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        for (a, b) in zip(pieces, pieces.dropFirst()) {
            if case .index = a, case .index = b {
                throw TemplateError(template: text, reason: "two indices must be separated by text")
            }
        }
        self.pieces = pieces
        skeleton = NameTemplate.skeleton(of: pieces)
    }

    var hasIndex: Bool { pieces.contains { if case .index = $0 { return true } else { return false } } }

    /// The skeleton every matching name has (digit runs and indices as `#`), or nil when a literal digit
    /// touches an index (then a digit run of the name could span both, and names are scanned instead).
    private(set) var skeleton: String?

    private static func skeleton(of pieces: [Piece]) -> String? {
        var text = ""
        var previousWasIndex = false
        for piece in pieces {
            switch piece {
            case .literal(let literal):
                if previousWasIndex, let first = literal.utf8.first, (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(first) { return nil }
                if let last = literal.utf8.last, (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(last), piece != pieces.last {
                    // Followed by an index (pieces alternate), so the digits would merge.
                    return nil
                }
                text += literal
                previousWasIndex = false
            case .index:
                text += "0"
                previousWasIndex = true
            }
        }
        return NameIndex.skeleton(text)
    }

    /// The literal text before the first index (for a prefix search over sorted names).
    var literalPrefix: String {
        if case .literal(let text) = pieces.first { return text }
        return ""
    }

    var indexSymbols: [String] {
        var symbols: [String] = []
        for case .index(let expr) in pieces {
            for symbol in expr.symbols where !symbols.contains(symbol) { symbols.append(symbol) }
        }
        return symbols
    }

    /// The concrete name for given index values (nil when an index expression has no value).
    func instantiate(_ lookup: (String) -> Int?) -> String? {
        var out = ""
        for piece in pieces {
            switch piece {
            case .literal(let text): out += text
            case .index(let expr):
                guard let value = expr.value(lookup), value >= 0 else { return nil }
                out += String(value)
            }
        }
        return out
    }

    /// Matches a concrete name; returns the values of the index symbols (empty for a plain name), or
    /// nil when the name does not fit. Each index expression must be linear in a single symbol.
    func match(_ name: String) -> [String: Int]? {
        var position = name.utf8.startIndex
        let utf8 = name.utf8
        var numbers: [(DimExpr, Int)] = []
        for piece in pieces {
            switch piece {
            case .literal(let text):
                guard utf8[position...].starts(with: text.utf8) else { return nil }
                position = utf8.index(position, offsetBy: text.utf8.count)
            case .index(let expr):
                var end = position
                while end < utf8.endIndex, (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(utf8[end]) { end = utf8.index(after: end) }
                guard end > position else { return nil }
                let digits = Substring(utf8[position ..< end])
                // No leading zeros: `layers.01` is not layer 1.
                guard digits.count == 1 || digits.first != "0", let number = Int(digits) else { return nil }
                numbers.append((expr, number))
                position = end
            }
        }
        guard position == utf8.endIndex else { return nil }
        var values: [String: Int] = [:]
        for (expr, number) in numbers {
            let unknowns = expr.symbols.filter { values[$0] == nil }
            if unknowns.isEmpty {
                guard expr.value(values) == number else { return nil }
                continue
            }
            guard unknowns.count == 1, let solved = expr.solve(for: unknowns[0], equals: number, { values[$0] }), solved >= 0 else {
                return nil
            }
            values[unknowns[0]] = solved
        }
        return values
    }
}

struct TemplateError: Error, Sendable, CustomStringConvertible {
    var template: String
    var reason: String
    var description: String { "invalid name template \"\(template)\": \(reason)" }
}
