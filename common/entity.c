#include "entity.h"
#include "bounds.h"
#include "mpk.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const s_relation_types[] = {
    "supports", "contradicts", "elaborates", "supersedes", "implies", "related_to", NULL
};
static const char *const s_insight_types[] = {
    "pattern", "synthesis", "abstraction", "correlation", NULL
};
const char *const entity_severities[] = { "low", "medium", "high", "critical", NULL };

const variant_spec_t entity_variants[] = {
    { "generic",                { { "category", 'S' } } },
    { "difficulty",             { { "description", 'S' }, { "severity", 'V' } } },
    { "solution",               { { "problem_ref", 'I' }, { "approach", 'S' }, { "worked", 'B' } } },
    { "error_pattern",          { { "signature", 'S' }, { "fix", 'S' }, { "prevention", 'S' } } },
    { "success_pattern",        { { "task_type", 'S' }, { "approach", 'S' }, { "quality", 'U' } } },
    { "user_preference",        { { "category", 'S' }, { "preference", 'S' }, { "strength", 'U' } } },
    { "architectural_decision", { { "decision", 'S' }, { "rationale", 'S' } } },
    { "tech_insight",           { { "technology", 'S' }, { "insight", 'S' } } },
    { "fact",                   { { "statement", 'S' }, { "source", 'S' } } },
};
const size_t entity_variant_count = sizeof entity_variants / sizeof entity_variants[0];

#define REQ FIELD_REQUIRED
#define MAN FIELD_MANAGED

static const field_spec_t s_collective[] = {
    { "name",          FK_STR, MERGE_LWW,       REQ, 1, PDB_NAME_MAX, 0, NULL },
    { "owner",         FK_STR, MERGE_LWW,       0,   0, PDB_NAME_MAX, 0, NULL },
    { "embedding_dim", FK_U64, MERGE_IMMUTABLE, REQ, 1, PDB_DIM_MAX,  0, NULL },
    { "created_at",    FK_U64, MERGE_IMMUTABLE, MAN, 0, UINT64_MAX,   0, NULL },
    { "updated_at",    FK_U64, MERGE_MAX,       MAN, 0, UINT64_MAX,   0, NULL },
};

static const field_spec_t s_experience[] = {
    { "content",         FK_STR,      MERGE_IMMUTABLE, REQ, 1, PDB_CONTENT_MAX, 0, NULL },
    { "embedding",       FK_VEC,      MERGE_IMMUTABLE, REQ | FIELD_SEPARATE, 0, 0, 0, NULL },
    { "type",            FK_VARIANT,  MERGE_IMMUTABLE, 0,   0, 0,               0, NULL },
    { "importance",      FK_UNIT,     MERGE_LWW,       0,   0, 0,               0.5, NULL },
    { "confidence",      FK_UNIT,     MERGE_LWW,       0,   0, 0,               0.5, NULL },
    { "applications",    FK_COUNTER,  MERGE_COUNTER,   MAN, 0, PDB_COUNTER_MAX, 0, NULL },
    { "domain",          FK_STR_LIST, MERGE_LWW,       0,   0, PDB_DOMAIN_MAX,  0, NULL },
    { "tags",            FK_STR_MAP,  MERGE_LWW,       0,   0, PDB_MAP_MAX,     0, NULL },
    { "related_files",   FK_STR_LIST, MERGE_LWW,       0,   0, PDB_LIST_MAX,    0, NULL },
    { "source_agent",    FK_STR,      MERGE_IMMUTABLE, 0,   0, PDB_NAME_MAX,    0, NULL },
    { "source_task",     FK_STR,      MERGE_IMMUTABLE, 0,   0, PDB_STR_MAX,     0, NULL },
    { "created_at",      FK_U64,      MERGE_IMMUTABLE, MAN, 0, UINT64_MAX,      0, NULL },
    { "last_reinforced", FK_U64,      MERGE_MAX,       MAN, 0, UINT64_MAX,      0, NULL },
    { "archived",        FK_BOOL,     MERGE_LWW,       0,   0, 0,               0, NULL },
};

