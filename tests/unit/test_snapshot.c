/*  test_snapshot.c - a node's state as a stream of STATE entities
    (services/syncer/snapshot.h): order, paging bounds, filters, totals, the shape of
    each entity, and positions, on real LMDB stores.
*/
#include "snapshot.h"
#include "clock.h"
#include "err.h"
#include "mpk.h"
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

//  Entities of the populated world: c1 c2 c3, e1 e2 e3(t) e4, r12 r23(t),
//  i1 i2(t); e5 went with c3.
#define WORLD_ENTITIES 11u

typedef struct {
    change_t c;
    msgpack_unpacked u;
    const msgpack_object *record, *created, *versions, *tombstone;
} s_entity_t;

static void
s_entity(const fx_blob_t *blob, s_entity_t *e)
{
    assert_int_equal(change_decode(blob->data, blob->len, &e->c), 0);
    assert_int_equal((int) e->c.op, OP_STATE);
    assert_int_equal(mpk_parse(e->c.fields, e->c.fields_len, &e->u), 0);
    assert_int_equal(e->u.data.type, MSGPACK_OBJECT_MAP);
    assert_int_equal(e->u.data.via.map.size, 4);
    e->record = mpk_map_get(&e->u.data, "record");
    e->created = mpk_map_get(&e->u.data, "created");
    e->versions = mpk_map_get(&e->u.data, "versions");
    e->tombstone = mpk_map_get(&e->u.data, "tombstone");
    assert_non_null(e->record);
    assert_non_null(e->created);
    assert_non_null(e->versions);
    assert_non_null(e->tombstone);
    assert_int_equal(e->tombstone->type, MSGPACK_OBJECT_BOOLEAN);
}

static void
s_entity_release(s_entity_t *e)
{
    msgpack_unpacked_destroy(&e->u);
}

static bool
s_has(const pdb_id_t *ids, size_t n, const pdb_id_t *id)
{
    for (size_t i = 0; i < n; i++)
        if (pdb_id_cmp(&ids[i], id) == 0)
            return true;
    return false;
}

//  Checks the stream rules: envelope seq = origin_seq = 1..n, origin = the
//  node, every id once, collectives first, a live child after its
//  collective, tombstones of children after every live entity.
static void
s_check_stream(fx_node_t *n, const fx_snap_t *s)
{
    pdb_id_t *seen = calloc(s->n + 1, sizeof *seen);
    assert_non_null(seen);
    bool past_collectives = false, in_tombstones = false;
    for (size_t i = 0; i < s->n; i++) {
        s_entity_t e;
        s_entity(&s->items[i], &e);
        assert_int_equal(e.c.seq, i + 1);
        assert_int_equal(e.c.origin_seq, i + 1);
        assert_int_equal(pdb_id_cmp(&e.c.origin, &n->ing.self), 0);
        assert_false(s_has(seen, i, &e.c.entity_id));
        bool tomb = e.tombstone->via.boolean;
        if (e.c.entity == ENT_COLLECTIVE)
            assert_false(past_collectives);
        else {
            past_collectives = true;
            if (tomb)
                in_tombstones = true;
            else {
                assert_false(in_tombstones);
                assert_true(s_has(seen, i, &e.c.collective_id));
            }
        }
        seen[i] = e.c.entity_id;
        s_entity_release(&e);
    }
    free(seen);
}

static void
s_assert_same_stream(const fx_snap_t *a, const fx_snap_t *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->items[i].len, b->items[i].len);
        assert_memory_equal(a->items[i].data, b->items[i].data, a->items[i].len);
    }
}

//  --------------------------------------------------------------------------

static void
test_snapshot_of_empty_store_is_done_at_once(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_snap_t s;
    fx_snapshot(&n, NULL, 0, 100, 1u << 20, &s);
    assert_int_equal(s.n, 0);
    assert_int_equal(s.pages, 1);
    assert_int_equal(s.total, 0);
    //  A finished position stays finished.
    MDB_txn *txn = fx_read_begin(&n);
    snapshot_pos_t pos = { .len = 0 };
    mpk_out_t out;
    mpk_out_init(&out);
    size_t count;
    bool done;
    for (int k = 0; k < 2; k++) {
        assert_int_equal(snapshot_page(fx_store(&n), txn, NULL, 0, &pos, 10, 4096,
                                       &n.ing.self, &out.pk, &count, &done), 0);
        assert_int_equal(count, 0);
        assert_true(done);
    }
    assert_int_equal(out.buf.size, 0);
    mpk_out_release(&out);
    mdb_txn_abort(txn);
    fx_snap_free(&s);
    fx_close(&n);
}

