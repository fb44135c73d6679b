/*  test_ingest.c - one change into the store (ingest.h) on real LMDB
    stores: the version vector and the WAL relay (known, appended with its
    origin kept, dominated, partial copies), the clock (drift bound, remote
    stamps), and changes naming this node as their origin.
*/
#include "bounds.h"
#include "clock.h"
#include "err.h"
#include "ingest.h"
#include "local.h"
#include "sproto.h"
#include "sync_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Version vector and WAL relay

static void
test_ingest_known_origin_seq_is_dropped_without_wal_append(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[2];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_exp_change(&set[1], FX_ORG_A, 2, 110, FX_COLL, FX_E1);
    fx_ingest_all(&n, set, 2);
    pdb_id_t a = testkit_id(FX_ORG_A);
    assert_int_equal(fx_vector(&n, &a), 2);
    assert_int_equal(fx_head(&n), 2);
    //  The same changes again, through another path.
    assert_int_equal(fx_ingest(&n, &set[1].c), SPROTO_KNOWN);
    assert_int_equal(fx_ingest(&n, &set[0].c), SPROTO_KNOWN);
    //  A change at or below the vector is not even looked at.
    fx_change_t stale[1];
    fx_unit_change(&stale[0], FX_ORG_A, 2, 99999, FX_COLL, FX_E1, "importance", 0.99);
    assert_int_equal(fx_ingest(&n, &stale[0].c), SPROTO_KNOWN);
    assert_int_equal(fx_head(&n), 2);
    assert_int_equal(fx_vector(&n, &a), 2);
    fx_record_t r;
    assert_int_equal(fx_record(&n, fx_id(FX_E1), &r), 0);
    assert_true(fx_rec_dbl(&r, "importance") == 0.5);
    fx_record_free(&r);
    fx_changes_release(set, 2);
    fx_changes_release(stale, 1);
    fx_close(&n);
}

static void
test_ingest_remote_change_is_appended_with_origin_kept(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[3];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_exp_change(&set[1], FX_ORG_B, 1, 110, FX_COLL, FX_E1);
    fx_unit_change(&set[2], FX_ORG_C, 1, 120, FX_COLL, FX_E1, "confidence", 0.25);
    set[2].c.seq = 555;                  // the sender's sequence is not ours
    fx_ingest_all(&n, set, 3);
    assert_int_equal(fx_head(&n), 3);
    for (uint64_t seq = 1; seq <= 3; seq++) {
        change_t got;
        void *copy = fx_wal_entry(&n, seq, &got);
        const change_t *want = &set[seq - 1].c;
        assert_int_equal(got.seq, seq);
        assert_memory_equal(got.origin.b, want->origin.b, PDB_ID_LEN);
        assert_int_equal(got.origin_seq, want->origin_seq);
        assert_int_equal(got.hlc, want->hlc);
        assert_int_equal(got.entity, want->entity);
        assert_int_equal(got.op, want->op);
        assert_memory_equal(got.collective_id.b, want->collective_id.b, PDB_ID_LEN);
        assert_memory_equal(got.entity_id.b, want->entity_id.b, PDB_ID_LEN);
        assert_int_equal(got.fields_len, want->fields_len);
        assert_memory_equal(got.fields, want->fields, want->fields_len);
        free(copy);
    }
    pdb_id_t a = testkit_id(FX_ORG_A), b = testkit_id(FX_ORG_B), c = testkit_id(FX_ORG_C);
    assert_int_equal(fx_vector(&n, &a), 1);
    assert_int_equal(fx_vector(&n, &b), 1);
    assert_int_equal(fx_vector(&n, &c), 1);
    fx_changes_release(set, 3);
    fx_close(&n);
}

static void
test_ingest_dominated_change_moves_vector_and_travels_on(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[4];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_exp_change(&set[1], FX_ORG_A, 2, 110, FX_COLL, FX_E1);
    fx_unit_change(&set[2], FX_ORG_B, 1, 300, FX_COLL, FX_E1, "importance", 0.9);
    fx_unit_change(&set[3], FX_ORG_C, 1, 200, FX_COLL, FX_E1, "importance", 0.1);
    fx_ingest_all(&n, set, 3);
    assert_int_equal(fx_ingest(&n, &set[3].c), SPROTO_KNOWN);
    pdb_id_t c = testkit_id(FX_ORG_C);
    assert_int_equal(fx_vector(&n, &c), 1);
    //  Logged all the same, so C's next change does not look like a jump
    //  to the nodes this one relays to.
    assert_int_equal(fx_head(&n), 4);
    change_t got;
    void *copy = fx_wal_entry(&n, 4, &got);
    assert_int_equal(got.origin_seq, 1);
    assert_false(got.partial);
    free(copy);
    //  Again: known, and not logged twice.
    assert_int_equal(fx_ingest(&n, &set[3].c), SPROTO_KNOWN);
    assert_int_equal(fx_head(&n), 4);
    fx_record_t r;
    assert_int_equal(fx_record(&n, fx_id(FX_E1), &r), 0);
    assert_true(fx_rec_dbl(&r, "importance") == 0.9);
    fx_record_free(&r);
    fx_changes_release(set, 4);
    fx_close(&n);
}

