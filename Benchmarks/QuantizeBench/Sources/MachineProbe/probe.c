#include "MachineProbe.h"
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <immintrin.h>
#include <cpuid.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static volatile float sink;

__attribute__((target("avx2")))
static void *vector_work(void *unused) {
    (void)unused;
    __m256 a = _mm256_set1_ps(1.0001f), b = a, c = a, d = a, e = a, f = a, m = _mm256_set1_ps(0.9999f);
    for (long i = 0; i < 100000000; i++) {
        a = _mm256_mul_ps(a, m); b = _mm256_mul_ps(b, m); c = _mm256_mul_ps(c, m);
        d = _mm256_add_ps(d, m); e = _mm256_add_ps(e, m); f = _mm256_add_ps(f, m);
    }
    float out[8];
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)), _mm256_add_ps(e, f)));
    sink = out[0];
    return NULL;
}

enum { READ_FLOATS = 64 << 20 };

__attribute__((target("avx2")))
static void *read_work(void *buffer) {
    const float *x = buffer;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < READ_FLOATS; i += 32) {
            s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
            s1 = _mm256_add_ps(s1, _mm256_loadu_ps(x + i + 8));
            s2 = _mm256_add_ps(s2, _mm256_loadu_ps(x + i + 16));
            s3 = _mm256_add_ps(s3, _mm256_loadu_ps(x + i + 24));
        }
    }
    float out[8];
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    sink = out[0];
    return NULL;
}

static int has_avx2(void) {
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && ((b >> 5) & 1);
}

static double run(void *(*work)(void *), void **arguments, int threads) {
    pthread_t ids[64];
    if (threads > 64) threads = 64;
    double start = now();
    for (int t = 0; t < threads; t++) pthread_create(&ids[t], NULL, work, arguments ? arguments[t] : NULL);
    for (int t = 0; t < threads; t++) pthread_join(ids[t], NULL);
    return now() - start;
}

double probe_vector_seconds(int threads) {
    if (!has_avx2()) return 0;
    return run(vector_work, NULL, threads);
}

double probe_read_seconds(int threads) {
    if (!has_avx2() || threads > 64) return 0;
    void *buffers[64];
    for (int t = 0; t < threads; t++) {
        // Written with non-zero values: zero-filling could become calloc, whose untouched pages all map the
        // kernel's zero page and fault during the timing.
        float *buffer = malloc((size_t)READ_FLOATS * sizeof(float));
        for (size_t i = 0; i < READ_FLOATS; i++) buffer[i] = 1.0f;
        buffers[t] = buffer;
    }
    double seconds = run(read_work, buffers, threads);
    for (int t = 0; t < threads; t++) free(buffers[t]);
    return seconds;
}

long probe_read_bytes_per_thread(void) { return 2L * READ_FLOATS * (long)sizeof(float); }
