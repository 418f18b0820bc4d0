// AVX2 kernels for ggml's q8_0, q4_0, q4_1, q5_0 and q5_1 blocks (32 floats -> 34 / 18 / 20 / 22 / 24 bytes),
// byte-identical to ggml's quantize_row_q*_ref. The reference algorithms live in Swift
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

// 32 codes (four vectors of eight int32 in element order, each 0..255) -> 32 bytes in element order.
static inline CK_AVX2 __m256i pack_codes(__m256i c0, __m256i c1, __m256i c2, __m256i c3) {
    __m256i p = _mm256_packus_epi16(_mm256_packs_epi32(c0, c1), _mm256_packs_epi32(c2, c3));
    // The packs work within 128-bit lanes: dwords hold elements [0-3 8-11 16-19 24-27 | 4-7 12-15 20-23 28-31].
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Codes as bytes -> `qh` (bit j = bit 4 of code j; 5-bit types) and the 16 nibble bytes (byte j = low
// nibble of code j | low nibble of code j + 16 << 4).
static inline CK_AVX2 uint32_t fifth_bits(__m256i codes) {
    // Bit 4 of each byte to bit 7 (codes are below 32, so nothing crosses into the next byte's bit 7).
    return (uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16(codes, 3));
}

static inline CK_AVX2 void store_nibbles(uint8_t *y, __m256i codes) {
    codes = _mm256_and_si256(codes, _mm256_set1_epi8(15));
    __m128i low = _mm256_castsi256_si128(codes), high = _mm256_extracti128_si256(codes, 1);
    _mm_storeu_si128((__m128i *)y, _mm_or_si128(low, _mm_slli_epi16(high, 4)));
}

static inline CK_AVX2 void load_block(const float *x, __m256 v[4]) {
    for (int k = 0; k < 4; k++) v[k] = _mm256_loadu_ps(x + 8 * k);
}

// Loads four consecutive blocks, adds them to the probe, and gives each block's maximum and minimum
// (lane b for block b).
static inline CK_AVX2 void load_group(const float *x, __m256 v[4][4], __m256 *probe, __m128 *hi, __m128 *lo) {
    __m256 high[4], low[4];
    for (int b = 0; b < 4; b++) {
        load_block(x + 32 * b, v[b]);
        *probe = probe_block(*probe, v[b]);
        high[b] = _mm256_max_ps(_mm256_max_ps(v[b][0], v[b][1]), _mm256_max_ps(v[b][2], v[b][3]));
        low[b] = _mm256_min_ps(_mm256_min_ps(v[b][0], v[b][1]), _mm256_min_ps(v[b][2], v[b][3]));
    }
    *hi = reduce4_max(high[0], high[1], high[2], high[3]);
    *lo = reduce4_min(low[0], low[1], low[2], low[3]);
}

static inline CK_AVX2 int all_finite(__m128 v) {
    __m128 magnitude = _mm_andnot_ps(_mm_set1_ps(-0.0f), v);
    return _mm_movemask_ps(_mm_cmp_ps(magnitude, _mm_set1_ps(__builtin_inff()), _CMP_LT_OQ)) == 0xF;
}

// The five types share one loop over groups of four blocks; what differs is how a group's scalars are
// found (`group_scalars`) and how a block's codes are made (`emit_block`). `kind` (the ggml type id) is a
// constant in each instantiation below, so every branch on it folds away.
enum legacy_kind { KIND_Q4_0 = 2, KIND_Q4_1 = 3, KIND_Q5_0 = 6, KIND_Q5_1 = 7, KIND_Q8_0 = 8 };

static inline size_t block_bytes(enum legacy_kind kind) {
    switch (kind) {
    case KIND_Q8_0: return 34;
    case KIND_Q4_0: return 18;
    case KIND_Q5_0: return 22;
    case KIND_Q4_1: return 20;
    default: return 24;
    }
}

static inline int code_bits(enum legacy_kind kind) { return kind == KIND_Q5_0 || kind == KIND_Q5_1 ? 5 : 4; }
static inline int is_affine(enum legacy_kind kind) { return kind == KIND_Q4_1 || kind == KIND_Q5_1; }

// The scalars of four blocks (lane / index b for block b): inverse scale, minimum, and the f16 fields.
struct group_scalars {
    float id[4], min[4];
    uint16_t d[8], m[8];
};

// Finds the group's scalars from each block's maximum (hi) and minimum (lo); returns 0 when the group
// needs C's exact scalar behaviour.
// q8_0: d = max|x| / 127.
// q4_0 / q5_0: d = max / -2^(bits-1) where max is the value of largest magnitude.
// q4_1 / q5_1: d = (max - min) / (2^bits - 1).
static inline __attribute__((always_inline)) CK_AVX2 int group_scalars(enum legacy_kind kind, const float *xg, __m128 hi,
                                                                       __m128 lo, struct group_scalars *s) {
    const __m128 zero = _mm_setzero_ps(), sign = _mm_set1_ps(-0.0f);
    const int bits = code_bits(kind);
    __m128 d;
    if (kind == KIND_Q8_0) {
        // max |x|, +0 for an all-zero block (maxps of +0 and -0 may give -0, and d = -0 changes the f16).
        __m128 amax = _mm_andnot_ps(sign, _mm_max_ps(hi, _mm_xor_ps(lo, sign)));
        d = _mm_div_ps(amax, _mm_set1_ps(127.0f));
    } else if (!is_affine(kind)) {
        // ggml keeps the first value whose magnitude beats the running one (+0 if none): the block's
        // maximum or minimum, whichever is larger in magnitude; when both are, only a scan can tell.
        __m128 negLo = _mm_xor_ps(lo, sign);
        __m128 amax = _mm_max_ps(hi, negLo);
        __m128 nonzero = _mm_cmp_ps(amax, zero, _CMP_NEQ_OQ);
        if (_mm_movemask_ps(_mm_and_ps(_mm_cmp_ps(hi, negLo, _CMP_EQ_OQ), nonzero))) return 0;
        __m128 max = _mm_and_ps(_mm_blendv_ps(lo, hi, _mm_cmp_ps(hi, amax, _CMP_EQ_OQ)), nonzero);
        d = _mm_div_ps(max, _mm_set1_ps(-(float)(1 << (bits - 1))));
    } else {
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
        d = _mm_div_ps(_mm_sub_ps(hi, lo), _mm_set1_ps((float)((1 << bits) - 1)));
        if (!all_finite(d)) return 0;
        _mm_storeu_si128((__m128i *)s->m, _mm_cvtps_ph(lo, _MM_FROUND_TO_NEAREST_INT));
        _mm_storeu_ps(s->min, lo);
    }
    __m128 id = _mm_and_ps(_mm_div_ps(_mm_set1_ps(1.0f), d), _mm_cmp_ps(d, zero, _CMP_NEQ_OQ));
    if (!all_finite(id)) return 0;
    _mm_storeu_si128((__m128i *)s->d, _mm_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT));
    _mm_storeu_ps(s->id, id);
    return 1;
}

// q8_0's codes: roundf(x * id) (half away from zero) as 32 int8.
static inline __attribute__((always_inline)) CK_AVX2 void q8_0_codes(uint8_t *qs, const __m256 v[4], float id) {
    const __m256 signBit = _mm256_set1_ps(-0.0f), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    __m256 scale = _mm256_set1_ps(id);
    __m256i c[4];
    for (int k = 0; k < 4; k++) {
        // roundf: round the magnitude to nearest even, move ties that went down (exactly 0.5 below) up,
        // restore the sign. |x * id| <= 127 (plus rounding), so the steps are exact.
        __m256 q = _mm256_mul_ps(v[k], scale);
        __m256 magnitude = _mm256_andnot_ps(signBit, q);
        __m256 even = _mm256_round_ps(magnitude, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256 tie = _mm256_cmp_ps(_mm256_sub_ps(magnitude, even), half, _CMP_EQ_OQ);
        __m256 rounded = _mm256_add_ps(even, _mm256_and_ps(tie, one));
        c[k] = _mm256_cvtps_epi32(_mm256_or_ps(rounded, _mm256_and_ps(q, signBit)));
    }
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(c[0], c[1]), _mm256_packs_epi32(c[2], c[3]));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)qs, p);
}

