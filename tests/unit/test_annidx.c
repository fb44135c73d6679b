/*  test_annidx.c - storage's approximate index of a collective (annidx) on
    a real store: built from the blocks, following writes and deletes,
    saved and read back, damaged files and
    files of another instance refused; the recall measurement that
    chooses ef (annrecall); and compaction (annrebuild, following the WAL
    with annwal): removed nodes reclaimed by a rebuild under churn, the
    rebuild following writes made while it runs.
*/
#include "annidx.h"
#include "vecblock.h"
#include "annrebuild.h"
#include "annrecall.h"
#include "annwal.h"
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
    assert_int_equal(annidx_search(idx, v, N, 512, ids, scores, NULL, &n), 0);
    *seen = 0;
    for (size_t i = 0; i < n; i++)
        *seen += !memcmp(ids[i].b, id->b, PDB_ID_LEN);
    assert_true(n > 0);
    return ids[0];
}

//  Every hit for v carries where its vector is, the slot storage keeps it
//  in, or (known false: a loaded index not located yet) no place at all.
static void
s_assert_locs(s_fixture_t *fx, const annidx_t *idx, const float *v, bool known)
{
    pdb_id_t ids[N];
    float scores[N];
    uint64_t locs[N];
    size_t n = 0;
    assert_int_equal(annidx_search(idx, v, N, 512, ids, scores, locs, &n), 0);
    assert_true(n > 0);
    MDB_txn *txn = fx_read_begin(&fx->n);
    for (size_t i = 0; i < n; i++) {
        if (!known) {
            assert_true(locs[i] == ANNIDX_LOC_NONE);
            continue;
        }
        uint32_t number, slot;
        assert_int_equal(vecblock_slot_find(fx_store(&fx->n), txn, &fx->coll, &ids[i], &number,
                                            &slot), 0);
        assert_true(locs[i] == ((uint64_t) number << 32 | slot));
        MDB_val at, looked_up;
        assert_int_equal(vecblock_vector_at(fx_store(&fx->n), txn, &fx->coll, number, slot,
                                            &ids[i], &at), 0);
        assert_int_equal(store_embedding_get(fx_store(&fx->n), txn, &fx->coll, &ids[i],
                                             &looked_up), 0);
        assert_ptr_equal(at.mv_data, looked_up.mv_data);
        //  Another experience's id in that slot: not there.
        assert_int_equal(vecblock_vector_at(fx_store(&fx->n), txn, &fx->coll, number, slot,
                                            &ids[(i + 1) % n], &at),
                         n > 1 ? PDB_ENOTFOUND : 0);
    }
    mdb_txn_abort(txn);
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
    s_assert_locs(fx, idx, fx->vecs[7], true);

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
    s_assert_locs(fx, idx, v, true);
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
    //  Places are not saved: found again in the store.
    s_assert_locs(fx, back, fx->vecs[3], false);
    MDB_txn *txn = fx_read_begin(&fx->n);
    assert_int_equal(annidx_locate(back, fx_store(&fx->n), txn), 0);
    mdb_txn_abort(txn);
    s_assert_locs(fx, back, fx->vecs[3], true);
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
    unsigned step512 = 0;
    while (annrecall_ef(step512) != 512)
        step512++;
    assert_int_equal(r.found[step512], r.wanted);
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
    const uint32_t efs[ANNRECALL_STEPS] = { 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512,
                                            768, 1024, 1536, 2048 };
    for (unsigned step = 0; step < ANNRECALL_STEPS; step++)
        assert_int_equal(annrecall_ef(step), efs[step]);
    annrecall_t r = { .done = 10, .wanted = 100 };
    const uint64_t found[ANNRECALL_STEPS] = { 40, 55, 70, 80, 90, 94, 95, 96, 97, 99, 99,
                                              100, 100, 100, 100 };
    memcpy(r.found, found, sizeof found);
    double recall;
    assert_int_equal(annrecall_choose(&r, 16, &recall), 192);     // a half step
    assert_true(recall == 0.96);
    assert_int_equal(annrecall_choose(&r, 300, &recall), 384);    // the floor first
    //  Never good enough: scan (0), with the best recall seen.
    const uint64_t poor[ANNRECALL_STEPS] = { 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65,
                                             70, 75, 80 };
    memcpy(r.found, poor, sizeof poor);
    assert_int_equal(annrecall_choose(&r, 16, &recall), 0);
    assert_true(recall == 0.8);
    //  Nothing to measure (an empty collective): the floor.
    annrecall_t none = { 0 };
    assert_int_equal(annrecall_choose(&none, 32, &recall), 32);
}

