// AVX2 kernel for MLX affine quantization (mx.quantize, mode "affine"), giving the codes and float32 scales and
// biases of the Swift kernel (Sources/Quantization/MLX/MLXAffine.swift), which equal mlx's. Per group, in float32:
//
//     scale = max((max - min) / (2^bits - 1), 1e-7)
//     if |min| > |max| { edge = min } else { edge = max; scale = -scale }
//     q0 = rint(edge / scale)
//     if q0 != 0 { scale = edge / q0; bias = edge } else { bias = 0 }
//     q = clamp(rint((w - bias) / scale), 0, 2^bits - 1)
//
// The same operations, each correctly rounded (true divisions, never a reciprocal; round to nearest even),
// eight groups side by side: one group's extremes per lane for the parameters, then a group's values eight per
// vector for the codes. Only the sign of a zero extreme can differ from a sequential scan, and it changes
// nothing above (a zero edge gives q0 = 0 either way). A group of 32 values fills exactly `bits` words, so the
// groups' codes are whole words and the rows' bit streams need no care at group boundaries.
#include <string.h>
#include "CConnkit.h"

// mlx subtracts, then divides, each rounded: nothing to fuse, and nothing may be.
#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CK_AVX2 __attribute__((target("avx2")))
#define CK_INLINE static inline __attribute__((always_inline)) CK_AVX2

// Lane g of the result is the largest (smallest) of the 8 lanes of m[g].
#define CK_REDUCE8(op)                                                                                   \
    CK_INLINE __m256 reduce8_##op(const __m256 m[8]) {                                                   \
        __m256 c[2];                                                                                     \
        for (int h = 0; h < 2; h++) {                                                                    \
            const __m256 *n = m + 4 * h;                                                                 \
            /* a = [n0 folded | n1 folded], b = [n2 folded | n3 folded] (4 lanes each) */               \
            __m256 a = _mm256_##op##_ps(_mm256_permute2f128_ps(n[0], n[1], 0x20), _mm256_permute2f128_ps(n[0], n[1], 0x31)); \
            __m256 b = _mm256_##op##_ps(_mm256_permute2f128_ps(n[2], n[3], 0x20), _mm256_permute2f128_ps(n[2], n[3], 0x31)); \
            __m256 d = _mm256_##op##_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));           \
            /* [n0 n2 n0 n2 | n1 n3 n1 n3] */                                                            \
            c[h] = _mm256_##op##_ps(d, _mm256_permute_ps(d, 0x4E));                                      \
        }                                                                                                \
        /* [m0 m2 m4 m6 | m1 m3 m5 m7] */                                                                \
        __m256 e = _mm256_blend_ps(c[0], c[1], 0xCC);                                                    \
        return _mm256_permutevar8x32_ps(e, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));                   \
    }
CK_REDUCE8(max)
CK_REDUCE8(min)

