/*  test_batch.c - "apply" batches (batch.h) on real LMDB stores: checked
    whole before anything is written, stopped at a missing dependency, the
    peer's pull cursor in the same transaction and never moving backwards,
    strictly increasing sequences, known changes, partial batches.
*/
#include "batch.h"
#include "bounds.h"
#include "err.h"
#include "peers.h"
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
//  Running a batch

typedef struct {
    int rc;
    int results[16];
    uint32_t n_results;
    uint64_t head;
    char why[PDB_ERRMSG_MAX];
    char held[PDB_ERRMSG_MAX];          // why a change was held back, when said
} s_batch_t;

//  Runs batch_apply as storage does: in a child transaction, aborted on error.
//  partial: the optional fourth argument (-1: left out).
static s_batch_t
s_batch_with(fx_node_t *n, const char *peer, uint64_t cursor, fx_change_t **changes,
             size_t count, storage_stats_t *stats, int partial)
{
    s_batch_t res;
    memset(&res, 0, sizeof res);
    mpk_out_t args;
    mpk_out_init(&args);
    mpk_pack_array(&args.pk, partial < 0 ? 3 : 4);
    mpk_pack_str(&args.pk, peer);
    mpk_pack_u64(&args.pk, cursor);
    mpk_pack_array(&args.pk, count);
    for (size_t i = 0; i < count; i++) {
        if (!changes[i]) {               // NULL: a garbage entry
            mpk_pack_bin(&args.pk, "\x93\x01\x02", 3);
            continue;
        }
        mpk_out_t one;
        mpk_out_init(&one);
        change_pack(&one.pk, &changes[i]->c);
        mpk_pack_bin(&args.pk, one.buf.data, one.buf.size);
        mpk_out_release(&one);
    }
    if (partial >= 0)
        mpk_pack_bool(&args.pk, partial);
    assert_int_equal(mpk_out_status(&args), 0);
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(args.buf.data, args.buf.size, &u), 0);
    storage_stats_t local_stats = { 0 };
    MDB_txn *parent = fx_write_begin(n), *child;
    assert_int_equal(mdb_txn_begin(fx_store(n)->env, parent, 0, &child), 0);
    mpk_out_t out;
    mpk_out_init(&out);
    res.rc = batch_apply(&n->ing, child, &u.data, &out, stats ? stats : &local_stats, res.why);
    if (res.rc == 0)
        assert_int_equal(mdb_txn_commit(child), 0);
    else
        mdb_txn_abort(child);
    assert_int_equal(mdb_txn_commit(parent), 0);
    if (res.rc == 0) {
        msgpack_unpacked r;
        assert_int_equal(mpk_parse(out.buf.data, out.buf.size, &r), 0);
        assert_int_equal(r.data.type, MSGPACK_OBJECT_ARRAY);
        //  A third item names why a change was held back (a jump).
        uint32_t items = r.data.via.array.size;
        assert_true(items == 2 || items == 3);
        if (items == 3) {
            const char *held;
            size_t held_len;
            assert_int_equal(mpk_get_str(&r.data.via.array.ptr[2], &held, &held_len), 0);
            snprintf(res.held, sizeof res.held, "%.*s", (int) held_len, held);
        }
        const msgpack_object *list = &r.data.via.array.ptr[0];
        res.n_results = list->via.array.size;
        assert_true(res.n_results <= 16);
        for (uint32_t i = 0; i < res.n_results; i++) {
            int64_t v;
            assert_int_equal(mpk_get_i64(&list->via.array.ptr[i], &v), 0);
            res.results[i] = (int) v;
        }
        assert_int_equal(mpk_get_u64(&r.data.via.array.ptr[1], &res.head), 0);
        msgpack_unpacked_destroy(&r);
    }
    mpk_out_release(&out);
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&args);
    return res;
}

static s_batch_t
s_batch(fx_node_t *n, const char *peer, uint64_t cursor, fx_change_t **changes, size_t count,
        storage_stats_t *stats)
{
    return s_batch_with(n, peer, cursor, changes, count, stats, -1);
}

static void
s_assert_untouched(fx_node_t *n)
{
    store_t *st = fx_store(n);
    assert_int_equal(fx_head(n), 0);
    assert_int_equal(fx_entries(n, st->versions), 0);
    assert_int_equal(fx_entries(n, st->collectives), 0);
    assert_int_equal(fx_entries(n, st->experiences), 0);
    assert_int_equal(fx_entries(n, st->origins), 0);
    assert_int_equal(fx_entries(n, st->peers), 0);
}

