/*  test_compact.c - "compact" (WAL entries below a bound, in bounded
    steps) and "purge" (old tombstones), through the storage socket's
    handlers on real LMDB stores.
*/
#include "compact.h"
#include "clock.h"
#include "err.h"
#include "handlers.h"
#include "mpk.h"
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

#define RESULTS_MAX 4

typedef struct {
    int rc;
    uint64_t v[RESULTS_MAX];     // the result array's numbers
    size_t n;
    storage_stats_t stats;
    char why[PDB_ERRMSG_MAX];
} s_reply_t;

//  Runs op with the packed args array through the storage handlers in one
//  write transaction (committed when it succeeds).
static s_reply_t
s_call(fx_node_t *n, const char *op, const mpk_out_t *args)
{
    s_reply_t r;
    memset(&r, 0, sizeof r);
    mpk_out_t req;
    mpk_out_init(&req);
    sproto_pack_request(&req.pk, 1, op, args->buf.data, args->buf.size);
    assert_int_equal(mpk_out_status(&req), 0);
    msgpack_unpacked u;
    handlers_request_t hr;
    assert_int_equal(handlers_parse(req.buf.data, req.buf.size, &u, &hr, r.why), 0);
    handlers_ctx_t ctx = { n->ing, &r.stats, clock_wall_ms() };
    mpk_out_t out;
    mpk_out_init(&out);
    MDB_txn *txn = fx_write_begin(n);
    r.rc = handlers_run(&ctx, txn, &hr, &out, r.why);
    if (r.rc == 0) {
        assert_int_equal(mdb_txn_commit(txn), 0);
        msgpack_unpacked res;
        if (out.buf.size > 0) {
            assert_int_equal(mpk_parse(out.buf.data, out.buf.size, &res), 0);
            assert_int_equal(res.data.type, MSGPACK_OBJECT_ARRAY);
            r.n = res.data.via.array.size;
            assert_true(r.n <= RESULTS_MAX);
            for (size_t i = 0; i < r.n; i++)
                assert_int_equal(mpk_get_u64(&res.data.via.array.ptr[i], &r.v[i]), 0);
            msgpack_unpacked_destroy(&res);
        }
    }
    else
        mdb_txn_abort(txn);
    mpk_out_release(&out);
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&req);
    return r;
}

static s_reply_t
s_two(fx_node_t *n, const char *op, uint64_t a, uint64_t b)
{
    mpk_out_t args;
    mpk_out_init(&args);
    mpk_pack_array(&args.pk, 2);
    mpk_pack_u64(&args.pk, a);
    mpk_pack_u64(&args.pk, b);
    s_reply_t r = s_call(n, op, &args);
    mpk_out_release(&args);
    return r;
}

static void
s_compact(fx_node_t *n, uint64_t below, uint64_t max, uint64_t want_deleted,
          uint64_t want_floor)
{
    s_reply_t r = s_two(n, "compact", below, max);
    if (r.rc)
        fail_msg("compact: rc=%d %s", r.rc, r.why);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.v[0], want_deleted);
    assert_int_equal(r.v[1], want_floor);
    assert_int_equal(r.stats.compacted, want_deleted);
    assert_int_equal(fx_meta(n).wal_floor, want_floor);
}

//  `count` collectives made locally: WAL seqs head+1 .. head+count.
static void
s_fill(fx_node_t *n, int count)
{
    for (int i = 0; i < count; i++) {
        char name[32];
        snprintf(name, sizeof name, "kb-%llu-%d", (unsigned long long) fx_head(n), i);
        fx_new_collective(n, clock_wall_ms(), name, FX_DIM1);
    }
}

//  --------------------------------------------------------------------------

