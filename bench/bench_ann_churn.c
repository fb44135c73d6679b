/*  bench_ann_churn - the approximate index (common/ann: hnswlib) after heavy
    churn: n clustered vectors, then churn * n times one deleted at random
    and a new one inserted, as a collective whose agents replace what they
    know. Then the graph's size, the index's bytes (in memory and saved),
    and for several ef recall@10 against the exact top 10 of the live
    vectors, with p50/p99 on one thread.

    bench_ann_churn [--n N] [--dim D] [--churn F] [--centres C] [--queries Q]
                    [--threads T] [--mode before|after] [--reinsert 1|0]
    --reinsert 0: deletes alone (F at most 0.9), a collective that shrinks.
    before: removed vectors stay in the graph as hnswlib's marks (what the
            index did before compaction);
    after:  when removed nodes reach ANNREBUILD_REMOVED_PCT of the graph, a
            new index is built from the live vectors on T threads and
            replaces it, as storage's rebuild does (services/storage/
            annrebuild.h; there in the background, here in line).
    One line per case:
      bench_ann_churn case=churn mode=after n=.. churn=.. seconds=.. rebuilds=.. nodes=.. ...
      bench_ann_churn case=search mode=after ef=64 recall10=.. p50_ms=.. p99_ms=..
    Clustered data as bench_ann's: C centres (n/100) uniform in [-1,1]^D,
    each point its centre plus uniform noise of +-0.25 per dimension.
*/
#include "benchkit.h"
#include "ann.h"
#include "annrebuild.h"
#include "search.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BENCH_K 10

static size_t
s_pick(uint64_t *state, size_t n)
{
    return (size_t) ((bench_rand(state) + 1.0f) * 0.5f * (float) n) % n;
}

static void
s_point(float *out, size_t dim, const float *centres, size_t ncent, uint64_t *seed)
{
    const float *c = centres + s_pick(seed, ncent) * dim;
    for (size_t i = 0; i < dim; i++)
        out[i] = c[i] + 0.25f * bench_rand(seed);
}

//  The process's resident bytes now and at their peak (/proc/self/status).
static void
s_rss(size_t *now, size_t *peak)
{
    *now = *peak = 0;
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f)) {
        unsigned long kb;
        if (sscanf(line, "VmRSS: %lu kB", &kb) == 1)
            *now = (size_t) kb * 1024;
        else if (sscanf(line, "VmHWM: %lu kB", &kb) == 1)
            *peak = (size_t) kb * 1024;
    }
    if (f)
        fclose(f);
}

static int
s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return (x > y) - (x < y);
}

//  The collective: every vector ever inserted (by experience number), and
//  the experiences live now. A label is an experience number.
typedef struct {
    size_t dim, n, churn, threads;
    bool reinsert;
    float *vecs;
    uint64_t *live;         // n experience numbers
    ann_t *ann;
    unsigned rebuilds;
    double rebuild_s;
    size_t peak_bytes;
} s_bench_t;

static ann_t *
s_build(const s_bench_t *b)
{
    ann_t *ann;
    const void **ptrs = malloc(b->n * sizeof *ptrs);
    if (!ptrs || ann_new((uint32_t) b->dim, b->n + b->n / 8 + 16, ANN_M_DEFAULT,
                         ANN_EF_CONSTRUCTION_DEFAULT, &ann) != 0)
        exit(1);
    for (size_t i = 0; i < b->n; i++)
        ptrs[i] = b->vecs + b->live[i] * b->dim;
    if (b->n && ann_add_many(ann, b->live, ptrs, b->n, (unsigned) b->threads) != 0)
        exit(1);
    free(ptrs);
    return ann;
}

//  Replaces the index by one built from the live vectors when a quarter of
//  its graph is removed nodes (mode after).
static void
s_maybe_rebuild(s_bench_t *b)
{
    size_t removed = ann_removed(b->ann), nodes = ann_count(b->ann) + removed;
    if (100 * removed < ANNREBUILD_REMOVED_PCT * nodes)
        return;
    uint64_t t0 = bench_now_ns();
    ann_t *next = s_build(b);
    size_t both = ann_memory_bytes(b->ann) + ann_memory_bytes(next);
    b->peak_bytes = both > b->peak_bytes ? both : b->peak_bytes;
    ann_destroy(&b->ann);
    b->ann = next;
    b->rebuilds++;
    b->rebuild_s += (double) (bench_now_ns() - t0) / 1e9;
}

