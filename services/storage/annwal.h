/*  annwal.h - an approximate index (annidx.h) following the WAL: every
    change to one of its collective's experiences after the sequence it
    covers brings that experience in line with the store. Local writes,
    changes from peers and installed snapshots all end in the WAL, so all
    reach the index this way. Storage's search thread uses it for the index
    that answers and for one being built to replace it (annrebuild.h).
*/
#ifndef PDB_ANNWAL_H
#define PDB_ANNWAL_H

#include "annidx.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>

//  Catches idx up with the WAL of txn, up to max_entries entries. *gone:
//  its collective no longer exists (or has another dimension); *stale: the
//  WAL no longer holds what it needs (compacted past it, or older than the
//  index: a restored store), or, once caught up, the index does not hold
//  exactly the collective's live vectors (logged), so it must be built
//  again. Returns 0, -ENOMEM or a store code (then idx may be behind what
//  it covers: never search it again).
int annwal_catch_up(annidx_t *idx, store_t *store, MDB_txn *txn, size_t max_entries,
                    bool *gone, bool *stale);

#endif
