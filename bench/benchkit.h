/*  benchkit.h - what the benchmarks share: a monotonic clock in
    nanoseconds, a seeded generator, so that runs with the same seed
    make the same data, and base64 for compact embeddings.
*/
#ifndef PDB_BENCHKIT_H
#define PDB_BENCHKIT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

static inline uint64_t
bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

//  The same in seconds, for latencies.
static inline double
bench_now_s(void)
{
    return (double) bench_now_ns() / 1e9;
}

//  Uniform in [-1, 1) from *state (a 64-bit LCG).
static inline float
bench_rand(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (float) ((double) (*state >> 40) / (double) (1ull << 24) * 2.0 - 1.0);
}

//  Standard base64 of len bytes into out, which holds 4 * ((len + 2) / 3) + 1
//  characters (the last one the terminating NUL).
static inline void
bench_b64(const uint8_t *in, size_t len, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t) in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t) in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        out[o++] = i + 1 < len ? t[v >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? t[v & 63] : '=';
    }
    out[o] = '\0';
}

#endif
