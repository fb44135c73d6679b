/*  test_install.c - "install": snapshot entities merged into a node
    (services/storage/install.h), and STATE changes relayed to third nodes
    through "apply", on real LMDB stores.
*/
#include "install.h"
#include "apply.h"
#include "clock.h"
#include "entity.h"
#include "err.h"
#include "handlers.h"
#include "mpk.h"
#include "snapshot.h"
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

static void
s_assert_same_state(fx_node_t *a, fx_node_t *b, const pdb_id_t *coll)
{
    char *da = fx_dump(a, coll), *db = fx_dump(b, coll);
    if (strcmp(da, db) != 0)
        fail_msg("stores differ:\n--- a\n%s--- b\n%s", da, db);
    free(da);
    free(db);
}

//  A snapshot of `from` installed into `to` in pages of `per_page`.
static uint64_t
s_sync(fx_node_t *from, fx_node_t *to, const char *peer, size_t per_page)
{
    fx_snap_t s;
    fx_snapshot(from, NULL, 0, per_page, 1u << 20, &s);
    uint64_t installed = fx_install_snap(to, peer, &s);
    fx_snap_free(&s);
    return installed;
}

//  --------------------------------------------------------------------------

static void
test_install_into_empty_node_gives_identical_store(void **state)
{
    (void) state;
    fx_node_t a, b;
    fx_open(&a);
    fx_open(&b);
    fx_world_t w;
    fx_populate(&a, clock_wall_ms(), &w);
    fx_snap_t s;
    fx_snapshot(&a, NULL, 0, 4, 1u << 20, &s);
    assert_true(s.pages > 1);
    assert_int_equal(fx_install_snap(&b, "alpha", &s), s.n);
    //  Byte for byte: records, names, embeddings, links, versions, tombstones.
    s_assert_same_state(&a, &b, NULL);
    const pdb_id_t *colls[] = { &w.c1, &w.c2, &w.c3 };
    for (size_t i = 0; i < 3; i++)
        s_assert_same_state(&a, &b, colls[i]);
    assert_int_equal(fx_alive(&b, &w.e5), -1);
    //  Each entity is in b's WAL as b's own STATE change.
    assert_int_equal(fx_head(&b), s.n);
    fx_blob_t *wal;
    size_t n;
    fx_wal(&b, 0, &wal, &n);
    assert_int_equal(n, s.n);
    for (size_t i = 0; i < n; i++) {
        change_t c;
        assert_int_equal(change_decode(wal[i].data, wal[i].len, &c), 0);
        assert_int_equal((int) c.op, OP_STATE);
        assert_int_equal(pdb_id_cmp(&c.origin, &b.ing.self), 0);
        assert_int_equal(c.origin_seq, c.seq);
        assert_int_equal(c.seq, i + 1);
    }
    assert_int_equal(fx_vector(&b, &b.ing.self), s.n);
    fx_blobs_free(wal, n);
    fx_snap_free(&s);
    fx_close(&a);
    fx_close(&b);
}

static void
test_install_twice_changes_nothing(void **state)
{
    (void) state;
    fx_node_t a, b;
    fx_open(&a);
    fx_open(&b);
    fx_world_t w;
    fx_populate(&a, clock_wall_ms(), &w);
    fx_snap_t s;
    fx_snapshot(&a, NULL, 0, 1000, 1u << 20, &s);
    assert_int_equal(fx_install_snap(&b, "alpha", &s), s.n);
    char *before = fx_dump(&b, NULL);
    uint64_t head = fx_head(&b);
    fx_result_t r = fx_install(&b, "alpha", s.items, s.n, true, s.head, &s.vector);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.installed, 0);
    assert_int_equal(r.head, head);
    char *after = fx_dump(&b, NULL);
    assert_string_equal(before, after);
    free(before);
    free(after);
    fx_snap_free(&s);
    fx_close(&a);
    fx_close(&b);
}

