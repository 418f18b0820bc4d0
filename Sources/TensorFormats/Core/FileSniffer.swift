/// What a file's first bytes look like, for the error about a file that is not what its name says (a text
/// file renamed `.safetensors`, a Git LFS pointer instead of the weights, an HTML page saved by a failed
/// download). Every reader asks here when the bytes at the start are not its format's, so the same file
/// is described the same way whichever reader met it.
public enum FileSniffer {
    /// A kind of content recognised from the first bytes.
    public enum Kind: Sendable, Equatable {
        case safetensors
        case gguf
        case npy
        case zip
        case pickle(protocol: Int)
        case gzip
        case hdf5
        case gitLFSPointer
        case html
        /// Printable text; the start of it, as read.
        case text(String)

        /// How an error names it: "it looks like …".
        public var description: String {
            switch self {
            case .safetensors: "a safetensors file (name it .safetensors)"
            case .gguf: "a GGUF file (\"GGUF\" magic; name it .gguf)"
            case .npy: "a numpy .npy file (name it .npy)"
            case .zip: "a zip archive (an .npz, or a PyTorch file written by torch.save)"
            case .pickle(let version): "a Python pickle (protocol \(version); a legacy torch.save file is one: name it .pt)"
            case .gzip: "gzip-compressed data (decompress it first)"
            case .hdf5: "an HDF5 file (Keras/TensorFlow .h5, which connkit does not read)"
            case .gitLFSPointer: "a Git LFS pointer, not the weights (fetch them with `git lfs pull`)"
            case .html: "an HTML page (a download that saved a web page instead of the file?)"
            case .text(let start): "text (\"\(start)\")"
            }
        }
    }

    /// Bytes looked at.
    static let window = 256

    /// The kind of content `bytes` (a file's first bytes, or all of them) holds, or nil when it is
    /// nothing recognisable (binary data of no known kind, or a broken file of the expected format).
    public static func kind(of bytes: UnsafeRawBufferPointer) -> Kind? {
        let head = Array(bytes.prefix(window))
        if head.isEmpty { return nil }  // each reader reports an empty file as truncated where it reads first
        func starts(_ magic: [UInt8]) -> Bool { head.starts(with: magic) }
        if starts(Array("GGUF".utf8)) { return .gguf }
        if starts([0x93] + Array("NUMPY".utf8)) { return .npy }
        if starts([0x50, 0x4B, 0x03, 0x04]) || starts([0x50, 0x4B, 0x05, 0x06]) { return .zip }
        if head.count >= 2, head[0] == 0x80, (2 ... 5).contains(head[1]) { return .pickle(protocol: Int(head[1])) }
        if starts([0x1F, 0x8B]) { return .gzip }
        if starts([0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]) { return .hdf5 }
        if head.count > 8, head[8] == UInt8(ascii: "{"), head[2 ..< 8].allSatisfy({ $0 == 0 }) { return .safetensors }
        guard head.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || [0x09, 0x0A, 0x0C, 0x0D].contains($0) }),
              let text = (0 ... min(3, head.count - 1)).lazy.compactMap({ String(validating: head.dropLast($0), as: UTF8.self) }).first
        else { return nil }
        if text.hasPrefix("version https://git-lfs") { return .gitLFSPointer }
        let lower = text.drop { $0.isWhitespace }.prefix(15).lowercased()
        if lower.hasPrefix("<!doctype html") || lower.hasPrefix("<html") { return .html }
        return .text(quoted(text))
    }

    /// The first line of `text`, at most 40 characters, control characters escaped.
    static func quoted(_ text: String) -> String {
        let line = text.prefix { $0 != "\n" && $0 != "\r" }
        var out = ""
        for scalar in line.unicodeScalars.prefix(40) {
            if scalar == "\"" || scalar == "\\" { out += "\\" }
            if scalar.value < 0x20 { out += "\\u{" + String(scalar.value, radix: 16) + "}" } else { out.unicodeScalars.append(scalar) }
        }
        return line.unicodeScalars.count > 40 ? out + "…" : out
    }

    /// The error for a file that is not a `format` file, when its bytes say what it is instead; nil when
    /// they say nothing (then the reader's own error, about a broken file of its format, stands).
    public static func notFormat(_ format: String, _ bytes: UnsafeRawBufferPointer) -> FormatError? {
        // A file cut inside its magic is a truncated file of the format.
        if let magic = magic(format), bytes.count < magic.count, magic.starts(with: bytes) { return nil }
        guard let kind = kind(of: bytes), kind != expectedKind(format) else { return nil }
        return FormatError(.notFormat(expected: format, found: kind.description))
    }

    /// The first bytes every `format` file starts with.
    static func magic(_ format: String) -> [UInt8]? {
        switch format {
        case "GGUF": Array("GGUF".utf8)
        case "npy": [0x93] + Array("NUMPY".utf8)
        case "npz": [0x50, 0x4B]
        default: nil
        }
    }

    /// The kind a file of `format` itself is sniffed as (never reported as "not a … file").
    static func expectedKind(_ format: String) -> Kind? {
        switch format {
        case "safetensors": .safetensors
        case "GGUF": .gguf
        case "npy": .npy
        case "npz": .zip
        default: nil
        }
    }
}
