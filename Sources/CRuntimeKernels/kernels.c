// Element-wise and row-wise float32 kernels of the connector runtime (see CRuntimeKernels.h).
//
// Two paths per kernel: AVX2+FMA (8 lanes) and portable C. The portable path performs exactly the
// vector path's operations — the same fused multiply-adds (fmaf), the same comparisons as
// _mm256_max_ps/_mm256_min_ps (which return the second operand when either is NaN), reductions into 8
// lane accumulators combined in one fixed order — so the two give identical bits, and a test checks it.
//
// exp: Cephes' expf (range reduction by ln 2 split in two constants, degree-5 polynomial), the scale
// 2^n applied as two normal powers of two so that results down to the subnormals round once.
// erf: Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7), the form PyTorch's vectorised GELU uses.
// tanh: Cephes' tanhf (odd polynomial below 0.625, 1 - 2/(exp(2|x|) + 1) above).

#include <math.h>
#include <stdint.h>
#include <string.h>
#include "CRuntimeKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <cpuid.h>
#define CKR_X86 1
#endif

// MARK: - shared constants

#define EXP_HI 88.72283935546875f
#define EXP_LO (-103.972077083991796f)
#define LOG2E 1.44269504088896341f
#define EXP_C1 0.693359375f
#define EXP_C2 (-2.12194440e-4f)
#define EXP_P0 1.9875691500e-4f
#define EXP_P1 1.3981999507e-3f
#define EXP_P2 8.3334519073e-3f
#define EXP_P3 4.1665795894e-2f
#define EXP_P4 1.6666665459e-1f
#define EXP_P5 5.0000001201e-1f

#define ERF_P 0.3275911f
#define ERF_A1 0.254829592f
#define ERF_A2 (-0.284496736f)
#define ERF_A3 1.421413741f
#define ERF_A4 (-1.453152027f)
#define ERF_A5 1.061405429f

#define TANH_SMALL 0.625f
#define TANH_T0 (-5.70498872745e-3f)
#define TANH_T1 2.06390887954e-2f
#define TANH_T2 (-5.37397155531e-2f)
#define TANH_T3 1.33314422036e-1f
#define TANH_T4 (-3.33332819422e-1f)

#define SQRT1_2 0.707106781186547524f
#define GELU_BETA 0.797884560802865355f  // sqrt(2/pi)
#define GELU_KAPPA 0.044715f
#define QUICK_GELU 1.702f

static int forced_portable = 0;

void ckr_force_portable(int on) { forced_portable = on; }

