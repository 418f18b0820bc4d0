#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A tensor name or metadata key whose identity is its UTF-8 bytes.
///
/// Swift's `String` compares and hashes by Unicode canonical equivalence: "café" (NFC, `63 61 66 c3 a9`)
/// and "cafe\u{301}" (NFD, `63 61 66 65 cc 81`) are one `String` key, and so are "K" and the Kelvin sign
/// U+212A. Every format connkit reads names tensors and keys by their bytes (the safetensors crate, ggml,
/// numpy and torch keep both of those as two entries), so names from files are compared and hashed through
/// this type — as a `Set`/`Dictionary` key, or with `String.isSameName(as:)` — never with `String ==`.
public struct ExactName: Hashable, Sendable, CustomStringConvertible {
    public let string: String

    public init(_ string: String) {
        self.string = string
    }

    public static func == (lhs: ExactName, rhs: ExactName) -> Bool {
        lhs.string.isSameName(as: rhs.string)
    }

    public func hash(into hasher: inout Hasher) {
        // Native strings lend their UTF-8 in place; others (bridged) are copied first. Same bytes, same hash.
        let done: Void? = string.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if done == nil {
            Array(string.utf8).withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }

    public var description: String { string }
}

extension String {
    /// Whether two names are the same bytes (not merely canonically equivalent, as `==` checks).
    public func isSameName(as other: String) -> Bool {
        let lhs = utf8, rhs = other.utf8
        guard lhs.count == rhs.count else { return false }
        let equal = lhs.withContiguousStorageIfAvailable { left in
            rhs.withContiguousStorageIfAvailable { right in
                left.count == 0 || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0
            }
        }
        return (equal ?? nil) ?? lhs.elementsEqual(rhs)
    }

    /// Whether the name's bytes start with `prefix`'s bytes (`hasPrefix` compares characters canonically).
    public func hasNamePrefix(_ prefix: String) -> Bool {
        utf8.starts(with: prefix.utf8)
    }

    /// Whether the name's bytes end with `suffix`'s bytes.
    public func hasNameSuffix(_ suffix: String) -> Bool {
        let bytes = utf8, tail = suffix.utf8
        return bytes.count >= tail.count && bytes.suffix(tail.count).elementsEqual(tail)
    }

    /// Byte-wise order of names, as the reference writers sort them (`<` orders canonically, so two
    /// byte-distinct equivalent names would compare equal).
    public func precedesName(_ other: String) -> Bool {
        utf8.lexicographicallyPrecedes(other.utf8)
    }
}
