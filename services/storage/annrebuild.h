/*  annrebuild.h - compaction of a collective's approximate index (annidx.h).

    hnswlib removes a vector by marking its node: the node keeps its memory
    and its place in the saved file, and searches walk through it, so a
    collective that deletes a lot would hold a graph of dead nodes for ever.
    When removed nodes reach ANNREBUILD_REMOVED_PCT of the graph, a new
    index is built beside the one in use, from the collective's blocks as
    any build is, then caught up with the WAL and its recall measured; it
    then takes the old one's place (fresh labels, no removed node). The old
    one answers every search and follows every write until then, so
    searches never wait for it.

    Why not put new vectors into removed nodes (hnswlib's replace_deleted)?
    Measured (docs/search.md): repairing the old neighbours' links costs
    four to six inserts per reuse, on the search thread, one at a time;
    without the repair recall drifts down; and reuse never helps a
    collective that shrinks. A rebuild costs about three inserts per
    delete, on every core, and gives back a graph as good as a first
    build's.

    The replacement hangs on the index it replaces (idx->rebuild) and is
    destroyed with it; storage's search thread (annsvc.h) drives it a slice
    at a time.
*/
#ifndef PDB_ANNREBUILD_H
#define PDB_ANNREBUILD_H

#include "annidx.h"
#include "store.h"

#include <stdbool.h>
#include <stdint.h>

//  A quarter of the graph dead: searches walk at most one removed node for
//  three live ones, the graph holds at most 4/3 of the live vectors (7/3
//  while a rebuild runs: both graphs), and a rebuild, one insert per live
//  vector, comes after at least a third as many deletes.
#define ANNREBUILD_REMOVED_PCT 25
#define ANNREBUILD_CATCHUP_SLICE 10000    // WAL entries caught up per step
#define ANNREBUILD_RETRY_S 60             // after a failed rebuild

//  True when idx's removed nodes have reached ANNREBUILD_REMOVED_PCT of
//  its graph, it is neither building nor measuring nor being rebuilt, and
//  no failed rebuild holds the next one off at now_us (the owner's clock).
bool annrebuild_due(const annidx_t *idx, uint64_t now_us);

//  Starts building idx's replacement from the collective as txn sees it;
//  now_us is the owner's clock. Returns 0, -ENOMEM or a store code.
int  annrebuild_start(annidx_t *idx, store_t *store, MDB_txn *txn, uint64_t now_us);

//  One slice of work on idx's replacement, until deadline_us (monotonic):
//  build, then catch up with txn's WAL, then measure its recall (ef_floor:
//  the smallest ef it may choose). *ready once it is built, measured and
//  caught up with txn. Returns 0, PDB_ECORRUPT (it cannot be used: the WAL
//  no longer holds what it needs, or it disagrees with the store), -ENOMEM
//  or a store code; on failure call annrebuild_cancel.
int  annrebuild_step(annidx_t *idx, store_t *store, MDB_txn *txn, uint64_t deadline_us,
                     uint32_t ef_floor, bool *ready);

//  Puts the ready replacement of *idx_p in its place and destroys the old
//  index; the new one is to be saved (save_wanted).
void annrebuild_swap(annidx_t **idx_p);

//  Drops idx's replacement; none is started again before retry_after_us.
void annrebuild_cancel(annidx_t *idx, uint64_t retry_after_us);

#endif
