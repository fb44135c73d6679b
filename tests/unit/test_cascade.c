/*  test_cascade.c - what a delete takes with it (cascade.h) on real LMDB
    stores: a collective's contents and their versions, the relations that
    touch a deleted experience (each leaving a tombstone), both ends' links
    of a deleted relation; through ingest and by cascade_delete itself.
*/
#include "cascade.h"
#include "err.h"
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
//  Deletes through ingest

static void
test_cascade_collective_delete_removes_everything_inside(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[9];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_coll_change(&set[1], FX_ORG_A, 2, 101, FX_COLL2, "other");
    fx_exp_change(&set[2], FX_ORG_A, 3, 110, FX_COLL, FX_E1);
    fx_exp_change(&set[3], FX_ORG_A, 4, 111, FX_COLL, FX_E2);
    fx_exp_change(&set[4], FX_ORG_A, 5, 112, FX_COLL2, FX_E3);
    fx_rel_change(&set[5], FX_ORG_A, 6, 120, FX_COLL, FX_R12, FX_E1, FX_E2);
    fx_ins_change(&set[6], FX_ORG_A, 7, 130, FX_COLL, FX_INS);
    fx_del_change(&set[7], FX_ORG_B, 1, 200, ENT_COLLECTIVE, FX_COLL, FX_COLL);
    fx_ingest_all(&n, set, 7);
    store_t *st = fx_store(&n);
    assert_int_equal(fx_entries(&n, st->experiences), 3);
    assert_int_equal(fx_entries(&n, st->relations_by_exp), 2);

    assert_int_equal(fx_ingest(&n, &set[7].c), SPROTO_APPLIED);
    assert_int_equal(fx_alive(&n, fx_id(FX_COLL)), 0);
    //  Everything inside is gone, with its versions: the collective's
    //  tombstone now answers for all of it.
    const uint8_t inside[] = { FX_E1, FX_E2, FX_R12, FX_INS };
    for (size_t i = 0; i < sizeof inside; i++)
        assert_int_equal(fx_alive(&n, fx_id(inside[i])), -1);
    assert_int_equal(fx_entries(&n, st->collectives), 1);
    assert_int_equal(fx_entries(&n, st->collective_names), 1);
    assert_int_equal(fx_entries(&n, st->experiences), 1);
    assert_int_equal(fx_entries(&n, st->vec_slots), 1);
    assert_int_equal(fx_entries(&n, st->relations), 0);
    assert_int_equal(fx_entries(&n, st->relations_by_exp), 0);
    assert_int_equal(fx_entries(&n, st->insights), 0);
    //  The other collective is untouched.
    assert_int_equal(fx_alive(&n, fx_id(FX_COLL2)), 1);
    assert_int_equal(fx_alive(&n, fx_id(FX_E3)), 1);
    assert_true(fx_has_embedding(&n, fx_id(FX_COLL2), fx_id(FX_E3)));
    MDB_txn *txn = fx_read_begin(&n);
    pdb_id_t found;
    assert_int_equal(store_collective_by_name(st, txn, "kb", 2, &found), PDB_ENOTFOUND);
    assert_int_equal(store_collective_by_name(st, txn, "other", 5, &found), 0);
    uint32_t dim;
    pdb_id_t coll = testkit_id(FX_COLL);
    assert_int_equal(store_collective_dim(st, txn, &coll, &dim), PDB_EDELETED);
    mdb_txn_abort(txn);
    fx_changes_release(set, 8);
    fx_close(&n);
}

