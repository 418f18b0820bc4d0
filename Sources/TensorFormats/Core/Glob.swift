/// Tensor-name patterns: `*` matches any run of characters (dots included), `?` one character;
/// everything else matches itself. A pattern must match the whole name.
public struct Glob: Sendable, Equatable, CustomStringConvertible {
    public let pattern: String
    private let scalars: [Unicode.Scalar]

    public init(_ pattern: String) {
        self.pattern = pattern
        scalars = Array(pattern.unicodeScalars)
    }

    public var description: String { pattern }

    public func matches(_ name: String) -> Bool {
        let text = Array(name.unicodeScalars)
        // Iterative wildcard matching with single backtrack point: linear in practice, never exponential.
        var p = 0, t = 0
        var star = -1, mark = 0
        while t < text.count {
            if p < scalars.count, scalars[p] == "?" || (scalars[p] != "*" && scalars[p] == text[t]) {
                p += 1
                t += 1
            } else if p < scalars.count, scalars[p] == "*" {
                star = p
                mark = t
                p += 1
            } else if star >= 0 {
                p = star + 1
                mark += 1
                t = mark
            } else {
                return false
            }
        }
        while p < scalars.count, scalars[p] == "*" { p += 1 }
        return p == scalars.count
    }
}
