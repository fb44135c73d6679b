#include "digest.h"
#include "err.h"

#include <ctype.h>
#include <czmq.h>
#include <string.h>

//  Hashes every record of `type` in the collective, tagged so an
//  experience can never be mistaken for a relation with the same bytes.
static int
s_hash_records(store_t *store, MDB_txn *txn, ent_type_t type, const pdb_id_t *collective,
               char tag, zdigest_t *sha, uint64_t *count)
{
    store_iter_t it;
    int rc = store_records(store, txn, type, collective, &it);
    *count = 0;
    pdb_id_t id;
    MDB_val val;
    while (!rc && (rc = store_next(&it, NULL, &id, &val)) == 0) {
        zdigest_update(sha, (const byte *) &tag, 1);
        zdigest_update(sha, id.b, PDB_ID_LEN);
        zdigest_update(sha, val.mv_data, val.mv_size);
        MDB_val vec;
        if (type == ENT_EXPERIENCE && store_embedding_get(store, txn, collective, &id, &vec) == 0)
            zdigest_update(sha, vec.mv_data, vec.mv_size);
        (*count)++;
    }
    store_iter_close(&it);
    return rc == PDB_ENOTFOUND ? 0 : rc;
}

int
digest_collective(store_t *store, MDB_txn *txn, const pdb_id_t *collective, digest_t *out)
{
    ent_type_t type;
    MDB_val record;
    int rc = store_record_get(store, txn, collective, &type, NULL, &record);
    if (rc)
        return rc;
    if (type != ENT_COLLECTIVE)
        return PDB_ENOTFOUND;
    zdigest_t *sha = zdigest_new();
    if (!sha)
        return -ENOMEM;
    zdigest_update(sha, record.mv_data, record.mv_size);
    rc = s_hash_records(store, txn, ENT_EXPERIENCE, collective, 'E', sha, &out->experiences);
    if (!rc)
        rc = s_hash_records(store, txn, ENT_RELATION, collective, 'R', sha, &out->relations);
    if (!rc)
        rc = s_hash_records(store, txn, ENT_INSIGHT, collective, 'I', sha, &out->insights);
    if (!rc) {
        const char *hex = zdigest_string(sha);
        size_t i = 0;
        for (; hex && hex[i] && i < DIGEST_HEX_LEN; i++)
            out->hex[i] = (char) tolower((unsigned char) hex[i]);
        out->hex[i] = '\0';
    }
    zdigest_destroy(&sha);
    return rc;
}
