// AVX2 kernels for ggml's k-quants (q2_k, q3_k, q4_k, q5_k, q6_k: super-blocks of 256 floats), byte-identical
// to ggml's quantize_row_q*_K_ref. The reference algorithms live in Swift (Sources/Quantization/GGML/
// KQuantSearch.swift, KQuantTypes.swift); the Swift kernel of KQuantSearchSIMD.swift runs them four groups
// at once, and these run the same float32 operations in the same order eight groups at once: a super-block's
// groups of 16 (32 for q4_k/q5_k) are transposed so that lane g of vector i holds element i of group g, each
// lane repeats its group's sequential sums, and branches become lane masks. A super-block whose search leaves
// the exact range of the vector shortcuts (a non-finite inverse scale) is left to the caller, which runs the
// Swift kernel on it. The input is finite (the caller scans it first).
#include <string.h>
#include "CConnkit.h"

// ggml's reference does a multiply then an add, each rounded: never fuse them.
#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CK_X86 1
#define CK_AVX2 __attribute__((target("avx2,f16c")))
#define KQ_INLINE static inline __attribute__((always_inline)) CK_AVX2

enum kquant_kind { KIND_Q2_K = 10, KIND_Q3_K = 11, KIND_Q4_K = 12, KIND_Q5_K = 13, KIND_Q6_K = 14 };

#include "kquant_search.h"

// ggml's nearest_int.
static inline int nearest_int(float f) {
    float v = f + 12582912.0f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007FFFFF) - 0x00400000;
}

static inline CK_AVX2 void store_f16(uint8_t *y, float f) {
    uint16_t h = _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
    memcpy(y, &h, 2);
}

static inline CK_AVX2 float load_f16(const uint8_t *y) {
    uint16_t h;
    memcpy(&h, y, 2);
    return _cvtsh_ss(h);
}

KQ_INLINE void transpose8(V r[8]) {
    V t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    V t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    V t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    V t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    V s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    V s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    V s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    V s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// Eight groups of n values (group g at x + n*g) -> t[i], lane g = element i of group g.
KQ_INLINE void transpose_in(const float *x, int n, V *t) {
    for (int h = 0; h < n; h += 8) {
        V r[8];
        for (int g = 0; g < 8; g++) r[g] = _mm256_loadu_ps(x + n * g + h);
        transpose8(r);
        for (int c = 0; c < 8; c++) t[h + c] = r[c];
    }
}

// The way back for integer-valued levels 0..255: levels[n*g + i] = lane g of t[i].
KQ_INLINE void levels_out(const V *t, int n, uint8_t *levels) {
    for (int h = 0; h < n; h += 8) {
        V r[8];
        for (int c = 0; c < 8; c++) r[c] = t[h + c];
        transpose8(r);
        for (int g = 0; g < 8; g++) {
            __m256i v = _mm256_cvtps_epi32(r[g]);
            __m128i p = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
            _mm_storel_epi64((__m128i *)(levels + n * g + h), _mm_packus_epi16(p, p));
        }
    }
}

// ---- The second step: ggml's requantization of each group with its encoded scale (per lane: d, and the
// offset added first for the asymmetric types), level = clamp(nearest_int((x + offset) / d), low, high) + bias;
// the search codes stand where d is 0.
KQ_INLINE void requantize(int n, const V *x, V *codes, const float *d, const float *offset, float low, float high, float bias) {
    V dv = _mm256_loadu_ps(d);
    V keep = _mm256_cmp_ps(dv, _mm256_setzero_ps(), _CMP_EQ_OQ);
    V off = offset ? _mm256_loadu_ps(offset) : _mm256_setzero_ps();
    for (int i = 0; i < n; i++) {
        V v = offset ? _mm256_add_ps(x[i], off) : x[i];
        V l = _mm256_add_ps(clamp(nearest_exact(_mm256_div_ps(v, dv)), low, high), splat(bias));
        codes[i] = pick(keep, codes[i], l);
    }
}

// The shared 2-bit packing of 256 levels (each < 4): element 128h + 32s + l in byte 32h + l at bit 2s.
KQ_INLINE void pack_2bit(const uint8_t *levels, uint8_t *qs) {
    const __m256i three = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        __m256i p = _mm256_setzero_si256();
        for (int s = 0; s < 4; s++) {
            __m256i v = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(levels + 128 * h + 32 * s)), three);
            p = _mm256_or_si256(p, _mm256_slli_epi16(v, 2 * s));
        }
        _mm256_storeu_si256((__m256i *)(qs + 32 * h), p);
    }
}