static const field_spec_t s_relation[] = {
    { "source",     FK_ID,      MERGE_IMMUTABLE, REQ, 0, 0,           0, NULL },
    { "target",     FK_ID,      MERGE_IMMUTABLE, REQ, 0, 0,           0, NULL },
    { "type",       FK_ENUM,    MERGE_IMMUTABLE, REQ, 0, 0,           0, s_relation_types },
    { "strength",   FK_UNIT,    MERGE_IMMUTABLE, 0,   0, 0,           1.0, NULL },
    { "metadata",   FK_STR_MAP, MERGE_IMMUTABLE, 0,   0, PDB_MAP_MAX, 0, NULL },
    { "created_at", FK_U64,     MERGE_IMMUTABLE, MAN, 0, UINT64_MAX,  0, NULL },
};

static const field_spec_t s_insight[] = {
    { "content",     FK_STR,      MERGE_IMMUTABLE, REQ, 1, PDB_CONTENT_MAX, 0, NULL },
    { "embedding",   FK_VEC,      MERGE_IMMUTABLE, REQ, 0, 0,               0, NULL },
    { "source_ids",  FK_ID_LIST,  MERGE_IMMUTABLE, 0,   0, PDB_LIST_MAX,    0, NULL },
    { "type",        FK_ENUM,     MERGE_IMMUTABLE, REQ, 0, 0,               0, s_insight_types },
    { "confidence",  FK_UNIT,     MERGE_IMMUTABLE, 0,   0, 0,               0.5, NULL },
    { "domain",      FK_STR_LIST, MERGE_IMMUTABLE, 0,   0, PDB_DOMAIN_MAX,  0, NULL },
    { "created_at",  FK_U64,      MERGE_IMMUTABLE, MAN, 0, UINT64_MAX,      0, NULL },
    { "updated_at",  FK_U64,      MERGE_MAX,       MAN, 0, UINT64_MAX,      0, NULL },
};

#undef REQ
#undef MAN

#define N_OF(a) (sizeof (a) / sizeof (a)[0])

const char *
entity_type_name(ent_type_t type)
{
    switch (type) {
    case ENT_COLLECTIVE: return "collective";
    case ENT_EXPERIENCE: return "experience";
    case ENT_RELATION:   return "relation";
    case ENT_INSIGHT:    return "insight";
    }
    return NULL;
}

bool entity_type_valid(int type) { return type >= ENT_COLLECTIVE && type <= ENT_INSIGHT; }
bool entity_op_valid(int op) { return op >= OP_CREATE && op <= OP_DELETE; }

const field_spec_t *
entity_spec(ent_type_t type, size_t *count)
{
    switch (type) {
    case ENT_COLLECTIVE: *count = N_OF(s_collective); return s_collective;
    case ENT_EXPERIENCE: *count = N_OF(s_experience); return s_experience;
    case ENT_RELATION:   *count = N_OF(s_relation);   return s_relation;
    case ENT_INSIGHT:    *count = N_OF(s_insight);    return s_insight;
    }
    *count = 0;
    return NULL;
}

const field_spec_t *
entity_field(ent_type_t type, const char *name, size_t len)
{
    size_t count;
    const field_spec_t *spec = entity_spec(type, &count);
    for (size_t i = 0; i < count; i++)
        if (strlen(spec[i].name) == len && memcmp(spec[i].name, name, len) == 0)
            return &spec[i];
    return NULL;
}

bool
entity_utf8_valid(const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *) text, *end = p + len;
    while (p < end) {
        unsigned c = *p++;
        if (c == 0)
            return false;
        if (c < 0x80)
            continue;
        int extra = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 && c < 0xe0 ? 1 : -1;
        if (extra < 0 || c > 0xf4 || end - p < extra)
            return false;
        unsigned cp = c & (0x3fu >> extra);
        for (int i = 0; i < extra; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        //  Overlong forms, surrogates and values past U+10FFFF are invalid.
        if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff))
            || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += extra;
    }
    return true;
}

//  --------------------------------------------------------------------------
//  Value checks

