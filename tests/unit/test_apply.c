/*  test_apply.c - the convergence rules (apply.h, DESIGN.md section 4) on
    real LMDB stores: merges under every delivery order, final deletes,
    missing dependencies, changes for deleted collectives, refused changes,
    concurrent names, the conflict policies and a full map.
*/
#include "apply.h"
#include "bounds.h"
#include "err.h"
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
//  Every delivery order

#define SET_MAX 8


typedef enum { VIA_APPLY, VIA_INGEST } s_via_t;


static int
s_deliver_one(fx_node_t *n, MDB_txn *txn, s_via_t via, const change_t *c)
{
    char why[PDB_ERRMSG_MAX] = "";
    int rc = via == VIA_INGEST ? ingest_remote(&n->ing, txn, c, why)
                               : apply_change(fx_store(n), txn, c, why);
    if (rc != SPROTO_APPLIED && rc != SPROTO_KNOWN && rc != PDB_EMISSINGDEP)
        fail_msg("change refused: rc=%d (%s) why=%s", rc, pdb_strerror(rc), why);
    return rc;
}

//  True when one of pending[0..np) comes from the same origin as `c`.
static bool
s_origin_waiting(const fx_change_t *set, const int *pending, size_t np, const change_t *c)
{
    for (size_t i = 0; i < np; i++)
        if (pdb_id_cmp(&set[pending[i]].c.origin, &c->origin) == 0)
            return true;
    return false;
}

//  Applied (not held back): with `twice`, the same change again is a no-op.
static void
s_landed(fx_node_t *n, MDB_txn *txn, s_via_t via, const change_t *c, bool twice)
{
    if (twice)
        assert_int_equal(s_deliver_one(n, txn, via, c), SPROTO_KNOWN);
}

//  Retries held-back changes, in order, until none lands.
static void
s_retry(fx_node_t *n, MDB_txn *txn, s_via_t via, const fx_change_t *set, int *pending,
        size_t *np, bool twice)
{
    bool progress = true;
    while (progress) {
        progress = false;
        for (size_t i = 0; i < *np && !progress; i++) {
            const change_t *c = &set[pending[i]].c;
            if (via == VIA_INGEST && s_origin_waiting(set, pending, i, c))
                continue;
            if (s_deliver_one(n, txn, via, c) == PDB_EMISSINGDEP)
                continue;
            s_landed(n, txn, via, c, twice);
            memmove(&pending[i], &pending[i + 1], (*np - i - 1) * sizeof *pending);
            (*np)--;
            progress = true;
        }
    }
}

//  Delivers set in `order` as a syncer would: a change held back on a
//  missing dependency waits and is retried after each change that lands.
//  Through ingest, a held-back change also holds back the later changes of
//  its origin, since each origin's changes arrive in its order.
static void
s_deliver(fx_node_t *n, MDB_txn *txn, s_via_t via, const fx_change_t *set, const int *order,
          size_t count, bool twice)
{
    int pending[SET_MAX];
    size_t np = 0;
    for (size_t k = 0; k < count; k++) {
        const change_t *c = &set[order[k]].c;
        if ((via == VIA_INGEST && s_origin_waiting(set, pending, np, c))
            || s_deliver_one(n, txn, via, c) == PDB_EMISSINGDEP) {
            pending[np++] = order[k];
            continue;
        }
        s_landed(n, txn, via, c, twice);
        s_retry(n, txn, via, set, pending, &np, twice);
    }
    assert_int_equal(np, 0);
}

