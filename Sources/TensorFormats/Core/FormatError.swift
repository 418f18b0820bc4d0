/// The one error type of the tensor-format layer.
///
/// Every error names its subject: the file, and where in it (a byte offset, a tensor, a zip member or a
/// metadata key), plus what was expected and what was found. Tests match `kind` cases, never messages.
public struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String?
    public var location: Location?
    public var kind: Kind
    /// The `--json` code: the kind's (`Kind.code`) unless the thrower knows better (an existing output
    /// refused is `.refused` for tests and `output-exists` for users).
    public var code: ErrorCode

    public init(_ kind: Kind, file: String? = nil, at location: Location? = nil, code: ErrorCode? = nil) {
        self.kind = kind
        self.file = file
        self.location = location
        self.code = code ?? kind.code
    }

    public enum Location: Sendable, Equatable, CustomStringConvertible {
        case byte(Int)
        case tensor(String)
        case member(String)
        case memberByte(String, Int)
        case key(String)
        /// A protobuf field by its path from the root message (`graph.initializer.raw_data`).
        case field(String)
        case fieldByte(String, Int)

        public var description: String {
            switch self {
            case .byte(let offset): "byte \(offset)"
            case .tensor(let name): "tensor \(Self.quoted(name))"
            case .member(let name): "member \(Self.quoted(name))"
            case .memberByte(let name, let offset): "member \(Self.quoted(name)), byte \(offset)"
            case .key(let key): "key \(Self.quoted(key))"
            case .field(let path): "field '\(path)'"
            case .fieldByte(let path, let offset): "field '\(path)', byte \(offset)"
            }
        }

        /// `'name'`; a name beyond `maxShownBytes` is cut (at a character boundary) and marked with its
        /// length, so a 70,000-byte name makes a readable line: `'nnnn…' (a 70000-byte name)`.
        static func quoted(_ name: String) -> String {
            let length = name.utf8.count
            guard length > maxShownBytes else { return "'\(name)'" }
            var cut = ""
            for character in name {
                guard cut.utf8.count + character.utf8.count <= maxShownBytes / 2 else { break }
                cut.append(character)
            }
            return "'\(cut)…' (a \(length)-byte name)"
        }

        static let maxShownBytes = 512
    }

    public enum Kind: Sendable, Equatable {
        /// A system call failed (open, read, write, rename...).
        case io(operation: String, message: String)
        case notFound(String)
        case badMagic(expected: String, found: String)
        case unsupportedVersion(String)
        case unsupportedFormat(String)
        /// The structure needs `needed` bytes where only `available` remain. `Int.max` stands for a need
        /// that does not fit an `Int` (the declared number itself then belongs in `what`).
        case truncated(what: String, needed: Int, available: Int)
        /// A declared size or count is above what connkit accepts.
        case limitExceeded(what: String, value: String, limit: String)
        case overflow(what: String)
        case invalidUTF8(what: String)
        case invalidJSON(String)
        /// A structural rule of the format is broken; the text says which.
        case invalidHeader(String)
        case duplicateName(String)
        case unknownDType(String)
        /// The file uses a type connkit recognises but refuses (npy strings, objects, complex128, ...).
        case unsupportedDType(String, reason: String)
        case invalidShape(String)
        case tooManyDimensions(count: Int, limit: Int)
        /// Declared byte length differs from element count × dtype size.
        case sizeMismatch(expected: Int, found: Int)
        /// Tensor data does not start where the format requires (holes, overlaps, out-of-order). `found` is
        /// the offset as the file stores it (GGUF's are u64).
        case badOffset(expected: Int, found: UInt64)
        /// The data section is not covered exactly (trailing or missing bytes).
        case uncoveredBytes(expectedEnd: Int, fileSize: Int)
        case misaligned(offset: UInt64, alignment: Int)
        case crcMismatch(expected: UInt32, found: UInt32)
        case compression(String)
        /// Two parts of a checkpoint disagree (a sharded index and its shards, say).
        case inconsistent(String)
        /// Content refused on purpose (pickled objects, executable globals, ...).
        case refused(String)
        /// A pickle names a global (`module.name`) outside the weights-only allow-list; nothing from the
        /// file is imported or run.
        case disallowedGlobal(String)
        /// A conversion that cannot be done as asked.
        case unconvertible(String)
        /// The input changed (shrank) while connkit was reading it; the text says how.
        case inputChanged(String)
        /// The file is not of the format its name or the reader expects; `found` says what its first
        /// bytes look like (`FileSniffer`).
        case notFormat(expected: String, found: String)
    }

    public var message: String {
        switch kind {
        case .io(let operation, let message): "\(operation) failed: \(message)"
        case .notFound(let what): "\(what) not found"
        case .badMagic(let expected, let found): "bad magic: expected \(expected), found \(found)"
        case .unsupportedVersion(let version): "unsupported version \(version)"
        case .unsupportedFormat(let what): what
        case .truncated(let what, let needed, let available):
            "truncated \(what): needs \(needed == Int.max ? "2^63 or more" : String(needed)) bytes, only \(available) available"
        case .limitExceeded(let what, let value, let limit): "\(what) \(value) exceeds the limit \(limit)"
        case .overflow(let what): "integer overflow computing \(what)"
        case .invalidUTF8(let what): "invalid UTF-8 in \(what)"
        case .invalidJSON(let detail): "invalid JSON: \(detail)"
        case .invalidHeader(let detail): detail
        case .duplicateName(let name): "duplicate name '\(name)'"
        case .unknownDType(let dtype): "unknown dtype \(dtype)"
        case .unsupportedDType(let dtype, let reason): "unsupported dtype \(dtype): \(reason)"
        case .invalidShape(let detail): "invalid shape: \(detail)"
        case .tooManyDimensions(let count, let limit): "\(count) dimensions, at most \(limit) allowed"
        case .sizeMismatch(let expected, let found):
            "data is \(found) bytes, expected \(expected) (element count × dtype size)"
        case .badOffset(let expected, let found): "data starts at offset \(found), expected \(expected)"
        case .uncoveredBytes(let expectedEnd, let fileSize):
            "tensor data ends at byte \(expectedEnd) but the file has \(fileSize) bytes"
        case .misaligned(let offset, let alignment): "offset \(offset) is not a multiple of the alignment \(alignment)"
        case .crcMismatch(let expected, let found):
            "CRC-32 mismatch: expected \(hexLiteral(expected)), computed \(hexLiteral(found))"
        case .compression(let detail): "decompression failed: \(detail)"
        case .inconsistent(let detail): detail
        case .refused(let detail): detail
        case .disallowedGlobal(let name):
            "pickle global '\(name)' is not allowed: only the globals torch.load(weights_only=True) accepts are"
            + " read, and nothing from the file is ever imported or executed"
        case .unconvertible(let detail): detail
        case .inputChanged(let detail): "changed while being read (\(detail))"
        case .notFormat(let expected, let found): "not \("aeiouAEIOUnN".contains(expected.first ?? "x") ? "an" : "a") \(expected) file: it looks like \(found)"
        }
    }

    /// One line: `file: location: message`.
    public var description: String {
        var parts: [String] = []
        if let file { parts.append(file) }
        if let location { parts.append(location.description) }
        parts.append(message)
        return parts.joined(separator: ": ")
    }

    /// The same error, attributed to `file` unless it already names one.
    public func inFile(_ path: String) -> FormatError {
        var copy = self
        if copy.file == nil { copy.file = path }
        return copy
    }

    /// The same error, located at `location` unless it already has a location.
    public func at(_ location: Location) -> FormatError {
        var copy = self
        if copy.location == nil { copy.location = location }
        return copy
    }
}

