#include <string.h>
#include "CConnkit.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CK_X86 1
#endif

// Statistics read straight from the stored bits of f32, f16 or bf16 values. A value's magnitude is its
// bits without the sign; with `inf` the format's infinity pattern, a magnitude above it is a NaN, equal
// to it an infinity, zero a zero; finite magnitudes order as unsigned integers. Two values are equal as
// floats when their bits are equal (a NaN excepted) or both are zeros of either sign.

static void stats16_portable(const uint16_t *x, size_t n, uint16_t first, uint16_t inf, ck_value_stats *out) {
    uint16_t first_magnitude = first & 0x7FFF;
    for (size_t i = 0; i < n; i++) {
        uint16_t b = x[i], m = b & 0x7FFF;
        if (m > inf) out->nan++;
        else if (m == inf) out->infinite++;
        else {
            if (m > out->max_bits) out->max_bits = m;
            if (m == 0) out->zeros++;
        }
        if (!(b == first || (m == 0 && first_magnitude == 0))) out->constant = 0;
    }
}

static void stats32_portable(const uint32_t *x, size_t n, uint32_t first, ck_value_stats *out) {
    const uint32_t inf = 0x7F800000u;
    uint32_t first_magnitude = first & 0x7FFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        uint32_t b = x[i], m = b & 0x7FFFFFFFu;
        if (m > inf) out->nan++;
        else if (m == inf) out->infinite++;
        else {
            if (m > out->max_bits) out->max_bits = m;
            if (m == 0) out->zeros++;
        }
        if (!(b == first || (m == 0 && first_magnitude == 0))) out->constant = 0;
    }
}

#ifdef CK_X86
// Counters are 16-bit lanes decremented by comparison masks: flushed every `block` vectors, before any
// lane can overflow.
__attribute__((target("avx2")))
static uint64_t sum16(__m256i counts) {
    __m256i pairs = _mm256_madd_epi16(counts, _mm256_set1_epi16(1));
    uint32_t lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, pairs);
    uint64_t total = 0;
    for (int k = 0; k < 8; k++) total += lanes[k];
    return total;
}

__attribute__((target("avx2")))
static size_t stats16_avx(const uint16_t *x, size_t n, uint16_t first, uint16_t inf, ck_value_stats *out) {
    const __m256i magnitude_mask = _mm256_set1_epi16(0x7FFF), vinf = _mm256_set1_epi16((short)inf);
    const __m256i zero = _mm256_setzero_si256(), vfirst = _mm256_set1_epi16((short)first);
    const __m256i first_zero = (first & 0x7FFF) == 0 ? _mm256_set1_epi16(-1) : zero;
    const size_t block = 16 * 32000;
    __m256i vmax = zero, same = _mm256_set1_epi16(-1);
    size_t i = 0, whole = n / 16 * 16;
    while (i < whole) {
        size_t end = whole - i > block ? i + block : whole;
        __m256i nans = zero, infinities = zero, zeros = zero;
        for (; i < end; i += 16) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(x + i));
            __m256i m = _mm256_and_si256(v, magnitude_mask);
            __m256i is_zero = _mm256_cmpeq_epi16(m, zero);
            nans = _mm256_sub_epi16(nans, _mm256_cmpgt_epi16(m, vinf));
            infinities = _mm256_sub_epi16(infinities, _mm256_cmpeq_epi16(m, vinf));
            zeros = _mm256_sub_epi16(zeros, is_zero);
            vmax = _mm256_max_epu16(vmax, _mm256_and_si256(m, _mm256_cmpgt_epi16(vinf, m)));
            same = _mm256_and_si256(same, _mm256_or_si256(_mm256_cmpeq_epi16(v, vfirst), _mm256_and_si256(is_zero, first_zero)));
        }
        out->nan += sum16(nans);
        out->infinite += sum16(infinities);
        out->zeros += sum16(zeros);
    }
    uint16_t lanes[16];
    _mm256_storeu_si256((__m256i *)lanes, vmax);
    for (int k = 0; k < 16; k++) if (lanes[k] > out->max_bits) out->max_bits = lanes[k];
    if (_mm256_movemask_epi8(same) != -1) out->constant = 0;
    return whole;
}