static void
test_install_merges_with_newer_local_data(void **state)
{
    (void) state;
    fx_node_t a, b;
    fx_open(&a);
    fx_open(&b);
    fx_world_t w;
    uint64_t t = clock_wall_ms();
    fx_populate(&a, t, &w);
    s_sync(&a, &b, "alpha", 5);
    //  a changes importance (older) and confidence; b changes importance
    //  later; both reinforce e2; b renames c2 earlier than a does.
    fx_set_unit(&a, t + 1000, &w.c1, &w.e1, "importance", 0.7);
    fx_set_unit(&a, t + 1001, &w.c1, &w.e1, "confidence", 0.9);
    fx_reinforce(&a, t + 1002, &w.e2);
    fx_rename(&b, t + 1003, &w.c2, "from-b");
    fx_set_unit(&b, t + 2000, &w.c1, &w.e1, "importance", 0.1);
    fx_reinforce(&b, t + 2001, &w.e2);
    fx_rename(&a, t + 3000, &w.c2, "from-a");
    assert_true(s_sync(&a, &b, "alpha", 3) >= 2);
    assert_true(fx_get_dbl(&b, &w.e1, "importance") == 0.1);     // b's newer wins
    assert_true(fx_get_dbl(&b, &w.e1, "confidence") == 0.9);     // a's newer wins
    assert_int_equal(fx_count_of(&b, &w.e2, &a.ing.self), 3);   // counters add up
    assert_int_equal(fx_count_of(&b, &w.e2, &b.ing.self), 1);
    //  The name index follows the rename that won.
    MDB_txn *txn = fx_read_begin(&b);
    pdb_id_t found;
    assert_int_equal(store_collective_by_name(fx_store(&b), txn, "from-a", 6, &found), 0);
    assert_int_equal(pdb_id_cmp(&found, &w.c2), 0);
    assert_int_equal(store_collective_by_name(fx_store(&b), txn, "from-b", 6, &found),
                     PDB_ENOTFOUND);
    mdb_txn_abort(txn);
    //  And back: both hold the same state, byte for byte.
    s_sync(&b, &a, "beta", 4);
    s_assert_same_state(&a, &b, NULL);
    assert_true(fx_get_dbl(&a, &w.e1, "importance") == 0.1);
    fx_close(&a);
    fx_close(&b);
}

static void
test_install_tombstone_deletes_local_entity(void **state)
{
    (void) state;
    fx_node_t a, b;
    fx_open(&a);
    fx_open(&b);
    fx_world_t w;
    uint64_t t = clock_wall_ms();
    fx_populate(&a, t, &w);
    s_sync(&a, &b, "alpha", 100);
    assert_int_equal(fx_alive(&b, &w.e1), 1);
    assert_int_equal(fx_alive(&b, &w.r12), 1);
    //  b updates e1 after a deleted it: the delete is still final.
    fx_delete(&a, t + 1000, ENT_EXPERIENCE, &w.c1, &w.e1);
    fx_set_unit(&b, t + 2000, &w.c1, &w.e1, "importance", 0.2);
    fx_delete(&a, t + 1001, ENT_COLLECTIVE, &w.c2, &w.c2);
    s_sync(&a, &b, "alpha", 2);
    assert_int_equal(fx_alive(&b, &w.e1), 0);
    assert_int_equal(fx_alive(&b, &w.r12), 0);                   // cascaded
    assert_int_equal(fx_alive(&b, &w.c2), 0);
    assert_int_equal(fx_alive(&b, &w.e4), -1);                   // went with c2
    assert_int_equal(fx_entries(&b, fx_store(&b)->relations_by_exp), 0);
    s_assert_same_state(&a, &b, NULL);
    fx_close(&a);
    fx_close(&b);
}

static void
test_install_done_sets_cursor_and_vector(void **state)
{
    (void) state;
    fx_node_t a, b;
    fx_open(&a);
    fx_open(&b);
    fx_world_t w;
    fx_populate(&a, clock_wall_ms(), &w);
    fx_new_collective(&b, clock_wall_ms(), "own", FX_DIM1);    // b's own seq 1
    fx_snap_t s;
    fx_snapshot(&a, NULL, 0, 1000, 1u << 20, &s);
    assert_true(s.head > 0);
    //  The vector names a, the remote origin, a third instance, and b itself.
    vv_t vector = { 0 };
    pdb_id_t third = testkit_id(0x99);
    assert_int_equal(vv_raise(&vector, &a.ing.self, s.head), 0);
    assert_int_equal(vv_raise(&vector, &w.remote, 1), 0);
    assert_int_equal(vv_raise(&vector, &third, 12), 0);
    assert_int_equal(vv_raise(&vector, &b.ing.self, 500), 0);
    //  Not done: entities land, the cursor and vector wait.
    fx_result_t r = fx_install(&b, "alpha", s.items, 4, false, s.head, &vector);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.installed, 4);
    assert_int_equal(fx_pull_cursor(&b, "alpha"), -1);
    assert_int_equal(fx_vector(&b, &a.ing.self), 0);
    assert_int_equal(fx_vector(&b, &third), 0);
    r = fx_install(&b, "alpha", s.items + 4, s.n - 4, true, s.head, &vector);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.installed, s.n - 4);
    assert_int_equal(r.head, 1 + s.n);
    assert_int_equal(fx_pull_cursor(&b, "alpha"), s.head);
    assert_int_equal(fx_vector(&b, &a.ing.self), s.head);
    assert_int_equal(fx_vector(&b, &w.remote), 1);
    assert_int_equal(fx_vector(&b, &third), 12);
    //  Only this node numbers its own changes.
    assert_int_equal(fx_vector(&b, &b.ing.self), 1 + s.n);
    //  An older snapshot's end never moves them back.
    vv_t low = { 0 };
    assert_int_equal(vv_raise(&low, &third, 3), 0);
    r = fx_install(&b, "alpha", NULL, 0, true, 2, &low);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.installed, 0);
    assert_int_equal(fx_pull_cursor(&b, "alpha"), s.head);
    assert_int_equal(fx_vector(&b, &third), 12);
    //  No peer name: no cursor, the vector still moves.
    assert_int_equal(vv_raise(&low, &third, 40), 0);
    r = fx_install(&b, "", NULL, 0, true, 99, &low);
    assert_int_equal(r.rc, 0);
    assert_int_equal(fx_vector(&b, &third), 40);
    assert_int_equal(fx_pull_cursor(&b, ""), -1);
    vv_release(&vector);
    vv_release(&low);
    fx_snap_free(&s);
    fx_close(&a);
    fx_close(&b);
}

