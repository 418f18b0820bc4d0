#ifndef CRUNTIMEKERNELS_H
#define CRUNTIMEKERNELS_H

#include <stddef.h>

// Element-wise and row-wise float32 kernels of the connector runtime (kernels.c). Each picks an
// AVX2+FMA path at run time when the CPU has it and a portable one otherwise; both run the same
// operations in the same order (fused multiply-adds included, reductions over 8 lanes combined in a
// fixed order), so they give identical bits. Results never depend on how a caller splits the work
// into chunks of whole rows (element-wise kernels: any chunk).

// Activations, with the numerics of PyTorch's CPU kernels.
enum {
    CKR_GELU = 0,        // x/2 * (1 + erf(x/sqrt 2)), erf by Abramowitz-Stegun 7.1.26 as PyTorch's vector path
    CKR_GELU_TANH = 1,   // x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
    CKR_QUICK_GELU = 2,  // x * sigmoid(1.702 x)
    CKR_RELU = 3,        // max(0, x), NaN kept
    CKR_SILU = 4,        // x / (1 + exp(-x))
    CKR_TANH = 5,
    CKR_HARDSWISH = 6,   // x * min(max(x + 3, 0), 6) / 6
    CKR_HARDSIGMOID = 7, // min(max(x + 3, 0), 6) / 6
};

// x[i] = act(x[i]).
void ckr_activate(float *x, size_t n, int kind);
// g[i] = act(g[i]) * u[i] (a gated feed-forward's act(gate(x)) * up(x)).
void ckr_activate_mul(float *g, const float *u, size_t n, int kind);
// exp, as the kernels use it (for tests).
void ckr_exp(float *x, size_t n);

// Softmax of each row in place: row r is x[r*stride ... r*stride+cols).
void ckr_softmax_rows(float *x, size_t rows, size_t cols, size_t stride);

// LayerNorm of each row (mean and biased variance accumulated in double), then * w + b (b may be NULL).
// x and y may be the same buffer; rows are contiguous, `cols` apart.
void ckr_layer_norm(const float *x, float *y, size_t rows, size_t cols, const float *w, const float *b, float eps);
// RMSNorm: w * (x * 1/sqrt(mean(x^2) + eps)), mean accumulated in double.
void ckr_rms_norm(const float *x, float *y, size_t rows, size_t cols, const float *w, float eps);

// a[i] += b[i]
void ckr_add(float *a, const float *b, size_t n);
// a[i] += s * b[i]
void ckr_add_scaled(float *a, const float *b, float s, size_t n);
// a[i] *= b[i]
void ckr_mul(float *a, const float *b, size_t n);
// d[i] = fma(a[i], b[i], d[i])
void ckr_add_product(float *d, const float *a, const float *b, size_t n);

// Sums of each output token's statistics for a float32 buffer: out = {sum x, sum x^2, max |x| over
// finite values} in double; returns the count of non-finite elements.
size_t ckr_stats(const float *x, size_t n, double out[3]);

// 1 when the AVX2+FMA path is in use. ckr_force_portable(1) switches to the portable path (tests).
int ckr_vector_path(void);
void ckr_force_portable(int on);

#endif
