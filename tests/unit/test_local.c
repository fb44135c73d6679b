/*  test_local.c - writes made on this node (local.h) on real LMDB stores:
    creates, updates and deletes with defaults and managed fields, name
    clashes, unknown ids, invalid fields, and reinforcements on two
    instances adding up.
*/
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
//  Writes

static void
test_local_write_create_update_delete(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_write_t coll = fx_write_collective(&n, "kb", FX_DIM1);
    assert_int_equal(coll.rc, 0);
    assert_int_equal(coll.seq, 1);
    assert_int_equal(coll.id.b[6] >> 4, 7);              // a fresh UUIDv7
    fx_record_t r;
    fx_record_of(&n, &coll.id, &r);
    assert_true(fx_rec_str_is(&r, "name", "kb"));
    assert_true(fx_rec_str_is(&r, "owner", ""));          // defaults filled in
    assert_int_equal(fx_rec_u64(&r, "embedding_dim"), FX_DIM1);
    assert_int_equal(fx_rec_u64(&r, "created_at"), FX_WALL);
    assert_int_equal(fx_rec_u64(&r, "updated_at"), FX_WALL);
    fx_record_free(&r);

    fx_write_t exp = fx_write_experience(&n, &coll.id, FX_DIM1);
    assert_int_equal(exp.rc, 0);
    assert_int_equal(exp.seq, 2);
    fx_record_of(&n, &exp.id, &r);
    assert_true(fx_rec_dbl(&r, "importance") == 0.5);
    assert_true(fx_rec_dbl(&r, "confidence") == 0.5);
    assert_int_equal(mpk_map_get(r.map, "applications")->via.map.size, 0);
    const msgpack_object *type = mpk_map_get(r.map, "type");
    assert_non_null(type);
    assert_true(mpk_is_str(mpk_map_get(type, "kind"), "generic"));
    assert_null(mpk_map_get(r.map, "embedding"));         // kept apart, raw
    fx_record_free(&r);
    MDB_txn *txn = fx_read_begin(&n);
    MDB_val vec;
    assert_int_equal(store_embedding_get(fx_store(&n), txn, &coll.id, &exp.id, &vec), 0);
    float want[FX_DIM1] = { 1, 2, 3 };
    assert_int_equal(vec.mv_size, sizeof want);
    assert_memory_equal(vec.mv_data, want, sizeof want);
    mdb_txn_abort(txn);

    mpk_out_t f;
    fx_fields_new(&f, 2);
    fx_kv_dbl(&f.pk, "importance", 0.8);
    fx_kv_bool(&f.pk, "archived", true);
    fx_write_t up = fx_write(&n, ENT_EXPERIENCE, OP_UPDATE, &coll.id, &exp.id, &f, FX_WALL + 5);
    assert_int_equal(up.rc, 0);
    assert_int_equal(up.seq, 3);
    fx_record_of(&n, &exp.id, &r);
    assert_true(fx_rec_dbl(&r, "importance") == 0.8);
    assert_true(mpk_map_get(r.map, "archived")->via.boolean);
    fx_record_free(&r);

    //  A rename stamps updated_at and moves the name index.
    fx_fields_new(&f, 1);
    fx_kv_str(&f.pk, "name", "kb2");
    assert_int_equal(fx_write(&n, ENT_COLLECTIVE, OP_UPDATE, NULL, &coll.id, &f, FX_WALL + 6).rc,
                     0);
    fx_record_of(&n, &coll.id, &r);
    assert_true(fx_rec_str_is(&r, "name", "kb2"));
    assert_int_equal(fx_rec_u64(&r, "updated_at"), FX_WALL + 6);
    fx_record_free(&r);
    txn = fx_read_begin(&n);
    pdb_id_t found;
    assert_int_equal(store_collective_by_name(fx_store(&n), txn, "kb2", 3, &found), 0);
    assert_int_equal(store_collective_by_name(fx_store(&n), txn, "kb", 2, &found), PDB_ENOTFOUND);
    mdb_txn_abort(txn);

    fx_fields_new(&f, 0);
    fx_write_t del = fx_write(&n, ENT_EXPERIENCE, OP_DELETE, NULL, &exp.id, &f, FX_WALL + 7);
    assert_int_equal(del.rc, 0);
    assert_int_equal(del.seq, 5);
    txn = fx_read_begin(&n);
    assert_int_equal(store_record_get(fx_store(&n), txn, &exp.id, NULL, NULL, &vec), PDB_ENOTFOUND);
    assert_int_equal(store_embedding_get(fx_store(&n), txn, &coll.id, &exp.id, &vec),
                     PDB_ENOTFOUND);
    mdb_txn_abort(txn);

    //  Every local change is in the WAL under this node's origin, and the
    //  vector knows them (so they never come back as news).
    for (uint64_t seq = 1; seq <= 5; seq++) {
        change_t got;
        void *copy = fx_wal_entry(&n, seq, &got);
        assert_memory_equal(got.origin.b, n.node->instance_id.b, PDB_ID_LEN);
        assert_int_equal(got.origin_seq, seq);
        assert_int_equal(got.seq, seq);
        free(copy);
    }
    assert_int_equal(fx_vector(&n, &n.node->instance_id), 5);
    fx_close(&n);
}

