/*  benchkit.h - what the benchmarks share: a monotonic clock in
    nanoseconds and a seeded generator, so that runs with the same seed
    make the same data.
*/
#ifndef PDB_BENCHKIT_H
#define PDB_BENCHKIT_H

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

#endif
