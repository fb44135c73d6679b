/*  test_ann.c - the approximate index (common/ann, hnswlib behind a C
    interface): recall against an exact ranking, removals, bad input, and
    an index saved and read back.
*/
#include "ann.h"
#include "err.h"
#include "testkit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIM 32
#define N 3000
#define K 10
//  How far a score from the index's 8-bit codes may be from the exact
//  cosine here (32 dimensions; each code is within half a step of the
//  unit vector's coordinate, and a step is at most 1/127).
#define S_CODE_ERROR 5e-3

static float s_vecs[N][DIM];

static float
s_rand(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (float) ((double) (*state >> 40) / (double) (1ull << 24) * 2.0 - 1.0);
}

//  Clustered, as embeddings are: 30 centres, points spread around them.
static void
s_fill(uint64_t *seed)
{
    float centres[30][DIM];
    for (int c = 0; c < 30; c++)
        for (int i = 0; i < DIM; i++)
            centres[c][i] = s_rand(seed);
    for (int v = 0; v < N; v++)
        for (int i = 0; i < DIM; i++)
            s_vecs[v][i] = centres[v % 30][i] + 0.3f * s_rand(seed);
}

static double
s_cos(const float *a, const float *b)
{
    double d = 0, na = 0, nb = 0;
    for (int i = 0; i < DIM; i++) {
        d += (double) a[i] * b[i];
        na += (double) a[i] * a[i];
        nb += (double) b[i] * b[i];
    }
    return d / sqrt(na * nb);
}

//  The exact top K labels among those not removed.
static void
s_exact(const float *q, const bool *removed, uint64_t out[K])
{
    double best[K];
    for (int j = 0; j < K; j++) {
        best[j] = -2.0;
        out[j] = UINT64_MAX;
    }
    for (int v = 0; v < N; v++) {
        if (removed && removed[v])
            continue;
        double s = s_cos(q, s_vecs[v]);
        if (s <= best[K - 1])
            continue;
        int j = K - 1;
        for (; j > 0 && best[j - 1] < s; j--) {
            best[j] = best[j - 1];
            out[j] = out[j - 1];
        }
        best[j] = s;
        out[j] = (uint64_t) v;
    }
}

static ann_t *
s_build(void)
{
    ann_t *a;
    assert_int_equal(ann_new(DIM, 100, ANN_M_DEFAULT, ANN_EF_CONSTRUCTION_DEFAULT, &a), 0);
    for (int v = 0; v < N; v++)             // grows from 100
        assert_int_equal(ann_add(a, (uint64_t) v, s_vecs[v]), 0);
    assert_int_equal(ann_count(a), N);
    assert_true(ann_memory_bytes(a) > (size_t) N * DIM * sizeof(float));
    return a;
}

//  recall@K over queries, at ef: asked for K + ANN_SPARE hits, as the
//  gateway asks before it scores them exactly and keeps K, so each of the
//  exact top K among them counts. Their scores come from the 8-bit codes.
static double
s_recall(const ann_t *a, const bool *removed, size_t ef, uint64_t *seed)
{
    size_t found = 0, total = 0;
    for (int t = 0; t < 50; t++) {
        float q[DIM];
        for (int i = 0; i < DIM; i++)
            q[i] = s_vecs[(t * 37) % N][i] + 0.2f * s_rand(seed);
        uint64_t want[K];
        s_exact(q, removed, want);
        ann_hit_t hits[K + ANN_SPARE];
        size_t n;
        assert_int_equal(ann_search(a, q, K + ANN_SPARE, ef, hits, &n), 0);
        assert_int_equal(n, K + ANN_SPARE);
        for (size_t i = 0; i < n; i++) {
            assert_true(i == 0 || hits[i - 1].score >= hits[i].score);
            assert_true(!removed || !removed[hits[i].label]);
            assert_true(fabs(hits[i].score - s_cos(q, s_vecs[hits[i].label])) < S_CODE_ERROR);
            for (int j = 0; j < K; j++)
                found += hits[i].label == want[j];
        }
        total += K;
    }
    return (double) found / (double) total;
}

