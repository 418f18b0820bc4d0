import TensorFormats
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The CLI's one set of text formatters: numbers, sizes, shapes and tables. Libraries return data; every
// human-readable line connkit prints is laid out with these.

/// Integers with thousands separators: 20,979,712.
func formatCount(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (index, character) in digits.enumerated() {
        if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
        out.append(character)
    }
    return value < 0 ? "-" + out : out
}

/// A count with its noun, singular or plural: `1 tensor`, `2 tensors`, `1 metadata entry`, `1,024 elements`.
func counted(_ value: Int, _ singular: String, _ plural: String? = nil) -> String {
    formatCount(value) + " " + (value == 1 ? singular : plural ?? singular + "s")
}

/// A count, or `?` while it is unknown.
func formatCount(_ value: Int?) -> String {
    value.map { formatCount($0) } ?? "?"
}

/// Fixed-point text with `digits` decimals, rounded half away from zero: `formatNumber(2.345, digits: 2)`
/// is `2.35` (never an exponent; `nan`, `inf`, `-inf` for the non-finite).
func formatNumber(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
    let scale = pow(10, Double(digits))
    let scaled = (abs(value) * scale).rounded()
    let whole = (scaled / scale).rounded(.down)
    let fraction = Int(scaled - whole * scale)
    var text = String(Int(whole))
    if digits > 0 {
        let digitsText = String(fraction)
        text += "." + String(repeating: "0", count: digits - digitsText.count) + digitsText
    }
    return (value < 0 && scaled != 0 ? "-" : "") + text
}

/// A figure with `digits` decimals, or `-` when there is none.
func formatNumber(_ value: Double?, digits: Int) -> String {
    value.map { formatNumber($0, digits: digits) } ?? "-"
}

/// Three significant digits in scientific notation (`1.23e-4`), `0`, or `-` when there is no figure.
func formatScientific(_ value: Double?) -> String {
    guard let value else { return "-" }
    if value == 0 { return "0" }
    var exponent = Int((log10(abs(value))).rounded(.down))
    var mantissa = value / pow(10, Double(exponent))
    if abs(mantissa) >= 9.995 {
        mantissa /= 10
        exponent += 1
    }
    return formatNumber(mantissa, digits: 2) + "e" + (exponent < 0 ? "-" : "+") + String(abs(exponent))
}

/// Sizes: bytes below 1 KiB, else binary units with one decimal (`3.2 MiB`).
func formatBytes(_ bytes: Int) -> String {
    if bytes < 1024 { return "\(bytes) B" }
    let units = ["KiB", "MiB", "GiB", "TiB", "PiB"]
    var value = Double(bytes) / 1024
    var unit = 0
    while value >= 1024, unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return formatNumber(value, digits: 1) + " " + units[unit]
}

/// `[2, 3]`.
func formatShape(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}

/// `[2, ?]`: a shape whose unknown dimensions are `?`.
func formatShape(_ shape: [Int?]) -> String {
    "[" + shape.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + "]"
}

/// Columns separated by two spaces, left-aligned unless listed in `rightAligned`; no line ends in spaces.
/// Cells are shown `printable` (a cell is one line, whatever a file put in it).
func renderTable(_ header: [String], _ rows: [[String]], rightAligned: Set<Int> = [], indent: String = "") -> String {
    let all = ([header] + rows).map { $0.map(printable) }
    var widths = [Int](repeating: 0, count: header.count)
    for row in all {
        for (index, cell) in row.enumerated() where index < widths.count {
            widths[index] = max(widths[index], cell.count)
        }
    }
    return all.map { row in
        var line = indent + row.enumerated().map { index, cell in
            let pad = String(repeating: " ", count: max(0, (index < widths.count ? widths[index] : 0) - cell.count))
            return rightAligned.contains(index) ? pad + cell : cell + pad
        }.joined(separator: "  ")
        while line.last == " " { line.removeLast() }
        return line
    }.joined(separator: "\n")
}

/// Prints a result to stdout in one write. Its lines are the renderer's: a control character that is not
/// a line break is shown escaped whatever its origin (renderers escape file-derived strings as they lay
/// out each line, so a name cannot break one either).
func emit(_ text: String) {
    print(text.split(separator: "\n", omittingEmptySubsequences: false).map { printable(String($0)) }.joined(separator: "\n"))
}

/// Prints a rendering in `Style`'s colours in one write: its renderer escaped every file-derived part with
/// `printable` as it laid out the lines, so the colours are its only control bytes (`ValidationReport.text(style:)`).
func emitPainted(_ text: String) {
    print(text)
}

/// Writes one JSON object to stdout. The serializer escapes C0 controls; DEL and the C1 controls (which
/// some terminals obey) are escaped too, as `\u007f`… — the same JSON value.
func emitJSON(_ value: JSONValue) {
    var out = ""
    for scalar in value.serialized(pretty: true).unicodeScalars {
        // Only inside strings: the layout's own line breaks stay, and the serializer escaped C0 there.
        if (0x7F ... 0x9F).contains(scalar.value) {
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    print(out)
}

/// Names, keys, paths and values from files can hold anything; every one connkit prints goes through
/// here (or a renderer that calls it), so no control character reaches a terminal raw: C0 (NUL, ESC,
/// CR, LF, BEL…), DEL and C1 (U+0080–U+009F, which some terminals obey) become `\u{1b}`.
func printable(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: isControl) else { return text }
    var out = ""
    for scalar in text.unicodeScalars {
        if isControl(scalar) {
            out += "\\u{" + String(scalar.value, radix: 16) + "}"
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}

private func isControl(_ scalar: Unicode.Scalar) -> Bool {
    scalar.value < 0x20 || (0x7F ... 0x9F).contains(scalar.value)
}