//  --------------------------------------------------------------------------
//  Refusals

//  A STATE change of entity `type` in `coll`; `fields` are its state fields.
static void
s_state_blob(const pdb_id_t *origin, uint64_t seq, ent_type_t type, const pdb_id_t *coll,
             const pdb_id_t *id, const mpk_out_t *fields, fx_blob_t *out)
{
    change_t c = {
        .seq = seq, .origin = *origin, .origin_seq = seq, .hlc = FX_H(clock_wall_ms()),
        .entity = type, .op = OP_STATE, .collective_id = *coll, .entity_id = *id,
        .fields = (const uint8_t *) fields->buf.data, .fields_len = fields->buf.size,
    };
    mpk_out_t enc;
    fx_change_encode(&c, &enc);
    out->data = malloc(enc.buf.size);
    assert_non_null(out->data);
    memcpy(out->data, enc.buf.data, enc.buf.size);
    out->len = enc.buf.size;
    mpk_out_release(&enc);
}

//  Replaces the value under `key` of a state's fields with `value` packed
//  by the caller into `with`; NULL with drops the key; key NULL adds "extra".
static void
s_edit_state(const fx_blob_t *in, const char *key, const mpk_out_t *with, fx_blob_t *out)
{
    change_t c;
    assert_int_equal(change_decode(in->data, in->len, &c), 0);
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(c.fields, c.fields_len, &u), 0);
    mpk_out_t f;
    mpk_out_init(&f);
    uint32_t n = u.data.via.map.size;
    bool drop = key && !with;
    mpk_pack_map(&f.pk, n - (drop ? 1 : 0) + (key ? 0 : 1));
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object_kv *kv = &u.data.via.map.ptr[i];
        bool hit = key && mpk_is_str(&kv->key, key);
        if (hit && drop)
            continue;
        mpk_pack_canonical(&f.pk, &kv->key);
        if (hit) {
            msgpack_unpacked v;
            assert_int_equal(mpk_parse(with->buf.data, with->buf.size, &v), 0);
            mpk_pack_canonical(&f.pk, &v.data);
            msgpack_unpacked_destroy(&v);
        }
        else
            mpk_pack_canonical(&f.pk, &kv->val);
    }
    if (!key) {
        mpk_pack_str(&f.pk, "extra");
        mpk_pack_nil(&f.pk);
    }
    s_state_blob(&c.origin, c.seq, c.entity, &c.collective_id, &c.entity_id, &f, out);
    mpk_out_release(&f);
    msgpack_unpacked_destroy(&u);
}

//  Finds the snapshot entity with this id.
static const fx_blob_t *
s_find(const fx_snap_t *s, const pdb_id_t *id)
{
    for (size_t i = 0; i < s->n; i++) {
        change_t c;
        assert_int_equal(change_decode(s->items[i].data, s->items[i].len, &c), 0);
        if (pdb_id_cmp(&c.entity_id, id) == 0)
            return &s->items[i];
    }
    fail_msg("entity not in snapshot");
    return NULL;
}

