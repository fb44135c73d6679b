/*  test_apply.c - the convergence rules (DESIGN.md section 4) on real LMDB
    stores: merges under every delivery order, final deletes, missing
    dependencies, cascades, the version vector and WAL relay, local writes,
    and apply batches with peer cursors.
*/
#include "apply.h"
#include "clock.h"
#include "batch.h"
#include "bounds.h"
#include "err.h"
#include "ingest.h"
#include "local.h"
#include "node.h"
#include "peers.h"
#include "sproto.h"
#include "wal.h"
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

#define MAP_SIZE (64ull << 20)          // 64 MiB: plenty here, sparse on disk
#define H(ms) ((uint64_t) (ms) << 16)   // an HLC stamp at a wall millisecond
#define DIM 3u
#define SET_MAX 8

//  Origins (instances) and entity ids, by fill byte.
enum { ORG_A = 0xa1, ORG_B = 0xb2, ORG_C = 0xc3 };
enum { COLL = 0x10, COLL2 = 0x11, E1 = 0x21, E2 = 0x22, E3 = 0x23, R12 = 0x31, R23 = 0x32,
       R13 = 0x33, INS = 0x41 };

//  --------------------------------------------------------------------------
//  A node in a temporary folder

typedef struct {
    char dir[TESTKIT_DIR_MAX];
    node_t *node;
    ingest_t ing;
} s_node_t;

static void
s_node_open_sized(s_node_t *n, uint64_t map_size)
{
    memset(n, 0, sizeof *n);
    testkit_mkdir(n->dir, "apply");
    assert_int_equal(node_open(n->dir, map_size, &n->node), 0);
    //  Durability is not under test; skipping fsync keeps 1000 stores fast.
    assert_int_equal(mdb_env_set_flags(n->node->store->env, MDB_NOSYNC, 1), 0);
    n->ing.store = n->node->store;
    n->ing.self = n->node->instance_id;
    n->ing.hlc = &n->node->hlc;
}

static void
s_node_open(s_node_t *n)
{
    s_node_open_sized(n, MAP_SIZE);
}

static void
s_node_close(s_node_t *n)
{
    node_destroy(&n->node);
    testkit_rmdir(n->dir);
}

static store_t *
s_store(s_node_t *n)
{
    return n->node->store;
}

static MDB_txn *
s_write_begin(s_node_t *n)
{
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(s_store(n)->env, NULL, 0, &txn), 0);
    return txn;
}

static MDB_txn *
s_read_begin(s_node_t *n)
{
    MDB_txn *txn;
    assert_int_equal(store_read_begin(s_store(n), &txn), 0);
    return txn;
}

//  --------------------------------------------------------------------------
//  Changes built by hand

typedef struct {
    change_t c;
    mpk_out_t f;         // the fields map; c.fields points into it
} s_change_t;

static msgpack_packer *
s_begin(s_change_t *sc, uint8_t origin, uint64_t origin_seq, uint64_t hlc, ent_type_t entity,
        change_op_t op, uint8_t coll, uint8_t id)
{
    memset(sc, 0, sizeof *sc);
    sc->c.origin = testkit_id(origin);
    sc->c.origin_seq = origin_seq;
    sc->c.hlc = hlc;
    sc->c.entity = entity;
    sc->c.op = op;
    sc->c.collective_id = testkit_id(coll);
    sc->c.entity_id = testkit_id(id);
    mpk_out_init(&sc->f);
    return &sc->f.pk;
}

static void
s_end(s_change_t *sc)
{
    assert_int_equal(mpk_out_status(&sc->f), 0);
    sc->c.fields = (const uint8_t *) sc->f.buf.data;
    sc->c.fields_len = sc->f.buf.size;
}

static void
s_release(s_change_t *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mpk_out_release(&set[i].f);
}

static void
s_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    mpk_pack_str(pk, k);
    mpk_pack_str(pk, v);
}

static void
s_kv_u64(msgpack_packer *pk, const char *k, uint64_t v)
{
    mpk_pack_str(pk, k);
    mpk_pack_u64(pk, v);
}

static void
s_kv_dbl(msgpack_packer *pk, const char *k, double v)
{
    mpk_pack_str(pk, k);
    mpk_pack_double(pk, v);
}

static void
s_kv_bool(msgpack_packer *pk, const char *k, bool v)
{
    mpk_pack_str(pk, k);
    mpk_pack_bool(pk, v);
}

static void
s_kv_id(msgpack_packer *pk, const char *k, uint8_t fill)
{
    pdb_id_t id = testkit_id(fill);
    mpk_pack_str(pk, k);
    mpk_pack_id(pk, &id);
}

static void
s_kv_vec(msgpack_packer *pk, const char *k, float base)
{
    float v[DIM] = { base, base + 1.0f, base + 2.0f };
    mpk_pack_str(pk, k);
    mpk_pack_bin(pk, v, sizeof v);
}

//  {"applications": {instance: count}}
static void
s_kv_counter(msgpack_packer *pk, uint8_t instance, uint64_t count)
{
    pdb_id_t id = testkit_id(instance);
    mpk_pack_str(pk, "applications");
    mpk_pack_map(pk, 1);
    mpk_pack_id(pk, &id);
    mpk_pack_u64(pk, count);
}

static void
s_coll_create(s_change_t *sc, uint8_t origin, uint64_t oseq, uint64_t ms, uint8_t coll,
              const char *name)
{
    msgpack_packer *pk = s_begin(sc, origin, oseq, H(ms), ENT_COLLECTIVE, OP_CREATE, coll, coll);
    mpk_pack_map(pk, 5);
    s_kv_str(pk, "name", name);
    s_kv_str(pk, "owner", "");
    s_kv_u64(pk, "embedding_dim", DIM);
    s_kv_u64(pk, "created_at", ms);
    s_kv_u64(pk, "updated_at", ms);
    s_end(sc);
}

//  An experience create as local_write makes it: every field present.
static void
s_exp_create(s_change_t *sc, uint8_t origin, uint64_t oseq, uint64_t ms, uint8_t coll,
             uint8_t exp)
{
    msgpack_packer *pk = s_begin(sc, origin, oseq, H(ms), ENT_EXPERIENCE, OP_CREATE, coll, exp);
    mpk_pack_map(pk, 14);
    s_kv_str(pk, "content", "LMDB readers never block the writer");
    s_kv_vec(pk, "embedding", (float) exp);
    mpk_pack_str(pk, "type");
    mpk_pack_map(pk, 2);
    s_kv_str(pk, "kind", "generic");
    s_kv_str(pk, "category", "storage");
    s_kv_dbl(pk, "importance", 0.5);
    s_kv_dbl(pk, "confidence", 0.5);
    mpk_pack_str(pk, "applications");
    mpk_pack_map(pk, 0);
    mpk_pack_str(pk, "domain");
    mpk_pack_array(pk, 1);
    mpk_pack_str(pk, "db");
    mpk_pack_str(pk, "tags");
    mpk_pack_map(pk, 0);
    mpk_pack_str(pk, "related_files");
    mpk_pack_array(pk, 0);
    s_kv_str(pk, "source_agent", "agent-1");
    s_kv_str(pk, "source_task", "");
    s_kv_u64(pk, "created_at", ms);
    s_kv_u64(pk, "last_reinforced", ms);
    s_kv_bool(pk, "archived", false);
    s_end(sc);
}

static void
s_rel_create(s_change_t *sc, uint8_t origin, uint64_t oseq, uint64_t ms, uint8_t coll,
             uint8_t rel, uint8_t src, uint8_t dst)
{
    msgpack_packer *pk = s_begin(sc, origin, oseq, H(ms), ENT_RELATION, OP_CREATE, coll, rel);
    mpk_pack_map(pk, 4);
    s_kv_id(pk, "source", src);
    s_kv_id(pk, "target", dst);
    s_kv_str(pk, "type", "supports");
    s_kv_u64(pk, "created_at", ms);
    s_end(sc);
}

static void
s_ins_create(s_change_t *sc, uint8_t origin, uint64_t oseq, uint64_t ms, uint8_t coll,
             uint8_t ins)
{
    msgpack_packer *pk = s_begin(sc, origin, oseq, H(ms), ENT_INSIGHT, OP_CREATE, coll, ins);
    mpk_pack_map(pk, 4);
    s_kv_str(pk, "content", "readers scale");
    s_kv_vec(pk, "embedding", 9.0f);
    s_kv_str(pk, "type", "pattern");
    mpk_pack_str(pk, "source_ids");
    mpk_pack_array(pk, 1);
    pdb_id_t e = testkit_id(E1);
    mpk_pack_id(pk, &e);
    s_end(sc);
}

static void
s_delete(s_change_t *sc, uint8_t origin, uint64_t oseq, uint64_t ms, ent_type_t entity,
         uint8_t coll, uint8_t id)
{
    msgpack_packer *pk = s_begin(sc, origin, oseq, H(ms), entity, OP_DELETE, coll, id);
    mpk_pack_map(pk, 0);
    s_end(sc);
}

//  An experience update setting one unit field.
static void
s_exp_set_unit(s_change_t *sc, uint8_t origin, uint64_t oseq, uint64_t ms, uint8_t coll,
               uint8_t exp, const char *field, double value)
{
    msgpack_packer *pk = s_begin(sc, origin, oseq, H(ms), ENT_EXPERIENCE, OP_UPDATE, coll, exp);
    mpk_pack_map(pk, 1);
    s_kv_dbl(pk, field, value);
    s_end(sc);
}

//  --------------------------------------------------------------------------
//  Applying and reading back

//  One remote change in its own transaction. A missing dependency commits
//  too, so the tests see that it wrote nothing.
static int
s_ingest(s_node_t *n, const change_t *c)
{
    char why[PDB_ERRMSG_MAX];
    MDB_txn *txn = s_write_begin(n);
    int rc = ingest_remote(&n->ing, txn, c, why);
    if (rc >= 0 || rc == PDB_EMISSINGDEP)
        assert_int_equal(mdb_txn_commit(txn), 0);
    else
        mdb_txn_abort(txn);
    return rc;
}

static void
s_ingest_all(s_node_t *n, s_change_t *set, size_t count)
{
    for (size_t i = 0; i < count; i++)
        assert_int_equal(s_ingest(n, &set[i].c), SPROTO_APPLIED);
}

typedef struct {
    void *copy;
    msgpack_unpacked u;
    const msgpack_object *map;
} s_record_t;

//  The live record of id, copied out of LMDB and decoded; rc of the lookup.
static int
s_record(s_node_t *n, uint8_t id, s_record_t *out)
{
    memset(out, 0, sizeof *out);
    MDB_txn *txn = s_read_begin(n);
    pdb_id_t key = testkit_id(id);
    MDB_val val;
    int rc = store_record_get(s_store(n), txn, &key, NULL, NULL, &val);
    if (rc == 0) {
        out->copy = malloc(val.mv_size);
        assert_non_null(out->copy);
        memcpy(out->copy, val.mv_data, val.mv_size);
        assert_int_equal(mpk_parse(out->copy, val.mv_size, &out->u), 0);
        out->map = &out->u.data;
    }
    mdb_txn_abort(txn);
    return rc;
}

static void
s_record_free(s_record_t *r)
{
    if (r->copy)
        msgpack_unpacked_destroy(&r->u);
    free(r->copy);
    memset(r, 0, sizeof *r);
}

static double
s_get_dbl(const s_record_t *r, const char *field)
{
    double d = -1;
    const msgpack_object *v = mpk_map_get(r->map, field);
    assert_non_null(v);
    assert_int_equal(mpk_get_double(v, &d), 0);
    return d;
}

static uint64_t
s_get_u64(const s_record_t *r, const char *field)
{
    uint64_t u = 0;
    const msgpack_object *v = mpk_map_get(r->map, field);
    assert_non_null(v);
    assert_int_equal(mpk_get_u64(v, &u), 0);
    return u;
}

static bool
s_get_str_is(const s_record_t *r, const char *field, const char *want)
{
    const msgpack_object *v = mpk_map_get(r->map, field);
    return v && mpk_is_str(v, want);
}

//  An instance's entry in a record's applications counter (0 when absent).
static uint64_t
s_count_of(const s_record_t *r, uint8_t instance)
{
    const msgpack_object *apps = mpk_map_get(r->map, "applications");
    assert_non_null(apps);
    assert_int_equal(apps->type, MSGPACK_OBJECT_MAP);
    pdb_id_t want = testkit_id(instance);
    for (uint32_t i = 0; i < apps->via.map.size; i++) {
        pdb_id_t id;
        if (mpk_get_id(&apps->via.map.ptr[i].key, &id) == 0 && pdb_id_cmp(&id, &want) == 0)
            return apps->via.map.ptr[i].val.via.u64;
    }
    return 0;
}

