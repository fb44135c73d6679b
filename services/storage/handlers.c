#include "handlers.h"
#include "bounds.h"
#include "local.h"
#include "batch.h"
#include "compact.h"
#include "install.h"
#include "peers.h"
#include "sproto.h"
#include "wal.h"
#include "wbatch.h"

#include <stdlib.h>
#include <string.h>

static bool
s_op_is(const handlers_request_t *req, const char *name)
{
    return strlen(name) == req->op_len && memcmp(name, req->op, req->op_len) == 0;
}

int
handlers_parse(const void *data, size_t len, msgpack_unpacked *u, handlers_request_t *req,
               char why[PDB_ERRMSG_MAX])
{
    memset(req, 0, sizeof *req);
    if (mpk_parse(data, len, u))
        return WHY(PDB_EPROTO, "request is not one well-formed MessagePack value");
    const msgpack_object *o = &u->data;
    uint64_t version = 0;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4
        || mpk_get_u64(&o->via.array.ptr[0], &version)
        || mpk_get_u64(&o->via.array.ptr[1], &req->request_id)
        || mpk_get_str(&o->via.array.ptr[2], &req->op, &req->op_len)
        || o->via.array.ptr[3].type != MSGPACK_OBJECT_ARRAY) {
        msgpack_unpacked_destroy(u);
        return WHY(PDB_EPROTO, "request must be [version, id, op, [args]]");
    }
    if (version != SPROTO_VERSION) {
        msgpack_unpacked_destroy(u);
        return WHY(PDB_EPROTO, "protocol version %llu not supported (this storage speaks %u)",
                   (unsigned long long) version, SPROTO_VERSION);
    }
    req->args = &o->via.array.ptr[3];
    return 0;
}

bool
handlers_is_read(const handlers_request_t *req)
{
    return s_op_is(req, "ping") || s_op_is(req, "stats");
}

//  --------------------------------------------------------------------------

static int
s_optional_id(const msgpack_object *obj, pdb_id_t *id, const pdb_id_t **out)
{
    *out = NULL;
    if (obj->type == MSGPACK_OBJECT_NIL)
        return 0;
    if (mpk_get_id(obj, id))
        return PDB_EINVAL;
    *out = id;
    return 0;
}

static void
s_pack_id_seq(mpk_out_t *out, const pdb_id_t *id, uint64_t seq)
{
    mpk_pack_array(&out->pk, 2);
    mpk_pack_id(&out->pk, id);
    mpk_pack_u64(&out->pk, seq);
}

static int
s_write(const handlers_ctx_t *ctx, MDB_txn *txn, const msgpack_object *args, mpk_out_t *out,
        char *why)
{
    const msgpack_object *a = args->via.array.ptr;
    uint64_t entity, op;
    pdb_id_t coll, id;
    local_write_t w;
    uint32_t argc = args->via.array.size;
    if ((argc != 5 && argc != 6) || mpk_get_u64(&a[0], &entity) || mpk_get_u64(&a[1], &op)
        || entity > ENT_INSIGHT || op > OP_DELETE     // before narrowing to int
        || !entity_type_valid((int) entity) || !entity_op_valid((int) op)
        || s_optional_id(&a[2], &coll, &w.collective_id)
        || s_optional_id(&a[3], &id, &w.entity_id)
        || mpk_get_bin(&a[4], &w.fields, &w.fields_len)
        || (argc == 6 && a[5].type != MSGPACK_OBJECT_BOOLEAN))
        return WHY(PDB_EINVAL, "write takes [entity, op, collective|nil, id|nil, bin fields, "
                   "record?]");
    w.entity = (ent_type_t) entity;
    w.op = (change_op_t) op;
    mpk_out_t record;
    mpk_out_init(&record);
    bool want_record = argc == 6 && a[5].via.boolean && w.op == OP_CREATE;
    pdb_id_t new_id;
    uint64_t seq;
    int rc = local_write_record(&ctx->ingest, txn, &w, ctx->wall_ms, &new_id, &seq,
                                want_record ? &record : NULL, why);
    if (!rc && want_record) {
        mpk_pack_array(&out->pk, 3);
        mpk_pack_id(&out->pk, &new_id);
        mpk_pack_u64(&out->pk, seq);
        mpk_pack_bin(&out->pk, record.buf.data, record.buf.size);
    }
    else if (!rc)
        s_pack_id_seq(out, &new_id, seq);
    mpk_out_release(&record);
    return rc;
}

