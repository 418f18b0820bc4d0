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
/// A product's bits depend on how OpenBLAS blocks it, which depends on its thread count: the same thread
/// count gives the same bits on every run.
///
/// Kernels: OpenBLAS picks them by CPU model, or as `OPENBLAS_CORETYPE` says (`core` reports which).
enum BLAS {
    /// Threads BLAS and the runtime use.
    static var threads: Int {
        #if canImport(Accelerate)
        return Parallel.processorCount
        #else
        return max(1, Int(openblas_get_num_threads()))
        #endif
    }

    /// The kernel set OpenBLAS uses (`Haswell`, `SkylakeX`…; `Accelerate` on macOS).
    static var core: String {
        #if canImport(Accelerate)
        return "Accelerate"
        #else
        return openblas_get_corename().map { String(cString: $0) } ?? "unknown"
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
