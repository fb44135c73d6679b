/*  annidx.h - the approximate index of one collective (docs/search.md):
    an HNSW graph (common/ann.h) over its embeddings, the experience id of
    each label, and the WAL sequence it covers. Storage's search thread
    (annsvc.h) owns every index; nothing here writes the store.

    Labels are dense (0, 1, 2, ...) and never reused within one graph: a
    removed experience keeps its label, marked removed, and one that comes
    back (a snapshot can bring back what a delete took) gets a new one.
    When removed nodes reach a quarter of the graph, the index is built
    again beside this one and replaces it (annrebuild.h), with new labels.

    Files, in DATA/ann/: COLLECTIVE.hnsw (hnswlib's own format, ann_save)
    and COLLECTIVE.map (a header, then every label's experience id and
    removed mark). The map is written last and names the graph file's size
    and checksum, so a pair cut short or damaged reads as no index at all.
*/
#ifndef PDB_ANNIDX_H
#define PDB_ANNIDX_H

#include "ann.h"
#include "annrecall.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ANNIDX_DIR "ann"                // inside the data folder
//  A build inserts vectors on up to this many cores at once, in batches of
//  at least BATCH_MIN (so threads have work) and at most BATCH_MAX (so a
//  slice ends soon after its deadline).
#define ANNIDX_BUILD_THREADS_MAX 8
#define ANNIDX_BUILD_BATCH_MIN 256
#define ANNIDX_BUILD_BATCH_MAX 2048

typedef struct annidx_s {
    pdb_id_t collective;
    uint32_t dim;
    ann_t *ann;
    uint64_t covered;       // every WAL entry up to here is reflected
    //  Building from the collective's blocks: the next block to read, and
    //  the WAL head when the build began (the catch-up starts after it).
    bool building;
    uint32_t build_next_block;
    uint64_t build_total;   // live vectors when the build began (progress)
    //  Labels: label -> experience id and removed mark; id -> label in an
    //  open-addressing table of label + 1 (0: empty).
    pdb_id_t *ids;
    uint8_t *removed;       // ANNIDX_LIVE, ANNIDX_REMOVED or ANNIDX_UNRANKED
    uint64_t *locs;         // where its vector is: block number << 32 | slot, or
                            // ANNIDX_LOC_NONE (not kept in the saved index)
    size_t labels, labels_cap;
    uint64_t *table;
    size_t table_cap;
    //  Measured recall (annrecall.h): the ef searches use (0: the index is
    //  not good enough on this data, scan), its recall, and the vectors it
    //  was measured at (measured again when the index has doubled).
    uint32_t ef;
    double recall;
    uint64_t measured_at;
    bool measuring;
    annrecall_t measure;
    size_t unranked;        // held zero vectors: no direction, so not in the graph
    //  Vectors waiting to be inserted together (borrowed from the caller's
    //  read transaction: annidx_flush before it ends).
    uint64_t pending_labels[ANNIDX_BUILD_BATCH_MAX];
    const void *pending_vectors[ANNIDX_BUILD_BATCH_MAX];
    size_t pending_n;
    uint64_t changes_since_save;
    uint64_t saved_us;      // when it was last saved (the owner's clock)
    bool save_wanted;       // to be saved as soon as it can be
    //  Compaction (annrebuild.h): the index being built to replace this
    //  one (owned), when it began (the owner's clock), no new one before
    //  rebuild_after_us (one failed), and how many have replaced it since
    //  storage started.
    struct annidx_s *rebuild;
    uint64_t rebuild_started_us;
    uint64_t rebuild_after_us;
    uint32_t rebuilds;
} annidx_t;

#define ANNIDX_LIVE 0
#define ANNIDX_REMOVED 1
#define ANNIDX_UNRANKED 2
#define ANNIDX_LOC_NONE UINT64_MAX

//  A new empty index with room for capacity vectors. Returns 0, PDB_EINVAL
//  or -ENOMEM. Caller frees with annidx_destroy.
int  annidx_new(const pdb_id_t *collective, uint32_t dim, size_t capacity, annidx_t **out);
void annidx_destroy(annidx_t **self_p);   // with the rebuild it owns

//  A new index of the collective, to be built from its blocks (building,
//  build_total: its live vectors as txn sees them) and to follow the WAL
//  from txn's head on. Returns 0, -ENOMEM or a store code.
int  annidx_new_build(store_t *store, MDB_txn *txn, const pdb_id_t *collective, uint32_t dim,
                      annidx_t **out);

//  Brings experience `id` in line with txn: in the index when it has an
//  embedding there, out of it when not. An insert may wait in the queue
//  (inserted together, on every core): annidx_flush before txn ends.
//  Returns 0, -ENOMEM or a store code.
int  annidx_follow(annidx_t *self, store_t *store, MDB_txn *txn, const pdb_id_t *id);
int  annidx_flush(annidx_t *self);

//  Adds the vectors of blocks from build_next_block on, until the
//  collective's last block (*done) or until `deadline_us` (monotonic) has
//  passed. Returns 0, -ENOMEM or a store code.
int  annidx_build_step(annidx_t *self, store_t *store, MDB_txn *txn, uint64_t deadline_us,
                       bool *done);

//  The up to k best experiences for query, best first (ids and cosine
//  scores, and where their vectors are when locs is not NULL: k entries
//  each). Returns 0 or a code of ann_search.
int  annidx_search(const annidx_t *self, const float *query, size_t k, size_t ef,
                   pdb_id_t *ids, float *scores, uint64_t *locs, size_t *n);

//  A live label's experience id and its vector in txn, for sampling: the
//  n-th live label counting on from `from` (wrapping). Returns 0,
//  PDB_ENOTFOUND (no live label) or a store code.
int  annidx_sample(const annidx_t *self, store_t *store, MDB_txn *txn, uint64_t from,
                   pdb_id_t *id, MDB_val *vector);

//  Live vectors in the graph (held zero vectors are counted in unranked),
//  and removed ones it still holds as marked nodes (annrebuild.h).
size_t annidx_count(const annidx_t *self);
size_t annidx_removed(const annidx_t *self);

//  Writes the index to dir (DATA/ann) beside the node's instance id:
//  new files aside, flushed, then renamed. Returns 0 or -errno.
int  annidx_save(const annidx_t *self, const char *dir, const pdb_id_t *instance);
//  Reads a collective's index back. PDB_ENOTFOUND: no files;
//  PDB_ECORRUPT: damaged, cut short, of another dimension or written by
//  another instance (a restored copy of the data): build it again.
int  annidx_load(const char *dir, const pdb_id_t *collective, uint32_t dim,
                 const pdb_id_t *instance, annidx_t **out);
//  Finds where each live label's vector is in txn (the saved index does
//  not keep it). Returns 0 or a store code.
int  annidx_locate(annidx_t *self, store_t *store, MDB_txn *txn);
//  Deletes a collective's files (missing ones are fine).
void annidx_unlink(const char *dir, const pdb_id_t *collective);

#endif
