import ArgumentParser
import ConnectorGraph
import Quantization
import TensorFormats

/// A closed set of values typed on the command line (dtypes, quantization types, families, presets): the
/// one place per vocabulary that says its names — what `--help` and shell completion list — and reads what
/// a user typed.
protocol Vocabulary {
    /// What a value is called in messages: "quantization type", "family".
    static var noun: String { get }
    /// The canonical names, in the order `--help` lists them.
    static var names: [String] { get }
    /// The value `text` names (with the vocabulary's own case rules), or nil.
    static func named(_ text: String) -> Self?
}

extension Vocabulary {
    /// The value `text` names; anything else is an `unknown-value` usage error listing the names.
    static func parse(_ text: String) throws(CommandFailure) -> Self {
        guard let value = named(text) else {
            throw CommandFailure(.usage, .unknownValue, "unknown \(noun) '\(text)' (known: \(names.joined(separator: ", ")))")
        }
        return value
    }
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

/// An enum whose raw values are its names: spelled exactly.
extension Vocabulary where Self: CaseIterable & RawRepresentable, RawValue == String {
    static var names: [String] { allCases.map(\.rawValue) }
    static func named(_ text: String) -> Self? { Self(rawValue: text) }
}

extension DTypeChoice: Vocabulary {
    static var noun: String { "dtype" }
}

/// Case-insensitive (`Q4_0` is `q4_0`).
extension QuantizationType: Vocabulary {
    static var noun: String { "quantization type" }
    static var names: [String] { allNames }
    static func named(_ text: String) -> QuantizationType? { try? QuantizationType(parsing: text) }
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
