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
//
// Each function is defined once for both lane widths W (16: f16 and bf16; 32: f32), T the unsigned type
// of a stored value, S the signed type the intrinsics take.
#define CK_MAGNITUDE(W, T) ((T) ~((T)1 << ((W) - 1)))

static void start(ck_value_stats *out, int first_is_nan) {
    memset(out, 0, sizeof *out);
    out->constant = !first_is_nan;
}

#define CK_STATS_PORTABLE(W, T)                                                                        \
    static void stats##W##_portable(const T *x, size_t n, T first, T inf, ck_value_stats *out) {        \
        const T mask = CK_MAGNITUDE(W, T), first_magnitude = first & mask;                              \
        for (size_t i = 0; i < n; i++) {                                                                \
            T b = x[i], m = b & mask;                                                                   \
            if (m > inf) out->nan++;                                                                    \
            else if (m == inf) out->infinite++;                                                         \
            else {                                                                                      \
                if (m > out->max_bits) out->max_bits = m;                                               \
                if (m == 0) out->zeros++;                                                               \
            }                                                                                           \
            if (!(b == first || (m == 0 && first_magnitude == 0))) out->constant = 0;                   \
        }                                                                                               \
    }
CK_STATS_PORTABLE(16, uint16_t)
CK_STATS_PORTABLE(32, uint32_t)

#ifdef CK_X86
// Counters are W-bit lanes decremented by comparison masks: flushed every `block` values, before any
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
static uint64_t sum32(__m256i counts) {
    uint32_t lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, counts);
    uint64_t total = 0;
    for (int k = 0; k < 8; k++) total += lanes[k];
    return total;
}

// Finite magnitudes stay below the infinity pattern, so they compare the same signed or unsigned.
#define CK_STATS_AVX(W, T, S, BLOCK)                                                                      \
    __attribute__((target("avx2")))                                                                       \
    static size_t stats##W##_avx(const T *x, size_t n, T first, T inf, ck_value_stats *out) {             \
        enum { lanes = 256 / (W) };                                                                       \
        const T mask = CK_MAGNITUDE(W, T);                                                                \
        const __m256i magnitude_mask = _mm256_set1_epi##W((S)mask), vinf = _mm256_set1_epi##W((S)inf);    \
        const __m256i zero = _mm256_setzero_si256(), vfirst = _mm256_set1_epi##W((S)first);               \
        const __m256i first_zero = (first & mask) == 0 ? _mm256_set1_epi##W(-1) : zero;                   \
        const size_t block = (BLOCK);                                                                     \
        __m256i vmax = zero, same = _mm256_set1_epi##W(-1);                                               \
        size_t i = 0, whole = n / lanes * lanes;                                                          \
        while (i < whole) {                                                                               \
            size_t end = whole - i > block ? i + block : whole;                                           \
            __m256i nans = zero, infinities = zero, zeros = zero;                                         \
            for (; i < end; i += lanes) {                                                                 \
                __m256i v = _mm256_loadu_si256((const __m256i *)(x + i));                                 \
                __m256i m = _mm256_and_si256(v, magnitude_mask);                                          \
                __m256i is_zero = _mm256_cmpeq_epi##W(m, zero);                                           \
                nans = _mm256_sub_epi##W(nans, _mm256_cmpgt_epi##W(m, vinf));                             \
                infinities = _mm256_sub_epi##W(infinities, _mm256_cmpeq_epi##W(m, vinf));                 \
                zeros = _mm256_sub_epi##W(zeros, is_zero);                                                \
                vmax = _mm256_max_epu##W(vmax, _mm256_and_si256(m, _mm256_cmpgt_epi##W(vinf, m)));        \
                same = _mm256_and_si256(same, _mm256_or_si256(_mm256_cmpeq_epi##W(v, vfirst),             \
                                                              _mm256_and_si256(is_zero, first_zero)));    \
            }                                                                                             \
            out->nan += sum##W(nans);                                                                     \
            out->infinite += sum##W(infinities);                                                          \
            out->zeros += sum##W(zeros);                                                                  \
        }                                                                                                 \
        T maxima[lanes];                                                                                  \
        _mm256_storeu_si256((__m256i *)maxima, vmax);                                                     \
        for (int k = 0; k < lanes; k++) if (maxima[k] > out->max_bits) out->max_bits = maxima[k];         \
        if (_mm256_movemask_epi8(same) != -1) out->constant = 0;                                          \
        return whole;                                                                                     \
    }
CK_STATS_AVX(16, uint16_t, short, (size_t)16 * 32000)
CK_STATS_AVX(32, uint32_t, int, (size_t)8 << 28)
#endif

#ifdef CK_X86
#define CK_FAST_PATH(W) if (!portable && ck_has_f16c()) done = stats##W##_avx(x, n, x[0], inf, out);
#else
#define CK_FAST_PATH(W) (void)portable;
#endif

#define CK_STATS(W, T)                                                                                  \
    static void stats##W(const T *x, size_t n, T inf, int portable, ck_value_stats *out) {              \
        start(out, n > 0 && (x[0] & CK_MAGNITUDE(W, T)) > inf);                                         \
        if (n == 0) return;                                                                             \
        size_t done = 0;                                                                                \
        CK_FAST_PATH(W)                                                                                 \
        stats##W##_portable(x + done, n - done, x[0], inf, out);                                        \
    }
CK_STATS(16, uint16_t)
CK_STATS(32, uint32_t)

void ck_value_stats_f16(const uint16_t *x, size_t n, ck_value_stats *out) { stats16(x, n, 0x7C00, 0, out); }
void ck_value_stats_bf16(const uint16_t *x, size_t n, ck_value_stats *out) { stats16(x, n, 0x7F80, 0, out); }
void ck_value_stats_f16_portable(const uint16_t *x, size_t n, ck_value_stats *out) { stats16(x, n, 0x7C00, 1, out); }
void ck_value_stats_bf16_portable(const uint16_t *x, size_t n, ck_value_stats *out) { stats16(x, n, 0x7F80, 1, out); }
void ck_value_stats_f32(const uint32_t *x, size_t n, ck_value_stats *out) { stats32(x, n, 0x7F800000u, 0, out); }
void ck_value_stats_f32_portable(const uint32_t *x, size_t n, ck_value_stats *out) { stats32(x, n, 0x7F800000u, 1, out); }