//  --------------------------------------------------------------------------
//  Compaction

#define S_POP_MAX (N + 1000)

//  The collective's experiences as the test changed them: ids, vectors,
//  and which are deleted.
typedef struct {
    pdb_id_t ids[S_POP_MAX];
    float vecs[S_POP_MAX][DIM];
    bool gone[S_POP_MAX];
    size_t n, live;
} s_pop_t;

static s_pop_t *
s_pop_new(const s_fixture_t *fx)
{
    s_pop_t *pop = calloc(1, sizeof *pop);
    assert_non_null(pop);
    memcpy(pop->ids, fx->ids, sizeof fx->ids);
    memcpy(pop->vecs, fx->vecs, sizeof fx->vecs);
    pop->n = pop->live = N;
    return pop;
}

static void
s_pop_add(s_fixture_t *fx, s_pop_t *pop, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        assert_true(pop->n < S_POP_MAX);
        for (size_t d = 0; d < DIM; d++)
            pop->vecs[pop->n][d] = s_rand();
        pop->ids[pop->n] = s_experience(&fx->n, &fx->coll, pop->vecs[pop->n]);
        pop->n++;
        pop->live++;
    }
}

//  Deletes count live experiences, chosen at random.
static void
s_pop_delete(s_fixture_t *fx, s_pop_t *pop, size_t count)
{
    assert_true(count <= pop->live);
    for (size_t done = 0; done < count;) {
        size_t at = (size_t) ((s_rand() + 1.0f) * 0.5f * (float) pop->n) % pop->n;
        if (pop->gone[at])
            continue;
        fx_delete(&fx->n, FX_WALL + 1, ENT_EXPERIENCE, &fx->coll, &pop->ids[at]);
        pop->gone[at] = true;
        pop->live--;
        done++;
    }
}

static uint64_t
s_wal_head(s_fixture_t *fx)
{
    MDB_txn *txn = fx_read_begin(&fx->n);
    store_meta_t meta;
    assert_int_equal(store_meta_read(fx_store(&fx->n), txn, &meta), 0);
    mdb_txn_abort(txn);
    return meta.wal_head;
}

//  Brings idx up to the WAL head, as the search thread does.
static void
s_catch_up(s_fixture_t *fx, annidx_t *idx)
{
    MDB_txn *txn = fx_read_begin(&fx->n);
    bool gone = true, stale = true;
    assert_int_equal(annwal_catch_up(idx, fx_store(&fx->n), txn, SIZE_MAX, &gone, &stale), 0);
    mdb_txn_abort(txn);
    assert_false(gone);
    assert_false(stale);
}

//  One rebuild step in a read transaction of its own; deadline 0 does the
//  least a step does (a batch of inserts, or a recall sample).
static bool
s_rebuild_step(s_fixture_t *fx, annidx_t *idx)
{
    MDB_txn *txn = fx_read_begin(&fx->n);
    bool ready = false;
    assert_int_equal(annrebuild_step(idx, fx_store(&fx->n), txn, 0, 16, &ready), 0);
    mdb_txn_abort(txn);
    return ready;
}

