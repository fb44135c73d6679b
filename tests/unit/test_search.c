/*  test_search.c - the vector kernel (services/gateway/vec) against a
    plain double-precision reference, and the top-k heap and query parsing
    of services/gateway/search.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "search.h"
#include "vec.h"
#include "bounds.h"
#include "err.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

//  Deterministic pseudo-random floats in [-1, 1): tests must not flake.
static float
s_rand(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (float) ((double) (*state >> 40) / (double) (1ull << 24) * 2.0 - 1.0);
}

static void
s_reference(const float *q, const uint8_t *v, size_t dim, double *dot, double *norm2)
{
    *dot = *norm2 = 0.0;
    for (size_t i = 0; i < dim; i++) {
        float x;
        memcpy(&x, v + i * sizeof x, sizeof x);
        *dot += (double) q[i] * x;
        *norm2 += (double) x * x;
    }
}

static void
test_vec_matches_reference_on_unaligned_buffers(void **state)
{
    (void) state;
    static const size_t dims[] = { 1, 3, 15, 16, 17, 31, 100, 384, 1000, PDB_DIM_MAX };
    uint64_t seed = 7;
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        size_t dim = dims[d];
        float *q = malloc(dim * sizeof *q);
        uint8_t *raw = malloc(dim * sizeof(float) + 8);
        for (size_t offset = 0; offset < 4; offset++) {
            uint8_t *v = raw + offset;           // 0..3 bytes off alignment
            for (size_t i = 0; i < dim; i++) {
                float x = s_rand(&seed);
                q[i] = s_rand(&seed);
                memcpy(v + i * sizeof x, &x, sizeof x);
            }
            float dot, norm2;
            double ref_dot, ref_norm2;
            vec_dot_norm(q, v, dim, &dot, &norm2);
            s_reference(q, v, dim, &ref_dot, &ref_norm2);
            //  float32 sums over up to 4096 terms: relative to the size of
            //  the terms, not of the (possibly cancelling) result.
            double scale = sqrt(ref_norm2 * (double) vec_norm2(q, dim)) + 1e-30;
            assert_true(fabs(dot - ref_dot) / scale < 1e-5);
            assert_true(fabs(norm2 - ref_norm2) / (ref_norm2 + 1e-30) < 1e-5);
        }
        free(q);
        free(raw);
    }
}

static void
test_vec_cosine_edges(void **state)
{
    (void) state;
    float a[20], b[20];
    for (int i = 0; i < 20; i++) {
        a[i] = (float) (i + 1);
        b[i] = 2.0f * a[i];
    }
    double a_norm2 = vec_norm2(a, 20);
    assert_true(fabs(vec_cosine(a, a_norm2, b, 20) - 1.0) < 1e-6);
    for (int i = 0; i < 20; i++)
        b[i] = -a[i];
    assert_true(fabs(vec_cosine(a, a_norm2, b, 20) + 1.0) < 1e-6);
    memset(b, 0, sizeof b);
    assert_true(vec_cosine(a, a_norm2, b, 20) == 0.0);
    assert_true(vec_cosine(b, vec_norm2(b, 20), a, 20) == 0.0);
}

//  A vector scores itself 1 and its opposite -1 whatever its magnitude:
//  float32 sums would overflow (3e38^2, 1e20^2) or underflow to zero
//  (1e-30^2) on these, giving NaN, 0 or Inf.
static void
test_vec_cosine_extreme_magnitudes_score_exact_match_one(void **state)
{
    (void) state;
    static const float cases[][4] = {
        { 3e38f, 3e38f, 0.0f, 0.0f }, { 1e20f, 0.0f, 0.0f, 0.0f },
        { FLT_MAX, FLT_MAX, FLT_MAX, FLT_MAX }, { -FLT_MAX, 1.0f, 0.0f, 1e-30f },
        { 1e-30f, 0.0f, 0.0f, 0.0f }, { 1e-45f, 0.0f, 1e-45f, 0.0f },
        { 1e19f, 1e-19f, -1e19f, 3.0f },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const float *q = cases[c];
        float opposite[4];
        for (int i = 0; i < 4; i++)
            opposite[i] = -q[i];
        uint8_t raw[4 * sizeof(float) + 1];
        memcpy(raw + 1, q, 4 * sizeof(float));              // as LMDB stores it
        double q_norm2 = vec_norm2(q, 4);
        assert_true(isfinite(q_norm2) && q_norm2 > 0.0);
        double same = vec_cosine(q, q_norm2, raw + 1, 4);
        double opp = vec_cosine(q, q_norm2, opposite, 4);
        //  Ordinary magnitudes are summed in float32: good to ~1e-7.
        assert_true(isfinite(same) && fabs(same - 1.0) < 1e-6);
        assert_true(isfinite(opp) && fabs(opp + 1.0) < 1e-6);
    }
}

//  Ranking over a buffer mixing huge, tiny, ordinary and zero vectors: the
//  exact match comes first with score 1, nothing is NaN, zero scores 0.
static void
test_search_buffer_ranks_extreme_vectors(void **state)
{
    (void) state;
    static const float vectors[][4] = {
        { 1.0f, 2.0f, 3.0f, 4.0f }, { 0.0f, 0.0f, 0.0f, 0.0f },
        { 3e38f, 3e38f, 0.0f, 0.0f }, { 1e20f, 0.0f, 0.0f, 0.0f },
        { 1e-30f, 1e-30f, 0.0f, 0.0f }, { -3e38f, 3e38f, 0.0f, 0.0f },
    };
    const size_t n = sizeof vectors / sizeof vectors[0];
    uint8_t raw[sizeof vectors + 2];
    memcpy(raw + 2, vectors, sizeof vectors);
    for (size_t target = 0; target < n; target++) {
        if (target == 1)
            continue;                                     // zero: no query
        search_heap_t heap;
        assert_int_equal(search_heap_init(&heap, n), 0);
        search_buffer(vectors[target], 4, raw + 2, n, &heap);
        assert_int_equal(heap.n, n);
        //  The first hit is the vector itself or one parallel to it.
        assert_true(fabs(heap.hits[0].score - 1.0) < 1e-6);
        assert_true(heap.hits[0].pos == target
                    || vec_cosine(vectors[target], vec_norm2(vectors[target], 4),
                                  vectors[heap.hits[0].pos], 4) > 1.0 - 1e-6);
        for (size_t i = 0; i < heap.n; i++) {
            assert_true(isfinite(heap.hits[i].score));
            if (heap.hits[i].pos == 1)
                assert_true(heap.hits[i].score == 0.0);
        }
        search_heap_release(&heap);
    }
}

//  --------------------------------------------------------------------------
//  Top-k

typedef struct {
    double score;
    size_t pos;
} s_ref_hit_t;

static int
s_ref_cmp(const void *a, const void *b)
{
    const s_ref_hit_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void
s_check_top_k(size_t n, size_t dim, size_t k)
{
    uint64_t seed = n * 31 + k;
    float *q = malloc(dim * sizeof *q);
    uint8_t *raw = malloc(n * dim * sizeof(float) + 1);
    uint8_t *base = raw + 1;                         // the whole block unaligned
    s_ref_hit_t *ref = malloc((n ? n : 1) * sizeof *ref);
    for (size_t i = 0; i < dim; i++)
        q[i] = s_rand(&seed);
    for (size_t i = 0; i < n * dim; i++) {
        float x = s_rand(&seed);
        memcpy(base + i * sizeof x, &x, sizeof x);
    }
    for (size_t i = 0; i < n; i++) {
        ref[i].score = vec_cosine(q, vec_norm2(q, dim), base + i * dim * sizeof(float), dim);
        ref[i].pos = i;
    }
    qsort(ref, n, sizeof *ref, s_ref_cmp);
    search_heap_t heap;
    assert_int_equal(search_heap_init(&heap, k), 0);
    search_buffer(q, dim, base, n, &heap);
    assert_int_equal(heap.n, k < n ? k : n);
    for (size_t i = 0; i < heap.n; i++) {
        assert_int_equal(heap.hits[i].pos, ref[i].pos);
        assert_true(heap.hits[i].score == ref[i].score);
        if (i)
            assert_true(heap.hits[i - 1].score >= heap.hits[i].score);
    }
    search_heap_release(&heap);
    free(ref);
    free(raw);
    free(q);
}

static void
test_search_top_k_is_sorted_best_first(void **state)
{
    (void) state;
    s_check_top_k(1000, 384, 10);
    s_check_top_k(500, 17, 1);
    s_check_top_k(300, 64, 300);
}

static void
test_search_k_larger_than_n_returns_all(void **state)
{
    (void) state;
    s_check_top_k(3, 8, 10);
    s_check_top_k(0, 8, 5);
}

static void
test_search_ties_break_by_position(void **state)
{
    (void) state;
    float q[4] = { 1, 0, 0, 0 };
    float vecs[5][4] = { { 1, 0, 0, 0 }, { 0, 1, 0, 0 }, { 1, 0, 0, 0 }, { 2, 0, 0, 0 },
                         { 0, 0, 1, 0 } };
    search_heap_t heap;
    assert_int_equal(search_heap_init(&heap, 3), 0);
    search_buffer(q, 4, vecs, 5, &heap);
    assert_int_equal(heap.n, 3);
    assert_int_equal(heap.hits[0].pos, 0);
    assert_int_equal(heap.hits[1].pos, 2);
    assert_int_equal(heap.hits[2].pos, 3);
    search_heap_release(&heap);
}

static void
test_search_heap_admits_only_better_when_full(void **state)
{
    (void) state;
    search_heap_t heap;
    assert_int_equal(search_heap_init(&heap, 2), 0);
    search_hit_t a = { .score = 0.5, .pos = 0 }, b = { .score = 0.7, .pos = 1 }, c = { .score = 0.6, .pos = 2 };
    search_hit_t low = { .score = 0.1, .pos = 3 };
    search_heap_offer(&heap, &a);
    search_heap_offer(&heap, &b);
    assert_false(search_heap_admits(&heap, &low));
    assert_true(search_heap_admits(&heap, &c));
    search_heap_offer(&heap, &c);
    search_heap_sort(&heap);
    assert_int_equal(heap.hits[0].pos, 1);
    assert_int_equal(heap.hits[1].pos, 2);
    search_heap_release(&heap);
}

//  --------------------------------------------------------------------------
//  Query parsing

static int
s_parse(const char *text, uint32_t dim, search_query_t *q, char *why)
{
    json_t *body = json_loads(text, 0, NULL);
    assert_non_null(body);
    int rc = search_query_parse(body, dim, q, why);
    //  Only test the rc here: strings in q borrow from body.
    search_query_release(q);
    json_decref(body);
    return rc;
}

static void
test_search_query_parse_checks_every_option(void **state)
{
    (void) state;
    char why[PDB_ERRMSG_MAX];
    search_query_t q;
    assert_int_equal(s_parse("{\"embedding\":[1,0,0]}", 3, &q, why), 0);
    assert_int_equal(s_parse("{\"embedding\":[1,0,0],\"k\":1000,\"domain\":\"net\","
                             "\"type\":\"fact\",\"min_importance\":0.5,"
                             "\"include_archived\":true}", 3, &q, why), 0);
    assert_int_equal(s_parse("{\"embedding\":[1,0,0],\"domain\":[\"a\",\"b\"]}", 3, &q, why), 0);
    assert_int_equal(s_parse("{\"embedding\":[1,0]}", 3, &q, why), PDB_EINVAL);
    assert_non_null(strstr(why, "2 dimensions, the collective has 3"));
    assert_int_equal(s_parse("{\"embedding\":[0,0,0]}", 3, &q, why), PDB_EINVAL);
    assert_int_equal(s_parse("{\"k\":3}", 3, &q, why), PDB_EINVAL);
    assert_int_equal(s_parse("{\"embedding\":[1,0,0],\"k\":0}", 3, &q, why), PDB_EINVAL);
    assert_int_equal(s_parse("{\"embedding\":[1,0,0],\"k\":1001}", 3, &q, why), PDB_EINVAL);
    assert_int_equal(s_parse("{\"embedding\":[1,0,0],\"type\":\"poem\"}", 3, &q, why),
                     PDB_EINVAL);
    assert_int_equal(s_parse("{\"embedding\":[1,0,0],\"domain\":[1]}", 3, &q, why), PDB_EINVAL);
    assert_int_equal(s_parse("{\"embedding\":[1,0,0],\"min_importance\":2}", 3, &q, why),
                     PDB_EINVAL);
    assert_int_equal(s_parse("{\"embedding\":[1,0,0],\"top\":3}", 3, &q, why), PDB_EINVAL);
    assert_int_equal(s_parse("{\"embedding\":[1,0,1e39]}", 3, &q, why), PDB_EINVAL);
}

//  The 8-bit kernel against a plain loop, at every length around the
//  AVX2 kernel's 32-byte steps, with the extreme codes.
static void
test_vec_dot_codes_matches_reference(void **state)
{
    (void) state;
    uint8_t c[PDB_DIM_MAX];
    int8_t q[PDB_DIM_MAX];
    uint64_t seed = 3;
    for (size_t dim = 1; dim <= PDB_DIM_MAX; dim = dim < 70 ? dim + 1 : dim * 2 + 1) {
        for (int trial = 0; trial < 3; trial++) {
            int32_t want = 0;
            for (size_t i = 0; i < dim; i++) {
                float r = s_rand(&seed);
                c[i] = trial == 0 ? 255 : trial == 1 ? 0 : (uint8_t) ((r + 1.0f) * 127.5f);
                q[i] = trial == 0 ? (i % 2 ? 63 : -63) : (int8_t) (s_rand(&seed) * 63.0f);
                want += (int32_t) c[i] * q[i];
            }
            assert_int_equal(vec_dot_codes(c, q, dim), want);
        }
    }
    for (size_t i = 0; i < PDB_DIM_MAX; i++) {
        c[i] = 255;
        q[i] = VEC_QUERY_CODE_MAX;
    }
    assert_int_equal(vec_dot_codes(c, q, PDB_DIM_MAX), 255 * VEC_QUERY_CODE_MAX * PDB_DIM_MAX);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vec_matches_reference_on_unaligned_buffers),
        cmocka_unit_test(test_vec_cosine_edges),
        cmocka_unit_test(test_vec_cosine_extreme_magnitudes_score_exact_match_one),
        cmocka_unit_test(test_search_buffer_ranks_extreme_vectors),
        cmocka_unit_test(test_vec_dot_codes_matches_reference),
        cmocka_unit_test(test_search_top_k_is_sorted_best_first),
        cmocka_unit_test(test_search_k_larger_than_n_returns_all),
        cmocka_unit_test(test_search_ties_break_by_position),
        cmocka_unit_test(test_search_heap_admits_only_better_when_full),
        cmocka_unit_test(test_search_query_parse_checks_every_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