static void
test_batch_malformed_change_refuses_whole_batch(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[3];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_exp_change(&set[1], FX_ORG_A, 2, 110, FX_COLL, FX_E1);
    //  Decodes, but breaks the entity rules: unknown field.
    msgpack_packer *pk = fx_hand_begin(&set[2], FX_ORG_A, 3, FX_H(120),
                                       ENT_EXPERIENCE, OP_UPDATE, FX_COLL, FX_E1);
    mpk_pack_map(pk, 1);
    fx_kv_str(pk, "colour", "red");
    fx_change_end(&set[2]);
    for (size_t i = 0; i < 3; i++)
        set[i].c.seq = 10 + i;

    fx_change_t *garbage[] = { &set[0], NULL, &set[1] };
    s_batch_t res = s_batch(&n, "peer-1", 12, garbage, 3, NULL);
    assert_int_equal(res.rc, PDB_EINVAL);
    assert_non_null(strstr(res.why, "change 1"));
    s_assert_untouched(&n);

    //  The bad change comes after two good ones: they are undone too.
    fx_change_t *rules[] = { &set[0], &set[1], &set[2] };
    res = s_batch(&n, "peer-1", 12, rules, 3, NULL);
    assert_int_equal(res.rc, PDB_EINVAL);
    assert_non_null(strstr(res.why, "colour"));
    s_assert_untouched(&n);
    fx_changes_release(set, 3);
    fx_close(&n);
}

static void
test_batch_missing_dependency_stops_batch_and_cursor(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[4];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_unit_change(&set[1], FX_ORG_B, 1, 200, FX_COLL, FX_E1, "importance", 0.9);   // E1 not here
    fx_coll_change(&set[2], FX_ORG_A, 2, 210, FX_COLL2, "other");
    fx_exp_change(&set[3], FX_ORG_C, 1, 110, FX_COLL, FX_E1);                        // via peer-2
    set[0].c.seq = 10;
    set[1].c.seq = 11;
    set[2].c.seq = 12;
    set[3].c.seq = 1;
    storage_stats_t stats = { 0 };
    fx_change_t *batch[] = { &set[0], &set[1], &set[2] };
    s_batch_t res = s_batch(&n, "peer-1", 12, batch, 3, &stats);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.n_results, 3);
    assert_int_equal(res.results[0], SPROTO_APPLIED);
    assert_int_equal(res.results[1], PDB_EMISSINGDEP);
    assert_int_equal(res.results[2], PDB_EMISSINGDEP);     // held back behind it
    assert_int_equal(res.head, 1);
    assert_int_equal(fx_pull_cursor(&n, "peer-1"), 10);     // just before the held change
    assert_int_equal(fx_alive(&n, fx_id(FX_COLL2)), -1);
    assert_int_equal(stats.applied, 1);
    assert_int_equal(stats.missing, 2);

    //  The dependency arrives from another peer...
    fx_change_t *dep[] = { &set[3] };
    res = s_batch(&n, "peer-2", 1, dep, 1, &stats);
    assert_int_equal(res.rc, 0);
    assert_int_equal(fx_pull_cursor(&n, "peer-2"), 1);
    //  ...and peer-1 resends from its cursor: now everything lands.
    fx_change_t *again[] = { &set[1], &set[2] };
    res = s_batch(&n, "peer-1", 12, again, 2, &stats);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.results[0], SPROTO_APPLIED);
    assert_int_equal(res.results[1], SPROTO_APPLIED);
    assert_int_equal(res.head, 4);
    assert_int_equal(fx_pull_cursor(&n, "peer-1"), 12);
    fx_record_t r;
    assert_int_equal(fx_record(&n, fx_id(FX_E1), &r), 0);
    assert_true(fx_rec_dbl(&r, "importance") == 0.9);
    fx_record_free(&r);
    fx_changes_release(set, 4);
    fx_close(&n);
}

