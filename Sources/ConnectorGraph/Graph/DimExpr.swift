import TensorFormats

/// A symbolic dimension: an integer, a symbol (`D_enc`), or `+ - * /` of those (`D_enc*s*s`, `3*E`,
/// `E/heads`). Division is exact: an expression whose division leaves a remainder has no value.
///
/// In JSON a dimension is either an integer or a string in this small grammar:
/// `expr := term (('+'|'-') term)*`, `term := factor (('*'|'/') factor)*`,
/// `factor := INTEGER | SYMBOL | '(' expr ')'`, with `SYMBOL := [A-Za-z_][A-Za-z0-9_]*`.
public indirect enum DimExpr: Sendable, Hashable, CustomStringConvertible {
    case constant(Int)
    case symbol(String)
    case add(DimExpr, DimExpr)
    case subtract(DimExpr, DimExpr)
    case multiply(DimExpr, DimExpr)
    case divide(DimExpr, DimExpr)

    // MARK: building

    public static func + (a: DimExpr, b: DimExpr) -> DimExpr { .add(a, b) }
    public static func - (a: DimExpr, b: DimExpr) -> DimExpr { .subtract(a, b) }
    public static func * (a: DimExpr, b: DimExpr) -> DimExpr { .multiply(a, b) }
    public static func / (a: DimExpr, b: DimExpr) -> DimExpr { .divide(a, b) }

    /// The symbols the expression mentions, in first-appearance order.
    public var symbols: [String] {
        var seen: [String] = []
        func walk(_ e: DimExpr) {
            switch e {
            case .constant: break
            case .symbol(let name): if !seen.contains(name) { seen.append(name) }
            case .add(let a, let b), .subtract(let a, let b), .multiply(let a, let b), .divide(let a, let b):
                walk(a)
                walk(b)
            }
        }
        walk(self)
        return seen
    }

    /// Number of times `symbol` occurs.
    func occurrences(of symbol: String) -> Int {
        switch self {
        case .constant: 0
        case .symbol(let name): name == symbol ? 1 : 0
        case .add(let a, let b), .subtract(let a, let b), .multiply(let a, let b), .divide(let a, let b):
            a.occurrences(of: symbol) + b.occurrences(of: symbol)
        }
    }

    public var isLiteralOne: Bool { self == .constant(1) }

    // MARK: evaluation

    public enum Evaluation: Sendable, Equatable {
        case value(Int)
        /// These symbols have no value yet.
        case unbound([String])
        /// A division with a remainder (`dividend` is not a multiple of `divisor`), a division by zero,
        /// or an overflow.
        case invalid(String)
    }

    public func evaluate(_ lookup: (String) -> Int?) -> Evaluation {
        switch self {
        case .constant(let value): return .value(value)
        case .symbol(let name):
            if let value = lookup(name) { return .value(value) }
            return .unbound([name])
        case .add(let a, let b), .subtract(let a, let b), .multiply(let a, let b), .divide(let a, let b):
            let left = a.evaluate(lookup), right = b.evaluate(lookup)
            switch (left, right) {
            case (.invalid(let why), _), (_, .invalid(let why)): return .invalid(why)
            case (.unbound(let x), .unbound(let y)): return .unbound(x + y.filter { !x.contains($0) })
            case (.unbound(let x), _), (_, .unbound(let x)): return .unbound(x)
            case (.value(let x), .value(let y)): return DimExpr.apply(self, x, y)
            }
        }
    }

    private static func apply(_ node: DimExpr, _ x: Int, _ y: Int) -> Evaluation {
        switch node {
        case .add:
            guard let sum = Checked.add(x, y) else { return .invalid("overflow in \(node)") }
            return .value(sum)
        case .subtract:
            let (difference, overflow) = x.subtractingReportingOverflow(y)
            return overflow ? .invalid("overflow in \(node)") : .value(difference)
        case .multiply:
            guard let product = Checked.multiply(x, y) else { return .invalid("overflow in \(node)") }
            return .value(product)
        case .divide:
            guard y != 0 else { return .invalid("division by zero in \(node)") }
            guard x % y == 0 else { return .invalid("\(x) is not divisible by \(y) in \(node)") }
            return .value(x / y)
        default:
            return .invalid("not an operator")
        }
    }

    public func value(_ lookup: (String) -> Int?) -> Int? {
        if case .value(let v) = evaluate(lookup) { return v }
        return nil
    }

    public func value(_ bindings: [String: Int]) -> Int? { value { bindings[$0] } }

    /// Solves `self == target` for the one unbound symbol `unknown` (which must occur exactly once),
    /// given values for every other symbol. Returns nil when there is no integer solution.
    public func solve(for unknown: String, equals target: Int, _ lookup: (String) -> Int?) -> Int? {
        guard occurrences(of: unknown) == 1 else { return search(for: unknown, equals: target, lookup) }
        var expr = self
        var goal = target
        while true {
            switch expr {
            case .symbol(let name):
                return name == unknown ? goal : nil
            case .constant:
                return nil
            case .add(let a, let b), .subtract(let a, let b), .multiply(let a, let b), .divide(let a, let b):
                let unknownLeft = a.occurrences(of: unknown) == 1
                let other = unknownLeft ? b : a
                guard let known = other.value(lookup) else { return nil }
                switch expr {
                case .add:
                    guard let next = Checked.add(goal, -known) else { return nil }
                    goal = next
                case .subtract:
                    // a - b = goal: a = goal + b, or b = a - goal.
                    guard let next = unknownLeft ? Checked.add(goal, known) : Checked.add(known, -goal) else { return nil }
                    goal = next
                case .multiply:
                    guard known != 0, goal % known == 0 else { return nil }
                    goal /= known
                case .divide:
                    if unknownLeft {
                        guard let next = Checked.multiply(goal, known) else { return nil }
                        goal = next
                    } else {
                        guard goal != 0, known % goal == 0 else { return nil }
                        goal = known / goal
                    }
                default: return nil
                }
                expr = unknownLeft ? a : b
            }
        }
    }

    /// For an unknown that occurs more than once (`D*m*m`): the smallest positive value that fits,
    /// searched up to 4096 (merge factors, heads and the like are small).
    private func search(for unknown: String, equals target: Int, _ lookup: (String) -> Int?) -> Int? {
        for candidate in 1 ... 4096 {
            if value({ $0 == unknown ? candidate : lookup($0) }) == target { return candidate }
        }
        return nil
    }

    // MARK: text

    public var description: String { render(parentPrecedence: 0, rightOperand: false) }

    private var precedence: Int {
        switch self {
        case .constant, .symbol: 3
        case .multiply, .divide: 2
        case .add, .subtract: 1
        }
    }

    private func render(parentPrecedence: Int, rightOperand: Bool) -> String {
        let text: String
        switch self {
        case .constant(let value): return String(value)
        case .symbol(let name): return name
        case .add(let a, let b): text = a.render(parentPrecedence: 1, rightOperand: false) + "+" + b.render(parentPrecedence: 1, rightOperand: true)
        case .subtract(let a, let b): text = a.render(parentPrecedence: 1, rightOperand: false) + "-" + b.render(parentPrecedence: 1, rightOperand: true)
        case .multiply(let a, let b): text = a.render(parentPrecedence: 2, rightOperand: false) + "*" + b.render(parentPrecedence: 2, rightOperand: true)
        case .divide(let a, let b): text = a.render(parentPrecedence: 2, rightOperand: false) + "/" + b.render(parentPrecedence: 2, rightOperand: true)
        }
        // Parenthesise a lower-precedence child, and an equal-precedence right operand (a-(b-c), a/(b*c)).
        let needs = precedence < parentPrecedence || (precedence == parentPrecedence && rightOperand)
        return needs ? "(" + text + ")" : text
    }

    // MARK: parsing

    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var text: String
        public var offset: Int
        public var reason: String
        public var description: String { "invalid dimension expression \"\(text)\" at character \(offset): \(reason)" }
    }

    public init(parsing text: String) throws {
        var parser = DimParser(text: text)
        let expr = try parser.parseExpression()
        parser.skipSpaces()
        guard parser.position == parser.scalars.count else { throw parser.error("unexpected character") }
        self = expr
    }

    /// Parses an expression written in Swift source (a built-in family); a typo there is a programming error.
    init(_ text: String) {
        do { try self.init(parsing: text) } catch { preconditionFailure("\(error)") }
    }
}