#if CKR_X86
static int detect_avx2_fma(void) {
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
static int has_vector = -1;
static inline int use_vector(void) {
    if (has_vector < 0) has_vector = detect_avx2_fma();
    return has_vector && !forced_portable;
}
#else
static inline int use_vector(void) { return 0; }
#endif

int ckr_vector_path(void) { return use_vector(); }

// MARK: - portable element functions

static inline float max_like(float a, float b) { return a > b ? a : b; }  // _mm256_max_ps(a, b)
static inline float min_like(float a, float b) { return a < b ? a : b; }  // _mm256_min_ps(a, b)

static inline float pow2i(int n) {
    uint32_t bits = (uint32_t)(n + 127) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline float exp_s(float x) {
    float c = min_like(max_like(x, EXP_LO), EXP_HI);
    float n = floorf(fmaf(c, LOG2E, 0.5f));
    float r = fmaf(n, -EXP_C1, c);
    r = fmaf(n, -EXP_C2, r);
    float p = fmaf(EXP_P0, r, EXP_P1);
    p = fmaf(p, r, EXP_P2);
    p = fmaf(p, r, EXP_P3);
    p = fmaf(p, r, EXP_P4);
    p = fmaf(p, r, EXP_P5);
    float r2 = r * r;
    float y = fmaf(p, r2, r) + 1.0f;
    int ni = (int)n;
    int a = ni >> 1;
    y = (y * pow2i(a)) * pow2i(ni - a);
    if (x > EXP_HI) y = INFINITY;
    if (x < EXP_LO) y = 0.0f;
    if (x != x) y = x;
    return y;
}

static inline float erf_s(float x) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    uint32_t sign = bits & 0x80000000u;
    float a = fabsf(x);
    float t = 1.0f / fmaf(ERF_P, a, 1.0f);
    float r = fmaf(ERF_A5, t, ERF_A4);
    r = fmaf(r, t, ERF_A3);
    r = fmaf(r, t, ERF_A2);
    r = fmaf(r, t, ERF_A1);
    float e = exp_s(-(x * x));
    float res = fmaf(-e * t, r, 1.0f);
    uint32_t out;
    memcpy(&out, &res, 4);
    out ^= sign;
    memcpy(&res, &out, 4);
    return res;
}

static inline float tanh_s(float x) {
    float a = fabsf(x);
    float s = x * x;
    float p = fmaf(TANH_T0, s, TANH_T1);
    p = fmaf(p, s, TANH_T2);
    p = fmaf(p, s, TANH_T3);
    p = fmaf(p, s, TANH_T4);
    float small = fmaf(p * s, x, x);
    float e = exp_s(a + a);
    float large = 1.0f - 2.0f / (e + 1.0f);
    large = copysignf(large, x);
    return a < TANH_SMALL ? small : large;
}

static inline float activate_s(float x, int kind) {
    switch (kind) {
    case CKR_GELU: return (x * 0.5f) * (1.0f + erf_s(x * SQRT1_2));
    case CKR_GELU_TANH: {
        float x3 = (x * x) * x;
        float inner = GELU_BETA * fmaf(GELU_KAPPA, x3, x);
        return (0.5f * x) * (1.0f + tanh_s(inner));
    }
    case CKR_QUICK_GELU: return x * (1.0f / (1.0f + exp_s(-(QUICK_GELU * x))));
    case CKR_RELU: return max_like(0.0f, x);
    case CKR_SILU: return x / (1.0f + exp_s(-x));
    case CKR_TANH: return tanh_s(x);
    case CKR_HARDSWISH: return (x * min_like(max_like(x + 3.0f, 0.0f), 6.0f)) / 6.0f;
    case CKR_HARDSIGMOID: return min_like(max_like(x + 3.0f, 0.0f), 6.0f) / 6.0f;
    default: return x;
    }
}

// MARK: - AVX2 element functions

#if CKR_X86
#define AVX __attribute__((target("avx2,fma")))

AVX static inline __m256 exp_v(__m256 x) {
    __m256 c = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(EXP_LO)), _mm256_set1_ps(EXP_HI));
    __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(c, _mm256_set1_ps(LOG2E), _mm256_set1_ps(0.5f)));
    __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-EXP_C1), c);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(-EXP_C2), r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(EXP_P0), r, _mm256_set1_ps(EXP_P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P5));
    __m256 r2 = _mm256_mul_ps(r, r);
    __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, r2, r), _mm256_set1_ps(1.0f));
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i a = _mm256_srai_epi32(ni, 1);
    __m256i b = _mm256_sub_epi32(ni, a);
    __m256i bias = _mm256_set1_epi32(127);
    __m256 pa = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(a, bias), 23));
    __m256 pb = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(b, bias), 23));
    y = _mm256_mul_ps(_mm256_mul_ps(y, pa), pb);
    y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, _mm256_set1_ps(EXP_HI), _CMP_GT_OQ));
    y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, _mm256_set1_ps(EXP_LO), _CMP_LT_OQ));
    y = _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    return y;
}

AVX static inline __m256 erf_v(__m256 x) {
    __m256 signmask = _mm256_set1_ps(-0.0f);
    __m256 sign = _mm256_and_ps(signmask, x);
    __m256 a = _mm256_andnot_ps(signmask, x);
    __m256 one = _mm256_set1_ps(1.0f);
    __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(ERF_P), a, one));
    __m256 r = _mm256_fmadd_ps(_mm256_set1_ps(ERF_A5), t, _mm256_set1_ps(ERF_A4));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(ERF_A3));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(ERF_A2));
    r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(ERF_A1));
    __m256 e = exp_v(_mm256_xor_ps(signmask, _mm256_mul_ps(x, x)));
    __m256 res = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_xor_ps(signmask, e), t), r, one);
    return _mm256_xor_ps(res, sign);
}

AVX static inline __m256 tanh_v(__m256 x) {
    __m256 signmask = _mm256_set1_ps(-0.0f);
    __m256 a = _mm256_andnot_ps(signmask, x);
    __m256 s = _mm256_mul_ps(x, x);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(TANH_T0), s, _mm256_set1_ps(TANH_T1));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(TANH_T2));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(TANH_T3));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(TANH_T4));
    __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, s), x, x);
    __m256 e = exp_v(_mm256_add_ps(a, a));
    __m256 one = _mm256_set1_ps(1.0f);
    __m256 large = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
    large = _mm256_or_ps(_mm256_andnot_ps(signmask, large), _mm256_and_ps(signmask, x));
    return _mm256_blendv_ps(large, small, _mm256_cmp_ps(a, _mm256_set1_ps(TANH_SMALL), _CMP_LT_OQ));
}