static void
test_cascade_experience_delete_removes_relations_touching_it(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[7];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_exp_change(&set[1], FX_ORG_A, 2, 110, FX_COLL, FX_E1);
    fx_exp_change(&set[2], FX_ORG_A, 3, 111, FX_COLL, FX_E2);
    fx_exp_change(&set[3], FX_ORG_A, 4, 112, FX_COLL, FX_E3);
    fx_rel_change(&set[4], FX_ORG_A, 5, 120, FX_COLL, FX_R12, FX_E1, FX_E2);
    fx_rel_change(&set[5], FX_ORG_A, 6, 121, FX_COLL, FX_R23, FX_E2, FX_E3);
    fx_rel_change(&set[6], FX_ORG_A, 7, 122, FX_COLL, FX_R13, FX_E1, FX_E3);
    fx_ingest_all(&n, set, 7);
    store_t *st = fx_store(&n);
    assert_int_equal(fx_entries(&n, st->relations), 3);
    assert_int_equal(fx_entries(&n, st->relations_by_exp), 6);

    fx_change_t del[1];
    fx_del_change(&del[0], FX_ORG_B, 1, 200, ENT_EXPERIENCE, FX_COLL, FX_E2);
    assert_int_equal(fx_ingest(&n, &del[0].c), SPROTO_APPLIED);
    assert_int_equal(fx_alive(&n, fx_id(FX_E2)), 0);
    assert_int_equal(fx_alive(&n, fx_id(FX_R12)), 0);                // each leaves a tombstone
    assert_int_equal(fx_alive(&n, fx_id(FX_R23)), 0);
    assert_int_equal(fx_alive(&n, fx_id(FX_R13)), 1);
    assert_int_equal(fx_alive(&n, fx_id(FX_E1)), 1);
    assert_int_equal(fx_alive(&n, fx_id(FX_E3)), 1);
    assert_int_equal(fx_entries(&n, st->relations), 1);
    assert_true(fx_has_pair(&n, st->relations, fx_id(FX_COLL), fx_id(FX_R13)));
    //  Both ends' links of the removed relations are gone; R13's remain.
    assert_int_equal(fx_entries(&n, st->relations_by_exp), 2);
    assert_true(fx_has_pair(&n, st->relations_by_exp, fx_id(FX_E1), fx_id(FX_R13)));
    assert_true(fx_has_pair(&n, st->relations_by_exp, fx_id(FX_E3), fx_id(FX_R13)));
    assert_false(fx_has_pair(&n, st->relations_by_exp, fx_id(FX_E1), fx_id(FX_R12)));
    assert_false(fx_has_pair(&n, st->relations_by_exp, fx_id(FX_E3), fx_id(FX_R23)));
    assert_false(fx_has_pair(&n, st->experiences, fx_id(FX_COLL), fx_id(FX_E2)));
    assert_false(fx_has_embedding(&n, fx_id(FX_COLL), fx_id(FX_E2)));

    //  A late create of a removed relation, or a new one to the deleted
    //  experience, is discarded.
    fx_change_t late[2];
    fx_rel_change(&late[0], FX_ORG_C, 1, 900, FX_COLL, FX_R12, FX_E1, FX_E2);
    fx_rel_change(&late[1], FX_ORG_C, 2, 901, FX_COLL, 0x39, FX_E3, FX_E2);
    assert_int_equal(fx_ingest(&n, &late[0].c), SPROTO_KNOWN);
    assert_int_equal(fx_ingest(&n, &late[1].c), SPROTO_KNOWN);
    assert_int_equal(fx_entries(&n, st->relations), 1);
    assert_int_equal(fx_entries(&n, st->relations_by_exp), 2);
    fx_changes_release(set, 7);
    fx_changes_release(del, 1);
    fx_changes_release(late, 2);
    fx_close(&n);
}

static void
test_cascade_relation_delete_unlinks_both_ends(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[5];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_exp_change(&set[1], FX_ORG_A, 2, 110, FX_COLL, FX_E1);
    fx_exp_change(&set[2], FX_ORG_A, 3, 111, FX_COLL, FX_E2);
    fx_rel_change(&set[3], FX_ORG_A, 4, 120, FX_COLL, FX_R12, FX_E1, FX_E2);
    fx_del_change(&set[4], FX_ORG_A, 5, 130, ENT_RELATION, FX_COLL, FX_R12);
    fx_ingest_all(&n, set, 5);
    store_t *st = fx_store(&n);
    assert_int_equal(fx_alive(&n, fx_id(FX_R12)), 0);
    assert_int_equal(fx_entries(&n, st->relations), 0);
    assert_int_equal(fx_entries(&n, st->relations_by_exp), 0);
    assert_int_equal(fx_alive(&n, fx_id(FX_E1)), 1);
    assert_int_equal(fx_alive(&n, fx_id(FX_E2)), 1);
    fx_changes_release(set, 5);
    fx_close(&n);
}

