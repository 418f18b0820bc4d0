import ArgumentParser
import TensorFormats

/// What a command line that did not parse got wrong, said before anything the parser found later: an
/// unknown command (`connkit frob`), or an unknown option (`-t q4_0` is "unknown option '-t'", not
/// "missing --type"). The options a command takes are read from the parser's own description of it
/// (`_dumpHelp`), so they are never listed twice.
enum CommandLineCheck {
    /// The first mistake of this kind in `arguments`, or nil to let the parser's message stand.
    static func failure(_ arguments: [String], commands: [ParsableCommand.Type]) -> String? {
        guard let first = arguments.first else { return nil }
        let names = commands.map { $0._commandName }
        if !first.hasPrefix("-") {
            guard let command = commands.first(where: { $0._commandName == first }) else {
                if first == "help" { return nil }
                return "unknown command '\(printable(first))'" + suggestions(for: first, among: names, listedAs: "commands")
            }
            return unknownOption(in: Array(arguments.dropFirst()), options: options(of: command))
        }
        return nil
    }

    /// An option a command takes: its spellings and whether it reads a value.
    struct Option {
        var names: [String]
        var takesValue: Bool
    }

    /// The options of `command` (help included), from the parser's JSON description of it.
    static func options(of command: ParsableCommand.Type) -> [Option] {
        var options = [Option(names: ["-h", "--help"], takesValue: false)]
        guard let tool = try? JSONValue.parse(command._dumpHelp()),
              let arguments = tool["command"]?["arguments"]?.arrayValue else { return options }
        for argument in arguments {
            guard let kind = argument["kind"]?.stringValue, kind != "positional" else { continue }
            let names = (argument["names"]?.arrayValue ?? []).compactMap { name -> String? in
                guard let text = name["name"]?.stringValue else { return nil }
                return (name["kind"]?.stringValue == "short" ? "-" : "--") + text
            }
            options.append(Option(names: names, takesValue: kind == "option"))
        }
        return options
    }

    /// The first token before `--` that looks like an option and is none of `options`.
    static func unknownOption(in arguments: [String], options: [Option]) -> String? {
        var index = 0
        while index < arguments.count {
            let token = arguments[index]
            index += 1
            if token == "--" { return nil }
            guard token.hasPrefix("-"), token.count > 1, Double(token) == nil else { continue }
            let name = token.hasPrefix("--") ? String(token.prefix { $0 != "=" }) : token
            if let option = options.first(where: { $0.names.contains(name) }) {
                if option.takesValue, !token.contains("=") { index += 1 }
                continue
            }
            if !token.hasPrefix("--"), token.count > 2,
               token.dropFirst().allSatisfy({ letter in options.contains { $0.names.contains("-\(letter)") && !$0.takesValue } }) {
                continue  // grouped short flags (-hq)
            }
            let long = options.flatMap(\.names).filter { $0.hasPrefix("--") }
            var close = closestNames(to: name, among: long)
            if !name.hasPrefix("--"), let letter = name.dropFirst().first {
                close = long.filter { $0.dropFirst(2).first == letter }
            }
            return "unknown option '\(printable(name))'" + (close.isEmpty ? "" : ": did you mean \(close.prefix(3).joined(separator: " or "))?")
        }
        return nil
    }
}
