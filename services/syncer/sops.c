#include "sops.h"
#include "mpk.h"
#include "sproto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

//  Sends args (owned by the caller) and decodes the result into u (caller
//  destroys it on 0). *result_buf must be freed by the caller either way.
static int
s_call(sclient_t *storage, const char *op, mpk_out_t *args, void **result_buf,
       msgpack_unpacked *u, bool *has_result, char *why)
{
    *result_buf = NULL;
    *has_result = false;
    why[0] = '\0';
    int rc = mpk_out_status(args);
    size_t len = 0;
    if (!rc)
        rc = sclient_call(storage, op, args->buf.data, args->buf.size, result_buf, &len, why);
    if (rc)
        return rc;
    if (!*result_buf)
        return 0;
    if (mpk_parse(*result_buf, len, u) != 0) {
        snprintf(why, PDB_ERRMSG_MAX, "storage sent an undecodable %s result", op);
        return PDB_EPROTO;
    }
    *has_result = true;
    return 0;
}

//  Reads a [u64, u64...] result of at least n items.
static int
s_u64s(const msgpack_object *o, uint64_t *out, size_t n)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < n)
        return PDB_EPROTO;
    for (size_t i = 0; i < n; i++)
        if (mpk_get_u64(&o->via.array.ptr[i], &out[i]))
            return PDB_EPROTO;
    return 0;
}

static int
s_finish(int rc, mpk_out_t *args, void *buf, msgpack_unpacked *u, bool has, const char *op,
         char *why)
{
    if (rc == PDB_EPROTO && why[0] == '\0')
        snprintf(why, PDB_ERRMSG_MAX, "storage sent an unexpected %s result", op);
    if (has)
        msgpack_unpacked_destroy(u);
    free(buf);
    mpk_out_release(args);
    return rc;
}

static int
s_apply_results(const msgpack_object *o, int *results, size_t n, uint64_t *head, char *held)
{
    const char *text = "";
    size_t text_len = 0;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 2 || o->via.array.size > 3
        || o->via.array.ptr[0].type != MSGPACK_OBJECT_ARRAY
        || o->via.array.ptr[0].via.array.size != n
        || mpk_get_u64(&o->via.array.ptr[1], head)
        || (o->via.array.size == 3 && mpk_get_str(&o->via.array.ptr[2], &text, &text_len)))
        return PDB_EPROTO;
    if (held)
        snprintf(held, PDB_ERRMSG_MAX, "%.*s", (int) (text_len < PDB_ERRMSG_MAX - 1
                                                      ? text_len : PDB_ERRMSG_MAX - 1), text);
    for (size_t i = 0; i < n; i++) {
        int64_t v;
        if (mpk_get_i64(&o->via.array.ptr[0].via.array.ptr[i], &v) || v > 1 || v < INT32_MIN)
            return PDB_EPROTO;
        results[i] = (int) v;
    }
    return 0;
}

int
sops_apply_pack(mpk_out_t *args, const char *peer, uint64_t cursor,
                const sync_blob_t *changes, size_t n, bool partial)
{
    mpk_out_init(args);
    mpk_pack_array(&args->pk, partial ? 4 : 3);
    mpk_pack_str(&args->pk, peer);
    mpk_pack_u64(&args->pk, cursor);
    mpk_pack_array(&args->pk, n);
    for (size_t i = 0; i < n; i++)
        mpk_pack_bin(&args->pk, changes[i].data, changes[i].len);
    if (partial)
        mpk_pack_bool(&args->pk, true);
    return mpk_out_status(args);
}

int
sops_apply_result(const void *result, size_t len, int *results, size_t n, uint64_t *head,
                  char held[PDB_ERRMSG_MAX], char why[PDB_ERRMSG_MAX])
{
    msgpack_unpacked u;
    uint64_t ignored;
    int rc = result && mpk_parse(result, len, &u) == 0 ? 0 : PDB_EPROTO;
    if (!rc) {
        rc = s_apply_results(&u.data, results, n, head ? head : &ignored, held);
        msgpack_unpacked_destroy(&u);
    }
    if (rc)
        snprintf(why, PDB_ERRMSG_MAX, "storage sent an unexpected apply result");
    return rc;
}

int
sops_apply(sclient_t *storage, const char *peer, uint64_t cursor,
           const sync_blob_t *changes, size_t n, bool partial, int *results, uint64_t *head,
           char held[PDB_ERRMSG_MAX], char why[PDB_ERRMSG_MAX])
{
    mpk_out_t args;
    (void) sops_apply_pack(&args, peer, cursor, changes, n, partial);
    void *buf;
    msgpack_unpacked u;
    bool has;
    int rc = s_call(storage, "apply", &args, &buf, &u, &has, why);
    uint64_t ignored;
    if (!rc)
        rc = has ? s_apply_results(&u.data, results, n, head ? head : &ignored, held)
                 : PDB_EPROTO;
    return s_finish(rc, &args, buf, &u, has, "apply", why);
}

int
sops_peer_set_packed(sclient_t *storage, const char *peer, const void *map, size_t len,
                     char why[PDB_ERRMSG_MAX])
{
    mpk_out_t args;
    mpk_out_init(&args);
    mpk_pack_array(&args.pk, 2);
    mpk_pack_str(&args.pk, peer);
    //  Already-packed MessagePack goes in as is, through the sticky-error writer.
    (void) args.pk.callback(args.pk.data, map, len);
    void *buf;
    msgpack_unpacked u;
    bool has;
    int rc = s_call(storage, "peer_set", &args, &buf, &u, &has, why);
    return s_finish(rc, &args, buf, &u, has, "peer_set", why);
}

