// AVX2 kernels for ggml's q4_0 and q4_1 blocks (32 floats -> 18 / 20 bytes), byte-identical to ggml's
// quantize_row_q4_0_ref / quantize_row_q4_1_ref. The reference algorithms live in Swift
// (Sources/Quantization/GGML/Legacy.swift); these run the same float32 operations in the same order, a
// block per four 8-lane vectors and four blocks' scalars side by side. A group of four blocks that needs
// C's exact scalar behaviour (both signs reach the largest magnitude, a scale or inverse that overflows)
// is left to the caller, which runs the Swift kernels on it.
#include <string.h>
#include "CConnkit.h"

// ggml's reference does a multiply then an add, each rounded: never fuse them.
#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CK_X86 1
#define CK_AVX2 __attribute__((target("avx2,f16c")))

// Lane b of the result is the largest (smallest) of the 8 lanes of mb. Only used where ±0 and NaN do not
// matter (zeros are resolved separately, NaN input is reported by the probe).
#define CK_REDUCE4(op)                                                                                  \
    static inline CK_AVX2 __m128 reduce4_##op(__m256 m0, __m256 m1, __m256 m2, __m256 m3) {            \
        __m256 a = _mm256_##op##_ps(_mm256_permute2f128_ps(m0, m1, 0x20), _mm256_permute2f128_ps(m0, m1, 0x31)); \
        __m256 b = _mm256_##op##_ps(_mm256_permute2f128_ps(m2, m3, 0x20), _mm256_permute2f128_ps(m2, m3, 0x31)); \
        /* a = [m0 folded | m1 folded], b = [m2 folded | m3 folded] (4 lanes each) */                 \
        __m256 c = _mm256_##op##_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));              \
        __m256 d = _mm256_##op##_ps(c, _mm256_permute_ps(c, 0x4E));                                    \
        /* d = [r0 r2 r0 r2 | r1 r3 r1 r3] */                                                          \
        return _mm256_castps256_ps128(_mm256_permutevar8x32_ps(d, _mm256_setr_epi32(0, 4, 1, 5, 0, 0, 0, 0))); \
    }
CK_REDUCE4(max)
CK_REDUCE4(min)

// Sum of the block's values times zero, OR-ed into the probe: ±0 for finite input, NaN bits when a value
// is NaN or ±inf (or when the sum of finite values overflows: a false alarm the caller settles).
static inline CK_AVX2 __m256 probe_block(__m256 probe, const __m256 v[4]) {
    __m256 s = _mm256_add_ps(_mm256_add_ps(v[0], v[1]), _mm256_add_ps(v[2], v[3]));
    return _mm256_or_ps(probe, _mm256_sub_ps(s, s));
}

// 32 codes (0..16, four vectors of eight in element order) -> 16 bytes: byte j = min(15, c[j]) |
// min(15, c[j + 16]) << 4.
static inline CK_AVX2 void store_nibbles(uint8_t *y, __m256i c0, __m256i c1, __m256i c2, __m256i c3) {
    __m256i p = _mm256_packus_epi16(_mm256_packs_epi32(c0, c1), _mm256_packs_epi32(c2, c3));
    // The packs work within 128-bit lanes: dwords hold elements [0-3 8-11 16-19 24-27 | 4-7 12-15 20-23 28-31].
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    p = _mm256_min_epu8(p, _mm256_set1_epi8(15));
    __m128i low = _mm256_castsi256_si128(p), high = _mm256_extracti128_si256(p, 1);
    _mm_storeu_si128((__m128i *)y, _mm_or_si128(low, _mm_slli_epi16(high, 4)));
}

static inline CK_AVX2 void load_block(const float *x, __m256 v[4]) {
    for (int k = 0; k < 4; k++) v[k] = _mm256_loadu_ps(x + 8 * k);
}

static inline CK_AVX2 int all_finite(__m128 v) {
    __m128 magnitude = _mm_andnot_ps(_mm_set1_ps(-0.0f), v);
    return _mm_movemask_ps(_mm_cmp_ps(magnitude, _mm_set1_ps(__builtin_inff()), _CMP_LT_OQ)) == 0xF;
}

CK_AVX2 static size_t q4_0_avx2(const float *x, uint8_t *y, size_t blocks, int *finite) {
    __m256 probe = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 4 <= blocks; i += 4) {
        const float *xg = x + 32 * i;
        __m256 v[4][4], high[4], low[4];
        for (int b = 0; b < 4; b++) {
            load_block(xg + 32 * b, v[b]);
            probe = probe_block(probe, v[b]);
            high[b] = _mm256_max_ps(_mm256_max_ps(v[b][0], v[b][1]), _mm256_max_ps(v[b][2], v[b][3]));
            low[b] = _mm256_min_ps(_mm256_min_ps(v[b][0], v[b][1]), _mm256_min_ps(v[b][2], v[b][3]));
        }
        // ggml keeps the first value whose magnitude beats the running one (+0 if none): the block's
        // maximum or minimum, whichever is larger in magnitude; when both are, only a scan can tell.
        __m128 hi = reduce4_max(high[0], high[1], high[2], high[3]);
        __m128 lo = reduce4_min(low[0], low[1], low[2], low[3]);
        __m128 negLo = _mm_xor_ps(lo, _mm_set1_ps(-0.0f));
        __m128 amax = _mm_max_ps(hi, negLo);
        __m128 nonzero = _mm_cmp_ps(amax, _mm_setzero_ps(), _CMP_NEQ_OQ);
        if (_mm_movemask_ps(_mm_and_ps(_mm_cmp_ps(hi, negLo, _CMP_EQ_OQ), nonzero))) break;
        __m128 max = _mm_and_ps(_mm_blendv_ps(lo, hi, _mm_cmp_ps(hi, amax, _CMP_EQ_OQ)), nonzero);
        __m128 d = _mm_div_ps(max, _mm_set1_ps(-8.0f));
        __m128 id = _mm_and_ps(_mm_div_ps(_mm_set1_ps(1.0f), d), _mm_cmp_ps(d, _mm_setzero_ps(), _CMP_NEQ_OQ));
        if (!all_finite(id)) break;
        uint16_t halves[8];
        _mm_storeu_si128((__m128i *)halves, _mm_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT));
        float ids[4];
        _mm_storeu_ps(ids, id);
        for (int b = 0; b < 4; b++) {
            uint8_t *yb = y + 18 * (i + b);
            memcpy(yb, &halves[b], 2);
            __m256 scale = _mm256_set1_ps(ids[b]), offset = _mm256_set1_ps(8.5f);
            __m256i c[4];
            // (int8_t)(x * id + 8.5f): truncation; the value lies in [0.5, 16.5].
            for (int k = 0; k < 4; k++) c[k] = _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(v[b][k], scale), offset));
            store_nibbles(yb + 2, c[0], c[1], c[2], c[3]);
        }
    }
    if (!_mm256_testz_si256(_mm256_castps_si256(probe), _mm256_castps_si256(probe))) *finite = 0;
    return i;
}

