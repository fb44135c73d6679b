#include "view.h"
#include "json_map.h"
#include "err.h"
#include "mpk.h"

#include <errno.h>
#include <string.h>

static int
s_set_id(json_t *object, const char *name, const pdb_id_t *id)
{
    char text[PDB_ID_STR_LEN + 1];
    pdb_id_format(id, text);
    return json_object_set_new(object, name, json_string(text)) ? -ENOMEM : 0;
}

int
view_record(store_t *store, MDB_txn *txn, ent_type_t type, const pdb_id_t *collective,
            const pdb_id_t *id, const MDB_val *record, unsigned flags, json_t **out)
{
    MDB_val vec = { 0, NULL };
    if (type == ENT_EXPERIENCE && (flags & VIEW_EMBEDDING)) {
        int rc = store_embedding_get(store, txn, collective, id, &vec);
        if (rc && rc != PDB_ENOTFOUND)
            return rc;
    }
    msgpack_unpacked u;
    if (mpk_parse(record->mv_data, record->mv_size, &u) != 0)
        return PDB_ECORRUPT;
    json_t *object = json_object();
    int rc = object ? s_set_id(object, "id", id) : -ENOMEM;
    if (!rc && type != ENT_COLLECTIVE)
        rc = s_set_id(object, "collective_id", collective);
    if (!rc)
        rc = json_map_to_json(type, &u.data, vec.mv_data, vec.mv_size, object);
    msgpack_unpacked_destroy(&u);
    if (rc) {
        json_decref(object);
        return rc;
    }
    *out = object;
    return 0;
}

int
view_entity(store_t *store, MDB_txn *txn, ent_type_t want, const pdb_id_t *id,
            unsigned flags, json_t **out)
{
    ent_type_t type;
    pdb_id_t collective;
    MDB_val record;
    int rc = store_record_get(store, txn, id, &type, &collective, &record);
    if (rc)
        return rc;
    if (type != want)
        return PDB_ENOTFOUND;
    return view_record(store, txn, type, &collective, id, &record, flags, out);
}

int
view_locate(store_t *store, MDB_txn *txn, ent_type_t want, const pdb_id_t *id,
            pdb_id_t *collective)
{
    store_version_t v;
    int rc = store_version_get(store, txn, id, &v);
    if (rc)
        return rc;
    if (v.tombstone || v.entity != want)
        return PDB_ENOTFOUND;
    *collective = v.collective_id;
    return 0;
}

//  Appends a rendered entity to array; takes care of the reference.
static int
s_append(json_t *array, json_t *item)
{
    return json_array_append_new(array, item) ? -ENOMEM : 0;
}

int
view_collectives(store_t *store, MDB_txn *txn, json_t **out)
{
    MDB_cursor *cur;
    int rc = pdb_from_mdb(mdb_cursor_open(txn, store->collectives, &cur));
    if (rc)
        return rc;
    json_t *array = json_array();
    rc = array ? 0 : -ENOMEM;
    MDB_val key, val;
    int mrc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
    for (; !rc && mrc == 0; mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size != PDB_ID_LEN)
            continue;
        pdb_id_t id;
        memcpy(id.b, key.mv_data, PDB_ID_LEN);
        json_t *item;
        rc = view_record(store, txn, ENT_COLLECTIVE, &id, &id, &val, 0, &item);
        if (!rc)
            rc = s_append(array, item);
    }
    mdb_cursor_close(cur);
    if (!rc && mrc != MDB_NOTFOUND)
        rc = pdb_from_mdb(mrc);
    if (rc) {
        json_decref(array);
        return rc;
    }
    *out = array;
    return 0;
}

static bool
s_in_collective(const MDB_val *key, const pdb_id_t *collective)
{
    return key->mv_size == STORE_KEY_PAIR_LEN
        && memcmp(key->mv_data, collective->b, PDB_ID_LEN) == 0;
}

