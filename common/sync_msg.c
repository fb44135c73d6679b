#include "sync_msg.h"
#include "bounds.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum { K_ID, K_U64, K_BOOL, K_STR, K_VECTOR, K_BLOBS, K_IDS, K_STRS, K_ERR } s_kind_t;

typedef struct {
    const char *key;
    s_kind_t kind;
    bool required;
    size_t offset;            // of the value (K_STR: pointer; K_ID: pdb_id_t ...)
    size_t aux;               // K_STR: offset of the length; K_ID: offset of has_ flag or 0
    uint64_t max;             // K_STR bytes, K_U64 value, lists items
} s_field_t;

#define F(key, kind, req, member, aux, max) { key, kind, req, offsetof(sync_msg_t, member), aux, max }
#define NOAUX 0
#define LEN(member) offsetof(sync_msg_t, member)

static const s_field_t s_hello[] = {
    F("instance", K_ID, true, from, NOAUX, 0),
    F("target", K_ID, false, target, LEN(has_target), 0),
    F("protocol", K_U64, true, protocol, NOAUX, UINT32_MAX),
    F("capabilities", K_STRS, false, protocol, NOAUX, 16),
    F("vector", K_VECTOR, true, vector, LEN(vector_n), SYNC_VECTOR_MAX),
    F("token", K_STR, false, token, LEN(token_len), SYNC_TOKEN_MAX),
};
static const s_field_t s_hello_ok[] = {
    F("responder", K_ID, true, from, NOAUX, 0),
    F("accepted", K_BOOL, true, accepted, NOAUX, 0),
    F("reason", K_STR, false, reason, LEN(reason_len), PDB_ERRMSG_MAX),
    F("max_batch_bytes", K_U64, true, max_batch_bytes, NOAUX, UINT64_MAX),
    F("head", K_U64, true, head, NOAUX, UINT64_MAX),
    F("floor", K_U64, true, floor, NOAUX, UINT64_MAX),
    F("vector", K_VECTOR, true, vector, LEN(vector_n), SYNC_VECTOR_MAX),
};
static const s_field_t s_push[] = {
    F("source", K_ID, true, from, NOAUX, 0),
    F("target", K_ID, true, target, LEN(has_target), 0),
    F("changes", K_BLOBS, true, changes, LEN(changes_n), PDB_BATCH_MAX),
    F("filtered", K_BOOL, false, filtered, NOAUX, 0),
};
static const s_field_t s_push_ok[] = {
    F("responder", K_ID, true, from, NOAUX, 0),
    F("accepted", K_U64, true, accepted_n, NOAUX, PDB_BATCH_MAX),
    F("stale", K_U64, true, stale_n, NOAUX, PDB_BATCH_MAX),
    F("missing", K_U64, true, missing_n, NOAUX, PDB_BATCH_MAX),
    F("safe_through", K_U64, true, safe_through, NOAUX, UINT64_MAX),
};
static const s_field_t s_pull[] = {
    F("source", K_ID, true, from, NOAUX, 0),
    F("target", K_ID, true, target, LEN(has_target), 0),
    F("cursor", K_U64, true, cursor, NOAUX, UINT64_MAX),
    F("max_changes", K_U64, true, max_changes, NOAUX, PDB_BATCH_MAX),
    F("max_bytes", K_U64, true, max_bytes, NOAUX, PDB_MSG_MAX),
    F("wait_ms", K_U64, true, wait_ms, NOAUX, SYNC_WAIT_MAX_MS),
    F("collectives", K_IDS, false, collectives, LEN(collectives_n), SYNC_FILTER_MAX),
    F("vector", K_VECTOR, false, vector, LEN(vector_n), SYNC_VECTOR_MAX),
};
static const s_field_t s_pull_ok[] = {
    F("responder", K_ID, true, from, NOAUX, 0),
    F("changes", K_BLOBS, true, changes, LEN(changes_n), PDB_BATCH_MAX),
    F("next_cursor", K_U64, true, next_cursor, NOAUX, UINT64_MAX),
    F("has_more", K_BOOL, true, has_more, NOAUX, 0),
    F("head", K_U64, true, head, NOAUX, UINT64_MAX),
};
static const s_field_t s_snapshot[] = {
    F("source", K_ID, true, from, NOAUX, 0),
    F("target", K_ID, true, target, LEN(has_target), 0),
    F("collectives", K_IDS, false, collectives, LEN(collectives_n), SYNC_FILTER_MAX),
    F("page_token", K_STR, false, page_token, LEN(page_token_len), 64),
    F("max_entities", K_U64, true, max_changes, NOAUX, PDB_BATCH_MAX),
};
static const s_field_t s_snapshot_ok[] = {
    F("responder", K_ID, true, from, NOAUX, 0),
    F("entities", K_BLOBS, true, changes, LEN(changes_n), PDB_BATCH_MAX),
    F("page_token", K_STR, false, page_token, LEN(page_token_len), 64),
    F("total", K_U64, true, total, NOAUX, UINT64_MAX),
    F("done", K_BOOL, true, done, NOAUX, 0),
    F("snapshot_seq", K_U64, true, snapshot_seq, NOAUX, UINT64_MAX),
    F("vector", K_VECTOR, true, vector, LEN(vector_n), SYNC_VECTOR_MAX),
};
static const s_field_t s_error[] = {
    F("code", K_ERR, true, error, NOAUX, 0),
    F("detail", K_STR, true, detail, LEN(detail_len), PDB_ERRMSG_MAX),
    F("responder", K_ID, false, from, NOAUX, 0),
};