static void
test_compact_deletes_only_below_bound_in_bounded_steps(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    s_fill(&n, 10);
    fx_blob_t *before;
    size_t count;
    fx_wal(&n, 5, &before, &count);                 // seqs 6..10
    assert_int_equal(count, 5);
    s_compact(&n, 6, 2, 2, 3);
    s_compact(&n, 6, 2, 2, 5);
    s_compact(&n, 6, 2, 1, 6);
    s_compact(&n, 6, 2, 0, 6);                      // done: idempotent
    s_compact(&n, 3, 100, 0, 6);                    // a lower bound does nothing
    //  Where this node's own changes 1..5 sat is forgotten with them.
    MDB_txn *txn = fx_read_begin(&n);
    uint64_t at;
    for (uint64_t own = 1; own <= 10; own++)
        assert_int_equal(wal_own_seq(fx_store(&n), txn, own, &at), own < 6 ? PDB_ENOTFOUND : 0);
    mdb_txn_abort(txn);
    assert_int_equal(fx_meta(&n).wal_head, 10);
    assert_int_equal(fx_head(&n), 10);
    //  What stays is untouched, byte for byte.
    fx_blob_t *after;
    size_t left;
    fx_wal(&n, 0, &after, &left);
    assert_int_equal(left, count);
    for (size_t i = 0; i < left; i++) {
        assert_int_equal(after[i].len, before[i].len);
        assert_memory_equal(after[i].data, before[i].data, before[i].len);
    }
    fx_blobs_free(before, count);
    fx_blobs_free(after, left);
    fx_close(&n);
}

static void
test_compact_never_passes_head_and_keeps_it(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    s_fill(&n, 10);
    s_compact(&n, 1000, 100, 10, 11);               // everything, floor head + 1
    store_meta_t m = fx_meta(&n);
    assert_int_equal(m.wal_head, 10);
    assert_int_equal(m.wal_floor, 11);
    assert_int_equal(fx_entries(&n, fx_store(&n)->wal), 0);
    s_compact(&n, 1000, 100, 0, 11);
    //  Sequences are never reused after the log emptied.
    s_fill(&n, 2);
    assert_int_equal(fx_head(&n), 12);
    assert_int_equal(fx_meta(&n).wal_floor, 11);
    //  Any bound and step, however large, stops at the head.
    s_compact(&n, UINT64_MAX, UINT64_MAX, 2, 13);
    assert_int_equal(fx_meta(&n).wal_head, 12);
    fx_close(&n);
}

static void
test_compact_with_no_wal(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    s_compact(&n, 100, 10, 0, 1);
    s_compact(&n, 0, 0, 0, 1);
    store_meta_t m = fx_meta(&n);
    assert_int_equal(m.wal_head, 0);
    assert_int_equal(m.wal_floor, 1);
    //  A zero step deletes nothing even with entries below the bound.
    s_fill(&n, 3);
    s_compact(&n, 3, 0, 0, 1);
    fx_close(&n);
}

static void
test_compact_and_purge_refuse_bad_arguments(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    s_fill(&n, 2);
    const char *ops[] = { "compact", "purge", "peer_del" };
    for (size_t o = 0; o < 3; o++) {
        for (int shape = 0; shape < 3; shape++) {
            mpk_out_t args;
            mpk_out_init(&args);
            if (shape == 0)
                mpk_pack_array(&args.pk, 0);
            else if (shape == 1) {
                mpk_pack_array(&args.pk, 2);
                mpk_pack_str(&args.pk, "x");
                mpk_pack_u64(&args.pk, 1);
            }
            else {
                mpk_pack_array(&args.pk, 3);
                mpk_pack_u64(&args.pk, 1);
                mpk_pack_u64(&args.pk, 1);
                mpk_pack_u64(&args.pk, 1);
            }
            s_reply_t r = s_call(&n, ops[o], &args);
            assert_int_equal(r.rc, PDB_EINVAL);
            assert_true(r.why[0] != '\0');
            mpk_out_release(&args);
        }
    }
    assert_int_equal(fx_meta(&n).wal_floor, 1);
    fx_close(&n);
}

//  --------------------------------------------------------------------------

static void
s_remote(fx_node_t *n, uint64_t oseq, uint64_t ms, ent_type_t type, int op,
         const pdb_id_t *coll, const pdb_id_t *id)
{
    pdb_id_t origin = testkit_id(0x77);
    fx_change_t fc;
    msgpack_packer *pk = fx_change_begin(&fc, &origin, oseq, FX_H(ms), type, op, coll, id);
    if (op == OP_DELETE)
        mpk_pack_map(pk, 0);
    else if (type == ENT_COLLECTIVE) {
        mpk_pack_map(pk, 2);
        mpk_pack_str(pk, "name");
        mpk_pack_str(pk, id->b[0] == 0x10 ? "kb" : "other");
        mpk_pack_str(pk, "embedding_dim");
        mpk_pack_u64(pk, 2);
    }
    else {
        float vec[2] = { 1.0f, 2.0f };
        mpk_pack_map(pk, 2);
        mpk_pack_str(pk, "content");
        mpk_pack_str(pk, "old news");
        mpk_pack_str(pk, "embedding");
        mpk_pack_bin(pk, vec, sizeof vec);
    }
    fx_change_end(&fc);
    assert_int_equal(fx_ingest(n, &fc.c), SPROTO_APPLIED);
    fx_change_release(&fc);
}