//  The record of a state with field `name` replaced by `value` (packed).
static void
s_record_with(const fx_blob_t *in, const char *name, const mpk_out_t *value, mpk_out_t *out)
{
    change_t c;
    assert_int_equal(change_decode(in->data, in->len, &c), 0);
    msgpack_unpacked u, v;
    assert_int_equal(mpk_parse(c.fields, c.fields_len, &u), 0);
    assert_int_equal(mpk_parse(value->buf.data, value->buf.size, &v), 0);
    const msgpack_object *rec = mpk_map_get(&u.data, "record");
    mpk_out_init(out);
    mpk_pack_map(&out->pk, rec->via.map.size);
    for (uint32_t i = 0; i < rec->via.map.size; i++) {
        mpk_pack_canonical(&out->pk, &rec->via.map.ptr[i].key);
        mpk_pack_canonical(&out->pk, mpk_is_str(&rec->via.map.ptr[i].key, name)
                                     ? &v.data : &rec->via.map.ptr[i].val);
    }
    msgpack_unpacked_destroy(&v);
    msgpack_unpacked_destroy(&u);
}

typedef enum {
    BAD_RECORD_TYPE, BAD_DIM, BAD_VERSION_IMMUTABLE, BAD_VERSION_BELOW_CREATE,
    BAD_VERSION_SHAPE, BAD_TOMBSTONE_WITH_RECORD, BAD_MISSING_KEY, BAD_EXTRA_KEY,
    BAD_CREATED, BAD_TOMBSTONE_TYPE, BAD_FUTURE_STAMP, BAD_COUNT
} s_bad_t;

//  Entity e1's state broken one way.
static void
s_broken(const fx_snap_t *s, const fx_world_t *w, s_bad_t how, fx_blob_t *out)
{
    const fx_blob_t *e1 = s_find(s, &w->e1);
    mpk_out_t v, rec;
    mpk_out_init(&v);
    const char *key = NULL;
    switch (how) {
    case BAD_RECORD_TYPE:              // importance as a string
        mpk_pack_str(&v.pk, "high");
        s_record_with(e1, "importance", &v, &rec);
        s_edit_state(e1, "record", &rec, out);
        mpk_out_release(&rec);
        break;
    case BAD_DIM: {                    // an embedding of the wrong size
        float vec[FX_DIM1 + 1] = { 1, 2, 3, 4 };
        mpk_pack_bin(&v.pk, vec, sizeof vec);
        s_record_with(e1, "embedding", &v, &rec);
        s_edit_state(e1, "record", &rec, out);
        mpk_out_release(&rec);
        break;
    }
    case BAD_VERSION_IMMUTABLE:
    case BAD_VERSION_BELOW_CREATE:
    case BAD_VERSION_SHAPE:
        mpk_pack_map(&v.pk, 1);
        mpk_pack_str(&v.pk, how == BAD_VERSION_IMMUTABLE ? "content" : "importance");
        if (how == BAD_VERSION_SHAPE)
            mpk_pack_u64(&v.pk, 5);
        else {
            mpk_pack_array(&v.pk, 2);
            mpk_pack_u64(&v.pk, how == BAD_VERSION_BELOW_CREATE ? 1 : FX_H(clock_wall_ms()));
            mpk_pack_id(&v.pk, &w->remote);
        }
        key = "versions";
        break;
    case BAD_TOMBSTONE_WITH_RECORD:
        mpk_pack_bool(&v.pk, true);
        key = "tombstone";
        break;
    case BAD_MISSING_KEY:
        break;
    case BAD_EXTRA_KEY:
        break;
    case BAD_CREATED:
        mpk_pack_array(&v.pk, 2);
        mpk_pack_u64(&v.pk, 0);
        mpk_pack_id(&v.pk, &w->remote);
        key = "created";
        break;
    case BAD_TOMBSTONE_TYPE:
        mpk_pack_u64(&v.pk, 1);
        key = "tombstone";
        break;
    case BAD_FUTURE_STAMP:             // two days ahead: past the drift bound
        mpk_pack_map(&v.pk, 1);
        mpk_pack_str(&v.pk, "importance");
        mpk_pack_array(&v.pk, 2);
        mpk_pack_u64(&v.pk, FX_H(clock_wall_ms() + 2 * 24 * 3600 * 1000ull));
        mpk_pack_id(&v.pk, &w->remote);
        key = "versions";
        break;
    case BAD_COUNT:
        break;
    }
    if (how == BAD_MISSING_KEY)
        s_edit_state(e1, "versions", NULL, out);
    else if (how == BAD_EXTRA_KEY)
        s_edit_state(e1, NULL, NULL, out);
    else if (key)
        s_edit_state(e1, key, &v, out);
    mpk_out_release(&v);
}

