#include "vv.h"
#include "err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t
s_find(const vv_t *vv, const pdb_id_t *origin, bool *found)
{
    size_t lo = 0, hi = vv->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = pdb_id_cmp(&vv->entries[mid].origin, origin);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

uint64_t
vv_get(const vv_t *vv, const pdb_id_t *origin)
{
    bool found;
    size_t at = s_find(vv, origin, &found);
    return found ? vv->entries[at].seq : 0;
}

bool
vv_covers(const vv_t *vv, const pdb_id_t *origin, uint64_t origin_seq)
{
    return origin_seq <= vv_get(vv, origin);
}

bool
vv_dominates(const vv_t *vv, const vv_t *other)
{
    for (size_t i = 0; i < other->n; i++)
        if (!vv_covers(vv, &other->entries[i].origin, other->entries[i].seq))
            return false;
    return true;
}

int
vv_raise(vv_t *vv, const pdb_id_t *origin, uint64_t seq)
{
    bool found;
    size_t at = s_find(vv, origin, &found);
    if (found) {
        if (seq > vv->entries[at].seq)
            vv->entries[at].seq = seq;
        return 0;
    }
    vv_entry_t *grown = realloc(vv->entries, (vv->n + 1) * sizeof *grown);
    if (!grown)
        return -ENOMEM;
    vv->entries = grown;
    memmove(&grown[at + 1], &grown[at], (vv->n - at) * sizeof *grown);
    grown[at] = (vv_entry_t) { *origin, seq };
    vv->n++;
    return 0;
}

int
vv_copy(vv_t *dst, const vv_t *src)
{
    memset(dst, 0, sizeof *dst);
    if (!src || src->n == 0)
        return 0;
    dst->entries = malloc(src->n * sizeof *dst->entries);
    if (!dst->entries)
        return -ENOMEM;
    memcpy(dst->entries, src->entries, src->n * sizeof *dst->entries);
    dst->n = src->n;
    return 0;
}

int
vv_read(store_t *store, MDB_txn *txn, vv_t *out)
{
    memset(out, 0, sizeof *out);
    store_iter_t it;
    int rc = store_origins(store, txn, &it);
    pdb_id_t origin;
    uint64_t seq;
    //  The walk is in key order, so appending keeps the vector sorted.
    while (!rc && (rc = store_origin_next(&it, &origin, &seq)) == 0)
        rc = vv_raise(out, &origin, seq);
    store_iter_close(&it);
    if (rc == PDB_ENOTFOUND)
        return 0;
    vv_release(out);
    return rc;
}

void
vv_release(vv_t *vv)
{
    free(vv->entries);
    vv->entries = NULL;
    vv->n = 0;
}
