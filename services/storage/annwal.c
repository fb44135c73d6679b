#include "annwal.h"
#include "change.h"
#include "err.h"
#include "log.h"
#include "vecblock.h"

#include <string.h>

//  Once caught up, the index must hold exactly what the blocks hold; false
//  (logged) when it does not.
static bool
s_agrees(const annidx_t *idx, store_t *store, MDB_txn *txn)
{
    vecblock_head_t head = { 0 };
    int rc = vecblock_head_get(store, txn, &idx->collective, &head);
    size_t held = annidx_count(idx) + idx->unranked;
    if ((rc == 0 || rc == PDB_ENOTFOUND) && head.live == held)
        return true;
    char id[PDB_ID_STR_LEN + 1];
    pdb_id_format(&idx->collective, id);
    log_w("search", "index disagrees with the store collective=%s index=%zu store=%llu: "
          "building it again", id, held, (unsigned long long) head.live);
    return false;
}

int
annwal_catch_up(annidx_t *idx, store_t *store, MDB_txn *txn, size_t max_entries, bool *gone,
                bool *stale)
{
    *gone = *stale = false;
    uint32_t dim;
    int rc = store_collective_dim(store, txn, &idx->collective, &dim);
    if (rc == PDB_ENOTFOUND || rc == PDB_EDELETED || (!rc && dim != idx->dim)) {
        *gone = true;
        return 0;
    }
    store_meta_t meta;
    if (rc || (rc = store_meta_read(store, txn, &meta)) != 0)
        return rc;
    if (idx->covered == meta.wal_head)
        return 0;
    if (idx->covered > meta.wal_head || idx->covered + 1 < meta.wal_floor) {
        *stale = true;
        return 0;
    }
    store_iter_t it;
    rc = store_wal(store, txn, idx->covered + 1, &it);
    uint64_t seq;
    MDB_val val;
    for (size_t n = 0; !rc && n < max_entries && !(rc = store_wal_next(&it, &seq, &val)); n++) {
        change_t change;
        if (change_decode(val.mv_data, val.mv_size, &change) == 0
            && change.entity == ENT_EXPERIENCE
            && !memcmp(change.collective_id.b, idx->collective.b, PDB_ID_LEN))
            rc = annidx_follow(idx, store, txn, &change.entity_id);
        if (!rc)
            idx->covered = seq;
    }
    store_iter_close(&it);
    if (rc == PDB_ENOTFOUND)
        rc = 0;
    int frc = annidx_flush(idx);          // inserts borrow txn
    rc = rc ? rc : frc;
    if (!rc && idx->covered == meta.wal_head && !s_agrees(idx, store, txn))
        *stale = true;
    return rc;
}