static void
s_rebuild(s_fixture_t *fx, annidx_t **idx_p)
{
    MDB_txn *txn = fx_read_begin(&fx->n);
    assert_int_equal(annrebuild_start(*idx_p, fx_store(&fx->n), txn, 0), 0);
    mdb_txn_abort(txn);
    while (!s_rebuild_step(fx, *idx_p))
        ;
    annrebuild_swap(idx_p);
}

//  Every live experience is its own best hit, and no deleted one is found
//  near where it was: the labels of the graph name the right experiences.
static void
s_check_labels(const annidx_t *idx, const s_pop_t *pop)
{
    assert_int_equal(annidx_count(idx), pop->live);
    pdb_id_t ids[10];
    float scores[10];
    for (size_t i = 0; i < pop->n; i += 3) {
        size_t n = 0;
        assert_int_equal(annidx_search(idx, pop->vecs[i], 10, 1024, ids, scores, NULL, &n), 0);
        assert_int_equal(n, pop->live < 10 ? pop->live : 10);
        if (!pop->gone[i])
            assert_memory_equal(ids[0].b, pop->ids[i].b, PDB_ID_LEN);
        for (size_t h = 0; h < n; h++)
            for (size_t j = 0; j < pop->n; j++)
                if (pop->gone[j])
                    assert_memory_not_equal(ids[h].b, pop->ids[j].b, PDB_ID_LEN);
    }
}

static void
test_annrebuild_due_at_a_quarter_of_the_graph_removed(void **state)
{
    s_fixture_t *fx = *state;
    annidx_t *idx = s_built(fx);
    idx->covered = s_wal_head(fx);
    s_pop_t *pop = s_pop_new(fx);
    assert_false(annrebuild_due(idx, 0));
    s_pop_delete(fx, pop, N / 4 - 1);
    s_catch_up(fx, idx);
    assert_int_equal(annidx_removed(idx), N / 4 - 1);
    assert_false(annrebuild_due(idx, 0));
    s_pop_delete(fx, pop, 1);
    s_catch_up(fx, idx);
    assert_true(annrebuild_due(idx, 0));

    //  Not while one runs, nor before a failed one's retry time.
    MDB_txn *txn = fx_read_begin(&fx->n);
    assert_int_equal(annrebuild_start(idx, fx_store(&fx->n), txn, 0), 0);
    mdb_txn_abort(txn);
    assert_non_null(idx->rebuild);
    assert_false(annrebuild_due(idx, 0));
    annrebuild_cancel(idx, 5000);
    assert_null(idx->rebuild);
    assert_false(annrebuild_due(idx, 4999));
    assert_true(annrebuild_due(idx, 5000));
    free(pop);
    annidx_destroy(&idx);
}