/// Runs `body`, attributing any `FormatError` it throws to `file`.
@inlinable
public func attributing<R>(to file: String, _ body: () throws -> R) throws -> R {
    do { return try body() } catch let error as FormatError { throw error.inFile(file) }
}

extension FormatError: ConnkitError {
    /// Everything the format layer refuses leaves the input unusable as asked (exit status 2).
    public var failure: FailureClass { .unusableInput }
}

extension FormatError.Kind {
    /// What the kind means for a user: not a file connkit reads, a broken file, a conversion that cannot
    /// be done, or a failed system call.
    public var code: ErrorCode {
        switch self {
        case .io(let operation, _): operation == "open" || operation == "stat" ? .unreadableInput : .io
        case .notFound, .badMagic, .unsupportedVersion, .unsupportedFormat, .unknownDType, .unsupportedDType,
             .refused, .disallowedGlobal:
            .unreadableInput
        case .truncated, .limitExceeded, .overflow, .invalidUTF8, .invalidJSON, .invalidHeader, .duplicateName,
             .invalidShape, .tooManyDimensions, .sizeMismatch, .badOffset, .uncoveredBytes, .misaligned, .crcMismatch,
             .compression, .inconsistent:
            .malformedInput
        case .unconvertible: .notConvertible
        case .inputChanged: .io
        case .notFormat: .unreadableInput
        }
    }

    /// The case name (`truncated`, `badOffset`, …): what tests and tables match on.
    public var caseName: String {
        Mirror(reflecting: self).children.first?.label ?? String(describing: self)
    }
}
