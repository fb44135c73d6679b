#include "versions.h"
#include "mpk.h"
#include "store_db.h"

int
versions_put(store_t *store, MDB_txn *txn, const pdb_id_t *id, ent_type_t type,
             bool tombstone, const pdb_id_t *collective, uint64_t hlc,
             const pdb_id_t *origin, const void *field_versions, size_t fv_len)
{
    store_version_t v = { .entity = type, .tombstone = tombstone, .collective_id = *collective,
                          .hlc = hlc, .origin = *origin, .field_versions = field_versions,
                          .field_versions_len = fv_len };
    mpk_out_t out;
    mpk_out_init(&out);
    store_version_pack(&out.pk, &v);
    int rc = mpk_out_status(&out);
    if (!rc) {
        MDB_val key = { PDB_ID_LEN, (void *) id->b }, val = { out.buf.size, out.buf.data };
        rc = pdb_from_mdb(mdb_put(txn, store->versions, &key, &val, 0));
    }
    mpk_out_release(&out);
    return rc;
}