static void
test_batch_cursor_never_moves_backwards(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    //  An all-filtered page still advances the cursor.
    assert_int_equal(s_batch(&n, "peer-1", 50, NULL, 0, NULL).rc, 0);
    assert_int_equal(fx_pull_cursor(&n, "peer-1"), 50);
    assert_int_equal(s_batch(&n, "peer-1", 20, NULL, 0, NULL).rc, 0);
    assert_int_equal(fx_pull_cursor(&n, "peer-1"), 50);
    //  A missing dependency below the cursor does not pull it back either.
    fx_change_t set[1];
    fx_unit_change(&set[0], FX_ORG_B, 1, 200, FX_COLL, FX_E1, "importance", 0.9);
    set[0].c.seq = 30;
    fx_change_t *batch[] = { &set[0] };
    s_batch_t res = s_batch(&n, "peer-1", 30, batch, 1, NULL);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.results[0], PDB_EMISSINGDEP);
    assert_int_equal(fx_pull_cursor(&n, "peer-1"), 50);
    assert_int_equal(s_batch(&n, "peer-1", 60, NULL, 0, NULL).rc, 0);
    assert_int_equal(fx_pull_cursor(&n, "peer-1"), 60);
    //  Other peers' cursors are their own.
    assert_int_equal(fx_pull_cursor(&n, "peer-2"), -1);
    //  The cursor never goes down through peer_set either.
    mpk_out_t a;
    mpk_out_init(&a);
    mpk_pack_array(&a.pk, 2);
    mpk_pack_str(&a.pk, "peer-1");
    mpk_pack_map(&a.pk, 2);
    fx_kv_u64(&a.pk, "pull_cursor", 5);
    fx_kv_str(&a.pk, "last_error", "timeout");
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(a.buf.data, a.buf.size, &u), 0);
    char why[PDB_ERRMSG_MAX];
    MDB_txn *txn = fx_write_begin(&n);
    assert_int_equal(peers_set(fx_store(&n), txn, &u.data, why), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&a);
    assert_int_equal(fx_pull_cursor(&n, "peer-1"), 60);
    fx_changes_release(set, 1);
    fx_close(&n);
}

//  peer_set [name, {prefix00: 1, prefix01: 1, ...}] with `count` fields.
static int
s_peer_set_fields(fx_node_t *n, const char *peer, const char *prefix, unsigned count)
{
    mpk_out_t a;
    mpk_out_init(&a);
    mpk_pack_array(&a.pk, 2);
    mpk_pack_str(&a.pk, peer);
    mpk_pack_map(&a.pk, count);
    for (unsigned i = 0; i < count; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s%02u", prefix, i);
        fx_kv_u64(&a.pk, name, i);
    }
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(a.buf.data, a.buf.size, &u), 0);
    char why[PDB_ERRMSG_MAX];
    MDB_txn *txn = fx_write_begin(n);
    int rc = peers_set(fx_store(n), txn, &u.data, why);
    if (rc == 0)
        assert_int_equal(mdb_txn_commit(txn), 0);
    else
        mdb_txn_abort(txn);
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&a);
    return rc;
}

//  A peer row holding many other fields must never lose its cursor: a
//  lost cursor reads as 0, and the next lower one would be accepted.
static void
test_batch_cursor_survives_many_peer_state_fields(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    assert_int_equal(s_peer_set_fields(&n, "peer-1", "a", PEERS_FIELDS_MAX - 2), 0);
    assert_int_equal(s_batch(&n, "peer-1", 100, NULL, 0, NULL).rc, 0);
    assert_int_equal(fx_pull_cursor(&n, "peer-1"), 100);
    //  More fields than a row holds are refused whole, not truncated.
    assert_int_equal(s_peer_set_fields(&n, "peer-1", "b", 2), PDB_ETOOBIG);
    assert_int_equal(fx_pull_cursor(&n, "peer-1"), 100);
    assert_int_equal(s_batch(&n, "peer-1", 40, NULL, 0, NULL).rc, 0);
    assert_int_equal(fx_pull_cursor(&n, "peer-1"), 100);
    //  Fields already there can still be rewritten, and the cursor raised.
    assert_int_equal(s_peer_set_fields(&n, "peer-1", "a", PEERS_FIELDS_MAX - 2), 0);
    assert_int_equal(s_batch(&n, "peer-1", 120, NULL, 0, NULL).rc, 0);
    assert_int_equal(fx_pull_cursor(&n, "peer-1"), 120);
    fx_close(&n);
}

