#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Synchronization

/// Splits row ranges across threads. Rows (blocks, chunks) are independent wherever it is used, so the
/// output does not depend on the thread count.
public enum Parallel {
    /// Online processors, at least 1.
    public static var processorCount: Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Calls `body` on disjoint, contiguous sub-ranges of `0 ..< count` covering it, using up to
    /// `threads` threads; ranges are at least `minimumChunk` long (except possibly the last). Returns
    /// the results in range order.
    package static func map<R>(count: Int, threads: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> R) -> [R] {
        guard count > 0 else { return [] }
        let maximumChunks = (count + max(1, minimumChunk) - 1) / max(1, minimumChunk)
        let workers = max(1, min(threads, maximumChunks))
        if workers == 1 { return [body(0 ..< count)] }
        // More chunks than workers, taken in order by whichever worker is free: a worker that loses its
        // core for a while (a shared machine) does fewer chunks instead of holding up the others.
        let chunks = min(maximumChunks, workers * 32)
        let base = count / chunks
        let extra = count % chunks
        let results = UnsafeMutableBufferPointer<R?>.allocate(capacity: chunks)
        results.initialize(repeating: nil)
        defer {
            results.deinitialize()
            results.deallocate()
        }
        let next = ChunkCounter()
        withoutActuallyEscaping(body) { body in
            // Each chunk is taken once and writes only its own slot; `concurrentPerform` returns after all
            // workers finished.
            let shared = UncheckedSendable((body, results))
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                let (body, results) = shared.value
                while case let chunk = next.take(), chunk < chunks {
                    let start = chunk * base + min(chunk, extra)
                    results[chunk] = body(start ..< start + base + (chunk < extra ? 1 : 0))
                }
            }
        }
        return results.map { $0! }
    }
}

/// Hands out chunk indices 0, 1, 2, … to the workers.
private final class ChunkCounter: Sendable {
    private let counter = Atomic<Int>(0)
    func take() -> Int { counter.wrappingAdd(1, ordering: .relaxed).oldValue }
}

/// Hands non-Sendable values (raw pointers, a non-escaping body) to `concurrentPerform`, whose parts
/// touch disjoint memory and all finish before it returns.
package struct UncheckedSendable<T>: @unchecked Sendable {
    package let value: T
    package init(_ value: T) { self.value = value }
}
