#ifndef CCONNKIT_H
#define CCONNKIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

// Float casts. Round to nearest even; overflow to +-inf; subnormals kept. f32 -> f16 NaN keeps its sign
// and quiets (as F16C and numpy do for quiet NaNs); f32 -> bf16 NaN becomes 0x7FC0 | sign (ml_dtypes);
// widening keeps every NaN payload bit, signalling ones included (numpy).
// Each function picks an F16C/AVX2 path at run time when the CPU has it and a portable one otherwise;
// both give identical bits.
void ck_f32_to_f16(const float *src, uint16_t *dst, size_t n);
void ck_f16_to_f32(const uint16_t *src, float *dst, size_t n);
void ck_f32_to_bf16(const float *src, uint16_t *dst, size_t n);
void ck_bf16_to_f32(const uint16_t *src, float *dst, size_t n);

// Portable paths, exposed so tests can compare them with the vector paths.
void ck_f32_to_f16_portable(const float *src, uint16_t *dst, size_t n);
void ck_f16_to_f32_portable(const uint16_t *src, float *dst, size_t n);
void ck_f32_to_bf16_portable(const float *src, uint16_t *dst, size_t n);
void ck_bf16_to_f32_portable(const uint16_t *src, float *dst, size_t n);

// Largest |x| over the finite elements (0 if none). Used to report f16 overflow.
float ck_max_abs_finite_f32(const float *src, size_t n);

// 1 when the vector paths are in use (F16C + AVX2 present).
int ck_has_f16c(void);

// Statistics of n stored values read as floats, from their bits (value_stats.c): NaN, infinite and zero
// counts, the largest finite magnitude as the format's bits (sign cleared), and whether every value equals
// the first as a float (never when a value is NaN; +0 equals -0). AVX2 and portable paths agree exactly.
typedef struct {
    uint64_t nan, infinite, zeros;
    uint32_t max_bits;
    int constant;
} ck_value_stats;
void ck_value_stats_f32(const uint32_t *x, size_t n, ck_value_stats *out);
void ck_value_stats_f16(const uint16_t *x, size_t n, ck_value_stats *out);
void ck_value_stats_bf16(const uint16_t *x, size_t n, ck_value_stats *out);
void ck_value_stats_f32_portable(const uint32_t *x, size_t n, ck_value_stats *out);
void ck_value_stats_f16_portable(const uint16_t *x, size_t n, ck_value_stats *out);
void ck_value_stats_bf16_portable(const uint16_t *x, size_t n, ck_value_stats *out);

// ggml q8_0 / q4_0 / q4_1 / q5_0 / q5_1 blocks (AVX2 + F16C; see quant_legacy.c), byte-identical to ggml's
// reference quantizer; `ggml_type` is the ggml type id (8, 2, 3, 6, 7). Quantizes whole groups of four blocks
// from the start of `x` and returns how many blocks it wrote: it stops before a group that needs the exact
// scalar path, when fewer than four blocks remain, and at once (returning 0) on a CPU without the vector
// path or for another type. Sets *finite to 0 when a value it read may be NaN or +-inf (a sum of finite
// values that overflows raises it too; the caller then scans exactly).
size_t ck_quantize_legacy(uint32_t ggml_type, const float *x, uint8_t *y, size_t blocks, int *finite);

// ggml iq4_nl blocks (AVX2 + F16C; see quant_iq4.c), byte-identical to ggml's quantize_iq4_nl without
// an importance matrix, for finite input (the caller checks). Quantizes whole groups of eight blocks from
// the start and returns how many blocks it wrote: it stops before a group whose scale is not finite,
// when fewer than eight blocks remain, and at once (returning 0) on a CPU without the vector path.
size_t ck_quantize_iq4_nl(const float *x, uint8_t *y, size_t blocks);

// ggml q2_k / q3_k / q4_k / q5_k / q6_k super-blocks (AVX2 + F16C; see quant_kquant.c), byte-identical to
// ggml's reference quantizer without an importance matrix, for finite input (the caller checks);
// `ggml_type` is the ggml type id (10..14). Quantizes super-blocks from the start of `x` and returns how
// many it wrote: it stops before one whose search leaves the vector path's exact range (a non-finite
// inverse scale), and at once (returning 0) on a CPU without the vector path or for another type.
size_t ck_quantize_kquant(uint32_t ggml_type, const float *x, uint8_t *y, size_t blocks);

