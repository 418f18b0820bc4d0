#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

/// Splits independent work across the runtime's threads. Kernels split by whole rows (or any chunk for
/// element-wise work) and give the same bits however the work is split.
enum Parallel {
    static var processorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Calls `body` on disjoint sub-ranges covering `0 ..< count`, in parallel when the work is large
    /// enough (`count × costPerItem` above about 64 K operations).
    static func forEach(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let threads = BLAS.threads
        let work = count.multipliedReportingOverflow(by: max(1, costPerItem))
        guard threads > 1, count > 1, work.overflow || work.partialValue >= 1 << 16 else {
            if count > 0 { body(0 ..< count) }
            return
        }
        let chunks = min(count, threads * 4)
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let start = count * chunk / chunks, end = count * (chunk + 1) / chunks
                if start < end { shared.value(start ..< end) }
            }
        }
    }
}

/// Hands a non-Sendable closure or pointer to `concurrentPerform`, whose iterations touch disjoint memory
/// and all finish before it returns.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
