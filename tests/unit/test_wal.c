/*  test_wal.c - the change log: sequences, head across reopen and
    compaction, meta head/floor, and the stored bytes being the change.
*/
#include "wal.h"
#include "err.h"
#include "node.h"
#include "testkit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAP_SIZE (64ull << 20)   // 64 MiB: plenty for these tests, sparse on disk

typedef struct {
    char dir[TESTKIT_DIR_MAX];
    node_t *node;
} s_fixture_t;

static int
s_setup(void **state)
{
    s_fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    testkit_mkdir(f->dir, "wal");
    assert_int_equal(node_open(f->dir, MAP_SIZE, &f->node), 0);
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    s_fixture_t *f = *state;
    node_destroy(&f->node);
    testkit_rmdir(f->dir);
    free(f);
    return 0;
}

static void
s_reopen(s_fixture_t *f)
{
    node_destroy(&f->node);
    assert_null(f->node);
    assert_int_equal(node_open(f->dir, MAP_SIZE, &f->node), 0);
}

static const uint8_t s_fields[] = { 0x81, 0xa8, 'a', 'r', 'c', 'h', 'i', 'v', 'e', 'd', 0xc3 };

static change_t
s_change(uint8_t origin_fill, uint64_t origin_seq)
{
    change_t c = { .origin_seq = origin_seq, .hlc = origin_seq << 16,
                   .entity = ENT_EXPERIENCE, .op = OP_UPDATE,
                   .fields = s_fields, .fields_len = sizeof s_fields };
    memset(c.origin.b, origin_fill, PDB_ID_LEN);
    memset(c.collective_id.b, 0xc0, PDB_ID_LEN);
    memset(c.entity_id.b, 0xe0, PDB_ID_LEN);
    return c;
}

static MDB_txn *
s_begin(s_fixture_t *f, unsigned flags)
{
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(f->node->store->env, NULL, flags, &txn), 0);
    return txn;
}