static void
test_local_write_duplicate_collective_name_conflicts(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_write_t a = fx_write_collective(&n, "kb", FX_DIM1);
    fx_write_t b = fx_write_collective(&n, "notes", FX_DIM1);
    assert_int_equal(a.rc, 0);
    assert_int_equal(b.rc, 0);
    fx_write_t dup = fx_write_collective(&n, "kb", 8);
    assert_int_equal(dup.rc, PDB_ECONFLICT);
    assert_non_null(strstr(dup.why, "kb"));
    mpk_out_t f;
    fx_fields_new(&f, 1);
    fx_kv_str(&f.pk, "name", "kb");
    assert_int_equal(fx_write(&n, ENT_COLLECTIVE, OP_UPDATE, NULL, &b.id, &f, FX_WALL).rc,
                     PDB_ECONFLICT);
    //  Keeping one's own name is no clash.
    fx_fields_new(&f, 2);
    fx_kv_str(&f.pk, "name", "kb");
    fx_kv_str(&f.pk, "owner", "ann");
    assert_int_equal(fx_write(&n, ENT_COLLECTIVE, OP_UPDATE, NULL, &a.id, &f, FX_WALL).rc, 0);
    assert_int_equal(fx_head(&n), 3);
    assert_int_equal(fx_entries(&n, fx_store(&n)->collectives), 2);
    //  A deleted collective frees its name.
    fx_fields_new(&f, 0);
    assert_int_equal(fx_write(&n, ENT_COLLECTIVE, OP_DELETE, NULL, &a.id, &f, FX_WALL).rc, 0);
    assert_int_equal(fx_write_collective(&n, "kb", FX_DIM1).rc, 0);
    fx_close(&n);
}