static void
test_install_malformed_entity_refuses_request_and_writes_nothing(void **state)
{
    (void) state;
    fx_node_t a, b;
    fx_open(&a);
    fx_open(&b);
    fx_world_t w;
    fx_populate(&a, clock_wall_ms(), &w);
    fx_snap_t s;
    fx_snapshot(&a, NULL, 0, 1000, 1u << 20, &s);
    char *empty = fx_dump(&b, NULL);
    //  The good snapshot with e1 replaced by a broken copy: the entities
    //  before it (collectives) are valid and must not land either.
    for (int how = 0; how < BAD_COUNT; how++) {
        fx_blob_t *items = calloc(s.n, sizeof *items);
        assert_non_null(items);
        fx_blob_t broken;
        s_broken(&s, &w, (s_bad_t) how, &broken);
        const fx_blob_t *e1 = s_find(&s, &w.e1);
        for (size_t i = 0; i < s.n; i++)
            items[i] = &s.items[i] == e1 ? broken : s.items[i];
        fx_result_t r = fx_install(&b, "alpha", items, s.n, true, s.head, &s.vector);
        if (r.rc != PDB_EINVAL)
            fail_msg("case %d: rc=%d why=%s", how, r.rc, r.why);
        assert_true(r.why[0] != '\0');
        char *now = fx_dump(&b, NULL);
        assert_string_equal(empty, now);
        free(now);
        assert_int_equal(fx_head(&b), 0);
        assert_int_equal(fx_pull_cursor(&b, "alpha"), -1);
        assert_int_equal(fx_vector(&b, &a.ing.self), 0);
        free(broken.data);
        free(items);
    }
    //  A create change where a state belongs, and bad arguments.
    fx_change_t fc;
    pdb_id_t coll = testkit_id(0x10);
    msgpack_packer *pk = fx_change_begin(&fc, &w.remote, 1, FX_H(clock_wall_ms()),
                                         ENT_COLLECTIVE, OP_CREATE, &coll, &coll);
    mpk_pack_map(pk, 2);
    mpk_pack_str(pk, "name");
    mpk_pack_str(pk, "kb");
    mpk_pack_str(pk, "embedding_dim");
    mpk_pack_u64(pk, 3);
    fx_change_end(&fc);
    mpk_out_t enc;
    fx_change_encode(&fc.c, &enc);
    fx_blob_t create = { (uint8_t *) enc.buf.data, enc.buf.size };
    fx_result_t r = fx_install(&b, "alpha", &create, 1, false, 0, NULL);
    assert_int_equal(r.rc, PDB_EINVAL);
    assert_non_null(strstr(r.why, "not a state"));
    r = fx_install(&b, "p\xff", s.items, 1, false, 0, NULL);
    assert_int_equal(r.rc, PDB_EINVAL);
    mpk_out_release(&enc);
    fx_change_release(&fc);
    char *now = fx_dump(&b, NULL);
    assert_string_equal(empty, now);
    free(now);
    free(empty);
    //  And the untouched snapshot still installs.
    assert_int_equal(fx_install_snap(&b, "alpha", &s), s.n);
    s_assert_same_state(&a, &b, NULL);
    fx_snap_free(&s);
    fx_close(&a);
    fx_close(&b);
}

static void
test_install_child_without_its_collective_is_refused_as_missing(void **state)
{
    (void) state;
    fx_node_t a, b;
    fx_open(&a);
    fx_open(&b);
    fx_world_t w;
    fx_populate(&a, clock_wall_ms(), &w);
    fx_snap_t s;
    fx_snapshot(&a, NULL, 0, 1000, 1u << 20, &s);
    //  Only the children: c1 never came.
    size_t skip = 3;                    // c1 c2 c3 lead the stream
    fx_result_t r = fx_install(&b, "alpha", s.items + skip, s.n - skip, true, s.head,
                               &s.vector);
    assert_int_equal(r.rc, PDB_EMISSINGDEP);
    assert_true(r.why[0] != '\0');
    assert_int_equal(fx_head(&b), 0);
    assert_int_equal(fx_pull_cursor(&b, "alpha"), -1);
    assert_int_equal(fx_entries(&b, fx_store(&b)->versions), 0);
    fx_snap_free(&s);
    fx_close(&a);
    fx_close(&b);
}