//  kb (0x10) live with e1..e4; other (0x11) deleted at 2000; e1 deleted at
//  2000, e2 at 2500, e3 at 4000 (wall ms); e4 live.
static void
s_old_world(fx_node_t *n)
{
    pdb_id_t kb = testkit_id(0x10), other = testkit_id(0x11);
    uint64_t oseq = 1;
    s_remote(n, oseq++, 1000, ENT_COLLECTIVE, OP_CREATE, &kb, &kb);
    s_remote(n, oseq++, 1000, ENT_COLLECTIVE, OP_CREATE, &other, &other);
    for (uint8_t e = 0x21; e <= 0x24; e++) {
        pdb_id_t id = testkit_id(e);
        s_remote(n, oseq++, 1100 + e, ENT_EXPERIENCE, OP_CREATE, &kb, &id);
    }
    s_remote(n, oseq++, 2000, ENT_COLLECTIVE, OP_DELETE, &other, &other);
    const struct { uint8_t id; uint64_t ms; } deletes[] = { { 0x21, 2000 }, { 0x22, 2500 },
                                                            { 0x23, 4000 } };
    for (size_t i = 0; i < 3; i++) {
        pdb_id_t id = testkit_id(deletes[i].id);
        s_remote(n, oseq++, deletes[i].ms, ENT_EXPERIENCE, OP_DELETE, &kb, &id);
    }
}

static int
s_alive(fx_node_t *n, uint8_t fill)
{
    pdb_id_t id = testkit_id(fill);
    return fx_alive(n, &id);
}

static void
test_purge_removes_only_old_tombstones(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    s_old_world(&n);
    size_t versions = fx_entries(&n, fx_store(&n)->versions);
    assert_int_equal(versions, 6);
    s_reply_t r = s_two(&n, "purge", 3000, 100);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.v[0], 3);
    assert_int_equal(r.stats.purged, 3);
    assert_int_equal(s_alive(&n, 0x11), -1);        // old tombstones: gone
    assert_int_equal(s_alive(&n, 0x21), -1);
    assert_int_equal(s_alive(&n, 0x22), -1);
    assert_int_equal(s_alive(&n, 0x23), 0);         // a newer one stays
    assert_int_equal(s_alive(&n, 0x24), 1);         // live ones, however old, stay
    assert_int_equal(s_alive(&n, 0x10), 1);
    assert_int_equal(fx_entries(&n, fx_store(&n)->experiences), 1);
    r = s_two(&n, "purge", 3000, 100);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.v[0], 0);
    //  WAL and vector are not purge's business.
    pdb_id_t origin = testkit_id(0x77);
    assert_int_equal(fx_vector(&n, &origin), 10);
    assert_int_equal(fx_head(&n), 10);
    fx_close(&n);
}

static void
test_purge_runs_in_bounded_steps(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    s_old_world(&n);
    uint64_t total = 0;
    for (int step = 0; step < 5; step++) {
        s_reply_t r = s_two(&n, "purge", 10000, 1);
        assert_int_equal(r.rc, 0);
        assert_true(r.v[0] <= 1);
        total += r.v[0];
        if (step < 4)
            assert_int_equal(r.v[0], 1);
    }
    assert_int_equal(total, 4);
    assert_int_equal(s_two(&n, "purge", 10000, 0).v[0], 0);
    assert_int_equal(fx_entries(&n, fx_store(&n)->versions), 2);   // kb, e4
    fx_close(&n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compact_deletes_only_below_bound_in_bounded_steps),
        cmocka_unit_test(test_compact_never_passes_head_and_keeps_it),
        cmocka_unit_test(test_compact_with_no_wal),
        cmocka_unit_test(test_compact_and_purge_refuse_bad_arguments),
        cmocka_unit_test(test_purge_removes_only_old_tombstones),
        cmocka_unit_test(test_purge_runs_in_bounded_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
