import ArgumentParser
import ConnectorGraph
import Quantization
import TensorFormats

/// A closed set of values typed on the command line (dtypes, quantization types, families, variants,
/// presets, dimension keys): the one place per vocabulary that says its names — what `--help` and shell
/// completion list — and reads what a user typed.
///
/// Reading follows one rule for every vocabulary: a name matches whatever the case and with `-` and `_`
/// taken as the same character (`Q4_K`, `Patch_Merger`); an alias names a value too (`fp16` is `f16`);
/// anything else is an `unknown-value` error that lists the names, led by the closest ones, or says why a
/// name that belongs to another tool is refused (`vocabularyRefusal`).
protocol Vocabulary {
    /// What a value is called in messages: "quantization type", "family".
    static var noun: String { get }
    /// The canonical names, in the order `--help` lists them.
    static var names: [String] { get }
    /// The value a canonical name (or another spelling the vocabulary itself knows, such as a preset's
    /// Hugging Face id) names, or nil.
    static func named(_ text: String) -> Self?
    /// Other spellings, alias -> canonical name.
    static var aliases: [String: String] { get }
    /// Why `text`, which names no value, is refused when a better reason than "unknown" exists.
    static func refusal(_ text: String) -> String?
}

extension Vocabulary {
    static var aliases: [String: String] { [:] }
    static func refusal(_ text: String) -> String? { nil }

    /// The value `text` names, by the vocabulary rule above.
    static func lookup(_ text: String) -> Self? {
        if let value = named(text) { return value }
        let key = foldedName(text)
        if let name = names.first(where: { foldedName($0) == key }) { return named(name) }
        if let canonical = aliases.first(where: { foldedName($0.key) == key })?.value { return named(canonical) }
        return nil
    }

    /// The value `text` names; anything else is an `unknown-value` usage error listing the names.
    static func parse(_ text: String) throws(CommandFailure) -> Self {
        if let value = lookup(text) { return value }
        if let refusal = refusal(text) { throw CommandFailure(.usage, .unknownValue, refusal) }
        throw CommandFailure(.usage, .unknownValue, unknownValueMessage(noun, text, names))
    }
}

/// `unknown family 'MPL': did you mean mlp? (known: linear, mlp, …)` — every error about a closed set.
func unknownValueMessage(_ noun: String, _ text: String, _ names: [String]) -> String {
    "unknown \(noun) '\(printable(text))'" + suggestions(for: text, among: names)
}

/// `: did you mean mlp? (known: linear, mlp, …)`: the closest names, if any, then all of them.
func suggestions(for text: String, among names: [String], listedAs label: String = "known") -> String {
    let close = closestNames(to: text, among: names)
    let guess = close.isEmpty ? "" : ": did you mean \(close.joined(separator: " or "))?"
    return guess + " (\(label): \(names.joined(separator: ", ")))"
}

/// A name as compared: lower case, `_` read as `-`.
func foldedName(_ text: String) -> String {
    String(text.lowercased().map { $0 == "_" ? "-" : $0 })
}

