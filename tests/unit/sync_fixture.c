#include "sync_fixture.h"
#include "batch.h"
#include "clock.h"
#include "err.h"
#include "handlers.h"
#include "install.h"
#include "local.h"
#include "mpk.h"
#include "snapshot.h"
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

//  --------------------------------------------------------------------------
//  Nodes

void
fx_open(fx_node_t *n)
{
    fx_open_sized(n, FX_MAP_SIZE);
}

void
fx_open_sized(fx_node_t *n, uint64_t map_size)
{
    memset(n, 0, sizeof *n);
    testkit_mkdir(n->dir, "storage");
    assert_int_equal(node_open(n->dir, map_size, &n->node), 0);
    //  Durability is not under test; skipping fsync keeps 1000 stores fast.
    assert_int_equal(mdb_env_set_flags(n->node->store->env, MDB_NOSYNC, 1), 0);
    n->ing.store = n->node->store;
    n->ing.self = n->node->instance_id;
    n->ing.hlc = &n->node->hlc;
}

void
fx_close(fx_node_t *n)
{
    node_destroy(&n->node);
    testkit_rmdir(n->dir);
}

store_t *
fx_store(fx_node_t *n)
{
    return n->node->store;
}

MDB_txn *
fx_write_begin(fx_node_t *n)
{
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(fx_store(n)->env, NULL, 0, &txn), 0);
    return txn;
}

MDB_txn *
fx_read_begin(fx_node_t *n)
{
    MDB_txn *txn;
    assert_int_equal(store_read_begin(fx_store(n), &txn), 0);
    return txn;
}

//  --------------------------------------------------------------------------
//  Local writes

int
fx_local(fx_node_t *n, uint64_t wall_ms, ent_type_t entity, change_op_t op,
         const pdb_id_t *coll, const pdb_id_t *id, const mpk_out_t *fields, pdb_id_t *id_out)
{
    assert_int_equal(mpk_out_status(fields), 0);
    local_write_t w = { entity, op, coll, id, fields->buf.data, fields->buf.size };
    char why[PDB_ERRMSG_MAX];
    pdb_id_t new_id;
    uint64_t seq;
    MDB_txn *txn = fx_write_begin(n);
    int rc = local_write(&n->ing, txn, &w, wall_ms, &new_id, &seq, why);
    if (rc == 0) {
        assert_int_equal(ingest_save_clock(&n->ing, txn), 0);
        assert_int_equal(mdb_txn_commit(txn), 0);
        if (id_out)
            *id_out = new_id;
    }
    else
        mdb_txn_abort(txn);
    return rc;
}

//  An embedding of dim floats base, base + 0.25, ...
static void
s_kv_embedding(msgpack_packer *pk, uint32_t dim, float base)
{
    float v[16];
    assert_true(dim <= 16);
    for (uint32_t i = 0; i < dim; i++)
        v[i] = base + (float) i * 0.25f;
    mpk_pack_str(pk, "embedding");
    mpk_pack_bin(pk, v, dim * sizeof(float));
}

static pdb_id_t
s_create(fx_node_t *n, uint64_t wall_ms, ent_type_t entity, const pdb_id_t *coll,
         mpk_out_t *fields)
{
    pdb_id_t id;
    int rc = fx_local(n, wall_ms, entity, OP_CREATE, coll, NULL, fields, &id);
    mpk_out_release(fields);
    assert_int_equal(rc, 0);
    return id;
}

pdb_id_t
fx_new_collective(fx_node_t *n, uint64_t wall_ms, const char *name, uint32_t dim)
{
    mpk_out_t f;
    mpk_out_init(&f);
    mpk_pack_map(&f.pk, 2);
    fx_kv_str(&f.pk, "name", name);
    mpk_pack_str(&f.pk, "embedding_dim");
    mpk_pack_u64(&f.pk, dim);
    return s_create(n, wall_ms, ENT_COLLECTIVE, NULL, &f);
}

pdb_id_t
fx_new_experience(fx_node_t *n, uint64_t wall_ms, const pdb_id_t *coll, uint32_t dim,
                  float base)
{
    mpk_out_t f;
    mpk_out_init(&f);
    mpk_pack_map(&f.pk, 4);
    fx_kv_str(&f.pk, "content", "readers never block the writer");
    s_kv_embedding(&f.pk, dim, base);
    mpk_pack_str(&f.pk, "domain");
    mpk_pack_array(&f.pk, 2);
    mpk_pack_str(&f.pk, "db");
    mpk_pack_str(&f.pk, "lmdb");
    mpk_pack_str(&f.pk, "tags");
    mpk_pack_map(&f.pk, 1);
    fx_kv_str(&f.pk, "team", "storage");
    return s_create(n, wall_ms, ENT_EXPERIENCE, coll, &f);
}

pdb_id_t
fx_new_relation(fx_node_t *n, uint64_t wall_ms, const pdb_id_t *coll, const pdb_id_t *src,
                const pdb_id_t *dst)
{
    mpk_out_t f;
    mpk_out_init(&f);
    mpk_pack_map(&f.pk, 3);
    mpk_pack_str(&f.pk, "source");
    mpk_pack_id(&f.pk, src);
    mpk_pack_str(&f.pk, "target");
    mpk_pack_id(&f.pk, dst);
    fx_kv_str(&f.pk, "type", "supports");
    return s_create(n, wall_ms, ENT_RELATION, coll, &f);
}