static void
test_annrebuild_reclaims_removed_nodes_under_churn(void **state)
{
    s_fixture_t *fx = *state;
    annidx_t *idx = s_built(fx);
    idx->covered = s_wal_head(fx);
    //  A twin that only follows, as every index did before compaction.
    annidx_t *twin = s_built(fx);
    twin->covered = idx->covered;
    s_pop_t *pop = s_pop_new(fx);
    const size_t rounds = 8, churn = 45;
    for (size_t r = 0; r < rounds; r++) {
        s_pop_delete(fx, pop, churn);
        s_pop_add(fx, pop, churn);
        s_catch_up(fx, idx);
        s_catch_up(fx, twin);
        if (annrebuild_due(idx, 0)) {
            uint32_t before = idx->rebuilds;
            s_rebuild(fx, &idx);
            assert_int_equal(idx->rebuilds, before + 1);
            assert_int_equal(annidx_removed(idx), 0);
            assert_true(idx->save_wanted);
            assert_true(idx->ef >= 16);
            assert_true(idx->recall >= ANNRECALL_TARGET);
            s_check_labels(idx, pop);
        }
        //  Removed nodes stay under a quarter of the graph: memory within
        //  4/3 of the live vectors'.
        size_t nodes = annidx_count(idx) + annidx_removed(idx);
        assert_true(4 * annidx_removed(idx) < nodes);
        assert_true(3 * nodes < 4 * pop->live);
        assert_int_equal(annidx_count(idx), pop->live);
    }
    assert_true(idx->rebuilds >= 2);
    //  The twin holds every node it ever had.
    assert_int_equal(annidx_removed(twin), rounds * churn);
    assert_true(ann_memory_bytes(idx->ann) < ann_memory_bytes(twin->ann) * 3 / 4);
    s_check_labels(idx, pop);
    s_check_labels(twin, pop);

    //  Saved and read back after rebuilds: the same labels, and it follows.
    pdb_id_t instance = fx->n.node->instance_id;
    assert_int_equal(annidx_save(idx, fx->files, &instance), 0);
    annidx_t *back = NULL;
    assert_int_equal(annidx_load(fx->files, &fx->coll, DIM, &instance, &back), 0);
    assert_int_equal(back->covered, idx->covered);
    assert_int_equal(back->labels, idx->labels);
    assert_int_equal(annidx_removed(back), annidx_removed(idx));
    s_check_labels(back, pop);
    s_pop_delete(fx, pop, 10);
    s_pop_add(fx, pop, 5);
    s_catch_up(fx, back);
    s_check_labels(back, pop);
    annidx_destroy(&back);
    annidx_destroy(&twin);
    annidx_destroy(&idx);
    free(pop);
}

static void
test_annrebuild_follows_writes_made_while_it_runs(void **state)
{
    s_fixture_t *fx = *state;
    annidx_t *idx = s_built(fx);
    idx->covered = s_wal_head(fx);
    s_pop_t *pop = s_pop_new(fx);
    //  More live vectors than one block holds (512 of 8 dimensions), so
    //  the rebuild takes several steps; a quarter of the graph removed.
    s_pop_delete(fx, pop, 250);
    s_pop_add(fx, pop, 700);
    s_catch_up(fx, idx);
    assert_true(annrebuild_due(idx, 0));
    MDB_txn *txn = fx_read_begin(&fx->n);
    assert_int_equal(annrebuild_start(idx, fx_store(&fx->n), txn, 0), 0);
    mdb_txn_abort(txn);
    assert_int_equal(idx->rebuild->build_total, pop->live);
    assert_false(s_rebuild_step(fx, idx));
    assert_true(idx->rebuild->building);
    assert_true(annidx_count(idx->rebuild) < pop->live);

    //  Writes while it builds: the index in use follows them at once.
    s_pop_delete(fx, pop, 30);
    s_pop_add(fx, pop, 20);
    s_catch_up(fx, idx);
    s_check_labels(idx, pop);
    size_t steps = 0;
    while (!s_rebuild_step(fx, idx)) {
        //  And while it measures or catches up.
        if (steps++ == 3) {
            s_pop_delete(fx, pop, 5);
            s_pop_add(fx, pop, 5);
            s_catch_up(fx, idx);
        }
    }
    assert_true(steps > 3);
    assert_int_equal(annidx_count(idx->rebuild), pop->live);
    annidx_t *old = idx;
    size_t labels_before = old->labels;
    annrebuild_swap(&idx);
    assert_ptr_not_equal(idx, old);
    assert_null(idx->rebuild);
    //  Only what was deleted while it ran can be a removed node in it.
    assert_true(annidx_removed(idx) <= 35);
    assert_int_equal(idx->labels, pop->live + annidx_removed(idx));
    assert_true(idx->labels < labels_before);
    s_catch_up(fx, idx);
    s_check_labels(idx, pop);
    annidx_destroy(&idx);
    free(pop);
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
        cmocka_unit_test_setup_teardown(test_annrebuild_due_at_a_quarter_of_the_graph_removed,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_annrebuild_reclaims_removed_nodes_under_churn,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_annrebuild_follows_writes_made_while_it_runs,
                                        s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
