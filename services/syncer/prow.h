/*  prow.h - reading the peers database (read-only, like every reader of the
    store): one row is a MessagePack map of scalar fields under the peer's
    name. Rows are copied out of LMDB so they outlive the transaction.
*/
#ifndef PDB_SYNCER_PROW_H
#define PDB_SYNCER_PROW_H

#include "store.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  An inbound peer's row name (store.h): the prefix, a UUID and a NUL.
#define PROW_INBOUND_NAME_MAX (STORE_PEER_INBOUND_PREFIX_LEN + PDB_ID_STR_LEN + 1)

typedef struct {
    void *copy;                  // the row's bytes
    msgpack_unpacked u;
    const msgpack_object *map;   // NULL when the row is not a map
} prow_t;

//  Reads the row `name` (in its own read transaction when txn is NULL).
//  Returns 0, PDB_ENOTFOUND, PDB_ECORRUPT or a store error. Release with
//  prow_release (also safe after a failure).
int prow_read(store_t *store, MDB_txn *txn, const char *name, prow_t *out);
void prow_release(prow_t *row);

//  A field of a decoded row map: true when present with that type.
bool prow_map_u64(const msgpack_object *map, const char *key, uint64_t *out);
bool prow_map_str(const msgpack_object *map, const char *key, const char **s, size_t *len);

//  Same, on a row.
bool prow_u64(const prow_t *row, const char *key, uint64_t *out);
bool prow_str(const prow_t *row, const char *key, const char **s, size_t *len);

//  Calls fn for every row in name order, inside one read transaction; map
//  is valid only during the call. A row that does not decode is skipped.
//  fn returns 0 to go on or a code that stops the walk and is returned.
typedef int (prow_fn)(const char *name, size_t name_len, const msgpack_object *map, void *arg);
int prow_each(store_t *store, prow_fn *fn, void *arg);

//  "in:<uuid>" for an instance.
void prow_inbound_name(const pdb_id_t *instance, char out[PROW_INBOUND_NAME_MAX]);

#endif