// 32 codes (four vectors of eight int32 in element order, each below 256) -> 32 bytes in element order.
CK_INLINE __m256i pack_bytes(const __m256i c[4]) {
    __m256i p = _mm256_packus_epi16(_mm256_packs_epi32(c[0], c[1]), _mm256_packs_epi32(c[2], c[3]));
    // The packs work within 128-bit lanes: dwords hold elements [0-3 8-11 16-19 24-27 | 4-7 12-15 20-23 28-31].
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// 32 codes of `bits` bits (bytes in element order) -> `bits` * 4 bytes of a little-endian bit stream: code i at
// bits [i*bits, (i+1)*bits).
CK_INLINE void store_codes(uint8_t *out, __m256i b, int bits) {
    switch (bits) {
    case 8:
        _mm256_storeu_si256((__m256i *)out, b);
        return;
    case 4: {
        // Pairs: c0 + 16 c1 in each 16-bit lane, then to bytes.
        __m256i m = _mm256_maddubs_epi16(b, _mm256_set1_epi16(0x1001));
        __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi16(m, m), 0x08);
        _mm_storeu_si128((__m128i *)out, _mm256_castsi256_si128(p));
        return;
    }
    case 2: {
        // Quads: (c0 + 4 c1) + 16 (c2 + 4 c3) in each 32-bit lane, then to bytes.
        __m256i m = _mm256_madd_epi16(_mm256_maddubs_epi16(b, _mm256_set1_epi16(0x0401)), _mm256_set1_epi32(0x00100001));
        __m256i p = _mm256_packus_epi16(_mm256_packus_epi32(m, m), m);
        // Bytes 0-3 of each 128-bit lane are the lane's four quads.
        uint32_t low = (uint32_t)_mm256_extract_epi32(p, 0), high = (uint32_t)_mm256_extract_epi32(p, 4);
        memcpy(out, &low, 4);
        memcpy(out + 4, &high, 4);
        return;
    }
    case 6: {
        // Quads: (c0 + 64 c1) + 4096 (c2 + 64 c3): 24 bits in each 32-bit lane; keep three bytes of each.
        __m256i m = _mm256_madd_epi16(_mm256_maddubs_epi16(b, _mm256_set1_epi16(0x4001)), _mm256_set1_epi32(0x10000001));
        const __m256i pick = _mm256_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1,
                                              0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);
        __m256i p = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(m, pick), _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7));
        _mm_storeu_si128((__m128i *)out, _mm256_castsi256_si128(p));
        _mm_storel_epi64((__m128i *)(out + 16), _mm256_extracti128_si256(p, 1));
        return;
    }
    case 3: {
        // Quads: (c0 + 8 c1) + 64 (c2 + 8 c3), 12 bits in each 32-bit lane; octets: quad + 4096 next quad,
        // 24 bits at the bottom of each 64-bit lane; keep three bytes of each.
        __m256i m = _mm256_madd_epi16(_mm256_maddubs_epi16(b, _mm256_set1_epi16(0x0801)), _mm256_set1_epi32(0x00400001));
        m = _mm256_or_si256(m, _mm256_srli_epi64(m, 20));
        const __m256i pick = _mm256_setr_epi8(0, 1, 2, 8, 9, 10, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                              0, 1, 2, 8, 9, 10, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
        __m256i p = _mm256_shuffle_epi8(m, pick);
        __m128i twelve = _mm_or_si128(_mm256_castsi256_si128(p), _mm_slli_si128(_mm256_extracti128_si256(p, 1), 6));
        _mm_storel_epi64((__m128i *)out, twelve);
        uint32_t last = (uint32_t)_mm_extract_epi32(twelve, 2);
        memcpy(out + 8, &last, 4);
        return;
    }
    default:
        return;
    }
}