typedef struct {
    const char *name;
    const s_field_t *fields;
    size_t count;
} s_op_t;

#define OP(name, table) { name, table, sizeof table / sizeof table[0] }
static const s_op_t s_ops[] = {
    [SYNC_HELLO] = OP("hello", s_hello),          [SYNC_PUSH] = OP("push", s_push),
    [SYNC_PULL] = OP("pull", s_pull),             [SYNC_SNAPSHOT] = OP("snapshot", s_snapshot),
    [SYNC_HELLO_OK] = OP("hello_ok", s_hello_ok), [SYNC_PUSH_OK] = OP("push_ok", s_push_ok),
    [SYNC_PULL_OK] = OP("pull_ok", s_pull_ok),
    [SYNC_SNAPSHOT_OK] = OP("snapshot_ok", s_snapshot_ok),
    [SYNC_ERROR] = OP("error", s_error),
};
#define S_OP_COUNT (sizeof s_ops / sizeof s_ops[0])

static const char *const s_errs[] = {
    [SYNC_ERR_PROTOCOL_VERSION] = "protocol_version", [SYNC_ERR_UNAUTHORIZED] = "unauthorized",
    [SYNC_ERR_CURSOR_BELOW_FLOOR] = "cursor_below_floor", [SYNC_ERR_TOO_LARGE] = "too_large",
    [SYNC_ERR_BAD_REQUEST] = "bad_request", [SYNC_ERR_BUSY] = "busy",
    [SYNC_ERR_INTERNAL] = "internal", [SYNC_ERR_FORBIDDEN] = "forbidden",
};
#define S_ERR_COUNT (sizeof s_errs / sizeof s_errs[0])

const char *
sync_msg_op_name(sync_op_t op)
{
    return (size_t) op < S_OP_COUNT && s_ops[op].name ? s_ops[op].name : "unknown";
}

const char *
sync_msg_err_name(sync_err_t code)
{
    return (size_t) code < S_ERR_COUNT && s_errs[code] ? s_errs[code] : "internal";
}

#define AT(msg, off, type) ((type *) ((char *) (msg) + (off)))
//  `type const *`, not `const type *`: for a pointer type (const char *) the
//  const must land on the member itself, not repeat on what it points to.
#define AT_C(msg, off, type) ((type const *) ((const char *) (msg) + (off)))

//  --------------------------------------------------------------------------
//  Packing