static void
test_cascade_self_relation_and_insight_delete_leave_nothing_behind(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[6];
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_exp_change(&set[1], FX_ORG_A, 2, 110, FX_COLL, FX_E1);
    fx_rel_change(&set[2], FX_ORG_A, 3, 120, FX_COLL, FX_R12, FX_E1, FX_E1);  // E1 supports itself
    fx_ins_change(&set[3], FX_ORG_A, 4, 130, FX_COLL, FX_INS);
    fx_del_change(&set[4], FX_ORG_B, 1, 200, ENT_INSIGHT, FX_COLL, FX_INS);
    fx_del_change(&set[5], FX_ORG_B, 2, 210, ENT_EXPERIENCE, FX_COLL, FX_E1);
    fx_ingest_all(&n, set, 4);
    store_t *st = fx_store(&n);
    assert_int_equal(fx_entries(&n, st->relations_by_exp), 1);
    assert_int_equal(fx_entries(&n, st->insights), 1);
    assert_int_equal(fx_ingest(&n, &set[4].c), SPROTO_APPLIED);
    assert_int_equal(fx_alive(&n, fx_id(FX_INS)), 0);
    assert_int_equal(fx_entries(&n, st->insights), 0);
    assert_int_equal(fx_ingest(&n, &set[5].c), SPROTO_APPLIED);
    assert_int_equal(fx_alive(&n, fx_id(FX_E1)), 0);
    assert_int_equal(fx_alive(&n, fx_id(FX_R12)), 0);
    assert_int_equal(fx_entries(&n, st->relations), 0);
    assert_int_equal(fx_entries(&n, st->relations_by_exp), 0);
    assert_int_equal(fx_entries(&n, st->experiences), 0);
    fx_changes_release(set, 6);
    fx_close(&n);
}

//  --------------------------------------------------------------------------
//  cascade_delete itself: what it removes, and what it leaves to its caller

//  cascade_delete of id (its live record, copied out first, or none) in its
//  own write transaction, committed when it succeeds.
static int
s_cascade(fx_node_t *n, ent_type_t type, uint8_t coll, uint8_t id, uint64_t hlc, uint8_t origin)
{
    MDB_txn *txn = fx_write_begin(n);
    MDB_val val;
    msgpack_unpacked record;
    void *copy = NULL;
    int rc = store_record_get(fx_store(n), txn, fx_id(id), NULL, NULL, &val);
    if (rc == 0) {
        copy = malloc(val.mv_size);
        assert_non_null(copy);
        memcpy(copy, val.mv_data, val.mv_size);
        assert_int_equal(mpk_parse(copy, val.mv_size, &record), 0);
    }
    else {
        assert_int_equal(rc, PDB_ENOTFOUND);
        assert_int_equal(mpk_parse("\x80", 1, &record), 0);      // {}
    }
    rc = cascade_delete(fx_store(n), txn, type, fx_id(coll), fx_id(id), &record.data, hlc,
                        fx_id(origin));
    if (rc == 0)
        assert_int_equal(mdb_txn_commit(txn), 0);
    else
        mdb_txn_abort(txn);
    msgpack_unpacked_destroy(&record);
    free(copy);
    return rc;
}

//  Two collectives: COLL with E1, E2, R12 (E1 -> E2) and INS; COLL2 with E3.
static void
s_two_collectives(fx_node_t *n, fx_change_t set[7])
{
    fx_coll_change(&set[0], FX_ORG_A, 1, 100, FX_COLL, "kb");
    fx_coll_change(&set[1], FX_ORG_A, 2, 101, FX_COLL2, "other");
    fx_exp_change(&set[2], FX_ORG_A, 3, 110, FX_COLL, FX_E1);
    fx_exp_change(&set[3], FX_ORG_A, 4, 111, FX_COLL, FX_E2);
    fx_exp_change(&set[4], FX_ORG_A, 5, 112, FX_COLL2, FX_E3);
    fx_rel_change(&set[5], FX_ORG_A, 6, 120, FX_COLL, FX_R12, FX_E1, FX_E2);
    fx_ins_change(&set[6], FX_ORG_A, 7, 130, FX_COLL, FX_INS);
    fx_ingest_all(n, set, 7);
}