//  A partial copy (the mark from a filtered hop) is merged and relayed with
//  its mark, but claims nothing of its origin; a whole copy arriving later
//  is known and raises the entry then. An earlier change of that origin
//  still gets in after a later partial one.
static void
test_ingest_partial_copy_relays_its_mark_and_moves_no_vector(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[4];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_exp_change(&set[1], FX_ORG_A, 4, 110, FX_COLL, FX_E1);
    fx_exp_change(&set[2], FX_ORG_A, 2, 120, FX_COLL, FX_E2);
    fx_exp_change(&set[3], FX_ORG_A, 3, 130, FX_COLL, FX_E3);
    pdb_id_t a = testkit_id(FX_ORG_A);
    assert_int_equal(fx_ingest(&n, &set[0].c), SPROTO_APPLIED);
    set[1].c.partial = true;
    assert_int_equal(fx_ingest(&n, &set[1].c), SPROTO_APPLIED);
    assert_int_equal(fx_vector(&n, &a), 1);
    assert_int_equal(fx_ingest(&n, &set[1].c), SPROTO_KNOWN);   // again: still no claim
    assert_int_equal(fx_vector(&n, &a), 1);
    assert_int_equal(fx_head(&n), 2);
    change_t got;
    void *copy = fx_wal_entry(&n, 1, &got);
    assert_false(got.partial);
    free(copy);
    copy = fx_wal_entry(&n, 2, &got);
    assert_true(got.partial);
    assert_int_equal(got.origin_seq, 4);
    free(copy);
    //  A's 2, whole, from an unfiltered path: applied, logged unmarked.
    assert_int_equal(fx_ingest(&n, &set[2].c), SPROTO_APPLIED);
    assert_int_equal(fx_vector(&n, &a), 2);
    copy = fx_wal_entry(&n, 3, &got);
    assert_false(got.partial);
    free(copy);
    //  A's 4, whole, before its 3: held back, it would claim the 3.
    set[1].c.partial = false;
    assert_int_equal(fx_ingest(&n, &set[1].c), PDB_EMISSINGDEP);
    assert_int_equal(fx_vector(&n, &a), 2);
    assert_int_equal(fx_ingest(&n, &set[3].c), SPROTO_APPLIED);
    //  Now known here, and the entry may cover it; logged whole to travel on.
    assert_int_equal(fx_ingest(&n, &set[1].c), SPROTO_KNOWN);
    assert_int_equal(fx_vector(&n, &a), 4);
    assert_int_equal(fx_head(&n), 5);
    copy = fx_wal_entry(&n, 5, &got);
    assert_false(got.partial);
    assert_int_equal(got.origin_seq, 4);
    free(copy);
    fx_changes_release(set, 4);
    fx_close(&n);
}

//  --------------------------------------------------------------------------
//  The clock