static void
test_batch_refuses_non_increasing_sequences(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[3];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_coll_change(&set[1], FX_ORG_B, 1, 101, FX_COLL2, "other");
    fx_exp_change(&set[2], FX_ORG_A, 2, 110, FX_COLL, FX_E1);
    fx_change_t *batch[] = { &set[0], &set[1], &set[2] };
    struct { uint64_t seqs[3]; uint64_t cursor; } bad[] = {
        { { 1, 1, 2 }, 2 },              // repeated
        { { 2, 1, 3 }, 3 },              // going down
        { { 0, 1, 2 }, 2 },              // zero
        { { 1, 2, 3 }, 2 },              // cursor behind the batch
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (size_t k = 0; k < 3; k++)
            set[k].c.seq = bad[i].seqs[k];
        s_batch_t res = s_batch(&n, "peer-1", bad[i].cursor, batch, 3, NULL);
        assert_int_equal(res.rc, PDB_EINVAL);
        s_assert_untouched(&n);
    }
    //  An origin's own sequence must rise inside a batch too.
    set[2].c.origin_seq = 1;
    for (size_t k = 0; k < 3; k++)
        set[k].c.seq = k + 1;
    assert_int_equal(s_batch(&n, "peer-1", 3, batch, 3, NULL).rc, PDB_EINVAL);
    s_assert_untouched(&n);
    set[2].c.origin_seq = 2;
    s_batch_t res = s_batch(&n, "peer-1", 3, batch, 3, NULL);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.head, 3);
    assert_int_equal(fx_pull_cursor(&n, "peer-1"), 3);
    fx_changes_release(set, 3);
    fx_close(&n);
}

static void
test_batch_reports_known_changes_and_skips_cursor_without_peer(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[2];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_exp_change(&set[1], FX_ORG_A, 2, 110, FX_COLL, FX_E1);
    set[0].c.seq = 1;
    set[1].c.seq = 2;
    fx_change_t *batch[] = { &set[0], &set[1] };
    storage_stats_t stats = { 0 };
    s_batch_t res = s_batch(&n, "", 2, batch, 2, &stats);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.results[0], SPROTO_APPLIED);
    assert_int_equal(res.results[1], SPROTO_APPLIED);
    assert_int_equal(fx_entries(&n, fx_store(&n)->peers), 0);
    //  The same batch again (from a second path): all known, WAL unchanged.
    res = s_batch(&n, "relay", 2, batch, 2, &stats);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.results[0], SPROTO_KNOWN);
    assert_int_equal(res.results[1], SPROTO_KNOWN);
    assert_int_equal(res.head, 2);
    assert_int_equal(fx_pull_cursor(&n, "relay"), 2);
    assert_int_equal(stats.applied, 2);
    assert_int_equal(stats.known, 2);
    fx_changes_release(set, 2);
    fx_close(&n);
}

