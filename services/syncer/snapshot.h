/*  snapshot.h - a node's whole state as a stream of entities, read from one
    consistent LMDB read transaction, for initial sync of a new peer or of
    one whose cursor fell below the WAL floor.

    Each entity travels as a change with op OP_STATE (entity.h): the
    envelope names the entity (type, collective, id) and its fields map is
    the entity's state (state.h), which the receiver merges under the same
    rules as any change.

    Envelope: seq = origin_seq = the entity's position in the stream (1, 2,
    3, ... strictly increasing across the pages of one snapshot), origin =
    the snapshot's `origin` argument, hlc = the entity's create stamp (a
    tombstone's: the delete's). These only make the change well-formed: a
    receiver merges by the versions inside and never counts the envelope in
    its version vector.
*/
#ifndef PDB_SNAPSHOT_H
#define PDB_SNAPSHOT_H

#include "change.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  OP_STATE (4) is defined in entity.h, next to the other operations.
#define SNAPSHOT_POS_MAX 40          // bytes of an opaque page position

typedef struct {
    uint8_t bytes[SNAPSHOT_POS_MAX];  // where the next page starts; len 0 = start
    size_t len;
} snapshot_pos_t;

//  Appends up to max_entities STATE changes (each packed as a bin holding
//  an encoded change) to `out` as consecutive MessagePack values, starting
//  at *pos and advancing it; stops early before max_bytes (counted as bytes
//  appended to out). Collectives first (live and deleted), then
//  experiences, relations, insights, then the tombstones of everything
//  else, so a receiver never sees a child before its collective. filter (n
//  ids, may be 0) limits it to those collectives. *count gets the number
//  packed; *done is set when nothing is left. Reads only: txn may be a
//  read-only transaction, the same one for every page of a snapshot.
//  Returns 0, PDB_ETOOBIG when the next entity alone exceeds max_bytes,
//  PDB_EINVAL for a position this module did not make, or a store error;
//  on error *pos is unchanged and whatever was appended to out this call
//  must be discarded.
int snapshot_page(store_t *store, MDB_txn *txn, const pdb_id_t *filter, size_t filter_n,
                  snapshot_pos_t *pos, size_t max_entities, size_t max_bytes,
                  const pdb_id_t *origin, msgpack_packer *out, size_t *count, bool *done);

//  Number of entities a full snapshot with this filter sends.
int snapshot_total(store_t *store, MDB_txn *txn, const pdb_id_t *filter, size_t filter_n,
                   uint64_t *total);

#endif