static void
s_churn(s_bench_t *b, bool compact, uint64_t *seed)
{
    for (size_t c = 0; c < b->churn; c++) {
        size_t at = s_pick(seed, b->n);
        if (ann_remove(b->ann, b->live[at]) != 0)
            exit(1);
        if (!b->reinsert)
            b->live[at] = b->live[--b->n];
        else {
            uint64_t fresh = b->n + c;
            if (ann_add(b->ann, fresh, b->vecs + fresh * b->dim) != 0)
                exit(1);
            b->live[at] = fresh;
        }
        if (compact)
            s_maybe_rebuild(b);
    }
    //  The graph only grows between rebuilds: its peak is at one (counted
    //  there, old and new together) or at the end.
    size_t bytes = ann_memory_bytes(b->ann);
    b->peak_bytes = bytes > b->peak_bytes ? bytes : b->peak_bytes;
}

static double
s_saved_mb(const ann_t *ann)
{
    char path[] = "/tmp/bench_ann_churn.XXXXXX";
    int fd = mkstemp(path);
    struct stat st = { 0 };
    if (fd < 0 || ann_save(ann, path) != 0 || stat(path, &st) != 0)
        exit(1);
    close(fd);
    unlink(path);
    return (double) st.st_size / 1e6;
}

//  The exact top 10 (experience numbers) of each query among the live.
static uint64_t *
s_truth(const s_bench_t *b, const float *queries, size_t nq)
{
    float *live = malloc(b->n * b->dim * sizeof *live);
    uint64_t *truth = malloc(nq * BENCH_K * sizeof *truth);
    if (!live || !truth)
        exit(1);
    for (size_t i = 0; i < b->n; i++)
        memcpy(live + i * b->dim, b->vecs + b->live[i] * b->dim, b->dim * sizeof *live);
    for (size_t q = 0; q < nq; q++) {
        search_heap_t heap;
        if (search_heap_init(&heap, BENCH_K) != 0)
            exit(1);
        search_buffer(queries + q * b->dim, b->dim, live, b->n, &heap);
        for (size_t i = 0; i < BENCH_K; i++)
            truth[q * BENCH_K + i] = i < heap.n ? b->live[heap.hits[i].pos] : UINT64_MAX;
        search_heap_release(&heap);
    }
    free(live);
    return truth;
}

static void
s_search_case(const s_bench_t *b, const char *mode, const float *queries, size_t nq,
              const uint64_t *truth, size_t ef)
{
    uint64_t *ns = malloc(nq * sizeof *ns);
    size_t found = 0;
    if (!ns)
        exit(1);
    for (size_t q = 0; q < nq; q++) {
        ann_hit_t hits[BENCH_K + ANN_SPARE];     // as the gateway asks (ann.h)
        size_t got = 0;
        uint64_t t0 = bench_now_ns();
        int rc = ann_search(b->ann, queries + q * b->dim, BENCH_K + ANN_SPARE, ef, hits, &got);
        ns[q] = bench_now_ns() - t0;
        for (size_t i = 0; !rc && i < got; i++)
            for (size_t j = 0; j < BENCH_K; j++)
                found += hits[i].label == truth[q * BENCH_K + j];
    }
    qsort(ns, nq, sizeof *ns, s_cmp_u64);
    printf("bench_ann_churn case=search mode=%s ef=%zu recall10=%.3f p50_ms=%.3f p99_ms=%.3f\n",
           mode, ef, (double) found / (double) (nq * BENCH_K), (double) ns[nq / 2] / 1e6,
           (double) ns[nq * 99 / 100] / 1e6);
    fflush(stdout);
    free(ns);
}