// Writes block b of the group: f16 fields, then the codes.
// q4_0 / q5_0: code = MIN(2^bits - 1, (int8_t)(x * id + 2^(bits-1) + 0.5)); block: f16 d, [u32 qh,] 16 nibble bytes.
// q4_1 / q5_1: code = (int8_t)((x - min) * id + 0.5) (q4_1 also takes MIN(15, ·); q5_1 has no clamp);
// block: f16 d, f16 min, [u32 qh,] 16 nibble bytes.
static inline __attribute__((always_inline)) CK_AVX2 void emit_block(enum legacy_kind kind, uint8_t *yb, const __m256 v[4],
                                                                     const struct group_scalars *s, int b) {
    const int bits = code_bits(kind);
    const size_t header = is_affine(kind) ? 4 : 2;
    memcpy(yb, &s->d[b], 2);
    if (kind == KIND_Q8_0) {
        q8_0_codes(yb + 2, v, s->id[b]);
        return;
    }
    if (is_affine(kind)) memcpy(yb + 2, &s->m[b], 2);
    __m256 scale = _mm256_set1_ps(s->id[b]);
    __m256i c[4];
    if (is_affine(kind)) {
        __m256 min = _mm256_set1_ps(s->min[b]), rounding = _mm256_set1_ps(0.5f);
        // Truncation of a value in [0.5, 2^bits - 0.5 + a few ulp].
        for (int k = 0; k < 4; k++) {
            __m256 q = _mm256_mul_ps(_mm256_sub_ps(v[k], min), scale);
            c[k] = _mm256_cvttps_epi32(_mm256_add_ps(q, rounding));
        }
    } else {
        // (int8_t)(x * id + offset): truncation; the value lies in [0.5, 2^bits + 0.5].
        __m256 offset = _mm256_set1_ps((float)(1 << (bits - 1)) + 0.5f);
        for (int k = 0; k < 4; k++) c[k] = _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(v[k], scale), offset));
    }
    __m256i codes = pack_codes(c[0], c[1], c[2], c[3]);
    if (kind == KIND_Q4_0 || kind == KIND_Q5_0 || kind == KIND_Q4_1) {
        codes = _mm256_min_epu8(codes, _mm256_set1_epi8((char)((1 << bits) - 1)));
    }
    if (bits == 5) {
        uint32_t qh = fifth_bits(codes);
        memcpy(yb + header, &qh, 4);
    }
    store_nibbles(yb + block_bytes(kind) - 16, codes);
}