// Eight consecutive groups of `gs` values: float32 scales and biases, and unless `words` is NULL the codes
// (gs * bits / 32 words per group). `probe` collects x - x of every value: NaN bits when one is NaN or +-inf.
CK_INLINE void eight_groups(const float *x, int gs, int bits, uint32_t *words, float *scales, float *biases,
                            __m256 *probe) {
    __m256 high[8], low[8];
    __m256 p = *probe;
    for (int g = 0; g < 8; g++) {
        const float *xg = x + (size_t)g * gs;
        __m256 v = _mm256_loadu_ps(xg);
        __m256 hi = v, lo = v;
        p = _mm256_or_ps(p, _mm256_sub_ps(v, v));
        for (int k = 8; k < gs; k += 8) {
            v = _mm256_loadu_ps(xg + k);
            hi = _mm256_max_ps(hi, v);
            lo = _mm256_min_ps(lo, v);
            p = _mm256_or_ps(p, _mm256_sub_ps(v, v));
        }
        high[g] = hi;
        low[g] = lo;
    }
    *probe = p;
    const __m256 max = reduce8_max(high), min = reduce8_min(low);
    const __m256 sign = _mm256_set1_ps(-0.0f), levels = _mm256_set1_ps((float)((1 << bits) - 1));
    __m256 scale = _mm256_max_ps(_mm256_div_ps(_mm256_sub_ps(max, min), levels), _mm256_set1_ps(1e-7f));
    const __m256 below = _mm256_cmp_ps(_mm256_andnot_ps(sign, min), _mm256_andnot_ps(sign, max), _CMP_GT_OQ);
    scale = _mm256_blendv_ps(_mm256_xor_ps(scale, sign), scale, below);
    const __m256 edge = _mm256_blendv_ps(max, min, below);
    const __m256 q0 = _mm256_round_ps(_mm256_div_ps(edge, scale), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 moved = _mm256_cmp_ps(q0, _mm256_setzero_ps(), _CMP_NEQ_UQ);
    scale = _mm256_blendv_ps(scale, _mm256_div_ps(edge, q0), moved);
    const __m256 bias = _mm256_and_ps(edge, moved);
    _mm256_storeu_ps(scales, scale);
    _mm256_storeu_ps(biases, bias);
    if (!words) return;
    for (int g = 0; g < 8; g++) {
        const float *xg = x + (size_t)g * gs;
        const __m256 s = _mm256_set1_ps(scales[g]), b = _mm256_set1_ps(biases[g]);
        uint8_t *out = (uint8_t *)(words + (size_t)g * gs * bits / 32);
        for (int k = 0; k < gs; k += 32) {
            __m256i c[4];
            for (int j = 0; j < 4; j++) {
                __m256 q = _mm256_div_ps(_mm256_sub_ps(_mm256_loadu_ps(xg + k + 8 * j), b), s);
                q = _mm256_round_ps(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                q = _mm256_min_ps(_mm256_max_ps(q, _mm256_setzero_ps()), levels);
                c[j] = _mm256_cvttps_epi32(q);
            }
            store_codes(out + (size_t)k * bits / 8, pack_bytes(c), bits);
        }
    }
}

// All groups: eight at a time, the last fewer than eight through a zero-padded copy.
CK_INLINE void all_groups(const float *x, size_t groups, int gs, int bits, uint32_t *words, float *scales,
                          float *biases, int *finite) {
    __m256 probe = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= groups; i += 8) {
        eight_groups(x + i * gs, gs, bits, words ? words + i * gs * bits / 32 : NULL, scales + i, biases + i, &probe);
    }
    if (i < groups) {
        const size_t rest = groups - i;
        float values[8 * 128] = {0}, scaleRest[8], biasRest[8];
        uint32_t codes[8 * 128 * 8 / 32];
        memcpy(values, x + i * gs, rest * gs * sizeof(float));
        eight_groups(values, gs, bits, words ? codes : NULL, scaleRest, biasRest, &probe);
        if (words) memcpy(words + i * gs * bits / 32, codes, rest * gs * bits / 8);
        memcpy(scales + i, scaleRest, rest * sizeof(float));
        memcpy(biases + i, biasRest, rest * sizeof(float));
    }
    if (!_mm256_testz_si256(_mm256_castps_si256(probe), _mm256_castps_si256(probe))) *finite = 0;
}

// Dequantization, w = scale * q + bias in float32 (a multiply, then an add: mlx's CPU float32 path). Eight codes
// at a time: they fill `bits` bytes; each lane takes the two bytes holding its code, shifts and masks.
CK_INLINE void dequantize_groups(const uint8_t *words, const float *scales, const float *biases, size_t groups, int gs,
                                 int bits, float *out) {
    // 32-bit lane k takes bytes k * bits / 8 and the next one of the eight codes' bytes, which both 128-bit lanes
    // hold (a byte index past them reads a copy of byte 0, masked off).
    int8_t pick[32];
    int32_t shift[8];
    for (int k = 0; k < 8; k++) {
        const int byte = k * bits / 8;
        pick[4 * k] = (int8_t)byte;
        pick[4 * k + 1] = (int8_t)(byte + 1);
        pick[4 * k + 2] = pick[4 * k + 3] = -1;
        shift[k] = k * bits % 8;
    }
    const __m256i select = _mm256_loadu_si256((const __m256i *)pick), shifts = _mm256_loadu_si256((const __m256i *)shift);
    const __m256i mask = _mm256_set1_epi32((1 << bits) - 1);
    for (size_t g = 0; g < groups; g++) {
        const __m256 s = _mm256_set1_ps(scales[g]), b = _mm256_set1_ps(biases[g]);
        const uint8_t *in = words + g * gs * bits / 8;
        float *o = out + g * gs;
        for (int j = 0; j < gs / 8; j++) {
            uint64_t eight = 0;
            memcpy(&eight, in + j * bits, bits);
            __m256i c = _mm256_shuffle_epi8(_mm256_set1_epi64x((long long)eight), select);
            c = _mm256_and_si256(_mm256_srlv_epi32(c, shifts), mask);
            _mm256_storeu_ps(o + 8 * j, _mm256_add_ps(_mm256_mul_ps(s, _mm256_cvtepi32_ps(c)), b));
        }
    }
}

// One specialisation per group size and width, so the loops above have constant bounds.
#define CK_MLX(gs, bits)                                                                                 \
    static CK_AVX2 void mlx_##gs##_##bits(const float *x, size_t groups, uint32_t *w, float *s, float *b, int *f) { \
        all_groups(x, groups, gs, bits, w, s, b, f);                                                    \
    }                                                                                                    \
    static CK_AVX2 void mlx_back_##gs##_##bits(const uint8_t *w, const float *s, const float *b, size_t n, float *o) { \
        dequantize_groups(w, s, b, n, gs, bits, o);                                                      \
    }
