#include "peers.h"
#include "bounds.h"
#include "mpk.h"
#include "store_db.h"

#include <assert.h>
#include <string.h>

bool
peers_name_valid(const char *name, size_t len)
{
    return len > 0 && len <= PEERS_NAME_MAX && entity_utf8_valid(name, len);
}

static bool
s_is_cursor(const msgpack_object *key)
{
    return mpk_is_str(key, "pull_cursor") || mpk_is_str(key, "push_acked");
}

static bool
s_value_valid(const msgpack_object *v)
{
    switch (v->type) {
    case MSGPACK_OBJECT_NIL:
    case MSGPACK_OBJECT_BOOLEAN:
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return true;
    case MSGPACK_OBJECT_STR:
        return v->via.str.size <= PDB_STR_MAX;
    case MSGPACK_OBJECT_BIN:
        return v->via.bin.size <= PDB_STR_MAX;
    default:
        return false;
    }
}

//  Room kept in every row for pull_cursor and push_acked, so raising a
//  cursor never fails for want of space.
#define PEERS_CURSORS 2u

static uint32_t
s_count_others(const msgpack_object_kv *kvs, uint32_t n)
{
    uint32_t others = 0;
    for (uint32_t i = 0; i < n; i++)
        others += !s_is_cursor(&kvs[i].key);
    return others;
}

//  Writes old state overlaid with `update`; cursors keep the larger value.
//  Every stored field is kept: the row used to be cut at PEERS_FIELDS_MAX
//  entries on load, which could drop pull_cursor and let it move backwards.
//  An update adding fields past the limit is refused with PDB_ETOOBIG.
static int
s_merge_put(store_t *store, MDB_txn *txn, MDB_val *key, const msgpack_object *update)
{
    MDB_val val;
    msgpack_unpacked old;
    uint32_t n_old = 0;
    bool have_old = false;
    int rc = mdb_get(txn, store->peers, key, &val);
    if (rc == 0) {
        if (mpk_parse(val.mv_data, val.mv_size, &old))
            return PDB_ECORRUPT;
        have_old = true;
        n_old = old.data.type == MSGPACK_OBJECT_MAP ? old.data.via.map.size : UINT32_MAX;
        //  Rows written before the limit was enforced hold at most twice it.
        if (n_old > 2 * PEERS_FIELDS_MAX) {
            msgpack_unpacked_destroy(&old);
            return PDB_ECORRUPT;
        }
    }
    else if (rc != MDB_NOTFOUND)
        return pdb_from_mdb(rc);
    assert(update->via.map.size <= PEERS_FIELDS_MAX);
    msgpack_object_kv merged[3 * PEERS_FIELDS_MAX];
    uint32_t n = 0;
    bool added_other = false;
    for (uint32_t i = 0; i < n_old; i++)
        merged[n++] = old.data.via.map.ptr[i];
    for (uint32_t i = 0; i < update->via.map.size; i++) {
        const msgpack_object_kv *kv = &update->via.map.ptr[i];
        uint32_t j = 0;
        while (j < n && !mpk_key_equal(&merged[j].key, &kv->key))
            j++;
        bool lower = j < n && s_is_cursor(&kv->key)
                  && merged[j].val.type == MSGPACK_OBJECT_POSITIVE_INTEGER
                  && kv->val.via.u64 < merged[j].val.via.u64;
        if (j == n) {
            merged[n++] = *kv;
            added_other = added_other || !s_is_cursor(&kv->key);
        }
        else if (!lower)
            merged[j].val = kv->val;
    }
    if (added_other && s_count_others(merged, n) > PEERS_FIELDS_MAX - PEERS_CURSORS) {
        if (have_old)
            msgpack_unpacked_destroy(&old);
        return PDB_ETOOBIG;
    }
    msgpack_object map = { .type = MSGPACK_OBJECT_MAP, .via.map = { n, merged } };
    mpk_out_t out;
    mpk_out_init(&out);
    mpk_pack_canonical(&out.pk, &map);
    rc = mpk_out_status(&out);
    MDB_val nval = { out.buf.size, out.buf.data };
    //  Put before releasing `old`: merged entries point into it.
    if (!rc)
        rc = pdb_from_mdb(mdb_put(txn, store->peers, key, &nval, 0));
    mpk_out_release(&out);
    if (have_old)
        msgpack_unpacked_destroy(&old);
    return rc;
}

