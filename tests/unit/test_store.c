/*  test_store.c - the store's read side (common/store.h) on a real LMDB
    store written by the storage core: WAL walks from a sequence, record
    walks of one collective or of every one, seeking (exclusive, back to
    the start, refused outside the walk), versions and counts, peers rows,
    and a key of the wrong shape read as corrupt rather than skipped.
*/
#include "store.h"
#include "err.h"
#include "sync_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

typedef struct {
    fx_node_t n;
    pdb_id_t c1, c2;                 // collectives; c1 holds three experiences, c2 one
    pdb_id_t e[3];                   // c1's experiences, in id order
    pdb_id_t other;                  // c2's experience
} s_world_t;

static int
s_id_cmp(const void *a, const void *b)
{
    return pdb_id_cmp(a, b);
}

static int
s_setup(void **state)
{
    s_world_t *w = calloc(1, sizeof *w);
    assert_non_null(w);
    fx_open(&w->n);
    w->c1 = fx_new_collective(&w->n, FX_WALL, "one", FX_DIM1);
    w->c2 = fx_new_collective(&w->n, FX_WALL + 1, "two", FX_DIM1);
    for (int i = 0; i < 3; i++)
        w->e[i] = fx_new_experience(&w->n, FX_WALL + 2 + (uint64_t) i, &w->c1, FX_DIM1,
                                    (float) i);
    qsort(w->e, 3, sizeof w->e[0], s_id_cmp);
    w->other = fx_new_experience(&w->n, FX_WALL + 9, &w->c2, FX_DIM1, 9.0f);
    *state = w;
    return 0;
}

static int
s_teardown(void **state)
{
    s_world_t *w = *state;
    fx_close(&w->n);
    free(w);
    return 0;
}

//  Six writes made six WAL entries; a walk starts at its sequence, and
//  past the end keeps answering PDB_ENOTFOUND.
static void
test_store_wal_walks_from_a_sequence(void **state)
{
    s_world_t *w = *state;
    MDB_txn *txn = fx_read_begin(&w->n);
    store_iter_t it;
    assert_int_equal(store_wal(fx_store(&w->n), txn, 4, &it), 0);
    uint64_t seq, expect = 4;
    MDB_val change;
    while (store_wal_next(&it, &seq, &change) == 0) {
        assert_int_equal(seq, expect++);
        change_t c;
        assert_int_equal(change_decode(change.mv_data, change.mv_size, &c), 0);
    }
    assert_int_equal(expect, 7);
    assert_int_equal(store_wal_next(&it, &seq, &change), PDB_ENOTFOUND);
    store_iter_close(&it);
    assert_int_equal(store_wal(fx_store(&w->n), txn, 7, &it), 0);
    assert_int_equal(store_wal_next(&it, &seq, &change), PDB_ENOTFOUND);
    store_iter_close(&it);
    store_iter_close(&it);                       // closing twice is harmless
    mdb_txn_abort(txn);
}

//  A walk kept inside a collective sees its records only, in id order;
//  seeking after an id is exclusive, (NULL, NULL) starts over, and a
//  position in another collective is refused.
static void
test_store_records_of_one_collective(void **state)
{
    s_world_t *w = *state;
    MDB_txn *txn = fx_read_begin(&w->n);
    store_iter_t it;
    assert_int_equal(store_records(fx_store(&w->n), txn, ENT_EXPERIENCE, &w->c1, &it), 0);
    pdb_id_t coll, id;
    MDB_val record;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_next(&it, &coll, &id, &record), 0);
        assert_int_equal(pdb_id_cmp(&coll, &w->c1), 0);
        assert_int_equal(pdb_id_cmp(&id, &w->e[i]), 0);
        assert_true(record.mv_size > 0);
    }
    assert_int_equal(store_next(&it, &coll, &id, &record), PDB_ENOTFOUND);
    assert_int_equal(store_iter_seek(&it, &w->c1, &w->e[0]), 0);
    assert_int_equal(store_next(&it, NULL, &id, NULL), 0);
    assert_int_equal(pdb_id_cmp(&id, &w->e[1]), 0);
    assert_int_equal(store_iter_seek(&it, NULL, NULL), 0);
    assert_int_equal(store_next(&it, NULL, &id, NULL), 0);
    assert_int_equal(pdb_id_cmp(&id, &w->e[0]), 0);
    assert_int_equal(store_iter_seek(&it, &w->c2, NULL), PDB_EINVAL);
    assert_int_equal(store_iter_seek(&it, NULL, &w->e[0]), PDB_EINVAL);
    store_iter_close(&it);
    //  Collectives are keyed by id alone: no walk inside one of them.
    assert_int_equal(store_records(fx_store(&w->n), txn, ENT_COLLECTIVE, &w->c1, &it),
                     PDB_EINVAL);
    store_iter_close(&it);
    mdb_txn_abort(txn);
}