//  A fresh store fed set in `order`; returns its dump (caller frees).
static char *
s_run_order(const fx_change_t *set, const int *order, size_t count, s_via_t via, bool twice,
            bool tombstone_flags)
{
    fx_node_t n;
    fx_open(&n);
    MDB_txn *txn = fx_write_begin(&n);
    s_deliver(&n, txn, via, set, order, count, twice);
    if (twice) {
        //  Replaying the whole set changes nothing, whatever came before.
        for (size_t k = 0; k < count; k++)
            assert_int_equal(s_deliver_one(&n, txn, via, &set[order[k]].c), SPROTO_KNOWN);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    char *dump = fx_dump_flags(&n, tombstone_flags);
    fx_close(&n);
    return dump;
}

//  Next lexicographic permutation; false after the last.
static bool
s_next_order(int *order, size_t n)
{
    size_t i = n - 1;
    while (i > 0 && order[i - 1] >= order[i])
        i--;
    if (i == 0)
        return false;
    size_t j = n - 1;
    while (order[j] <= order[i - 1])
        j--;
    int t = order[i - 1];
    order[i - 1] = order[j];
    order[j] = t;
    for (size_t a = i, b = n - 1; a < b; a++, b--) {
        t = order[a];
        order[a] = order[b];
        order[b] = t;
    }
    return true;
}

//  True when the order keeps each origin's changes in origin_seq order.
static bool
s_origin_ordered(const fx_change_t *set, const int *order, size_t count)
{
    for (size_t i = 0; i < count; i++)
        for (size_t j = i + 1; j < count; j++) {
            const change_t *a = &set[order[i]].c, *b = &set[order[j]].c;
            if (pdb_id_cmp(&a->origin, &b->origin) == 0 && a->origin_seq > b->origin_seq)
                return false;
        }
    return true;
}

static void
s_print_order(const char *label, const int *order, size_t count)
{
    print_message("%s order:", label);
    for (size_t i = 0; i < count; i++)
        print_message(" %d", order[i]);
    print_message("\n");
}

//  Runs every order of the set through apply_change (all count! orders,
//  once and twice) and through ingest_remote (the orders that keep each
//  origin's sequence), and checks every resulting store is identical to the
//  first. Returns the reference dump (caller frees).
static char *
s_check_every_order(const fx_change_t *set, size_t count, bool tombstone_flags)
{
    assert_true(count <= SET_MAX);
    int order[SET_MAX];
    for (size_t i = 0; i < count; i++)
        order[i] = (int) i;
    char *reference = s_run_order(set, order, count, VIA_APPLY, false, tombstone_flags);
    size_t runs = 0, ingest_runs = 0;
    do {
        for (int via = VIA_APPLY; via <= VIA_INGEST; via++) {
            if (via == VIA_INGEST && !s_origin_ordered(set, order, count))
                continue;
            for (int twice = 0; twice < 2; twice++) {
                char *dump = s_run_order(set, order, count, (s_via_t) via, twice,
                                         tombstone_flags);
                if (strcmp(dump, reference) != 0) {
                    s_print_order(via == VIA_INGEST ? "ingest" : "apply", order, count);
                    print_message("reference:\n%s\nthis order:\n%s\n", reference, dump);
                    free(dump);
                    free(reference);
                    fail_msg("stores differ after the same changes in another order");
                }
                free(dump);
                runs++;
                ingest_runs += via == VIA_INGEST;
            }
        }
    } while (s_next_order(order, count));
    print_message("orders checked: %zu through apply_change, %zu through ingest_remote\n",
                  runs - ingest_runs, ingest_runs);
    assert_true(ingest_runs >= 2);
    assert_true(runs >= 2 * 120);
    return reference;
}

//  Loads `dump` state's entity for inspection by replaying in set order.
static void
s_replay(fx_node_t *n, const fx_change_t *set, size_t count)
{
    int order[SET_MAX];
    for (size_t i = 0; i < count; i++)
        order[i] = (int) i;
    MDB_txn *txn = fx_write_begin(n);
    s_deliver(n, txn, VIA_INGEST, set, order, count, false);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

//  --------------------------------------------------------------------------
//  (a) merge rules under every order

static void
test_apply_merges_converge_under_every_order(void **state)
{
    (void) state;
    fx_change_t set[5];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_exp_change(&set[1], FX_ORG_A, 2, 110, FX_COLL, FX_E1);
    //  B and C update at the same stamp: the origin breaks the tie (C > B).
    msgpack_packer *pk = fx_hand_begin(&set[2], FX_ORG_B, 1, FX_H(200),
                                       ENT_EXPERIENCE, OP_UPDATE, FX_COLL, FX_E1);
    mpk_pack_map(pk, 4);
    fx_kv_dbl(pk, "importance", 0.9);
    mpk_pack_str(pk, "tags");
    mpk_pack_map(pk, 1);
    fx_kv_str(pk, "k", "b");
    fx_kv_counter(pk, FX_ORG_B, 1);
    fx_kv_u64(pk, "last_reinforced", 200);
    fx_change_end(&set[2]);
    pk = fx_hand_begin(&set[3], FX_ORG_C, 1, FX_H(200), ENT_EXPERIENCE, OP_UPDATE, FX_COLL, FX_E1);
    mpk_pack_map(pk, 4);
    fx_kv_dbl(pk, "importance", 0.1);
    fx_kv_bool(pk, "archived", true);
    fx_kv_counter(pk, FX_ORG_C, 2);
    fx_kv_u64(pk, "last_reinforced", 150);
    fx_change_end(&set[3]);
    //  B reinforces again later: its own count rises, its time is older.
    pk = fx_hand_begin(&set[4], FX_ORG_B, 2, FX_H(300), ENT_EXPERIENCE, OP_UPDATE, FX_COLL, FX_E1);
    mpk_pack_map(pk, 3);
    fx_kv_dbl(pk, "confidence", 0.7);
    fx_kv_counter(pk, FX_ORG_B, 2);
    fx_kv_u64(pk, "last_reinforced", 180);
    fx_change_end(&set[4]);

    free(s_check_every_order(set, 5, false));

    //  And the state they converge on is the one the rules define.
    fx_node_t n;
    fx_open(&n);
    s_replay(&n, set, 5);
    fx_record_t r;
    assert_int_equal(fx_record(&n, fx_id(FX_E1), &r), 0);
    assert_true(fx_rec_dbl(&r, "importance") == 0.1);     // (H200, C) > (H200, B)
    assert_true(fx_rec_dbl(&r, "confidence") == 0.7);
    assert_true(mpk_map_get(r.map, "archived")->via.boolean);
    const msgpack_object *tags = mpk_map_get(r.map, "tags");
    assert_non_null(tags);
    assert_int_equal(tags->via.map.size, 1);
    assert_int_equal(fx_rec_count(&r, fx_id(FX_ORG_B)), 2);          // grow-only, per instance
    assert_int_equal(fx_rec_count(&r, fx_id(FX_ORG_C)), 2);
    assert_int_equal(mpk_map_get(r.map, "applications")->via.map.size, 2);
    assert_int_equal(fx_rec_u64(&r, "last_reinforced"), 200);   // maximum
    assert_true(fx_rec_str_is(&r, "content", "LMDB readers never block the writer"));
    fx_record_free(&r);
    MDB_txn *txn = fx_read_begin(&n);
    pdb_id_t coll = testkit_id(FX_COLL), e1 = testkit_id(FX_E1);
    MDB_val vec;
    assert_int_equal(store_embedding_get(fx_store(&n), txn, &coll, &e1, &vec), 0);
    assert_int_equal(vec.mv_size, FX_DIM1 * sizeof(float));
    mdb_txn_abort(txn);
    fx_close(&n);
    fx_changes_release(set, 5);
}

static void
test_apply_delete_racing_updates_converges_under_every_order(void **state)
{
    (void) state;
    fx_change_t set[5];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_exp_change(&set[1], FX_ORG_A, 2, 110, FX_COLL, FX_E1);
    //  An update stamped after the delete still loses: deletes are final.
    fx_unit_change(&set[2], FX_ORG_B, 1, 300, FX_COLL, FX_E1, "importance", 0.9);
    fx_del_change(&set[3], FX_ORG_C, 1, 250, ENT_EXPERIENCE, FX_COLL, FX_E1);
    msgpack_packer *pk = fx_hand_begin(&set[4], FX_ORG_B, 2, FX_H(320),
                                       ENT_EXPERIENCE, OP_UPDATE, FX_COLL, FX_E1);
    mpk_pack_map(pk, 2);
    fx_kv_counter(pk, FX_ORG_B, 1);
    fx_kv_u64(pk, "last_reinforced", 320);
    fx_change_end(&set[4]);

    free(s_check_every_order(set, 5, false));

    fx_node_t n;
    fx_open(&n);
    s_replay(&n, set, 5);
    fx_record_t r;
    assert_int_equal(fx_record(&n, fx_id(FX_E1), &r), PDB_ENOTFOUND);
    assert_int_equal(fx_alive(&n, fx_id(FX_E1)), 0);
    assert_int_equal(fx_alive(&n, fx_id(FX_COLL)), 1);
    assert_int_equal(fx_entries(&n, fx_store(&n)->experiences), 0);
    assert_int_equal(fx_entries(&n, fx_store(&n)->embeddings), 0);
    fx_close(&n);
    fx_changes_release(set, 5);
}

static void
test_apply_concurrent_deletes_converge_under_every_order(void **state)
{
    (void) state;
    fx_change_t set[5];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_exp_change(&set[1], FX_ORG_A, 2, 110, FX_COLL, FX_E1);
    fx_unit_change(&set[2], FX_ORG_A, 3, 120, FX_COLL, FX_E1, "importance", 0.7);
    fx_del_change(&set[3], FX_ORG_B, 1, 200, ENT_EXPERIENCE, FX_COLL, FX_E1);
    fx_del_change(&set[4], FX_ORG_C, 1, 250, ENT_EXPERIENCE, FX_COLL, FX_E1);

    free(s_check_every_order(set, 5, true));

    fx_node_t n;
    fx_open(&n);
    s_replay(&n, set, 5);
    assert_int_equal(fx_alive(&n, fx_id(FX_E1)), 0);
    assert_int_equal(fx_alive(&n, fx_id(FX_COLL)), 1);
    assert_int_equal(fx_entries(&n, fx_store(&n)->experiences), 0);
    assert_int_equal(fx_entries(&n, fx_store(&n)->embeddings), 0);
    fx_close(&n);
    fx_changes_release(set, 5);
}

static void
test_apply_collective_delete_converges_under_every_order(void **state)
{
    (void) state;
    fx_change_t set[5];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_exp_change(&set[1], FX_ORG_A, 2, 110, FX_COLL, FX_E1);
    fx_exp_change(&set[2], FX_ORG_A, 3, 120, FX_COLL, FX_E2);
    fx_rel_change(&set[3], FX_ORG_B, 1, 200, FX_COLL, FX_R12, FX_E1, FX_E2);
    fx_del_change(&set[4], FX_ORG_C, 1, 150, ENT_COLLECTIVE, FX_COLL, FX_COLL);

    free(s_check_every_order(set, 5, false));

    fx_node_t n;
    fx_open(&n);
    s_replay(&n, set, 5);
    store_t *st = fx_store(&n);
    assert_int_equal(fx_alive(&n, fx_id(FX_COLL)), 0);
    MDB_dbi gone[] = { st->collectives, st->collective_names, st->experiences,
                       st->embeddings, st->relations, st->relations_by_exp, st->insights };
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        assert_int_equal(fx_entries(&n, gone[i]), 0);
    fx_close(&n);
    fx_changes_release(set, 5);
}

static void
test_apply_collective_renames_converge_under_every_order(void **state)
{
    (void) state;
    fx_change_t set[5];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "alpha");
    msgpack_packer *pk = fx_hand_begin(&set[1], FX_ORG_B, 1, FX_H(200),
                                       ENT_COLLECTIVE, OP_UPDATE, FX_COLL, FX_COLL);
    mpk_pack_map(pk, 2);
    fx_kv_str(pk, "name", "beta");
    fx_kv_u64(pk, "updated_at", 200);
    fx_change_end(&set[1]);
    pk = fx_hand_begin(&set[2], FX_ORG_C, 1, FX_H(200),
                       ENT_COLLECTIVE, OP_UPDATE, FX_COLL, FX_COLL);
    mpk_pack_map(pk, 2);
    fx_kv_str(pk, "name", "gamma");
    fx_kv_u64(pk, "updated_at", 190);
    fx_change_end(&set[2]);
    pk = fx_hand_begin(&set[3], FX_ORG_B, 2, FX_H(300),
                       ENT_COLLECTIVE, OP_UPDATE, FX_COLL, FX_COLL);
    mpk_pack_map(pk, 2);
    fx_kv_str(pk, "owner", "bob");
    fx_kv_u64(pk, "updated_at", 300);
    fx_change_end(&set[3]);
    pk = fx_hand_begin(&set[4], FX_ORG_A, 2, FX_H(120),
                       ENT_COLLECTIVE, OP_UPDATE, FX_COLL, FX_COLL);
    mpk_pack_map(pk, 2);
    fx_kv_str(pk, "owner", "amy");
    fx_kv_u64(pk, "updated_at", 120);
    fx_change_end(&set[4]);

    free(s_check_every_order(set, 5, false));

    fx_node_t n;
    fx_open(&n);
    s_replay(&n, set, 5);
    fx_record_t r;
    assert_int_equal(fx_record(&n, fx_id(FX_COLL), &r), 0);
    assert_true(fx_rec_str_is(&r, "name", "gamma"));
    assert_true(fx_rec_str_is(&r, "owner", "bob"));
    assert_int_equal(fx_rec_u64(&r, "updated_at"), 300);
    assert_int_equal(fx_rec_u64(&r, "embedding_dim"), FX_DIM1);
    fx_record_free(&r);
    //  The name index follows: only the winning name resolves.
    MDB_txn *txn = fx_read_begin(&n);
    pdb_id_t found, coll = testkit_id(FX_COLL);
    assert_int_equal(store_collective_by_name(fx_store(&n), txn, "gamma", 5, &found), 0);
    assert_memory_equal(found.b, coll.b, PDB_ID_LEN);
    assert_int_equal(store_collective_by_name(fx_store(&n), txn, "alpha", 5, &found),
                     PDB_ENOTFOUND);
    assert_int_equal(store_collective_by_name(fx_store(&n), txn, "beta", 4, &found),
                     PDB_ENOTFOUND);
    mdb_txn_abort(txn);
    assert_int_equal(fx_entries(&n, fx_store(&n)->collective_names), 1);
    fx_close(&n);
    fx_changes_release(set, 5);
}

//  --------------------------------------------------------------------------
//  (b) deletes are final

static void
test_apply_delete_is_final_against_older_and_newer_writes(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t base[3];
    fx_coll_change(&base[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_exp_change(&base[1], FX_ORG_A, 2, 110, FX_COLL, FX_E1);
    fx_del_change(&base[2], FX_ORG_B, 1, 200, ENT_EXPERIENCE, FX_COLL, FX_E1);
    fx_ingest_all(&n, base, 3);
    uint64_t head = fx_head(&n);
    assert_int_equal(head, 3);

    fx_change_t late[4];
    fx_exp_change(&late[0], FX_ORG_C, 1, 50, FX_COLL, FX_E1);       // older than the delete
    fx_exp_change(&late[1], FX_ORG_C, 2, 900, FX_COLL, FX_E1);      // newer than the delete
    fx_unit_change(&late[2], FX_ORG_C, 3, 1000, FX_COLL, FX_E1, "importance", 0.3);
    fx_del_change(&late[3], FX_ORG_C, 4, 1100, ENT_EXPERIENCE, FX_COLL, FX_E1);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(fx_ingest(&n, &late[i].c), SPROTO_KNOWN);
    fx_record_t r;
    assert_int_equal(fx_record(&n, fx_id(FX_E1), &r), PDB_ENOTFOUND);
    assert_int_equal(fx_alive(&n, fx_id(FX_E1)), 0);
    assert_int_equal(fx_entries(&n, fx_store(&n)->embeddings), 0);
    //  Changed nothing, but whole copies travel on: C's sequence has no hole.
    assert_int_equal(fx_head(&n), head + 4);
    //  The tombstone keeps the delete's version, not a later writer's.
    MDB_txn *txn = fx_read_begin(&n);
    pdb_id_t e1 = testkit_id(FX_E1), b = testkit_id(FX_ORG_B);
    store_version_t v;
    assert_int_equal(store_version_get(fx_store(&n), txn, &e1, &v), 0);
    assert_true(v.tombstone);
    assert_int_equal(v.hlc, FX_H(200));
    assert_memory_equal(v.origin.b, b.b, PDB_ID_LEN);
    mdb_txn_abort(txn);

    //  A collective too: a newer create of a deleted collective stays dead.
    fx_change_t coll[2];
    fx_del_change(&coll[0], FX_ORG_B, 2, 300, ENT_COLLECTIVE, FX_COLL, FX_COLL);
    fx_coll_change(&coll[1], FX_ORG_C, 5, 5000, FX_COLL, "kb");
    assert_int_equal(fx_ingest(&n, &coll[0].c), SPROTO_APPLIED);
    assert_int_equal(fx_ingest(&n, &coll[1].c), SPROTO_KNOWN);
    assert_int_equal(fx_record(&n, fx_id(FX_COLL), &r), PDB_ENOTFOUND);
    assert_int_equal(fx_entries(&n, fx_store(&n)->collective_names), 0);
    fx_changes_release(base, 3);
    fx_changes_release(late, 4);
    fx_changes_release(coll, 2);
    fx_close(&n);
}

static void
test_apply_delete_arriving_first_still_wins(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[3];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_del_change(&set[1], FX_ORG_B, 1, 200, ENT_EXPERIENCE, FX_COLL, FX_E1);
    fx_exp_change(&set[2], FX_ORG_A, 2, 110, FX_COLL, FX_E1);
    assert_int_equal(fx_ingest(&n, &set[0].c), SPROTO_APPLIED);
    //  The delete of an experience not here yet leaves a tombstone...
    assert_int_equal(fx_ingest(&n, &set[1].c), SPROTO_APPLIED);
    assert_int_equal(fx_alive(&n, fx_id(FX_E1)), 0);
    //  ...so its create, arriving later, stays dead.
    assert_int_equal(fx_ingest(&n, &set[2].c), SPROTO_KNOWN);
    assert_int_equal(fx_entries(&n, fx_store(&n)->experiences), 0);
    assert_int_equal(fx_entries(&n, fx_store(&n)->embeddings), 0);
    fx_changes_release(set, 3);
    fx_close(&n);
}

//  --------------------------------------------------------------------------
//  (c) missing dependencies

static void
test_apply_update_before_create_is_missing_dependency(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    store_t *st = fx_store(&n);
    fx_change_t c[6];
    fx_unit_change(&c[0], FX_ORG_B, 1, 200, FX_COLL, FX_E1, "importance", 0.9);
    fx_exp_change(&c[1], FX_ORG_A, 2, 110, FX_COLL, FX_E1);
    fx_coll_change(&c[2], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_rel_change(&c[3], FX_ORG_C, 1, 300, FX_COLL, FX_R12, FX_E1, FX_E2);
    fx_ins_change(&c[4], FX_ORG_C, 2, 310, FX_COLL, FX_INS);
    msgpack_packer *pk = fx_hand_begin(&c[5], FX_ORG_C, 3, FX_H(320),
                                       ENT_COLLECTIVE, OP_UPDATE, FX_COLL, FX_COLL);
    mpk_pack_map(pk, 1);
    fx_kv_str(pk, "owner", "carol");
    fx_change_end(&c[5]);

    //  Nothing here: every change inside the collective, and the
    //  collective's own update, waits.
    const int first[] = { 0, 1, 3, 4, 5 };
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(fx_ingest(&n, &c[first[i]].c), PDB_EMISSINGDEP);
    assert_int_equal(fx_entries(&n, st->versions), 0);
    assert_int_equal(fx_entries(&n, st->experiences), 0);
    assert_int_equal(fx_entries(&n, st->insights), 0);
    assert_int_equal(fx_entries(&n, st->wal), 0);
    assert_int_equal(fx_entries(&n, st->origins), 0);     // the vector did not move
    pdb_id_t b = testkit_id(FX_ORG_B);
    assert_int_equal(fx_vector(&n, &b), 0);

    //  With the collective: the update still waits for its experience, and
    //  the relation for its endpoints.
    assert_int_equal(fx_ingest(&n, &c[2].c), SPROTO_APPLIED);
    assert_int_equal(fx_ingest(&n, &c[0].c), PDB_EMISSINGDEP);
    assert_int_equal(fx_ingest(&n, &c[3].c), PDB_EMISSINGDEP);
    assert_int_equal(fx_entries(&n, st->versions), 1);
    assert_int_equal(fx_head(&n), 1);
    //  Once the create is in, the same update applies.
    assert_int_equal(fx_ingest(&n, &c[1].c), SPROTO_APPLIED);
    assert_int_equal(fx_ingest(&n, &c[0].c), SPROTO_APPLIED);
    assert_int_equal(fx_ingest(&n, &c[3].c), PDB_EMISSINGDEP);   // E2 still missing
    fx_record_t r;
    assert_int_equal(fx_record(&n, fx_id(FX_E1), &r), 0);
    assert_true(fx_rec_dbl(&r, "importance") == 0.9);
    fx_record_free(&r);
    fx_changes_release(c, 6);
    fx_close(&n);
}

//  --------------------------------------------------------------------------
//  (d) deleted collectives, refused changes, concurrent names

static void
test_apply_change_for_deleted_collective_is_discarded(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t base[4];
    fx_coll_change(&base[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_exp_change(&base[1], FX_ORG_A, 2, 110, FX_COLL, FX_E1);
    fx_exp_change(&base[2], FX_ORG_A, 3, 120, FX_COLL, FX_E2);
    fx_del_change(&base[3], FX_ORG_A, 4, 130, ENT_COLLECTIVE, FX_COLL, FX_COLL);
    fx_ingest_all(&n, base, 4);
    uint64_t head = fx_head(&n);

    fx_change_t late[6];
    fx_exp_change(&late[0], FX_ORG_B, 1, 900, FX_COLL, FX_E3);
    fx_unit_change(&late[1], FX_ORG_B, 2, 901, FX_COLL, FX_E1, "importance", 1.0);
    fx_rel_change(&late[2], FX_ORG_B, 3, 902, FX_COLL, FX_R12, FX_E1, FX_E2);
    fx_ins_change(&late[3], FX_ORG_B, 4, 903, FX_COLL, FX_INS);
    fx_del_change(&late[4], FX_ORG_B, 5, 904, ENT_EXPERIENCE, FX_COLL, FX_E2);
    msgpack_packer *pk = fx_hand_begin(&late[5], FX_ORG_B, 6, FX_H(905),
                                       ENT_COLLECTIVE, OP_UPDATE, FX_COLL, FX_COLL);
    mpk_pack_map(pk, 1);
    fx_kv_str(pk, "name", "revived");
    fx_change_end(&late[5]);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(fx_ingest(&n, &late[i].c), SPROTO_KNOWN);
    store_t *st = fx_store(&n);
    assert_int_equal(fx_head(&n), head + 6);           // logged whole, changing nothing
    assert_int_equal(fx_entries(&n, st->experiences), 0);
    assert_int_equal(fx_entries(&n, st->relations), 0);
    assert_int_equal(fx_entries(&n, st->insights), 0);
    assert_int_equal(fx_entries(&n, st->collective_names), 0);
    //  Discarded changes still count as seen.
    pdb_id_t b = testkit_id(FX_ORG_B);
    assert_int_equal(fx_vector(&n, &b), 6);
    fx_changes_release(base, 4);
    fx_changes_release(late, 6);
    fx_close(&n);
}

static void
test_apply_refuses_change_naming_another_entity_type_or_collective(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[4];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_coll_change(&set[1], FX_ORG_A, 2, 101, FX_COLL2, "other");
    fx_exp_change(&set[2], FX_ORG_A, 3, 110, FX_COLL, FX_E1);
    fx_ingest_all(&n, set, 3);
    //  E1 updated as if it were in COLL2.
    fx_unit_change(&set[3], FX_ORG_B, 1, 200, FX_COLL2, FX_E1, "importance", 0.9);
    assert_int_equal(fx_ingest(&n, &set[3].c), PDB_EINVAL);
    fx_change_t bad[2];
    //  A relation whose endpoint is a collective, and an update with
    //  a field of another type.
    //  (B's refused 1 raised nothing: each is B's 1 again.)
    fx_rel_change(&bad[0], FX_ORG_B, 1, 201, FX_COLL, FX_R12, FX_E1, FX_COLL);
    msgpack_packer *pk = fx_hand_begin(&bad[1], FX_ORG_B, 1, FX_H(202),
                                       ENT_EXPERIENCE, OP_UPDATE, FX_COLL, FX_E1);
    mpk_pack_map(pk, 1);
    fx_kv_str(pk, "name", "x");
    fx_change_end(&bad[1]);
    assert_int_equal(fx_ingest(&n, &bad[0].c), PDB_EINVAL);
    assert_int_equal(fx_ingest(&n, &bad[1].c), PDB_EINVAL);
    fx_record_t r;
    assert_int_equal(fx_record(&n, fx_id(FX_E1), &r), 0);
    assert_true(fx_rec_dbl(&r, "importance") == 0.5);
    fx_record_free(&r);
    assert_int_equal(fx_head(&n), 3);
    pdb_id_t b = testkit_id(FX_ORG_B);
    assert_int_equal(fx_vector(&n, &b), 0);
    fx_changes_release(set, 4);
    fx_changes_release(bad, 2);
    fx_close(&n);
}

//  DESIGN.md section 1: two nodes may create the same name concurrently;
//  both collectives are kept and a lookup picks the smaller id everywhere.
static void
test_apply_concurrent_same_name_collectives_are_both_kept(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[3];
    fx_coll_change(&set[0], FX_ORG_B, 1, 100, FX_COLL2, "kb");    // arrives first, larger id
    fx_coll_change(&set[1], FX_ORG_C, 1, 100, FX_COLL, "kb");
    fx_del_change(&set[2], FX_ORG_C, 2, 300, ENT_COLLECTIVE, FX_COLL, FX_COLL);
    assert_int_equal(fx_ingest(&n, &set[0].c), SPROTO_APPLIED);
    assert_int_equal(fx_ingest(&n, &set[1].c), SPROTO_APPLIED);
    store_t *st = fx_store(&n);
    assert_int_equal(fx_entries(&n, st->collectives), 2);
    assert_int_equal(fx_entries(&n, st->collective_names), 2);
    MDB_txn *txn = fx_read_begin(&n);
    pdb_id_t found, small = testkit_id(FX_COLL), large = testkit_id(FX_COLL2);
    assert_int_equal(store_collective_by_name(st, txn, "kb", 2, &found), 0);
    assert_memory_equal(found.b, small.b, PDB_ID_LEN);
    mdb_txn_abort(txn);
    //  A local create of the name is still a conflict.
    assert_int_equal(fx_write_collective(&n, "kb", FX_DIM1).rc, PDB_ECONFLICT);
    //  Deleting one leaves the other resolvable.
    assert_int_equal(fx_ingest(&n, &set[2].c), SPROTO_APPLIED);
    txn = fx_read_begin(&n);
    assert_int_equal(store_collective_by_name(st, txn, "kb", 2, &found), 0);
    assert_memory_equal(found.b, large.b, PDB_ID_LEN);
    mdb_txn_abort(txn);
    assert_int_equal(fx_entries(&n, st->collective_names), 1);
    fx_changes_release(set, 3);
    fx_close(&n);
}

static void
test_apply_full_map_reports_efull_and_keeps_committed_data(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open_sized(&n, 1u << 20);      // 1 MiB: a handful of 60 KiB changes
    fx_change_t coll[1];
    fx_coll_change(&coll[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    assert_int_equal(fx_ingest(&n, &coll[0].c), SPROTO_APPLIED);
    int rc = 0;
    uint64_t landed = 0;
    for (uint8_t i = 0; i < 40 && rc != PDB_EFULL; i++) {
        fx_change_t big[1];
        msgpack_packer *pk = fx_hand_begin(&big[0], FX_ORG_A, 2u + i, FX_H(200 + i),
                                           ENT_EXPERIENCE, OP_CREATE, FX_COLL,
                                           (uint8_t) (0x60 + i));
        mpk_pack_map(pk, 2);
        mpk_pack_str(pk, "content");
        char *text = malloc(60u << 10);
        assert_non_null(text);
        memset(text, 'x', 60u << 10);
        mpk_pack_strn(pk, text, 60u << 10);
        free(text);
        fx_kv_vec(pk, "embedding", 1.0f);
        fx_change_end(&big[0]);
        rc = fx_ingest(&n, &big[0].c);
        if (rc == SPROTO_APPLIED)
            landed++;
        else
            assert_int_equal(rc, PDB_EFULL);
        fx_changes_release(big, 1);
    }
    assert_int_equal(rc, PDB_EFULL);
    assert_true(landed > 0);
    //  The failed transaction was aborted whole: what committed is intact.
    assert_int_equal(fx_head(&n), 1 + landed);
    assert_int_equal(fx_entries(&n, fx_store(&n)->experiences), landed);
    pdb_id_t a = testkit_id(FX_ORG_A);
    assert_int_equal(fx_vector(&n, &a), 1 + landed);
    assert_int_equal(fx_alive(&n, fx_id(FX_COLL)), 1);
    fx_changes_release(coll, 1);
    fx_close(&n);
}

//  --------------------------------------------------------------------------
//  Conflict policies: a field this node wrote last meets a peer's write.

//  Runs: remote creates collective + experience, this node sets importance
//  0.2 at wall time `local_ms`, then the peer sets 0.9 at `remote_ms`.
//  Returns the importance left and the conflicts counted.
static double
s_policy_case_with(merge_policy_t mode, const apply_override_t *override, uint64_t local_ms,
                   uint64_t remote_ms, uint64_t *conflicts)
{
    fx_node_t n;
    fx_open(&n);
    *conflicts = 0;
    n.ing.policy = mode;
    n.ing.overrides = override;
    n.ing.overrides_n = override ? 1 : 0;
    n.ing.conflicts = conflicts;
    fx_change_t set[3];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_exp_change(&set[1], FX_ORG_A, 2, 110, FX_COLL, FX_E1);
    fx_ingest_all(&n, set, 2);
    mpk_out_t f;
    mpk_out_init(&f);
    mpk_pack_map(&f.pk, 1);
    fx_kv_dbl(&f.pk, "importance", 0.2);
    pdb_id_t coll = testkit_id(FX_COLL), e1 = testkit_id(FX_E1);
    local_write_t w = { ENT_EXPERIENCE, OP_UPDATE, &coll, &e1, f.buf.data, f.buf.size };
    char why[PDB_ERRMSG_MAX];
    MDB_txn *txn = fx_write_begin(&n);
    assert_int_equal(local_write(&n.ing, txn, &w, local_ms, NULL, NULL, why), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mpk_out_release(&f);
    fx_unit_change(&set[2], FX_ORG_A, 3, remote_ms, FX_COLL, FX_E1, "importance", 0.9);
    (void) fx_ingest(&n, &set[2].c);
    fx_record_t r;
    assert_int_equal(fx_record(&n, fx_id(FX_E1), &r), 0);
    double importance = fx_rec_dbl(&r, "importance");
    fx_record_free(&r);
    fx_changes_release(set, 3);
    fx_close(&n);
    return importance;
}

static double
s_policy_case(merge_policy_t mode, uint64_t local_ms, uint64_t remote_ms, uint64_t *conflicts)
{
    return s_policy_case_with(mode, NULL, local_ms, remote_ms, conflicts);
}

static void
test_policy_lww_keeps_the_later_write_and_counts_the_loser(void **state)
{
    (void) state;
    uint64_t conflicts;
    //  The clock never runs backwards past what it saw, so "later" is by stamp.
    assert_true(s_policy_case(POLICY_LWW, FX_WALL, 120, &conflicts) == 0.2);
    assert_int_equal(conflicts, 1);
    assert_true(s_policy_case(POLICY_LWW, FX_WALL, FX_WALL + 60000, &conflicts) == 0.9);
    assert_int_equal(conflicts, 0);
}

static void
test_policy_remote_wins_takes_the_peer_write_even_when_older(void **state)
{
    (void) state;
    uint64_t conflicts;
    assert_true(s_policy_case(POLICY_REMOTE_WINS, FX_WALL, 120, &conflicts) == 0.9);
    assert_int_equal(conflicts, 0);
}

static void
test_policy_local_wins_keeps_ours_even_when_the_peer_is_newer(void **state)
{
    (void) state;
    uint64_t conflicts;
    assert_true(s_policy_case(POLICY_LOCAL_WINS, FX_WALL, FX_WALL + 60000, &conflicts) == 0.2);
    assert_int_equal(conflicts, 1);
}

static void
test_policy_names_parse(void **state)
{
    (void) state;
    merge_policy_t mode;
    assert_int_equal(apply_policy_parse("lww", &mode), 0);
    assert_int_equal(mode, POLICY_LWW);
    assert_int_equal(apply_policy_parse("remote_wins", &mode), 0);
    assert_int_equal(mode, POLICY_REMOTE_WINS);
    assert_int_equal(apply_policy_parse("local_wins", &mode), 0);
    assert_int_equal(mode, POLICY_LOCAL_WINS);
    assert_int_equal(apply_policy_parse("server_wins", &mode), PDB_EINVAL);
}

static void
test_policy_collective_override_beats_the_node_policy(void **state)
{
    (void) state;
    uint64_t conflicts;
    apply_override_t here = { testkit_id(FX_COLL), POLICY_REMOTE_WINS };
    assert_true(s_policy_case_with(POLICY_LWW, &here, FX_WALL, 120, &conflicts) == 0.9);
    apply_override_t elsewhere = { testkit_id(FX_COLL2), POLICY_REMOTE_WINS };
    assert_true(s_policy_case_with(POLICY_LWW, &elsewhere, FX_WALL, 120, &conflicts) == 0.2);
    assert_int_equal(conflicts, 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apply_merges_converge_under_every_order),
        cmocka_unit_test(test_apply_delete_racing_updates_converges_under_every_order),
        cmocka_unit_test(test_apply_concurrent_deletes_converge_under_every_order),
        cmocka_unit_test(test_apply_collective_delete_converges_under_every_order),
        cmocka_unit_test(test_apply_collective_renames_converge_under_every_order),
        cmocka_unit_test(test_apply_delete_is_final_against_older_and_newer_writes),
        cmocka_unit_test(test_apply_delete_arriving_first_still_wins),
        cmocka_unit_test(test_apply_update_before_create_is_missing_dependency),
        cmocka_unit_test(test_apply_change_for_deleted_collective_is_discarded),
        cmocka_unit_test(test_apply_refuses_change_naming_another_entity_type_or_collective),
        cmocka_unit_test(test_apply_concurrent_same_name_collectives_are_both_kept),
        cmocka_unit_test(test_apply_full_map_reports_efull_and_keeps_committed_data),
        cmocka_unit_test(test_policy_lww_keeps_the_later_write_and_counts_the_loser),
        cmocka_unit_test(test_policy_remote_wins_takes_the_peer_write_even_when_older),
        cmocka_unit_test(test_policy_local_wins_keeps_ours_even_when_the_peer_is_newer),
        cmocka_unit_test(test_policy_names_parse),
        cmocka_unit_test(test_policy_collective_override_beats_the_node_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
