#if canImport(Accelerate)
import Accelerate
#else
import COpenBLAS
#endif

/// Matrix products through the platform's BLAS: OpenBLAS's `cblas_sgemm` on Linux, Accelerate on macOS.
/// Row-major throughout. `nn.Linear` weights (`[out, in]`) are passed as Bᵀ, so no weight is ever copied
/// or transposed; head slices of attention matrices are addressed through leading dimensions.
///
/// Threads: OpenBLAS sizes its pool from `OPENBLAS_NUM_THREADS` (else every online processor) when the
/// library loads; `threads` reports it and the runtime's own element-wise kernels use the same count.
/// OpenBLAS splits a product across threads by blocks of rows and columns of C, never along K, so every
/// element is accumulated in the same order whatever the thread count: results are deterministic.
enum BLAS {
    /// Threads BLAS and the runtime use.
    static var threads: Int {
        #if canImport(Accelerate)
        return Parallel.processorCount
        #else
        return max(1, Int(openblas_get_num_threads()))
        #endif
    }

    /// `C[m×n] = alpha · A[m×k] · B[n×k]ᵀ + beta · C` (B is an `nn.Linear` weight or a key matrix).
    static func gemmNT(m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                       b: UnsafePointer<Float>, ldb: Int, beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blas(m), blas(n), blas(k), alpha, a, blas(lda), b, blas(ldb),
                    beta, c, blas(ldc))
    }

    /// `C[m×n] = alpha · A[m×k] · B[k×n] + beta · C`.
    static func gemmNN(m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                       b: UnsafePointer<Float>, ldb: Int, beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blas(m), blas(n), blas(k), alpha, a, blas(lda), b, blas(ldb),
                    beta, c, blas(ldc))
    }

    /// Sizes are checked against `maxDimension` when the plan is made.
    private static func blas(_ value: Int) -> Int32 { Int32(truncatingIfNeeded: value) }

    /// The largest extent a BLAS call accepts (32-bit integers).
    static let maxDimension = Int(Int32.max)
}