CK_AVX2 static size_t q4_1_avx2(const float *x, uint8_t *y, size_t blocks, int *finite) {
    __m256 probe = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 4 <= blocks; i += 4) {
        const float *xg = x + 32 * i;
        __m256 v[4][4], high[4], low[4];
        for (int b = 0; b < 4; b++) {
            load_block(xg + 32 * b, v[b]);
            probe = probe_block(probe, v[b]);
            high[b] = _mm256_max_ps(_mm256_max_ps(v[b][0], v[b][1]), _mm256_max_ps(v[b][2], v[b][3]));
            low[b] = _mm256_min_ps(_mm256_min_ps(v[b][0], v[b][1]), _mm256_min_ps(v[b][2], v[b][3]));
        }
        __m128 hi = reduce4_max(high[0], high[1], high[2], high[3]);
        __m128 lo = reduce4_min(low[0], low[1], low[2], low[3]);
        __m128 zero = _mm_setzero_ps();
        if (_mm_movemask_ps(_mm_or_ps(_mm_cmp_ps(hi, zero, _CMP_EQ_OQ), _mm_cmp_ps(lo, zero, _CMP_EQ_OQ)))) {
            // A zero extreme: C's `v < min` / `v > max` scan keeps the block's first zero, with its sign.
            float h[4], l[4];
            _mm_storeu_ps(h, hi);
            _mm_storeu_ps(l, lo);
            for (int b = 0; b < 4; b++) {
                if (h[b] != 0 && l[b] != 0) continue;
                const float *xb = xg + 32 * b;
                int j = 0;
                while (xb[j] != 0) j++;
                if (h[b] == 0) h[b] = xb[j];
                if (l[b] == 0) l[b] = xb[j];
            }
            hi = _mm_loadu_ps(h);
            lo = _mm_loadu_ps(l);
        }
        __m128 d = _mm_div_ps(_mm_sub_ps(hi, lo), _mm_set1_ps(15.0f));
        __m128 id = _mm_and_ps(_mm_div_ps(_mm_set1_ps(1.0f), d), _mm_cmp_ps(d, zero, _CMP_NEQ_OQ));
        if (!all_finite(d) || !all_finite(id)) break;
        uint16_t dHalves[8], minHalves[8];
        _mm_storeu_si128((__m128i *)dHalves, _mm_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT));
        _mm_storeu_si128((__m128i *)minHalves, _mm_cvtps_ph(lo, _MM_FROUND_TO_NEAREST_INT));
        float ids[4], mins[4];
        _mm_storeu_ps(ids, id);
        _mm_storeu_ps(mins, lo);
        for (int b = 0; b < 4; b++) {
            uint8_t *yb = y + 20 * (i + b);
            memcpy(yb, &dHalves[b], 2);
            memcpy(yb + 2, &minHalves[b], 2);
            __m256 scale = _mm256_set1_ps(ids[b]), min = _mm256_set1_ps(mins[b]), half = _mm256_set1_ps(0.5f);
            __m256i c[4];
            // (int8_t)((x - min) * id + 0.5f): truncation of a value in [0.5, 15.5 + a few ulp].
            for (int k = 0; k < 4; k++) {
                __m256 q = _mm256_mul_ps(_mm256_sub_ps(v[b][k], min), scale);
                c[k] = _mm256_cvttps_epi32(_mm256_add_ps(q, half));
            }
            store_nibbles(yb + 4, c[0], c[1], c[2], c[3]);
        }
    }
    if (!_mm256_testz_si256(_mm256_castps_si256(probe), _mm256_castps_si256(probe))) *finite = 0;
    return i;
}
#endif

size_t ck_quantize_q4_0(const float *x, uint8_t *y, size_t blocks, int *finite) {
#ifdef CK_X86
    if (ck_has_f16c()) return q4_0_avx2(x, y, blocks, finite);
#endif
    (void)x; (void)y; (void)blocks; (void)finite;
    return 0;
}

size_t ck_quantize_q4_1(const float *x, uint8_t *y, size_t blocks, int *finite) {
#ifdef CK_X86
    if (ck_has_f16c()) return q4_1_avx2(x, y, blocks, finite);
#endif
    (void)x; (void)y; (void)blocks; (void)finite;
    return 0;
}