// ggml's scan for the signed value of largest magnitude (the first strictly larger |x|; NaN never is).
static inline float signed_abs_max(const float *x, int n, float *amaxOut) {
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++) {
        float a = __builtin_fabsf(x[j]);
        if (amax < a) { amax = a; max = x[j]; }
    }
    *amaxOut = amax;
    return max;
}

// ---- Each type's second step (the scalars in ggml's order, then the levels and their packing).

// q2_k: 4-bit scale and min codes in bytes 0..<16, d and dmin at 80 and 82, 2-bit levels at 16.
KQ_INLINE void finish_q2_k(const V *xt, V *codes, const float *scales, const float *mins, uint8_t *y) {
    float maxScale = 0, maxMin = 0;
    for (int j = 0; j < 16; j++) {
        if (scales[j] > maxScale) maxScale = scales[j];
        if (mins[j] > maxMin) maxMin = mins[j];
    }
    uint8_t sc[16] = {0};
    if (maxScale > 0) {
        float iscale = 15.0f / maxScale;
        for (int j = 0; j < 16; j++) sc[j] = (uint8_t)nearest_int(iscale * scales[j]);
    }
    store_f16(y + 80, maxScale > 0 ? maxScale / 15.0f : 0.0f);
    if (maxMin > 0) {
        float iscale = 15.0f / maxMin;
        for (int j = 0; j < 16; j++) sc[j] |= (uint8_t)(nearest_int(iscale * mins[j]) << 4);
    }
    store_f16(y + 82, maxMin > 0 ? maxMin / 15.0f : 0.0f);
    memcpy(y, sc, 16);
    float d = load_f16(y + 80), dmin = load_f16(y + 82), dl[16], offset[16];
    for (int j = 0; j < 16; j++) {
        dl[j] = d * (float)(sc[j] & 0xF);
        offset[j] = dmin * (float)(sc[j] >> 4);
    }
    uint8_t levels[256];
    for (int o = 0; o < 2; o++) {
        requantize(16, xt + 16 * o, codes + 16 * o, dl + 8 * o, offset + 8 * o, 0, 3, 0);
        levels_out(codes + 16 * o, 16, levels + 128 * o);
    }
    pack_2bit(levels, y + 16);
}

// q3_k: hmask (bit 2 of the levels) in bytes 0..<32, 2-bit levels at 32, 6-bit scale codes at 96, d at 108.
KQ_INLINE void finish_q3_k(const V *xt, V *codes, const float *scales, uint8_t *y) {
    float amax, max = signed_abs_max(scales, 16, &amax);
    uint8_t *packed = y + 96;
    int l[16] = {0};
    memset(packed, 0, 12);
    if (max != 0) {
        float iscale = -32.0f / max;
        for (int j = 0; j < 16; j++) {
            int8_t q = (int8_t)nearest_int(iscale * scales[j]);
            l[j] = (q < -32 ? -32 : q > 31 ? 31 : q) + 32;
            if (j < 8) packed[j] = (uint8_t)(l[j] & 0xF);
            else packed[j - 8] |= (uint8_t)((l[j] & 0xF) << 4);
            packed[8 + j % 4] |= (uint8_t)((l[j] >> 4) << (2 * (j / 4)));
        }
    }
    store_f16(y + 108, max != 0 ? 1.0f / (-32.0f / max) : 0.0f);
    float dAll = load_f16(y + 108), d[16];
    for (int j = 0; j < 16; j++) d[j] = dAll * (float)(l[j] - 32);
    uint8_t levels[256];
    for (int o = 0; o < 2; o++) {
        requantize(16, xt + 16 * o, codes + 16 * o, d + 8 * o, NULL, -4, 3, 4);
        levels_out(codes + 16 * o, 16, levels + 128 * o);
    }
    // Bit 2 of level 32k + m goes to bit k of hmask[m].
    __m256i hmask = _mm256_setzero_si256();
    for (int k = 0; k < 8; k++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(levels + 32 * k));
        hmask = _mm256_or_si256(hmask, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 2), _mm256_set1_epi8(1)), k));
    }
    _mm256_storeu_si256((__m256i *)y, hmask);
    pack_2bit(levels, y + 32);
}