int
peers_set(store_t *store, MDB_txn *txn, const msgpack_object *args, char why[PDB_ERRMSG_MAX])
{
    const char *name;
    size_t len;
    if (args->via.array.size != 2 || mpk_get_str(&args->via.array.ptr[0], &name, &len)
        || !peers_name_valid(name, len))
        return WHY(PDB_EINVAL, "peer_set takes [peer name (1..%u bytes), {state}]",
                   PEERS_NAME_MAX);
    const msgpack_object *update = &args->via.array.ptr[1];
    if (update->type != MSGPACK_OBJECT_MAP || update->via.map.size > PEERS_FIELDS_MAX)
        return WHY(PDB_EINVAL, "peer state must be a map of at most %u fields",
                   PEERS_FIELDS_MAX);
    for (uint32_t i = 0; i < update->via.map.size; i++) {
        const msgpack_object_kv *kv = &update->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size == 0
            || kv->key.via.str.size > 64 || !s_value_valid(&kv->val)
            || (s_is_cursor(&kv->key) && kv->val.type != MSGPACK_OBJECT_POSITIVE_INTEGER))
            return WHY(PDB_EINVAL, "peer state field %u is not a short name with a scalar", i);
        for (uint32_t j = 0; j < i; j++)
            if (mpk_key_equal(&update->via.map.ptr[j].key, &kv->key))
                return WHY(PDB_EINVAL, "peer state field %u appears twice", i);
    }
    MDB_val key = { len, (void *) name };
    int rc = s_merge_put(store, txn, &key, update);
    if (rc == PDB_ETOOBIG)
        return WHY(PDB_ETOOBIG, "peer state would hold more than %u fields besides the cursors",
                   PEERS_FIELDS_MAX - PEERS_CURSORS);
    return rc;
}

int
peers_del(store_t *store, MDB_txn *txn, const msgpack_object *args, char why[PDB_ERRMSG_MAX])
{
    const char *name;
    size_t len;
    if (args->via.array.size != 1 || mpk_get_str(&args->via.array.ptr[0], &name, &len)
        || !peers_name_valid(name, len))
        return WHY(PDB_EINVAL, "peer_del takes [peer name (1..%u bytes)]", PEERS_NAME_MAX);
    MDB_val key = { len, (void *) name };
    int rc = mdb_del(txn, store->peers, &key, NULL);
    return rc == MDB_NOTFOUND ? 0 : pdb_from_mdb(rc);
}

int
peers_raise_cursor(store_t *store, MDB_txn *txn, const char *name, size_t name_len,
                   uint64_t cursor)
{
    msgpack_object_kv kv = {
        .key = { .type = MSGPACK_OBJECT_STR, .via.str = { 11, "pull_cursor" } },
        .val = { .type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = cursor },
    };
    msgpack_object update = { .type = MSGPACK_OBJECT_MAP, .via.map = { 1, &kv } };
    MDB_val key = { name_len, (void *) name };
    return s_merge_put(store, txn, &key, &update);
}

int
peers_add_conflicts(store_t *store, MDB_txn *txn, const char *name, size_t name_len,
                    uint64_t n)
{
    if (n == 0)
        return 0;
    MDB_val key = { name_len, (void *) name }, val;
    uint64_t held = 0;
    int rc = mdb_get(txn, store->peers, &key, &val);
    if (rc == 0) {
        msgpack_unpacked row;
        if (mpk_parse(val.mv_data, val.mv_size, &row))
            return PDB_ECORRUPT;
        const msgpack_object *count = mpk_map_get(&row.data, "conflicts");
        if (count)
            (void) mpk_get_u64(count, &held);
        msgpack_unpacked_destroy(&row);
    }
    else if (rc != MDB_NOTFOUND)
        return pdb_from_mdb(rc);
    msgpack_object_kv kv = {
        .key = { .type = MSGPACK_OBJECT_STR, .via.str = { 9, "conflicts" } },
        .val = { .type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = held + n },
    };
    msgpack_object update = { .type = MSGPACK_OBJECT_MAP, .via.map = { 1, &kv } };
    return s_merge_put(store, txn, &key, &update);
}
