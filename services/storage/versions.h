/*  versions.h - writes the versions record of an entity (its encoding is
    the store's: store_version_pack): who created it and when, which fields
    later writes won, or the tombstone that makes a delete final.
*/
#ifndef PDB_VERSIONS_H
#define PDB_VERSIONS_H

#include "store.h"

//  field_versions: a packed map field -> [hlc, origin], or NULL for none.
int versions_put(store_t *store, MDB_txn *txn, const pdb_id_t *id, ent_type_t type,
                 bool tombstone, const pdb_id_t *collective, uint64_t hlc,
                 const pdb_id_t *origin, const void *field_versions, size_t fv_len);

#endif
