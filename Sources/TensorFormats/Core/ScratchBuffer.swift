#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `body` with a temporary heap buffer of `count` bytes (freed afterwards).
///
/// For buffers sized from file data (an inflated zip member, a byte-swapped or transposed array): Swift's
/// own allocators abort the process when `malloc` fails, this throws `.limitExceeded` instead.
public func withScratchBuffer<R>(count: Int, for what: @autoclosure () -> String,
                                 _ body: (UnsafeMutableRawBufferPointer) throws -> R) throws -> R {
    guard count >= 0 else { throw FormatError(.overflow(what: "the size of \(what())")) }
    // malloc(0) may return nil legitimately; one byte keeps the pointer valid.
    guard let raw = malloc(max(count, 1)) else {
        throw FormatError(.limitExceeded(what: "memory for \(what())", value: "\(count) bytes",
                                         limit: "what the system could allocate"))
    }
    defer { free(raw) }
    return try body(UnsafeMutableRawBufferPointer(start: raw, count: count))
}
