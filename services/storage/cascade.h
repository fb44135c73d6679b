/*  cascade.h - what a delete takes with it. Deleting a collective removes
    everything inside it (later changes for its contents are discarded by the
    collective's tombstone); deleting an experience removes the relations
    that touch it, each leaving a tombstone so a late create stays dead.
*/
#ifndef PDB_CASCADE_H
#define PDB_CASCADE_H

#include "store.h"

#include <msgpack.h>

//  Removes the live entity (record, embedding, index entries) and what it
//  owns. The caller writes the entity's own tombstone. Returns 0 or a code.
int cascade_delete(store_t *store, MDB_txn *txn, ent_type_t type, const pdb_id_t *collective,
                   const pdb_id_t *id, const msgpack_object *record, uint64_t hlc,
                   const pdb_id_t *origin);

#endif