__attribute__((target("avx2")))
static uint64_t sum32(__m256i counts) {
    uint32_t lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, counts);
    uint64_t total = 0;
    for (int k = 0; k < 8; k++) total += lanes[k];
    return total;
}

__attribute__((target("avx2")))
static size_t stats32_avx(const uint32_t *x, size_t n, uint32_t first, ck_value_stats *out) {
    const __m256i magnitude_mask = _mm256_set1_epi32(0x7FFFFFFF), vinf = _mm256_set1_epi32(0x7F800000);
    const __m256i zero = _mm256_setzero_si256(), vfirst = _mm256_set1_epi32((int)first);
    const __m256i first_zero = (first & 0x7FFFFFFFu) == 0 ? _mm256_set1_epi32(-1) : zero;
    const size_t block = (size_t)8 << 28;
    __m256i vmax = zero, same = _mm256_set1_epi32(-1);
    size_t i = 0, whole = n / 8 * 8;
    while (i < whole) {
        size_t end = whole - i > block ? i + block : whole;
        __m256i nans = zero, infinities = zero, zeros = zero;
        for (; i < end; i += 8) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(x + i));
            __m256i m = _mm256_and_si256(v, magnitude_mask);
            __m256i is_zero = _mm256_cmpeq_epi32(m, zero);
            nans = _mm256_sub_epi32(nans, _mm256_cmpgt_epi32(m, vinf));
            infinities = _mm256_sub_epi32(infinities, _mm256_cmpeq_epi32(m, vinf));
            zeros = _mm256_sub_epi32(zeros, is_zero);
            vmax = _mm256_max_epi32(vmax, _mm256_and_si256(m, _mm256_cmpgt_epi32(vinf, m)));
            same = _mm256_and_si256(same, _mm256_or_si256(_mm256_cmpeq_epi32(v, vfirst), _mm256_and_si256(is_zero, first_zero)));
        }
        out->nan += sum32(nans);
        out->infinite += sum32(infinities);
        out->zeros += sum32(zeros);
    }
    uint32_t lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, vmax);
    for (int k = 0; k < 8; k++) if (lanes[k] > out->max_bits) out->max_bits = lanes[k];
    if (_mm256_movemask_epi8(same) != -1) out->constant = 0;
    return whole;
}
#endif

static void start(ck_value_stats *out, int first_is_nan) {
    memset(out, 0, sizeof *out);
    out->constant = !first_is_nan;
}

static void stats16(const uint16_t *x, size_t n, uint16_t inf, int portable, ck_value_stats *out) {
    start(out, n > 0 && (x[0] & 0x7FFF) > inf);
    if (n == 0) return;
    size_t done = 0;
#ifdef CK_X86
    if (!portable && ck_has_f16c()) done = stats16_avx(x, n, x[0], inf, out);
#else
    (void)portable;
#endif
    stats16_portable(x + done, n - done, x[0], inf, out);
}

void ck_value_stats_f16(const uint16_t *x, size_t n, ck_value_stats *out) { stats16(x, n, 0x7C00, 0, out); }
void ck_value_stats_bf16(const uint16_t *x, size_t n, ck_value_stats *out) { stats16(x, n, 0x7F80, 0, out); }
void ck_value_stats_f16_portable(const uint16_t *x, size_t n, ck_value_stats *out) { stats16(x, n, 0x7C00, 1, out); }
void ck_value_stats_bf16_portable(const uint16_t *x, size_t n, ck_value_stats *out) { stats16(x, n, 0x7F80, 1, out); }

static void stats32(const uint32_t *x, size_t n, int portable, ck_value_stats *out) {
    start(out, n > 0 && (x[0] & 0x7FFFFFFFu) > 0x7F800000u);
    if (n == 0) return;
    size_t done = 0;
#ifdef CK_X86
    if (!portable && ck_has_f16c()) done = stats32_avx(x, n, x[0], out);
#else
    (void)portable;
#endif
    stats32_portable(x + done, n - done, x[0], out);
}

void ck_value_stats_f32(const uint32_t *x, size_t n, ck_value_stats *out) { stats32(x, n, 0, out); }
void ck_value_stats_f32_portable(const uint32_t *x, size_t n, ck_value_stats *out) { stats32(x, n, 1, out); }