static void
test_local_write_unknown_id_is_not_found(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_write_t coll = fx_write_collective(&n, "kb", FX_DIM1);
    fx_write_t exp = fx_write_experience(&n, &coll.id, FX_DIM1);
    fx_write_t other = fx_write_collective(&n, "other", FX_DIM1);
    assert_int_equal(exp.rc, 0);
    pdb_id_t nobody = testkit_id(0x77);
    uint64_t head = fx_head(&n);
    mpk_out_t f;

    fx_fields_new(&f, 1);
    fx_kv_dbl(&f.pk, "importance", 0.1);
    assert_int_equal(fx_write(&n, ENT_EXPERIENCE, OP_UPDATE, NULL, &nobody, &f, FX_WALL).rc,
                     PDB_ENOTFOUND);
    fx_fields_new(&f, 0);
    assert_int_equal(fx_write(&n, ENT_EXPERIENCE, OP_DELETE, NULL, &nobody, &f, FX_WALL).rc,
                     PDB_ENOTFOUND);
    //  The id of another type, or in another collective.
    fx_fields_new(&f, 1);
    fx_kv_dbl(&f.pk, "importance", 0.1);
    assert_int_equal(fx_write(&n, ENT_EXPERIENCE, OP_UPDATE, NULL, &coll.id, &f, FX_WALL).rc,
                     PDB_ENOTFOUND);
    fx_fields_new(&f, 1);
    fx_kv_dbl(&f.pk, "importance", 0.1);
    assert_int_equal(fx_write(&n, ENT_EXPERIENCE, OP_UPDATE, &other.id, &exp.id, &f, FX_WALL).rc,
                     PDB_ENOTFOUND);
    //  A create inside a collective that is not here.
    assert_int_equal(fx_write_experience(&n, &nobody, FX_DIM1).rc, PDB_ENOTFOUND);
    //  A relation to an experience that is not here.
    assert_int_equal(fx_write_relation(&n, &coll.id, &exp.id, &nobody).rc, PDB_ENOTFOUND);
    //  Reinforcing nothing.
    char why[PDB_ERRMSG_MAX];
    MDB_txn *txn = fx_write_begin(&n);
    uint64_t seq;
    assert_int_equal(local_reinforce(&n.ing, txn, &nobody, FX_WALL, &seq, why), PDB_ENOTFOUND);
    assert_int_equal(local_reinforce(&n.ing, txn, &coll.id, FX_WALL, &seq, why), PDB_ENOTFOUND);
    mdb_txn_abort(txn);
    //  Deleted entities are gone for updates, deletes and reinforcements.
    fx_fields_new(&f, 0);
    assert_int_equal(fx_write(&n, ENT_EXPERIENCE, OP_DELETE, NULL, &exp.id, &f, FX_WALL).rc, 0);
    head++;
    fx_fields_new(&f, 0);
    assert_int_equal(fx_write(&n, ENT_EXPERIENCE, OP_DELETE, NULL, &exp.id, &f, FX_WALL).rc,
                     PDB_ENOTFOUND);
    fx_fields_new(&f, 1);
    fx_kv_dbl(&f.pk, "importance", 0.1);
    assert_int_equal(fx_write(&n, ENT_EXPERIENCE, OP_UPDATE, NULL, &exp.id, &f, FX_WALL).rc,
                     PDB_ENOTFOUND);
    txn = fx_write_begin(&n);
    assert_int_equal(local_reinforce(&n.ing, txn, &exp.id, FX_WALL, &seq, why), PDB_ENOTFOUND);
    mdb_txn_abort(txn);
    assert_int_equal(fx_head(&n), head);
    fx_close(&n);
}

