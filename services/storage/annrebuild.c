#include "annrebuild.h"
#include "annrecall.h"
#include "annwal.h"
#include "clock.h"
#include "err.h"

#include <string.h>

bool
annrebuild_due(const annidx_t *idx, uint64_t now_us)
{
    size_t removed = annidx_removed(idx), nodes = annidx_count(idx) + removed;
    return !idx->rebuild && !idx->building && !idx->measuring && now_us >= idx->rebuild_after_us
           && removed > 0 && 100 * removed >= ANNREBUILD_REMOVED_PCT * nodes;
}

int
annrebuild_start(annidx_t *idx, store_t *store, MDB_txn *txn, uint64_t now_us)
{
    annidx_t *next = NULL;
    int rc = annidx_new_build(store, txn, &idx->collective, idx->dim, &next);
    if (rc)
        return rc;
    idx->rebuild = next;        // owned by idx from here
    idx->rebuild_started_us = now_us;
    return 0;
}

//  Measures the caught-up replacement's recall, a sample at least, until
//  deadline_us; *done once it has chosen its ef.
static int
s_measure(annidx_t *next, store_t *store, MDB_txn *txn, uint64_t deadline_us,
          uint32_t ef_floor, bool *done)
{
    int rc;
    do
        rc = annrecall_step(&next->measure, next, store, txn, done);
    while (!rc && !*done && clock_mono_us() < deadline_us);
    if (rc || !*done)
        return rc;
    next->measuring = false;
    next->ef = annrecall_choose(&next->measure, ef_floor, &next->recall);
    next->measured_at = annidx_count(next) ? annidx_count(next) : 1;
    return 0;
}

int
annrebuild_step(annidx_t *idx, store_t *store, MDB_txn *txn, uint64_t deadline_us,
                uint32_t ef_floor, bool *ready)
{
    annidx_t *next = idx->rebuild;
    *ready = false;
    if (next->building) {
        bool done = false;
        int rc = annidx_build_step(next, store, txn, deadline_us, &done);
        if (rc || !done)
            return rc;
        next->building = false;
        next->measuring = true;
        memset(&next->measure, 0, sizeof next->measure);
    }
    bool gone = false, stale = false;
    int rc = annwal_catch_up(next, store, txn, ANNREBUILD_CATCHUP_SLICE, &gone, &stale);
    if (rc)
        return rc;
    if (gone || stale)
        return PDB_ECORRUPT;      // gone: the index it replaces is dropped too
    store_meta_t meta;
    if ((rc = store_meta_read(store, txn, &meta)) != 0 || next->covered != meta.wal_head)
        return rc;
    //  Measured against the store as txn sees it, which it holds exactly.
    bool measured = !next->measuring;
    if (!measured && (rc = s_measure(next, store, txn, deadline_us, ef_floor, &measured)) != 0)
        return rc;
    *ready = measured;
    return 0;
}

void
annrebuild_swap(annidx_t **idx_p)
{
    annidx_t *old = *idx_p, *next = old->rebuild;
    old->rebuild = NULL;
    next->rebuilds = old->rebuilds + 1;
    next->save_wanted = true;
    annidx_destroy(&old);
    *idx_p = next;
}

void
annrebuild_cancel(annidx_t *idx, uint64_t retry_after_us)
{
    annidx_destroy(&idx->rebuild);
    idx->rebuild_after_us = retry_after_us;
}
