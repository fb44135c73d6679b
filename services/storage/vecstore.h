/*  vecstore.h - keeps the search layout (common/vecblock.h) in step with
    the embeddings, inside the caller's write transaction: whatever puts or
    deletes an embedding (a local write, a change from a peer, a snapshot
    install, a cascade) calls this in the same transaction, so the layout
    commits or rolls back with the data. It keeps no state in memory: a
    rolled-back child transaction leaves nothing behind.
*/
#ifndef PDB_VECSTORE_H
#define PDB_VECSTORE_H

#include "store.h"

#include <stddef.h>

//  Gives experience `id` a slot holding its embedding (len bytes of
//  float32): a cleared slot of the collective if one exists, else the end
//  of its last block, else a new block. A second add of the same id does
//  nothing. Returns 0, PDB_EINVAL (len is not the collective's size), or
//  an LMDB code.
int vecstore_add(store_t *store, MDB_txn *txn, const pdb_id_t *collective, const pdb_id_t *id,
                 const void *vector, size_t len);

//  Clears the experience's slot (zeroing its bytes); a block left empty is
//  deleted. An id without a slot is fine. Returns 0 or an LMDB code.
int vecstore_remove(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
                    const pdb_id_t *id);

//  Removes every block, slot and free mark of a collective.
int vecstore_drop(store_t *store, MDB_txn *txn, const pdb_id_t *collective);

//  At storage start: a folder written before the layout existed (no
//  marker in meta) gets it built from the embeddings, in bounded
//  transactions, with progress logged; the marker is written with the
//  last one, so a crash midway builds again from scratch next start.
//  Readers scan the embeddings until the marker is there. Returns 0 or a code.
int vecstore_ensure(store_t *store);

#endif