static void
test_local_write_refuses_invalid_fields(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_write_t coll = fx_write_collective(&n, "kb", FX_DIM1);
    fx_write_t coll2 = fx_write_collective(&n, "other", FX_DIM1);
    fx_write_t exp = fx_write_experience(&n, &coll.id, FX_DIM1);
    fx_write_t exp2 = fx_write_experience(&n, &coll2.id, FX_DIM1);
    assert_int_equal(exp2.rc, 0);
    uint64_t head = fx_head(&n);

    fx_write_t res = fx_write_experience(&n, &coll.id, FX_DIM1 + 1);   // wrong dim
    assert_int_equal(res.rc, PDB_EINVAL);
    assert_non_null(strstr(res.why, "embedding"));
    assert_int_equal(fx_write_experience(&n, &coll.id, FX_DIM1 - 1).rc, PDB_EINVAL);
    assert_int_equal(fx_write_collective(&n, "zero", 0).rc, PDB_EINVAL);
    assert_int_equal(fx_write_collective(&n, "", FX_DIM1).rc, PDB_EINVAL);

    mpk_out_t f;
    fx_fields_new(&f, 1);                  // a managed field from a client
    fx_kv_u64(&f.pk, "last_reinforced", 5);
    assert_int_equal(fx_write(&n, ENT_EXPERIENCE, OP_UPDATE, NULL, &exp.id, &f, FX_WALL).rc,
                     PDB_EINVAL);
    fx_fields_new(&f, 1);                  // content never changes
    fx_kv_str(&f.pk, "content", "rewritten");
    assert_int_equal(fx_write(&n, ENT_EXPERIENCE, OP_UPDATE, NULL, &exp.id, &f, FX_WALL).rc,
                     PDB_EINVAL);
    fx_fields_new(&f, 0);                  // an empty update
    assert_int_equal(fx_write(&n, ENT_EXPERIENCE, OP_UPDATE, NULL, &exp.id, &f, FX_WALL).rc,
                     PDB_EINVAL);
    fx_fields_new(&f, 2);                  // a create naming its own id
    fx_kv_str(&f.pk, "name", "mine");
    fx_kv_u64(&f.pk, "embedding_dim", FX_DIM1);
    pdb_id_t chosen = testkit_id(0x55);
    assert_int_equal(fx_write(&n, ENT_COLLECTIVE, OP_CREATE, NULL, &chosen, &f, FX_WALL).rc,
                     PDB_EINVAL);
    fx_fields_new(&f, 1);                  // an update without an id
    fx_kv_dbl(&f.pk, "importance", 0.2);
    assert_int_equal(fx_write(&n, ENT_EXPERIENCE, OP_UPDATE, NULL, NULL, &f, FX_WALL).rc,
                     PDB_EINVAL);
    fx_fields_new(&f, 2);                  // an experience outside any collective
    fx_kv_str(&f.pk, "content", "x");
    fx_kv_vec(&f.pk, "embedding", 1.0f);
    assert_int_equal(fx_write(&n, ENT_EXPERIENCE, OP_CREATE, NULL, NULL, &f, FX_WALL).rc,
                     PDB_EINVAL);
    //  A relation across collectives.
    assert_int_equal(fx_write_relation(&n, &coll.id, &exp.id, &exp2.id).rc, PDB_EINVAL);
    //  Oversized content.
    mpk_out_init(&f);
    mpk_pack_map(&f.pk, 2);
    mpk_pack_str(&f.pk, "content");
    char *big = malloc(PDB_CONTENT_MAX + 1);
    assert_non_null(big);
    memset(big, 'x', PDB_CONTENT_MAX + 1);
    mpk_pack_strn(&f.pk, big, PDB_CONTENT_MAX + 1);
    free(big);
    fx_kv_vec(&f.pk, "embedding", 1.0f);
    assert_int_equal(fx_write(&n, ENT_EXPERIENCE, OP_CREATE, &coll.id, NULL, &f, FX_WALL).rc,
                     PDB_ETOOBIG);
    //  Bytes that are not MessagePack at all.
    local_write_t w = { ENT_COLLECTIVE, OP_CREATE, NULL, NULL, "\xc1", 1 };
    char why[PDB_ERRMSG_MAX];
    MDB_txn *txn = fx_write_begin(&n);
    assert_int_equal(local_write(&n.ing, txn, &w, FX_WALL, NULL, NULL, why), PDB_EINVAL);
    mdb_txn_abort(txn);

    assert_int_equal(fx_head(&n), head);
    assert_int_equal(fx_entries(&n, fx_store(&n)->experiences), 2);
    fx_close(&n);
}

//  --------------------------------------------------------------------------
//  Reinforcements

//  Ships every WAL entry of `from` above *shipped into `to`, as a peer
//  would, and returns how many `to` applied. Each entry goes once, so a
//  change is known at `to` exactly when it is `to`'s own coming back, and
//  applied otherwise.
static size_t
s_ship(fx_node_t *from, fx_node_t *to, uint64_t *shipped)
{
    uint64_t head = fx_head(from);
    size_t applied = 0;
    for (uint64_t seq = *shipped + 1; seq <= head; seq++) {
        change_t c;
        void *copy = fx_wal_entry(from, seq, &c);
        int rc = fx_ingest(to, &c);
        bool own = pdb_id_cmp(&c.origin, &to->ing.self) == 0;
        assert_int_equal(rc, own ? SPROTO_KNOWN : SPROTO_APPLIED);
        applied += rc == SPROTO_APPLIED;
        free(copy);
    }
    *shipped = head;
    return applied;
}

