/*  annquery.h - approximate search through storage's search thread
    (services/storage/annsvc.h, ipc://DATA/search.sock): the gateway asks it
    for a collective's nearest experiences, then checks each in its own read
    transaction (live, passes the filters) and scores it exactly, so the
    results carry the same scores as an exact scan. When the index cannot
    answer (the collective is small, the index is building or behind, the
    thread is busy or gone) or the filters leave fewer than k of what it
    gave, the caller scans exactly: an approximate answer never has fewer
    results than exist.
*/
#ifndef GW_ANNQUERY_H
#define GW_ANNQUERY_H

#include "search.h"

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>

typedef struct annquery annquery_t;

//  data_dir holds storage's search socket; threshold as configured
//  (search/ann_threshold; 0: never ask). NULL when out of memory. Caller
//  frees with annquery_destroy.
annquery_t *annquery_new(const char *data_dir, size_t threshold);
void annquery_destroy(annquery_t **self_p);

//  Fills heap (initialised with q->k) with the index's answer, sorted, and
//  returns true; false (heap emptied) when the caller must scan exactly.
bool annquery_search(annquery_t *self, store_t *store, MDB_txn *txn,
                     const pdb_id_t *collective, const search_query_t *q,
                     search_heap_t *heap);

//  The indexes storage holds, for /v1/status: [{collective, state,
//  vectors, covered_seq, build_total, ef, recall}] (state "building",
//  "measuring", "ready" or "scan"); an empty array when the search thread
//  does not answer. NULL when out of memory.
json_t *annquery_status(annquery_t *self);

#endif