static void
test_snapshot_entities_carry_record_embedding_versions_and_tombstones(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_world_t w;
    fx_populate(&n, clock_wall_ms(), &w);
    fx_snap_t s;
    fx_snapshot(&n, NULL, 0, 1000, 1u << 20, &s);
    assert_int_equal(s.n, WORLD_ENTITIES);
    assert_int_equal(s.total, WORLD_ENTITIES);
    bool saw_e1 = false, saw_e3 = false, saw_c3 = false;
    MDB_txn *txn = fx_read_begin(&n);
    for (size_t i = 0; i < s.n; i++) {
        s_entity_t e;
        s_entity(&s.items[i], &e);
        store_version_t v;
        assert_int_equal(store_version_get(fx_store(&n), txn, &e.c.entity_id, &v), 0);
        //  The envelope's stamp and "created" are the stored create (or delete).
        assert_int_equal(e.c.hlc, v.hlc);
        uint64_t hlc;
        pdb_id_t origin;
        assert_int_equal(mpk_get_u64(&e.created->via.array.ptr[0], &hlc), 0);
        assert_int_equal(mpk_get_id(&e.created->via.array.ptr[1], &origin), 0);
        assert_int_equal(hlc, v.hlc);
        assert_int_equal(pdb_id_cmp(&origin, &v.origin), 0);
        assert_int_equal(e.tombstone->via.boolean, v.tombstone);
        assert_int_equal(pdb_id_cmp(&e.c.collective_id, &v.collective_id), 0);
        if (pdb_id_cmp(&e.c.entity_id, &w.e1) == 0) {
            saw_e1 = true;
            const msgpack_object *vec = mpk_map_get(e.record, "embedding");
            assert_non_null(vec);
            assert_int_equal(vec->type, MSGPACK_OBJECT_BIN);
            MDB_val stored;
            assert_int_equal(store_embedding_get(fx_store(&n), txn, &w.c1, &w.e1, &stored), 0);
            assert_int_equal(vec->via.bin.size, FX_DIM1 * sizeof(float));
            assert_memory_equal(vec->via.bin.ptr, stored.mv_data, stored.mv_size);
            assert_non_null(mpk_map_get(e.record, "content"));
            //  importance (local) and confidence (remote) won later writes.
            assert_int_equal(e.versions->via.map.size, 2);
            assert_non_null(mpk_map_get(e.versions, "importance"));
            const msgpack_object *conf = mpk_map_get(e.versions, "confidence");
            assert_non_null(conf);
            assert_int_equal(mpk_get_id(&conf->via.array.ptr[1], &origin), 0);
            assert_int_equal(pdb_id_cmp(&origin, &w.remote), 0);
        }
        if (pdb_id_cmp(&e.c.entity_id, &w.e3) == 0 || pdb_id_cmp(&e.c.entity_id, &w.c3) == 0) {
            saw_e3 = saw_e3 || pdb_id_cmp(&e.c.entity_id, &w.e3) == 0;
            saw_c3 = saw_c3 || pdb_id_cmp(&e.c.entity_id, &w.c3) == 0;
            assert_true(e.tombstone->via.boolean);
            assert_int_equal(e.record->via.map.size, 0);
            assert_int_equal(e.versions->via.map.size, 0);
        }
        assert_false(pdb_id_cmp(&e.c.entity_id, &w.e5) == 0);    // went with c3
        s_entity_release(&e);
    }
    mdb_txn_abort(txn);
    assert_true(saw_e1 && saw_e3 && saw_c3);
    s_check_stream(&n, &s);
    fx_snap_free(&s);
    fx_close(&n);
}

static void
test_snapshot_pages_cover_every_entity_once_children_after_collective(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_world_t w;
    fx_populate(&n, clock_wall_ms(), &w);
    //  More of everything, so small pages cross phases in many places.
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "extra-%d", i);
        fx_new_collective(&n, clock_wall_ms() + 100 + i, name, FX_DIM2);
        pdb_id_t e = fx_new_experience(&n, clock_wall_ms() + 200 + i, &w.c1, FX_DIM1, 9.0f);
        if (i % 2)
            fx_delete(&n, clock_wall_ms() + 300 + i, ENT_EXPERIENCE, &w.c1, &e);
    }
    fx_snap_t whole;
    fx_snapshot(&n, NULL, 0, 100000, 1u << 24, &whole);
    assert_int_equal(whole.pages, 1);
    assert_int_equal(whole.n, whole.total);
    s_check_stream(&n, &whole);
    //  The biggest entity sets the smallest byte bound a page may have.
    size_t biggest = 0;
    for (size_t i = 0; i < whole.n; i++)
        if (whole.items[i].len > biggest)
            biggest = whole.items[i].len;
    const struct { size_t entities, bytes; } bounds[] = {
        { 1, 1u << 20 }, { 2, 1u << 20 }, { 3, 1u << 20 }, { 7, 1u << 20 },
        { 1000, biggest + 5 }, { 1000, 2 * biggest + 10 }, { 2, biggest + 5 },
    };
    for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++) {
        fx_snap_t paged;
        fx_snapshot(&n, NULL, 0, bounds[b].entities, bounds[b].bytes, &paged);
        //  Exactly the same stream, only cut differently.
        s_assert_same_stream(&whole, &paged);
        assert_true(paged.pages >= (whole.n + bounds[b].entities - 1) / bounds[b].entities);
        assert_int_equal(paged.total, whole.total);
        fx_snap_free(&paged);
    }
    fx_snap_free(&whole);
    fx_close(&n);
}