//  A collective takes everything inside with it, versions included; its
//  own versions record is the caller's to turn into a tombstone.
static void
test_cascade_collective_leaves_only_its_own_version(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[7];
    s_two_collectives(&n, set);
    store_t *st = fx_store(&n);
    uint64_t head = fx_head(&n);
    assert_int_equal(s_cascade(&n, ENT_COLLECTIVE, FX_COLL, FX_COLL, FX_H(500), FX_ORG_C), 0);
    assert_int_equal(fx_alive(&n, fx_id(FX_COLL)), 1);
    const uint8_t inside[] = { FX_E1, FX_E2, FX_R12, FX_INS };
    for (size_t i = 0; i < sizeof inside; i++)
        assert_int_equal(fx_alive(&n, fx_id(inside[i])), -1);
    assert_false(fx_has_embedding(&n, fx_id(FX_COLL), fx_id(FX_E1)));
    assert_int_equal(fx_entries(&n, st->relations_by_exp), 0);
    assert_int_equal(fx_entries(&n, st->collectives), 1);
    assert_int_equal(fx_entries(&n, st->collective_names), 1);
    MDB_txn *txn = fx_read_begin(&n);
    pdb_id_t found;
    assert_int_equal(store_collective_by_name(st, txn, "kb", 2, &found), PDB_ENOTFOUND);
    assert_int_equal(store_collective_by_name(st, txn, "other", 5, &found), 0);
    mdb_txn_abort(txn);
    //  The other collective is whole, and the WAL is the caller's business.
    assert_int_equal(fx_alive(&n, fx_id(FX_E3)), 1);
    assert_true(fx_has_embedding(&n, fx_id(FX_COLL2), fx_id(FX_E3)));
    assert_int_equal(fx_head(&n), head);
    fx_changes_release(set, 7);
    fx_close(&n);
}

//  The relations of a deleted experience get tombstones carrying the
//  delete's version, so a late create of one of them stays dead.
static void
test_cascade_experience_tombstones_its_relations_with_the_delete_version(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[7];
    s_two_collectives(&n, set);
    store_t *st = fx_store(&n);
    assert_int_equal(s_cascade(&n, ENT_EXPERIENCE, FX_COLL, FX_E2, FX_H(500), FX_ORG_C), 0);
    assert_int_equal(fx_alive(&n, fx_id(FX_E2)), 1);       // the caller's tombstone
    assert_false(fx_has_pair(&n, st->experiences, fx_id(FX_COLL), fx_id(FX_E2)));
    assert_false(fx_has_embedding(&n, fx_id(FX_COLL), fx_id(FX_E2)));
    assert_false(fx_has_pair(&n, st->relations, fx_id(FX_COLL), fx_id(FX_R12)));
    assert_int_equal(fx_entries(&n, st->relations_by_exp), 0);
    MDB_txn *txn = fx_read_begin(&n);
    store_version_t v;
    assert_int_equal(store_version_get(st, txn, fx_id(FX_R12), &v), 0);
    assert_true(v.tombstone);
    assert_int_equal(v.entity, ENT_RELATION);
    assert_int_equal(v.hlc, FX_H(500));
    assert_memory_equal(v.origin.b, fx_id(FX_ORG_C)->b, PDB_ID_LEN);
    assert_memory_equal(v.collective_id.b, fx_id(FX_COLL)->b, PDB_ID_LEN);
    mdb_txn_abort(txn);
    assert_int_equal(fx_alive(&n, fx_id(FX_E1)), 1);
    fx_changes_release(set, 7);
    fx_close(&n);
}

//  Deleting what is not there removes nothing and is no error; a type
//  that does not exist is refused.
static void
test_cascade_of_an_absent_entity_changes_nothing(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_change_t set[7];
    s_two_collectives(&n, set);
    char *before = fx_dump(&n, NULL);
    assert_int_equal(s_cascade(&n, ENT_INSIGHT, FX_COLL, 0x77, FX_H(500), FX_ORG_C), 0);
    assert_int_equal(s_cascade(&n, ENT_EXPERIENCE, FX_COLL, 0x77, FX_H(500), FX_ORG_C), 0);
    assert_int_equal(s_cascade(&n, ENT_COLLECTIVE, 0x78, 0x78, FX_H(500), FX_ORG_C), 0);
    assert_int_equal(s_cascade(&n, (ent_type_t) 99, FX_COLL, FX_E1, FX_H(500), FX_ORG_C),
                     PDB_EINVAL);
    char *after = fx_dump(&n, NULL);
    assert_string_equal(before, after);
    free(before);
    free(after);
    fx_changes_release(set, 7);
    fx_close(&n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cascade_collective_delete_removes_everything_inside),
        cmocka_unit_test(test_cascade_experience_delete_removes_relations_touching_it),
        cmocka_unit_test(test_cascade_relation_delete_unlinks_both_ends),
        cmocka_unit_test(test_cascade_self_relation_and_insight_delete_leave_nothing_behind),
        cmocka_unit_test(test_cascade_collective_leaves_only_its_own_version),
        cmocka_unit_test(test_cascade_experience_tombstones_its_relations_with_the_delete_version),
        cmocka_unit_test(test_cascade_of_an_absent_entity_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
