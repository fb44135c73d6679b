#include "cascade.h"
#include "mpk.h"
#include "store_db.h"
#include "vecstore.h"
#include "versions.h"

#include <string.h>

static int
s_del(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t len)
{
    MDB_val k = { len, (void *) key };
    int rc = mdb_del(txn, dbi, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : pdb_from_mdb(rc);
}

//  Deletes every key of dbi that starts with the 16-byte prefix, and the
//  versions entry of the id in each key's second half.
static int
s_del_prefix(store_t *store, MDB_txn *txn, MDB_dbi dbi, const pdb_id_t *prefix)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return pdb_from_mdb(rc);
    MDB_val key = { PDB_ID_LEN, (void *) prefix->b }, val;
    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    while (rc == 0 && key.mv_size == STORE_KEY_PAIR_LEN
           && memcmp(key.mv_data, prefix->b, PDB_ID_LEN) == 0) {
        uint8_t child[PDB_ID_LEN];
        memcpy(child, (uint8_t *) key.mv_data + PDB_ID_LEN, PDB_ID_LEN);
        rc = s_del(txn, store->versions, child, PDB_ID_LEN);
        if (!rc)
            rc = mdb_cursor_del(cur, 0);
        //  Seek again rather than trust the cursor's position after a delete.
        key.mv_size = PDB_ID_LEN;
        key.mv_data = (void *) prefix->b;
        if (!rc)
            rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND || rc == MDB_SUCCESS ? 0 : pdb_from_mdb(rc);
}

static int
s_unlink_relation(store_t *store, MDB_txn *txn, const pdb_id_t *relation,
                  const msgpack_object *record)
{
    const char *ends[2] = { "source", "target" };
    for (int i = 0; i < 2; i++) {
        pdb_id_t exp;
        if (mpk_get_id(mpk_map_get(record, ends[i]), &exp))
            continue;
        uint8_t kbuf[STORE_KEY_PAIR_LEN];
        store_key_pair(kbuf, &exp, relation);
        int rc = s_del(txn, store->relations_by_exp, kbuf, sizeof kbuf);
        if (rc)
            return rc;
    }
    return 0;
}

//  Relations of a collective: their experience links go before the records.
static int
s_unlink_all_relations(store_t *store, MDB_txn *txn, const pdb_id_t *collective)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, store->relations, &cur);
    if (rc)
        return pdb_from_mdb(rc);
    MDB_val key = { PDB_ID_LEN, (void *) collective->b }, val;
    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    while (rc == 0 && memcmp(key.mv_data, collective->b, PDB_ID_LEN) == 0) {
        msgpack_unpacked record;
        pdb_id_t relation;
        memcpy(relation.b, (uint8_t *) key.mv_data + PDB_ID_LEN, PDB_ID_LEN);
        rc = mpk_parse(val.mv_data, val.mv_size, &record) ? PDB_ECORRUPT : 0;
        if (!rc) {
            //  by_exp is another database: deleting there leaves this cursor valid.
            rc = s_unlink_relation(store, txn, &relation, &record.data);
            msgpack_unpacked_destroy(&record);
        }
        if (!rc)
            rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND || rc == MDB_SUCCESS ? 0 : rc;
}

static int
s_delete_collective(store_t *store, MDB_txn *txn, const pdb_id_t *id,
                    const msgpack_object *record)
{
    int rc = s_unlink_all_relations(store, txn, id);
    if (!rc) rc = s_del_prefix(store, txn, store->experiences, id);
    if (!rc) rc = vecstore_drop(store, txn, id);
    if (!rc) rc = s_del_prefix(store, txn, store->relations, id);
    if (!rc) rc = s_del_prefix(store, txn, store->insights, id);
    if (!rc) rc = s_del(txn, store->collectives, id->b, PDB_ID_LEN);
    const msgpack_object *name = mpk_map_get(record, "name");
    if (!rc && name && name->type == MSGPACK_OBJECT_STR) {
        MDB_val key = { name->via.str.size, (void *) name->via.str.ptr };
        MDB_val val = { PDB_ID_LEN, (void *) id->b };
        rc = mdb_del(txn, store->collective_names, &key, &val);
        rc = rc == MDB_NOTFOUND ? 0 : pdb_from_mdb(rc);
    }
    return rc;
}

//  Relations touching an experience go with it, each leaving a tombstone.
static int
s_delete_relations_of(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
                      const pdb_id_t *experience, uint64_t hlc, const pdb_id_t *origin)
{
    while (true) {
        MDB_cursor *cur;
        int rc = mdb_cursor_open(txn, store->relations_by_exp, &cur);
        if (rc)
            return pdb_from_mdb(rc);
        MDB_val key = { PDB_ID_LEN, (void *) experience->b }, val;
        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
        bool found = rc == 0 && memcmp(key.mv_data, experience->b, PDB_ID_LEN) == 0;
        pdb_id_t relation;
        if (found)
            memcpy(relation.b, (uint8_t *) key.mv_data + PDB_ID_LEN, PDB_ID_LEN);
        mdb_cursor_close(cur);
        if (rc && rc != MDB_NOTFOUND)
            return pdb_from_mdb(rc);
        if (!found)
            return 0;
        uint8_t kbuf[STORE_KEY_PAIR_LEN];
        store_key_pair(kbuf, collective, &relation);
        MDB_val rkey = { sizeof kbuf, kbuf }, rval;
        rc = mdb_get(txn, store->relations, &rkey, &rval);
        msgpack_unpacked record;
        if (rc == 0 && mpk_parse(rval.mv_data, rval.mv_size, &record) == 0) {
            rc = s_unlink_relation(store, txn, &relation, &record.data);
            msgpack_unpacked_destroy(&record);
        }
        else {
            //  No readable record: drop this link alone so the loop ends.
            store_key_pair(kbuf, experience, &relation);
            rc = s_del(txn, store->relations_by_exp, kbuf, sizeof kbuf);
        }
        store_key_pair(kbuf, collective, &relation);
        if (!rc) rc = s_del(txn, store->relations, kbuf, sizeof kbuf);
        if (!rc) rc = versions_put(store, txn, &relation, ENT_RELATION, true, collective, hlc, origin,
                                    NULL, 0);
        if (rc)
            return rc;
    }
}

int
cascade_delete(store_t *store, MDB_txn *txn, ent_type_t type, const pdb_id_t *collective,
               const pdb_id_t *id, const msgpack_object *record, uint64_t hlc,
               const pdb_id_t *origin)
{
    uint8_t kbuf[STORE_KEY_PAIR_LEN];
    store_key_pair(kbuf, collective, id);
    int rc = 0;
    switch (type) {
    case ENT_COLLECTIVE:
        return s_delete_collective(store, txn, id, record);
    case ENT_EXPERIENCE:
        rc = s_delete_relations_of(store, txn, collective, id, hlc, origin);
        if (!rc) rc = vecstore_remove(store, txn, collective, id);
        return rc ? rc : s_del(txn, store->experiences, kbuf, sizeof kbuf);
    case ENT_RELATION:
        rc = s_unlink_relation(store, txn, id, record);
        return rc ? rc : s_del(txn, store->relations, kbuf, sizeof kbuf);
    case ENT_INSIGHT:
        return s_del(txn, store->insights, kbuf, sizeof kbuf);
    }
    return PDB_EINVAL;
}