//  Appends n changes (origin seqs from first) and commits.
static void
s_append(s_fixture_t *f, uint64_t first, unsigned n)
{
    MDB_txn *txn = s_begin(f, 0);
    for (unsigned i = 0; i < n; i++) {
        change_t c = s_change(0xa1, first + i);
        assert_int_equal(wal_append(f->node->store, txn, &c), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
}

static store_meta_t
s_meta(s_fixture_t *f)
{
    store_meta_t m;
    MDB_txn *txn;
    assert_int_equal(store_read_begin(f->node->store, &txn), 0);
    assert_int_equal(store_meta_read(f->node->store, txn, &m), 0);
    mdb_txn_abort(txn);
    return m;
}

static uint64_t
s_head(s_fixture_t *f)
{
    uint64_t head = 99;
    MDB_txn *txn;
    assert_int_equal(store_read_begin(f->node->store, &txn), 0);
    assert_int_equal(wal_head(f->node->store, txn, &head), 0);
    mdb_txn_abort(txn);
    return head;
}

static void
s_delete_seq(s_fixture_t *f, uint64_t seq)
{
    MDB_txn *txn = s_begin(f, 0);
    uint8_t kbuf[8];
    store_key_seq(kbuf, seq);
    MDB_val key = { sizeof kbuf, kbuf };
    assert_int_equal(mdb_del(txn, f->node->store->wal, &key, NULL), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

//  --------------------------------------------------------------------------

static void
test_wal_empty_log_has_head_zero_and_floor_one(void **state)
{
    s_fixture_t *f = *state;
    assert_int_equal(s_head(f), 0);
    store_meta_t m = s_meta(f);
    assert_int_equal(m.wal_head, 0);
    assert_int_equal(m.wal_floor, 1);
}

static void
test_wal_append_assigns_increasing_seqs(void **state)
{
    s_fixture_t *f = *state;
    MDB_txn *txn = s_begin(f, 0);
    for (uint64_t want = 1; want <= 5; want++) {
        change_t c = s_change(0xa1, 100 + want);
        c.seq = 777;                        // whatever the caller had is replaced
        assert_int_equal(wal_append(f->node->store, txn, &c), 0);
        assert_int_equal(c.seq, want);
        uint64_t head;
        assert_int_equal(wal_head(f->node->store, txn, &head), 0);
        assert_int_equal(head, want);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    store_meta_t m = s_meta(f);
    assert_int_equal(m.wal_head, 5);
    assert_int_equal(m.wal_floor, 1);
}

static void
test_wal_entry_is_the_encoded_change_with_origin_kept(void **state)
{
    s_fixture_t *f = *state;
    MDB_txn *txn = s_begin(f, 0);
    change_t c = s_change(0xb2, 9);
    assert_int_equal(wal_append(f->node->store, txn, &c), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);

    assert_int_equal(store_read_begin(f->node->store, &txn), 0);
    uint8_t kbuf[8];
    store_key_seq(kbuf, 1);
    MDB_val key = { sizeof kbuf, kbuf }, val;
    assert_int_equal(mdb_get(txn, f->node->store->wal, &key, &val), 0);
    change_t back;
    assert_int_equal(change_decode(val.mv_data, val.mv_size, &back), 0);
    assert_int_equal(back.seq, 1);
    assert_memory_equal(back.origin.b, c.origin.b, PDB_ID_LEN);
    assert_int_equal(back.origin_seq, 9);               // not renumbered
    assert_int_equal(back.hlc, c.hlc);
    assert_int_equal(back.entity, ENT_EXPERIENCE);
    assert_int_equal(back.op, OP_UPDATE);
    assert_memory_equal(back.entity_id.b, c.entity_id.b, PDB_ID_LEN);
    assert_int_equal(back.fields_len, sizeof s_fields);
    assert_memory_equal(back.fields, s_fields, sizeof s_fields);
    mdb_txn_abort(txn);
}

static void
test_wal_head_survives_reopen(void **state)
{
    s_fixture_t *f = *state;
    s_append(f, 1, 3);
    s_reopen(f);
    assert_int_equal(s_head(f), 3);
    store_meta_t m = s_meta(f);
    assert_int_equal(m.wal_head, 3);
    assert_int_equal(m.wal_floor, 1);
    s_append(f, 4, 1);
    assert_int_equal(s_head(f), 4);
}

static void
test_wal_aborted_append_leaves_head_alone(void **state)
{
    s_fixture_t *f = *state;
    s_append(f, 1, 2);
    MDB_txn *txn = s_begin(f, 0);
    change_t c = s_change(0xa1, 3);
    assert_int_equal(wal_append(f->node->store, txn, &c), 0);
    assert_int_equal(c.seq, 3);
    mdb_txn_abort(txn);
    assert_int_equal(s_head(f), 2);
    s_append(f, 3, 1);
    assert_int_equal(s_head(f), 3);
}

static void
test_wal_floor_follows_compaction_and_head_is_never_reused(void **state)
{
    s_fixture_t *f = *state;
    s_append(f, 1, 4);
    s_delete_seq(f, 1);
    s_delete_seq(f, 2);
    store_meta_t m = s_meta(f);
    assert_int_equal(m.wal_head, 4);
    assert_int_equal(m.wal_floor, 3);
    s_delete_seq(f, 3);
    s_delete_seq(f, 4);
    m = s_meta(f);
    assert_int_equal(m.wal_head, 4);                    // kept in meta
    assert_int_equal(m.wal_floor, 5);                   // empty: head + 1
    s_reopen(f);
    MDB_txn *txn = s_begin(f, 0);
    change_t c = s_change(0xa1, 5);
    assert_int_equal(wal_append(f->node->store, txn, &c), 0);
    assert_int_equal(c.seq, 5);
    assert_int_equal(mdb_txn_commit(txn), 0);
    m = s_meta(f);
    assert_int_equal(m.wal_head, 5);
    assert_int_equal(m.wal_floor, 5);
}

static void
test_wal_keys_sort_in_sequence_order(void **state)
{
    s_fixture_t *f = *state;
    s_append(f, 1, 300);                 // crosses the 255/256 byte boundary
    MDB_txn *txn;
    assert_int_equal(store_read_begin(f->node->store, &txn), 0);
    MDB_cursor *cur;
    assert_int_equal(mdb_cursor_open(txn, f->node->store->wal, &cur), 0);
    MDB_val key, val;
    uint64_t expect = 1;
    int rc;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        assert_int_equal(key.mv_size, 8);
        assert_int_equal(store_seq_from_key(&key), expect);
        change_t c;
        assert_int_equal(change_decode(val.mv_data, val.mv_size, &c), 0);
        assert_int_equal(c.seq, expect);
        expect++;
    }
    assert_int_equal(rc, MDB_NOTFOUND);
    assert_int_equal(expect, 301);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
}

static void
test_wal_seq_key_is_big_endian_and_round_trips(void **state)
{
    (void) state;
    uint64_t seqs[] = { 0, 1, 255, 256, 0x0102030405060708ull, UINT64_MAX };
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
        uint8_t kbuf[8];
        store_key_seq(kbuf, seqs[i]);
        MDB_val key = { sizeof kbuf, kbuf };
        assert_true(store_seq_from_key(&key) == seqs[i]);
    }
    uint8_t kbuf[8];
    store_key_seq(kbuf, 0x0102030405060708ull);
    static const uint8_t want[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    assert_memory_equal(kbuf, want, 8);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_wal_empty_log_has_head_zero_and_floor_one,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wal_append_assigns_increasing_seqs,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wal_entry_is_the_encoded_change_with_origin_kept,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wal_head_survives_reopen, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wal_aborted_append_leaves_head_alone,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wal_floor_follows_compaction_and_head_is_never_reused,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wal_keys_sort_in_sequence_order,
                                        s_setup, s_teardown),
        cmocka_unit_test(test_wal_seq_key_is_big_endian_and_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
