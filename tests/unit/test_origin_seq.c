/*  test_origin_seq.c - origin sequences (docs/sync-protocol.md, "Origin
    sequences"): a node numbers its own changes 1, 2, 3, ... apart from its
    WAL, finds what it wrote under each again (own_changes), holds back a
    whole copy that skips ahead in its origin's sequence, and a forged jump
    under a third origin leaves that origin's real changes coming in.
*/
#include "clock.h"
#include "err.h"
#include "sproto.h"
#include "sync_fixture.h"
#include "wal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  A rename of coll by origin, number oseq, stamped at ms.
static void
s_rename(fx_change_t *fc, const pdb_id_t *origin, uint64_t oseq, uint64_t ms,
         const pdb_id_t *coll, const char *name)
{
    msgpack_packer *pk = fx_change_begin(fc, origin, oseq, FX_H(ms), ENT_COLLECTIVE, OP_UPDATE,
                                         coll, coll);
    mpk_pack_map(pk, 1);
    mpk_pack_str(pk, "name");
    mpk_pack_str(pk, name);
    fx_change_end(fc);
}

//  The WAL entry at seq (decoded; free the returned copy).
static void *
s_entry(fx_node_t *n, uint64_t seq, change_t *c)
{
    size_t len;
    void *copy = testkit_wal_entry(fx_store(n), seq, c, &len);
    assert_non_null(copy);
    return copy;
}

static void
test_own_changes_are_numbered_apart_from_the_wal(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    uint64_t t = clock_wall_ms();
    pdb_id_t coll = fx_new_collective(&n, t, "kb", FX_DIM1);          // WAL 1, own 1
    pdb_id_t a = testkit_id(0xa1);
    fx_change_t fc;
    s_rename(&fc, &a, 1, t + 1, &coll, "by-a");
    assert_int_equal(fx_ingest(&n, &fc.c), SPROTO_APPLIED);            // WAL 2, A's 1
    fx_change_release(&fc);
    fx_rename(&n, t + 2, &coll, "mine");                               // WAL 3, own 2
    const pdb_id_t *self = &n.node->instance_id;
    change_t c;
    uint64_t want_oseq[] = { 1, 1, 2 };
    for (uint64_t seq = 1; seq <= 3; seq++) {
        free(s_entry(&n, seq, &c));
        assert_int_equal(c.seq, seq);
        assert_int_equal(c.origin_seq, want_oseq[seq - 1]);
    }
    assert_int_equal(fx_vector(&n, self), 2);
    MDB_txn *txn = fx_read_begin(&n);
    uint64_t at;
    assert_int_equal(wal_own_seq(fx_store(&n), txn, 1, &at), 0);
    assert_int_equal(at, 1);
    assert_int_equal(wal_own_seq(fx_store(&n), txn, 2, &at), 0);
    assert_int_equal(at, 3);
    assert_int_equal(wal_own_seq(fx_store(&n), txn, 3, &at), PDB_ENOTFOUND);
    mdb_txn_abort(txn);

    //  What it wrote as its 2 comes back (under another seq): known. The
    //  same number with other bytes, or its next number: forged.
    void *copy = s_entry(&n, 3, &c);
    c.seq = 77;
    assert_int_equal(fx_ingest(&n, &c), SPROTO_KNOWN);
    c.hlc++;
    assert_int_equal(fx_ingest(&n, &c), PDB_EINVAL);
    c.hlc--;
    c.origin_seq = 3;
    assert_int_equal(fx_ingest(&n, &c), PDB_EINVAL);
    //  Under its own number 1 this change's bytes are not what it wrote there.
    c.origin_seq = 1;
    assert_int_equal(fx_ingest(&n, &c), PDB_EINVAL);
    free(copy);
    assert_int_equal(fx_head(&n), 3);
    assert_int_equal(fx_vector(&n, self), 2);
    fx_close(&n);
}