//  install checks a whole page before writing any of it and hands what it
//  learnt to the apply step, which trusts a record's check only when it was
//  made with the embedding size the collective has here.
static void
test_install_recheck_when_checked_with_another_dim(void **state)
{
    (void) state;
    fx_node_t a, b;
    fx_open(&a);
    fx_open(&b);
    fx_world_t w;
    fx_populate(&a, clock_wall_ms(), &w);
    fx_snap_t s;
    fx_snapshot(&a, NULL, 0, 1000, 1u << 20, &s);
    fx_result_t r = fx_install(&b, "alpha", s.items, 3, false, s.head, &s.vector);
    assert_int_equal(r.rc, 0);          // c1 c2 c3 lead the stream
    fx_blob_t broken;
    s_broken(&s, &w, BAD_DIM, &broken); // e1 with an embedding of FX_DIM1 + 1 floats
    change_t c;
    assert_int_equal(change_decode(broken.data, broken.len, &c), 0);
    //  A check made against another size than c1's: made again, and refused.
    state_checked_t stale = { .stamp = c.hlc, .dim = FX_DIM1 + 1 };
    char why[PDB_ERRMSG_MAX];
    MDB_txn *txn = fx_write_begin(&b);
    assert_int_equal(ingest_state(&b.ing, txn, &c, &stale, clock_wall_ms(), why), PDB_EINVAL);
    assert_non_null(strstr(why, "embedding"));
    mdb_txn_abort(txn);
    assert_int_equal(fx_alive(&b, &w.e1), -1);
    free(broken.data);
    fx_snap_free(&s);
    fx_close(&a);
    fx_close(&b);
}

