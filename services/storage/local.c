#include "local.h"
#include "bounds.h"
#include "mpk.h"

#include <string.h>

//  --------------------------------------------------------------------------
//  Full field maps for creates

static void
s_pack_default(msgpack_packer *pk, const field_spec_t *spec, uint64_t wall_ms)
{
    if (spec->flags & FIELD_MANAGED) {
        if (spec->kind == FK_COUNTER)
            mpk_pack_map(pk, 0);
        else
            mpk_pack_u64(pk, wall_ms);   // created_at, updated_at, last_reinforced
        return;
    }
    switch (spec->kind) {
    case FK_UNIT:     mpk_pack_double(pk, spec->unit_default); break;
    case FK_BOOL:     mpk_pack_bool(pk, false); break;
    case FK_U64:      mpk_pack_u64(pk, spec->min); break;
    case FK_STR_LIST:
    case FK_ID_LIST:  mpk_pack_array(pk, 0); break;
    case FK_STR_MAP:
    case FK_COUNTER:  mpk_pack_map(pk, 0); break;
    case FK_VARIANT:
        mpk_pack_map(pk, 2);
        mpk_pack_str(pk, "category");
        mpk_pack_str(pk, "");
        mpk_pack_str(pk, "kind");
        mpk_pack_str(pk, "generic");
        break;
    default:          mpk_pack_str(pk, ""); break;
    }
}

//  Create: every field, given or default, in table order; without those
//  kept outside the record (the embedding) unless `separate`.
static void
s_pack_create_fields(msgpack_packer *pk, ent_type_t type, const msgpack_object *given,
                     uint64_t wall_ms, bool separate)
{
    size_t count, shown = 0;
    const field_spec_t *spec = entity_spec(type, &count);
    for (size_t i = 0; i < count; i++)
        shown += separate || !(spec[i].flags & FIELD_SEPARATE);
    mpk_pack_map(pk, shown);
    for (size_t i = 0; i < count; i++) {
        if (!separate && (spec[i].flags & FIELD_SEPARATE))
            continue;
        const msgpack_object *value = mpk_map_get(given, spec[i].name);
        mpk_pack_str(pk, spec[i].name);
        if (value)
            mpk_pack_canonical(pk, value);
        else
            s_pack_default(pk, &spec[i], wall_ms);
    }
}

//  Update: the given fields plus updated_at where the type keeps one.
static void
s_pack_update_fields(msgpack_packer *pk, ent_type_t type, const msgpack_object *given,
                     uint64_t wall_ms)
{
    bool stamp = entity_field(type, "updated_at", 10) != NULL;
    mpk_pack_map(pk, given->via.map.size + (stamp ? 1 : 0));
    for (uint32_t i = 0; i < given->via.map.size; i++) {
        mpk_pack_canonical(pk, &given->via.map.ptr[i].key);
        mpk_pack_canonical(pk, &given->via.map.ptr[i].val);
    }
    if (stamp) {
        mpk_pack_str(pk, "updated_at");
        mpk_pack_u64(pk, wall_ms);
    }
}

//  --------------------------------------------------------------------------
//  Checks only a local write needs