static void
test_ingest_remote_stamp_advances_local_clock(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[3];
    uint64_t future_ms = clock_wall_ms() + 3600 * 1000;   // a peer an hour ahead of us
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_exp_change(&set[1], FX_ORG_A, 2, 110, FX_COLL, FX_E1);
    fx_unit_change(&set[2], FX_ORG_B, 1, future_ms, FX_COLL, FX_E1, "importance", 0.9);
    fx_ingest_all(&n, set, 3);
    assert_true(n.node->hlc.last >= FX_H(future_ms));
    //  A local write made afterwards, at our slow wall time, still wins.
    mpk_out_t f;
    mpk_out_init(&f);
    mpk_pack_map(&f.pk, 1);
    fx_kv_dbl(&f.pk, "importance", 0.2);
    pdb_id_t coll = testkit_id(FX_COLL), e1 = testkit_id(FX_E1);
    local_write_t w = { ENT_EXPERIENCE, OP_UPDATE, &coll, &e1, f.buf.data, f.buf.size };
    char why[PDB_ERRMSG_MAX];
    MDB_txn *txn = fx_write_begin(&n);
    uint64_t seq;
    assert_int_equal(local_write(&n.ing, txn, &w, 1000, NULL, &seq, why), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mpk_out_release(&f);
    fx_record_t r;
    assert_int_equal(fx_record(&n, fx_id(FX_E1), &r), 0);
    assert_true(fx_rec_dbl(&r, "importance") == 0.2);
    fx_record_free(&r);
    change_t got;
    void *copy = fx_wal_entry(&n, seq, &got);
    assert_true(got.hlc > FX_H(future_ms));
    free(copy);
    fx_changes_release(set, 3);
    fx_close(&n);
}

static void
test_ingest_refuses_clock_stamp_beyond_drift_bound(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[2];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_ingest_all(&n, set, 1);
    uint64_t far_ms = clock_wall_ms() + PDB_HLC_DRIFT_MAX_MS + 60000;
    fx_exp_change(&set[1], FX_ORG_B, 1, far_ms, FX_COLL, FX_E1);
    uint64_t before = n.node->hlc.last;
    assert_int_equal(fx_ingest(&n, &set[1].c), PDB_EINVAL);
    assert_int_equal(n.node->hlc.last, before);
    fx_changes_release(set, 2);
    fx_close(&n);
}

//  --------------------------------------------------------------------------
//  This node's own origin

//  A change naming this node as its origin that it never wrote is refused
//  whole: above its head it would raise its own vector entry (its next
//  writes would look old to every peer) or collide with a later write; at
//  or below it, differing from what it wrote, it is forged too. What it
//  really wrote comes back as known, also through a filtered relay.
static void
test_ingest_refuses_change_under_own_origin_it_never_wrote(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_write_t coll = fx_write_collective(&n, "kb", FX_DIM1);
    assert_int_equal(coll.rc, 0);
    fx_write_t exp = fx_write_experience(&n, &coll.id, FX_DIM1);
    assert_int_equal(exp.rc, 0);
    const pdb_id_t self = n.ing.self;
    assert_int_equal(fx_vector(&n, &self), 2);
    //  Far ahead, and just ahead, of what this node wrote.
    uint64_t ahead[] = { 1000000, 3 };
    for (size_t i = 0; i < 2; i++) {
        change_t forged;
        void *copy = fx_wal_entry(&n, 2, &forged);
        forged.origin_seq = ahead[i];
        forged.hlc += 1;
        char why[PDB_ERRMSG_MAX];
        MDB_txn *txn = fx_write_begin(&n);
        assert_int_equal(ingest_remote(&n.ing, txn, &forged, why), PDB_EINVAL);
        mdb_txn_abort(txn);
        assert_non_null(strstr(why, "forged"));
        free(copy);
    }
    //  At its own seq, with other bytes.
    change_t echo;
    void *copy = fx_wal_entry(&n, 2, &echo);
    change_t altered = echo;
    altered.hlc += 1;
    assert_int_equal(fx_ingest(&n, &altered), PDB_EINVAL);
    //  The very change, echoed under another sender seq and as a partial copy.
    echo.seq = 77;
    assert_int_equal(fx_ingest(&n, &echo), SPROTO_KNOWN);
    echo.partial = true;
    assert_int_equal(fx_ingest(&n, &echo), SPROTO_KNOWN);
    free(copy);
    assert_int_equal(fx_vector(&n, &self), 2);
    assert_int_equal(fx_head(&n), 2);
    //  The next local write continues this node's own sequence.
    fx_write_t next = fx_write_experience(&n, &coll.id, FX_DIM1);
    assert_int_equal(next.rc, 0);
    change_t got;
    copy = fx_wal_entry(&n, next.seq, &got);
    assert_int_equal(got.origin_seq, 3);
    assert_int_equal(fx_vector(&n, &self), 3);
    free(copy);
    fx_close(&n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ingest_known_origin_seq_is_dropped_without_wal_append),
        cmocka_unit_test(test_ingest_remote_change_is_appended_with_origin_kept),
        cmocka_unit_test(test_ingest_dominated_change_moves_vector_and_travels_on),
        cmocka_unit_test(test_ingest_partial_copy_relays_its_mark_and_moves_no_vector),
        cmocka_unit_test(test_ingest_remote_stamp_advances_local_clock),
        cmocka_unit_test(test_ingest_refuses_clock_stamp_beyond_drift_bound),
        cmocka_unit_test(test_ingest_refuses_change_under_own_origin_it_never_wrote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
