#include <pthread.h>
#include <string.h>
#include "CConnkit.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <cpuid.h>
#define CK_X86 1
#endif

static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

// IEEE binary32 -> binary16, round to nearest even (bit manipulation; no FPU rounding mode involved).
static inline uint16_t f32_to_f16_one(float value) {
    uint32_t x = f32_bits(value);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t absx = x & 0x7FFFFFFFu;
    if (absx > 0x7F800000u) {  // NaN: quiet, keep top payload bits
        return (uint16_t)(sign | 0x7E00u | ((absx >> 13) & 0x3FFu));
    }
    if (absx >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u);  // rounds to >= 65520 -> inf
    if (absx < 0x38800000u) {  // below the smallest normal f16 (2^-14): subnormal or zero
        if (absx < 0x33000000u) return (uint16_t)sign;  // < 2^-25 rounds to zero (2^-25 itself: tie to even 0)
        uint32_t exp = absx >> 23;
        uint32_t mant = (absx & 0x7FFFFFu) | 0x800000u;
        uint32_t shift = 126u - exp;  // value = mant * 2^(exp-150); f16 subnormal unit 2^-24
        // result = round(mant >> (shift - 0)) with the unit: mant * 2^(exp-150) / 2^-24 = mant >> (126-exp)
        uint32_t q = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (q & 1u))) q += 1u;
        return (uint16_t)(sign | q);
    }
    // normal: rebias exponent (127 -> 15) and round the mantissa 23 -> 10 bits
    uint32_t r = absx - 0x38000000u;  // exponent - 112
    uint32_t q = r >> 13;
    uint32_t rem = r & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) q += 1u;
    return (uint16_t)(sign | q);
}

static inline float f16_to_f32_one(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t mant = h & 0x3FFu;
    if (exp == 0) {
        if (mant == 0) return bits_f32(sign);
        // subnormal: mant * 2^-24
        float v = (float)mant * 5.9604644775390625e-08f;
        return bits_f32(sign | f32_bits(v));
    }
    if (exp == 31) return bits_f32(sign | 0x7F800000u | (mant << 13));
    return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

static inline uint16_t f32_to_bf16_one(float value) {
    uint32_t u = f32_bits(value);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)(((u >> 16) & 0x8000u) | 0x7FC0u);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

void ck_f32_to_f16_portable(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = f32_to_f16_one(src[i]);
}
void ck_f16_to_f32_portable(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32_one(src[i]);
}
void ck_f32_to_bf16_portable(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = f32_to_bf16_one(src[i]);
}
void ck_bf16_to_f32_portable(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) { uint32_t u = (uint32_t)src[i] << 16; memcpy(dst + i, &u, 4); }
}

#ifdef CK_X86
static int detected = -1;
static int detect(void) {
    if (detected >= 0) return detected;
    unsigned a, b, c, d;
    int ok = 0;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        int f16c = (c >> 29) & 1, avx = (c >> 28) & 1, osxsave = (c >> 27) & 1;
        if (f16c && avx && osxsave) {
            unsigned lo, hi;
            __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
            if ((lo & 6u) == 6u && __get_cpuid_count(7, 0, &a, &b, &c, &d)) ok = (b >> 5) & 1;  // AVX2
        }
    }
    detected = ok;
    return ok;
}

__attribute__((target("avx2,f16c")))
static void f32_to_f16_avx(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = _mm256_loadu_ps(src + i), b = _mm256_loadu_ps(src + i + 8);
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(a, _MM_FROUND_TO_NEAREST_INT));
        _mm_storeu_si128((__m128i *)(dst + i + 8), _mm256_cvtps_ph(b, _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; i++) dst[i] = f32_to_f16_one(src[i]);
}

// vcvtph2ps sets the quiet bit of a signalling NaN; numpy (and `f16_to_f32_one`) keep every payload bit,
// so the quiet bit is put back to the input's bit 9 in NaN lanes.
__attribute__((target("avx2,f16c")))
static inline __m256 f16x8_to_f32(__m128i h) {
    __m256i wide = _mm256_cvtepu16_epi32(h);
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(wide, _mm256_set1_epi32(0x7FFF)), _mm256_set1_epi32(0x7C00));
    __m256i cleared = _mm256_andnot_si256(_mm256_slli_epi32(wide, 13), _mm256_set1_epi32(0x00400000));
    __m256i flip = _mm256_and_si256(nan, cleared);
    return _mm256_castsi256_ps(_mm256_xor_si256(_mm256_castps_si256(_mm256_cvtph_ps(h)), flip));
}

__attribute__((target("avx2,f16c")))
static void f16_to_f32_avx(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(src + i)), b = _mm_loadu_si128((const __m128i *)(src + i + 8));
        _mm256_storeu_ps(dst + i, f16x8_to_f32(a));
        _mm256_storeu_ps(dst + i + 8, f16x8_to_f32(b));
    }
    for (; i < n; i++) dst[i] = f16_to_f32_one(src[i]);
}