static int
s_reinforce(const handlers_ctx_t *ctx, MDB_txn *txn, const msgpack_object *args,
            mpk_out_t *out, char *why)
{
    pdb_id_t id;
    if (args->via.array.size != 1 || mpk_get_id(&args->via.array.ptr[0], &id))
        return WHY(PDB_EINVAL, "reinforce takes [experience id]");
    uint64_t seq;
    int rc = local_reinforce(&ctx->ingest, txn, &id, ctx->wall_ms, &seq, why);
    if (!rc)
        s_pack_id_seq(out, &id, seq);
    return rc;
}

static int
s_stats(const handlers_ctx_t *ctx, mpk_out_t *out)
{
    MDB_txn *txn;
    int rc = store_read_begin(ctx->ingest.store, &txn);
    if (rc)
        return rc;
    store_meta_t meta;
    rc = store_meta_read(ctx->ingest.store, txn, &meta);
    mdb_txn_abort(txn);
    if (rc)
        return rc;
    const storage_stats_t *s = ctx->stats;
    const struct { const char *name; uint64_t value; } counters[] = {
        { "wal_head", meta.wal_head }, { "wal_floor", meta.wal_floor },
        { "requests", s->requests }, { "commits", s->commits },
        { "group_max", s->group_max }, { "writes", s->writes }, { "run_us", s->run_us },
        { "commit_us", s->commit_us }, { "applied", s->applied }, { "known", s->known },
        { "missing", s->missing }, { "failed", s->failed }, { "conflicts", s->conflicts },
        { "installed", s->installed }, { "compacted", s->compacted }, { "purged", s->purged },
    };
    size_t n = sizeof counters / sizeof counters[0];
    mpk_pack_map(&out->pk, n + 2);
    mpk_pack_str(&out->pk, "instance_id");
    mpk_pack_id(&out->pk, &ctx->ingest.self);
    for (size_t i = 0; i < n; i++) {
        mpk_pack_str(&out->pk, counters[i].name);
        mpk_pack_u64(&out->pk, counters[i].value);
    }
    //  Commits by duration: [upper bound in µs (nil: none), commits] each.
    mpk_pack_str(&out->pk, "commit_buckets");
    mpk_pack_array(&out->pk, STORAGE_COMMIT_BOUNDS + 1);
    for (size_t i = 0; i <= STORAGE_COMMIT_BOUNDS; i++) {
        mpk_pack_array(&out->pk, 2);
        if (i < STORAGE_COMMIT_BOUNDS)
            mpk_pack_u64(&out->pk, storage_commit_bound_us(i));
        else
            mpk_pack_nil(&out->pk);
        mpk_pack_u64(&out->pk, s->commit_buckets[i]);
    }
    return 0;
}

int
handlers_run(const handlers_ctx_t *ctx, MDB_txn *txn, const handlers_request_t *req,
             mpk_out_t *out, char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    if (s_op_is(req, "ping"))
        return 0;
    if (s_op_is(req, "stats"))
        return s_stats(ctx, out);
    if (s_op_is(req, "write"))
        return s_write(ctx, txn, req->args, out, why);
    if (s_op_is(req, "reinforce"))
        return s_reinforce(ctx, txn, req->args, out, why);
    if (s_op_is(req, "write_batch"))
        return wbatch_run(&ctx->ingest, txn, req->args, ctx->wall_ms, out, why);
    if (s_op_is(req, "apply"))
        return batch_apply(&ctx->ingest, txn, req->args, out, ctx->stats, why);
    if (s_op_is(req, "peer_set"))
        return peers_set(ctx->ingest.store, txn, req->args, why);
    if (s_op_is(req, "peer_del"))
        return peers_del(ctx->ingest.store, txn, req->args, why);
    if (s_op_is(req, "install"))
        return install_run(&ctx->ingest, txn, req->args, ctx->wall_ms, out, ctx->stats, why);
    if (s_op_is(req, "compact"))
        return compact_wal(ctx->ingest.store, txn, req->args, out, ctx->stats, why);
    if (s_op_is(req, "purge"))
        return compact_purge(ctx->ingest.store, txn, req->args, out, ctx->stats, why);
    return WHY(PDB_EPROTO, "unknown operation '%.*s'", (int) (req->op_len > 32 ? 32
               : req->op_len), req->op);
}
