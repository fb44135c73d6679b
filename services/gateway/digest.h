/*  digest.h - one SHA-1 over a collective's whole logical state, so two
    nodes can tell in one request whether they converged.

    Hashed, in this order: the collective's record; then for every live
    experience in key order: 'E', its id, its record, its embedding bytes;
    every relation: 'R', id, record; every insight: 'I', id, record.
    Storage keeps records canonical (entries sorted, floats as float64), so
    equal contents give equal bytes on every node. Nothing local (WAL
    sequences, versions, origins) goes in: nodes that agree on the data
    agree on the digest even though their histories differ.
*/
#ifndef GW_DIGEST_H
#define GW_DIGEST_H

#include "id.h"
#include "store.h"

#include <stdint.h>

#define DIGEST_HEX_LEN 40

typedef struct {
    char hex[DIGEST_HEX_LEN + 1];     // lower-case SHA-1
    uint64_t experiences, relations, insights;
} digest_t;

//  Digests the live collective in txn. Returns 0, PDB_ENOTFOUND when the
//  collective is unknown or deleted, or a store code.
int digest_collective(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
                      digest_t *out);

#endif