AVX static inline __m256 activate_v(__m256 x, int kind) {
    __m256 one = _mm256_set1_ps(1.0f);
    __m256 half = _mm256_set1_ps(0.5f);
    __m256 signmask = _mm256_set1_ps(-0.0f);
    switch (kind) {
    case CKR_GELU:
        return _mm256_mul_ps(_mm256_mul_ps(x, half), _mm256_add_ps(one, erf_v(_mm256_mul_ps(x, _mm256_set1_ps(SQRT1_2)))));
    case CKR_GELU_TANH: {
        __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
        __m256 inner = _mm256_mul_ps(_mm256_set1_ps(GELU_BETA), _mm256_fmadd_ps(_mm256_set1_ps(GELU_KAPPA), x3, x));
        return _mm256_mul_ps(_mm256_mul_ps(half, x), _mm256_add_ps(one, tanh_v(inner)));
    }
    case CKR_QUICK_GELU: {
        __m256 e = exp_v(_mm256_xor_ps(signmask, _mm256_mul_ps(_mm256_set1_ps(QUICK_GELU), x)));
        return _mm256_mul_ps(x, _mm256_div_ps(one, _mm256_add_ps(one, e)));
    }
    case CKR_RELU: return _mm256_max_ps(_mm256_setzero_ps(), x);
    case CKR_SILU: return _mm256_div_ps(x, _mm256_add_ps(one, exp_v(_mm256_xor_ps(signmask, x))));
    case CKR_TANH: return tanh_v(x);
    case CKR_HARDSWISH: {
        __m256 m = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(x, _mm256_set1_ps(3.0f)), _mm256_setzero_ps()), _mm256_set1_ps(6.0f));
        return _mm256_div_ps(_mm256_mul_ps(x, m), _mm256_set1_ps(6.0f));
    }
    case CKR_HARDSIGMOID: {
        __m256 m = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(x, _mm256_set1_ps(3.0f)), _mm256_setzero_ps()), _mm256_set1_ps(6.0f));
        return _mm256_div_ps(m, _mm256_set1_ps(6.0f));
    }
    default: return x;
    }
}

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

// MARK: - softmax

// Lane sums combined as ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).
static inline float combine8f(const float l[8]) { return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7])); }
static inline double combine8d(const double l[8]) { return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7])); }
static inline float max8(const float l[8]) {
    return max_like(max_like(max_like(l[0], l[4]), max_like(l[2], l[6])), max_like(max_like(l[1], l[5]), max_like(l[3], l[7])));
}

static void softmax_row_portable(float *x, size_t n) {
    if (n == 0) return;
    float m[8];
    for (int k = 0; k < 8; k++) m[k] = -INFINITY;
    for (size_t i = 0; i < n; i++) m[i % 8] = max_like(m[i % 8], x[i]);
    float mx = max8(m);
    float s[8] = {0};
    for (size_t i = 0; i < n; i++) {
        x[i] = exp_s(x[i] - mx);
        s[i % 8] += x[i];
    }
    float scale = 1.0f / combine8f(s);
    for (size_t i = 0; i < n; i++) x[i] *= scale;
}

#if CKR_X86
AVX static void softmax_row_avx(float *x, size_t n) {
    if (n == 0) return;
    size_t full = n / 8 * 8;
    __m256 mv = _mm256_set1_ps(-INFINITY);
    for (size_t i = 0; i < full; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
    float m[8];
    _mm256_storeu_ps(m, mv);
    for (size_t i = full; i < n; i++) m[i % 8] = max_like(m[i % 8], x[i]);
    float mx = max8(m);
    __m256 mxv = _mm256_set1_ps(mx);
    __m256 sv = _mm256_setzero_ps();
    for (size_t i = 0; i < full; i += 8) {
        __m256 e = exp_v(_mm256_sub_ps(_mm256_loadu_ps(x + i), mxv));
        _mm256_storeu_ps(x + i, e);
        sv = _mm256_add_ps(sv, e);
    }
    float s[8];
    _mm256_storeu_ps(s, sv);
    for (size_t i = full; i < n; i++) {
        x[i] = exp_s(x[i] - mx);
        s[i % 8] += x[i];
    }
    float scale = 1.0f / combine8f(s);
    __m256 scv = _mm256_set1_ps(scale);
    for (size_t i = 0; i < full; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), scv));
    for (size_t i = full; i < n; i++) x[i] *= scale;
}
#endif

void ckr_softmax_rows(float *x, size_t rows, size_t cols, size_t stride) {
    for (size_t r = 0; r < rows; r++) {
#if CKR_X86
        if (use_vector()) { softmax_row_avx(x + r * stride, cols); continue; }
#endif
        softmax_row_portable(x + r * stride, cols);
    }
}

// MARK: - norms

