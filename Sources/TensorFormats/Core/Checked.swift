/// Checked arithmetic for every number that comes from a file. Plain `*`, `+` and `Int(x)` on such
/// numbers would trap on hostile input; these return nil (or throw `.overflow`) instead.
public enum Checked {
    /// Product of dimensions; nil on overflow or a negative dimension.
    public static func product(_ dims: some Sequence<Int>) -> Int? {
        var total = 1
        for dim in dims {
            guard dim >= 0 else { return nil }
            let (next, overflow) = total.multipliedReportingOverflow(by: dim)
            if overflow { return nil }
            total = next
        }
        return total
    }

    public static func add(_ a: Int, _ b: Int) -> Int? {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : sum
    }

    public static func multiply(_ a: Int, _ b: Int) -> Int? {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : product
    }

    /// `value` rounded up to a multiple of `alignment` (> 0); nil on overflow.
    public static func alignUp(_ value: Int, to alignment: Int) -> Int? {
        precondition(alignment > 0, "alignment must be positive (validated by the caller)")
        let remainder = value % alignment
        return remainder == 0 ? value : add(value, alignment - remainder)
    }

    /// Element count of `shape` and its byte length as `dtype`, or a `FormatError` naming what failed.
    public static func byteCount(shape: [Int], dtype: DType) throws -> (elements: Int, bytes: Int) {
        guard let elements = product(shape) else {
            throw FormatError(.overflow(what: "the element count of shape \(shape)"))
        }
        guard let bytes = dtype.byteCount(elements: elements) else {
            let (blockElements, _) = dtype.layout
            if elements % blockElements != 0 {
                throw FormatError(.invalidShape(
                    "\(elements) elements of \(dtype.rawValue) are not a whole number of \(blockElements)-element blocks"))
            }
            throw FormatError(.overflow(what: "the byte length of shape \(shape) as \(dtype.rawValue)"))
        }
        return (elements, bytes)
    }
}

extension Int {
    /// A file-derived unsigned value as `Int`, or nil when it does not fit.
    @inlinable
    public init?(fileValue: UInt64) {
        guard let value = Int(exactly: fileValue) else { return nil }
        self = value
    }
}