extension DimExpr: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral {
    public init(integerLiteral value: Int) { self = .constant(value) }
    public init(stringLiteral value: String) { self.init(value) }
}

private struct DimParser {
    let text: String
    let scalars: [Unicode.Scalar]
    var position = 0

    init(text: String) {
        self.text = text
        scalars = Array(text.unicodeScalars)
    }

    func error(_ reason: String) -> DimExpr.ParseError { DimExpr.ParseError(text: text, offset: position, reason: reason) }

    mutating func skipSpaces() {
        while position < scalars.count, scalars[position] == " " { position += 1 }
    }

    mutating func peek() -> Unicode.Scalar? {
        skipSpaces()
        return position < scalars.count ? scalars[position] : nil
    }

    /// The binary operators by precedence level, lowest first; each level is left-associative.
    static func binary(_ scalar: Unicode.Scalar, level: Int) -> ((DimExpr, DimExpr) -> DimExpr)? {
        switch (level, scalar) {
        case (0, "+"): DimExpr.add
        case (0, "-"): DimExpr.subtract
        case (1, "*"): DimExpr.multiply
        case (1, "/"): DimExpr.divide
        default: nil
        }
    }

    /// `expr` is level 0 (`term (('+'|'-') term)*`), `term` level 1 (`factor (('*'|'/') factor)*`).
    mutating func parseExpression(level: Int = 0) throws -> DimExpr {
        guard level < 2 else { return try parseFactor() }
        var left = try parseExpression(level: level + 1)
        while let next = peek(), let combine = DimParser.binary(next, level: level) {
            position += 1
            left = combine(left, try parseExpression(level: level + 1))
        }
        return left
    }

    mutating func parseFactor() throws -> DimExpr {
        guard let first = peek() else { throw error("expected a number, a symbol or '('") }
        if first == "(" {
            position += 1
            let inner = try parseExpression()
            guard peek() == ")" else { throw error("expected ')'") }
            position += 1
            return inner
        }
        if ("0" ... "9").contains(first) {
            var digits = ""
            while position < scalars.count, ("0" ... "9").contains(scalars[position]) {
                digits.unicodeScalars.append(scalars[position])
                position += 1
            }
            guard let value = Int(digits) else { throw error("number too large") }
            return .constant(value)
        }
        if first == "_" || ("a" ... "z").contains(first) || ("A" ... "Z").contains(first) {
            var name = ""
            while position < scalars.count {
                let c = scalars[position]
                guard c == "_" || ("a" ... "z").contains(c) || ("A" ... "Z").contains(c) || ("0" ... "9").contains(c) else { break }
                name.unicodeScalars.append(c)
                position += 1
            }
            return .symbol(name)
        }
        throw error("expected a number, a symbol or '('")
    }
}