//  a -> snapshot -> b; b's WAL (its STATE changes) -> apply -> c.
static void
test_install_states_relay_through_apply_to_a_third_node(void **state)
{
    (void) state;
    fx_node_t a, b, c;
    fx_open(&a);
    fx_open(&b);
    fx_open(&c);
    fx_world_t w;
    uint64_t t = clock_wall_ms();
    fx_populate(&a, t, &w);
    s_sync(&a, &b, "alpha", 3);
    fx_blob_t *wal;
    size_t n;
    fx_wal(&b, 0, &wal, &n);
    int *results = calloc(n, sizeof *results);
    assert_non_null(results);
    //  In two batches, as pulls would bring them.
    fx_result_t r = fx_apply(&c, "beta", wal, n / 2, results);
    assert_int_equal(r.rc, 0);
    r = fx_apply(&c, "beta", wal + n / 2, n - n / 2, results + n / 2);
    assert_int_equal(r.rc, 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(results[i], SPROTO_APPLIED);
    s_assert_same_state(&a, &c, NULL);
    assert_int_equal(fx_vector(&c, &b.ing.self), n);
    assert_int_equal(fx_pull_cursor(&c, "beta"), n);
    //  Kept with b's origin, so they go on relaying without echo.
    assert_int_equal(fx_head(&c), n);
    fx_blob_t *cwal;
    size_t cn;
    fx_wal(&c, 0, &cwal, &cn);
    for (size_t i = 0; i < cn; i++) {
        change_t ch;
        assert_int_equal(change_decode(cwal[i].data, cwal[i].len, &ch), 0);
        assert_int_equal(pdb_id_cmp(&ch.origin, &b.ing.self), 0);
        assert_int_equal((int) ch.op, OP_STATE);
    }
    fx_blobs_free(cwal, cn);
    //  The same changes again: known, nothing appended.
    r = fx_apply(&c, "beta", wal, n, results);
    assert_int_equal(r.rc, 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(results[i], SPROTO_KNOWN);
    assert_int_equal(fx_head(&c), n);
    //  Later changes of a reach c by b's relay too, and c's clock observed
    //  every stamp: its own write still wins.
    fx_set_unit(&a, t + 1000, &w.c1, &w.e1, "importance", 0.6);
    s_sync(&a, &b, "alpha", 100);
    fx_blob_t *more;
    size_t mn;
    fx_wal(&b, n, &more, &mn);
    assert_true(mn >= 1);
    r = fx_apply(&c, "beta", more, mn, NULL);
    assert_int_equal(r.rc, 0);
    assert_true(fx_get_dbl(&c, &w.e1, "importance") == 0.6);
    s_assert_same_state(&a, &c, NULL);
    fx_set_unit(&c, t, &w.c1, &w.e1, "importance", 0.05);   // an old wall clock
    assert_true(fx_get_dbl(&c, &w.e1, "importance") == 0.05);
    fx_blobs_free(more, mn);
    free(results);
    fx_blobs_free(wal, n);
    fx_close(&a);
    fx_close(&b);
    fx_close(&c);
}

//  Installed states name the snapshot's source in their WAL records, so
//  peers never send them back there; relays keep the mark. Without a source
//  argument (older syncers) there is no mark, and a nil source is refused.
static void
test_install_marks_states_with_the_snapshot_source(void **state)
{
    (void) state;
    fx_node_t a, b, c, d;
    fx_open(&a);
    fx_open(&b);
    fx_open(&c);
    fx_open(&d);
    fx_world_t w;
    fx_populate(&a, clock_wall_ms(), &w);
    fx_snap_t s;
    fx_snapshot(&a, NULL, 0, 1000, 1u << 20, &s);
    assert_int_equal(s.pages, 1);
    pdb_id_t nil = { { 0 } };
    fx_result_t r = fx_install_from(&b, "alpha", s.items, s.n, true, s.head, &s.vector, &nil);
    assert_int_equal(r.rc, PDB_EINVAL);
    assert_int_equal(fx_head(&b), 0);
    r = fx_install_from(&b, "alpha", s.items, s.n, true, s.head, &s.vector, &a.ing.self);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.installed, s.n);
    r = fx_install(&d, "alpha", s.items, s.n, true, s.head, &s.vector);
    assert_int_equal(r.rc, 0);
    fx_blob_t *wal, *dwal;
    size_t n, dn;
    fx_wal(&b, 0, &wal, &n);
    fx_wal(&d, 0, &dwal, &dn);
    assert_int_equal(n, s.n);
    assert_int_equal(dn, s.n);
    for (size_t i = 0; i < n; i++) {
        change_t ch;
        assert_int_equal(change_decode(wal[i].data, wal[i].len, &ch), 0);
        assert_int_equal(pdb_id_cmp(&ch.source, &a.ing.self), 0);
        assert_false(ch.partial);
        assert_int_equal(pdb_id_cmp(&ch.origin, &b.ing.self), 0);
        assert_int_equal(change_decode(dwal[i].data, dwal[i].len, &ch), 0);
        assert_true(pdb_id_is_nil(&ch.source));
    }
    //  A third node relays them with the mark kept.
    r = fx_apply(&c, "beta", wal, n, NULL);
    assert_int_equal(r.rc, 0);
    fx_blob_t *cwal;
    size_t cn;
    fx_wal(&c, 0, &cwal, &cn);
    assert_int_equal(cn, n);
    for (size_t i = 0; i < cn; i++) {
        change_t ch;
        assert_int_equal(change_decode(cwal[i].data, cwal[i].len, &ch), 0);
        assert_int_equal(pdb_id_cmp(&ch.source, &a.ing.self), 0);
    }
    fx_blobs_free(cwal, cn);
    fx_blobs_free(dwal, dn);
    fx_blobs_free(wal, n);
    fx_snap_free(&s);
    fx_close(&a);
    fx_close(&b);
    fx_close(&c);
    fx_close(&d);
}

//  A relayed state that c has already outgrown is dominated: known, and
//  changes nothing; it is logged all the same (a whole copy), so b's
//  sequence travels on from c without holes.
static void
test_relayed_state_dominated_by_local_data_is_known(void **state)
{
    (void) state;
    fx_node_t a, b, c;
    fx_open(&a);
    fx_open(&b);
    fx_open(&c);
    fx_world_t w;
    uint64_t t = clock_wall_ms();
    fx_populate(&a, t, &w);
    s_sync(&a, &c, "alpha", 100);
    s_sync(&a, &b, "alpha", 100);
    fx_set_unit(&c, t + 5000, &w.c1, &w.e1, "importance", 0.4);
    uint64_t head = fx_head(&c);
    fx_blob_t *wal;
    size_t n;
    fx_wal(&b, 0, &wal, &n);
    int *results = calloc(n, sizeof *results);
    assert_non_null(results);
    fx_result_t r = fx_apply(&c, "beta", wal, n, results);
    assert_int_equal(r.rc, 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(results[i], SPROTO_KNOWN);
    assert_int_equal(fx_head(&c), head + n);
    assert_true(fx_get_dbl(&c, &w.e1, "importance") == 0.4);
    assert_int_equal(fx_vector(&c, &b.ing.self), n);
    //  Again: nothing more is logged.
    r = fx_apply(&c, "beta", wal, n, results);
    assert_int_equal(r.rc, 0);
    assert_int_equal(fx_head(&c), head + n);
    free(results);
    fx_blobs_free(wal, n);
    fx_close(&a);
    fx_close(&b);
    fx_close(&c);
}

//  --------------------------------------------------------------------------
//  OP_STATE is for sync only

static void
test_client_writes_refuse_state_op(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    mpk_out_t args;
    mpk_out_init(&args);
    mpk_pack_array(&args.pk, 5);
    mpk_pack_u64(&args.pk, ENT_COLLECTIVE);
    mpk_pack_u64(&args.pk, OP_STATE);
    mpk_pack_nil(&args.pk);
    mpk_pack_nil(&args.pk);
    static const uint8_t empty_map = 0x80;
    mpk_pack_bin(&args.pk, &empty_map, 1);
    char why[PDB_ERRMSG_MAX] = "";
    assert_int_equal(fx_handle(&n, "write", &args, NULL, NULL, why), PDB_EINVAL);
    mpk_out_release(&args);
    assert_int_equal(fx_head(&n), 0);
    //  The entity rules refuse it; the change codec carries it, and no more.
    msgpack_object none = { .type = MSGPACK_OBJECT_MAP };
    assert_int_equal(entity_check(ENT_COLLECTIVE, (change_op_t) OP_STATE, &none, false, 0, why),
                     PDB_EINVAL);
    assert_false(entity_op_valid(OP_STATE));
    pdb_id_t id = testkit_id(0x10), origin = testkit_id(0xa1);
    change_t c = { .seq = 1, .origin = origin, .origin_seq = 1, .hlc = 1,
                   .entity = ENT_COLLECTIVE, .op = OP_STATE, .collective_id = id,
                   .entity_id = id, .fields = &empty_map, .fields_len = 1 };
    for (int op = OP_STATE; op <= OP_STATE + 1; op++) {
        c.op = (change_op_t) op;
        mpk_out_t enc;
        fx_change_encode(&c, &enc);
        change_t back;
        assert_int_equal(change_decode(enc.buf.data, enc.buf.size, &back),
                         op == OP_STATE ? 0 : PDB_EINVAL);
        mpk_out_release(&enc);
    }
    fx_close(&n);
}

//  The storage socket routes "install" (and refuses what it refuses).
static void
test_install_through_the_storage_handler(void **state)
{
    (void) state;
    fx_node_t a, b;
    fx_open(&a);
    fx_open(&b);
    fx_world_t w;
    fx_populate(&a, clock_wall_ms(), &w);
    fx_snap_t s;
    fx_snapshot(&a, NULL, 0, 1000, 1u << 20, &s);
    mpk_out_t args;
    mpk_out_init(&args);
    mpk_pack_array(&args.pk, 5);
    mpk_pack_str(&args.pk, "alpha");
    mpk_pack_array(&args.pk, s.n);
    for (size_t i = 0; i < s.n; i++)
        mpk_pack_bin(&args.pk, s.items[i].data, s.items[i].len);
    mpk_pack_bool(&args.pk, true);
    mpk_pack_u64(&args.pk, s.head);
    mpk_pack_map(&args.pk, 0);
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(fx_handle(&b, "install", &args, NULL, NULL, why), 0);
    s_assert_same_state(&a, &b, NULL);
    assert_int_equal(fx_pull_cursor(&b, "alpha"), s.head);
    mpk_out_release(&args);
    mpk_out_init(&args);
    mpk_pack_array(&args.pk, 2);
    mpk_pack_str(&args.pk, "alpha");
    mpk_pack_nil(&args.pk);
    assert_int_equal(fx_handle(&b, "install", &args, NULL, NULL, why), PDB_EINVAL);
    mpk_out_release(&args);
    fx_snap_free(&s);
    fx_close(&a);
    fx_close(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_install_into_empty_node_gives_identical_store),
        cmocka_unit_test(test_install_twice_changes_nothing),
        cmocka_unit_test(test_install_merges_with_newer_local_data),
        cmocka_unit_test(test_install_tombstone_deletes_local_entity),
        cmocka_unit_test(test_install_done_sets_cursor_and_vector),
        cmocka_unit_test(test_install_malformed_entity_refuses_request_and_writes_nothing),
        cmocka_unit_test(test_install_child_without_its_collective_is_refused_as_missing),
        cmocka_unit_test(test_install_recheck_when_checked_with_another_dim),
        cmocka_unit_test(test_install_states_relay_through_apply_to_a_third_node),
        cmocka_unit_test(test_install_marks_states_with_the_snapshot_source),
        cmocka_unit_test(test_relayed_state_dominated_by_local_data_is_known),
        cmocka_unit_test(test_client_writes_refuse_state_op),
        cmocka_unit_test(test_install_through_the_storage_handler),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
