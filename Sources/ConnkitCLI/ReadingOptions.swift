import ArgumentParser
import TensorFormats

/// The options of every command that reads checkpoints (`@OptionGroup var reading: ReadingOptions`), and the
/// one way those commands open one.
struct ReadingOptions: ParsableArguments {
    @Option(name: .customLong("max-materialize"),
            help: ArgumentHelp("""
                Most bytes a checkpoint's tensor views may materialise beyond the storage bytes they cover \
                (PyTorch expanded/stride-0, overlapping or tied views), e.g. 4G, 512M, 1073741824 (K/M/G/T are \
                powers of 1024).
                """, valueName: "SIZE"))
    var maxMaterialize = ByteSize(ReadOptions.defaultMaxMaterializedBytes)

    var options: ReadOptions { ReadOptions(maxMaterializedBytes: maxMaterialize.bytes) }

    /// Whether the command line set any of these (a request that reads no checkpoint refuses them).
    var isSet: Bool { maxMaterialize != ByteSize(ReadOptions.defaultMaxMaterializedBytes) }

    func open(_ path: String) throws -> Checkpoint {
        try CheckpointReader.open(path, options: options)
    }
}

/// A byte count given on the command line: `1073741824`, `512M`, `4G`, `4GiB` (K, M, G, T: powers of 1024).
struct ByteSize: ExpressibleByArgument, Equatable {
    var bytes: Int

    init(_ bytes: Int) {
        self.bytes = bytes
    }

    init?(argument: String) {
        guard let bytes = ByteSize.parse(argument) else { return nil }
        self.bytes = bytes
    }

    var defaultValueDescription: String {
        bytes % (1 << 30) == 0 ? "\(bytes >> 30)G" : String(bytes)
    }

    static func parse(_ text: String) -> Int? {
        var digits = Substring(text)
        var unit = ""
        while let last = digits.last, last.isLetter {
            unit = String(last) + unit
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(digits) else { return nil }
        let shifts = ["": 0, "k": 10, "m": 20, "g": 30, "t": 40]
        var key = unit.lowercased()
        if key.hasSuffix("ib") { key.removeLast(2) } else if key.hasSuffix("b") { key.removeLast() }
        guard let shift = shifts[key], unit.lowercased() != "ib" else { return nil }
        return Checked.multiply(value, 1 << shift)
    }
}
