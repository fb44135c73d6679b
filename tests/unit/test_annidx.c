/*  test_annidx.c - storage's approximate index of a collective (annidx) on
    a real store: built from the blocks, following writes and deletes,
    saved and read back, damaged files and
    files of another instance refused; and the recall measurement that
    chooses ef (annrecall).
*/
#include "annidx.h"
#include "annrecall.h"
#include "sync_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIM 8
#define N 300

static uint64_t s_seed = 42;

static float
s_rand(void)
{
    s_seed = s_seed * 6364136223846793005ull + 1442695040888963407ull;
    return (float) ((double) (s_seed >> 40) / (double) (1ull << 24) * 2.0 - 1.0);
}

static pdb_id_t
s_experience(fx_node_t *n, const pdb_id_t *coll, const float *v)
{
    mpk_out_t f;
    mpk_out_init(&f);
    mpk_pack_map(&f.pk, 2);
    mpk_pack_str(&f.pk, "content");
    mpk_pack_str(&f.pk, "x");
    mpk_pack_str(&f.pk, "embedding");
    mpk_pack_bin(&f.pk, v, DIM * sizeof(float));
    pdb_id_t id;
    assert_int_equal(fx_local(n, FX_WALL, ENT_EXPERIENCE, OP_CREATE, coll, NULL, &f, &id), 0);
    mpk_out_release(&f);
    return id;
}

typedef struct {
    fx_node_t n;
    pdb_id_t coll;
    pdb_id_t ids[N];
    float vecs[N][DIM];
    char files[TESTKIT_DIR_MAX];
} s_fixture_t;

static int
s_setup(void **state)
{
    s_fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx_open(&fx->n);
    testkit_mkdir(fx->files, "annidx");
    fx->coll = fx_new_collective(&fx->n, FX_WALL, "vectors", DIM);
    for (size_t i = 0; i < N; i++) {
        for (size_t d = 0; d < DIM; d++)
            fx->vecs[i][d] = s_rand();
        fx->ids[i] = s_experience(&fx->n, &fx->coll, fx->vecs[i]);
    }
    *state = fx;
    return 0;
}

static int
s_teardown(void **state)
{
    s_fixture_t *fx = *state;
    testkit_rmdir(fx->files);
    fx_close(&fx->n);
    free(fx);
    return 0;
}

static annidx_t *
s_built(s_fixture_t *fx)
{
    annidx_t *idx = NULL;
    assert_int_equal(annidx_new(&fx->coll, DIM, 16, &idx), 0);   // grows as it fills
    MDB_txn *txn = fx_read_begin(&fx->n);
    bool done = false;
    while (!done)
        assert_int_equal(annidx_build_step(idx, fx_store(&fx->n), txn, 0, &done), 0);
    mdb_txn_abort(txn);
    assert_int_equal(annidx_count(idx), N);
    return idx;
}

//  The best hit for v, and how many hits name `id`.
static pdb_id_t
s_top(const annidx_t *idx, const float *v, const pdb_id_t *id, size_t *seen)
{
    pdb_id_t ids[N];
    float scores[N];
    size_t n = 0;
    assert_int_equal(annidx_search(idx, v, N, 512, ids, scores, &n), 0);
    *seen = 0;
    for (size_t i = 0; i < n; i++)
        *seen += !memcmp(ids[i].b, id->b, PDB_ID_LEN);
    assert_true(n > 0);
    return ids[0];
}

static void
s_follow(s_fixture_t *fx, annidx_t *idx, const pdb_id_t *id)
{
    MDB_txn *txn = fx_read_begin(&fx->n);
    assert_int_equal(annidx_follow(idx, fx_store(&fx->n), txn, id), 0);
    assert_int_equal(annidx_flush(idx), 0);
    mdb_txn_abort(txn);
}

static void
test_annidx_follows_writes_and_deletes(void **state)
{
    s_fixture_t *fx = *state;
    annidx_t *idx = s_built(fx);
    size_t seen;
    pdb_id_t top = s_top(idx, fx->vecs[7], &fx->ids[7], &seen);
    assert_memory_equal(top.b, fx->ids[7].b, PDB_ID_LEN);

    //  Following an experience it holds changes nothing.
    s_follow(fx, idx, &fx->ids[7]);
    assert_int_equal(annidx_count(idx), N);

    //  A delete leaves every result at once.
    fx_delete(&fx->n, FX_WALL + 1, ENT_EXPERIENCE, &fx->coll, &fx->ids[7]);
    s_follow(fx, idx, &fx->ids[7]);
    assert_int_equal(annidx_count(idx), N - 1);
    s_top(idx, fx->vecs[7], &fx->ids[7], &seen);
    assert_int_equal(seen, 0);

    //  A new one is found at once.
    float v[DIM] = { 5, -5, 5, -5, 5, -5, 5, -5 };
    pdb_id_t added = s_experience(&fx->n, &fx->coll, v);
    s_follow(fx, idx, &added);
    assert_int_equal(annidx_count(idx), N);
    top = s_top(idx, v, &added, &seen);
    assert_memory_equal(top.b, added.b, PDB_ID_LEN);
    assert_int_equal(seen, 1);
    annidx_destroy(&idx);
}

