// CRC-32 of zip/zlib (reflected polynomial 0xEDB88320) with carry-less multiplication, after Gopal et al.,
// "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ Instruction" (Intel, 2009): four 128-bit
// lanes are folded 64 bytes at a time, reduced to one lane, folded 16 bytes at a time, then reduced to
// 32 bits (Barrett). The constants are the paper's bit-reflected k1..k5 and the CRC-32 Barrett pair.
// zlib's table-driven crc32 (~1.5 GB/s here) is the reference and finishes the tail.
#include "CConnkit.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <cpuid.h>

static int pclmul_detected = -1;

int ck_has_pclmul(void) {
    if (pclmul_detected < 0) {
        unsigned a, b, c, d;
        pclmul_detected = __get_cpuid(1, &a, &b, &c, &d) ? (int)((c >> 1) & 1u) : 0;  // CPUID.1:ECX.PCLMULQDQ
    }
    return pclmul_detected;
}

__attribute__((target("pclmul,sse2")))
static uint32_t fold(const uint8_t *p, size_t n, uint32_t state) {
    const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
    const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
    const __m128i k5 = _mm_set_epi64x(0, 0x0163cd6124);
    const __m128i barrett = _mm_set_epi64x(0x01f7011641, 0x01db710641);
    const __m128i low32 = _mm_setr_epi32(-1, 0, -1, 0);

    __m128i a = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi32_si128((int)state));
    __m128i b = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i c = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i d = _mm_loadu_si128((const __m128i *)(p + 48));
    p += 64;
    n -= 64;
    while (n >= 64) {
        __m128i a0 = _mm_clmulepi64_si128(a, k1k2, 0x00), a1 = _mm_clmulepi64_si128(a, k1k2, 0x11);
        __m128i b0 = _mm_clmulepi64_si128(b, k1k2, 0x00), b1 = _mm_clmulepi64_si128(b, k1k2, 0x11);
        __m128i c0 = _mm_clmulepi64_si128(c, k1k2, 0x00), c1 = _mm_clmulepi64_si128(c, k1k2, 0x11);
        __m128i d0 = _mm_clmulepi64_si128(d, k1k2, 0x00), d1 = _mm_clmulepi64_si128(d, k1k2, 0x11);
        a = _mm_xor_si128(_mm_xor_si128(a0, a1), _mm_loadu_si128((const __m128i *)p));
        b = _mm_xor_si128(_mm_xor_si128(b0, b1), _mm_loadu_si128((const __m128i *)(p + 16)));
        c = _mm_xor_si128(_mm_xor_si128(c0, c1), _mm_loadu_si128((const __m128i *)(p + 32)));
        d = _mm_xor_si128(_mm_xor_si128(d0, d1), _mm_loadu_si128((const __m128i *)(p + 48)));
        p += 64;
        n -= 64;
    }
    // Four lanes into one: fold a over b, then over c, then over d.
    __m128i x = a;
    const __m128i next[3] = {b, c, d};
    for (int i = 0; i < 3; i++) {
        __m128i lo = _mm_clmulepi64_si128(x, k3k4, 0x00), hi = _mm_clmulepi64_si128(x, k3k4, 0x11);
        x = _mm_xor_si128(_mm_xor_si128(lo, hi), next[i]);
    }
    while (n >= 16) {
        __m128i lo = _mm_clmulepi64_si128(x, k3k4, 0x00), hi = _mm_clmulepi64_si128(x, k3k4, 0x11);
        x = _mm_xor_si128(_mm_xor_si128(lo, hi), _mm_loadu_si128((const __m128i *)p));
        p += 16;
        n -= 16;
    }
    // 128 -> 64 bits.
    __m128i t = _mm_clmulepi64_si128(x, k3k4, 0x10);
    x = _mm_xor_si128(_mm_srli_si128(x, 8), t);
    t = _mm_srli_si128(x, 4);
    x = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x, low32), k5, 0x00), t);
    // Barrett reduction to 32 bits.
    t = _mm_and_si128(x, low32);
    t = _mm_clmulepi64_si128(t, barrett, 0x10);
    t = _mm_and_si128(t, low32);
    t = _mm_clmulepi64_si128(t, barrett, 0x00);
    x = _mm_xor_si128(x, t);
    return (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(x, 4));
}

uint32_t ck_crc32_blocks(uint32_t crc, const uint8_t *data, size_t length, size_t *consumed) {
    *consumed = 0;
    if (length < 64 || !ck_has_pclmul()) return crc;
    size_t blocks = length & ~(size_t)15;
    *consumed = blocks;
    return ~fold(data, blocks, ~crc);
}

#else

int ck_has_pclmul(void) { return 0; }

uint32_t ck_crc32_blocks(uint32_t crc, const uint8_t *data, size_t length, size_t *consumed) {
    (void)data;
    (void)length;
    *consumed = 0;
    return crc;
}

#endif