static inline __attribute__((always_inline)) CK_AVX2 size_t legacy_blocks(const float *x, uint8_t *y, size_t blocks,
                                                                      int *finite, enum legacy_kind kind) {
    const size_t blockBytes = block_bytes(kind);
    __m256 probe = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 4 <= blocks; i += 4) {
        const float *xg = x + 32 * i;
        __m256 v[4][4];
        __m128 hi, lo;
        load_group(xg, v, &probe, &hi, &lo);
        struct group_scalars s;
        if (!group_scalars(kind, xg, hi, lo, &s)) break;
        for (int b = 0; b < 4; b++) emit_block(kind, y + blockBytes * (i + b), v[b], &s, b);
    }
    if (!_mm256_testz_si256(_mm256_castps_si256(probe), _mm256_castps_si256(probe))) *finite = 0;
    return i;
}

CK_AVX2 static size_t q8_0_avx2(const float *x, uint8_t *y, size_t n, int *finite) { return legacy_blocks(x, y, n, finite, KIND_Q8_0); }
CK_AVX2 static size_t q4_0_avx2(const float *x, uint8_t *y, size_t n, int *finite) { return legacy_blocks(x, y, n, finite, KIND_Q4_0); }
CK_AVX2 static size_t q5_0_avx2(const float *x, uint8_t *y, size_t n, int *finite) { return legacy_blocks(x, y, n, finite, KIND_Q5_0); }
CK_AVX2 static size_t q4_1_avx2(const float *x, uint8_t *y, size_t n, int *finite) { return legacy_blocks(x, y, n, finite, KIND_Q4_1); }
CK_AVX2 static size_t q5_1_avx2(const float *x, uint8_t *y, size_t n, int *finite) { return legacy_blocks(x, y, n, finite, KIND_Q5_1); }
#endif

size_t ck_quantize_legacy(uint32_t ggml_type, const float *x, uint8_t *y, size_t blocks, int *finite) {
#ifdef CK_X86
    if (ck_has_f16c()) {
        switch (ggml_type) {
        case KIND_Q8_0: return q8_0_avx2(x, y, blocks, finite);
        case KIND_Q4_0: return q4_0_avx2(x, y, blocks, finite);
        case KIND_Q5_0: return q5_0_avx2(x, y, blocks, finite);
        case KIND_Q4_1: return q4_1_avx2(x, y, blocks, finite);
        case KIND_Q5_1: return q5_1_avx2(x, y, blocks, finite);
        default: break;
        }
    }
#else
    (void)ggml_type; (void)x; (void)y; (void)blocks; (void)finite;
#endif
    return 0;
}