//  Without a collective the walk crosses from one to the next, and a seek
//  to a collective's start lands on its first record.
static void
test_store_records_of_every_collective(void **state)
{
    s_world_t *w = *state;
    MDB_txn *txn = fx_read_begin(&w->n);
    store_iter_t it;
    assert_int_equal(store_records(fx_store(&w->n), txn, ENT_EXPERIENCE, NULL, &it), 0);
    size_t n = 0;
    pdb_id_t coll, id;
    while (store_next(&it, &coll, &id, NULL) == 0)
        n++;
    assert_int_equal(n, 4);
    assert_int_equal(store_iter_seek(&it, &w->c2, NULL), 0);
    assert_int_equal(store_next(&it, &coll, &id, NULL), 0);
    assert_int_equal(pdb_id_cmp(&coll, &w->c2), 0);
    assert_int_equal(pdb_id_cmp(&id, &w->other), 0);
    store_iter_close(&it);
    uint64_t count;
    assert_int_equal(store_records_count(fx_store(&w->n), txn, ENT_EXPERIENCE, &count), 0);
    assert_int_equal(count, 4);
    assert_int_equal(store_records_count(fx_store(&w->n), txn, ENT_COLLECTIVE, &count), 0);
    assert_int_equal(count, 2);
    mdb_txn_abort(txn);
}

//  Every entity has one versions entry; a walk of them decodes, and one
//  seeks past an id.
static void
test_store_versions_walk_and_count(void **state)
{
    s_world_t *w = *state;
    MDB_txn *txn = fx_read_begin(&w->n);
    uint64_t count;
    assert_int_equal(store_versions_count(fx_store(&w->n), txn, &count), 0);
    assert_int_equal(count, 6);
    store_iter_t it;
    assert_int_equal(store_versions(fx_store(&w->n), txn, &it), 0);
    pdb_id_t a, b, last = { { 0 } };
    MDB_val val;
    size_t n = 0;
    while (store_next(&it, &a, &b, &val) == 0) {
        assert_int_equal(pdb_id_cmp(&a, &b), 0);           // keyed by id: given twice
        assert_true(n == 0 || pdb_id_cmp(&last, &a) < 0);
        store_version_t v;
        assert_int_equal(store_version_decode(&val, &v), 0);
        last = a;
        n++;
    }
    assert_int_equal(n, 6);
    assert_int_equal(store_iter_seek(&it, NULL, &last), 0);
    assert_int_equal(store_next(&it, NULL, NULL, NULL), PDB_ENOTFOUND);
    store_iter_close(&it);
    mdb_txn_abort(txn);
}

//  Inbound peer rows are told apart by their name alone.
static void
test_store_inbound_peer_names(void **state)
{
    (void) state;
    assert_true(store_peer_is_inbound("in:0193a0b1-0000-7000-8000-000000000001", 39));
    assert_true(store_peer_is_inbound("in:", 3));
    assert_false(store_peer_is_inbound("in", 2));
    assert_false(store_peer_is_inbound("edge-1", 6));
}

//  A record key that is not collective + id is a broken store: the walk
//  says so instead of skipping it or stopping as if it were the end.
static void
test_store_walk_refuses_a_key_of_the_wrong_shape(void **state)
{
    s_world_t *w = *state;
    store_t *store = fx_store(&w->n);
    MDB_txn *txn = fx_write_begin(&w->n);
    uint8_t odd[PDB_ID_LEN + 1];
    memcpy(odd, w->c1.b, PDB_ID_LEN);
    odd[PDB_ID_LEN] = 0xff;
    MDB_val key = { sizeof odd, odd }, val = { 1, (void *) "\x80" };
    assert_int_equal(mdb_put(txn, store->experiences, &key, &val, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    txn = fx_read_begin(&w->n);
    store_iter_t it;
    assert_int_equal(store_records(store, txn, ENT_EXPERIENCE, &w->c1, &it), 0);
    int rc;
    size_t good = 0;
    while ((rc = store_next(&it, NULL, NULL, NULL)) == 0)
        good++;
    assert_int_equal(rc, PDB_ECORRUPT);
    assert_int_equal(good, 3);                   // c1 + 0xff sorts after c1's records
    store_iter_close(&it);
    mdb_txn_abort(txn);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_wal_walks_from_a_sequence, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_store_records_of_one_collective, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_store_records_of_every_collective, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_store_versions_walk_and_count, s_setup,
                                        s_teardown),
        cmocka_unit_test(test_store_inbound_peer_names),
        cmocka_unit_test_setup_teardown(test_store_walk_refuses_a_key_of_the_wrong_shape,
                                        s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