static int
s_check_str(const char *name, const msgpack_object *v, uint64_t min, uint64_t max,
            char *why)
{
    if (v->type != MSGPACK_OBJECT_STR)
        return WHY(PDB_EINVAL, "field '%s' must be a string", name);
    if (v->via.str.size > max)
        return snprintf(why, PDB_ERRMSG_MAX, "field '%s' is %u bytes, over the limit of %llu",
                        name, v->via.str.size, (unsigned long long) max), PDB_ETOOBIG;
    if (v->via.str.size < min)
        return WHY(PDB_EINVAL, "field '%s' must not be empty", name);
    if (!entity_utf8_valid(v->via.str.ptr, v->via.str.size))
        return WHY(PDB_EINVAL, "field '%s' is not valid UTF-8", name);
    return 0;
}

static int
s_check_unit(const char *name, const msgpack_object *v, char *why)
{
    double d;
    if (mpk_get_double(v, &d))
        return WHY(PDB_EINVAL, "field '%s' must be a finite number", name);
    if (d < 0.0 || d > 1.0)
        return WHY(PDB_EINVAL, "field '%s' must be between 0 and 1, got %g", name, d);
    return 0;
}

static int
s_check_vec(const char *name, const msgpack_object *v, uint32_t dim, char *why)
{
    if (v->type != MSGPACK_OBJECT_BIN || v->via.bin.size % sizeof(float) != 0)
        return WHY(PDB_EINVAL, "field '%s' must be a float32 vector", name);
    uint32_t n = v->via.bin.size / sizeof(float);
    if (n == 0 || n > PDB_DIM_MAX || (dim && n != dim))
        return WHY(PDB_EINVAL, "field '%s' has %u dimensions, the collective has %u", name, n, dim);
    for (uint32_t i = 0; i < n; i++) {
        float f;
        memcpy(&f, v->via.bin.ptr + i * sizeof f, sizeof f);
        if (!isfinite(f))
            return WHY(PDB_EINVAL, "field '%s' holds a NaN or infinite value at index %u", name, i);
    }
    return 0;
}

//  True when every float of a checked vector is +0 or -0.
static bool
s_vec_all_zero(const msgpack_object *v)
{
    for (uint32_t i = 0; i < v->via.bin.size / sizeof(float); i++) {
        float f;
        memcpy(&f, v->via.bin.ptr + i * sizeof f, sizeof f);
        if (f != 0.0f)
            return false;
    }
    return true;
}

static int
s_check_str_list(const field_spec_t *spec, const msgpack_object *v, char *why)
{
    if (v->type != MSGPACK_OBJECT_ARRAY)
        return WHY(PDB_EINVAL, "field '%s' must be a list of strings", spec->name);
    if (v->via.array.size > spec->max)
        return snprintf(why, PDB_ERRMSG_MAX, "field '%s' has %u items, over the limit of %llu",
                        spec->name, v->via.array.size, (unsigned long long) spec->max),
               PDB_ETOOBIG;
    for (uint32_t i = 0; i < v->via.array.size; i++) {
        int rc = s_check_str(spec->name, &v->via.array.ptr[i], 0, PDB_STR_MAX, why);
        if (rc)
            return rc;
    }
    return 0;
}

