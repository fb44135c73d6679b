#include "view.h"
#include "json_map.h"
#include "err.h"
#include "mpk.h"

#include <errno.h>
#include <string.h>

static void
s_put_id(json_text_t *out, bool *first, const char *name, const pdb_id_t *id)
{
    json_text_put_key(out, first, name);
    json_map_put_id(out, id);
}

int
view_record(store_t *store, MDB_txn *txn, ent_type_t type, const pdb_id_t *collective,
            const pdb_id_t *id, const MDB_val *record, unsigned flags, json_text_t *out)
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
    size_t mark = out->len;
    bool first = true;
    json_text_put(out, "{", 1);
    s_put_id(out, &first, "id", id);
    if (type != ENT_COLLECTIVE)
        s_put_id(out, &first, "collective_id", collective);
    int rc = json_map_write(type, &u.data, vec.mv_data, vec.mv_size, out, &first);
    json_text_put(out, "}", 1);
    msgpack_unpacked_destroy(&u);
    if (!rc && out->failed)
        rc = -ENOMEM;
    if (rc)
        json_text_truncate(out, mark);
    return rc;
}

int
view_entity(store_t *store, MDB_txn *txn, ent_type_t want, const pdb_id_t *id,
            unsigned flags, json_text_t *out)
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

//  Writes the entries of a walk of records of `type` as a JSON array: at
//  most limit of them. *more tells whether the walk had more, and *last
//  is the id of the last one written.
static int
s_render_walk(store_t *store, MDB_txn *txn, ent_type_t type, store_iter_t *it, size_t limit,
              unsigned flags, json_text_t *out, bool *more, pdb_id_t *last)
{
    pdb_id_t collective, id;
    MDB_val val;
    size_t n = 0;
    int rc = 0;
    int wrc = store_next(it, &collective, &id, &val);
    json_text_put(out, "[", 1);
    for (; !rc && wrc == 0 && n < limit; n++) {
        if (n)
            json_text_put(out, ",", 1);
        rc = view_record(store, txn, type, &collective, &id, &val, flags, out);
        *last = id;
        wrc = store_next(it, &collective, &id, &val);
    }
    json_text_put(out, "]", 1);
    *more = !rc && wrc == 0 && n > 0;
    if (!rc && wrc != 0 && wrc != PDB_ENOTFOUND)
        rc = wrc;
    return rc;
}

int
view_collectives(store_t *store, MDB_txn *txn, json_text_t *out)
{
    store_iter_t it;
    bool more;
    pdb_id_t last;
    int rc = store_records(store, txn, ENT_COLLECTIVE, NULL, &it);
    if (!rc)
        rc = s_render_walk(store, txn, ENT_COLLECTIVE, &it, SIZE_MAX, 0, out, &more, &last);
    store_iter_close(&it);
    return rc;
}

int
view_experiences(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
                 const pdb_id_t *after, size_t limit, unsigned flags, json_text_t *out,
                 bool *more, pdb_id_t *last)
{
    store_iter_t it;
    int rc = store_records(store, txn, ENT_EXPERIENCE, collective, &it);
    if (!rc && after)
        rc = store_iter_seek(&it, collective, after);   // after itself was on the last page
    if (!rc)
        rc = s_render_walk(store, txn, ENT_EXPERIENCE, &it, limit, flags, out, more, last);
    store_iter_close(&it);
    return rc;
}

int
view_relations_of(store_t *store, MDB_txn *txn, const pdb_id_t *experience, json_text_t *out)
{
    store_iter_t it;
    int rc = store_relations_of(store, txn, experience, &it);
    pdb_id_t id;
    bool first = true;
    json_text_put(out, "[", 1);
    while (!rc && (rc = store_next(&it, NULL, &id, NULL)) == 0) {
        size_t mark = out->len;
        if (!first)
            json_text_put(out, ",", 1);
        rc = view_entity(store, txn, ENT_RELATION, &id, 0, out);
        if (rc == PDB_ENOTFOUND) {
            json_text_truncate(out, mark);
            rc = 0;              // index entry of a relation deleted meanwhile
            continue;
        }
        first = false;
    }
    json_text_put(out, "]", 1);
    store_iter_close(&it);
    return rc == PDB_ENOTFOUND ? 0 : rc;
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