//  [peer, {fields}] for "peer_set", packed into args (initialised here).
static int
s_pack_peer_set(mpk_out_t *args, const char *peer, const sops_kv_t *kv, size_t n)
{
    mpk_out_init(args);
    mpk_pack_array(&args->pk, 2);
    mpk_pack_str(&args->pk, peer);
    mpk_pack_map(&args->pk, n);
    for (size_t i = 0; i < n; i++) {
        mpk_pack_str(&args->pk, kv[i].key);
        if (kv[i].kind == SOPS_U64)
            mpk_pack_u64(&args->pk, kv[i].u);
        else if (kv[i].kind == SOPS_ID)
            mpk_pack_id(&args->pk, kv[i].id);
        else
            mpk_pack_str(&args->pk, kv[i].s ? kv[i].s : "");
    }
    return mpk_out_status(args);
}

int
sops_peer_set(sclient_t *storage, const char *peer, const sops_kv_t *kv, size_t n,
              char why[PDB_ERRMSG_MAX])
{
    mpk_out_t args;
    int rc = s_pack_peer_set(&args, peer, kv, n);
    void *buf = NULL;
    msgpack_unpacked u;
    bool has = false;
    if (!rc)
        rc = s_call(storage, "peer_set", &args, &buf, &u, &has, why);
    return s_finish(rc, &args, buf, &u, has, "peer_set", why);
}

int
sops_peer_set_send(sclient_t *storage, const char *peer, const sops_kv_t *kv, size_t n,
                   char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    mpk_out_t args;
    uint64_t request_id;
    int rc = s_pack_peer_set(&args, peer, kv, n);
    if (!rc)
        rc = sclient_send(storage, "peer_set", args.buf.data, args.buf.size, &request_id, why);
    mpk_out_release(&args);
    return rc;
}

int
sops_peer_del(sclient_t *storage, const char *peer, char why[PDB_ERRMSG_MAX])
{
    mpk_out_t args;
    mpk_out_init(&args);
    mpk_pack_array(&args.pk, 1);
    mpk_pack_str(&args.pk, peer);
    void *buf;
    msgpack_unpacked u;
    bool has;
    int rc = s_call(storage, "peer_del", &args, &buf, &u, &has, why);
    return s_finish(rc, &args, buf, &u, has, "peer_del", why);
}

int
sops_install(sclient_t *storage, const char *peer, const sync_blob_t *entities, size_t n,
             bool done, uint64_t snapshot_seq, const vv_entry_t *vector, size_t vector_n,
             const pdb_id_t *source, uint64_t *installed, char why[PDB_ERRMSG_MAX])
{
    mpk_out_t args;
    mpk_out_init(&args);
    mpk_pack_array(&args.pk, 6);
    mpk_pack_str(&args.pk, peer);
    mpk_pack_array(&args.pk, n);
    for (size_t i = 0; i < n; i++)
        mpk_pack_bin(&args.pk, entities[i].data, entities[i].len);
    mpk_pack_bool(&args.pk, done);
    mpk_pack_u64(&args.pk, snapshot_seq);
    mpk_pack_map(&args.pk, vector_n);
    for (size_t i = 0; i < vector_n; i++) {
        mpk_pack_id(&args.pk, &vector[i].origin);
        mpk_pack_u64(&args.pk, vector[i].seq);
    }
    mpk_pack_id(&args.pk, source);
    void *buf;
    msgpack_unpacked u;
    bool has;
    int rc = s_call(storage, "install", &args, &buf, &u, &has, why);
    uint64_t r[2];
    if (!rc)
        rc = has ? s_u64s(&u.data, r, 2) : PDB_EPROTO;
    if (!rc && installed)
        *installed = r[0];
    return s_finish(rc, &args, buf, &u, has, "install", why);
}

//  An op taking two numbers and answering n numbers (compact, purge).
static int
s_call_pair(sclient_t *storage, const char *op, uint64_t a, uint64_t b, uint64_t *out,
            size_t n, char why[PDB_ERRMSG_MAX])
{
    mpk_out_t args;
    mpk_out_init(&args);
    mpk_pack_array(&args.pk, 2);
    mpk_pack_u64(&args.pk, a);
    mpk_pack_u64(&args.pk, b);
    void *buf;
    msgpack_unpacked u;
    bool has;
    int rc = s_call(storage, op, &args, &buf, &u, &has, why);
    if (!rc)
        rc = has ? s_u64s(&u.data, out, n) : PDB_EPROTO;
    return s_finish(rc, &args, buf, &u, has, op, why);
}

int
sops_compact(sclient_t *storage, uint64_t below_seq, uint64_t max_entries,
             uint64_t *deleted, uint64_t *floor, char why[PDB_ERRMSG_MAX])
{
    uint64_t r[2];
    int rc = s_call_pair(storage, "compact", below_seq, max_entries, r, 2, why);
    if (!rc) {
        *deleted = r[0];
        *floor = r[1];
    }
    return rc;
}

int
sops_purge(sclient_t *storage, uint64_t older_than_ms, uint64_t max_entries,
           uint64_t *purged, char why[PDB_ERRMSG_MAX])
{
    uint64_t r[1];
    int rc = s_call_pair(storage, "purge", older_than_ms, max_entries, r, 1, why);
    if (!rc)
        *purged = r[0];
    return rc;
}
