/*  vecstore.h - keeps each collective's embeddings in its search blocks
    (common/vecblock.h), inside the caller's write transaction: whatever
    creates or deletes an experience (a local write, a change from a peer, a
    snapshot install, a cascade) calls this in the same transaction, so the
    embedding commits or rolls back with the record. It keeps no state in
    memory: a rolled-back child transaction leaves nothing behind.
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

//  At storage start, for a folder written by an older build: one without
//  blocks gets them built from its embeddings database, in bounded
//  transactions with progress logged; one whose blocks repeat that
//  database (schema 1) needs no build. Either way the transaction that
//  completes the blocks empties the database and moves the folder to
//  schema 2, so a crash midway builds again from scratch next start.
//  Readers read the embeddings database until the marker is there.
//  Returns 0 or a code.
int vecstore_ensure(store_t *store);

#endif