// q4_k / q5_k: d and dmin at 0 and 2, 6-bit scale and min codes at 4 (get_scale_min_k4's layout), [qh at 16,]
// low nibbles at 16 (q4_k) or 48 (q5_k).
KQ_INLINE void finish_q45_k(int bits, const V *xt, V *codes, const float *scales, const float *mins, uint8_t *y) {
    float maxScale = 0, maxMin = 0;
    for (int j = 0; j < 8; j++) {
        if (scales[j] > maxScale) maxScale = scales[j];
        if (mins[j] > maxMin) maxMin = mins[j];
    }
    float invScale = maxScale > 0 ? 63.0f / maxScale : 0.0f, invMin = maxMin > 0 ? 63.0f / maxMin : 0.0f;
    uint8_t ls[8], lm[8], *q = y + 4;
    for (int j = 0; j < 8; j++) {
        ls[j] = (uint8_t)nearest_int(invScale * scales[j]);
        lm[j] = (uint8_t)nearest_int(invMin * mins[j]);
        if (ls[j] > 63) ls[j] = 63;
        if (lm[j] > 63) lm[j] = 63;
        if (j < 4) {
            q[j] = ls[j];
            q[j + 4] = lm[j];
        } else {
            q[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            q[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            q[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
    store_f16(y, maxScale / 63.0f);
    store_f16(y + 2, maxMin / 63.0f);
    float d = load_f16(y), dmin = load_f16(y + 2), dl[8], offset[8];
    for (int j = 0; j < 8; j++) {
        dl[j] = d * (float)ls[j];
        offset[j] = dmin * (float)lm[j];
    }
    uint8_t levels[256];
    requantize(32, xt, codes, dl, offset, 0, (float)((1 << bits) - 1), 0);
    levels_out(codes, 32, levels);
    const __m256i low = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    __m256i qh = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(levels + 64 * c));
        __m256i b = _mm256_loadu_si256((const __m256i *)(levels + 64 * c + 32));
        __m256i nibbles = _mm256_or_si256(_mm256_and_si256(a, low), _mm256_slli_epi16(_mm256_and_si256(b, low), 4));
        _mm256_storeu_si256((__m256i *)(y + (bits == 4 ? 16 : 48) + 32 * c), nibbles);
        if (bits == 5) {
            qh = _mm256_or_si256(qh, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(a, 4), one), 2 * c));
            qh = _mm256_or_si256(qh, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(b, 4), one), 2 * c + 1));
        }
    }
    if (bits == 5) _mm256_storeu_si256((__m256i *)(y + 16), qh);
}