#define CK_MLX_WIDTHS(gs) CK_MLX(gs, 2) CK_MLX(gs, 3) CK_MLX(gs, 4) CK_MLX(gs, 6) CK_MLX(gs, 8)
CK_MLX_WIDTHS(32)
CK_MLX_WIDTHS(64)
CK_MLX_WIDTHS(128)

// The specialisations in (group size, width) order, and the index of one (-1 for none).
#define CK_VARIANTS(prefix)                                                                              \
    {prefix##32_2, prefix##32_3, prefix##32_4, prefix##32_6, prefix##32_8, prefix##64_2, prefix##64_3,  \
     prefix##64_4, prefix##64_6, prefix##64_8, prefix##128_2, prefix##128_3, prefix##128_4, prefix##128_6, \
     prefix##128_8}
static void (*const quantizers[15])(const float *, size_t, uint32_t *, float *, float *, int *) = CK_VARIANTS(mlx_);
static void (*const dequantizers[15])(const uint8_t *, const float *, const float *, size_t, float *) = CK_VARIANTS(mlx_back_);

static int variant(int group_size, int bits) {
    const int g = group_size == 32 ? 0 : group_size == 64 ? 1 : group_size == 128 ? 2 : -1;
    const int w = bits == 2 ? 0 : bits == 3 ? 1 : bits == 4 ? 2 : bits == 6 ? 3 : bits == 8 ? 4 : -1;
    return g < 0 || w < 0 || !ck_has_f16c() ? -1 : 5 * g + w;
}
#endif

size_t ck_quantize_mlx(const float *x, size_t groups, int group_size, int bits, uint32_t *words, float *scales,
                       float *biases, int *finite) {
#if defined(__x86_64__) || defined(__i386__)
    const int v = variant(group_size, bits);
    if (v >= 0) {
        quantizers[v](x, groups, words, scales, biases, finite);
        return groups;
    }
#else
    (void)x; (void)groups; (void)group_size; (void)bits; (void)words; (void)scales; (void)biases; (void)finite;
#endif
    return 0;
}

size_t ck_dequantize_mlx(const void *words, const float *scales, const float *biases, size_t groups, int group_size,
                         int bits, float *out) {
#if defined(__x86_64__) || defined(__i386__)
    const int v = variant(group_size, bits);
    if (v >= 0) {
        dequantizers[v]((const uint8_t *)words, scales, biases, groups, out);
        return groups;
    }
#else
    (void)words; (void)scales; (void)biases; (void)groups; (void)group_size; (void)bits; (void)out;
#endif
    return 0;
}
