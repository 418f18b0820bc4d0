// AVX2 kernel for ggml's iq4_nl blocks (32 floats -> f16 d + 16 nibble bytes), byte-identical to
// ggml's quantize_iq4_nl without an importance matrix (quantize_row_iq4_nl_impl with block 32, weights
// x^2, ntry 7). The reference algorithm lives in Swift (Sources/Quantization/GGML/IQ4.swift). Eight
// blocks run side by side, one per lane, so each lane repeats one block's sequential float32 sums in
// element order. ggml's binary search in the 16-value table becomes a count of the table values at or
// below the input (the same index for any finite input), which makes the trials branch-free.
#include <string.h>
#include "CConnkit.h"

#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CK_AVX2 __attribute__((target("avx2,f16c")))

static const float kvalues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

typedef struct {
    __m256 low, high;      // table entries 0-7 and 8-15
    __m256 inner[14];      // entries 1..14 broadcast
} Table;

// Table entry i (0..15) in each lane.
static inline CK_AVX2 __m256 lookup(const Table *t, __m256i i) {
    __m256 low = _mm256_permutevar8x32_ps(t->low, i), high = _mm256_permutevar8x32_ps(t->high, i);
    return _mm256_blendv_ps(low, high, _mm256_castsi256_ps(_mm256_slli_epi32(i, 28)));  // bit 3 to the sign
}

// best_index_int8(16, kvalues, x) for finite x: ml = the last index in 0..14 whose value is <= x (the
// bracket ggml's binary search ends in; x <= v[0] and x >= v[15] give the same answers through the final
// comparison), then the nearer of ml and ml + 1, the upper on a tie.
static inline CK_AVX2 __m256i nearest_index(const Table *t, __m256 x, __m256 *value) {
    __m256i ml = _mm256_setzero_si256();
    for (int k = 0; k < 14; k++) {
        ml = _mm256_sub_epi32(ml, _mm256_castps_si256(_mm256_cmp_ps(x, t->inner[k], _CMP_GE_OQ)));
    }
    __m256i mu = _mm256_add_epi32(ml, _mm256_set1_epi32(1));
    __m256 low = lookup(t, ml), high = lookup(t, mu);
    __m256 takeLow = _mm256_cmp_ps(_mm256_sub_ps(x, low), _mm256_sub_ps(high, x), _CMP_LT_OQ);
    *value = _mm256_blendv_ps(high, low, takeLow);
    return _mm256_blendv_epi8(mu, ml, _mm256_castps_si256(takeLow));
}

// sum (w*q)*x and sum (w*q)*q over the 32 elements, in order, with q the table value nearest id*x.
static inline CK_AVX2 void trial(const Table *t, const __m256 xt[32], const __m256 wt[32], __m256 id,
                                 __m256 *sumqx, __m256 *sumq2) {
    __m256 qx = _mm256_setzero_ps(), q2 = _mm256_setzero_ps();
    for (int j = 0; j < 32; j++) {
        __m256 q;
        (void)nearest_index(t, _mm256_mul_ps(id, xt[j]), &q);
        __m256 wq = _mm256_mul_ps(wt[j], q);
        qx = _mm256_add_ps(qx, _mm256_mul_ps(wq, xt[j]));
        q2 = _mm256_add_ps(q2, _mm256_mul_ps(wq, q));
    }
    *sumqx = qx;
    *sumq2 = q2;
}

static inline CK_AVX2 int all_finite(__m256 v) {
    __m256 magnitude = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
    return _mm256_movemask_ps(_mm256_cmp_ps(magnitude, _mm256_set1_ps(__builtin_inff()), _CMP_LT_OQ)) == 0xFF;
}