__attribute__((target("avx2")))
static void f32_to_bf16_avx(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    const __m256i absmask = _mm256_set1_epi32(0x7FFFFFFF), inf = _mm256_set1_epi32(0x7F800000);
    const __m256i bias = _mm256_set1_epi32(0x7FFF), one = _mm256_set1_epi32(1);
    const __m256i signmask = _mm256_set1_epi32((int)0x80000000u), qnan = _mm256_set1_epi32(0x7FC00000);
    for (; i + 16 <= n; i += 16) {
        __m256i r[2];
        for (int k = 0; k < 2; k++) {
            __m256i u = _mm256_loadu_si256((const __m256i *)(src + i + 8 * k));
            __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), one);
            __m256i rounded = _mm256_add_epi32(_mm256_add_epi32(u, bias), lsb);
            __m256i isnan = _mm256_cmpgt_epi32(_mm256_and_si256(u, absmask), inf);
            __m256i nanval = _mm256_or_si256(_mm256_and_si256(u, signmask), qnan);
            r[k] = _mm256_srli_epi32(_mm256_blendv_epi8(rounded, nanval, isnan), 16);
        }
        // pack 32-bit lanes (values < 65536) to 16 bits; packus works within 128-bit lanes, then fix order
        __m256i packed = _mm256_packus_epi32(r[0], r[1]);
        packed = _mm256_permute4x64_epi64(packed, 0xD8);
        _mm256_storeu_si256((__m256i *)(dst + i), packed);
    }
    for (; i < n; i++) dst[i] = f32_to_bf16_one(src[i]);
}

__attribute__((target("avx2")))
static void bf16_to_f32_avx(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_slli_epi32(w, 16));
    }
    ck_bf16_to_f32_portable(src + i, dst + i, n - i);
}
#endif

static float max_abs_finite_portable(const float *src, size_t n) {
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = f32_bits(src[i]) & 0x7FFFFFFFu;
        if (u < 0x7F800000u) { float a = bits_f32(u); if (a > m) m = a; }
    }
    return m;
}

#ifdef CK_X86
__attribute__((target("avx2")))
static float max_abs_finite_avx(const float *src, size_t n) {
    // Finite magnitudes compare correctly as integers; inf/NaN patterns are masked to zero.
    const __m256i absmask = _mm256_set1_epi32(0x7FFFFFFF), inf = _mm256_set1_epi32(0x7F800000);
    __m256i m = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(src + i)), absmask);
        __m256i finite = _mm256_cmpgt_epi32(inf, u);
        m = _mm256_max_epi32(m, _mm256_and_si256(u, finite));
    }
    uint32_t lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, m);
    uint32_t best = 0;
    for (int k = 0; k < 8; k++) if (lanes[k] > best) best = lanes[k];
    float tail = max_abs_finite_portable(src + i, n - i);
    float head = bits_f32(best);
    return head > tail ? head : tail;
}
#endif

// The implementations in use, chosen once: the AVX2/F16C kernels where the CPU has them.
static struct {
    void (*f32_to_f16)(const float *, uint16_t *, size_t);
    void (*f16_to_f32)(const uint16_t *, float *, size_t);
    void (*f32_to_bf16)(const float *, uint16_t *, size_t);
    void (*bf16_to_f32)(const uint16_t *, float *, size_t);
    float (*max_abs_finite)(const float *, size_t);
} casts = {ck_f32_to_f16_portable, ck_f16_to_f32_portable, ck_f32_to_bf16_portable, ck_bf16_to_f32_portable,
           max_abs_finite_portable};

static void choose(void) {
#ifdef CK_X86
    if (detect()) {
        casts.f32_to_f16 = f32_to_f16_avx;
        casts.f16_to_f32 = f16_to_f32_avx;
        casts.f32_to_bf16 = f32_to_bf16_avx;
        casts.bf16_to_f32 = bf16_to_f32_avx;
        casts.max_abs_finite = max_abs_finite_avx;
    }
#endif
}

static pthread_once_t chosen = PTHREAD_ONCE_INIT;

int ck_has_f16c(void) {
#ifdef CK_X86
    return detect();
#else
    return 0;
#endif
}

void ck_f32_to_f16(const float *src, uint16_t *dst, size_t n) { pthread_once(&chosen, choose); casts.f32_to_f16(src, dst, n); }
void ck_f16_to_f32(const uint16_t *src, float *dst, size_t n) { pthread_once(&chosen, choose); casts.f16_to_f32(src, dst, n); }
void ck_f32_to_bf16(const float *src, uint16_t *dst, size_t n) { pthread_once(&chosen, choose); casts.f32_to_bf16(src, dst, n); }
void ck_bf16_to_f32(const uint16_t *src, float *dst, size_t n) { pthread_once(&chosen, choose); casts.bf16_to_f32(src, dst, n); }
float ck_max_abs_finite_f32(const float *src, size_t n) { pthread_once(&chosen, choose); return casts.max_abs_finite(src, n); }