static bool
s_present(const sync_msg_t *msg, const s_field_t *f)
{
    switch (f->kind) {
    case K_ID:  return f->aux ? *AT_C(msg, f->aux, bool) : true;
    case K_STR: return *AT_C(msg, f->offset, const char *) != NULL;
    case K_IDS: return *AT_C(msg, f->aux, size_t) > 0;
    case K_VECTOR: return f->required || msg->has_vector;
    //  An optional flag is sent only when set: peers that predate it
    //  refuse unknown keys.
    case K_BOOL: return f->required || *AT_C(msg, f->offset, bool);
    case K_STRS: return false;
    default:    return true;
    }
}

static void
s_pack_value(msgpack_packer *pk, const sync_msg_t *msg, const s_field_t *f)
{
    switch (f->kind) {
    case K_ID:   mpk_pack_id(pk, AT_C(msg, f->offset, pdb_id_t)); break;
    case K_BOOL: mpk_pack_bool(pk, *AT_C(msg, f->offset, bool)); break;
    case K_ERR:  mpk_pack_str(pk, sync_msg_err_name(msg->error)); break;
    case K_U64:
        mpk_pack_u64(pk, f->max == UINT32_MAX ? *AT_C(msg, f->offset, uint32_t)
                                              : *AT_C(msg, f->offset, uint64_t));
        break;
    case K_STR:
        mpk_pack_strn(pk, *AT_C(msg, f->offset, const char *), *AT_C(msg, f->aux, size_t));
        break;
    case K_VECTOR:
        mpk_pack_map(pk, msg->vector_n);
        for (size_t i = 0; i < msg->vector_n; i++) {
            mpk_pack_id(pk, &msg->vector[i].origin);
            mpk_pack_u64(pk, msg->vector[i].seq);
        }
        break;
    case K_BLOBS:
        mpk_pack_array(pk, msg->changes_n);
        for (size_t i = 0; i < msg->changes_n; i++)
            mpk_pack_bin(pk, msg->changes[i].data, msg->changes[i].len);
        break;
    case K_IDS:
        mpk_pack_array(pk, msg->collectives_n);
        for (size_t i = 0; i < msg->collectives_n; i++)
            mpk_pack_id(pk, &msg->collectives[i]);
        break;
    case K_STRS:
        break;
    }
}

void
sync_msg_pack(msgpack_packer *pk, const sync_msg_t *msg)
{
    const s_op_t *op = &s_ops[msg->op];
    size_t n = 0;
    for (size_t i = 0; i < op->count; i++)
        n += s_present(msg, &op->fields[i]);
    mpk_pack_array(pk, 3);
    mpk_pack_u64(pk, SYNC_PROTOCOL_VERSION);
    mpk_pack_str(pk, op->name);
    mpk_pack_map(pk, n);
    for (size_t i = 0; i < op->count; i++) {
        if (!s_present(msg, &op->fields[i]))
            continue;
        mpk_pack_str(pk, op->fields[i].key);
        s_pack_value(pk, msg, &op->fields[i]);
    }
}

//  --------------------------------------------------------------------------
//  Decoding

static int
s_entry_cmp(const void *a, const void *b)
{
    return pdb_id_cmp(&((const vv_entry_t *) a)->origin, &((const vv_entry_t *) b)->origin);
}

static int
s_decode_vector(const msgpack_object *v, const s_field_t *f, sync_msg_t *msg, char *why)
{
    if (v->type != MSGPACK_OBJECT_MAP)
        return WHY(PDB_EINVAL, "'%s' must be a map of origin -> seq", f->key);
    if (v->via.map.size > f->max)
        return WHY(PDB_ETOOBIG, "'%s' has more than %llu origins", f->key,
                   (unsigned long long) f->max);
    msg->vector = calloc(v->via.map.size ? v->via.map.size : 1, sizeof *msg->vector);
    if (!msg->vector)
        return -ENOMEM;
    for (uint32_t i = 0; i < v->via.map.size; i++) {
        if (mpk_get_id(&v->via.map.ptr[i].key, &msg->vector[i].origin)
            || mpk_get_u64(&v->via.map.ptr[i].val, &msg->vector[i].seq))
            return WHY(PDB_EINVAL, "'%s' entry %u is not origin -> seq", f->key, i);
    }
    msg->vector_n = v->via.map.size;
    msg->has_vector = true;
    //  Kept sorted so vv_get can search it; a repeated origin is a lie.
    qsort(msg->vector, msg->vector_n, sizeof *msg->vector, s_entry_cmp);
    for (size_t i = 1; i < msg->vector_n; i++)
        if (pdb_id_cmp(&msg->vector[i - 1].origin, &msg->vector[i].origin) == 0)
            return WHY(PDB_EINVAL, "'%s' names an origin twice", f->key);
    return 0;
}