static void
s_reinforce(fx_node_t *n, const pdb_id_t *exp, uint64_t wall)
{
    char why[PDB_ERRMSG_MAX];
    uint64_t seq;
    MDB_txn *txn = fx_write_begin(n);
    assert_int_equal(local_reinforce(&n->ing, txn, exp, wall, &seq, why), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

static void
test_local_reinforce_on_two_instances_adds_up(void **state)
{
    (void) state;
    fx_node_t one, two;
    fx_open(&one);
    fx_open(&two);
    uint64_t one_to_two = 0, two_to_one = 0;
    fx_write_t coll = fx_write_collective(&one, "kb", FX_DIM1);
    fx_write_t exp = fx_write_experience(&one, &coll.id, FX_DIM1);
    assert_int_equal(exp.rc, 0);
    assert_int_equal(s_ship(&one, &two, &one_to_two), 2);

    //  Both reinforce at once, one of them twice.
    s_reinforce(&one, &exp.id, FX_WALL + 100);
    s_reinforce(&one, &exp.id, FX_WALL + 101);
    s_reinforce(&two, &exp.id, FX_WALL + 300);
    fx_record_t r;
    fx_record_of(&one, &exp.id, &r);
    const pdb_id_t *id_one = &one.node->instance_id, *id_two = &two.node->instance_id;
    assert_int_equal(mpk_map_get(r.map, "applications")->via.map.size, 1);
    fx_record_free(&r);

    assert_int_equal(s_ship(&one, &two, &one_to_two), 2);
    assert_int_equal(s_ship(&two, &one, &two_to_one), 1);   // its own changes come back known
    //  Nothing echoes: shipping again applies nothing either way.
    assert_int_equal(s_ship(&one, &two, &one_to_two), 0);
    assert_int_equal(s_ship(&two, &one, &two_to_one), 0);

    fx_record_t a, b;
    fx_record_of(&one, &exp.id, &a);
    fx_record_of(&two, &exp.id, &b);
    const msgpack_object *apps = mpk_map_get(a.map, "applications");
    assert_int_equal(apps->via.map.size, 2);
    uint64_t total = 0;
    for (uint32_t i = 0; i < apps->via.map.size; i++) {
        pdb_id_t who;
        assert_int_equal(mpk_get_id(&apps->via.map.ptr[i].key, &who), 0);
        uint64_t count = apps->via.map.ptr[i].val.via.u64;
        assert_int_equal(count, pdb_id_cmp(&who, id_one) == 0 ? 2 : 1);
        if (pdb_id_cmp(&who, id_one) != 0)
            assert_int_equal(pdb_id_cmp(&who, id_two), 0);
        total += count;
    }
    assert_int_equal(total, 3);
    assert_int_equal(fx_rec_u64(&a, "last_reinforced"), FX_WALL + 300);
    //  Same bytes on both nodes.
    assert_true(mpk_equal(a.map, b.map));
    fx_record_free(&a);
    fx_record_free(&b);
    char *da = fx_dump_flags(&one, false), *db = fx_dump_flags(&two, false);
    assert_string_equal(da, db);
    free(da);
    free(db);

    //  A third reinforcement on two builds on what two now knows of itself.
    s_reinforce(&two, &exp.id, FX_WALL + 400);
    assert_int_equal(s_ship(&two, &one, &two_to_one), 1);
    fx_record_of(&one, &exp.id, &r);
    apps = mpk_map_get(r.map, "applications");
    total = 0;
    for (uint32_t i = 0; i < apps->via.map.size; i++)
        total += apps->via.map.ptr[i].val.via.u64;
    assert_int_equal(total, 4);
    fx_record_free(&r);
    fx_close(&one);
    fx_close(&two);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_write_create_update_delete),
        cmocka_unit_test(test_local_write_duplicate_collective_name_conflicts),
        cmocka_unit_test(test_local_write_unknown_id_is_not_found),
        cmocka_unit_test(test_local_write_refuses_invalid_fields),
        cmocka_unit_test(test_local_reinforce_on_two_instances_adds_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
