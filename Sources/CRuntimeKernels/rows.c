// Row-wise kernels of the connector runtime: softmax, LayerNorm, RMSNorm, statistics (see CRuntimeKernels.h).

#include "internal.h"

// MARK: - softmax

// Lane sums combined as ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).
static inline float combine8f(const float l[8]) { return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7])); }
static inline double combine8d(const double l[8]) { return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7])); }
static inline float max8(const float l[8]) {
    return max_like(max_like(max_like(l[0], l[4]), max_like(l[2], l[6])), max_like(max_like(l[1], l[5]), max_like(l[3], l[7])));
}

static void softmax_row_portable(float *x, size_t n) {
    if (n == 0) return;
    float m[8];
    for (int k = 0; k < 8; k++) m[k] = -INFINITY;
    for (size_t i = 0; i < n; i++) m[i % 8] = max_like(m[i % 8], x[i]);
    float mx = max8(m);
    float s[8] = {0};
    for (size_t i = 0; i < n; i++) {
        x[i] = exp_s(x[i] - mx);
        s[i % 8] += x[i];
    }
    float scale = 1.0f / combine8f(s);
    for (size_t i = 0; i < n; i++) x[i] *= scale;
}

#if CKR_X86
AVX static void softmax_row_avx(float *x, size_t n) {
    if (n == 0) return;
    size_t full = n / 8 * 8;
    __m256 mv = _mm256_set1_ps(-INFINITY);
    for (size_t i = 0; i < full; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
    float m[8];
    _mm256_storeu_ps(m, mv);
    for (size_t i = full; i < n; i++) m[i % 8] = max_like(m[i % 8], x[i]);
    float mx = max8(m);
    __m256 mxv = _mm256_set1_ps(mx);
    __m256 sv = _mm256_setzero_ps();
    for (size_t i = 0; i < full; i += 8) {
        __m256 e = exp_v(_mm256_sub_ps(_mm256_loadu_ps(x + i), mxv));
        _mm256_storeu_ps(x + i, e);
        sv = _mm256_add_ps(sv, e);
    }
    float s[8];
    _mm256_storeu_ps(s, sv);
    for (size_t i = full; i < n; i++) {
        x[i] = exp_s(x[i] - mx);
        s[i % 8] += x[i];
    }
    float scale = 1.0f / combine8f(s);
    __m256 scv = _mm256_set1_ps(scale);
    for (size_t i = 0; i < full; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), scv));
    for (size_t i = full; i < n; i++) x[i] *= scale;
}
#endif

void ckr_softmax_rows(float *x, size_t rows, size_t cols, size_t stride) {
    for (size_t r = 0; r < rows; r++) {
#if CKR_X86
        if (use_vector()) { softmax_row_avx(x + r * stride, cols); continue; }
#endif
        softmax_row_portable(x + r * stride, cols);
    }
}

// MARK: - norms

// Lane k accumulates elements i with i % 8 == k: (sum x) or (sum (x - mean)^2) or (sum x^2), in double.
static void sums_portable(const float *x, size_t n, double mean, int mode, double lanes[8]) {
    for (int k = 0; k < 8; k++) lanes[k] = 0;
    for (size_t i = 0; i < n; i++) {
        double v = (double)x[i];
        if (mode == 0) lanes[i % 8] += v;
        else {
            double d = mode == 1 ? v - mean : v;
            lanes[i % 8] = fma(d, d, lanes[i % 8]);
        }
    }
}

#if CKR_X86
AVX static void sums_avx(const float *x, size_t n, double mean, int mode, double lanes[8]) {
    size_t full = n / 8 * 8;
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    __m256d mv = _mm256_set1_pd(mean);
    for (size_t i = 0; i < full; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256d a = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
        __m256d b = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        if (mode == 0) {
            lo = _mm256_add_pd(lo, a);
            hi = _mm256_add_pd(hi, b);
        } else {
            if (mode == 1) {
                a = _mm256_sub_pd(a, mv);
                b = _mm256_sub_pd(b, mv);
            }
            lo = _mm256_fmadd_pd(a, a, lo);
            hi = _mm256_fmadd_pd(b, b, hi);
        }
    }
    _mm256_storeu_pd(lanes, lo);
    _mm256_storeu_pd(lanes + 4, hi);
    for (size_t i = full; i < n; i++) {
        double v = (double)x[i];
        if (mode == 0) lanes[i % 8] += v;
        else {
            double d = mode == 1 ? v - mean : v;
            lanes[i % 8] = fma(d, d, lanes[i % 8]);
        }
    }
}

AVX static void affine_avx(const float *x, float *y, size_t n, float shift, float scale, const float *w, const float *b) {
    size_t i = 0;
    __m256 sh = _mm256_set1_ps(shift), sc = _mm256_set1_ps(scale);
    for (; i + 8 <= n; i += 8) {
        __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), sh), sc);
        __m256 out = b ? _mm256_fmadd_ps(t, _mm256_loadu_ps(w + i), _mm256_loadu_ps(b + i)) : _mm256_mul_ps(_mm256_loadu_ps(w + i), t);
        _mm256_storeu_ps(y + i, out);
    }
    for (; i < n; i++) {
        float t = (x[i] - shift) * scale;
        y[i] = b ? fmaf(t, w[i], b[i]) : w[i] * t;
    }
}
#endif

static void sums(const float *x, size_t n, double mean, int mode, double lanes[8]) {
#if CKR_X86
    if (use_vector()) { sums_avx(x, n, mean, mode, lanes); return; }
#endif
    sums_portable(x, n, mean, mode, lanes);
}

// y = ((x - shift) * scale) * w + b, or w * ((x - shift) * scale) without b (RMSNorm, shift 0).
static void affine(const float *x, float *y, size_t n, float shift, float scale, const float *w, const float *b) {
#if CKR_X86
    if (use_vector()) { affine_avx(x, y, n, shift, scale, w, b); return; }
#endif
    for (size_t i = 0; i < n; i++) {
        float t = (x[i] - shift) * scale;
        y[i] = b ? fmaf(t, w[i], b[i]) : w[i] * t;
    }
}

void ckr_layer_norm(const float *x, float *y, size_t rows, size_t cols, const float *w, const float *b, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * cols;
        double lanes[8];
        sums(row, cols, 0, 0, lanes);
        double mean = combine8d(lanes) / (double)cols;
        sums(row, cols, mean, 1, lanes);
        double var = combine8d(lanes) / (double)cols;
        float scale = (float)(1.0 / sqrt(var + (double)eps));
        affine(row, y + r * cols, cols, (float)mean, scale, w, b);
    }
}

void ckr_rms_norm(const float *x, float *y, size_t rows, size_t cols, const float *w, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * cols;
        double lanes[8];
        sums(row, cols, 0, 2, lanes);
        double ms = combine8d(lanes) / (double)cols;
        float scale = (float)(1.0 / sqrt(ms + (double)eps));
        affine(row, y + r * cols, cols, 0.0f, scale, w, NULL);
    }
}

// MARK: - statistics

size_t ckr_stats(const float *x, size_t n, double out[3]) {
    double s[8] = {0}, q[8] = {0};
    float mx = 0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        if (!isfinite(v)) {
            bad++;
            continue;
        }
        double d = (double)v;
        s[i % 8] += d;
        q[i % 8] = fma(d, d, q[i % 8]);
        float a = fabsf(v);
        if (a > mx) mx = a;
    }
    out[0] = combine8d(s);
    out[1] = combine8d(q);
    out[2] = (double)mx;
    return bad;
}
