/*  vv.h - version vectors: per origin instance, the highest origin_seq
    applied or dominated here. Each entry is a prefix ("everything of that
    origin up to n is known"), so a node never needs a change at or below it.
*/
#ifndef PDB_VV_H
#define PDB_VV_H

#include "id.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    pdb_id_t origin;
    uint64_t seq;
} vv_entry_t;

typedef struct {
    vv_entry_t *entries;      // owned; sorted by origin
    size_t n;
} vv_t;

//  The entry for origin, 0 when absent.
uint64_t vv_get(const vv_t *vv, const pdb_id_t *origin);

//  Raises origin's entry to seq (a lower seq changes nothing). 0 or -ENOMEM.
int vv_raise(vv_t *vv, const pdb_id_t *origin, uint64_t seq);

//  True when the vector already covers the change (origin, origin_seq).
bool vv_covers(const vv_t *vv, const pdb_id_t *origin, uint64_t origin_seq);

//  True when vv covers every entry of other (it knows all other knows).
bool vv_dominates(const vv_t *vv, const vv_t *other);

//  A copy of src into *dst (NULL src: empty). Caller frees with vv_release.
//  0 or -ENOMEM.
int vv_copy(vv_t *dst, const vv_t *src);

//  Reads the node's vector from the origins database. Caller frees with vv_release.
int vv_read(store_t *store, MDB_txn *txn, vv_t *out);

void vv_release(vv_t *vv);

#endif