// MLX affine quantization (mx.quantize, mode "affine"; AVX2, see quant_mlx.c) of `groups` consecutive groups of
// `group_size` (32, 64 or 128) floats to `bits` (2, 3, 4, 6 or 8)-bit codes: the codes and float32 scales and biases of
// the Swift kernel (MLXAffine.swift). Writes group_size * bits / 32 little-endian uint32 words per group to `words`
// (nothing when NULL) and one scale and one bias per group. Returns `groups`, or 0 (writing nothing) on a CPU
// without AVX2 or for another group size or width. Sets *finite to 0 when a value is NaN or +-inf (the output is
// then meaningless).
size_t ck_quantize_mlx(const float *x, size_t groups, int group_size, int bits, uint32_t *words, float *scales,
                       float *biases, int *finite);
// The inverse, as mlx's CPU float32 path: w = scale * q + bias (a multiply, then an add) for `groups` groups of codes
// in `words` (group_size * bits / 32 little-endian uint32 words each, any alignment) with float32 scales and biases.
// Returns `groups`, or 0 (writing nothing) on a CPU without AVX2 or for another group size or width.
size_t ck_dequantize_mlx(const void *words, const float *scales, const float *biases, size_t groups, int group_size,
                         int bits, float *out);

// The quantization report's sums over n pairs (a: original, b: read back), in double precision:
// out = {sum (a-b)^2, sum a^2, sum b^2, sum a*b, max |a-b| (NaN if any |a-b| is NaN)}. Element i goes to
// partial sum i % 8, combined in a fixed order: the vector and portable paths give the same bits.
void ck_error_sums(const float *a, const float *b, size_t n, double out[5]);
void ck_error_sums_portable(const float *a, const float *b, size_t n, double out[5]);

// copy_file_range(2), which Glibc declares only under _GNU_SOURCE. Returns bytes copied or -1 (errno).
ssize_t ck_copy_file_range(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, size_t len);

// CRC-32 (zip/zlib) of the first whole 16-byte blocks of `data` (at least 64 bytes) with PCLMULQDQ, continuing
// `crc` as zlib's crc32() does; `*consumed` says how many bytes were processed (0 without PCLMULQDQ or for
// fewer than 64 bytes). The caller finishes the rest with zlib.
uint32_t ck_crc32_blocks(uint32_t crc, const uint8_t *data, size_t length, size_t *consumed);
int ck_has_pclmul(void);

// Guard (guard.c): what the signal handlers know, so that a signal never leaves a temporary output
// behind and an input that shrinks while mapped is reported, not a crash.
// - The file-backed mappings of inputs (slot from register, -1 when the table of 4096 is full) and the
//   temporary outputs being written (256, paths under 4096 bytes).
// - ck_guard_install (once per process): SIGBUS at an address inside a registered mapping removes the
//   temporary outputs, prints "connkit: PATH: changed while being read …" on stderr (and, after
//   ck_guard_set_json(1), {"error": …, "code": "io"} on stdout) and exits with status 2. Any other
//   SIGBUS, SIGSEGV, SIGILL, SIGFPE, SIGABRT or SIGTRAP removes the temporary outputs and goes on to
//   the handler installed before (Swift's backtracer, AddressSanitizer, libFuzzer) or the default action.
//   SIGINT, SIGTERM and SIGHUP (unless ignored) remove them and end the process as before. SIGXFSZ is
//   ignored, so a write beyond `ulimit -f` fails with EFBIG instead of killing the process. The handled
//   signals are unblocked in the calling thread (call it from the main thread, before starting others).
int ck_guard_register_mapping(const void *start, size_t length, const char *path);
void ck_guard_unregister_mapping(int slot);
int ck_guard_register_temp(const char *path);
void ck_guard_unregister_temp(int slot);
void ck_guard_remove_temps(void);
void ck_guard_set_json(int json);
void ck_guard_install(void);

#endif