//  1 live, 0 tombstone, -1 no version record at all.
static int
s_alive(s_node_t *n, uint8_t id)
{
    MDB_txn *txn = s_read_begin(n);
    pdb_id_t key = testkit_id(id);
    store_version_t v;
    int rc = store_version_get(s_store(n), txn, &key, &v);
    mdb_txn_abort(txn);
    if (rc == PDB_ENOTFOUND)
        return -1;
    assert_int_equal(rc, 0);
    return v.tombstone ? 0 : 1;
}

static size_t
s_entries(s_node_t *n, MDB_dbi dbi)
{
    MDB_txn *txn = s_read_begin(n);
    MDB_stat st;
    assert_int_equal(mdb_stat(txn, dbi, &st), 0);
    mdb_txn_abort(txn);
    return st.ms_entries;
}

static bool
s_has_key(s_node_t *n, MDB_dbi dbi, uint8_t a, uint8_t b)
{
    pdb_id_t ia = testkit_id(a), ib = testkit_id(b);
    uint8_t kbuf[STORE_KEY_PAIR_LEN];
    store_key_pair(kbuf, &ia, &ib);
    MDB_val key = { sizeof kbuf, kbuf }, val;
    MDB_txn *txn = s_read_begin(n);
    int rc = mdb_get(txn, dbi, &key, &val);
    mdb_txn_abort(txn);
    return rc == 0;
}

static uint64_t
s_wal_head(s_node_t *n)
{
    uint64_t head;
    MDB_txn *txn = s_read_begin(n);
    assert_int_equal(wal_head(s_store(n), txn, &head), 0);
    mdb_txn_abort(txn);
    return head;
}

static uint64_t
s_vector(s_node_t *n, const pdb_id_t *origin)
{
    uint64_t seq;
    MDB_txn *txn = s_read_begin(n);
    assert_int_equal(store_origin_seq(s_store(n), txn, origin, &seq), 0);
    mdb_txn_abort(txn);
    return seq;
}

//  The WAL entry at seq, decoded; *copy holds the bytes (caller frees).
static void
s_wal_entry(s_node_t *n, uint64_t seq, change_t *out, void **copy)
{
    *copy = testkit_wal_entry(s_store(n), seq, out, NULL);
}

//  Every entity database as text, one line per entry: two stores hold the
//  same state exactly when their dumps are equal. With tombstone_flags, a
//  tombstone shows only its type, collective and flag, not the version of
//  the delete that made it (concurrent deletes of one entity keep the first
//  to arrive).
static char *
s_dump(s_node_t *n, bool tombstone_flags)
{
    store_t *st = s_store(n);
    const struct { const char *name; MDB_dbi dbi; } dbs[] = {
        { "collectives", st->collectives }, { "collective_names", st->collective_names },
        { "experiences", st->experiences }, { "embeddings", st->embeddings },
        { "relations", st->relations }, { "relations_by_exp", st->relations_by_exp },
        { "insights", st->insights }, { "versions", st->versions },
    };
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    assert_non_null(fp);
    MDB_txn *txn = s_read_begin(n);
    for (size_t d = 0; d < sizeof dbs / sizeof dbs[0]; d++) {
        MDB_cursor *cur;
        assert_int_equal(mdb_cursor_open(txn, dbs[d].dbi, &cur), 0);
        MDB_val key, val;
        int rc;
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
            fprintf(fp, "%s ", dbs[d].name);
            for (size_t i = 0; i < key.mv_size; i++)
                fprintf(fp, "%02x", ((const uint8_t *) key.mv_data)[i]);
            fputc('=', fp);
            store_version_t v;
            if (tombstone_flags && dbs[d].dbi == st->versions) {
                assert_int_equal(store_version_decode(&val, &v), 0);
                if (v.tombstone) {
                    fprintf(fp, "tombstone type=%d collective=%02x\n", (int) v.entity,
                            v.collective_id.b[0]);
                    continue;
                }
            }
            for (size_t i = 0; i < val.mv_size; i++)
                fprintf(fp, "%02x", ((const uint8_t *) val.mv_data)[i]);
            fputc('\n', fp);
        }
        assert_int_equal(rc, MDB_NOTFOUND);
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    assert_int_equal(fclose(fp), 0);
    return text;
}

//  --------------------------------------------------------------------------
//  Every delivery order

typedef enum { VIA_APPLY, VIA_INGEST } s_via_t;

static int
s_deliver_one(s_node_t *n, MDB_txn *txn, s_via_t via, const change_t *c)
{
    char why[PDB_ERRMSG_MAX] = "";
    int rc = via == VIA_INGEST ? ingest_remote(&n->ing, txn, c, why)
                               : apply_change(s_store(n), txn, c, why);
    if (rc != SPROTO_APPLIED && rc != SPROTO_KNOWN && rc != PDB_EMISSINGDEP)
        fail_msg("change refused: rc=%d (%s) why=%s", rc, pdb_strerror(rc), why);
    return rc;
}

//  True when one of pending[0..np) comes from the same origin as `c`.
static bool
s_origin_waiting(const s_change_t *set, const int *pending, size_t np, const change_t *c)
{
    for (size_t i = 0; i < np; i++)
        if (pdb_id_cmp(&set[pending[i]].c.origin, &c->origin) == 0)
            return true;
    return false;
}

//  Applied (not held back): with `twice`, the same change again is a no-op.
static void
s_landed(s_node_t *n, MDB_txn *txn, s_via_t via, const change_t *c, bool twice)
{
    if (twice)
        assert_int_equal(s_deliver_one(n, txn, via, c), SPROTO_KNOWN);
}

