/// Which tensors a command works on: the one place `--only`, `--exclude` (and `quantize`'s `--keep`)
/// patterns are applied and checked, for every command that selects tensors.
///
/// The rule: a selection that selects nothing is an error, never an empty or unchanged output. A pattern
/// that matches no tensor is refused, naming the option and the pattern, with a near miss when one exists
/// (the pattern under a prefix the names carry, `model.` or `*.`, or without one they lack); a selection
/// whose patterns each match but that together leave no tensor is refused too.
public struct TensorSelection: Sendable {
    public var only: [Glob]
    public var exclude: [Glob]

    public init(only: [Glob] = [], exclude: [Glob] = []) {
        self.only = only
        self.exclude = exclude
    }

    public func includes(_ name: String) -> Bool {
        if !only.isEmpty, !only.contains(where: { $0.matches(name) }) { return false }
        return !exclude.contains(where: { $0.matches(name) })
    }

    /// The tensors selected among `tensors` (in their order), after checking that every pattern matches
    /// one of them and that at least one is left. `within` narrows the candidates first (a detected
    /// connector's tensors, say).
    public func select(_ tensors: [Tensor], within names: Set<ExactName>? = nil) throws(SelectionError) -> [Tensor] {
        let candidates = names.map { names in tensors.filter { names.contains(ExactName($0.name)) } } ?? tensors
        let candidateNames = candidates.map(\.name)
        try Self.requireMatches(only, option: "--only", among: candidateNames)
        try Self.requireMatches(exclude, option: "--exclude", among: candidateNames)
        let selected = candidates.filter { includes($0.name) }
        guard !selected.isEmpty else {
            throw SelectionError(.leavesNothing(options: options))
        }
        return selected
    }

    /// The options as typed, for messages: `--only 'a.*' --exclude '*.bias'`.
    var options: String {
        (only.map { "--only '\($0.pattern)'" } + exclude.map { "--exclude '\($0.pattern)'" }).joined(separator: " ")
    }

    /// Refuses the first of `patterns` (given as `option`) that matches none of `names`.
    public static func requireMatches(_ patterns: [Glob], option: String, among names: [String]) throws(SelectionError) {
        for pattern in patterns where !names.contains(where: { pattern.matches($0) }) {
            throw SelectionError(.matchesNothing(option: option, pattern: pattern.pattern,
                                                 nearMiss: nearMiss(for: pattern, among: names)))
        }
    }

    /// A pattern close to `pattern` that matches some of `names`, with how many: `pattern` under the
    /// leading dot-separated components the names carry (`mm_projector.*` -> `model.mm_projector.*`;
    /// `*.` + pattern when the matches carry different ones), or without leading components the names
    /// lack (`model.visual.merger.*` -> `visual.merger.*`). Nil when neither matches anything.
    public static func nearMiss(for pattern: Glob, among names: [String]) -> SelectionError.NearMiss? {
        var prefixes: [String: Int] = [:]
        for name in names {
            var index = name.startIndex
            while let dot = name[index...].firstIndex(of: ".") {
                index = name.index(after: dot)
                if pattern.matches(String(name[index...])) {
                    prefixes[String(name[..<index]), default: 0] += 1
                    break
                }
            }
        }
        if !prefixes.isEmpty {
            let total = prefixes.values.reduce(0, +)
            let prefix = prefixes.count == 1 ? prefixes.keys.first! : "*."
            return .init(pattern: prefix + pattern.pattern, count: total)
        }
        var rest = Substring(pattern.pattern)
        while let dot = rest.firstIndex(of: "."), !rest[..<dot].contains("*") {
            rest = rest[rest.index(after: dot)...]
            guard rest.contains(where: { $0 != "*" && $0 != "?" && $0 != "." }) else { break }
            let shorter = Glob(String(rest))
            let count = names.filter { shorter.matches($0) }.count
            if count > 0 { return .init(pattern: shorter.pattern, count: count) }
        }
        return nil
    }
}

/// A selection that selects nothing (exit status 2, `empty-selection`).
public struct SelectionError: ConnkitError, Equatable {
    public enum Kind: Sendable, Equatable {
        /// `option pattern` matches no tensor; `nearMiss` is a pattern that would, and how many it matches.
        case matchesNothing(option: String, pattern: String, nearMiss: NearMiss?)
        /// Every pattern matches, but together they leave no tensor.
        case leavesNothing(options: String)
    }

    /// A pattern that would match, and how many tensors it matches.
    public struct NearMiss: Sendable, Equatable {
        public var pattern: String
        public var count: Int

        public init(pattern: String, count: Int) {
            self.pattern = pattern
            self.count = count
        }
    }

    public var kind: Kind
    /// The input the names come from, once known.
    public var file: String?

    public init(_ kind: Kind, file: String? = nil) {
        self.kind = kind
        self.file = file
    }

    public var failure: FailureClass { .unusableInput }
    public var code: ErrorCode { .emptySelection }

    public var description: String {
        let message: String
        switch kind {
        case .matchesNothing(let option, let pattern, let nearMiss):
            message = "\(option) '\(pattern)' matches no tensor"
                + (nearMiss.map { "; did you mean \(option) '\($0.pattern)' (\($0.count) tensor\($0.count == 1 ? "" : "s"))?" } ?? "")
        case .leavesNothing(let options):
            message = "\(options) leave\(options.contains(" --") ? "" : "s") no tensor"
        }
        return file.map { "\($0): \(message)" } ?? message
    }

    /// The same error, attributed to the input `path`.
    public func inFile(_ path: String) -> SelectionError {
        var copy = self
        if copy.file == nil { copy.file = path }
        return copy
    }
}