static void
test_a_whole_copy_that_skips_ahead_is_held_back(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    uint64_t t = clock_wall_ms();
    pdb_id_t coll = fx_new_collective(&n, t, "kb", FX_DIM1);
    pdb_id_t a = testkit_id(0xa1);
    fx_change_t real[3], forged;
    for (uint64_t k = 0; k < 3; k++) {
        char name[16];
        snprintf(name, sizeof name, "a-%llu", (unsigned long long) k + 1);
        s_rename(&real[k], &a, k + 1, t + 10 + k, &coll, name);
    }
    assert_int_equal(fx_ingest(&n, &real[0].c), SPROTO_APPLIED);
    uint64_t head = fx_head(&n);
    //  A forged jump: nothing applied, logged or claimed.
    s_rename(&forged, &a, 1000000, t + 100, &coll, "forged");
    assert_int_equal(fx_ingest(&n, &forged.c), PDB_EMISSINGDEP);
    assert_int_equal(fx_vector(&n, &a), 1);
    assert_int_equal(fx_head(&n), head);
    //  So is A's 3 before its 2.
    assert_int_equal(fx_ingest(&n, &real[2].c), PDB_EMISSINGDEP);
    //  A's real changes still come in, in order.
    assert_int_equal(fx_ingest(&n, &real[1].c), SPROTO_APPLIED);
    assert_int_equal(fx_ingest(&n, &real[2].c), SPROTO_APPLIED);
    assert_int_equal(fx_vector(&n, &a), 3);
    assert_int_equal(fx_head(&n), head + 2);
    //  As a partial copy the same jump is merged but claims nothing.
    forged.c.partial = true;
    assert_int_equal(fx_ingest(&n, &forged.c), SPROTO_APPLIED);
    assert_int_equal(fx_vector(&n, &a), 3);
    fx_change_release(&forged);
    for (int k = 0; k < 3; k++)
        fx_change_release(&real[k]);
    fx_close(&n);
}

//  Through a batch: the changes before the jump are applied, the cursor
//  stops just before it, and it is counted missing.
static void
test_a_batch_stops_at_the_jump(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    uint64_t t = clock_wall_ms();
    pdb_id_t coll = fx_new_collective(&n, t, "kb", FX_DIM1);
    pdb_id_t a = testkit_id(0xa1);
    fx_change_t fc[3];
    s_rename(&fc[0], &a, 1, t + 1, &coll, "one");
    s_rename(&fc[1], &a, 5, t + 2, &coll, "five");
    s_rename(&fc[2], &a, 6, t + 3, &coll, "six");
    fx_blob_t blobs[3];
    for (int k = 0; k < 3; k++) {
        fc[k].c.seq = (uint64_t) k + 10;
        mpk_out_t out;
        fx_change_encode(&fc[k].c, &out);
        blobs[k].len = out.buf.size;
        blobs[k].data = malloc(out.buf.size);
        assert_non_null(blobs[k].data);
        memcpy(blobs[k].data, out.buf.data, out.buf.size);
        mpk_out_release(&out);
    }
    int results[3];
    fx_result_t r = fx_apply(&n, "relay", blobs, 3, results);
    assert_int_equal(r.rc, 0);
    assert_int_equal(results[0], SPROTO_APPLIED);
    assert_int_equal(results[1], PDB_EMISSINGDEP);
    assert_int_equal(results[2], PDB_EMISSINGDEP);
    assert_int_equal(fx_pull_cursor(&n, "relay"), 10);
    assert_non_null(strstr(r.held, "change seq 11: whole copy of origin_seq 5 skips its "
                                   "origin's changes 2..4"));
    assert_int_equal(fx_vector(&n, &a), 1);
    for (int k = 0; k < 3; k++) {
        free(blobs[k].data);
        fx_change_release(&fc[k]);
    }
    fx_close(&n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_changes_are_numbered_apart_from_the_wal),
        cmocka_unit_test(test_a_whole_copy_that_skips_ahead_is_held_back),
        cmocka_unit_test(test_a_batch_stops_at_the_jump),
    };
    return cmocka_run_group_tests_name("origin_seq", tests, NULL, NULL);
}