// q6_k: ql (low nibbles) in bytes 0..<128, qh (high 2 bits) at 128, int8 scale codes at 192, d at 208; an
// all-zero block when every group is (below GROUP_MAX_EPS).
KQ_INLINE void finish_q6_k(const V *xt, V *codes, const float *scales, uint8_t *y) {
    float amax, max = signed_abs_max(scales, 16, &amax);
    if (amax < 1e-15f) {
        memset(y, 0, 210);
        return;
    }
    float iscale = -128.0f / max;
    store_f16(y + 208, 1.0f / iscale);
    for (int j = 0; j < 16; j++) {
        int q = nearest_int(iscale * scales[j]);
        y[192 + j] = (uint8_t)(int8_t)(q < 127 ? q : 127);
    }
    float dAll = load_f16(y + 208), d[16];
    for (int j = 0; j < 16; j++) d[j] = dAll * (float)(int8_t)y[192 + j];
    uint8_t levels[256];
    for (int o = 0; o < 2; o++) {
        requantize(16, xt + 16 * o, codes + 16 * o, d + 8 * o, NULL, -32, 31, 32);
        levels_out(codes + 16 * o, 16, levels + 128 * o);
    }
    const __m256i low = _mm256_set1_epi8(15), three = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        __m256i v[4], high = _mm256_setzero_si256();
        for (int s = 0; s < 4; s++) {
            v[s] = _mm256_loadu_si256((const __m256i *)(levels + 128 * h + 32 * s));
            high = _mm256_or_si256(high, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(v[s], 4), three), 2 * s));
        }
        for (int s = 0; s < 2; s++) {
            __m256i ql = _mm256_or_si256(_mm256_and_si256(v[s], low), _mm256_slli_epi16(_mm256_and_si256(v[s + 2], low), 4));
            _mm256_storeu_si256((__m256i *)(y + 64 * h + 32 * s), ql);
        }
        _mm256_storeu_si256((__m256i *)(y + 128 + 32 * h), high);
    }
}

// ---- `supers` (1 to 4) consecutive super-blocks: transpose, search, finish. Returns 0 (nothing written) when
// the search needs the exact scalar path.
KQ_INLINE int kquant_block(enum kquant_kind kind, int supers, const float *x, uint8_t *y, size_t bytes) {
    const int asym45 = kind == KIND_Q4_K || kind == KIND_Q5_K;
    const int n = asym45 ? 32 : 16, octets = supers * (asym45 ? 1 : 2), values = n * octets;
    V xt[128], w[128], codes[128], scale[8], negMin[8];
    // The next super-blocks' values, while this one searches (prefetches never fault past the end).
    for (int c = 0; c < 16 * supers; c++) _mm_prefetch((const char *)(x + 256 * supers) + 64 * c, _MM_HINT_T0);
    for (int o = 0; o < octets; o++) transpose_in(x + 8 * n * o, n, xt + n * o);
    int ok;
    if (kind == KIND_Q3_K) {
        ok = search_q3(octets, 4, xt, codes, scale);
    } else if (kind == KIND_Q6_K) {
        ok = search_qx(octets, 32, xt, codes, scale);
    } else if (kind == KIND_Q2_K) {
        for (int k = 0; k < values; k++) w[k] = magnitude(xt[k]);
        ok = search_qkx2(octets, 16, 3, xt, w, codes, scale, negMin, -0.5f, 15, 1);
    } else {
        // weights av_x + |x|, av_x = sqrtf(sum x^2 / 32)
        for (int o = 0; o < octets; o++) {
            V sumX2 = _mm256_setzero_ps();
            for (int i = 0; i < 32; i++) sumX2 = _mm256_add_ps(sumX2, _mm256_mul_ps(xt[32 * o + i], xt[32 * o + i]));
            V avX = _mm256_sqrt_ps(_mm256_div_ps(sumX2, splat(32.0f)));
            for (int i = 0; i < 32; i++) w[32 * o + i] = _mm256_add_ps(avX, magnitude(xt[32 * o + i]));
        }
        ok = kind == KIND_Q4_K ? search_qkx2(octets, 32, 15, xt, w, codes, scale, negMin, -1.0f, 20, 0)
                               : search_qkx2(octets, 32, 31, xt, w, codes, scale, negMin, -0.5f, 15, 0);
    }
    if (!ok) return 0;
    float scales[64], mins[64];
    for (int o = 0; o < octets; o++) {
        _mm256_storeu_ps(scales + 8 * o, scale[o]);
        if (kind != KIND_Q3_K && kind != KIND_Q6_K) _mm256_storeu_ps(mins + 8 * o, negMin[o]);
    }
    for (int b = 0; b < supers; b++) {
        const V *xb = xt + 32 * b;
        V *cb = codes + 32 * b;
        const float *sb = scales + 16 * b, *mb = mins + 16 * b;
        uint8_t *yb = y + bytes * b;
        switch (kind) {
        case KIND_Q2_K: finish_q2_k(xb, cb, sb, mb, yb); break;
        case KIND_Q3_K: finish_q3_k(xb, cb, sb, yb); break;
        case KIND_Q4_K: finish_q45_k(4, xb, cb, sb, mb, yb); break;
        case KIND_Q5_K: finish_q45_k(5, xb, cb, sb, mb, yb); break;
        case KIND_Q6_K: finish_q6_k(xb, cb, sb, yb); break;
        }
    }
    return 1;
}

