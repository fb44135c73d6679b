/*  bench_search - exact cosine top-k over N x 384 float32 vectors in one
    contiguous, deliberately unaligned buffer (as vectors sit in the LMDB
    map), against a memory-bandwidth probe over the same bytes, in the same
    run, so the search figure can be read as a fraction of what the machine
    can stream.

    bench_search [--quick] [--n N] [--search-only]
    --n N runs one case of N vectors (default: 10000, then 100000);
    --search-only leaves out the two probes (run_search_http.sh uses it to
    time the kernel next to the end-to-end search, in the same run).
    One line per case:
      bench_search case=search n=10000 dim=384 k=10 isa=avx2 queries=200 p50_ms=.. p99_ms=.. gbps=..
      bench_search case=read_sum n=10000 ... gbps=..
      bench_search case=memcpy n=10000 ... gbps=..
    gbps is bytes of vectors per second at the median time, in 1e9 bytes/s.
*/
#include "benchkit.h"
#include "search.h"
#include "vec.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_DIM 384
#define BENCH_K 10
#define BENCH_MISALIGN 2          // bytes: LMDB only promises 2-byte alignment
#define BENCH_WORK_BYTES (3ull << 30)   // ~3 GB scanned per case bounds run time

static volatile uint64_t s_sink;    // keeps probe results alive

static int
s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return (x > y) - (x < y);
}

static void
s_report(const char *name, size_t n, size_t queries, uint64_t *ns, size_t bytes)
{
    qsort(ns, queries, sizeof *ns, s_cmp_u64);
    double p50 = (double) ns[queries / 2] / 1e6;
    double p99 = (double) ns[(queries * 99) / 100 < queries ? (queries * 99) / 100 : queries - 1] / 1e6;
    printf("bench_search case=%s n=%zu dim=%d k=%d isa=%s queries=%zu p50_ms=%.3f p99_ms=%.3f "
           "gbps=%.2f\n", name, n, BENCH_DIM, BENCH_K, vec_isa(), queries, p50, p99,
           (double) bytes / (p50 * 1e6));
}

static void
s_bench_search(const uint8_t *base, size_t n, size_t queries, uint64_t *seed, uint64_t *ns)
{
    float query[BENCH_DIM];
    search_heap_t heap;
    for (size_t q = 0; q < queries; q++) {
        for (int i = 0; i < BENCH_DIM; i++)
            query[i] = bench_rand(seed);
        if (search_heap_init(&heap, BENCH_K) != 0)
            exit(1);
        uint64_t t0 = bench_now_ns();
        search_buffer(query, BENCH_DIM, base, n, &heap);
        ns[q] = bench_now_ns() - t0;
        s_sink += heap.hits[0].pos;
        search_heap_release(&heap);
    }
}

//  Reads every byte once, as the search does, with next to no arithmetic.
static void
s_bench_read(const uint8_t *base, size_t bytes, size_t rounds, uint64_t *ns)
{
    for (size_t r = 0; r < rounds; r++) {
        uint64_t t0 = bench_now_ns(), sum = 0;
        for (size_t i = 0; i + 8 <= bytes; i += 8) {
            uint64_t word;
            memcpy(&word, base + i, sizeof word);
            sum += word;
        }
        ns[r] = bench_now_ns() - t0;
        s_sink += sum;
    }
}

static void
s_bench_memcpy(const uint8_t *base, uint8_t *dst, size_t bytes, size_t rounds, uint64_t *ns)
{
    for (size_t r = 0; r < rounds; r++) {
        uint64_t t0 = bench_now_ns();
        memcpy(dst, base, bytes);
        ns[r] = bench_now_ns() - t0;
        s_sink += dst[r % bytes];
    }
}

static int
s_case(size_t n, bool quick, bool search_only, uint64_t *seed)
{
    size_t bytes = n * BENCH_DIM * sizeof(float);
    uint8_t *raw = malloc(bytes + BENCH_MISALIGN);
    uint8_t *dst = malloc(bytes);
    size_t queries = (size_t) (BENCH_WORK_BYTES / bytes);
    queries = queries < 20 ? 20 : queries > 500 ? 500 : queries;
    if (quick)
        queries = 10;
    uint64_t *ns = malloc(queries * sizeof *ns);
    if (!raw || !dst || !ns)
        return 1;
    uint8_t *base = raw + BENCH_MISALIGN;
    for (size_t i = 0; i < n * BENCH_DIM; i++) {
        float x = bench_rand(seed);
        memcpy(base + i * sizeof x, &x, sizeof x);
    }
    memcpy(dst, base, bytes);            // fault every page in before timing
    s_bench_search(base, n, queries, seed, ns);
    s_report("search", n, queries, ns, bytes);
    if (search_only)
        goto out;
    s_bench_read(base, bytes, queries, ns);
    s_report("read_sum", n, queries, ns, bytes);
    s_bench_memcpy(base, dst, bytes, queries, ns);
    s_report("memcpy", n, queries, ns, bytes);
out:
    free(ns);
    free(dst);
    free(raw);
    return 0;
}

int
main(int argc, char **argv)
{
    bool quick = false, search_only = false;
    size_t sizes[2] = { 10000, 100000 }, count = 2;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--quick") == 0)
            quick = true;
        else if (strcmp(argv[i], "--search-only") == 0)
            search_only = true;
        else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc
                 && (sizes[0] = strtoull(argv[++i], &end, 10)) >= 1 && sizes[0] <= 10000000
                 && *end == '\0')
            count = 1;
        else {
            fprintf(stderr, "usage: bench_search [--quick] [--n 1..10000000] [--search-only]\n");
            return 2;
        }
    }
    uint64_t seed = 42;
    for (size_t i = 0; i < count; i++)
        if (s_case(sizes[i], quick, search_only, &seed) != 0)
            return 1;
    return 0;
}
