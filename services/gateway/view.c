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

//  Renders the entries of a walk of records of `type` into a new array in
//  *out: at most limit of them; *more tells whether the walk had more.
static int
s_render_walk(store_t *store, MDB_txn *txn, ent_type_t type, store_iter_t *it, size_t limit,
              unsigned flags, json_t **out, bool *more)
{
    json_t *array = json_array();
    int rc = array ? 0 : -ENOMEM;
    pdb_id_t collective, id;
    MDB_val val;
    int wrc = store_next(it, &collective, &id, &val);
    for (size_t n = 0; !rc && wrc == 0 && n < limit; n++) {
        json_t *item;
        rc = view_record(store, txn, type, &collective, &id, &val, flags, &item);
        if (!rc)
            rc = s_append(array, item);
        wrc = store_next(it, &collective, &id, &val);
    }
    *more = !rc && wrc == 0;
    if (!rc && wrc != 0 && wrc != PDB_ENOTFOUND)
        rc = wrc;
    if (rc) {
        json_decref(array);
        return rc;
    }
    *out = array;
    return 0;
}

int
view_collectives(store_t *store, MDB_txn *txn, json_t **out)
{
    store_iter_t it;
    bool more;
    int rc = store_records(store, txn, ENT_COLLECTIVE, NULL, &it);
    if (!rc)
        rc = s_render_walk(store, txn, ENT_COLLECTIVE, &it, SIZE_MAX, 0, out, &more);
    store_iter_close(&it);
    return rc;
}

int
view_experiences(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
                 const pdb_id_t *after, size_t limit, unsigned flags, json_t **out,
                 bool *more)
{
    store_iter_t it;
    int rc = store_records(store, txn, ENT_EXPERIENCE, collective, &it);
    if (!rc && after)
        rc = store_iter_seek(&it, collective, after);   // after itself was on the last page
    if (!rc)
        rc = s_render_walk(store, txn, ENT_EXPERIENCE, &it, limit, flags, out, more);
    store_iter_close(&it);
    return rc;
}

int
view_relations_of(store_t *store, MDB_txn *txn, const pdb_id_t *experience, json_t **out)
{
    store_iter_t it;
    int rc = store_relations_of(store, txn, experience, &it);
    json_t *array = rc ? NULL : json_array();
    if (!rc && !array)
        rc = -ENOMEM;
    pdb_id_t id;
    while (!rc && (rc = store_next(&it, NULL, &id, NULL)) == 0) {
        json_t *item;
        rc = view_entity(store, txn, ENT_RELATION, &id, 0, &item);
        if (rc == PDB_ENOTFOUND) {
            rc = 0;              // index entry of a relation deleted meanwhile
            continue;
        }
        if (!rc)
            rc = s_append(array, item);
    }
    store_iter_close(&it);
    if (rc != PDB_ENOTFOUND) {
        json_decref(array);
        return rc;
    }
    *out = array;
    return 0;
}

int
view_counts(store_t *store, MDB_txn *txn, view_counts_t *out)
{
    int rc = store_records_count(store, txn, ENT_COLLECTIVE, &out->collectives);
    if (!rc)
        rc = store_records_count(store, txn, ENT_EXPERIENCE, &out->experiences);
    if (!rc)
        rc = store_records_count(store, txn, ENT_RELATION, &out->relations);
    if (!rc)
        rc = store_records_count(store, txn, ENT_INSIGHT, &out->insights);
    return rc;
}