static void
s_damage(const char *dir, const pdb_id_t *coll, const char *ext, long at, bool truncate)
{
    char path[256], id[PDB_ID_STR_LEN + 1];
    pdb_id_format(coll, id);
    snprintf(path, sizeof path, "%s/%s%s", dir, id, ext);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    if (truncate)
        assert_int_equal(ftruncate(fileno(f), size / 2), 0);
    else {
        assert_int_equal(fseek(f, at < 0 ? size + at : at, SEEK_SET), 0);
        int c = fgetc(f);
        assert_int_equal(fseek(f, at < 0 ? size + at : at, SEEK_SET), 0);
        assert_int_not_equal(fputc(c ^ 0x40, f), EOF);
    }
    fclose(f);
}

static void
test_annidx_saved_read_back_and_damage_refused(void **state)
{
    s_fixture_t *fx = *state;
    annidx_t *idx = s_built(fx);
    idx->covered = 1234;
    idx->ef = 64;
    idx->measured_at = N;
    pdb_id_t instance = fx->n.node->instance_id, other = testkit_id(0x77);
    assert_int_equal(annidx_save(idx, fx->files, &instance), 0);

    annidx_t *back = NULL;
    assert_int_equal(annidx_load(fx->files, &fx->coll, DIM, &instance, &back), 0);
    assert_int_equal(annidx_count(back), N);
    assert_int_equal(back->covered, 1234);
    assert_int_equal(back->ef, 64);
    size_t seen;
    for (size_t i = 0; i < 20; i++) {
        pdb_id_t a = s_top(idx, fx->vecs[i], &fx->ids[i], &seen);
        pdb_id_t b = s_top(back, fx->vecs[i], &fx->ids[i], &seen);
        assert_memory_equal(a.b, b.b, PDB_ID_LEN);
    }
    //  It keeps following: a label map read back finds what it holds.
    s_follow(fx, back, &fx->ids[3]);
    assert_int_equal(annidx_count(back), N);
    annidx_destroy(&back);

    //  Another instance's files (a restored copy), another size, none.
    assert_int_equal(annidx_load(fx->files, &fx->coll, DIM, &other, &back), PDB_ECORRUPT);
    assert_int_equal(annidx_load(fx->files, &fx->coll, DIM + 1, &instance, &back), PDB_ECORRUPT);
    pdb_id_t nowhere = testkit_id(0x99);
    assert_int_equal(annidx_load(fx->files, &nowhere, DIM, &instance, &back), PDB_ENOTFOUND);

    //  A flipped byte in either file, or a file cut short.
    const struct { const char *ext; long at; bool truncate; } cases[] = {
        { ".hnsw", 4000, false }, { ".hnsw", -3, false }, { ".map", -5, false },
        { ".map", 20, false }, { ".hnsw", 0, true }, { ".map", 0, true },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(annidx_save(idx, fx->files, &instance), 0);
        s_damage(fx->files, &fx->coll, cases[i].ext, cases[i].at, cases[i].truncate);
        assert_int_equal(annidx_load(fx->files, &fx->coll, DIM, &instance, &back),
                         PDB_ECORRUPT);
        assert_null(back);
    }
    annidx_unlink(fx->files, &fx->coll);
    assert_int_equal(annidx_load(fx->files, &fx->coll, DIM, &instance, &back), PDB_ENOTFOUND);
    annidx_destroy(&idx);
}

static void
test_annrecall_measures_its_own_index(void **state)
{
    s_fixture_t *fx = *state;
    annidx_t *idx = s_built(fx);
    annrecall_t r = { 0 };
    MDB_txn *txn = fx_read_begin(&fx->n);
    bool done = false;
    while (!done)
        assert_int_equal(annrecall_step(&r, idx, fx_store(&fx->n), txn, &done), 0);
    mdb_txn_abort(txn);
    assert_int_equal(r.done, ANNRECALL_SAMPLES);
    assert_int_equal(r.wanted, ANNRECALL_SAMPLES * ANNRECALL_K);
    //  300 vectors of 8 dimensions: at ef 512 the graph search sees them all.
    assert_int_equal(r.found[ANNRECALL_STEPS - 2], r.wanted);
    double recall;
    uint32_t ef = annrecall_choose(&r, 16, &recall);
    assert_true(ef >= 16 && ef <= 512);
    assert_true(recall >= ANNRECALL_TARGET);
    annidx_destroy(&idx);
}

static void
test_annrecall_chooses_the_smallest_ef_that_reaches_the_target(void **state)
{
    (void) state;
    annrecall_t r = { .done = 10, .wanted = 100 };
    const uint64_t found[ANNRECALL_STEPS] = { 40, 70, 90, 95, 96, 99, 100, 100 };
    memcpy(r.found, found, sizeof found);
    double recall;
    assert_int_equal(annrecall_choose(&r, 16, &recall), 256);
    assert_true(recall == 0.96);
    assert_int_equal(annrecall_choose(&r, 300, &recall), 512);    // the floor first
    //  Never good enough: scan (0), with the best recall seen.
    const uint64_t poor[ANNRECALL_STEPS] = { 10, 20, 30, 40, 50, 60, 70, 80 };
    memcpy(r.found, poor, sizeof poor);
    assert_int_equal(annrecall_choose(&r, 16, &recall), 0);
    assert_true(recall == 0.8);
    //  Nothing to measure (an empty collective): the floor.
    annrecall_t none = { 0 };
    assert_int_equal(annrecall_choose(&none, 32, &recall), 32);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_annidx_follows_writes_and_deletes, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_annidx_saved_read_back_and_damage_refused,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_annrecall_measures_its_own_index, s_setup,
                                        s_teardown),
        cmocka_unit_test(test_annrecall_chooses_the_smallest_ef_that_reaches_the_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