static int
s_check_map(const field_spec_t *spec, const msgpack_object *v, char *why)
{
    if (v->type != MSGPACK_OBJECT_MAP)
        return WHY(PDB_EINVAL, "field '%s' must be an object", spec->name);
    if (v->via.map.size > spec->max)
        return snprintf(why, PDB_ERRMSG_MAX, "field '%s' has %u entries, over the limit of %llu",
                        spec->name, v->via.map.size, (unsigned long long) spec->max),
               PDB_ETOOBIG;
    for (uint32_t i = 0; i < v->via.map.size; i++) {
        const msgpack_object_kv *kv = &v->via.map.ptr[i];
        if (spec->kind == FK_COUNTER) {
            if (kv->key.type != MSGPACK_OBJECT_BIN || kv->key.via.bin.size != 16
                || kv->val.type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                return WHY(PDB_EINVAL, "field '%s' must map instance ids to counts", spec->name);
        }
        else {
            int rc = s_check_str(spec->name, &kv->key, 1, PDB_NAME_MAX, why);
            if (!rc)
                rc = s_check_str(spec->name, &kv->val, 0, PDB_STR_MAX, why);
            if (rc)
                return rc;
        }
        for (uint32_t j = 0; j < i; j++)
            if (mpk_key_equal(&v->via.map.ptr[j].key, &kv->key))
                return WHY(PDB_EINVAL, "field '%s' has a duplicate key", spec->name);
    }
    return 0;
}

static bool
s_in_list(const msgpack_object *v, const char *const *values)
{
    for (; *values; values++)
        if (mpk_is_str(v, *values))
            return true;
    return false;
}

static const variant_spec_t *
s_variant(const msgpack_object *kind)
{
    for (size_t i = 0; i < entity_variant_count; i++)
        if (mpk_is_str(kind, entity_variants[i].kind))
            return &entity_variants[i];
    return NULL;
}

static int
s_check_variant_field(char type, const msgpack_object *v, char *why)
{
    pdb_id_t id;
    switch (type) {
    case 'S': return s_check_str("type", v, 0, PDB_STR_MAX, why);
    case 'U': return s_check_unit("type", v, why);
    case 'B': return v->type == MSGPACK_OBJECT_BOOLEAN
                     ? 0 : WHY(PDB_EINVAL, "type field must be a boolean");
    case 'I': return v->type == MSGPACK_OBJECT_NIL || mpk_get_id(v, &id) == 0
                     ? 0 : WHY(PDB_EINVAL, "type field must be an experience id");
    case 'V': return s_in_list(v, entity_severities)
                     ? 0 : WHY(PDB_EINVAL, "severity must be low, medium, high or critical");
    }
    return WHY(PDB_EINVAL, "bad variant field");
}

static int
s_check_variant(const msgpack_object *v, char *why)
{
    if (v->type != MSGPACK_OBJECT_MAP)
        return WHY(PDB_EINVAL, "field 'type' must be an object with a 'kind'");
    const msgpack_object *kind = mpk_map_get(v, "kind");
    const variant_spec_t *variant = kind ? s_variant(kind) : NULL;
    if (!variant)
        return WHY(PDB_EINVAL, "field 'type' has no known 'kind'");
    for (uint32_t i = 0; i < v->via.map.size; i++) {
        const msgpack_object_kv *kv = &v->via.map.ptr[i];
        if (mpk_is_str(&kv->key, "kind"))
            continue;
        char type = 0;
        for (int f = 0; f < VARIANT_FIELDS_MAX && variant->fields[f].name; f++)
            if (mpk_is_str(&kv->key, variant->fields[f].name))
                type = variant->fields[f].type;
        if (!type)
            return WHY(PDB_EINVAL, "type '%s' has no such field", variant->kind);
        for (uint32_t j = 0; j < i; j++)
            if (mpk_key_equal(&v->via.map.ptr[j].key, &kv->key))
                return WHY(PDB_EINVAL, "field 'type' has a duplicate key");
        int rc = s_check_variant_field(type, &kv->val, why);
        if (rc)
            return rc;
    }
    return 0;
}

static int
s_check_id_list(const field_spec_t *spec, const msgpack_object *v, char *why)
{
    if (v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size > spec->max)
        return WHY(PDB_EINVAL, "field '%s' must be a list of at most %llu ids", spec->name,
                   (unsigned long long) spec->max);
    pdb_id_t id;
    for (uint32_t i = 0; i < v->via.array.size; i++)
        if (mpk_get_id(&v->via.array.ptr[i], &id))
            return WHY(PDB_EINVAL, "field '%s' must hold ids", spec->name);
    return 0;
}

int
entity_check_value(const field_spec_t *spec, const msgpack_object *v, uint32_t dim,
                   char why[PDB_ERRMSG_MAX])
{
    pdb_id_t id;
    switch (spec->kind) {
    case FK_STR:      return s_check_str(spec->name, v, spec->min, spec->max, why);
    case FK_UNIT:     return s_check_unit(spec->name, v, why);
    case FK_VEC:      return s_check_vec(spec->name, v, dim, why);
    case FK_STR_LIST: return s_check_str_list(spec, v, why);
    case FK_STR_MAP:
    case FK_COUNTER:  return s_check_map(spec, v, why);
    case FK_VARIANT:  return s_check_variant(v, why);
    case FK_ID_LIST:  return s_check_id_list(spec, v, why);
    case FK_ID:
        return mpk_get_id(v, &id) ? WHY(PDB_EINVAL, "field '%s' must be an id", spec->name) : 0;
    case FK_BOOL:
        return v->type == MSGPACK_OBJECT_BOOLEAN ? 0
               : WHY(PDB_EINVAL, "field '%s' must be true or false", spec->name);
    case FK_ENUM:
        return s_in_list(v, spec->values) ? 0
               : WHY(PDB_EINVAL, "field '%s' has an unknown value", spec->name);
    case FK_U64:
        if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER
            || v->via.u64 < spec->min || v->via.u64 > spec->max)
            return WHY(PDB_EINVAL, "field '%s' must be an integer from %llu to %llu", spec->name,
                       (unsigned long long) spec->min, (unsigned long long) spec->max);
        return 0;
    }
    return WHY(PDB_EINVAL, "field '%s' has an unknown kind", spec->name);
}