static void
test_snapshot_filter_limits_everything_to_those_collectives(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_world_t w;
    fx_populate(&n, clock_wall_ms(), &w);

    fx_snap_t s;
    fx_snapshot(&n, &w.c2, 1, 100, 1u << 20, &s);
    assert_int_equal(s.n, 2);                             // c2, e4
    assert_int_equal(s.total, 2);
    for (size_t i = 0; i < s.n; i++) {
        s_entity_t e;
        s_entity(&s.items[i], &e);
        assert_int_equal(pdb_id_cmp(&e.c.collective_id, &w.c2), 0);
        s_entity_release(&e);
    }
    fx_snap_free(&s);

    //  Order and duplicates in the filter do not matter; unknown ids add nothing.
    pdb_id_t unknown = testkit_id(0x42);
    pdb_id_t filter[] = { w.c3, unknown, w.c1, w.c3, w.e1 };
    size_t expect = 2 + 4 + 3;      // c1, c3; e1 e2 r12 i1; tombstones e3 r23 i2
    for (size_t per_page = 1; per_page <= 100; per_page *= 10) {
        fx_snapshot(&n, filter, 5, per_page, 1u << 20, &s);
        assert_int_equal(s.n, expect);
        assert_int_equal(s.total, expect);
        s_check_stream(&n, &s);
        for (size_t i = 0; i < s.n; i++) {
            s_entity_t e;
            s_entity(&s.items[i], &e);
            assert_true(pdb_id_cmp(&e.c.collective_id, &w.c1) == 0
                        || pdb_id_cmp(&e.c.collective_id, &w.c3) == 0);
            s_entity_release(&e);
        }
        fx_snap_free(&s);
    }

    fx_snapshot(&n, &unknown, 1, 100, 1u << 20, &s);
    assert_int_equal(s.n, 0);
    assert_int_equal(s.total, 0);
    fx_snap_free(&s);
    fx_close(&n);
}

static void
test_snapshot_entity_too_big_for_page_is_refused_and_position_kept(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_world_t w;
    fx_populate(&n, clock_wall_ms(), &w);
    MDB_txn *txn = fx_read_begin(&n);
    snapshot_pos_t pos = { .len = 0 };
    mpk_out_t out;
    mpk_out_init(&out);
    size_t count = 7;
    bool done = true;
    assert_int_equal(snapshot_page(fx_store(&n), txn, NULL, 0, &pos, 10, 16, &n.ing.self,
                                   &out.pk, &count, &done), PDB_ETOOBIG);
    assert_int_equal(pos.len, 0);
    assert_int_equal(count, 0);
    assert_false(done);
    //  After a good page, a failing one leaves the position where it was.
    assert_int_equal(snapshot_page(fx_store(&n), txn, NULL, 0, &pos, 2, 1u << 20, &n.ing.self,
                                   &out.pk, &count, &done), 0);
    assert_int_equal(count, 2);
    snapshot_pos_t kept = pos;
    assert_int_equal(snapshot_page(fx_store(&n), txn, NULL, 0, &pos, 2, 16, &n.ing.self,
                                   &out.pk, &count, &done), PDB_ETOOBIG);
    assert_int_equal(pos.len, kept.len);
    assert_memory_equal(pos.bytes, kept.bytes, kept.len);
    //  max_entities 0 sends nothing and is not done.
    mpk_out_release(&out);
    mpk_out_init(&out);
    assert_int_equal(snapshot_page(fx_store(&n), txn, NULL, 0, &pos, 0, 1u << 20, &n.ing.self,
                                   &out.pk, &count, &done), 0);
    assert_int_equal(count, 0);
    assert_false(done);
    assert_int_equal(out.buf.size, 0);
    mpk_out_release(&out);
    mdb_txn_abort(txn);
    fx_close(&n);
}

