#ifndef CKR_INTERNAL_H
#define CKR_INTERNAL_H

// Shared by the runtime's kernels (elementwise.c, rows.c): the dispatch between the AVX2+FMA and portable
// paths, and the element functions both paths are built from.
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
#include "include/CRuntimeKernels.h"

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

// Dispatch state, defined in elementwise.c.
extern int ckr_forced_portable;
extern int ckr_has_vector;
int ckr_detect_avx2_fma(void);

#if CKR_X86
static inline int use_vector(void) {
    if (ckr_has_vector < 0) ckr_has_vector = ckr_detect_avx2_fma();
    return ckr_has_vector && !ckr_forced_portable;
}
#else
static inline int use_vector(void) { return 0; }
#endif

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

#endif


#endif