//  --------------------------------------------------------------------------
//  Whole change

static int
s_check_field(ent_type_t type, change_op_t op, const msgpack_object_kv *kv,
              bool from_client, uint32_t dim, char *why)
{
    if (kv->key.type != MSGPACK_OBJECT_STR)
        return WHY(PDB_EINVAL, "field names must be strings");
    const field_spec_t *spec = entity_field(type, kv->key.via.str.ptr, kv->key.via.str.size);
    if (!spec)
        return WHY(PDB_EINVAL, "unknown field '%.*s' for a %s",
                   (int) (kv->key.via.str.size > 64 ? 64 : kv->key.via.str.size),
                   kv->key.via.str.ptr, entity_type_name(type));
    if (from_client && (spec->flags & FIELD_MANAGED))
        return WHY(PDB_EINVAL, "field '%s' is set by the server", spec->name);
    if (op == OP_UPDATE && spec->merge == MERGE_IMMUTABLE)
        return WHY(PDB_EINVAL, "field '%s' cannot change after create", spec->name);
    int rc = entity_check_value(spec, &kv->val, dim, why);
    //  A zero vector has no direction: it scores 0 against every query, so
    //  a new one is refused. Only new writes: one that another node (or an
    //  older version) already stored must still replicate, or nodes would
    //  never converge.
    if (!rc && from_client && spec->kind == FK_VEC && s_vec_all_zero(&kv->val))
        return WHY(PDB_EINVAL, "field '%s' must not be all zeros: a zero vector has no direction, "
                   "so no search would ever match it", spec->name);
    return rc;
}

int
entity_check(ent_type_t type, change_op_t op, const msgpack_object *fields,
             bool from_client, uint32_t dim, char why[PDB_ERRMSG_MAX])
{
    if (!entity_type_valid((int) type) || !entity_op_valid((int) op))
        return WHY(PDB_EINVAL, "unknown entity type or operation");
    if (!fields || fields->type != MSGPACK_OBJECT_MAP)
        return WHY(PDB_EINVAL, "fields must be an object");
    const msgpack_object_map *map = &fields->via.map;
    if (op == OP_DELETE)
        return map->size == 0 ? 0 : WHY(PDB_EINVAL, "a delete carries no fields");
    if (op == OP_UPDATE && map->size == 0)
        return WHY(PDB_EINVAL, "an update must set at least one field");
    for (uint32_t i = 0; i < map->size; i++) {
        int rc = s_check_field(type, op, &map->ptr[i], from_client, dim, why);
        if (rc)
            return rc;
        for (uint32_t j = 0; j < i; j++)
            if (mpk_key_equal(&map->ptr[j].key, &map->ptr[i].key))
                return WHY(PDB_EINVAL, "field '%.*s' appears twice",
                           (int) map->ptr[i].key.via.str.size, map->ptr[i].key.via.str.ptr);
    }
    if (op == OP_CREATE) {
        size_t count;
        const field_spec_t *spec = entity_spec(type, &count);
        for (size_t i = 0; i < count; i++)
            if ((spec[i].flags & FIELD_REQUIRED) && !mpk_map_get(fields, spec[i].name))
                return WHY(PDB_EINVAL, "field '%s' is required", spec[i].name);
    }
    return 0;
}
