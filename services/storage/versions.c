#include "versions.h"
#include "mpk.h"
#include "store_db.h"

int
versions_put(store_t *store, MDB_txn *txn, const pdb_id_t *id, ent_type_t type,
             bool tombstone, const pdb_id_t *collective, uint64_t hlc,
             const pdb_id_t *origin, const void *field_versions, size_t fv_len)
{
    static const uint8_t empty_map = 0x80;
    mpk_out_t out;
    mpk_out_init(&out);
    mpk_pack_array(&out.pk, 6);
    mpk_pack_u64(&out.pk, type);
    mpk_pack_bool(&out.pk, tombstone);
    mpk_pack_id(&out.pk, collective);
    mpk_pack_u64(&out.pk, hlc);
    mpk_pack_id(&out.pk, origin);
    if (field_versions)
        mpk_pack_bin(&out.pk, field_versions, fv_len);
    else
        mpk_pack_bin(&out.pk, &empty_map, 1);
    int rc = mpk_out_status(&out);
    if (!rc) {
        MDB_val key = { PDB_ID_LEN, (void *) id->b }, val = { out.buf.size, out.buf.data };
        rc = pdb_from_mdb(mdb_put(txn, store->versions, &key, &val, 0));
    }
    mpk_out_release(&out);
    return rc;
}