static int
s_check_name_free(const ingest_t *ingest, MDB_txn *txn, const msgpack_object *fields,
                  const pdb_id_t *self_id, char *why)
{
    const msgpack_object *name = mpk_map_get(fields, "name");
    if (!name || name->type != MSGPACK_OBJECT_STR)
        return 0;
    pdb_id_t holder;
    int rc = store_collective_by_name(ingest->store, txn, name->via.str.ptr,
                                      name->via.str.size, &holder);
    if (rc == PDB_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (self_id && pdb_id_cmp(&holder, self_id) == 0)
        return 0;
    return WHY(PDB_ECONFLICT, "a collective named '%.*s' already exists",
               (int) name->via.str.size, name->via.str.ptr);
}

static int
s_check_endpoint(const ingest_t *ingest, MDB_txn *txn, const msgpack_object *fields,
                 const char *end, const pdb_id_t *collective, char *why)
{
    pdb_id_t id;
    store_version_t v;
    if (mpk_get_id(mpk_map_get(fields, end), &id))
        return WHY(PDB_EINVAL, "field '%s' must be an experience id", end);
    int rc = store_version_get(ingest->store, txn, &id, &v);
    if (rc == PDB_ENOTFOUND || (!rc && (v.tombstone || v.entity != ENT_EXPERIENCE)))
        return WHY(PDB_ENOTFOUND, "%s experience not found", end);
    if (!rc && pdb_id_cmp(&v.collective_id, collective) != 0)
        return WHY(PDB_EINVAL, "%s experience is in another collective", end);
    return rc;
}

//  Finds the live entity an update or delete names.
static int
s_locate(const ingest_t *ingest, MDB_txn *txn, const local_write_t *w, pdb_id_t *collective,
         char *why)
{
    const char *type = entity_type_name(w->entity);
    if (!w->entity_id)
        return WHY(PDB_EINVAL, "an update or delete names the %s id", type);
    store_version_t v;
    int rc = store_version_get(ingest->store, txn, w->entity_id, &v);
    if (rc == PDB_ENOTFOUND || (!rc && (v.tombstone || v.entity != w->entity)))
        return WHY(PDB_ENOTFOUND, "%s not found", type);
    if (!rc && w->collective_id && pdb_id_cmp(w->collective_id, &v.collective_id) != 0)
        return WHY(PDB_ENOTFOUND, "%s not found in that collective", type);
    if (!rc)
        *collective = v.collective_id;
    return rc;
}

//  Finds the collective a create goes into, and its embedding size.
static int
s_locate_parent(const ingest_t *ingest, MDB_txn *txn, const local_write_t *w,
                pdb_id_t *collective, uint32_t *dim, char *why)
{
    if (w->entity_id)
        return WHY(PDB_EINVAL, "ids of new entities are assigned by the server");
    if (w->entity == ENT_COLLECTIVE)
        return 0;
    if (!w->collective_id)
        return WHY(PDB_EINVAL, "a %s is created inside a collective",
                   entity_type_name(w->entity));
    int rc = store_collective_dim(ingest->store, txn, w->collective_id, dim);
    if (rc == PDB_ENOTFOUND || rc == PDB_EDELETED)
        return WHY(PDB_ENOTFOUND, "collective not found");
    if (!rc)
        *collective = *w->collective_id;
    return rc;
}

static int
s_check_write(const ingest_t *ingest, MDB_txn *txn, const local_write_t *w,
              const msgpack_object *fields, pdb_id_t *collective, char *why)
{
    uint32_t dim = 0;
    int rc = w->op == OP_CREATE ? s_locate_parent(ingest, txn, w, collective, &dim, why)
                                : s_locate(ingest, txn, w, collective, why);
    if (!rc)
        rc = entity_check(w->entity, w->op, fields, true, dim, why);
    if (!rc && w->entity == ENT_COLLECTIVE && w->op != OP_DELETE)
        rc = s_check_name_free(ingest, txn, fields, w->entity_id, why);
    if (!rc && w->entity == ENT_RELATION && w->op == OP_CREATE) {
        rc = s_check_endpoint(ingest, txn, fields, "source", collective, why);
        if (!rc)
            rc = s_check_endpoint(ingest, txn, fields, "target", collective, why);
    }
    return rc;
}

//  --------------------------------------------------------------------------

static int
s_ingest(const ingest_t *ingest, MDB_txn *txn, change_t *c, const mpk_out_t *fields,
         uint64_t wall_ms, uint64_t *seq_out, char *why)
{
    int rc = mpk_out_status(fields);
    if (rc)
        return rc;
    if (fields->buf.size > PDB_CHANGE_MAX)
        return WHY(PDB_ETOOBIG, "change is %zu bytes, over the limit of %u",
                   fields->buf.size, PDB_CHANGE_MAX);
    c->fields = (const uint8_t *) fields->buf.data;
    c->fields_len = fields->buf.size;
    rc = ingest_local(ingest, txn, c, wall_ms, why);
    if (!rc && seq_out)
        *seq_out = c->seq;
    return rc;
}

int
local_write(const ingest_t *ingest, MDB_txn *txn, const local_write_t *w, uint64_t wall_ms,
            pdb_id_t *id_out, uint64_t *seq_out, char why[PDB_ERRMSG_MAX])
{
    return local_write_record(ingest, txn, w, wall_ms, id_out, seq_out, NULL, why);
}

int
local_write_record(const ingest_t *ingest, MDB_txn *txn, const local_write_t *w,
                   uint64_t wall_ms, pdb_id_t *id_out, uint64_t *seq_out, mpk_out_t *record,
                   char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    msgpack_unpacked given;
    if (mpk_parse(w->fields, w->fields_len, &given))
        return WHY(PDB_EINVAL, "fields are not a MessagePack map");
    change_t c = { .entity = w->entity, .op = w->op };
    int rc = s_check_write(ingest, txn, w, &given.data, &c.collective_id, why);
    if (!rc && w->op == OP_CREATE) {
        rc = pdb_id_new(&c.entity_id, wall_ms);
        if (w->entity == ENT_COLLECTIVE)
            c.collective_id = c.entity_id;
    }
    else if (!rc)
        c.entity_id = *w->entity_id;
    mpk_out_t fields;
    mpk_out_init(&fields);
    if (!rc) {
        if (w->op == OP_CREATE)
            s_pack_create_fields(&fields.pk, w->entity, &given.data, wall_ms, true);
        else if (w->op == OP_UPDATE)
            s_pack_update_fields(&fields.pk, w->entity, &given.data, wall_ms);
        else
            mpk_pack_map(&fields.pk, 0);
        rc = s_ingest(ingest, txn, &c, &fields, wall_ms, seq_out, why);
    }
    if (!rc && id_out)
        *id_out = c.entity_id;
    //  The record a read would show, for a reply without a read-back.
    if (!rc && w->op == OP_CREATE && record) {
        s_pack_create_fields(&record->pk, w->entity, &given.data, wall_ms, false);
        rc = mpk_out_status(record);
    }
    mpk_out_release(&fields);
    msgpack_unpacked_destroy(&given);
    return rc;
}

static uint64_t
s_own_count(const msgpack_object *applications, const pdb_id_t *self)
{
    if (!applications || applications->type != MSGPACK_OBJECT_MAP)
        return 0;
    for (uint32_t i = 0; i < applications->via.map.size; i++) {
        pdb_id_t id;
        const msgpack_object_kv *kv = &applications->via.map.ptr[i];
        if (mpk_get_id(&kv->key, &id) == 0 && pdb_id_cmp(&id, self) == 0
            && kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            return kv->val.via.u64;
    }
    return 0;
}

int
local_reinforce(const ingest_t *ingest, MDB_txn *txn, const pdb_id_t *experience,
                uint64_t wall_ms, uint64_t *seq_out, char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    ent_type_t type;
    change_t c = { .entity = ENT_EXPERIENCE, .op = OP_UPDATE, .entity_id = *experience };
    MDB_val record;
    int rc = store_record_get(ingest->store, txn, experience, &type, &c.collective_id, &record);
    if (rc == PDB_ENOTFOUND || (!rc && type != ENT_EXPERIENCE))
        return WHY(PDB_ENOTFOUND, "experience not found");
    msgpack_unpacked u;
    if (!rc && mpk_parse(record.mv_data, record.mv_size, &u))
        rc = PDB_ECORRUPT;
    if (rc)
        return rc;
    uint64_t count = s_own_count(mpk_map_get(&u.data, "applications"), &ingest->self);
    msgpack_unpacked_destroy(&u);
    mpk_out_t fields;
    mpk_out_init(&fields);
    mpk_pack_map(&fields.pk, 2);
    mpk_pack_str(&fields.pk, "applications");
    mpk_pack_map(&fields.pk, 1);
    mpk_pack_id(&fields.pk, &ingest->self);
    mpk_pack_u64(&fields.pk, count + 1);
    mpk_pack_str(&fields.pk, "last_reinforced");
    mpk_pack_u64(&fields.pk, wall_ms);
    rc = s_ingest(ingest, txn, &c, &fields, wall_ms, seq_out, why);
    mpk_out_release(&fields);
    return rc;
}
