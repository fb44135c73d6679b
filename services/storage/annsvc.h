/*  annsvc.h - storage's search thread: the one owner of a node's
    approximate indexes (annidx.h), so that N gateways do not each hold a
    copy (about 1.8 GB per million vectors of 384 dimensions) or each build
    one. It answers "ann_search" and "ann_status" on ipc://DATA/search.sock
    (common/sproto.h) and works between requests:

    - a collective with at least `threshold` live vectors gets an index at
      its first search: built in the background from its blocks, a time
      slice at a time, with progress logged, then its recall measured
      (annrecall.h) to choose the ef searches use, or to leave searches
      to the exact scan on data the graph cannot serve; searches are
      answered "building" (the gateway scans exactly) meanwhile;
    - each index follows the WAL from the sequence it covers: every change
      to an experience, local, from a peer or from a snapshot, brings that
      experience in line with the store. A search first catches its index
      up with the WAL head it reads, so it sees every write acknowledged
      before it was asked;
    - indexes are saved in DATA/ann (after a build, every few minutes while
      they change, and at stop) and read back at start, then caught up. A
      file that is damaged, cut short, from another instance, or older than
      the WAL's floor is dropped and the index built again;
    - an index whose graph is a quarter removed nodes is rebuilt beside
      itself and replaced once the new one is caught up and measured
      (annrebuild.h); it answers searches until then.

    The thread reads through the node's store, in its own read
    transactions; it never writes the store.
*/
#ifndef PDB_ANNSVC_H
#define PDB_ANNSVC_H

#include "node.h"

#include <stddef.h>
#include <stdint.h>

#define ANNSVC_SAVE_INTERVAL_S 300      // a changed index is saved this often
#define ANNSVC_SLICE_MS 50              // background work between requests
#define ANNSVC_CATCHUP_SYNC_MAX 1000    // WAL entries a search may wait for (else: scan)
#define ANNSVC_CATCHUP_SLICE 10000      // WAL entries caught up between requests

typedef struct annsvc annsvc_t;

//  Binds the search socket and starts the thread; threshold 0 keeps no
//  index (every search scans); ef_floor is the smallest ef the recall
//  measurement may choose. NULL on failure (logged). The node must
//  outlive it; annsvc_destroy stops the thread after saving.
annsvc_t *annsvc_new(node_t *node, size_t threshold, uint32_t ef_floor);
void annsvc_destroy(annsvc_t **self_p);

#endif
