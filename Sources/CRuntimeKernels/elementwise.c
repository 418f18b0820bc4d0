// Element-wise kernels of the connector runtime (see CRuntimeKernels.h and internal.h).

#include "internal.h"

int ckr_forced_portable = 0;
int ckr_has_vector = -1;

void ckr_force_portable(int on) { ckr_forced_portable = on; }

#if CKR_X86
int ckr_detect_avx2_fma(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!(fma && osxsave && avx)) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6u) != 6u) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 5) & 1;
}
#else
int ckr_detect_avx2_fma(void) { return 0; }
#endif

int ckr_vector_path(void) { return use_vector(); }

#if CKR_X86
AVX static void activate_avx(float *x, size_t n, int kind) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, activate_v(_mm256_loadu_ps(x + i), kind));
    for (; i < n; i++) x[i] = activate_s(x[i], kind);
}

AVX static void activate_mul_avx(float *g, const float *u, size_t n, int kind) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(g + i, _mm256_mul_ps(activate_v(_mm256_loadu_ps(g + i), kind), _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) g[i] = activate_s(g[i], kind) * u[i];
}

AVX static void exp_avx(float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, exp_v(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) x[i] = exp_s(x[i]);
}
#endif

// MARK: - element-wise entry points

void ckr_activate(float *x, size_t n, int kind) {
#if CKR_X86
    if (use_vector()) { activate_avx(x, n, kind); return; }
#endif
    for (size_t i = 0; i < n; i++) x[i] = activate_s(x[i], kind);
}

void ckr_activate_mul(float *g, const float *u, size_t n, int kind) {
#if CKR_X86
    if (use_vector()) { activate_mul_avx(g, u, n, kind); return; }
#endif
    for (size_t i = 0; i < n; i++) g[i] = activate_s(g[i], kind) * u[i];
}

void ckr_exp(float *x, size_t n) {
#if CKR_X86
    if (use_vector()) { exp_avx(x, n); return; }
#endif
    for (size_t i = 0; i < n; i++) x[i] = exp_s(x[i]);
}

#if CKR_X86
AVX static void add_avx(float *a, const float *b, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(a + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    for (; i < n; i++) a[i] += b[i];
}
AVX static void add_scaled_avx(float *a, const float *b, float s, size_t n) {
    size_t i = 0;
    __m256 sv = _mm256_set1_ps(s);
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(a + i, _mm256_fmadd_ps(sv, _mm256_loadu_ps(b + i), _mm256_loadu_ps(a + i)));
    for (; i < n; i++) a[i] = fmaf(s, b[i], a[i]);
}
AVX static void mul_avx(float *a, const float *b, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(a + i, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    for (; i < n; i++) a[i] *= b[i];
}
AVX static void add_product_avx(float *d, const float *a, const float *b, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(d + i, _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), _mm256_loadu_ps(d + i)));
    }
    for (; i < n; i++) d[i] = fmaf(a[i], b[i], d[i]);
}
#endif

void ckr_add(float *a, const float *b, size_t n) {
#if CKR_X86
    if (use_vector()) { add_avx(a, b, n); return; }
#endif
    for (size_t i = 0; i < n; i++) a[i] += b[i];
}

void ckr_add_scaled(float *a, const float *b, float s, size_t n) {
#if CKR_X86
    if (use_vector()) { add_scaled_avx(a, b, s, n); return; }
#endif
    for (size_t i = 0; i < n; i++) a[i] = fmaf(s, b[i], a[i]);
}

void ckr_mul(float *a, const float *b, size_t n) {
#if CKR_X86
    if (use_vector()) { mul_avx(a, b, n); return; }
#endif
    for (size_t i = 0; i < n; i++) a[i] *= b[i];
}

void ckr_add_product(float *d, const float *a, const float *b, size_t n) {
#if CKR_X86
    if (use_vector()) { add_product_avx(d, a, b, n); return; }
#endif
    for (size_t i = 0; i < n; i++) d[i] = fmaf(a[i], b[i], d[i]);
}

