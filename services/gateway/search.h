/*  search.h - exact cosine top-k over a collective's embeddings.

    The scan reads the collective's blocks of vectors (common/vecblock.h)
    straight from the memory map, each a contiguous run of pages: one pass
    computes dot and norm together (vec.h), a bounded min-heap keeps the k
    best, and filters (archived, importance, domain, type) are applied
    lazily, only to a candidate that would enter the heap, because reading
    and decoding its record costs far more than scoring it. A folder whose
    blocks storage has not built yet is scanned through the embeddings
    database instead, one B-tree step per vector, with the same results.
*/
#ifndef GW_SEARCH_H
#define GW_SEARCH_H

#include "err.h"
#include "id.h"
#include "jvec.h"
#include "store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEARCH_K_DEFAULT 10

typedef struct {
    double score;       // cosine similarity, -1..1
    pdb_id_t id;        // experience id (zero for buffer scans)
    uint64_t pos;       // position in scan order
    MDB_val record;     // its record in the search's transaction when the search
                        // read it (approximate), else empty: the reply reads it then
} search_hit_t;

//  Bounded min-heap: the worst kept hit is at the root, so a candidate is
//  compared with one value. Better = higher score, then smaller id, then
//  smaller position, so results never depend on scan or heap order.
typedef struct {
    search_hit_t *hits;
    size_t k;           // capacity
    size_t n;           // hits held
} search_heap_t;

//  Returns 0 or -ENOMEM; release with search_heap_release.
int  search_heap_init(search_heap_t *self, size_t k);
void search_heap_release(search_heap_t *self);
//  True when hit would be kept (heap not full, or better than the worst).
bool search_heap_admits(const search_heap_t *self, const search_hit_t *hit);
//  Keeps hit if admitted, dropping the worst when full.
void search_heap_offer(search_heap_t *self, const search_hit_t *hit);
//  Sorts the kept hits best first (the heap is no longer a heap after it).
void search_heap_sort(search_heap_t *self);

typedef struct {
    float *vector;            // owned, dim floats
    size_t dim;
    double norm2;             // vector . vector (vec_norm2)
    size_t k;
    const char **domains;     // owned array of strings borrowed from the body
    size_t domain_count;      // 0: any domain
    const char *type_kind;    // experience type kind, NULL: any
    double min_importance;    // 0: any
    bool include_archived;
    bool exact;               // scan every vector even where an index could answer
    size_t ef;                // candidates for an approximate search (0: the default)
} search_query_t;

//  Reads a search body {embedding, k?, domain?, type?, min_importance?,
//  include_archived?, exact?, ef?} for a collective of `dim` dimensions. Strings in q
//  borrow from body, which must outlive q. Returns 0, or PDB_EINVAL /
//  PDB_ETOOBIG with `why`. Release with search_query_release either way.
int  search_query_parse(const json_t *body, uint32_t dim, search_query_t *q,
                        char why[PDB_ERRMSG_MAX]);
//  The same with the embedding read already on the fast path (jvec.h):
//  taken's values stand for the body's "embedding", which then holds [].
//  taken NULL: read from body.
int  search_query_parse_taken(const json_t *body, uint32_t dim, const jvec_vec_t *taken,
                              search_query_t *q, char why[PDB_ERRMSG_MAX]);
void search_query_release(search_query_t *q);

//  Scores every live experience of the collective in txn and keeps the
//  best q->k that pass the filters in heap (initialised with q->k, sorted
//  on return). Returns 0 or a store code.
int search_collective(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
                      const search_query_t *q, search_heap_t *heap);
//  The same by one B-tree step per experience, each embedding read with
//  store_embedding_get: how a folder whose blocks storage has not built
//  yet is searched, and what the block scan is tested against.
int search_collective_each(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
                           const search_query_t *q, search_heap_t *heap);

//  Whether experience id of the collective is live in txn and passes q's
//  filters (read from its record only when q has some). record (may be
//  NULL) gets the record, valid for txn.
bool search_passes(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
                   const pdb_id_t *id, const search_query_t *q, MDB_val *record);

//  The same scan over n vectors of dim float32 laid end to end at `base`
//  (any alignment), no filters: for tests and benchmarks. Hits carry the
//  vector's index in pos. heap is sorted on return.
void search_buffer(const float *query, size_t dim, const void *base, size_t n,
                   search_heap_t *heap);

#endif