pdb_id_t
fx_new_insight(fx_node_t *n, uint64_t wall_ms, const pdb_id_t *coll, uint32_t dim)
{
    mpk_out_t f;
    mpk_out_init(&f);
    mpk_pack_map(&f.pk, 3);
    fx_kv_str(&f.pk, "content", "single writer, many readers");
    s_kv_embedding(&f.pk, dim, 7.0f);
    fx_kv_str(&f.pk, "type", "pattern");
    return s_create(n, wall_ms, ENT_INSIGHT, coll, &f);
}

void
fx_set_unit(fx_node_t *n, uint64_t wall_ms, const pdb_id_t *coll, const pdb_id_t *exp,
            const char *field, double value)
{
    mpk_out_t f;
    mpk_out_init(&f);
    mpk_pack_map(&f.pk, 1);
    mpk_pack_str(&f.pk, field);
    mpk_pack_double(&f.pk, value);
    int rc = fx_local(n, wall_ms, ENT_EXPERIENCE, OP_UPDATE, coll, exp, &f, NULL);
    mpk_out_release(&f);
    assert_int_equal(rc, 0);
}

void
fx_rename(fx_node_t *n, uint64_t wall_ms, const pdb_id_t *coll, const char *name)
{
    mpk_out_t f;
    mpk_out_init(&f);
    mpk_pack_map(&f.pk, 1);
    fx_kv_str(&f.pk, "name", name);
    int rc = fx_local(n, wall_ms, ENT_COLLECTIVE, OP_UPDATE, coll, coll, &f, NULL);
    mpk_out_release(&f);
    assert_int_equal(rc, 0);
}

void
fx_delete(fx_node_t *n, uint64_t wall_ms, ent_type_t entity, const pdb_id_t *coll,
          const pdb_id_t *id)
{
    mpk_out_t f;
    mpk_out_init(&f);
    mpk_pack_map(&f.pk, 0);
    int rc = fx_local(n, wall_ms, entity, OP_DELETE, coll, id, &f, NULL);
    mpk_out_release(&f);
    assert_int_equal(rc, 0);
}