static void
test_batch_refuses_bad_arguments_and_oversized_batches(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    struct { const char *what; int want; } cases[] = {
        { "short", PDB_EINVAL }, { "name", PDB_EINVAL }, { "list", PDB_EINVAL },
        { "big", PDB_ETOOBIG }, { "flag", PDB_EINVAL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mpk_out_t a;
        mpk_out_init(&a);
        if (strcmp(cases[i].what, "short") == 0) {
            mpk_pack_array(&a.pk, 2);
            mpk_pack_str(&a.pk, "peer-1");
            mpk_pack_u64(&a.pk, 1);
        }
        else if (strcmp(cases[i].what, "flag") == 0) {
            mpk_pack_array(&a.pk, 4);              // partial must be a boolean
            mpk_pack_str(&a.pk, "peer-1");
            mpk_pack_u64(&a.pk, 1);
            mpk_pack_array(&a.pk, 0);
            mpk_pack_u64(&a.pk, 1);
        }
        else {
            mpk_pack_array(&a.pk, 3);
            if (strcmp(cases[i].what, "name") == 0)
                mpk_pack_strn(&a.pk, "p\xff", 2);
            else
                mpk_pack_str(&a.pk, "peer-1");
            mpk_pack_u64(&a.pk, PDB_BATCH_MAX + 1);
            if (strcmp(cases[i].what, "list") == 0)
                mpk_pack_map(&a.pk, 0);
            else {
                uint32_t count = strcmp(cases[i].what, "big") == 0 ? PDB_BATCH_MAX + 1 : 0;
                mpk_pack_array(&a.pk, count);
                for (uint32_t k = 0; k < count; k++)
                    mpk_pack_nil(&a.pk);
            }
        }
        msgpack_unpacked u;
        assert_int_equal(mpk_parse(a.buf.data, a.buf.size, &u), 0);
        mpk_out_t out;
        mpk_out_init(&out);
        storage_stats_t stats = { 0 };
        char why[PDB_ERRMSG_MAX] = "";
        MDB_txn *txn = fx_write_begin(&n);
        assert_int_equal(batch_apply(&n.ing, txn, &u.data, &out, &stats, why), cases[i].want);
        assert_true(why[0] != '\0');
        mdb_txn_abort(txn);
        mpk_out_release(&out);
        msgpack_unpacked_destroy(&u);
        mpk_out_release(&a);
    }
    s_assert_untouched(&n);
    fx_close(&n);
}

//  A batch from a filtered link: every change is a partial copy, applied
//  and logged with the mark, and no vector entry moves. The same changes
//  whole (another, unfiltered path) are known and do move it.
static void
test_batch_partial_applies_and_marks_but_moves_no_vector(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[2];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_exp_change(&set[1], FX_ORG_A, 3, 110, FX_COLL, FX_E1);      // A's 2 was filtered out
    set[0].c.seq = 1;
    set[1].c.seq = 2;
    fx_change_t *batch[] = { &set[0], &set[1] };
    s_batch_t res = s_batch_with(&n, "edge", 2, batch, 2, NULL, 1);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.results[0], SPROTO_APPLIED);
    assert_int_equal(res.results[1], SPROTO_APPLIED);
    assert_int_equal(res.head, 2);
    assert_int_equal(fx_pull_cursor(&n, "edge"), 2);
    pdb_id_t a = testkit_id(FX_ORG_A);
    assert_int_equal(fx_vector(&n, &a), 0);
    for (uint64_t seq = 1; seq <= 2; seq++) {
        change_t got;
        void *copy = fx_wal_entry(&n, seq, &got);
        assert_true(got.partial);
        free(copy);
    }
    //  An explicit false is a whole batch: A's 1 raises the entry (and is
    //  logged whole), A's 3 would skip A's 2 and is held back.
    res = s_batch_with(&n, "full", 2, batch, 2, NULL, 0);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.results[0], SPROTO_KNOWN);
    assert_int_equal(res.results[1], PDB_EMISSINGDEP);
    assert_non_null(strstr(res.held, "skips its origin's changes 2..2"));
    assert_int_equal(res.head, 3);
    assert_int_equal(fx_vector(&n, &a), 1);
    assert_int_equal(fx_pull_cursor(&n, "full"), 1);
    fx_changes_release(set, 2);
    fx_close(&n);
}

//  Partial copies are out of their origin's order in a relay's WAL (a
//  whole copy of an earlier change can be logged after them), so the
//  origin order is checked among whole copies only.
static void
test_batch_origin_order_binds_whole_copies_only(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[3];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_exp_change(&set[1], FX_ORG_A, 3, 110, FX_COLL, FX_E1);
    fx_exp_change(&set[2], FX_ORG_A, 2, 120, FX_COLL, FX_E2);
    for (size_t k = 0; k < 3; k++)
        set[k].c.seq = k + 1;
    fx_change_t *batch[] = { &set[0], &set[1], &set[2] };
    assert_int_equal(s_batch(&n, "relay", 3, batch, 3, NULL).rc, PDB_EINVAL);
    s_assert_untouched(&n);
    set[1].c.partial = true;
    s_batch_t res = s_batch(&n, "relay", 3, batch, 3, NULL);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.results[1], SPROTO_APPLIED);
    assert_int_equal(res.results[2], SPROTO_APPLIED);
    pdb_id_t a = testkit_id(FX_ORG_A);
    assert_int_equal(fx_vector(&n, &a), 2);
    fx_changes_release(set, 3);
    fx_close(&n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_malformed_change_refuses_whole_batch),
        cmocka_unit_test(test_batch_missing_dependency_stops_batch_and_cursor),
        cmocka_unit_test(test_batch_cursor_never_moves_backwards),
        cmocka_unit_test(test_batch_cursor_survives_many_peer_state_fields),
        cmocka_unit_test(test_batch_refuses_non_increasing_sequences),
        cmocka_unit_test(test_batch_reports_known_changes_and_skips_cursor_without_peer),
        cmocka_unit_test(test_batch_refuses_bad_arguments_and_oversized_batches),
        cmocka_unit_test(test_batch_partial_applies_and_marks_but_moves_no_vector),
        cmocka_unit_test(test_batch_origin_order_binds_whole_copies_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