//  Retries held-back changes, in order, until none lands.
static void
s_retry(s_node_t *n, MDB_txn *txn, s_via_t via, const s_change_t *set, int *pending,
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
s_deliver(s_node_t *n, MDB_txn *txn, s_via_t via, const s_change_t *set, const int *order,
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
s_run_order(const s_change_t *set, const int *order, size_t count, s_via_t via, bool twice,
            bool tombstone_flags)
{
    s_node_t n;
    s_node_open(&n);
    MDB_txn *txn = s_write_begin(&n);
    s_deliver(&n, txn, via, set, order, count, twice);
    if (twice) {
        //  Replaying the whole set changes nothing, whatever came before.
        for (size_t k = 0; k < count; k++)
            assert_int_equal(s_deliver_one(&n, txn, via, &set[order[k]].c), SPROTO_KNOWN);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    char *dump = s_dump(&n, tombstone_flags);
    s_node_close(&n);
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
s_origin_ordered(const s_change_t *set, const int *order, size_t count)
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
s_check_every_order(const s_change_t *set, size_t count, bool tombstone_flags)
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
s_replay(s_node_t *n, const s_change_t *set, size_t count)
{
    int order[SET_MAX];
    for (size_t i = 0; i < count; i++)
        order[i] = (int) i;
    MDB_txn *txn = s_write_begin(n);
    s_deliver(n, txn, VIA_INGEST, set, order, count, false);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

//  --------------------------------------------------------------------------
//  (a) merge rules under every order

static void
test_apply_merges_converge_under_every_order(void **state)
{
    (void) state;
    s_change_t set[5];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_exp_create(&set[1], ORG_A, 2, 110, COLL, E1);
    //  B and C update at the same stamp: the origin breaks the tie (C > B).
    msgpack_packer *pk = s_begin(&set[2], ORG_B, 1, H(200), ENT_EXPERIENCE, OP_UPDATE, COLL, E1);
    mpk_pack_map(pk, 4);
    s_kv_dbl(pk, "importance", 0.9);
    mpk_pack_str(pk, "tags");
    mpk_pack_map(pk, 1);
    s_kv_str(pk, "k", "b");
    s_kv_counter(pk, ORG_B, 1);
    s_kv_u64(pk, "last_reinforced", 200);
    s_end(&set[2]);
    pk = s_begin(&set[3], ORG_C, 1, H(200), ENT_EXPERIENCE, OP_UPDATE, COLL, E1);
    mpk_pack_map(pk, 4);
    s_kv_dbl(pk, "importance", 0.1);
    s_kv_bool(pk, "archived", true);
    s_kv_counter(pk, ORG_C, 2);
    s_kv_u64(pk, "last_reinforced", 150);
    s_end(&set[3]);
    //  B reinforces again later: its own count rises, its time is older.
    pk = s_begin(&set[4], ORG_B, 2, H(300), ENT_EXPERIENCE, OP_UPDATE, COLL, E1);
    mpk_pack_map(pk, 3);
    s_kv_dbl(pk, "confidence", 0.7);
    s_kv_counter(pk, ORG_B, 2);
    s_kv_u64(pk, "last_reinforced", 180);
    s_end(&set[4]);

    free(s_check_every_order(set, 5, false));

    //  And the state they converge on is the one the rules define.
    s_node_t n;
    s_node_open(&n);
    s_replay(&n, set, 5);
    s_record_t r;
    assert_int_equal(s_record(&n, E1, &r), 0);
    assert_true(s_get_dbl(&r, "importance") == 0.1);     // (H200, C) > (H200, B)
    assert_true(s_get_dbl(&r, "confidence") == 0.7);
    assert_true(mpk_map_get(r.map, "archived")->via.boolean);
    const msgpack_object *tags = mpk_map_get(r.map, "tags");
    assert_non_null(tags);
    assert_int_equal(tags->via.map.size, 1);
    assert_int_equal(s_count_of(&r, ORG_B), 2);          // grow-only, per instance
    assert_int_equal(s_count_of(&r, ORG_C), 2);
    assert_int_equal(mpk_map_get(r.map, "applications")->via.map.size, 2);
    assert_int_equal(s_get_u64(&r, "last_reinforced"), 200);   // maximum
    assert_true(s_get_str_is(&r, "content", "LMDB readers never block the writer"));
    s_record_free(&r);
    MDB_txn *txn = s_read_begin(&n);
    pdb_id_t coll = testkit_id(COLL), e1 = testkit_id(E1);
    MDB_val vec;
    assert_int_equal(store_embedding_get(s_store(&n), txn, &coll, &e1, &vec), 0);
    assert_int_equal(vec.mv_size, DIM * sizeof(float));
    mdb_txn_abort(txn);
    s_node_close(&n);
    s_release(set, 5);
}

static void
test_apply_delete_racing_updates_converges_under_every_order(void **state)
{
    (void) state;
    s_change_t set[5];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_exp_create(&set[1], ORG_A, 2, 110, COLL, E1);
    //  An update stamped after the delete still loses: deletes are final.
    s_exp_set_unit(&set[2], ORG_B, 1, 300, COLL, E1, "importance", 0.9);
    s_delete(&set[3], ORG_C, 1, 250, ENT_EXPERIENCE, COLL, E1);
    msgpack_packer *pk = s_begin(&set[4], ORG_B, 2, H(320), ENT_EXPERIENCE, OP_UPDATE, COLL, E1);
    mpk_pack_map(pk, 2);
    s_kv_counter(pk, ORG_B, 1);
    s_kv_u64(pk, "last_reinforced", 320);
    s_end(&set[4]);

    free(s_check_every_order(set, 5, false));

    s_node_t n;
    s_node_open(&n);
    s_replay(&n, set, 5);
    s_record_t r;
    assert_int_equal(s_record(&n, E1, &r), PDB_ENOTFOUND);
    assert_int_equal(s_alive(&n, E1), 0);
    assert_int_equal(s_alive(&n, COLL), 1);
    assert_int_equal(s_entries(&n, s_store(&n)->experiences), 0);
    assert_int_equal(s_entries(&n, s_store(&n)->embeddings), 0);
    s_node_close(&n);
    s_release(set, 5);
}

static void
test_apply_concurrent_deletes_converge_under_every_order(void **state)
{
    (void) state;
    s_change_t set[5];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_exp_create(&set[1], ORG_A, 2, 110, COLL, E1);
    s_exp_set_unit(&set[2], ORG_A, 3, 120, COLL, E1, "importance", 0.7);
    s_delete(&set[3], ORG_B, 1, 200, ENT_EXPERIENCE, COLL, E1);
    s_delete(&set[4], ORG_C, 1, 250, ENT_EXPERIENCE, COLL, E1);

    free(s_check_every_order(set, 5, true));

    s_node_t n;
    s_node_open(&n);
    s_replay(&n, set, 5);
    assert_int_equal(s_alive(&n, E1), 0);
    assert_int_equal(s_alive(&n, COLL), 1);
    assert_int_equal(s_entries(&n, s_store(&n)->experiences), 0);
    assert_int_equal(s_entries(&n, s_store(&n)->embeddings), 0);
    s_node_close(&n);
    s_release(set, 5);
}

static void
test_apply_collective_delete_converges_under_every_order(void **state)
{
    (void) state;
    s_change_t set[5];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_exp_create(&set[1], ORG_A, 2, 110, COLL, E1);
    s_exp_create(&set[2], ORG_A, 3, 120, COLL, E2);
    s_rel_create(&set[3], ORG_B, 1, 200, COLL, R12, E1, E2);
    s_delete(&set[4], ORG_C, 1, 150, ENT_COLLECTIVE, COLL, COLL);

    free(s_check_every_order(set, 5, false));

    s_node_t n;
    s_node_open(&n);
    s_replay(&n, set, 5);
    store_t *st = s_store(&n);
    assert_int_equal(s_alive(&n, COLL), 0);
    MDB_dbi gone[] = { st->collectives, st->collective_names, st->experiences,
                       st->embeddings, st->relations, st->relations_by_exp, st->insights };
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        assert_int_equal(s_entries(&n, gone[i]), 0);
    s_node_close(&n);
    s_release(set, 5);
}

static void
test_apply_collective_renames_converge_under_every_order(void **state)
{
    (void) state;
    s_change_t set[5];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "alpha");
    msgpack_packer *pk = s_begin(&set[1], ORG_B, 1, H(200), ENT_COLLECTIVE, OP_UPDATE, COLL, COLL);
    mpk_pack_map(pk, 2);
    s_kv_str(pk, "name", "beta");
    s_kv_u64(pk, "updated_at", 200);
    s_end(&set[1]);
    pk = s_begin(&set[2], ORG_C, 1, H(200), ENT_COLLECTIVE, OP_UPDATE, COLL, COLL);
    mpk_pack_map(pk, 2);
    s_kv_str(pk, "name", "gamma");
    s_kv_u64(pk, "updated_at", 190);
    s_end(&set[2]);
    pk = s_begin(&set[3], ORG_B, 2, H(300), ENT_COLLECTIVE, OP_UPDATE, COLL, COLL);
    mpk_pack_map(pk, 2);
    s_kv_str(pk, "owner", "bob");
    s_kv_u64(pk, "updated_at", 300);
    s_end(&set[3]);
    pk = s_begin(&set[4], ORG_A, 2, H(120), ENT_COLLECTIVE, OP_UPDATE, COLL, COLL);
    mpk_pack_map(pk, 2);
    s_kv_str(pk, "owner", "amy");
    s_kv_u64(pk, "updated_at", 120);
    s_end(&set[4]);

    free(s_check_every_order(set, 5, false));

    s_node_t n;
    s_node_open(&n);
    s_replay(&n, set, 5);
    s_record_t r;
    assert_int_equal(s_record(&n, COLL, &r), 0);
    assert_true(s_get_str_is(&r, "name", "gamma"));
    assert_true(s_get_str_is(&r, "owner", "bob"));
    assert_int_equal(s_get_u64(&r, "updated_at"), 300);
    assert_int_equal(s_get_u64(&r, "embedding_dim"), DIM);
    s_record_free(&r);
    //  The name index follows: only the winning name resolves.
    MDB_txn *txn = s_read_begin(&n);
    pdb_id_t found, coll = testkit_id(COLL);
    assert_int_equal(store_collective_by_name(s_store(&n), txn, "gamma", 5, &found), 0);
    assert_memory_equal(found.b, coll.b, PDB_ID_LEN);
    assert_int_equal(store_collective_by_name(s_store(&n), txn, "alpha", 5, &found),
                     PDB_ENOTFOUND);
    assert_int_equal(store_collective_by_name(s_store(&n), txn, "beta", 4, &found),
                     PDB_ENOTFOUND);
    mdb_txn_abort(txn);
    assert_int_equal(s_entries(&n, s_store(&n)->collective_names), 1);
    s_node_close(&n);
    s_release(set, 5);
}

//  --------------------------------------------------------------------------
//  (b) deletes are final

static void
test_apply_delete_is_final_against_older_and_newer_writes(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_change_t base[3];
    s_coll_create(&base[0], ORG_A, 1, 100, COLL, "kb");
    s_exp_create(&base[1], ORG_A, 2, 110, COLL, E1);
    s_delete(&base[2], ORG_B, 1, 200, ENT_EXPERIENCE, COLL, E1);
    s_ingest_all(&n, base, 3);
    uint64_t head = s_wal_head(&n);
    assert_int_equal(head, 3);

    s_change_t late[4];
    s_exp_create(&late[0], ORG_C, 1, 50, COLL, E1);       // older than the delete
    s_exp_create(&late[1], ORG_C, 2, 900, COLL, E1);      // newer than the delete
    s_exp_set_unit(&late[2], ORG_C, 3, 1000, COLL, E1, "importance", 0.3);
    s_delete(&late[3], ORG_C, 4, 1100, ENT_EXPERIENCE, COLL, E1);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(s_ingest(&n, &late[i].c), SPROTO_KNOWN);
    s_record_t r;
    assert_int_equal(s_record(&n, E1, &r), PDB_ENOTFOUND);
    assert_int_equal(s_alive(&n, E1), 0);
    assert_int_equal(s_entries(&n, s_store(&n)->embeddings), 0);
    //  Changed nothing, but whole copies travel on: C's sequence has no hole.
    assert_int_equal(s_wal_head(&n), head + 4);
    //  The tombstone keeps the delete's version, not a later writer's.
    MDB_txn *txn = s_read_begin(&n);
    pdb_id_t e1 = testkit_id(E1), b = testkit_id(ORG_B);
    store_version_t v;
    assert_int_equal(store_version_get(s_store(&n), txn, &e1, &v), 0);
    assert_true(v.tombstone);
    assert_int_equal(v.hlc, H(200));
    assert_memory_equal(v.origin.b, b.b, PDB_ID_LEN);
    mdb_txn_abort(txn);

    //  A collective too: a newer create of a deleted collective stays dead.
    s_change_t coll[2];
    s_delete(&coll[0], ORG_B, 2, 300, ENT_COLLECTIVE, COLL, COLL);
    s_coll_create(&coll[1], ORG_C, 5, 5000, COLL, "kb");
    assert_int_equal(s_ingest(&n, &coll[0].c), SPROTO_APPLIED);
    assert_int_equal(s_ingest(&n, &coll[1].c), SPROTO_KNOWN);
    assert_int_equal(s_record(&n, COLL, &r), PDB_ENOTFOUND);
    assert_int_equal(s_entries(&n, s_store(&n)->collective_names), 0);
    s_release(base, 3);
    s_release(late, 4);
    s_release(coll, 2);
    s_node_close(&n);
}

static void
test_apply_delete_arriving_first_still_wins(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_change_t set[3];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_delete(&set[1], ORG_B, 1, 200, ENT_EXPERIENCE, COLL, E1);
    s_exp_create(&set[2], ORG_A, 2, 110, COLL, E1);
    assert_int_equal(s_ingest(&n, &set[0].c), SPROTO_APPLIED);
    //  The delete of an experience not here yet leaves a tombstone...
    assert_int_equal(s_ingest(&n, &set[1].c), SPROTO_APPLIED);
    assert_int_equal(s_alive(&n, E1), 0);
    //  ...so its create, arriving later, stays dead.
    assert_int_equal(s_ingest(&n, &set[2].c), SPROTO_KNOWN);
    assert_int_equal(s_entries(&n, s_store(&n)->experiences), 0);
    assert_int_equal(s_entries(&n, s_store(&n)->embeddings), 0);
    s_release(set, 3);
    s_node_close(&n);
}

//  --------------------------------------------------------------------------
//  (c) missing dependencies

static void
test_apply_update_before_create_is_missing_dependency(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    store_t *st = s_store(&n);
    s_change_t c[6];
    s_exp_set_unit(&c[0], ORG_B, 1, 200, COLL, E1, "importance", 0.9);
    s_exp_create(&c[1], ORG_A, 2, 110, COLL, E1);
    s_coll_create(&c[2], ORG_A, 1, 100, COLL, "kb");
    s_rel_create(&c[3], ORG_C, 1, 300, COLL, R12, E1, E2);
    s_ins_create(&c[4], ORG_C, 2, 310, COLL, INS);
    msgpack_packer *pk = s_begin(&c[5], ORG_C, 3, H(320), ENT_COLLECTIVE, OP_UPDATE, COLL, COLL);
    mpk_pack_map(pk, 1);
    s_kv_str(pk, "owner", "carol");
    s_end(&c[5]);

    //  Nothing here: every change inside the collective, and the
    //  collective's own update, waits.
    const int first[] = { 0, 1, 3, 4, 5 };
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(s_ingest(&n, &c[first[i]].c), PDB_EMISSINGDEP);
    assert_int_equal(s_entries(&n, st->versions), 0);
    assert_int_equal(s_entries(&n, st->experiences), 0);
    assert_int_equal(s_entries(&n, st->insights), 0);
    assert_int_equal(s_entries(&n, st->wal), 0);
    assert_int_equal(s_entries(&n, st->origins), 0);     // the vector did not move
    pdb_id_t b = testkit_id(ORG_B);
    assert_int_equal(s_vector(&n, &b), 0);

    //  With the collective: the update still waits for its experience, and
    //  the relation for its endpoints.
    assert_int_equal(s_ingest(&n, &c[2].c), SPROTO_APPLIED);
    assert_int_equal(s_ingest(&n, &c[0].c), PDB_EMISSINGDEP);
    assert_int_equal(s_ingest(&n, &c[3].c), PDB_EMISSINGDEP);
    assert_int_equal(s_entries(&n, st->versions), 1);
    assert_int_equal(s_wal_head(&n), 1);
    //  Once the create is in, the same update applies.
    assert_int_equal(s_ingest(&n, &c[1].c), SPROTO_APPLIED);
    assert_int_equal(s_ingest(&n, &c[0].c), SPROTO_APPLIED);
    assert_int_equal(s_ingest(&n, &c[3].c), PDB_EMISSINGDEP);   // E2 still missing
    s_record_t r;
    assert_int_equal(s_record(&n, E1, &r), 0);
    assert_true(s_get_dbl(&r, "importance") == 0.9);
    s_record_free(&r);
    s_release(c, 6);
    s_node_close(&n);
}

//  --------------------------------------------------------------------------
//  (d) deleted collectives and cascades

static void
test_apply_change_for_deleted_collective_is_discarded(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_change_t base[4];
    s_coll_create(&base[0], ORG_A, 1, 100, COLL, "kb");
    s_exp_create(&base[1], ORG_A, 2, 110, COLL, E1);
    s_exp_create(&base[2], ORG_A, 3, 120, COLL, E2);
    s_delete(&base[3], ORG_A, 4, 130, ENT_COLLECTIVE, COLL, COLL);
    s_ingest_all(&n, base, 4);
    uint64_t head = s_wal_head(&n);

    s_change_t late[6];
    s_exp_create(&late[0], ORG_B, 1, 900, COLL, E3);
    s_exp_set_unit(&late[1], ORG_B, 2, 901, COLL, E1, "importance", 1.0);
    s_rel_create(&late[2], ORG_B, 3, 902, COLL, R12, E1, E2);
    s_ins_create(&late[3], ORG_B, 4, 903, COLL, INS);
    s_delete(&late[4], ORG_B, 5, 904, ENT_EXPERIENCE, COLL, E2);
    msgpack_packer *pk = s_begin(&late[5], ORG_B, 6, H(905), ENT_COLLECTIVE, OP_UPDATE, COLL,
                                 COLL);
    mpk_pack_map(pk, 1);
    s_kv_str(pk, "name", "revived");
    s_end(&late[5]);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(s_ingest(&n, &late[i].c), SPROTO_KNOWN);
    store_t *st = s_store(&n);
    assert_int_equal(s_wal_head(&n), head + 6);           // logged whole, changing nothing
    assert_int_equal(s_entries(&n, st->experiences), 0);
    assert_int_equal(s_entries(&n, st->relations), 0);
    assert_int_equal(s_entries(&n, st->insights), 0);
    assert_int_equal(s_entries(&n, st->collective_names), 0);
    //  Discarded changes still count as seen.
    pdb_id_t b = testkit_id(ORG_B);
    assert_int_equal(s_vector(&n, &b), 6);
    s_release(base, 4);
    s_release(late, 6);
    s_node_close(&n);
}

static void
test_apply_collective_delete_removes_everything_inside(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_change_t set[9];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_coll_create(&set[1], ORG_A, 2, 101, COLL2, "other");
    s_exp_create(&set[2], ORG_A, 3, 110, COLL, E1);
    s_exp_create(&set[3], ORG_A, 4, 111, COLL, E2);
    s_exp_create(&set[4], ORG_A, 5, 112, COLL2, E3);
    s_rel_create(&set[5], ORG_A, 6, 120, COLL, R12, E1, E2);
    s_ins_create(&set[6], ORG_A, 7, 130, COLL, INS);
    s_delete(&set[7], ORG_B, 1, 200, ENT_COLLECTIVE, COLL, COLL);
    s_ingest_all(&n, set, 7);
    store_t *st = s_store(&n);
    assert_int_equal(s_entries(&n, st->experiences), 3);
    assert_int_equal(s_entries(&n, st->relations_by_exp), 2);

    assert_int_equal(s_ingest(&n, &set[7].c), SPROTO_APPLIED);
    assert_int_equal(s_alive(&n, COLL), 0);
    //  Everything inside is gone, with its versions: the collective's
    //  tombstone now answers for all of it.
    const uint8_t inside[] = { E1, E2, R12, INS };
    for (size_t i = 0; i < sizeof inside; i++)
        assert_int_equal(s_alive(&n, inside[i]), -1);
    assert_int_equal(s_entries(&n, st->collectives), 1);
    assert_int_equal(s_entries(&n, st->collective_names), 1);
    assert_int_equal(s_entries(&n, st->experiences), 1);
    assert_int_equal(s_entries(&n, st->embeddings), 1);
    assert_int_equal(s_entries(&n, st->relations), 0);
    assert_int_equal(s_entries(&n, st->relations_by_exp), 0);
    assert_int_equal(s_entries(&n, st->insights), 0);
    //  The other collective is untouched.
    assert_int_equal(s_alive(&n, COLL2), 1);
    assert_int_equal(s_alive(&n, E3), 1);
    assert_true(s_has_key(&n, st->embeddings, COLL2, E3));
    MDB_txn *txn = s_read_begin(&n);
    pdb_id_t found;
    assert_int_equal(store_collective_by_name(st, txn, "kb", 2, &found), PDB_ENOTFOUND);
    assert_int_equal(store_collective_by_name(st, txn, "other", 5, &found), 0);
    uint32_t dim;
    pdb_id_t coll = testkit_id(COLL);
    assert_int_equal(store_collective_dim(st, txn, &coll, &dim), PDB_EDELETED);
    mdb_txn_abort(txn);
    s_release(set, 8);
    s_node_close(&n);
}

static void
test_apply_experience_delete_removes_relations_touching_it(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_change_t set[7];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_exp_create(&set[1], ORG_A, 2, 110, COLL, E1);
    s_exp_create(&set[2], ORG_A, 3, 111, COLL, E2);
    s_exp_create(&set[3], ORG_A, 4, 112, COLL, E3);
    s_rel_create(&set[4], ORG_A, 5, 120, COLL, R12, E1, E2);
    s_rel_create(&set[5], ORG_A, 6, 121, COLL, R23, E2, E3);
    s_rel_create(&set[6], ORG_A, 7, 122, COLL, R13, E1, E3);
    s_ingest_all(&n, set, 7);
    store_t *st = s_store(&n);
    assert_int_equal(s_entries(&n, st->relations), 3);
    assert_int_equal(s_entries(&n, st->relations_by_exp), 6);

    s_change_t del[1];
    s_delete(&del[0], ORG_B, 1, 200, ENT_EXPERIENCE, COLL, E2);
    assert_int_equal(s_ingest(&n, &del[0].c), SPROTO_APPLIED);
    assert_int_equal(s_alive(&n, E2), 0);
    assert_int_equal(s_alive(&n, R12), 0);                // each leaves a tombstone
    assert_int_equal(s_alive(&n, R23), 0);
    assert_int_equal(s_alive(&n, R13), 1);
    assert_int_equal(s_alive(&n, E1), 1);
    assert_int_equal(s_alive(&n, E3), 1);
    assert_int_equal(s_entries(&n, st->relations), 1);
    assert_true(s_has_key(&n, st->relations, COLL, R13));
    //  Both ends' links of the removed relations are gone; R13's remain.
    assert_int_equal(s_entries(&n, st->relations_by_exp), 2);
    assert_true(s_has_key(&n, st->relations_by_exp, E1, R13));
    assert_true(s_has_key(&n, st->relations_by_exp, E3, R13));
    assert_false(s_has_key(&n, st->relations_by_exp, E1, R12));
    assert_false(s_has_key(&n, st->relations_by_exp, E3, R23));
    assert_false(s_has_key(&n, st->experiences, COLL, E2));
    assert_false(s_has_key(&n, st->embeddings, COLL, E2));

    //  A late create of a removed relation, or a new one to the deleted
    //  experience, is discarded.
    s_change_t late[2];
    s_rel_create(&late[0], ORG_C, 1, 900, COLL, R12, E1, E2);
    s_rel_create(&late[1], ORG_C, 2, 901, COLL, 0x39, E3, E2);
    assert_int_equal(s_ingest(&n, &late[0].c), SPROTO_KNOWN);
    assert_int_equal(s_ingest(&n, &late[1].c), SPROTO_KNOWN);
    assert_int_equal(s_entries(&n, st->relations), 1);
    assert_int_equal(s_entries(&n, st->relations_by_exp), 2);
    s_release(set, 7);
    s_release(del, 1);
    s_release(late, 2);
    s_node_close(&n);
}

static void
test_apply_relation_delete_unlinks_both_ends(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_change_t set[5];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_exp_create(&set[1], ORG_A, 2, 110, COLL, E1);
    s_exp_create(&set[2], ORG_A, 3, 111, COLL, E2);
    s_rel_create(&set[3], ORG_A, 4, 120, COLL, R12, E1, E2);
    s_delete(&set[4], ORG_A, 5, 130, ENT_RELATION, COLL, R12);
    s_ingest_all(&n, set, 5);
    store_t *st = s_store(&n);
    assert_int_equal(s_alive(&n, R12), 0);
    assert_int_equal(s_entries(&n, st->relations), 0);
    assert_int_equal(s_entries(&n, st->relations_by_exp), 0);
    assert_int_equal(s_alive(&n, E1), 1);
    assert_int_equal(s_alive(&n, E2), 1);
    s_release(set, 5);
    s_node_close(&n);
}

static void
test_apply_self_relation_and_insight_delete_leave_nothing_behind(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_change_t set[6];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_exp_create(&set[1], ORG_A, 2, 110, COLL, E1);
    s_rel_create(&set[2], ORG_A, 3, 120, COLL, R12, E1, E1);    // E1 supports itself
    s_ins_create(&set[3], ORG_A, 4, 130, COLL, INS);
    s_delete(&set[4], ORG_B, 1, 200, ENT_INSIGHT, COLL, INS);
    s_delete(&set[5], ORG_B, 2, 210, ENT_EXPERIENCE, COLL, E1);
    s_ingest_all(&n, set, 4);
    store_t *st = s_store(&n);
    assert_int_equal(s_entries(&n, st->relations_by_exp), 1);
    assert_int_equal(s_entries(&n, st->insights), 1);
    assert_int_equal(s_ingest(&n, &set[4].c), SPROTO_APPLIED);
    assert_int_equal(s_alive(&n, INS), 0);
    assert_int_equal(s_entries(&n, st->insights), 0);
    assert_int_equal(s_ingest(&n, &set[5].c), SPROTO_APPLIED);
    assert_int_equal(s_alive(&n, E1), 0);
    assert_int_equal(s_alive(&n, R12), 0);
    assert_int_equal(s_entries(&n, st->relations), 0);
    assert_int_equal(s_entries(&n, st->relations_by_exp), 0);
    assert_int_equal(s_entries(&n, st->experiences), 0);
    s_release(set, 6);
    s_node_close(&n);
}

static void
test_apply_refuses_change_naming_another_entity_type_or_collective(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_change_t set[4];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_coll_create(&set[1], ORG_A, 2, 101, COLL2, "other");
    s_exp_create(&set[2], ORG_A, 3, 110, COLL, E1);
    s_ingest_all(&n, set, 3);
    //  E1 updated as if it were in COLL2.
    s_exp_set_unit(&set[3], ORG_B, 1, 200, COLL2, E1, "importance", 0.9);
    assert_int_equal(s_ingest(&n, &set[3].c), PDB_EINVAL);
    s_change_t bad[2];
    //  A relation whose endpoint is a collective, and an update with
    //  a field of another type.
    s_rel_create(&bad[0], ORG_B, 1, 201, COLL, R12, E1, COLL);
    msgpack_packer *pk = s_begin(&bad[1], ORG_B, 1, H(202), ENT_EXPERIENCE, OP_UPDATE, COLL, E1);
    mpk_pack_map(pk, 1);
    s_kv_str(pk, "name", "x");
    s_end(&bad[1]);
    assert_int_equal(s_ingest(&n, &bad[0].c), PDB_EINVAL);
    assert_int_equal(s_ingest(&n, &bad[1].c), PDB_EINVAL);
    s_record_t r;
    assert_int_equal(s_record(&n, E1, &r), 0);
    assert_true(s_get_dbl(&r, "importance") == 0.5);
    s_record_free(&r);
    assert_int_equal(s_wal_head(&n), 3);
    pdb_id_t b = testkit_id(ORG_B);
    assert_int_equal(s_vector(&n, &b), 0);
    s_release(set, 4);
    s_release(bad, 2);
    s_node_close(&n);
}

//  --------------------------------------------------------------------------
//  (e) version vector and WAL relay

static void
test_apply_known_origin_seq_is_dropped_without_wal_append(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_change_t set[2];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_exp_create(&set[1], ORG_A, 2, 110, COLL, E1);
    s_ingest_all(&n, set, 2);
    pdb_id_t a = testkit_id(ORG_A);
    assert_int_equal(s_vector(&n, &a), 2);
    assert_int_equal(s_wal_head(&n), 2);
    //  The same changes again, through another path.
    assert_int_equal(s_ingest(&n, &set[1].c), SPROTO_KNOWN);
    assert_int_equal(s_ingest(&n, &set[0].c), SPROTO_KNOWN);
    //  A change at or below the vector is not even looked at.
    s_change_t stale[1];
    s_exp_set_unit(&stale[0], ORG_A, 2, 99999, COLL, E1, "importance", 0.99);
    assert_int_equal(s_ingest(&n, &stale[0].c), SPROTO_KNOWN);
    assert_int_equal(s_wal_head(&n), 2);
    assert_int_equal(s_vector(&n, &a), 2);
    s_record_t r;
    assert_int_equal(s_record(&n, E1, &r), 0);
    assert_true(s_get_dbl(&r, "importance") == 0.5);
    s_record_free(&r);
    s_release(set, 2);
    s_release(stale, 1);
    s_node_close(&n);
}

static void
test_apply_remote_change_is_appended_with_origin_kept(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_change_t set[3];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_exp_create(&set[1], ORG_B, 1, 110, COLL, E1);
    s_exp_set_unit(&set[2], ORG_C, 1, 120, COLL, E1, "confidence", 0.25);
    set[2].c.seq = 555;                  // the sender's sequence is not ours
    s_ingest_all(&n, set, 3);
    assert_int_equal(s_wal_head(&n), 3);
    for (uint64_t seq = 1; seq <= 3; seq++) {
        change_t got;
        void *copy;
        s_wal_entry(&n, seq, &got, &copy);
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
    pdb_id_t a = testkit_id(ORG_A), b = testkit_id(ORG_B), c = testkit_id(ORG_C);
    assert_int_equal(s_vector(&n, &a), 1);
    assert_int_equal(s_vector(&n, &b), 1);
    assert_int_equal(s_vector(&n, &c), 1);
    s_release(set, 3);
    s_node_close(&n);
}

static void
test_apply_dominated_change_moves_vector_and_travels_on(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_change_t set[4];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_exp_create(&set[1], ORG_A, 2, 110, COLL, E1);
    s_exp_set_unit(&set[2], ORG_B, 1, 300, COLL, E1, "importance", 0.9);
    s_exp_set_unit(&set[3], ORG_C, 1, 200, COLL, E1, "importance", 0.1);
    s_ingest_all(&n, set, 3);
    assert_int_equal(s_ingest(&n, &set[3].c), SPROTO_KNOWN);
    pdb_id_t c = testkit_id(ORG_C);
    assert_int_equal(s_vector(&n, &c), 1);
    //  Logged all the same, so C's next change does not look like a jump
    //  to the nodes this one relays to.
    assert_int_equal(s_wal_head(&n), 4);
    change_t got;
    void *copy;
    s_wal_entry(&n, 4, &got, &copy);
    assert_int_equal(got.origin_seq, 1);
    assert_false(got.partial);
    free(copy);
    //  Again: known, and not logged twice.
    assert_int_equal(s_ingest(&n, &set[3].c), SPROTO_KNOWN);
    assert_int_equal(s_wal_head(&n), 4);
    s_record_t r;
    assert_int_equal(s_record(&n, E1, &r), 0);
    assert_true(s_get_dbl(&r, "importance") == 0.9);
    s_record_free(&r);
    s_release(set, 4);
    s_node_close(&n);
}

//  A partial copy (the mark from a filtered hop) is merged and relayed with
//  its mark, but claims nothing of its origin; a whole copy arriving later
//  is known and raises the entry then. An earlier change of that origin
//  still gets in after a later partial one.
static void
test_apply_partial_copy_relays_its_mark_and_moves_no_vector(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_change_t set[4];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_exp_create(&set[1], ORG_A, 4, 110, COLL, E1);
    s_exp_create(&set[2], ORG_A, 2, 120, COLL, E2);
    s_exp_create(&set[3], ORG_A, 3, 130, COLL, E3);
    pdb_id_t a = testkit_id(ORG_A);
    assert_int_equal(s_ingest(&n, &set[0].c), SPROTO_APPLIED);
    set[1].c.partial = true;
    assert_int_equal(s_ingest(&n, &set[1].c), SPROTO_APPLIED);
    assert_int_equal(s_vector(&n, &a), 1);
    assert_int_equal(s_ingest(&n, &set[1].c), SPROTO_KNOWN);   // again: still no claim
    assert_int_equal(s_vector(&n, &a), 1);
    assert_int_equal(s_wal_head(&n), 2);
    change_t got;
    void *copy;
    s_wal_entry(&n, 1, &got, &copy);
    assert_false(got.partial);
    free(copy);
    s_wal_entry(&n, 2, &got, &copy);
    assert_true(got.partial);
    assert_int_equal(got.origin_seq, 4);
    free(copy);
    //  A's 2, whole, from an unfiltered path: applied, logged unmarked.
    assert_int_equal(s_ingest(&n, &set[2].c), SPROTO_APPLIED);
    assert_int_equal(s_vector(&n, &a), 2);
    s_wal_entry(&n, 3, &got, &copy);
    assert_false(got.partial);
    free(copy);
    //  A's 4, whole, before its 3: held back, it would claim the 3.
    set[1].c.partial = false;
    assert_int_equal(s_ingest(&n, &set[1].c), PDB_EMISSINGDEP);
    assert_int_equal(s_vector(&n, &a), 2);
    assert_int_equal(s_ingest(&n, &set[3].c), SPROTO_APPLIED);
    //  Now known here, and the entry may cover it; logged whole to travel on.
    assert_int_equal(s_ingest(&n, &set[1].c), SPROTO_KNOWN);
    assert_int_equal(s_vector(&n, &a), 4);
    assert_int_equal(s_wal_head(&n), 5);
    s_wal_entry(&n, 5, &got, &copy);
    assert_false(got.partial);
    assert_int_equal(got.origin_seq, 4);
    free(copy);
    s_release(set, 4);
    s_node_close(&n);
}

static void
test_apply_refuses_clock_stamp_beyond_drift_bound(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_change_t set[2];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_ingest_all(&n, set, 1);
    uint64_t far_ms = clock_wall_ms() + PDB_HLC_DRIFT_MAX_MS + 60000;
    s_exp_create(&set[1], ORG_B, 1, far_ms, COLL, E1);
    uint64_t before = n.node->hlc.last;
    assert_int_equal(s_ingest(&n, &set[1].c), PDB_EINVAL);
    assert_int_equal(n.node->hlc.last, before);
    s_release(set, 2);
    s_node_close(&n);
}

static void
test_apply_remote_stamp_advances_local_clock(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_change_t set[3];
    uint64_t future_ms = clock_wall_ms() + 3600 * 1000;   // a peer an hour ahead of us
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_exp_create(&set[1], ORG_A, 2, 110, COLL, E1);
    s_exp_set_unit(&set[2], ORG_B, 1, future_ms, COLL, E1, "importance", 0.9);
    s_ingest_all(&n, set, 3);
    assert_true(n.node->hlc.last >= H(future_ms));
    //  A local write made afterwards, at our slow wall time, still wins.
    mpk_out_t f;
    mpk_out_init(&f);
    mpk_pack_map(&f.pk, 1);
    s_kv_dbl(&f.pk, "importance", 0.2);
    pdb_id_t coll = testkit_id(COLL), e1 = testkit_id(E1);
    local_write_t w = { ENT_EXPERIENCE, OP_UPDATE, &coll, &e1, f.buf.data, f.buf.size };
    char why[PDB_ERRMSG_MAX];
    MDB_txn *txn = s_write_begin(&n);
    uint64_t seq;
    assert_int_equal(local_write(&n.ing, txn, &w, 1000, NULL, &seq, why), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mpk_out_release(&f);
    s_record_t r;
    assert_int_equal(s_record(&n, E1, &r), 0);
    assert_true(s_get_dbl(&r, "importance") == 0.2);
    s_record_free(&r);
    change_t got;
    void *copy;
    s_wal_entry(&n, seq, &got, &copy);
    assert_true(got.hlc > H(future_ms));
    free(copy);
    s_release(set, 3);
    s_node_close(&n);
}

//  --------------------------------------------------------------------------
//  (f) local writes

#define WALL 1700000000000ull

typedef struct {
    int rc;
    pdb_id_t id;
    uint64_t seq;
    char why[PDB_ERRMSG_MAX];
} s_result_t;

//  local_write in its own transaction, committed on success (as storage does).
static s_result_t
s_local(s_node_t *n, ent_type_t entity, change_op_t op, const pdb_id_t *coll,
        const pdb_id_t *id, mpk_out_t *fields, uint64_t wall)
{
    s_result_t res;
    memset(&res, 0, sizeof res);
    assert_int_equal(mpk_out_status(fields), 0);
    local_write_t w = { entity, op, coll, id, fields->buf.data, fields->buf.size };
    MDB_txn *txn = s_write_begin(n);
    res.rc = local_write(&n->ing, txn, &w, wall, &res.id, &res.seq, res.why);
    if (res.rc == 0)
        assert_int_equal(mdb_txn_commit(txn), 0);
    else
        mdb_txn_abort(txn);
    mpk_out_release(fields);
    return res;
}

static mpk_out_t *
s_fields_new(mpk_out_t *f, size_t n)
{
    mpk_out_init(f);
    mpk_pack_map(&f->pk, n);
    return f;
}

static s_result_t
s_local_collective(s_node_t *n, const char *name, uint64_t dim)
{
    mpk_out_t f;
    s_fields_new(&f, 2);
    s_kv_str(&f.pk, "name", name);
    s_kv_u64(&f.pk, "embedding_dim", dim);
    return s_local(n, ENT_COLLECTIVE, OP_CREATE, NULL, NULL, &f, WALL);
}

static s_result_t
s_local_experience(s_node_t *n, const pdb_id_t *coll, uint32_t dim)
{
    mpk_out_t f;
    s_fields_new(&f, 2);
    s_kv_str(&f.pk, "content", "prefer MDB_NOTLS for thread pools");
    float v[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    mpk_pack_str(&f.pk, "embedding");
    mpk_pack_bin(&f.pk, v, dim * sizeof(float));
    return s_local(n, ENT_EXPERIENCE, OP_CREATE, coll, NULL, &f, WALL + 1);
}

static s_result_t
s_local_rel(s_node_t *n, const pdb_id_t *coll, const pdb_id_t *src, const pdb_id_t *dst)
{
    mpk_out_t f;
    s_fields_new(&f, 3);
    mpk_pack_str(&f.pk, "source");
    mpk_pack_id(&f.pk, src);
    mpk_pack_str(&f.pk, "target");
    mpk_pack_id(&f.pk, dst);
    s_kv_str(&f.pk, "type", "elaborates");
    return s_local(n, ENT_RELATION, OP_CREATE, coll, NULL, &f, WALL + 2);
}

//  The live record of id (which must exist), copied and decoded.
static void
s_record_of(s_node_t *n, const pdb_id_t *id, s_record_t *r)
{
    memset(r, 0, sizeof *r);
    MDB_txn *txn = s_read_begin(n);
    MDB_val val;
    assert_int_equal(store_record_get(s_store(n), txn, id, NULL, NULL, &val), 0);
    r->copy = malloc(val.mv_size);
    assert_non_null(r->copy);
    memcpy(r->copy, val.mv_data, val.mv_size);
    mdb_txn_abort(txn);
    assert_int_equal(mpk_parse(r->copy, val.mv_size, &r->u), 0);
    r->map = &r->u.data;
}

static void
test_local_write_create_update_delete(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_result_t coll = s_local_collective(&n, "kb", DIM);
    assert_int_equal(coll.rc, 0);
    assert_int_equal(coll.seq, 1);
    assert_int_equal(coll.id.b[6] >> 4, 7);              // a fresh UUIDv7
    s_record_t r;
    s_record_of(&n, &coll.id, &r);
    assert_true(s_get_str_is(&r, "name", "kb"));
    assert_true(s_get_str_is(&r, "owner", ""));          // defaults filled in
    assert_int_equal(s_get_u64(&r, "embedding_dim"), DIM);
    assert_int_equal(s_get_u64(&r, "created_at"), WALL);
    assert_int_equal(s_get_u64(&r, "updated_at"), WALL);
    s_record_free(&r);

    s_result_t exp = s_local_experience(&n, &coll.id, DIM);
    assert_int_equal(exp.rc, 0);
    assert_int_equal(exp.seq, 2);
    s_record_of(&n, &exp.id, &r);
    assert_true(s_get_dbl(&r, "importance") == 0.5);
    assert_true(s_get_dbl(&r, "confidence") == 0.5);
    assert_int_equal(mpk_map_get(r.map, "applications")->via.map.size, 0);
    const msgpack_object *type = mpk_map_get(r.map, "type");
    assert_non_null(type);
    assert_true(mpk_is_str(mpk_map_get(type, "kind"), "generic"));
    assert_null(mpk_map_get(r.map, "embedding"));         // kept apart, raw
    s_record_free(&r);
    MDB_txn *txn = s_read_begin(&n);
    MDB_val vec;
    assert_int_equal(store_embedding_get(s_store(&n), txn, &coll.id, &exp.id, &vec), 0);
    float want[DIM] = { 1, 2, 3 };
    assert_int_equal(vec.mv_size, sizeof want);
    assert_memory_equal(vec.mv_data, want, sizeof want);
    mdb_txn_abort(txn);

    mpk_out_t f;
    s_fields_new(&f, 2);
    s_kv_dbl(&f.pk, "importance", 0.8);
    s_kv_bool(&f.pk, "archived", true);
    s_result_t up = s_local(&n, ENT_EXPERIENCE, OP_UPDATE, &coll.id, &exp.id, &f, WALL + 5);
    assert_int_equal(up.rc, 0);
    assert_int_equal(up.seq, 3);
    s_record_of(&n, &exp.id, &r);
    assert_true(s_get_dbl(&r, "importance") == 0.8);
    assert_true(mpk_map_get(r.map, "archived")->via.boolean);
    s_record_free(&r);

    //  A rename stamps updated_at and moves the name index.
    s_fields_new(&f, 1);
    s_kv_str(&f.pk, "name", "kb2");
    assert_int_equal(s_local(&n, ENT_COLLECTIVE, OP_UPDATE, NULL, &coll.id, &f, WALL + 6).rc, 0);
    s_record_of(&n, &coll.id, &r);
    assert_true(s_get_str_is(&r, "name", "kb2"));
    assert_int_equal(s_get_u64(&r, "updated_at"), WALL + 6);
    s_record_free(&r);
    txn = s_read_begin(&n);
    pdb_id_t found;
    assert_int_equal(store_collective_by_name(s_store(&n), txn, "kb2", 3, &found), 0);
    assert_int_equal(store_collective_by_name(s_store(&n), txn, "kb", 2, &found), PDB_ENOTFOUND);
    mdb_txn_abort(txn);

    s_fields_new(&f, 0);
    s_result_t del = s_local(&n, ENT_EXPERIENCE, OP_DELETE, NULL, &exp.id, &f, WALL + 7);
    assert_int_equal(del.rc, 0);
    assert_int_equal(del.seq, 5);
    txn = s_read_begin(&n);
    assert_int_equal(store_record_get(s_store(&n), txn, &exp.id, NULL, NULL, &vec), PDB_ENOTFOUND);
    assert_int_equal(store_embedding_get(s_store(&n), txn, &coll.id, &exp.id, &vec),
                     PDB_ENOTFOUND);
    mdb_txn_abort(txn);

    //  Every local change is in the WAL under this node's origin, and the
    //  vector knows them (so they never come back as news).
    for (uint64_t seq = 1; seq <= 5; seq++) {
        change_t got;
        void *copy;
        s_wal_entry(&n, seq, &got, &copy);
        assert_memory_equal(got.origin.b, n.node->instance_id.b, PDB_ID_LEN);
        assert_int_equal(got.origin_seq, seq);
        assert_int_equal(got.seq, seq);
        free(copy);
    }
    assert_int_equal(s_vector(&n, &n.node->instance_id), 5);
    s_node_close(&n);
}

//  DESIGN.md section 1: two nodes may create the same name concurrently;
//  both collectives are kept and a lookup picks the smaller id everywhere.
static void
test_apply_concurrent_same_name_collectives_are_both_kept(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_change_t set[3];
    s_coll_create(&set[0], ORG_B, 1, 100, COLL2, "kb");    // arrives first, larger id
    s_coll_create(&set[1], ORG_C, 1, 100, COLL, "kb");
    s_delete(&set[2], ORG_C, 2, 300, ENT_COLLECTIVE, COLL, COLL);
    assert_int_equal(s_ingest(&n, &set[0].c), SPROTO_APPLIED);
    assert_int_equal(s_ingest(&n, &set[1].c), SPROTO_APPLIED);
    store_t *st = s_store(&n);
    assert_int_equal(s_entries(&n, st->collectives), 2);
    assert_int_equal(s_entries(&n, st->collective_names), 2);
    MDB_txn *txn = s_read_begin(&n);
    pdb_id_t found, small = testkit_id(COLL), large = testkit_id(COLL2);
    assert_int_equal(store_collective_by_name(st, txn, "kb", 2, &found), 0);
    assert_memory_equal(found.b, small.b, PDB_ID_LEN);
    mdb_txn_abort(txn);
    //  A local create of the name is still a conflict.
    assert_int_equal(s_local_collective(&n, "kb", DIM).rc, PDB_ECONFLICT);
    //  Deleting one leaves the other resolvable.
    assert_int_equal(s_ingest(&n, &set[2].c), SPROTO_APPLIED);
    txn = s_read_begin(&n);
    assert_int_equal(store_collective_by_name(st, txn, "kb", 2, &found), 0);
    assert_memory_equal(found.b, large.b, PDB_ID_LEN);
    mdb_txn_abort(txn);
    assert_int_equal(s_entries(&n, st->collective_names), 1);
    s_release(set, 3);
    s_node_close(&n);
}

//  A change naming this node as its origin that it never wrote is refused
//  whole: above its head it would raise its own vector entry (its next
//  writes would look old to every peer) or collide with a later write; at
//  or below it, differing from what it wrote, it is forged too. What it
//  really wrote comes back as known, also through a filtered relay.
static void
test_ingest_refuses_change_under_own_origin_it_never_wrote(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_result_t coll = s_local_collective(&n, "kb", DIM);
    assert_int_equal(coll.rc, 0);
    s_result_t exp = s_local_experience(&n, &coll.id, DIM);
    assert_int_equal(exp.rc, 0);
    const pdb_id_t self = n.ing.self;
    assert_int_equal(s_vector(&n, &self), 2);
    //  Far ahead, and just ahead, of what this node wrote.
    uint64_t ahead[] = { 1000000, 3 };
    for (size_t i = 0; i < 2; i++) {
        change_t forged;
        void *copy;
        s_wal_entry(&n, 2, &forged, &copy);
        forged.origin_seq = ahead[i];
        forged.hlc += 1;
        char why[PDB_ERRMSG_MAX];
        MDB_txn *txn = s_write_begin(&n);
        assert_int_equal(ingest_remote(&n.ing, txn, &forged, why), PDB_EINVAL);
        mdb_txn_abort(txn);
        assert_non_null(strstr(why, "forged"));
        free(copy);
    }
    //  At its own seq, with other bytes.
    change_t echo;
    void *copy;
    s_wal_entry(&n, 2, &echo, &copy);
    change_t altered = echo;
    altered.hlc += 1;
    assert_int_equal(s_ingest(&n, &altered), PDB_EINVAL);
    //  The very change, echoed under another sender seq and as a partial copy.
    echo.seq = 77;
    assert_int_equal(s_ingest(&n, &echo), SPROTO_KNOWN);
    echo.partial = true;
    assert_int_equal(s_ingest(&n, &echo), SPROTO_KNOWN);
    free(copy);
    assert_int_equal(s_vector(&n, &self), 2);
    assert_int_equal(s_wal_head(&n), 2);
    //  The next local write continues this node's own sequence.
    s_result_t next = s_local_experience(&n, &coll.id, DIM);
    assert_int_equal(next.rc, 0);
    change_t got;
    s_wal_entry(&n, next.seq, &got, &copy);
    assert_int_equal(got.origin_seq, 3);
    assert_int_equal(s_vector(&n, &self), 3);
    free(copy);
    s_node_close(&n);
}

static void
test_local_write_duplicate_collective_name_conflicts(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_result_t a = s_local_collective(&n, "kb", DIM);
    s_result_t b = s_local_collective(&n, "notes", DIM);
    assert_int_equal(a.rc, 0);
    assert_int_equal(b.rc, 0);
    s_result_t dup = s_local_collective(&n, "kb", 8);
    assert_int_equal(dup.rc, PDB_ECONFLICT);
    assert_non_null(strstr(dup.why, "kb"));
    mpk_out_t f;
    s_fields_new(&f, 1);
    s_kv_str(&f.pk, "name", "kb");
    assert_int_equal(s_local(&n, ENT_COLLECTIVE, OP_UPDATE, NULL, &b.id, &f, WALL).rc,
                     PDB_ECONFLICT);
    //  Keeping one's own name is no clash.
    s_fields_new(&f, 2);
    s_kv_str(&f.pk, "name", "kb");
    s_kv_str(&f.pk, "owner", "ann");
    assert_int_equal(s_local(&n, ENT_COLLECTIVE, OP_UPDATE, NULL, &a.id, &f, WALL).rc, 0);
    assert_int_equal(s_wal_head(&n), 3);
    assert_int_equal(s_entries(&n, s_store(&n)->collectives), 2);
    //  A deleted collective frees its name.
    s_fields_new(&f, 0);
    assert_int_equal(s_local(&n, ENT_COLLECTIVE, OP_DELETE, NULL, &a.id, &f, WALL).rc, 0);
    assert_int_equal(s_local_collective(&n, "kb", DIM).rc, 0);
    s_node_close(&n);
}

static void
test_local_write_unknown_id_is_not_found(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_result_t coll = s_local_collective(&n, "kb", DIM);
    s_result_t exp = s_local_experience(&n, &coll.id, DIM);
    s_result_t other = s_local_collective(&n, "other", DIM);
    assert_int_equal(exp.rc, 0);
    pdb_id_t nobody = testkit_id(0x77);
    uint64_t head = s_wal_head(&n);
    mpk_out_t f;

    s_fields_new(&f, 1);
    s_kv_dbl(&f.pk, "importance", 0.1);
    assert_int_equal(s_local(&n, ENT_EXPERIENCE, OP_UPDATE, NULL, &nobody, &f, WALL).rc,
                     PDB_ENOTFOUND);
    s_fields_new(&f, 0);
    assert_int_equal(s_local(&n, ENT_EXPERIENCE, OP_DELETE, NULL, &nobody, &f, WALL).rc,
                     PDB_ENOTFOUND);
    //  The id of another type, or in another collective.
    s_fields_new(&f, 1);
    s_kv_dbl(&f.pk, "importance", 0.1);
    assert_int_equal(s_local(&n, ENT_EXPERIENCE, OP_UPDATE, NULL, &coll.id, &f, WALL).rc,
                     PDB_ENOTFOUND);
    s_fields_new(&f, 1);
    s_kv_dbl(&f.pk, "importance", 0.1);
    assert_int_equal(s_local(&n, ENT_EXPERIENCE, OP_UPDATE, &other.id, &exp.id, &f, WALL).rc,
                     PDB_ENOTFOUND);
    //  A create inside a collective that is not here.
    assert_int_equal(s_local_experience(&n, &nobody, DIM).rc, PDB_ENOTFOUND);
    //  A relation to an experience that is not here.
    assert_int_equal(s_local_rel(&n, &coll.id, &exp.id, &nobody).rc, PDB_ENOTFOUND);
    //  Reinforcing nothing.
    char why[PDB_ERRMSG_MAX];
    MDB_txn *txn = s_write_begin(&n);
    uint64_t seq;
    assert_int_equal(local_reinforce(&n.ing, txn, &nobody, WALL, &seq, why), PDB_ENOTFOUND);
    assert_int_equal(local_reinforce(&n.ing, txn, &coll.id, WALL, &seq, why), PDB_ENOTFOUND);
    mdb_txn_abort(txn);
    //  Deleted entities are gone for updates, deletes and reinforcements.
    s_fields_new(&f, 0);
    assert_int_equal(s_local(&n, ENT_EXPERIENCE, OP_DELETE, NULL, &exp.id, &f, WALL).rc, 0);
    head++;
    s_fields_new(&f, 0);
    assert_int_equal(s_local(&n, ENT_EXPERIENCE, OP_DELETE, NULL, &exp.id, &f, WALL).rc,
                     PDB_ENOTFOUND);
    s_fields_new(&f, 1);
    s_kv_dbl(&f.pk, "importance", 0.1);
    assert_int_equal(s_local(&n, ENT_EXPERIENCE, OP_UPDATE, NULL, &exp.id, &f, WALL).rc,
                     PDB_ENOTFOUND);
    txn = s_write_begin(&n);
    assert_int_equal(local_reinforce(&n.ing, txn, &exp.id, WALL, &seq, why), PDB_ENOTFOUND);
    mdb_txn_abort(txn);
    assert_int_equal(s_wal_head(&n), head);
    s_node_close(&n);
}

static void
test_local_write_refuses_invalid_fields(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_result_t coll = s_local_collective(&n, "kb", DIM);
    s_result_t coll2 = s_local_collective(&n, "other", DIM);
    s_result_t exp = s_local_experience(&n, &coll.id, DIM);
    s_result_t exp2 = s_local_experience(&n, &coll2.id, DIM);
    assert_int_equal(exp2.rc, 0);
    uint64_t head = s_wal_head(&n);

    s_result_t res = s_local_experience(&n, &coll.id, DIM + 1);   // wrong dim
    assert_int_equal(res.rc, PDB_EINVAL);
    assert_non_null(strstr(res.why, "embedding"));
    assert_int_equal(s_local_experience(&n, &coll.id, DIM - 1).rc, PDB_EINVAL);
    assert_int_equal(s_local_collective(&n, "zero", 0).rc, PDB_EINVAL);
    assert_int_equal(s_local_collective(&n, "", DIM).rc, PDB_EINVAL);

    mpk_out_t f;
    s_fields_new(&f, 1);                  // a managed field from a client
    s_kv_u64(&f.pk, "last_reinforced", 5);
    assert_int_equal(s_local(&n, ENT_EXPERIENCE, OP_UPDATE, NULL, &exp.id, &f, WALL).rc,
                     PDB_EINVAL);
    s_fields_new(&f, 1);                  // content never changes
    s_kv_str(&f.pk, "content", "rewritten");
    assert_int_equal(s_local(&n, ENT_EXPERIENCE, OP_UPDATE, NULL, &exp.id, &f, WALL).rc,
                     PDB_EINVAL);
    s_fields_new(&f, 0);                  // an empty update
    assert_int_equal(s_local(&n, ENT_EXPERIENCE, OP_UPDATE, NULL, &exp.id, &f, WALL).rc,
                     PDB_EINVAL);
    s_fields_new(&f, 2);                  // a create naming its own id
    s_kv_str(&f.pk, "name", "mine");
    s_kv_u64(&f.pk, "embedding_dim", DIM);
    pdb_id_t chosen = testkit_id(0x55);
    assert_int_equal(s_local(&n, ENT_COLLECTIVE, OP_CREATE, NULL, &chosen, &f, WALL).rc,
                     PDB_EINVAL);
    s_fields_new(&f, 1);                  // an update without an id
    s_kv_dbl(&f.pk, "importance", 0.2);
    assert_int_equal(s_local(&n, ENT_EXPERIENCE, OP_UPDATE, NULL, NULL, &f, WALL).rc, PDB_EINVAL);
    s_fields_new(&f, 2);                  // an experience outside any collective
    s_kv_str(&f.pk, "content", "x");
    s_kv_vec(&f.pk, "embedding", 1.0f);
    assert_int_equal(s_local(&n, ENT_EXPERIENCE, OP_CREATE, NULL, NULL, &f, WALL).rc, PDB_EINVAL);
    //  A relation across collectives.
    assert_int_equal(s_local_rel(&n, &coll.id, &exp.id, &exp2.id).rc, PDB_EINVAL);
    //  Oversized content.
    mpk_out_init(&f);
    mpk_pack_map(&f.pk, 2);
    mpk_pack_str(&f.pk, "content");
    char *big = malloc(PDB_CONTENT_MAX + 1);
    assert_non_null(big);
    memset(big, 'x', PDB_CONTENT_MAX + 1);
    mpk_pack_strn(&f.pk, big, PDB_CONTENT_MAX + 1);
    free(big);
    s_kv_vec(&f.pk, "embedding", 1.0f);
    assert_int_equal(s_local(&n, ENT_EXPERIENCE, OP_CREATE, &coll.id, NULL, &f, WALL).rc,
                     PDB_ETOOBIG);
    //  Bytes that are not MessagePack at all.
    local_write_t w = { ENT_COLLECTIVE, OP_CREATE, NULL, NULL, "\xc1", 1 };
    char why[PDB_ERRMSG_MAX];
    MDB_txn *txn = s_write_begin(&n);
    assert_int_equal(local_write(&n.ing, txn, &w, WALL, NULL, NULL, why), PDB_EINVAL);
    mdb_txn_abort(txn);

    assert_int_equal(s_wal_head(&n), head);
    assert_int_equal(s_entries(&n, s_store(&n)->experiences), 2);
    s_node_close(&n);
}

//  Ships every WAL entry of `from` above *shipped into `to`, as a peer
//  would, and returns how many `to` applied.
static size_t
s_ship(s_node_t *from, s_node_t *to, uint64_t *shipped)
{
    uint64_t head = s_wal_head(from);
    size_t applied = 0;
    for (uint64_t seq = *shipped + 1; seq <= head; seq++) {
        change_t c;
        void *copy;
        s_wal_entry(from, seq, &c, &copy);
        int rc = s_ingest(to, &c);
        assert_true(rc == SPROTO_APPLIED || rc == SPROTO_KNOWN);
        applied += rc == SPROTO_APPLIED;
        free(copy);
    }
    *shipped = head;
    return applied;
}

static void
s_reinforce(s_node_t *n, const pdb_id_t *exp, uint64_t wall)
{
    char why[PDB_ERRMSG_MAX];
    uint64_t seq;
    MDB_txn *txn = s_write_begin(n);
    assert_int_equal(local_reinforce(&n->ing, txn, exp, wall, &seq, why), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

static void
test_local_reinforce_on_two_instances_adds_up(void **state)
{
    (void) state;
    s_node_t one, two;
    s_node_open(&one);
    s_node_open(&two);
    uint64_t one_to_two = 0, two_to_one = 0;
    s_result_t coll = s_local_collective(&one, "kb", DIM);
    s_result_t exp = s_local_experience(&one, &coll.id, DIM);
    assert_int_equal(exp.rc, 0);
    assert_int_equal(s_ship(&one, &two, &one_to_two), 2);

    //  Both reinforce at once, one of them twice.
    s_reinforce(&one, &exp.id, WALL + 100);
    s_reinforce(&one, &exp.id, WALL + 101);
    s_reinforce(&two, &exp.id, WALL + 300);
    s_record_t r;
    s_record_of(&one, &exp.id, &r);
    const pdb_id_t *id_one = &one.node->instance_id, *id_two = &two.node->instance_id;
    assert_int_equal(mpk_map_get(r.map, "applications")->via.map.size, 1);
    s_record_free(&r);

    assert_int_equal(s_ship(&one, &two, &one_to_two), 2);
    assert_int_equal(s_ship(&two, &one, &two_to_one), 1);   // its own changes come back known
    //  Nothing echoes: shipping again applies nothing either way.
    assert_int_equal(s_ship(&one, &two, &one_to_two), 0);
    assert_int_equal(s_ship(&two, &one, &two_to_one), 0);

    s_record_t a, b;
    s_record_of(&one, &exp.id, &a);
    s_record_of(&two, &exp.id, &b);
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
    assert_int_equal(s_get_u64(&a, "last_reinforced"), WALL + 300);
    //  Same bytes on both nodes.
    assert_true(mpk_equal(a.map, b.map));
    s_record_free(&a);
    s_record_free(&b);
    char *da = s_dump(&one, false), *db = s_dump(&two, false);
    assert_string_equal(da, db);
    free(da);
    free(db);

    //  A third reinforcement on two builds on what two now knows of itself.
    s_reinforce(&two, &exp.id, WALL + 400);
    assert_int_equal(s_ship(&two, &one, &two_to_one), 1);
    s_record_of(&one, &exp.id, &r);
    apps = mpk_map_get(r.map, "applications");
    total = 0;
    for (uint32_t i = 0; i < apps->via.map.size; i++)
        total += apps->via.map.ptr[i].val.via.u64;
    assert_int_equal(total, 4);
    s_record_free(&r);
    s_node_close(&one);
    s_node_close(&two);
}

//  --------------------------------------------------------------------------
//  (g) apply batches

typedef struct {
    int rc;
    int results[16];
    uint32_t n_results;
    uint64_t head;
    char why[PDB_ERRMSG_MAX];
} s_batch_t;

//  Runs batch_apply as storage does: in a child transaction, aborted on error.
//  partial: the optional fourth argument (-1: left out).
static s_batch_t
s_batch_with(s_node_t *n, const char *peer, uint64_t cursor, s_change_t **changes,
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
    MDB_txn *parent = s_write_begin(n), *child;
    assert_int_equal(mdb_txn_begin(s_store(n)->env, parent, 0, &child), 0);
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
        assert_int_equal(r.data.via.array.size, 2);
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
s_batch(s_node_t *n, const char *peer, uint64_t cursor, s_change_t **changes, size_t count,
        storage_stats_t *stats)
{
    return s_batch_with(n, peer, cursor, changes, count, stats, -1);
}

//  The peer's pull cursor, or -1 when the peer has no row.
static int64_t
s_pull_cursor(s_node_t *n, const char *peer)
{
    MDB_txn *txn = s_read_begin(n);
    MDB_val key = { strlen(peer), (void *) peer }, val;
    int rc = mdb_get(txn, s_store(n)->peers, &key, &val);
    int64_t cursor = -1;
    if (rc == 0) {
        msgpack_unpacked u;
        assert_int_equal(mpk_parse(val.mv_data, val.mv_size, &u), 0);
        uint64_t v;
        assert_int_equal(mpk_get_u64(mpk_map_get(&u.data, "pull_cursor"), &v), 0);
        cursor = (int64_t) v;
        msgpack_unpacked_destroy(&u);
    }
    else
        assert_int_equal(rc, MDB_NOTFOUND);
    mdb_txn_abort(txn);
    return cursor;
}

static void
s_assert_untouched(s_node_t *n)
{
    store_t *st = s_store(n);
    assert_int_equal(s_wal_head(n), 0);
    assert_int_equal(s_entries(n, st->versions), 0);
    assert_int_equal(s_entries(n, st->collectives), 0);
    assert_int_equal(s_entries(n, st->experiences), 0);
    assert_int_equal(s_entries(n, st->origins), 0);
    assert_int_equal(s_entries(n, st->peers), 0);
}

static void
test_batch_malformed_change_refuses_whole_batch(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_change_t set[3];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_exp_create(&set[1], ORG_A, 2, 110, COLL, E1);
    //  Decodes, but breaks the entity rules: unknown field.
    msgpack_packer *pk = s_begin(&set[2], ORG_A, 3, H(120), ENT_EXPERIENCE, OP_UPDATE, COLL, E1);
    mpk_pack_map(pk, 1);
    s_kv_str(pk, "colour", "red");
    s_end(&set[2]);
    for (size_t i = 0; i < 3; i++)
        set[i].c.seq = 10 + i;

    s_change_t *garbage[] = { &set[0], NULL, &set[1] };
    s_batch_t res = s_batch(&n, "peer-1", 12, garbage, 3, NULL);
    assert_int_equal(res.rc, PDB_EINVAL);
    assert_non_null(strstr(res.why, "change 1"));
    s_assert_untouched(&n);

    //  The bad change comes after two good ones: they are undone too.
    s_change_t *rules[] = { &set[0], &set[1], &set[2] };
    res = s_batch(&n, "peer-1", 12, rules, 3, NULL);
    assert_int_equal(res.rc, PDB_EINVAL);
    assert_non_null(strstr(res.why, "colour"));
    s_assert_untouched(&n);
    s_release(set, 3);
    s_node_close(&n);
}

static void
test_batch_missing_dependency_stops_batch_and_cursor(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_change_t set[4];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_exp_set_unit(&set[1], ORG_B, 1, 200, COLL, E1, "importance", 0.9);   // E1 not here
    s_coll_create(&set[2], ORG_A, 2, 210, COLL2, "other");
    s_exp_create(&set[3], ORG_C, 1, 110, COLL, E1);                        // via peer-2
    set[0].c.seq = 10;
    set[1].c.seq = 11;
    set[2].c.seq = 12;
    set[3].c.seq = 1;
    storage_stats_t stats = { 0 };
    s_change_t *batch[] = { &set[0], &set[1], &set[2] };
    s_batch_t res = s_batch(&n, "peer-1", 12, batch, 3, &stats);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.n_results, 3);
    assert_int_equal(res.results[0], SPROTO_APPLIED);
    assert_int_equal(res.results[1], PDB_EMISSINGDEP);
    assert_int_equal(res.results[2], PDB_EMISSINGDEP);     // held back behind it
    assert_int_equal(res.head, 1);
    assert_int_equal(s_pull_cursor(&n, "peer-1"), 10);     // just before the held change
    assert_int_equal(s_alive(&n, COLL2), -1);
    assert_int_equal(stats.applied, 1);
    assert_int_equal(stats.missing, 2);

    //  The dependency arrives from another peer...
    s_change_t *dep[] = { &set[3] };
    res = s_batch(&n, "peer-2", 1, dep, 1, &stats);
    assert_int_equal(res.rc, 0);
    assert_int_equal(s_pull_cursor(&n, "peer-2"), 1);
    //  ...and peer-1 resends from its cursor: now everything lands.
    s_change_t *again[] = { &set[1], &set[2] };
    res = s_batch(&n, "peer-1", 12, again, 2, &stats);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.results[0], SPROTO_APPLIED);
    assert_int_equal(res.results[1], SPROTO_APPLIED);
    assert_int_equal(res.head, 4);
    assert_int_equal(s_pull_cursor(&n, "peer-1"), 12);
    s_record_t r;
    assert_int_equal(s_record(&n, E1, &r), 0);
    assert_true(s_get_dbl(&r, "importance") == 0.9);
    s_record_free(&r);
    s_release(set, 4);
    s_node_close(&n);
}

static void
test_batch_cursor_never_moves_backwards(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    //  An all-filtered page still advances the cursor.
    assert_int_equal(s_batch(&n, "peer-1", 50, NULL, 0, NULL).rc, 0);
    assert_int_equal(s_pull_cursor(&n, "peer-1"), 50);
    assert_int_equal(s_batch(&n, "peer-1", 20, NULL, 0, NULL).rc, 0);
    assert_int_equal(s_pull_cursor(&n, "peer-1"), 50);
    //  A missing dependency below the cursor does not pull it back either.
    s_change_t set[1];
    s_exp_set_unit(&set[0], ORG_B, 1, 200, COLL, E1, "importance", 0.9);
    set[0].c.seq = 30;
    s_change_t *batch[] = { &set[0] };
    s_batch_t res = s_batch(&n, "peer-1", 30, batch, 1, NULL);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.results[0], PDB_EMISSINGDEP);
    assert_int_equal(s_pull_cursor(&n, "peer-1"), 50);
    assert_int_equal(s_batch(&n, "peer-1", 60, NULL, 0, NULL).rc, 0);
    assert_int_equal(s_pull_cursor(&n, "peer-1"), 60);
    //  Other peers' cursors are their own.
    assert_int_equal(s_pull_cursor(&n, "peer-2"), -1);
    //  The cursor never goes down through peer_set either.
    mpk_out_t a;
    mpk_out_init(&a);
    mpk_pack_array(&a.pk, 2);
    mpk_pack_str(&a.pk, "peer-1");
    mpk_pack_map(&a.pk, 2);
    s_kv_u64(&a.pk, "pull_cursor", 5);
    s_kv_str(&a.pk, "last_error", "timeout");
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(a.buf.data, a.buf.size, &u), 0);
    char why[PDB_ERRMSG_MAX];
    MDB_txn *txn = s_write_begin(&n);
    assert_int_equal(peers_set(s_store(&n), txn, &u.data, why), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&a);
    assert_int_equal(s_pull_cursor(&n, "peer-1"), 60);
    s_release(set, 1);
    s_node_close(&n);
}

//  peer_set [name, {prefix00: 1, prefix01: 1, ...}] with `count` fields.
static int
s_peer_set_fields(s_node_t *n, const char *peer, const char *prefix, unsigned count)
{
    mpk_out_t a;
    mpk_out_init(&a);
    mpk_pack_array(&a.pk, 2);
    mpk_pack_str(&a.pk, peer);
    mpk_pack_map(&a.pk, count);
    for (unsigned i = 0; i < count; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s%02u", prefix, i);
        s_kv_u64(&a.pk, name, i);
    }
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(a.buf.data, a.buf.size, &u), 0);
    char why[PDB_ERRMSG_MAX];
    MDB_txn *txn = s_write_begin(n);
    int rc = peers_set(s_store(n), txn, &u.data, why);
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
    s_node_t n;
    s_node_open(&n);
    assert_int_equal(s_peer_set_fields(&n, "peer-1", "a", PEERS_FIELDS_MAX - 2), 0);
    assert_int_equal(s_batch(&n, "peer-1", 100, NULL, 0, NULL).rc, 0);
    assert_int_equal(s_pull_cursor(&n, "peer-1"), 100);
    //  More fields than a row holds are refused whole, not truncated.
    assert_int_not_equal(s_peer_set_fields(&n, "peer-1", "b", 2), 0);
    assert_int_equal(s_pull_cursor(&n, "peer-1"), 100);
    assert_int_equal(s_batch(&n, "peer-1", 40, NULL, 0, NULL).rc, 0);
    assert_int_equal(s_pull_cursor(&n, "peer-1"), 100);
    //  Fields already there can still be rewritten, and the cursor raised.
    assert_int_equal(s_peer_set_fields(&n, "peer-1", "a", PEERS_FIELDS_MAX - 2), 0);
    assert_int_equal(s_batch(&n, "peer-1", 120, NULL, 0, NULL).rc, 0);
    assert_int_equal(s_pull_cursor(&n, "peer-1"), 120);
    s_node_close(&n);
}

static void
test_batch_refuses_non_increasing_sequences(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_change_t set[3];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_coll_create(&set[1], ORG_B, 1, 101, COLL2, "other");
    s_exp_create(&set[2], ORG_A, 2, 110, COLL, E1);
    s_change_t *batch[] = { &set[0], &set[1], &set[2] };
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
    assert_int_equal(s_pull_cursor(&n, "peer-1"), 3);
    s_release(set, 3);
    s_node_close(&n);
}

static void
test_batch_reports_known_changes_and_skips_cursor_without_peer(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_change_t set[2];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_exp_create(&set[1], ORG_A, 2, 110, COLL, E1);
    set[0].c.seq = 1;
    set[1].c.seq = 2;
    s_change_t *batch[] = { &set[0], &set[1] };
    storage_stats_t stats = { 0 };
    s_batch_t res = s_batch(&n, "", 2, batch, 2, &stats);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.results[0], SPROTO_APPLIED);
    assert_int_equal(res.results[1], SPROTO_APPLIED);
    assert_int_equal(s_entries(&n, s_store(&n)->peers), 0);
    //  The same batch again (from a second path): all known, WAL unchanged.
    res = s_batch(&n, "relay", 2, batch, 2, &stats);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.results[0], SPROTO_KNOWN);
    assert_int_equal(res.results[1], SPROTO_KNOWN);
    assert_int_equal(res.head, 2);
    assert_int_equal(s_pull_cursor(&n, "relay"), 2);
    assert_int_equal(stats.applied, 2);
    assert_int_equal(stats.known, 2);
    s_release(set, 2);
    s_node_close(&n);
}

//  A batch from a filtered link: every change is a partial copy, applied
//  and logged with the mark, and no vector entry moves. The same changes
//  whole (another, unfiltered path) are known and do move it.
static void
test_batch_partial_applies_and_marks_but_moves_no_vector(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_change_t set[2];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_exp_create(&set[1], ORG_A, 3, 110, COLL, E1);      // A's 2 was filtered out
    set[0].c.seq = 1;
    set[1].c.seq = 2;
    s_change_t *batch[] = { &set[0], &set[1] };
    s_batch_t res = s_batch_with(&n, "edge", 2, batch, 2, NULL, 1);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.results[0], SPROTO_APPLIED);
    assert_int_equal(res.results[1], SPROTO_APPLIED);
    assert_int_equal(res.head, 2);
    assert_int_equal(s_pull_cursor(&n, "edge"), 2);
    pdb_id_t a = testkit_id(ORG_A);
    assert_int_equal(s_vector(&n, &a), 0);
    for (uint64_t seq = 1; seq <= 2; seq++) {
        change_t got;
        void *copy;
        s_wal_entry(&n, seq, &got, &copy);
        assert_true(got.partial);
        free(copy);
    }
    //  An explicit false is a whole batch: A's 1 raises the entry (and is
    //  logged whole), A's 3 would skip A's 2 and is held back.
    res = s_batch_with(&n, "full", 2, batch, 2, NULL, 0);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.results[0], SPROTO_KNOWN);
    assert_int_equal(res.results[1], PDB_EMISSINGDEP);
    assert_int_equal(res.head, 3);
    assert_int_equal(s_vector(&n, &a), 1);
    assert_int_equal(s_pull_cursor(&n, "full"), 1);
    s_release(set, 2);
    s_node_close(&n);
}

//  Partial copies are out of their origin's order in a relay's WAL (a
//  whole copy of an earlier change can be logged after them), so the
//  origin order is checked among whole copies only.
static void
test_batch_origin_order_binds_whole_copies_only(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
    s_change_t set[3];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_exp_create(&set[1], ORG_A, 3, 110, COLL, E1);
    s_exp_create(&set[2], ORG_A, 2, 120, COLL, E2);
    for (size_t k = 0; k < 3; k++)
        set[k].c.seq = k + 1;
    s_change_t *batch[] = { &set[0], &set[1], &set[2] };
    assert_int_equal(s_batch(&n, "relay", 3, batch, 3, NULL).rc, PDB_EINVAL);
    s_assert_untouched(&n);
    set[1].c.partial = true;
    s_batch_t res = s_batch(&n, "relay", 3, batch, 3, NULL);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.results[1], SPROTO_APPLIED);
    assert_int_equal(res.results[2], SPROTO_APPLIED);
    pdb_id_t a = testkit_id(ORG_A);
    assert_int_equal(s_vector(&n, &a), 2);
    s_release(set, 3);
    s_node_close(&n);
}