void
fx_reinforce(fx_node_t *n, uint64_t wall_ms, const pdb_id_t *exp)
{
    char why[PDB_ERRMSG_MAX];
    uint64_t seq;
    MDB_txn *txn = fx_write_begin(n);
    assert_int_equal(local_reinforce(&n->ing, txn, exp, wall_ms, &seq, why), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

fx_write_t
fx_write(fx_node_t *n, ent_type_t entity, change_op_t op, const pdb_id_t *coll,
         const pdb_id_t *id, mpk_out_t *fields, uint64_t wall_ms)
{
    fx_write_t res;
    memset(&res, 0, sizeof res);
    assert_int_equal(mpk_out_status(fields), 0);
    local_write_t w = { entity, op, coll, id, fields->buf.data, fields->buf.size };
    MDB_txn *txn = fx_write_begin(n);
    res.rc = local_write(&n->ing, txn, &w, wall_ms, &res.id, &res.seq, res.why);
    if (res.rc == 0)
        assert_int_equal(mdb_txn_commit(txn), 0);
    else
        mdb_txn_abort(txn);
    mpk_out_release(fields);
    return res;
}

mpk_out_t *
fx_fields_new(mpk_out_t *f, size_t n)
{
    mpk_out_init(f);
    mpk_pack_map(&f->pk, n);
    return f;
}

fx_write_t
fx_write_collective(fx_node_t *n, const char *name, uint64_t dim)
{
    mpk_out_t f;
    fx_fields_new(&f, 2);
    fx_kv_str(&f.pk, "name", name);
    fx_kv_u64(&f.pk, "embedding_dim", dim);
    return fx_write(n, ENT_COLLECTIVE, OP_CREATE, NULL, NULL, &f, FX_WALL);
}

fx_write_t
fx_write_experience(fx_node_t *n, const pdb_id_t *coll, uint32_t dim)
{
    mpk_out_t f;
    fx_fields_new(&f, 2);
    fx_kv_str(&f.pk, "content", "prefer MDB_NOTLS for thread pools");
    float v[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    assert_true(dim <= 8);
    mpk_pack_str(&f.pk, "embedding");
    mpk_pack_bin(&f.pk, v, dim * sizeof(float));
    return fx_write(n, ENT_EXPERIENCE, OP_CREATE, coll, NULL, &f, FX_WALL + 1);
}

fx_write_t
fx_write_relation(fx_node_t *n, const pdb_id_t *coll, const pdb_id_t *src, const pdb_id_t *dst)
{
    mpk_out_t f;
    fx_fields_new(&f, 3);
    mpk_pack_str(&f.pk, "source");
    mpk_pack_id(&f.pk, src);
    mpk_pack_str(&f.pk, "target");
    mpk_pack_id(&f.pk, dst);
    fx_kv_str(&f.pk, "type", "elaborates");
    return fx_write(n, ENT_RELATION, OP_CREATE, coll, NULL, &f, FX_WALL + 2);
}

//  --------------------------------------------------------------------------
//  Changes by hand

msgpack_packer *
fx_change_begin(fx_change_t *fc, const pdb_id_t *origin, uint64_t origin_seq, uint64_t hlc,
                ent_type_t entity, int op, const pdb_id_t *coll, const pdb_id_t *id)
{
    memset(fc, 0, sizeof *fc);
    fc->c.seq = origin_seq;
    fc->c.origin = *origin;
    fc->c.origin_seq = origin_seq;
    fc->c.hlc = hlc;
    fc->c.entity = entity;
    fc->c.op = (change_op_t) op;
    fc->c.collective_id = *coll;
    fc->c.entity_id = *id;
    mpk_out_init(&fc->f);
    return &fc->f.pk;
}

void
fx_change_end(fx_change_t *fc)
{
    assert_int_equal(mpk_out_status(&fc->f), 0);
    fc->c.fields = (const uint8_t *) fc->f.buf.data;
    fc->c.fields_len = fc->f.buf.size;
}

void
fx_change_release(fx_change_t *fc)
{
    mpk_out_release(&fc->f);
}

void
fx_change_encode(const change_t *c, mpk_out_t *out)
{
    mpk_out_init(out);
    change_pack(&out->pk, c);
    assert_int_equal(mpk_out_status(out), 0);
}

int
fx_ingest(fx_node_t *n, const change_t *c)
{
    char why[PDB_ERRMSG_MAX];
    MDB_txn *txn = fx_write_begin(n);
    int rc = ingest_remote(&n->ing, txn, c, why);
    if (rc >= 0 || rc == PDB_EMISSINGDEP)
        assert_int_equal(mdb_txn_commit(txn), 0);
    else
        mdb_txn_abort(txn);
    return rc;
}

void
fx_ingest_all(fx_node_t *n, fx_change_t *set, size_t count)
{
    for (size_t i = 0; i < count; i++)
        assert_int_equal(fx_ingest(n, &set[i].c), SPROTO_APPLIED);
}

//  --------------------------------------------------------------------------
//  Changes by hand, ids by fill byte

const pdb_id_t *
fx_id(uint8_t fill)
{
    static pdb_id_t ids[256];       // each slot only ever holds its own fill
    ids[fill] = testkit_id(fill);
    return &ids[fill];
}

msgpack_packer *
fx_hand_begin(fx_change_t *fc, uint8_t origin, uint64_t origin_seq, uint64_t hlc,
              ent_type_t entity, change_op_t op, uint8_t coll, uint8_t id)
{
    msgpack_packer *pk = fx_change_begin(fc, fx_id(origin), origin_seq, hlc, entity, (int) op,
                                         fx_id(coll), fx_id(id));
    fc->c.seq = 0;
    return pk;
}

void
fx_changes_release(fx_change_t *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fx_change_release(&set[i]);
}

void
fx_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    mpk_pack_str(pk, k);
    mpk_pack_str(pk, v);
}

void
fx_kv_u64(msgpack_packer *pk, const char *k, uint64_t v)
{
    mpk_pack_str(pk, k);
    mpk_pack_u64(pk, v);
}

void
fx_kv_dbl(msgpack_packer *pk, const char *k, double v)
{
    mpk_pack_str(pk, k);
    mpk_pack_double(pk, v);
}

void
fx_kv_bool(msgpack_packer *pk, const char *k, bool v)
{
    mpk_pack_str(pk, k);
    mpk_pack_bool(pk, v);
}

void
fx_kv_id(msgpack_packer *pk, const char *k, uint8_t fill)
{
    mpk_pack_str(pk, k);
    mpk_pack_id(pk, fx_id(fill));
}

void
fx_kv_vec(msgpack_packer *pk, const char *k, float base)
{
    float v[FX_DIM1] = { base, base + 1.0f, base + 2.0f };
    mpk_pack_str(pk, k);
    mpk_pack_bin(pk, v, sizeof v);
}

void
fx_kv_counter(msgpack_packer *pk, uint8_t instance, uint64_t count)
{
    mpk_pack_str(pk, "applications");
    mpk_pack_map(pk, 1);
    mpk_pack_id(pk, fx_id(instance));
    mpk_pack_u64(pk, count);
}

void
fx_coll_change(fx_change_t *fc, uint8_t origin, uint64_t oseq, uint64_t ms, uint8_t coll,
               const char *name)
{
    msgpack_packer *pk = fx_hand_begin(fc, origin, oseq, FX_H(ms), ENT_COLLECTIVE, OP_CREATE,
                                       coll, coll);
    mpk_pack_map(pk, 5);
    fx_kv_str(pk, "name", name);
    fx_kv_str(pk, "owner", "");
    fx_kv_u64(pk, "embedding_dim", FX_DIM1);
    fx_kv_u64(pk, "created_at", ms);
    fx_kv_u64(pk, "updated_at", ms);
    fx_change_end(fc);
}

void
fx_exp_change(fx_change_t *fc, uint8_t origin, uint64_t oseq, uint64_t ms, uint8_t coll,
              uint8_t exp)
{
    msgpack_packer *pk = fx_hand_begin(fc, origin, oseq, FX_H(ms), ENT_EXPERIENCE, OP_CREATE,
                                       coll, exp);
    mpk_pack_map(pk, 14);
    fx_kv_str(pk, "content", "LMDB readers never block the writer");
    fx_kv_vec(pk, "embedding", (float) exp);
    mpk_pack_str(pk, "type");
    mpk_pack_map(pk, 2);
    fx_kv_str(pk, "kind", "generic");
    fx_kv_str(pk, "category", "storage");
    fx_kv_dbl(pk, "importance", 0.5);
    fx_kv_dbl(pk, "confidence", 0.5);
    mpk_pack_str(pk, "applications");
    mpk_pack_map(pk, 0);
    mpk_pack_str(pk, "domain");
    mpk_pack_array(pk, 1);
    mpk_pack_str(pk, "db");
    mpk_pack_str(pk, "tags");
    mpk_pack_map(pk, 0);
    mpk_pack_str(pk, "related_files");
    mpk_pack_array(pk, 0);
    fx_kv_str(pk, "source_agent", "agent-1");
    fx_kv_str(pk, "source_task", "");
    fx_kv_u64(pk, "created_at", ms);
    fx_kv_u64(pk, "last_reinforced", ms);
    fx_kv_bool(pk, "archived", false);
    fx_change_end(fc);
}

void
fx_rel_change(fx_change_t *fc, uint8_t origin, uint64_t oseq, uint64_t ms, uint8_t coll,
              uint8_t rel, uint8_t src, uint8_t dst)
{
    msgpack_packer *pk = fx_hand_begin(fc, origin, oseq, FX_H(ms), ENT_RELATION, OP_CREATE,
                                       coll, rel);
    mpk_pack_map(pk, 4);
    fx_kv_id(pk, "source", src);
    fx_kv_id(pk, "target", dst);
    fx_kv_str(pk, "type", "supports");
    fx_kv_u64(pk, "created_at", ms);
    fx_change_end(fc);
}

void
fx_ins_change(fx_change_t *fc, uint8_t origin, uint64_t oseq, uint64_t ms, uint8_t coll,
              uint8_t ins)
{
    msgpack_packer *pk = fx_hand_begin(fc, origin, oseq, FX_H(ms), ENT_INSIGHT, OP_CREATE,
                                       coll, ins);
    mpk_pack_map(pk, 4);
    fx_kv_str(pk, "content", "readers scale");
    fx_kv_vec(pk, "embedding", 9.0f);
    fx_kv_str(pk, "type", "pattern");
    mpk_pack_str(pk, "source_ids");
    mpk_pack_array(pk, 1);
    mpk_pack_id(pk, fx_id(FX_E1));
    fx_change_end(fc);
}

void
fx_del_change(fx_change_t *fc, uint8_t origin, uint64_t oseq, uint64_t ms, ent_type_t entity,
              uint8_t coll, uint8_t id)
{
    msgpack_packer *pk = fx_hand_begin(fc, origin, oseq, FX_H(ms), entity, OP_DELETE, coll, id);
    mpk_pack_map(pk, 0);
    fx_change_end(fc);
}

void
fx_unit_change(fx_change_t *fc, uint8_t origin, uint64_t oseq, uint64_t ms, uint8_t coll,
               uint8_t exp, const char *field, double value)
{
    msgpack_packer *pk = fx_hand_begin(fc, origin, oseq, FX_H(ms), ENT_EXPERIENCE, OP_UPDATE,
                                       coll, exp);
    mpk_pack_map(pk, 1);
    fx_kv_dbl(pk, field, value);
    fx_change_end(fc);
}

//  --------------------------------------------------------------------------

void
fx_populate(fx_node_t *n, uint64_t wall_ms, fx_world_t *w)
{
    uint64_t t = wall_ms;
    w->c1 = fx_new_collective(n, t + 1, "alpha", FX_DIM1);
    w->c2 = fx_new_collective(n, t + 2, "beta", FX_DIM2);
    w->c3 = fx_new_collective(n, t + 3, "gamma", FX_DIM1);
    w->e1 = fx_new_experience(n, t + 10, &w->c1, FX_DIM1, 1.0f);
    w->e2 = fx_new_experience(n, t + 11, &w->c1, FX_DIM1, 2.0f);
    w->e3 = fx_new_experience(n, t + 12, &w->c1, FX_DIM1, 3.0f);
    w->e4 = fx_new_experience(n, t + 13, &w->c2, FX_DIM2, 4.0f);
    w->e5 = fx_new_experience(n, t + 14, &w->c3, FX_DIM1, 5.0f);
    w->r12 = fx_new_relation(n, t + 20, &w->c1, &w->e1, &w->e2);
    w->r23 = fx_new_relation(n, t + 21, &w->c1, &w->e2, &w->e3);
    w->i1 = fx_new_insight(n, t + 22, &w->c1, FX_DIM1);
    w->i2 = fx_new_insight(n, t + 23, &w->c1, FX_DIM1);
    fx_set_unit(n, t + 30, &w->c1, &w->e1, "importance", 0.8);
    fx_reinforce(n, t + 31, &w->e2);
    fx_reinforce(n, t + 32, &w->e2);
    fx_rename(n, t + 33, &w->c2, "beta2");
    //  Another origin's write, so versions name more than one instance.
    w->remote = testkit_id(0x77);
    fx_change_t fc;
    msgpack_packer *pk = fx_change_begin(&fc, &w->remote, 1, FX_H(t + 34), ENT_EXPERIENCE,
                                         OP_UPDATE, &w->c1, &w->e1);
    mpk_pack_map(pk, 1);
    mpk_pack_str(pk, "confidence");
    mpk_pack_double(pk, 0.3);
    fx_change_end(&fc);
    assert_int_equal(fx_ingest(n, &fc.c), SPROTO_APPLIED);
    fx_change_release(&fc);
    fx_delete(n, t + 40, ENT_EXPERIENCE, &w->c1, &w->e3);
    fx_delete(n, t + 41, ENT_INSIGHT, &w->c1, &w->i2);
    fx_delete(n, t + 42, ENT_COLLECTIVE, &w->c3, &w->c3);
}

//  --------------------------------------------------------------------------
//  Reading back

static bool
s_same(const void *a, const pdb_id_t *b)
{
    return memcmp(a, b->b, PDB_ID_LEN) == 0;
}

//  Whether an entry of dbs[d] belongs to coll.
static bool
s_in_collective(fx_node_t *n, MDB_txn *txn, MDB_dbi dbi, const MDB_val *key,
                const MDB_val *val, const pdb_id_t *coll)
{
    store_t *st = fx_store(n);
    if (!coll)
        return true;
    if (dbi == st->collectives)
        return s_same(key->mv_data, coll);
    if (dbi == st->collective_names)
        return val->mv_size == PDB_ID_LEN && s_same(val->mv_data, coll);
    if (dbi == st->versions) {
        store_version_t v;
        assert_int_equal(store_version_decode(val, &v), 0);
        return pdb_id_cmp(&v.collective_id, coll) == 0;
    }
    if (dbi == st->relations_by_exp) {
        pdb_id_t rel;
        memcpy(rel.b, (const uint8_t *) key->mv_data + PDB_ID_LEN, PDB_ID_LEN);
        store_version_t v;
        return store_version_get(st, txn, &rel, &v) == 0
            && pdb_id_cmp(&v.collective_id, coll) == 0;
    }
    return s_same(key->mv_data, coll);
}

//  One entry as "db key=value", or with tombstone_flags a tombstone's
//  versions entry as its type, collective and flag.
static void
s_dump_entry(FILE *fp, fx_node_t *n, const char *db, MDB_dbi dbi, const MDB_val *key,
             const MDB_val *val, bool tombstone_flags)
{
    fprintf(fp, "%s ", db);
    for (size_t i = 0; i < key->mv_size; i++)
        fprintf(fp, "%02x", ((const uint8_t *) key->mv_data)[i]);
    fputc('=', fp);
    store_version_t v;
    if (tombstone_flags && dbi == fx_store(n)->versions) {
        assert_int_equal(store_version_decode(val, &v), 0);
        if (v.tombstone) {
            fprintf(fp, "tombstone type=%d collective=%02x\n", (int) v.entity,
                    v.collective_id.b[0]);
            return;
        }
    }
    for (size_t i = 0; i < val->mv_size; i++)
        fprintf(fp, "%02x", ((const uint8_t *) val->mv_data)[i]);
    fputc('\n', fp);
}

//  Each experience's embedding, read as the API reads it: where a block
//  keeps it differs between nodes with the order writes came in.
static void
s_dump_embeddings(FILE *fp, fx_node_t *n, MDB_txn *txn, const pdb_id_t *coll)
{
    store_t *st = fx_store(n);
    store_iter_t it;
    int rc = store_records(st, txn, ENT_EXPERIENCE, coll, &it);
    pdb_id_t c, id;
    MDB_val record, vec;
    while (rc == 0 && (rc = store_next(&it, &c, &id, &record)) == 0) {
        assert_int_equal(store_embedding_get(st, txn, &c, &id, &vec), 0);
        MDB_val key = { PDB_ID_LEN, id.b };
        s_dump_entry(fp, n, "embedding", st->experiences, &key, &vec, false);
    }
    assert_int_equal(rc, PDB_ENOTFOUND);
    store_iter_close(&it);
}

static char *
s_dump(fx_node_t *n, const pdb_id_t *coll, bool tombstone_flags)
{
    store_t *st = fx_store(n);
    const struct { const char *name; MDB_dbi dbi; } dbs[] = {
        { "collectives", st->collectives }, { "collective_names", st->collective_names },
        { "experiences", st->experiences },
        { "relations", st->relations }, { "relations_by_exp", st->relations_by_exp },
        { "insights", st->insights }, { "versions", st->versions },
    };
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    assert_non_null(fp);
    MDB_txn *txn = fx_read_begin(n);
    for (size_t d = 0; d < sizeof dbs / sizeof dbs[0]; d++) {
        MDB_cursor *cur;
        assert_int_equal(mdb_cursor_open(txn, dbs[d].dbi, &cur), 0);
        MDB_val key, val;
        int rc;
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
            if (s_in_collective(n, txn, dbs[d].dbi, &key, &val, coll))
                s_dump_entry(fp, n, dbs[d].name, dbs[d].dbi, &key, &val, tombstone_flags);
        }
        assert_int_equal(rc, MDB_NOTFOUND);
        mdb_cursor_close(cur);
    }
    s_dump_embeddings(fp, n, txn, coll);
    mdb_txn_abort(txn);
    assert_int_equal(fclose(fp), 0);
    return text;
}

char *
fx_dump(fx_node_t *n, const pdb_id_t *coll)
{
    return s_dump(n, coll, false);
}

char *
fx_dump_flags(fx_node_t *n, bool tombstone_flags)
{
    return s_dump(n, NULL, tombstone_flags);
}

uint64_t
fx_head(fx_node_t *n)
{
    uint64_t head;
    MDB_txn *txn = fx_read_begin(n);
    assert_int_equal(wal_head(fx_store(n), txn, &head), 0);
    mdb_txn_abort(txn);
    return head;
}

store_meta_t
fx_meta(fx_node_t *n)
{
    store_meta_t m;
    MDB_txn *txn = fx_read_begin(n);
    assert_int_equal(store_meta_read(fx_store(n), txn, &m), 0);
    mdb_txn_abort(txn);
    return m;
}

uint64_t
fx_vector(fx_node_t *n, const pdb_id_t *origin)
{
    uint64_t seq;
    MDB_txn *txn = fx_read_begin(n);
    assert_int_equal(store_origin_seq(fx_store(n), txn, origin, &seq), 0);
    mdb_txn_abort(txn);
    return seq;
}

int64_t
fx_pull_cursor(fx_node_t *n, const char *peer)
{
    MDB_txn *txn = fx_read_begin(n);
    MDB_val key = { strlen(peer), (void *) peer }, val;
    int64_t cursor = -1;
    if (mdb_get(txn, fx_store(n)->peers, &key, &val) == 0) {
        msgpack_unpacked u;
        assert_int_equal(mpk_parse(val.mv_data, val.mv_size, &u), 0);
        const msgpack_object *c = mpk_map_get(&u.data, "pull_cursor");
        uint64_t v;
        if (c && mpk_get_u64(c, &v) == 0)
            cursor = (int64_t) v;
        msgpack_unpacked_destroy(&u);
    }
    mdb_txn_abort(txn);
    return cursor;
}

int
fx_alive(fx_node_t *n, const pdb_id_t *id)
{
    MDB_txn *txn = fx_read_begin(n);
    store_version_t v;
    int rc = store_version_get(fx_store(n), txn, id, &v);
    mdb_txn_abort(txn);
    if (rc == PDB_ENOTFOUND)
        return -1;
    assert_int_equal(rc, 0);
    return v.tombstone ? 0 : 1;
}

size_t
fx_entries(fx_node_t *n, MDB_dbi dbi)
{
    MDB_txn *txn = fx_read_begin(n);
    MDB_stat st;
    assert_int_equal(mdb_stat(txn, dbi, &st), 0);
    mdb_txn_abort(txn);
    return st.ms_entries;
}

//  A field of the live record of id, decoded into u (caller destroys u).
static const msgpack_object *
s_record_field(MDB_txn *txn, fx_node_t *n, const pdb_id_t *id, const char *field,
               msgpack_unpacked *u)
{
    MDB_val val;
    assert_int_equal(store_record_get(fx_store(n), txn, id, NULL, NULL, &val), 0);
    assert_int_equal(mpk_parse(val.mv_data, val.mv_size, u), 0);
    const msgpack_object *v = mpk_map_get(&u->data, field);
    assert_non_null(v);
    return v;
}

double
fx_get_dbl(fx_node_t *n, const pdb_id_t *id, const char *field)
{
    MDB_txn *txn = fx_read_begin(n);
    msgpack_unpacked u;
    double d = -1;
    assert_int_equal(mpk_get_double(s_record_field(txn, n, id, field, &u), &d), 0);
    msgpack_unpacked_destroy(&u);
    mdb_txn_abort(txn);
    return d;
}

uint64_t
fx_count_of(fx_node_t *n, const pdb_id_t *exp, const pdb_id_t *instance)
{
    MDB_txn *txn = fx_read_begin(n);
    msgpack_unpacked u;
    const msgpack_object *apps = s_record_field(txn, n, exp, "applications", &u);
    uint64_t count = 0;
    for (uint32_t i = 0; i < apps->via.map.size; i++) {
        pdb_id_t id;
        if (mpk_get_id(&apps->via.map.ptr[i].key, &id) == 0 && pdb_id_cmp(&id, instance) == 0)
            count = apps->via.map.ptr[i].val.via.u64;
    }
    msgpack_unpacked_destroy(&u);
    mdb_txn_abort(txn);
    return count;
}

bool
fx_has_pair(fx_node_t *n, MDB_dbi dbi, const pdb_id_t *a, const pdb_id_t *b)
{
    uint8_t kbuf[STORE_KEY_PAIR_LEN];
    store_key_pair(kbuf, a, b);
    MDB_val key = { sizeof kbuf, kbuf }, val;
    MDB_txn *txn = fx_read_begin(n);
    int rc = mdb_get(txn, dbi, &key, &val);
    mdb_txn_abort(txn);
    if (rc != MDB_NOTFOUND)
        assert_int_equal(rc, 0);
    return rc == 0;
}

bool
fx_has_embedding(fx_node_t *n, const pdb_id_t *coll, const pdb_id_t *id)
{
    MDB_val vec;
    MDB_txn *txn = fx_read_begin(n);
    int rc = store_embedding_get(fx_store(n), txn, coll, id, &vec);
    mdb_txn_abort(txn);
    if (rc != PDB_ENOTFOUND)
        assert_int_equal(rc, 0);
    return rc == 0;
}

void *
fx_wal_entry(fx_node_t *n, uint64_t seq, change_t *out)
{
    return testkit_wal_entry(fx_store(n), seq, out, NULL);
}

int
fx_record(fx_node_t *n, const pdb_id_t *id, fx_record_t *out)
{
    memset(out, 0, sizeof *out);
    MDB_txn *txn = fx_read_begin(n);
    MDB_val val;
    int rc = store_record_get(fx_store(n), txn, id, NULL, NULL, &val);
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

void
fx_record_of(fx_node_t *n, const pdb_id_t *id, fx_record_t *out)
{
    assert_int_equal(fx_record(n, id, out), 0);
}

void
fx_record_free(fx_record_t *r)
{
    if (r->copy)
        msgpack_unpacked_destroy(&r->u);
    free(r->copy);
    memset(r, 0, sizeof *r);
}

double
fx_rec_dbl(const fx_record_t *r, const char *field)
{
    double d = -1;
    const msgpack_object *v = mpk_map_get(r->map, field);
    assert_non_null(v);
    assert_int_equal(mpk_get_double(v, &d), 0);
    return d;
}

uint64_t
fx_rec_u64(const fx_record_t *r, const char *field)
{
    uint64_t u = 0;
    const msgpack_object *v = mpk_map_get(r->map, field);
    assert_non_null(v);
    assert_int_equal(mpk_get_u64(v, &u), 0);
    return u;
}

bool
fx_rec_str_is(const fx_record_t *r, const char *field, const char *want)
{
    const msgpack_object *v = mpk_map_get(r->map, field);
    return v && mpk_is_str(v, want);
}

uint64_t
fx_rec_count(const fx_record_t *r, const pdb_id_t *instance)
{
    const msgpack_object *apps = mpk_map_get(r->map, "applications");
    assert_non_null(apps);
    assert_int_equal(apps->type, MSGPACK_OBJECT_MAP);
    for (uint32_t i = 0; i < apps->via.map.size; i++) {
        pdb_id_t id;
        if (mpk_get_id(&apps->via.map.ptr[i].key, &id) == 0 && pdb_id_cmp(&id, instance) == 0)
            return apps->via.map.ptr[i].val.via.u64;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Snapshots

static void
s_blob_push(fx_blob_t **items, size_t *n, size_t *cap, const void *data, size_t len)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        *items = realloc(*items, *cap * sizeof **items);
        assert_non_null(*items);
    }
    (*items)[*n].data = malloc(len ? len : 1);
    assert_non_null((*items)[*n].data);
    memcpy((*items)[*n].data, data, len);
    (*items)[*n].len = len;
    (*n)++;
}

//  Splits a page (consecutive MessagePack bins) into blobs.
static size_t
s_split_page(const mpk_out_t *page, fx_snap_t *out, size_t *cap)
{
    size_t offset = 0, count = 0;
    while (offset < page->buf.size) {
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        assert_int_equal(msgpack_unpack_next(&u, page->buf.data, page->buf.size, &offset),
                         MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(u.data.type, MSGPACK_OBJECT_BIN);
        s_blob_push(&out->items, &out->n, cap, u.data.via.bin.ptr, u.data.via.bin.size);
        msgpack_unpacked_destroy(&u);
        count++;
    }
    return count;
}

void
fx_snapshot(fx_node_t *n, const pdb_id_t *filter, size_t filter_n, size_t max_entities,
            size_t max_bytes, fx_snap_t *out)
{
    memset(out, 0, sizeof *out);
    MDB_txn *txn = fx_read_begin(n);
    store_meta_t meta;
    assert_int_equal(store_meta_read(fx_store(n), txn, &meta), 0);
    out->head = meta.wal_head;
    assert_int_equal(vv_read(fx_store(n), txn, &out->vector), 0);
    assert_int_equal(snapshot_total(fx_store(n), txn, filter, filter_n, &out->total), 0);
    snapshot_pos_t pos = { .len = 0 };
    bool done = false;
    size_t cap = 0;
    while (!done) {
        assert_true(out->pages <= out->total + 1);
        mpk_out_t page;
        mpk_out_init(&page);
        size_t count = 99999;
        int rc = snapshot_page(fx_store(n), txn, filter, filter_n, &pos, max_entities,
                               max_bytes, &n->ing.self, &page.pk, &count, &done);
        assert_int_equal(rc, 0);
        assert_int_equal(mpk_out_status(&page), 0);
        assert_true(count <= max_entities);
        assert_true(page.buf.size <= max_bytes);
        assert_int_equal(s_split_page(&page, out, &cap), count);
        mpk_out_release(&page);
        out->page_end = realloc(out->page_end, (out->pages + 1) * sizeof *out->page_end);
        assert_non_null(out->page_end);
        out->page_end[out->pages++] = out->n;
    }
    mdb_txn_abort(txn);
}

void
fx_blobs_free(fx_blob_t *items, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(items[i].data);
    free(items);
}

void
fx_snap_free(fx_snap_t *s)
{
    fx_blobs_free(s->items, s->n);
    free(s->page_end);
    vv_release(&s->vector);
    memset(s, 0, sizeof *s);
}

//  --------------------------------------------------------------------------
//  Requests

//  Runs install (or apply) on args in a write transaction, committed when
//  it succeeds, and unpacks its result.
static fx_result_t
s_run(fx_node_t *n, const mpk_out_t *args, bool install, int *results)
{
    fx_result_t r;
    memset(&r, 0, sizeof r);
    assert_int_equal(mpk_out_status(args), 0);
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(args->buf.data, args->buf.size, &u), 0);
    mpk_out_t out;
    mpk_out_init(&out);
    storage_stats_t stats = { 0 };
    MDB_txn *txn = fx_write_begin(n);
    r.rc = install ? install_run(&n->ing, txn, &u.data, clock_wall_ms(), &out, &stats, r.why)
                   : batch_apply(&n->ing, txn, &u.data, &out, &stats, r.why);
    if (r.rc == 0) {
        assert_int_equal(ingest_save_clock(&n->ing, txn), 0);
        assert_int_equal(mdb_txn_commit(txn), 0);
        msgpack_unpacked res;
        assert_int_equal(mpk_parse(out.buf.data, out.buf.size, &res), 0);
        assert_int_equal(res.data.type, MSGPACK_OBJECT_ARRAY);
        const msgpack_object *a = res.data.via.array.ptr;
        //  An apply names why it held a change back, when storage knows.
        if (!install && res.data.via.array.size == 3) {
            const char *held;
            size_t held_len;
            assert_int_equal(mpk_get_str(&a[2], &held, &held_len), 0);
            assert_true(held_len > 0 && held_len < sizeof r.held);
            memcpy(r.held, held, held_len);
        }
        else
            assert_int_equal(res.data.via.array.size, 2);
        if (install)
            assert_int_equal(mpk_get_u64(&a[0], &r.installed), 0);
        else
            for (uint32_t i = 0; results && i < a[0].via.array.size; i++)
                results[i] = (int) a[0].via.array.ptr[i].via.i64;
        assert_int_equal(mpk_get_u64(&a[1], &r.head), 0);
        msgpack_unpacked_destroy(&res);
    }
    else
        mdb_txn_abort(txn);
    mpk_out_release(&out);
    msgpack_unpacked_destroy(&u);
    return r;
}

fx_result_t
fx_install(fx_node_t *n, const char *peer, const fx_blob_t *items, size_t count, bool done,
           uint64_t snapshot_seq, const vv_t *vector)
{
    return fx_install_from(n, peer, items, count, done, snapshot_seq, vector, NULL);
}

fx_result_t
fx_install_from(fx_node_t *n, const char *peer, const fx_blob_t *items, size_t count,
                bool done, uint64_t snapshot_seq, const vv_t *vector, const pdb_id_t *source)
{
    mpk_out_t a;
    mpk_out_init(&a);
    mpk_pack_array(&a.pk, source ? 6 : 5);
    mpk_pack_str(&a.pk, peer);
    mpk_pack_array(&a.pk, count);
    for (size_t i = 0; i < count; i++)
        mpk_pack_bin(&a.pk, items[i].data, items[i].len);
    mpk_pack_bool(&a.pk, done);
    mpk_pack_u64(&a.pk, snapshot_seq);
    size_t vn = vector ? vector->n : 0;
    mpk_pack_map(&a.pk, vn);
    for (size_t i = 0; i < vn; i++) {
        mpk_pack_id(&a.pk, &vector->entries[i].origin);
        mpk_pack_u64(&a.pk, vector->entries[i].seq);
    }
    if (source)
        mpk_pack_id(&a.pk, source);
    fx_result_t r = s_run(n, &a, true, NULL);
    mpk_out_release(&a);
    return r;
}

uint64_t
fx_install_snap(fx_node_t *n, const char *peer, const fx_snap_t *s)
{
    uint64_t installed = 0;
    size_t from = 0;
    for (size_t p = 0; p < s->pages; p++) {
        bool last = p + 1 == s->pages;
        fx_result_t r = fx_install(n, peer, s->items + from, s->page_end[p] - from, last,
                                   s->head, &s->vector);
        if (r.rc)
            fail_msg("install page %zu: rc=%d (%s) %s", p, r.rc, pdb_strerror(r.rc), r.why);
        installed += r.installed;
        from = s->page_end[p];
    }
    return installed;
}

void
fx_wal(fx_node_t *n, uint64_t after, fx_blob_t **items, size_t *count)
{
    *items = NULL;
    *count = 0;
    size_t cap = 0;
    MDB_txn *txn = fx_read_begin(n);
    MDB_cursor *cur;
    assert_int_equal(mdb_cursor_open(txn, fx_store(n)->wal, &cur), 0);
    uint8_t kbuf[8];
    store_key_seq(kbuf, after + 1);
    MDB_val key = { sizeof kbuf, kbuf }, val;
    int rc;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
        s_blob_push(items, count, &cap, val.mv_data, val.mv_size);
    assert_int_equal(rc, MDB_NOTFOUND);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
}

fx_result_t
fx_apply(fx_node_t *n, const char *peer, const fx_blob_t *items, size_t count, int *results)
{
    uint64_t cursor = 0;
    if (count > 0) {
        change_t last;
        assert_int_equal(change_decode(items[count - 1].data, items[count - 1].len, &last), 0);
        cursor = last.seq;
    }
    mpk_out_t a;
    mpk_out_init(&a);
    mpk_pack_array(&a.pk, 3);
    mpk_pack_str(&a.pk, peer);
    mpk_pack_u64(&a.pk, cursor);
    mpk_pack_array(&a.pk, count);
    for (size_t i = 0; i < count; i++)
        mpk_pack_bin(&a.pk, items[i].data, items[i].len);
    fx_result_t r = s_run(n, &a, false, results);
    mpk_out_release(&a);
    return r;
}

int
fx_handle(fx_node_t *n, const char *op, const mpk_out_t *args, mpk_out_t *result,
          storage_stats_t *stats, char why[PDB_ERRMSG_MAX])
{
    mpk_out_t req;
    mpk_out_init(&req);
    sproto_pack_request(&req.pk, 7, op, args ? args->buf.data : NULL, args ? args->buf.size : 0);
    assert_int_equal(mpk_out_status(&req), 0);
    msgpack_unpacked u;
    handlers_request_t hr;
    assert_int_equal(handlers_parse(req.buf.data, req.buf.size, &u, &hr, why), 0);
    storage_stats_t local_stats = { 0 };
    handlers_ctx_t ctx = { n->ing, stats ? stats : &local_stats, clock_wall_ms() };
    mpk_out_t own, *out = result ? result : &own;
    mpk_out_init(out);
    MDB_txn *txn = fx_write_begin(n);
    int rc = handlers_run(&ctx, txn, &hr, out, why);
    if (rc == 0)
        assert_int_equal(mdb_txn_commit(txn), 0);
    else
        mdb_txn_abort(txn);
    if (!result)
        mpk_out_release(&own);
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&req);
    return rc;
}