static inline size_t kquant_bytes(enum kquant_kind kind) {
    switch (kind) {
    case KIND_Q2_K: return 84;
    case KIND_Q3_K: return 110;
    case KIND_Q4_K: return 144;
    case KIND_Q5_K: return 176;
    default: return 210;
    }
}

KQ_INLINE size_t kquant_blocks(enum kquant_kind kind, const float *x, uint8_t *y, size_t blocks) {
    // q3_k's search is a chain of dependent steps per group: four super-blocks side by side keep the core
    // busy (when one of them needs the scalar path, they go one by one up to it).
    const size_t bytes = kquant_bytes(kind), side = kind == KIND_Q3_K ? 4 : 1;
    size_t i = 0;
    while (i < blocks) {
        if (i + side <= blocks && kquant_block(kind, (int)side, x + 256 * i, y + bytes * i, bytes)) {
            i += side;
            continue;
        }
        if (side == 1) return i;
        for (size_t end = i + side < blocks ? i + side : blocks; i < end; i++) {
            if (!kquant_block(kind, 1, x + 256 * i, y + bytes * i, bytes)) return i;
        }
    }
    return i;
}

CK_AVX2 static size_t q2_k_avx2(const float *x, uint8_t *y, size_t n) { return kquant_blocks(KIND_Q2_K, x, y, n); }
CK_AVX2 static size_t q3_k_avx2(const float *x, uint8_t *y, size_t n) { return kquant_blocks(KIND_Q3_K, x, y, n); }
CK_AVX2 static size_t q4_k_avx2(const float *x, uint8_t *y, size_t n) { return kquant_blocks(KIND_Q4_K, x, y, n); }
CK_AVX2 static size_t q5_k_avx2(const float *x, uint8_t *y, size_t n) { return kquant_blocks(KIND_Q5_K, x, y, n); }
CK_AVX2 static size_t q6_k_avx2(const float *x, uint8_t *y, size_t n) { return kquant_blocks(KIND_Q6_K, x, y, n); }
#endif

size_t ck_quantize_kquant(uint32_t ggml_type, const float *x, uint8_t *y, size_t blocks) {
#ifdef CK_X86
    if (ck_has_f16c()) {
        switch (ggml_type) {
        case KIND_Q2_K: return q2_k_avx2(x, y, blocks);
        case KIND_Q3_K: return q3_k_avx2(x, y, blocks);
        case KIND_Q4_K: return q4_k_avx2(x, y, blocks);
        case KIND_Q5_K: return q5_k_avx2(x, y, blocks);
        case KIND_Q6_K: return q6_k_avx2(x, y, blocks);
        default: break;
        }
    }
#else
    (void)ggml_type; (void)x; (void)y; (void)blocks;
#endif
    return 0;
}