static void
test_snapshot_refuses_positions_it_did_not_make(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_world_t w;
    fx_populate(&n, clock_wall_ms(), &w);
    MDB_txn *txn = fx_read_begin(&n);
    snapshot_pos_t bad[4];
    memset(bad, 0, sizeof bad);
    bad[0].len = 3;                               // shorter than its head
    bad[1].len = 8;
    bad[1].bytes[0] = 9;                          // no such phase
    bad[2].len = 8 + 5;
    bad[2].bytes[0] = 1;                          // key of the wrong length
    bad[3].len = SNAPSHOT_POS_MAX + 1;
    for (size_t i = 0; i < 4; i++) {
        mpk_out_t out;
        mpk_out_init(&out);
        size_t count;
        bool done;
        snapshot_pos_t before = bad[i];
        assert_int_equal(snapshot_page(fx_store(&n), txn, NULL, 0, &bad[i], 10, 1u << 20,
                                       &n.ing.self, &out.pk, &count, &done), PDB_EINVAL);
        assert_memory_equal(&before, &bad[i], sizeof before);
        assert_int_equal(out.buf.size, 0);
        mpk_out_release(&out);
    }
    mdb_txn_abort(txn);
    fx_close(&n);
}

//  Every page comes from the transaction given, whatever is written since.
static void
test_snapshot_pages_read_one_consistent_transaction(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_world_t w;
    fx_populate(&n, clock_wall_ms(), &w);
    MDB_txn *txn = fx_read_begin(&n);
    uint64_t total;
    assert_int_equal(snapshot_total(fx_store(&n), txn, NULL, 0, &total), 0);
    snapshot_pos_t pos = { .len = 0 };
    size_t seen = 0, count;
    bool done = false;
    for (int page = 0; !done; page++) {
        mpk_out_t out;
        mpk_out_init(&out);
        assert_int_equal(snapshot_page(fx_store(&n), txn, NULL, 0, &pos, 3, 1u << 20,
                                       &n.ing.self, &out.pk, &count, &done), 0);
        mpk_out_release(&out);
        seen += count;
        if (page == 0) {
            //  Writes in between: a new collective and experience, a delete.
            fx_new_collective(&n, clock_wall_ms() + 500, "late", FX_DIM1);
            fx_new_experience(&n, clock_wall_ms() + 501, &w.c1, FX_DIM1, 3.0f);
            fx_delete(&n, clock_wall_ms() + 502, ENT_EXPERIENCE, &w.c1, &w.e2);
        }
    }
    assert_int_equal(seen, total);
    assert_int_equal(total, WORLD_ENTITIES);
    mdb_txn_abort(txn);
    fx_close(&n);
}

//  A versions value with its type as a fixint (fast path) or uint8 (full decode).
static void
s_version_value(mpk_out_t *out, bool wide_type, ent_type_t type, bool tomb,
                const pdb_id_t *coll)
{
    static const uint8_t empty_map = 0x80;
    pdb_id_t origin = testkit_id(0xa1);
    mpk_out_init(out);
    mpk_pack_array(&out->pk, 6);
    if (wide_type)
        (void) msgpack_pack_fix_uint8(&out->pk, (uint8_t) type);
    else
        mpk_pack_u64(&out->pk, type);
    mpk_pack_bool(&out->pk, tomb);
    mpk_pack_id(&out->pk, coll);
    mpk_pack_u64(&out->pk, FX_H(1234));
    mpk_pack_id(&out->pk, &origin);
    mpk_pack_bin(&out->pk, &empty_map, 1);
    assert_int_equal(mpk_out_status(out), 0);
}

static void
test_store_version_head_reads_any_valid_encoding(void **state)
{
    (void) state;
    pdb_id_t coll = testkit_id(0x10);
    for (int wide = 0; wide <= 1; wide++) {
        mpk_out_t out;
        s_version_value(&out, wide, ENT_RELATION, true, &coll);
        if (!wide)
            assert_int_equal((uint8_t) out.buf.data[1], ENT_RELATION);
        MDB_val val = { out.buf.size, out.buf.data };
        ent_type_t type = ENT_COLLECTIVE;
        bool tomb = false;
        pdb_id_t got;
        assert_int_equal(store_version_head(&val, &type, &tomb, &got), 0);
        assert_int_equal(type, ENT_RELATION);
        assert_true(tomb);
        assert_int_equal(pdb_id_cmp(&got, &coll), 0);
        //  Cut short: corrupt, whichever path reads it.
        val.mv_size = 4;
        assert_int_equal(store_version_head(&val, &type, &tomb, &got), PDB_ECORRUPT);
        mpk_out_release(&out);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_of_empty_store_is_done_at_once),
        cmocka_unit_test(test_snapshot_entities_carry_record_embedding_versions_and_tombstones),
        cmocka_unit_test(test_snapshot_pages_cover_every_entity_once_children_after_collective),
        cmocka_unit_test(test_snapshot_filter_limits_everything_to_those_collectives),
        cmocka_unit_test(test_snapshot_entity_too_big_for_page_is_refused_and_position_kept),
        cmocka_unit_test(test_snapshot_refuses_positions_it_did_not_make),
        cmocka_unit_test(test_snapshot_pages_read_one_consistent_transaction),
        cmocka_unit_test(test_store_version_head_reads_any_valid_encoding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
