#include "digest.h"
#include "err.h"

#include <ctype.h>
#include <czmq.h>
#include <string.h>

//  Hashes every entry under the collective's prefix in dbi, tagged so an
//  experience can never be mistaken for a relation with the same bytes.
static int
s_hash_prefix(store_t *store, MDB_txn *txn, MDB_dbi dbi, const pdb_id_t *collective,
              char tag, bool with_embedding, zdigest_t *sha, uint64_t *count)
{
    MDB_cursor *cur;
    int rc = pdb_from_mdb(mdb_cursor_open(txn, dbi, &cur));
    if (rc)
        return rc;
    uint8_t start[STORE_KEY_PAIR_LEN] = { 0 };
    memcpy(start, collective->b, PDB_ID_LEN);
    MDB_val key = { sizeof start, start }, val;
    int mrc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    *count = 0;
    for (; mrc == 0; mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size != STORE_KEY_PAIR_LEN || memcmp(key.mv_data, collective->b, PDB_ID_LEN))
            break;
        zdigest_update(sha, (const byte *) &tag, 1);
        zdigest_update(sha, (const byte *) key.mv_data + PDB_ID_LEN, PDB_ID_LEN);
        zdigest_update(sha, val.mv_data, val.mv_size);
        if (with_embedding) {
            MDB_val vec;
            MDB_val vkey = key;
            if (mdb_get(txn, store->embeddings, &vkey, &vec) == 0)
                zdigest_update(sha, vec.mv_data, vec.mv_size);
        }
        (*count)++;
    }
    mdb_cursor_close(cur);
    return mrc == 0 || mrc == MDB_NOTFOUND ? 0 : pdb_from_mdb(mrc);
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
    rc = s_hash_prefix(store, txn, store->experiences, collective, 'E', true, sha,
                       &out->experiences);
    if (!rc)
        rc = s_hash_prefix(store, txn, store->relations, collective, 'R', false, sha,
                           &out->relations);
    if (!rc)
        rc = s_hash_prefix(store, txn, store->insights, collective, 'I', false, sha,
                           &out->insights);
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
