#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

/// Splits row ranges across threads. Rows are independent in every quantizer, so each thread takes a
/// contiguous range and the output does not depend on the thread count.
public enum Parallel {
    /// Online processors, at least 1.
    public static var processorCount: Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Calls `body` on disjoint, contiguous sub-ranges of `0 ..< count` covering it, using up to
    /// `threads` threads; ranges are at least `minimumChunk` long (except possibly the last). Returns
    /// the results in range order.
    static func map<R>(count: Int, threads: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> R) -> [R] {
        guard count > 0 else { return [] }
        let parts = max(1, min(threads, (count + minimumChunk - 1) / max(1, minimumChunk)))
        if parts == 1 { return [body(0 ..< count)] }
        let base = count / parts
        let extra = count % parts
        let results = UnsafeMutableBufferPointer<R?>.allocate(capacity: parts)
        results.initialize(repeating: nil)
        defer {
            results.deinitialize()
            results.deallocate()
        }
        withoutActuallyEscaping(body) { body in
            // Each part writes only its own slot, and `concurrentPerform` returns after all parts finished.
            let shared = UncheckedSendable((body, results))
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                let (body, results) = shared.value
                let start = part * base + min(part, extra)
                results[part] = body(start ..< start + base + (part < extra ? 1 : 0))
            }
        }
        return results.map { $0! }
    }
}

/// Hands non-Sendable values (raw pointers, a non-escaping body) to `concurrentPerform`, whose parts
/// touch disjoint memory and all finish before it returns.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
