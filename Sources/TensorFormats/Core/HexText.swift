// How bytes and codes appear in error messages: one spelling each.

/// `0x` and the value's hex digits, zero-padded to its width: `0x04034b50` (UInt32), `0x0008` (UInt16).
func hexLiteral<T: FixedWidthInteger & UnsignedInteger>(_ value: T) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, T.bitWidth / 4 - digits.count)) + digits
}

/// Bytes as two-digit hex separated by spaces: `50 4b 03 04`.
func hexBytes(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }.joined(separator: " ")
}

/// A byte inside quoted text: itself when printable ASCII, else `\x` and its hex digits.
func byteText(_ byte: UInt8) -> String {
    (0x20 ..< 0x7F).contains(byte) ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
}
