#include "state.h"
#include "change.h"
#include "mpk.h"

#include <stdio.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Reading

//  [hlc, origin] with a non-zero stamp and a real instance.
static int
s_version(const msgpack_object *v, uint64_t *hlc, pdb_id_t *origin)
{
    if (v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size != 2
        || mpk_get_u64(&v->via.array.ptr[0], hlc) || mpk_get_id(&v->via.array.ptr[1], origin)
        || *hlc == 0 || pdb_id_is_nil(origin))
        return PDB_EINVAL;
    return 0;
}

static int
s_read_keys(const msgpack_object *fields, state_t *out, const msgpack_object **created,
            const msgpack_object **tomb, char *why)
{
    static const char *const keys[] = { "record", "created", "versions", "tombstone" };
    if (fields->type != MSGPACK_OBJECT_MAP || fields->via.map.size != 4)
        return WHY(PDB_EINVAL, "a state holds exactly record, created, versions and tombstone");
    const msgpack_object *found[4] = { NULL, NULL, NULL, NULL };
    for (uint32_t i = 0; i < 4; i++) {
        const msgpack_object_kv *kv = &fields->via.map.ptr[i];
        size_t k = 0;
        while (k < 4 && !mpk_is_str(&kv->key, keys[k]))
            k++;
        if (k == 4 || found[k])
            return WHY(PDB_EINVAL, "a state holds exactly record, created, versions and tombstone");
        found[k] = &kv->val;
    }
    out->record = found[0];
    *created = found[1];
    out->versions = found[2];
    *tomb = found[3];
    return 0;
}

//  Each entry names a distinct last-writer-wins field with a version above
//  the create's: only a later write that won can give a field its own.
static int
s_read_versions(ent_type_t type, state_t *st, char *why)
{
    const msgpack_object_map *map = &st->versions->via.map;
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object_kv *kv = &map->ptr[i];
        const field_spec_t *spec = kv->key.type == MSGPACK_OBJECT_STR
            ? entity_field(type, kv->key.via.str.ptr, kv->key.via.str.size) : NULL;
        if (!spec || spec->merge != MERGE_LWW)
            return WHY(PDB_EINVAL, "state versions name a field that has no version of its own");
        for (uint32_t j = 0; j < i; j++)
            if (mpk_key_equal(&map->ptr[j].key, &kv->key))
                return WHY(PDB_EINVAL, "state versions name field '%s' twice", spec->name);
        uint64_t hlc;
        pdb_id_t origin;
        if (s_version(&kv->val, &hlc, &origin))
            return WHY(PDB_EINVAL, "state version of '%s' must be [stamp, instance id]",
                       spec->name);
        if (change_version_cmp(hlc, &origin, st->hlc, &st->origin) <= 0)
            return WHY(PDB_EINVAL, "state version of '%s' is not above the create's", spec->name);
        if (hlc > st->max_hlc)
            st->max_hlc = hlc;
    }
    return 0;
}

int
state_read(ent_type_t type, const msgpack_object *fields, state_t *out,
           char why[PDB_ERRMSG_MAX])
{
    memset(out, 0, sizeof *out);
    const msgpack_object *created, *tomb;
    int rc = s_read_keys(fields, out, &created, &tomb, why);
    if (rc)
        return rc;
    if (tomb->type != MSGPACK_OBJECT_BOOLEAN)
        return WHY(PDB_EINVAL, "state 'tombstone' must be true or false");
    out->tombstone = tomb->via.boolean;
    if (s_version(created, &out->hlc, &out->origin))
        return WHY(PDB_EINVAL, "state 'created' must be [stamp, instance id]");
    out->max_hlc = out->hlc;
    if (out->record->type != MSGPACK_OBJECT_MAP || out->versions->type != MSGPACK_OBJECT_MAP)
        return WHY(PDB_EINVAL, "state 'record' and 'versions' must be maps");
    if (out->tombstone && (out->record->via.map.size || out->versions->via.map.size))
        return WHY(PDB_EINVAL, "a tombstone state carries no record and no versions");
    return s_read_versions(type, out, why);
}

int
state_check(ent_type_t type, const state_t *st, uint32_t dim, char why[PDB_ERRMSG_MAX])
{
    if (st->tombstone)
        return 0;
    return entity_check(type, OP_CREATE, st->record, false, dim, why);
}

//  --------------------------------------------------------------------------
//  Writing

//  "record": the stored map, plus an experience's embedding.
static int
s_pack_record(msgpack_packer *pk, ent_type_t type, const state_src_t *src)
{
    msgpack_unpacked u;
    if (mpk_parse(src->record, src->record_len, &u))
        return PDB_ECORRUPT;
    if (u.data.type != MSGPACK_OBJECT_MAP) {
        msgpack_unpacked_destroy(&u);
        return PDB_ECORRUPT;
    }
    const msgpack_object_map *map = &u.data.via.map;
    mpk_pack_map(pk, map->size + (type == ENT_EXPERIENCE ? 1 : 0));
    for (uint32_t i = 0; i < map->size; i++) {
        mpk_pack_canonical(pk, &map->ptr[i].key);
        mpk_pack_canonical(pk, &map->ptr[i].val);
    }
    if (type == ENT_EXPERIENCE) {
        mpk_pack_str(pk, "embedding");
        mpk_pack_bin(pk, src->embedding, src->embedding_len);
    }
    msgpack_unpacked_destroy(&u);
    return 0;
}

int
state_pack(msgpack_packer *pk, ent_type_t type, const state_src_t *src)
{
    mpk_pack_map(pk, 4);
    mpk_pack_str(pk, "record");
    int rc = 0;
    if (src->tombstone)
        mpk_pack_map(pk, 0);
    else
        rc = s_pack_record(pk, type, src);
    if (rc)
        return rc;
    mpk_pack_str(pk, "created");
    mpk_pack_array(pk, 2);
    mpk_pack_u64(pk, src->hlc);
    mpk_pack_id(pk, &src->origin);
    mpk_pack_str(pk, "versions");
    msgpack_unpacked fv;
    if (src->tombstone)
        mpk_pack_map(pk, 0);
    else if (mpk_parse(src->versions, src->versions_len, &fv) == 0) {
        mpk_pack_canonical(pk, &fv.data);
        msgpack_unpacked_destroy(&fv);
    }
    else
        return PDB_ECORRUPT;
    mpk_pack_str(pk, "tombstone");
    mpk_pack_bool(pk, src->tombstone);
    return 0;
}
