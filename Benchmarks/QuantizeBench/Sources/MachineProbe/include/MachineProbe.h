#ifndef MACHINE_PROBE_H
#define MACHINE_PROBE_H
// What this machine's cores give in parallel, as a ceiling for the kernels' multi-thread speed-up:
// wall seconds for `threads` threads each doing the same fixed work at once.
// A register-only AVX2 multiply/add loop (no memory traffic); 0 without AVX2.
double probe_vector_seconds(int threads);
// Each thread reading its own 256 MiB buffer (summing it with AVX2 loads) twice.
double probe_read_seconds(int threads);
// Bytes one thread reads in probe_read_seconds.
long probe_read_bytes_per_thread(void);
#endif
