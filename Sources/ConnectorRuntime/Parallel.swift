import TensorFormats

extension Parallel {
    /// Calls `body` on disjoint sub-ranges covering `0 ..< count` on the runtime's threads (BLAS's count),
    /// in parallel only when the work is large enough (`count × costPerItem` above about 64 K
    /// operations). Kernels split by whole rows (element-wise work: any chunk), so the bits do not depend
    /// on the split.
    static func forEach(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let work = count.multipliedReportingOverflow(by: max(1, costPerItem))
        let threads = work.overflow || work.partialValue >= 1 << 16 ? BLAS.threads : 1
        let minimumChunk = work.overflow ? 1 : max(1, (1 << 14) / max(1, costPerItem))
        _ = map(count: count, threads: threads, minimumChunk: minimumChunk, body)
    }
}