/// The names closest to `text` (at most three): those within a small edit distance (a third of the
/// length, at least 1; a swap of two neighbours counts one) or starting with what was typed.
func closestNames(to text: String, among names: [String]) -> [String] {
    let typed = Array(foldedName(text))
    guard !typed.isEmpty else { return [] }
    let scored = names.compactMap { name -> (String, Int)? in
        let candidate = Array(foldedName(name))
        let distance = editDistance(typed, candidate)
        if distance <= max(1, typed.count / 3) { return (name, distance) }
        if typed.count >= 2, candidate.starts(with: typed) { return (name, typed.count) }
        return nil
    }
    return scored.sorted { $0.1 < $1.1 }.prefix(3).map(\.0)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of neighbours.
func editDistance(_ a: [Character], _ b: [Character]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous2 = [Int](repeating: 0, count: b.count + 1)
    var previous = Array(0 ... b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1 ... a.count {
        current[0] = i
        for j in 1 ... b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { current[j] = min(current[j], previous2[j - 2] + 1) }
        }
        (previous2, previous, current) = (previous, current, previous2)
    }
    return previous[b.count]
}

/// A vocabulary value as typed. The argument parser takes any text (its `--help` and completion list
/// `V.names`); `value` reads it in `run()`, so an unknown name is a `ConnkitError` that the root reports
/// like every other, `--json` included.
struct Choice<V: Vocabulary>: ExpressibleByArgument, Sendable {
    let text: String

    init(argument: String) {
        text = argument
    }

    static var allValueStrings: [String] { V.names }

    static var defaultCompletionKind: CompletionKind { .list(V.names) }

    var defaultValueDescription: String { text }

    var value: V {
        get throws(CommandFailure) { try V.parse(text) }
    }
}

/// An enum whose raw values are its names.
extension Vocabulary where Self: CaseIterable & RawRepresentable, RawValue == String {
    static var names: [String] { allCases.map(\.rawValue) }
    static func named(_ text: String) -> Self? { Self(rawValue: text) }
}

/// The spellings of the float types other tools use (numpy, PyTorch, ml_dtypes, C), for every option
/// that takes one.
let floatTypeAliases = [
    "fp16": "f16", "float16": "f16", "half": "f16",
    "bfloat16": "bf16",
    "fp32": "f32", "float32": "f32",
]

extension DTypeChoice: Vocabulary {
    static var noun: String { "dtype" }
    static var aliases: [String: String] { floatTypeAliases }
}

extension QuantizationType: Vocabulary {
    static var noun: String { "quantization type" }
    static var names: [String] { allNames }
    static func named(_ text: String) -> QuantizationType? { all.first { $0.name == text } }
    static var aliases: [String: String] { floatTypeAliases }

    /// llama.cpp's whole-model mixes (`Q4_K_M`, `q5_k_s`, `Q3_K_L`…) choose a type per tensor role of a
    /// whole LLM; they are not types a tensor can have.
    static func refusal(_ text: String) -> String? {
        let parts = foldedName(text).split(separator: "-").map(String.init)
        guard parts.count == 3, parts[1] == "k", ["s", "m", "l", "xl"].contains(parts[2]),
              let base = all.first(where: { $0.name == parts[0] + "_k" }) else { return nil }
        return "'\(printable(text))' is one of llama.cpp's whole-model mixes, which choose a type per tensor role of an LLM; "
            + "for a type per tensor chosen by the connector's output error use --target-cosine X (e.g. 0.999), "
            + "or one type for every tensor with --type \(base.name)"
    }
}

extension Family: Vocabulary {
    static var noun: String { "family" }
}

extension SchemeName: Vocabulary {
    static var noun: String { "naming scheme" }
}

/// Case-insensitive; a Hugging Face model id of the preset works too.
extension EncoderPreset: Vocabulary {
    static var noun: String { "encoder preset" }
    static var names: [String] { Presets.encoders.map(\.name) }
    static func named(_ text: String) -> EncoderPreset? { Presets.encoder(named: text) }
}

/// Case-insensitive; a Hugging Face model id of the preset works too.
extension LLMPreset: Vocabulary {
    static var noun: String { "LLM preset" }
    static var names: [String] { Presets.llms.map(\.name) }
    static func named(_ text: String) -> LLMPreset? { Presets.llm(named: text) }
}

/// A dimension key of `KEY=N` (`queries`, `encoder`…).
struct DimensionKeyName: Vocabulary {
    let key: String
    static var noun: String { "dimension key" }
    static var names: [String] { DimensionKey.all.map(\.key) }
    static func named(_ text: String) -> DimensionKeyName? { DimensionKey.isKnown(text) ? DimensionKeyName(key: text) : nil }
}

/// A family variant name (`mlp2x_gelu`, `blip2`); `within(_:)` reads one for a given family.
struct VariantName: Vocabulary {
    let name: String
    static var noun: String { "variant" }
    static var names: [String] { Catalog.allVariantNames }
    static func named(_ text: String) -> VariantName? { names.contains(text) ? VariantName(name: text) : nil }

    /// The variant of `family` that `text` names, by the vocabulary rule, and its canonical name; else an
    /// error listing the family's variants.
    static func within(_ family: Family, _ text: String) throws(CommandFailure) -> (variant: FamilyVariant, name: String) {
        let names = Catalog.variants(of: family).flatMap(\.variantNames)
        if let name = names.first(where: { foldedName($0) == foldedName(text) }), let variant = Catalog.variant(family, name) {
            return (variant, name)
        }
        throw CommandFailure(.usage, .unknownValue, unknownValueMessage("\(family.rawValue) variant", text, names))
    }
}