CK_AVX2 static size_t iq4_nl_avx2(const float *x, uint8_t *y, size_t blocks) {
    Table t;
    t.low = _mm256_loadu_ps(kvalues);
    t.high = _mm256_loadu_ps(kvalues + 8);
    for (int k = 0; k < 14; k++) t.inner[k] = _mm256_set1_ps(kvalues[k + 1]);
    const __m256 zero = _mm256_setzero_ps(), signBit = _mm256_set1_ps(-0.0f);
    const __m256i blockStarts = _mm256_setr_epi32(0, 32, 64, 96, 128, 160, 192, 224);
    size_t i = 0;
    for (; i + 8 <= blocks; i += 8) {
        const float *xg = x + 32 * i;
        __m256 xt[32], wt[32];
        // Lane b holds block b: element j of the eight blocks in xt[j].
        __m256 amax = zero, max = zero;
        for (int j = 0; j < 32; j++) {
            xt[j] = _mm256_i32gather_ps(xg + j, blockStarts, 4);
            wt[j] = _mm256_mul_ps(xt[j], xt[j]);
            // `if (ax > amax) { amax = ax; max = x; }`: the first value of largest magnitude.
            __m256 ax = _mm256_andnot_ps(signBit, xt[j]);
            __m256 larger = _mm256_cmp_ps(ax, amax, _CMP_GT_OQ);
            amax = _mm256_blendv_ps(amax, ax, larger);
            max = _mm256_blendv_ps(max, xt[j], larger);
        }
        __m256 active = _mm256_cmp_ps(amax, _mm256_set1_ps(1e-15f), _CMP_GE_OQ);  // GROUP_MAX_EPS
        // Lanes of blocks below GROUP_MAX_EPS compute with a harmless max of 1 and are zeroed at the end.
        max = _mm256_blendv_ps(_mm256_set1_ps(1.0f), max, active);
        __m256 d = _mm256_div_ps(_mm256_xor_ps(max, signBit), _mm256_set1_ps(kvalues[0]));
        __m256 sumqx, sumq2;
        trial(&t, xt, wt, _mm256_div_ps(_mm256_set1_ps(1.0f), d), &sumqx, &sumq2);
        d = _mm256_div_ps(sumqx, sumq2);
        __m256 best = _mm256_mul_ps(d, sumqx);
        for (int itry = -7; itry <= 7; itry++) {
            __m256 id = _mm256_div_ps(_mm256_set1_ps((float)(itry + (int)kvalues[0])), max);
            trial(&t, xt, wt, id, &sumqx, &sumq2);
            __m256 better = _mm256_and_ps(_mm256_cmp_ps(sumq2, zero, _CMP_GT_OQ),
                                          _mm256_cmp_ps(_mm256_mul_ps(sumqx, sumqx), _mm256_mul_ps(best, sumq2), _CMP_GT_OQ));
            __m256 newD = _mm256_div_ps(sumqx, sumq2);
            d = _mm256_blendv_ps(d, newD, better);
            best = _mm256_blendv_ps(best, _mm256_mul_ps(newD, sumqx), better);
        }
        __m256 scale = _mm256_and_ps(d, active);
        __m256 id = _mm256_and_ps(_mm256_div_ps(_mm256_set1_ps(1.0f), scale), _mm256_cmp_ps(scale, zero, _CMP_NEQ_OQ));
        // A non-finite scale or inverse (overflowing sums, a subnormal scale) meets C's NaN handling in
        // the search: the Swift reference takes the group.
        if (!all_finite(scale) || !all_finite(id)) break;
        uint16_t halves[8];
        _mm_storeu_si128((__m128i *)halves, _mm256_cvtps_ph(scale, _MM_FROUND_TO_NEAREST_INT));
        int32_t codes[32][8];
        for (int j = 0; j < 32; j++) {
            __m256 q;
            _mm256_storeu_si256((__m256i *)codes[j], nearest_index(&t, _mm256_mul_ps(id, xt[j]), &q));
        }
        for (int b = 0; b < 8; b++) {
            uint8_t *yb = y + 18 * (i + b);
            memcpy(yb, &halves[b], 2);
            for (int j = 0; j < 16; j++) yb[2 + j] = (uint8_t)(codes[j][b] | (codes[j + 16][b] << 4));
        }
    }
    return i;
}
#endif

size_t ck_quantize_iq4_nl(const float *x, uint8_t *y, size_t blocks) {
#if defined(__x86_64__) || defined(__i386__)
    if (ck_has_f16c()) return iq4_nl_avx2(x, y, blocks);
#endif
    (void)x; (void)y; (void)blocks;
    return 0;
}
