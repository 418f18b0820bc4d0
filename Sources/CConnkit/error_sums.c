// Sums behind the quantization report: for original values a and values read back b, in double
// precision, sum (a-b)^2, sum a^2, sum b^2, sum a*b and max |a-b|. Element i goes to partial sum i % 8
// (in element order within it) and the eight partials are combined in a fixed order, so the AVX path
// and the portable one give the same bits, whatever the CPU.
#include <math.h>
#include "CConnkit.h"

#pragma STDC FP_CONTRACT OFF

enum { LANES = 8 };

static inline double combine(const double p[LANES]) {
    return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

// Adds elements [from, n) to the lane partials (element i to lane i % 8) and writes the results.
static void finish(const float *a, const float *b, size_t from, size_t n, double sse[LANES], double ssa[LANES],
                   double ssb[LANES], double dot[LANES], double max, int nan, double out[5]) {
    for (size_t i = from; i < n; i++) {
        double x = a[i], y = b[i], e = x - y;
        size_t k = i % LANES;
        sse[k] += e * e;
        ssa[k] += x * x;
        ssb[k] += y * y;
        dot[k] += x * y;
        double m = fabs(e);
        if (m != m) nan = 1;
        else if (m > max) max = m;
    }
    out[0] = combine(sse);
    out[1] = combine(ssa);
    out[2] = combine(ssb);
    out[3] = combine(dot);
    out[4] = nan ? NAN : max;
}

void ck_error_sums_portable(const float *a, const float *b, size_t n, double out[5]) {
    double sse[LANES] = {0}, ssa[LANES] = {0}, ssb[LANES] = {0}, dot[LANES] = {0};
    finish(a, b, 0, n, sse, ssa, ssb, dot, 0, 0, out);
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

__attribute__((target("avx2")))
static void error_sums_avx2(const float *a, const float *b, size_t n, double out[5]) {
    __m256d sse[2], ssa[2], ssb[2], dot[2], max[2], nan[2];
    const __m256d absMask = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7FFFFFFFFFFFFFFFLL));
    for (int h = 0; h < 2; h++) {
        sse[h] = ssa[h] = ssb[h] = dot[h] = max[h] = nan[h] = _mm256_setzero_pd();
    }
    size_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        for (int h = 0; h < 2; h++) {
            __m256d x = _mm256_cvtps_pd(_mm_loadu_ps(a + i + 4 * h));
            __m256d y = _mm256_cvtps_pd(_mm_loadu_ps(b + i + 4 * h));
            __m256d e = _mm256_sub_pd(x, y);
            sse[h] = _mm256_add_pd(sse[h], _mm256_mul_pd(e, e));
            ssa[h] = _mm256_add_pd(ssa[h], _mm256_mul_pd(x, x));
            ssb[h] = _mm256_add_pd(ssb[h], _mm256_mul_pd(y, y));
            dot[h] = _mm256_add_pd(dot[h], _mm256_mul_pd(x, y));
            __m256d m = _mm256_and_pd(e, absMask);
            nan[h] = _mm256_or_pd(nan[h], _mm256_cmp_pd(m, m, _CMP_UNORD_Q));
            max[h] = _mm256_max_pd(max[h], m);  // a NaN can disturb a lane's maximum: `nan` records it and wins
        }
    }
    double s[4][LANES], m[LANES], q[LANES];
    for (int h = 0; h < 2; h++) {
        _mm256_storeu_pd(s[0] + 4 * h, sse[h]);
        _mm256_storeu_pd(s[1] + 4 * h, ssa[h]);
        _mm256_storeu_pd(s[2] + 4 * h, ssb[h]);
        _mm256_storeu_pd(s[3] + 4 * h, dot[h]);
        _mm256_storeu_pd(m + 4 * h, max[h]);
        _mm256_storeu_pd(q + 4 * h, nan[h]);
    }
    double largest = 0;
    int sawNaN = 0;
    for (int k = 0; k < LANES; k++) {
        if (m[k] > largest) largest = m[k];
        if (q[k] != 0) sawNaN = 1;
    }
    finish(a, b, i, n, s[0], s[1], s[2], s[3], largest, sawNaN, out);
}
#endif

void ck_error_sums(const float *a, const float *b, size_t n, double out[5]) {
#if defined(__x86_64__) || defined(__i386__)
    if (ck_has_f16c()) { error_sums_avx2(a, b, n, out); return; }
#endif
    ck_error_sums_portable(a, b, n, out);
}