static void
test_ann_recall_and_removals(void **state)
{
    (void) state;
    uint64_t seed = 1;
    s_fill(&seed);
    ann_t *a = s_build();
    double low = s_recall(a, NULL, 10, &seed), high = s_recall(a, NULL, 200, &seed);
    assert_true(high >= 0.95);
    assert_true(high >= low);
    //  Removed vectors leave every result at once.
    static bool removed[N];
    memset(removed, 0, sizeof removed);
    for (int v = 0; v < N; v += 3) {
        assert_int_equal(ann_remove(a, (uint64_t) v), 0);
        removed[v] = true;
    }
    assert_int_equal(ann_remove(a, 0), PDB_ENOTFOUND);
    assert_int_equal(ann_remove(a, N + 5), PDB_ENOTFOUND);
    assert_int_equal(ann_count(a), N - (N + 2) / 3);
    assert_int_equal(ann_removed(a), (N + 2) / 3);          // still in the graph
    assert_true(s_recall(a, removed, 200, &seed) >= 0.95);
    ann_destroy(&a);
    ann_destroy(&a);
    assert_null(a);
}

static void
test_ann_refuses_bad_input(void **state)
{
    (void) state;
    ann_t *a;
    assert_int_equal(ann_new(0, 10, 16, 100, &a), PDB_EINVAL);
    assert_int_equal(ann_new(5000, 10, 16, 100, &a), PDB_EINVAL);
    assert_int_equal(ann_new(DIM, 10, 1, 100, &a), PDB_EINVAL);
    assert_int_equal(ann_new(DIM, 10, 16, 100, &a), 0);
    float zero[DIM] = { 0 }, one[DIM] = { 1 }, nan_vec[DIM] = { NAN };
    ann_hit_t hits[K];
    size_t n = 99;
    assert_int_equal(ann_search(a, one, K, 10, hits, &n), 0);     // empty index
    assert_int_equal(n, 0);
    assert_int_equal(ann_add(a, 1, zero), PDB_EINVAL);
    assert_int_equal(ann_add(a, 1, nan_vec), PDB_EINVAL);
    assert_int_equal(ann_add(a, 1, one), 0);
    assert_int_equal(ann_add(a, 1, one), PDB_EINVAL);              // label taken
    assert_int_equal(ann_search(a, one, 0, 10, hits, &n), PDB_EINVAL);
    assert_int_equal(ann_search(a, one, K, ANN_EF_MAX + 1, hits, &n), PDB_EINVAL);
    assert_int_equal(ann_search(a, zero, K, 10, hits, &n), PDB_EINVAL);
    assert_int_equal(ann_search(a, one, K, 10, hits, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(hits[0].label, 1);
    assert_true(fabsf(hits[0].score - 1.0f) < 1e-6f);
    ann_destroy(&a);
}

static void
test_ann_saved_and_loaded_answers_the_same(void **state)
{
    (void) state;
    uint64_t seed = 2;
    s_fill(&seed);
    ann_t *a = s_build();
    for (int v = 0; v < 100; v++)
        assert_int_equal(ann_remove(a, (uint64_t) v), 0);
    char dir[TESTKIT_DIR_MAX], path[TESTKIT_DIR_MAX + 16];
    testkit_mkdir(dir, "ann");
    snprintf(path, sizeof path, "%s/index", dir);
    assert_int_equal(ann_save(a, path), 0);
    ann_t *b;
    assert_int_equal(ann_load(path, DIM, &b), 0);
    assert_int_equal(ann_count(b), ann_count(a));
    assert_int_equal(ann_removed(b), 100);
    for (int t = 0; t < 20; t++) {
        ann_hit_t x[K], y[K];
        size_t nx, ny;
        assert_int_equal(ann_search(a, s_vecs[t * 11], K, 50, x, &nx), 0);
        assert_int_equal(ann_search(b, s_vecs[t * 11], K, 50, y, &ny), 0);
        assert_int_equal(nx, ny);
        for (size_t i = 0; i < nx; i++) {
            assert_int_equal(x[i].label, y[i].label);
            assert_true(x[i].label >= 100);
        }
    }
    ann_t *c;
    assert_int_equal(ann_load(path, DIM + 1, &c), PDB_EINVAL);     // another size
    //  A torn file is refused, not read.
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), 4096), 0);
    fclose(f);
    assert_int_equal(ann_load(path, DIM, &c), PDB_ECORRUPT);
    snprintf(path, sizeof path, "%s/none/index", dir);
    assert_true(ann_save(a, path) < 0);
    assert_int_equal(ann_load(path, DIM, &c), PDB_ECORRUPT);
    ann_destroy(&a);
    ann_destroy(&b);
    testkit_rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ann_recall_and_removals),
        cmocka_unit_test(test_ann_refuses_bad_input),
        cmocka_unit_test(test_ann_saved_and_loaded_answers_the_same),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