//  Positions cur on the first experience of the page: the first key after
//  collective + after, or the collective's first key.
static int
s_page_start(MDB_cursor *cur, const pdb_id_t *collective, const pdb_id_t *after,
             MDB_val *key, MDB_val *val)
{
    static const pdb_id_t zero;
    uint8_t start[STORE_KEY_PAIR_LEN];
    store_key_pair(start, collective, after ? after : &zero);
    key->mv_size = sizeof start;
    key->mv_data = start;
    int mrc = mdb_cursor_get(cur, key, val, MDB_SET_RANGE);
    //  The cursor id itself was on the previous page.
    if (mrc == 0 && after && key->mv_size == sizeof start
        && memcmp(key->mv_data, start, sizeof start) == 0)
        mrc = mdb_cursor_get(cur, key, val, MDB_NEXT);
    return mrc;
}

int
view_experiences(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
                 const pdb_id_t *after, size_t limit, unsigned flags, json_t **out,
                 bool *more)
{
    MDB_cursor *cur;
    int rc = pdb_from_mdb(mdb_cursor_open(txn, store->experiences, &cur));
    if (rc)
        return rc;
    json_t *array = json_array();
    rc = array ? 0 : -ENOMEM;
    MDB_val key, val;
    int mrc = s_page_start(cur, collective, after, &key, &val);
    size_t n = 0;
    for (; !rc && mrc == 0 && s_in_collective(&key, collective) && n < limit; n++) {
        pdb_id_t id;
        memcpy(id.b, (const uint8_t *) key.mv_data + PDB_ID_LEN, PDB_ID_LEN);
        json_t *item;
        rc = view_record(store, txn, ENT_EXPERIENCE, collective, &id, &val, flags, &item);
        if (!rc)
            rc = s_append(array, item);
        mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
    }
    *more = !rc && mrc == 0 && s_in_collective(&key, collective);
    mdb_cursor_close(cur);
    if (!rc && mrc != 0 && mrc != MDB_NOTFOUND)
        rc = pdb_from_mdb(mrc);
    if (rc) {
        json_decref(array);
        return rc;
    }
    *out = array;
    return 0;
}

int
view_relations_of(store_t *store, MDB_txn *txn, const pdb_id_t *experience, json_t **out)
{
    MDB_cursor *cur;
    int rc = pdb_from_mdb(mdb_cursor_open(txn, store->relations_by_exp, &cur));
    if (rc)
        return rc;
    json_t *array = json_array();
    rc = array ? 0 : -ENOMEM;
    uint8_t start[STORE_KEY_PAIR_LEN] = { 0 };
    memcpy(start, experience->b, PDB_ID_LEN);
    MDB_val key = { sizeof start, start }, val;
    int mrc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    for (; !rc && mrc == 0 && s_in_collective(&key, experience);
         mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        pdb_id_t id;
        memcpy(id.b, (const uint8_t *) key.mv_data + PDB_ID_LEN, PDB_ID_LEN);
        json_t *item;
        rc = view_entity(store, txn, ENT_RELATION, &id, 0, &item);
        if (rc == PDB_ENOTFOUND) {
            rc = 0;              // index entry of a relation deleted meanwhile
            continue;
        }
        if (!rc)
            rc = s_append(array, item);
    }
    mdb_cursor_close(cur);
    if (rc) {
        json_decref(array);
        return rc;
    }
    *out = array;
    return 0;
}

static int
s_entries(MDB_txn *txn, MDB_dbi dbi, uint64_t *out)
{
    MDB_stat st;
    int rc = pdb_from_mdb(mdb_stat(txn, dbi, &st));
    if (!rc)
        *out = st.ms_entries;
    return rc;
}

int
view_counts(store_t *store, MDB_txn *txn, view_counts_t *out)
{
    int rc = s_entries(txn, store->collectives, &out->collectives);
    if (!rc)
        rc = s_entries(txn, store->experiences, &out->experiences);
    if (!rc)
        rc = s_entries(txn, store->relations, &out->relations);
    if (!rc)
        rc = s_entries(txn, store->insights, &out->insights);
    return rc;
}