static int
s_decode_list(const msgpack_object *v, const s_field_t *f, sync_msg_t *msg, char *why)
{
    if (v->type != MSGPACK_OBJECT_ARRAY)
        return WHY(PDB_EINVAL, "'%s' must be a list", f->key);
    uint32_t n = v->via.array.size;
    if (n > f->max)
        return WHY(f->kind == K_BLOBS ? PDB_ETOOBIG : PDB_EINVAL,
                   "'%s' has %u items, over the limit of %llu", f->key, n,
                   (unsigned long long) f->max);
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *item = &v->via.array.ptr[i];
        //  A change over the limit is "too large", never skipped: the sender
        //  must stop and say so rather than retry it forever as malformed.
        if (f->kind == K_BLOBS && item->type == MSGPACK_OBJECT_BIN
            && item->via.bin.size > PDB_CHANGE_MAX + 256)
            return WHY(PDB_ETOOBIG, "'%s' item %u is %u bytes, over the limit of %u", f->key, i,
                       item->via.bin.size, PDB_CHANGE_MAX + 256);
        bool ok = f->kind == K_BLOBS ? item->type == MSGPACK_OBJECT_BIN
                : f->kind == K_IDS   ? item->type == MSGPACK_OBJECT_BIN
                                       && item->via.bin.size == PDB_ID_LEN
                : item->type == MSGPACK_OBJECT_STR && item->via.str.size <= 64;
        if (!ok)
            return WHY(PDB_EINVAL, "'%s' item %u has the wrong type or size", f->key, i);
    }
    if (f->kind == K_BLOBS) {
        msg->changes = calloc(n ? n : 1, sizeof *msg->changes);
        if (!msg->changes)
            return -ENOMEM;
        for (uint32_t i = 0; i < n; i++)
            msg->changes[i] = (sync_blob_t) { (const uint8_t *) v->via.array.ptr[i].via.bin.ptr,
                                              v->via.array.ptr[i].via.bin.size };
        msg->changes_n = n;
    }
    else if (f->kind == K_IDS) {
        msg->collectives = calloc(n ? n : 1, sizeof *msg->collectives);
        if (!msg->collectives)
            return -ENOMEM;
        for (uint32_t i = 0; i < n; i++)
            memcpy(msg->collectives[i].b, v->via.array.ptr[i].via.bin.ptr, PDB_ID_LEN);
        msg->collectives_n = n;
    }
    return 0;
}

static int
s_decode_err(const msgpack_object *v, sync_msg_t *msg, char *why)
{
    for (size_t i = 1; i < S_ERR_COUNT; i++) {
        if (mpk_is_str(v, s_errs[i])) {
            msg->error = (sync_err_t) i;
            return 0;
        }
    }
    return WHY(PDB_EINVAL, "unknown error code");
}

