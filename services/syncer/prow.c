#include "prow.h"
#include "err.h"
#include "mpk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
prow_read(store_t *store, MDB_txn *txn, const char *name, prow_t *out)
{
    memset(out, 0, sizeof *out);
    MDB_txn *own = NULL;
    int rc = 0;
    if (!txn) {
        rc = store_read_begin(store, &own);
        if (rc)
            return rc;
        txn = own;
    }
    MDB_val val;
    rc = store_peer_get(store, txn, name, strlen(name), &val);
    if (!rc) {
        out->copy = malloc(val.mv_size ? val.mv_size : 1);
        if (out->copy)
            memcpy(out->copy, val.mv_data, val.mv_size);
        else
            rc = -ENOMEM;
    }
    if (own)
        mdb_txn_abort(own);
    if (!rc && mpk_parse(out->copy, val.mv_size, &out->u) != 0)
        rc = PDB_ECORRUPT;
    if (rc) {
        free(out->copy);
        out->copy = NULL;
        return rc;
    }
    out->map = out->u.data.type == MSGPACK_OBJECT_MAP ? &out->u.data : NULL;
    return 0;
}

void
prow_release(prow_t *row)
{
    if (row->copy)
        msgpack_unpacked_destroy(&row->u);
    free(row->copy);
    memset(row, 0, sizeof *row);
}

bool
prow_map_u64(const msgpack_object *map, const char *key, uint64_t *out)
{
    const msgpack_object *v = map ? mpk_map_get(map, key) : NULL;
    return v && mpk_get_u64(v, out) == 0;
}

bool
prow_map_str(const msgpack_object *map, const char *key, const char **s, size_t *len)
{
    const msgpack_object *v = map ? mpk_map_get(map, key) : NULL;
    return v && mpk_get_str(v, s, len) == 0;
}

bool
prow_u64(const prow_t *row, const char *key, uint64_t *out)
{
    return prow_map_u64(row->map, key, out);
}

bool
prow_str(const prow_t *row, const char *key, const char **s, size_t *len)
{
    return prow_map_str(row->map, key, s, len);
}

int
prow_each(store_t *store, prow_fn *fn, void *arg)
{
    MDB_txn *txn;
    int rc = store_read_begin(store, &txn);
    if (rc)
        return rc;
    store_iter_t it;
    rc = store_peers(store, txn, &it);
    const char *name;
    size_t len;
    MDB_val val;
    int walk = rc;
    while (!rc && (walk = store_peer_next(&it, &name, &len, &val)) == 0) {
        msgpack_unpacked u;
        if (mpk_parse(val.mv_data, val.mv_size, &u) != 0)
            continue;
        if (u.data.type == MSGPACK_OBJECT_MAP)
            rc = fn(name, len, &u.data, arg);     // fn's code stops the walk as it is
        msgpack_unpacked_destroy(&u);
    }
    store_iter_close(&it);
    mdb_txn_abort(txn);
    return rc ? rc : walk == PDB_ENOTFOUND ? 0 : walk;
}

void
prow_inbound_name(const pdb_id_t *instance, char out[PROW_INBOUND_NAME_MAX])
{
    char id[PDB_ID_STR_LEN + 1];
    pdb_id_format(instance, id);
    snprintf(out, PROW_INBOUND_NAME_MAX, STORE_PEER_INBOUND_PREFIX "%s", id);
}