static void
test_batch_refuses_bad_arguments_and_oversized_batches(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open(&n);
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
        MDB_txn *txn = s_write_begin(&n);
        assert_int_equal(batch_apply(&n.ing, txn, &u.data, &out, &stats, why), cases[i].want);
        assert_true(why[0] != '\0');
        mdb_txn_abort(txn);
        mpk_out_release(&out);
        msgpack_unpacked_destroy(&u);
        mpk_out_release(&a);
    }
    s_assert_untouched(&n);
    s_node_close(&n);
}

static void
test_apply_full_map_reports_efull_and_keeps_committed_data(void **state)
{
    (void) state;
    s_node_t n;
    s_node_open_sized(&n, 1u << 20);      // 1 MiB: a handful of 60 KiB changes
    s_change_t coll[1];
    s_coll_create(&coll[0], ORG_A, 1, 100, COLL, "kb");
    assert_int_equal(s_ingest(&n, &coll[0].c), SPROTO_APPLIED);
    int rc = 0;
    uint64_t landed = 0;
    for (uint8_t i = 0; i < 40 && rc != PDB_EFULL; i++) {
        s_change_t big[1];
        msgpack_packer *pk = s_begin(&big[0], ORG_A, 2u + i, H(200 + i), ENT_EXPERIENCE,
                                     OP_CREATE, COLL, (uint8_t) (0x60 + i));
        mpk_pack_map(pk, 2);
        mpk_pack_str(pk, "content");
        char *text = malloc(60u << 10);
        assert_non_null(text);
        memset(text, 'x', 60u << 10);
        mpk_pack_strn(pk, text, 60u << 10);
        free(text);
        s_kv_vec(pk, "embedding", 1.0f);
        s_end(&big[0]);
        rc = s_ingest(&n, &big[0].c);
        if (rc == SPROTO_APPLIED)
            landed++;
        else
            assert_int_equal(rc, PDB_EFULL);
        s_release(big, 1);
    }
    assert_int_equal(rc, PDB_EFULL);
    assert_true(landed > 0);
    //  The failed transaction was aborted whole: what committed is intact.
    assert_int_equal(s_wal_head(&n), 1 + landed);
    assert_int_equal(s_entries(&n, s_store(&n)->experiences), landed);
    pdb_id_t a = testkit_id(ORG_A);
    assert_int_equal(s_vector(&n, &a), 1 + landed);
    assert_int_equal(s_alive(&n, COLL), 1);
    s_release(coll, 1);
    s_node_close(&n);
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
    s_node_t n;
    s_node_open(&n);
    *conflicts = 0;
    n.ing.policy = mode;
    n.ing.overrides = override;
    n.ing.overrides_n = override ? 1 : 0;
    n.ing.conflicts = conflicts;
    s_change_t set[3];
    s_coll_create(&set[0], ORG_A, 1, 100, COLL, "kb");
    s_exp_create(&set[1], ORG_A, 2, 110, COLL, E1);
    s_ingest_all(&n, set, 2);
    mpk_out_t f;
    mpk_out_init(&f);
    mpk_pack_map(&f.pk, 1);
    s_kv_dbl(&f.pk, "importance", 0.2);
    pdb_id_t coll = testkit_id(COLL), e1 = testkit_id(E1);
    local_write_t w = { ENT_EXPERIENCE, OP_UPDATE, &coll, &e1, f.buf.data, f.buf.size };
    char why[PDB_ERRMSG_MAX];
    MDB_txn *txn = s_write_begin(&n);
    assert_int_equal(local_write(&n.ing, txn, &w, local_ms, NULL, NULL, why), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mpk_out_release(&f);
    s_exp_set_unit(&set[2], ORG_A, 3, remote_ms, COLL, E1, "importance", 0.9);
    (void) s_ingest(&n, &set[2].c);
    s_record_t r;
    assert_int_equal(s_record(&n, E1, &r), 0);
    double importance = s_get_dbl(&r, "importance");
    s_record_free(&r);
    s_release(set, 3);
    s_node_close(&n);
    return importance;
}

static double
s_policy_case(merge_policy_t mode, uint64_t local_ms, uint64_t remote_ms, uint64_t *conflicts)
{
    return s_policy_case_with(mode, NULL, local_ms, remote_ms, conflicts);
}

static void
test_policy_collective_override_beats_the_node_policy(void **state)
{
    (void) state;
    uint64_t conflicts;
    apply_override_t here = { testkit_id(COLL), POLICY_REMOTE_WINS };
    assert_true(s_policy_case_with(POLICY_LWW, &here, WALL, 120, &conflicts) == 0.9);
    apply_override_t elsewhere = { testkit_id(COLL2), POLICY_REMOTE_WINS };
    assert_true(s_policy_case_with(POLICY_LWW, &elsewhere, WALL, 120, &conflicts) == 0.2);
    assert_int_equal(conflicts, 1);
}

static void
test_policy_lww_keeps_the_later_write_and_counts_the_loser(void **state)
{
    (void) state;
    uint64_t conflicts;
    //  The clock never runs backwards past what it saw, so "later" is by stamp.
    assert_true(s_policy_case(POLICY_LWW, WALL, 120, &conflicts) == 0.2);
    assert_int_equal(conflicts, 1);
    assert_true(s_policy_case(POLICY_LWW, WALL, WALL + 60000, &conflicts) == 0.9);
    assert_int_equal(conflicts, 0);
}

static void
test_policy_remote_wins_takes_the_peer_write_even_when_older(void **state)
{
    (void) state;
    uint64_t conflicts;
    assert_true(s_policy_case(POLICY_REMOTE_WINS, WALL, 120, &conflicts) == 0.9);
    assert_int_equal(conflicts, 0);
}

static void
test_policy_local_wins_keeps_ours_even_when_the_peer_is_newer(void **state)
{
    (void) state;
    uint64_t conflicts;
    assert_true(s_policy_case(POLICY_LOCAL_WINS, WALL, WALL + 60000, &conflicts) == 0.2);
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
        cmocka_unit_test(test_apply_collective_delete_removes_everything_inside),
        cmocka_unit_test(test_apply_experience_delete_removes_relations_touching_it),
        cmocka_unit_test(test_apply_relation_delete_unlinks_both_ends),
        cmocka_unit_test(test_apply_self_relation_and_insight_delete_leave_nothing_behind),
        cmocka_unit_test(test_apply_refuses_change_naming_another_entity_type_or_collective),
        cmocka_unit_test(test_apply_known_origin_seq_is_dropped_without_wal_append),
        cmocka_unit_test(test_apply_remote_change_is_appended_with_origin_kept),
        cmocka_unit_test(test_apply_dominated_change_moves_vector_and_travels_on),
        cmocka_unit_test(test_apply_partial_copy_relays_its_mark_and_moves_no_vector),
        cmocka_unit_test(test_apply_remote_stamp_advances_local_clock),
        cmocka_unit_test(test_apply_refuses_clock_stamp_beyond_drift_bound),
        cmocka_unit_test(test_policy_lww_keeps_the_later_write_and_counts_the_loser),
        cmocka_unit_test(test_policy_remote_wins_takes_the_peer_write_even_when_older),
        cmocka_unit_test(test_policy_local_wins_keeps_ours_even_when_the_peer_is_newer),
        cmocka_unit_test(test_policy_names_parse),
        cmocka_unit_test(test_policy_collective_override_beats_the_node_policy),
        cmocka_unit_test(test_apply_full_map_reports_efull_and_keeps_committed_data),
        cmocka_unit_test(test_local_write_create_update_delete),
        cmocka_unit_test(test_apply_concurrent_same_name_collectives_are_both_kept),
        cmocka_unit_test(test_local_write_duplicate_collective_name_conflicts),
        cmocka_unit_test(test_ingest_refuses_change_under_own_origin_it_never_wrote),
        cmocka_unit_test(test_local_write_unknown_id_is_not_found),
        cmocka_unit_test(test_local_write_refuses_invalid_fields),
        cmocka_unit_test(test_local_reinforce_on_two_instances_adds_up),
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