// Lane k accumulates elements i with i % 8 == k: (sum x) or (sum (x - mean)^2) or (sum x^2), in double.
static void sums_portable(const float *x, size_t n, double mean, int mode, double lanes[8]) {
    for (int k = 0; k < 8; k++) lanes[k] = 0;
    for (size_t i = 0; i < n; i++) {
        double v = (double)x[i];
        if (mode == 0) lanes[i % 8] += v;
        else {
            double d = mode == 1 ? v - mean : v;
            lanes[i % 8] = fma(d, d, lanes[i % 8]);
        }
    }
}

#if CKR_X86
AVX static void sums_avx(const float *x, size_t n, double mean, int mode, double lanes[8]) {
    size_t full = n / 8 * 8;
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    __m256d mv = _mm256_set1_pd(mean);
    for (size_t i = 0; i < full; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256d a = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
        __m256d b = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        if (mode == 0) {
            lo = _mm256_add_pd(lo, a);
            hi = _mm256_add_pd(hi, b);
        } else {
            if (mode == 1) {
                a = _mm256_sub_pd(a, mv);
                b = _mm256_sub_pd(b, mv);
            }
            lo = _mm256_fmadd_pd(a, a, lo);
            hi = _mm256_fmadd_pd(b, b, hi);
        }
    }
    _mm256_storeu_pd(lanes, lo);
    _mm256_storeu_pd(lanes + 4, hi);
    for (size_t i = full; i < n; i++) {
        double v = (double)x[i];
        if (mode == 0) lanes[i % 8] += v;
        else {
            double d = mode == 1 ? v - mean : v;
            lanes[i % 8] = fma(d, d, lanes[i % 8]);
        }
    }
}

AVX static void affine_avx(const float *x, float *y, size_t n, float shift, float scale, const float *w, const float *b) {
    size_t i = 0;
    __m256 sh = _mm256_set1_ps(shift), sc = _mm256_set1_ps(scale);
    for (; i + 8 <= n; i += 8) {
        __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), sh), sc);
        __m256 out = b ? _mm256_fmadd_ps(t, _mm256_loadu_ps(w + i), _mm256_loadu_ps(b + i)) : _mm256_mul_ps(_mm256_loadu_ps(w + i), t);
        _mm256_storeu_ps(y + i, out);
    }
    for (; i < n; i++) {
        float t = (x[i] - shift) * scale;
        y[i] = b ? fmaf(t, w[i], b[i]) : w[i] * t;
    }
}
#endif

static void sums(const float *x, size_t n, double mean, int mode, double lanes[8]) {
#if CKR_X86
    if (use_vector()) { sums_avx(x, n, mean, mode, lanes); return; }
#endif
    sums_portable(x, n, mean, mode, lanes);
}

// y = ((x - shift) * scale) * w + b, or w * ((x - shift) * scale) without b (RMSNorm, shift 0).
static void affine(const float *x, float *y, size_t n, float shift, float scale, const float *w, const float *b) {
#if CKR_X86
    if (use_vector()) { affine_avx(x, y, n, shift, scale, w, b); return; }
#endif
    for (size_t i = 0; i < n; i++) {
        float t = (x[i] - shift) * scale;
        y[i] = b ? fmaf(t, w[i], b[i]) : w[i] * t;
    }
}

void ckr_layer_norm(const float *x, float *y, size_t rows, size_t cols, const float *w, const float *b, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * cols;
        double lanes[8];
        sums(row, cols, 0, 0, lanes);
        double mean = combine8d(lanes) / (double)cols;
        sums(row, cols, mean, 1, lanes);
        double var = combine8d(lanes) / (double)cols;
        float scale = (float)(1.0 / sqrt(var + (double)eps));
        affine(row, y + r * cols, cols, (float)mean, scale, w, b);
    }
}

void ckr_rms_norm(const float *x, float *y, size_t rows, size_t cols, const float *w, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * cols;
        double lanes[8];
        sums(row, cols, 0, 2, lanes);
        double ms = combine8d(lanes) / (double)cols;
        float scale = (float)(1.0 / sqrt(ms + (double)eps));
        affine(row, y + r * cols, cols, 0.0f, scale, w, NULL);
    }
}

// MARK: - statistics

size_t ckr_stats(const float *x, size_t n, double out[3]) {
    double s[8] = {0}, q[8] = {0};
    float mx = 0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        if (!isfinite(v)) {
            bad++;
            continue;
        }
        double d = (double)v;
        s[i % 8] += d;
        q[i % 8] = fma(d, d, q[i % 8]);
        float a = fabsf(v);
        if (a > mx) mx = a;
    }
    out[0] = combine8d(s);
    out[1] = combine8d(q);
    out[2] = (double)mx;
    return bad;
}