static int
s_decode_field(const msgpack_object *v, const s_field_t *f, sync_msg_t *msg, char *why)
{
    uint64_t u;
    switch (f->kind) {
    case K_ID:
        if (mpk_get_id(v, AT(msg, f->offset, pdb_id_t)))
            return WHY(PDB_EINVAL, "'%s' must be a 16-byte id", f->key);
        if (f->aux)
            *AT(msg, f->aux, bool) = true;
        return 0;
    case K_U64:
        if (mpk_get_u64(v, &u) || u > f->max)
            return WHY(PDB_EINVAL, "'%s' must be an integer up to %llu", f->key,
                       (unsigned long long) f->max);
        if (f->max == UINT32_MAX)
            *AT(msg, f->offset, uint32_t) = (uint32_t) u;
        else
            *AT(msg, f->offset, uint64_t) = u;
        return 0;
    case K_BOOL:
        if (v->type != MSGPACK_OBJECT_BOOLEAN)
            return WHY(PDB_EINVAL, "'%s' must be true or false", f->key);
        *AT(msg, f->offset, bool) = v->via.boolean;
        return 0;
    case K_STR:
        if (v->type != MSGPACK_OBJECT_STR || v->via.str.size > f->max)
            return WHY(PDB_EINVAL, "'%s' must be a string of at most %llu bytes", f->key,
                       (unsigned long long) f->max);
        *AT(msg, f->offset, const char *) = v->via.str.ptr;
        *AT(msg, f->aux, size_t) = v->via.str.size;
        return 0;
    case K_ERR:    return s_decode_err(v, msg, why);
    case K_VECTOR: return s_decode_vector(v, f, msg, why);
    case K_BLOBS:
    case K_IDS:
    case K_STRS:   return s_decode_list(v, f, msg, why);
    }
    return PDB_EINVAL;
}

static int
s_decode_body(const msgpack_object *body, const s_op_t *op, sync_msg_t *msg, char *why)
{
    if (body->type != MSGPACK_OBJECT_MAP)
        return WHY(PDB_EINVAL, "%s body must be a map", op->name);
    bool seen[16] = { false };
    for (uint32_t i = 0; i < body->via.map.size; i++) {
        const msgpack_object_kv *kv = &body->via.map.ptr[i];
        size_t f = 0;
        while (f < op->count && !mpk_is_str(&kv->key, op->fields[f].key))
            f++;
        if (f == op->count)
            return WHY(PDB_EINVAL, "%s has an unknown key (entry %u)", op->name, i);
        if (seen[f])
            return WHY(PDB_EINVAL, "%s has '%s' twice", op->name, op->fields[f].key);
        seen[f] = true;
        int rc = s_decode_field(&kv->val, &op->fields[f], msg, why);
        if (rc)
            return rc;
    }
    for (size_t f = 0; f < op->count; f++)
        if (op->fields[f].required && !seen[f])
            return WHY(PDB_EINVAL, "%s lacks '%s'", op->name, op->fields[f].key);
    return 0;
}

int
sync_msg_decode(const void *data, size_t len, sync_msg_t *msg, char why[PDB_ERRMSG_MAX])
{
    memset(msg, 0, sizeof *msg);
    msgpack_unpacked u;
    if (len > PDB_MSG_MAX)
        return WHY(PDB_ETOOBIG, "message of %zu bytes is over the limit of %u", len, PDB_MSG_MAX);
    if (mpk_parse(data, len, &u))
        return WHY(PDB_EINVAL, "message is not one well-formed MessagePack value");
    const msgpack_object *o = &u.data;
    uint64_t version = 0;
    int rc = 0;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 3
        || mpk_get_u64(&o->via.array.ptr[0], &version))
        rc = WHY(PDB_EINVAL, "message must be [version, op, body]");
    else if (version != SYNC_PROTOCOL_VERSION)
        rc = WHY(PDB_EPROTO, "protocol version %llu is not supported (this node speaks %u)",
                 (unsigned long long) version, SYNC_PROTOCOL_VERSION);
    size_t op = 1;
    while (!rc && op < S_OP_COUNT && !mpk_is_str(&o->via.array.ptr[1], s_ops[op].name))
        op++;
    if (!rc && op == S_OP_COUNT)
        rc = WHY(PDB_EINVAL, "unknown operation");
    if (!rc) {
        msg->op = (sync_op_t) op;
        rc = s_decode_body(&o->via.array.ptr[2], &s_ops[op], msg, why);
    }
    msgpack_unpacked_destroy(&u);
    if (rc)
        sync_msg_release(msg);
    return rc;
}

void
sync_msg_release(sync_msg_t *msg)
{
    free(msg->vector);
    free(msg->changes);
    free(msg->collectives);
    memset(msg, 0, sizeof *msg);
}