int
main(int argc, char **argv)
{
    size_t n = 100000, dim = 384, nq = 200, ncent = 0, threads = 2;
    double churn = 0.5;
    const char *mode = "after";
    bool reinsert = true;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--n") == 0)
            n = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--dim") == 0)
            dim = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--churn") == 0)
            churn = strtod(argv[i + 1], NULL);
        else if (strcmp(argv[i], "--centres") == 0)
            ncent = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--queries") == 0)
            nq = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--mode") == 0)
            mode = argv[i + 1];
        else if (strcmp(argv[i], "--reinsert") == 0)
            reinsert = strcmp(argv[i + 1], "0") != 0;
    }
    bool compact = strcmp(mode, "after") == 0;
    if (argc % 2 == 0 || n < 100 || dim < 1 || dim > 4096 || nq < 10 || threads < 1
        || threads > 16 || churn < 0.0 || churn > (reinsert ? 10.0 : 0.9)
        || (!compact && strcmp(mode, "before") != 0)) {
        fprintf(stderr, "usage: bench_ann_churn [--n N>=100] [--dim 1..4096] [--churn 0..10] "
                        "[--centres C (n/100)] [--queries Q>=10] [--threads 1..16] "
                        "[--mode before|after] [--reinsert 1|0 (churn 0..0.9)]\n");
        return 2;
    }
    if (ncent == 0)
        ncent = n / 100 ? n / 100 : 1;
    s_bench_t b = { .dim = dim, .n = n, .churn = (size_t) (churn * (double) n),
                    .threads = threads, .reinsert = reinsert };
    uint64_t seed = 42;
    size_t total = n + b.churn;
    float *centres = malloc(ncent * dim * sizeof *centres);
    float *queries = malloc(nq * dim * sizeof *queries);
    b.vecs = malloc(total * dim * sizeof *b.vecs);
    b.live = malloc(n * sizeof *b.live);
    if (!centres || !queries || !b.vecs || !b.live)
        return 1;
    for (size_t i = 0; i < ncent * dim; i++)
        centres[i] = bench_rand(&seed);
    for (size_t v = 0; v < total; v++)
        s_point(b.vecs + v * dim, dim, centres, ncent, &seed);
    for (size_t q = 0; q < nq; q++)
        s_point(queries + q * dim, dim, centres, ncent, &seed);
    for (size_t i = 0; i < n; i++)
        b.live[i] = i;

    size_t rss0, hwm0, rss, hwm;
    s_rss(&rss0, &hwm0);
    uint64_t t0 = bench_now_ns();
    b.ann = s_build(&b);
    double build_s = (double) (bench_now_ns() - t0) / 1e9;
    double built_mb = (double) ann_memory_bytes(b.ann) / 1e6;
    t0 = bench_now_ns();
    s_churn(&b, compact, &seed);
    double churn_s = (double) (bench_now_ns() - t0) / 1e9;
    s_rss(&rss, &hwm);
    //  index_mb counts the capacity hnswlib reserved, most of it never
    //  touched; rss_mb and peak_rss_mb are the process's growth since the
    //  vectors were made (freed indexes go back to the system: mmap).
    printf("bench_ann_churn case=churn mode=%s n=%zu dim=%zu centres=%zu churn=%zu "
           "reinsert=%d live=%zu threads=%zu build_seconds=%.1f churn_seconds=%.1f rebuilds=%u "
           "rebuild_seconds=%.1f nodes=%zu removed=%zu built_mb=%.1f index_mb=%.1f "
           "peak_index_mb=%.1f rss_mb=%.1f peak_rss_mb=%.1f saved_mb=%.1f\n", mode, n, dim,
           ncent, b.churn, (int) reinsert, b.n, threads, build_s, churn_s, b.rebuilds,
           b.rebuild_s,
           ann_count(b.ann) + ann_removed(b.ann), ann_removed(b.ann), built_mb,
           (double) ann_memory_bytes(b.ann) / 1e6, (double) b.peak_bytes / 1e6,
           (double) (rss - rss0) / 1e6, (double) (hwm - rss0) / 1e6, s_saved_mb(b.ann));
    fflush(stdout);
    uint64_t *truth = s_truth(&b, queries, nq);
    static const size_t efs[] = { 16, 32, 64, 128 };
    for (size_t e = 0; e < sizeof efs / sizeof efs[0]; e++)
        s_search_case(&b, mode, queries, nq, truth, efs[e]);
    ann_destroy(&b.ann);
    free(truth);
    free(b.vecs);
    free(b.live);
    free(queries);
    free(centres);
    return 0;
}
