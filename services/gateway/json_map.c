#include "json_map.h"
#include "json_text.h"
#include "b64.h"
#include "bounds.h"
#include "id.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Field names longer than this are cut in messages: a name comes from the
//  client and must not crowd out the rest of the message.
#define JSON_MAP_NAME_SHOWN 64

//  Numbers below this round to a finite float32: FLT_MAX plus half of its
//  last step (2^103). FLT_MAX itself is shown as 3.4028235e+38, a double a
//  little above FLT_MAX, and must read back.
#define JSON_MAP_F32_LIMIT ((double) FLT_MAX + 0x1p103)

//  --------------------------------------------------------------------------
//  Small conversions

static void
s_f32_le_store(uint8_t *dst, float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    for (int i = 0; i < 4; i++)
        dst[i] = (uint8_t) (bits >> (8 * i));
}

static float
s_f32_le_load(const uint8_t *src)
{
    uint32_t bits = (uint32_t) src[0] | (uint32_t) src[1] << 8 | (uint32_t) src[2] << 16
                  | (uint32_t) src[3] << 24;
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static int
s_id_from_json(const json_t *value, pdb_id_t *id)
{
    if (!json_is_string(value))
        return PDB_EINVAL;
    return pdb_id_parse(json_string_value(value), json_string_length(value), id);
}

static int
s_strcmp_indirect(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

//  Keys of a JSON object in byte order, so maps we pack are canonical
//  whatever order the client wrote them in. Caller frees the array.
static const char **
s_sorted_keys(const json_t *object, size_t *count)
{
    size_t n = json_object_size(object);
    const char **keys = malloc((n ? n : 1) * sizeof *keys);
    if (!keys)
        return NULL;
    size_t i = 0;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *) object, key, value)
        keys[i++] = key;
    qsort(keys, n, sizeof *keys, s_strcmp_indirect);
    *count = n;
    return keys;
}

//  --------------------------------------------------------------------------
//  JSON -> MessagePack, one value per field kind

int
json_map_vec_from_json(const json_t *array, const char *name, float *out, size_t max,
                       size_t *count, char why[PDB_ERRMSG_MAX])
{
    if (!json_is_array(array))
        return WHY(PDB_EINVAL, "field '%s' must be an array of numbers", name);
    size_t n = json_array_size(array);
    if (n > max)
        return snprintf(why, PDB_ERRMSG_MAX, "field '%s' has %zu dimensions, over the limit of %zu",
                        name, n, max), PDB_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(array, i);
        if (!json_is_number(item))
            return WHY(PDB_EINVAL, "field '%s' must hold only numbers (index %zu)", name, i);
        double d = json_number_value(item);
        //  JSON cannot spell NaN or Inf, but 1e39 is a fine double and
        //  would silently become Inf as a float32.
        if (!isfinite(d) || fabs(d) >= JSON_MAP_F32_LIMIT)
            return WHY(PDB_EINVAL, "field '%s' value at index %zu is outside the float32 range",
                       name, i);
        out[i] = (float) d;
    }
    *count = n;
    return 0;
}

static int
s_pack_vec(msgpack_packer *pk, const char *name, const json_t *value, char *why)
{
    float *values = malloc(PDB_DIM_MAX * sizeof *values);
    uint8_t *bytes = malloc(PDB_DIM_MAX * sizeof(float));
    size_t n = 0;
    int rc = values && bytes ? 0 : -ENOMEM;
    if (!rc)
        rc = json_map_vec_from_json(value, name, values, PDB_DIM_MAX, &n, why);
    if (!rc) {
        for (size_t i = 0; i < n; i++)
            s_f32_le_store(bytes + i * sizeof(float), values[i]);
        mpk_pack_bin(pk, bytes, n * sizeof(float));
    }
    free(values);
    free(bytes);
    return rc;
}

//  An embedding already read on the fast path (jvec.h), in range.
static int
s_pack_vec_floats(msgpack_packer *pk, const float *values, size_t n)
{
    uint8_t *bytes = malloc((n ? n : 1) * sizeof(float));
    if (!bytes)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        s_f32_le_store(bytes + i * sizeof(float), values[i]);
    mpk_pack_bin(pk, bytes, n * sizeof(float));
    free(bytes);
    return 0;
}

//  "<name>_b64": base64 of little-endian float32, dim * 4 bytes when the
//  collective's size is known, every value finite. text is the string's
//  len characters, from the JSON value or taken on the fast path.
static int
s_pack_vec_b64_text(msgpack_packer *pk, const char *name, const char *text, size_t len,
                    uint32_t dim, char *why)
{
    if (len > ((size_t) PDB_DIM_MAX * sizeof(float) + 2) / 3 * 4)
        return snprintf(why, PDB_ERRMSG_MAX, "field '%s%s' holds more than %u float32 values",
                        name, JSON_MAP_B64, PDB_DIM_MAX), PDB_ETOOBIG;
    uint8_t *bytes = malloc(B64_DECODED_MAX(len) + 1);
    if (!bytes)
        return -ENOMEM;
    size_t n = 0;
    int rc = 0;
    if (b64_decode(text, len, bytes, &n) != 0)
        rc = WHY(PDB_EINVAL, "field '%s%s' is not valid base64 (standard alphabet, '=' padding)", name,
                 JSON_MAP_B64);
    else if (n == 0 || n % sizeof(float) != 0 || (dim && n != (size_t) dim * sizeof(float)))
        rc = WHY(PDB_EINVAL, "field '%s%s' holds %zu bytes; the collective's %u dimensions need %zu "
                 "(little-endian float32 each)", name, JSON_MAP_B64, n, dim,
                 (size_t) dim * sizeof(float));
    for (size_t i = 0; !rc && i < n / sizeof(float); i++)
        if (!isfinite(s_f32_le_load(bytes + i * sizeof(float))))
            rc = WHY(PDB_EINVAL, "field '%s%s' holds a NaN or infinite value at index %zu", name,
                     JSON_MAP_B64, i);
    if (!rc)
        mpk_pack_bin(pk, bytes, n);
    free(bytes);
    return rc;
}

static int
s_pack_vec_b64(msgpack_packer *pk, const char *name, const json_t *value, uint32_t dim,
               char *why)
{
    if (!json_is_string(value))
        return WHY(PDB_EINVAL, "field '%s%s' must be a base64 string", name, JSON_MAP_B64);
    return s_pack_vec_b64_text(pk, name, json_string_value(value), json_string_length(value),
                               dim, why);
}

static int
s_pack_str_list(msgpack_packer *pk, const char *name, const json_t *value, char *why)
{
    if (!json_is_array(value))
        return WHY(PDB_EINVAL, "field '%s' must be an array of strings", name);
    for (size_t i = 0; i < json_array_size(value); i++)
        if (!json_is_string(json_array_get(value, i)))
            return WHY(PDB_EINVAL, "field '%s' must hold only strings (index %zu)", name, i);
    mpk_pack_array(pk, json_array_size(value));
    for (size_t i = 0; i < json_array_size(value); i++) {
        const json_t *item = json_array_get(value, i);
        mpk_pack_strn(pk, json_string_value(item), json_string_length(item));
    }
    return 0;
}

static int
s_pack_id_list(msgpack_packer *pk, const char *name, const json_t *value, char *why)
{
    if (!json_is_array(value))
        return WHY(PDB_EINVAL, "field '%s' must be an array of UUID strings", name);
    pdb_id_t id;
    for (size_t i = 0; i < json_array_size(value); i++)
        if (s_id_from_json(json_array_get(value, i), &id))
            return WHY(PDB_EINVAL, "field '%s' must hold only UUID strings (index %zu)", name, i);
    mpk_pack_array(pk, json_array_size(value));
    for (size_t i = 0; i < json_array_size(value); i++) {
        (void) s_id_from_json(json_array_get(value, i), &id);
        mpk_pack_id(pk, &id);
    }
    return 0;
}

static int
s_pack_str_map(msgpack_packer *pk, const char *name, const json_t *value, char *why)
{
    if (!json_is_object(value))
        return WHY(PDB_EINVAL, "field '%s' must be an object of strings", name);
    const char *key;
    json_t *item;
    json_object_foreach((json_t *) value, key, item)
        if (!json_is_string(item))
            return WHY(PDB_EINVAL, "field '%s' must map names to strings (key '%.*s')", name,
                       JSON_MAP_NAME_SHOWN, key);
    size_t n;
    const char **keys = s_sorted_keys(value, &n);
    if (!keys)
        return -ENOMEM;
    mpk_pack_map(pk, n);
    for (size_t i = 0; i < n; i++) {
        item = json_object_get(value, keys[i]);
        mpk_pack_strn(pk, keys[i], strlen(keys[i]));
        mpk_pack_strn(pk, json_string_value(item), json_string_length(item));
    }
    free(keys);
    return 0;
}

typedef struct {
    pdb_id_t id;
    uint64_t count;
} s_count_t;

static int
s_count_cmp(const void *a, const void *b)
{
    return pdb_id_cmp(&((const s_count_t *) a)->id, &((const s_count_t *) b)->id);
}

static int
s_pack_counter(msgpack_packer *pk, const char *name, const json_t *value, char *why)
{
    if (!json_is_object(value))
        return WHY(PDB_EINVAL, "field '%s' must map instance ids to counts", name);
    size_t n = json_object_size(value);
    if (n > PDB_COUNTER_MAX)
        return snprintf(why, PDB_ERRMSG_MAX, "field '%s' has %zu entries, over the limit of %u",
                        name, n, PDB_COUNTER_MAX), PDB_ETOOBIG;
    s_count_t *counts = malloc((n ? n : 1) * sizeof *counts);
    if (!counts)
        return -ENOMEM;
    size_t i = 0;
    const char *key;
    json_t *item;
    json_object_foreach((json_t *) value, key, item) {
        if (pdb_id_parse(key, strlen(key), &counts[i].id) || !json_is_integer(item)
            || json_integer_value(item) < 0) {
            free(counts);
            return WHY(PDB_EINVAL, "field '%s' must map instance UUIDs to non-negative integers",
                       name);
        }
        counts[i++].count = (uint64_t) json_integer_value(item);
    }
    qsort(counts, n, sizeof *counts, s_count_cmp);
    mpk_pack_map(pk, n);
    for (i = 0; i < n; i++) {
        mpk_pack_id(pk, &counts[i].id);
        mpk_pack_u64(pk, counts[i].count);
    }
    free(counts);
    return 0;
}

static const variant_spec_t *
s_variant_by_name(const char *kind)
{
    for (size_t i = 0; i < entity_variant_count; i++)
        if (strcmp(entity_variants[i].kind, kind) == 0)
            return &entity_variants[i];
    return NULL;
}

static char
s_variant_field_type(const variant_spec_t *variant, const char *name)
{
    for (int f = 0; f < VARIANT_FIELDS_MAX && variant->fields[f].name; f++)
        if (strcmp(variant->fields[f].name, name) == 0)
            return variant->fields[f].type;
    return 0;
}

//  One member of a type variant; the range and enum checks are left to
//  entity_check, only the JSON shape is decided here.
static int
s_pack_variant_field(msgpack_packer *pk, const char *kind, const char *name, char type,
                     const json_t *value, char *why)
{
    pdb_id_t id;
    switch (type) {
    case 'S':
    case 'V':
        if (!json_is_string(value))
            return WHY(PDB_EINVAL, "type '%s' field '%s' must be a string", kind, name);
        mpk_pack_strn(pk, json_string_value(value), json_string_length(value));
        return 0;
    case 'U':
        if (!json_is_number(value))
            return WHY(PDB_EINVAL, "type '%s' field '%s' must be a number", kind, name);
        mpk_pack_double(pk, json_number_value(value));
        return 0;
    case 'B':
        if (!json_is_boolean(value))
            return WHY(PDB_EINVAL, "type '%s' field '%s' must be true or false", kind, name);
        mpk_pack_bool(pk, json_is_true(value));
        return 0;
    case 'I':
        if (json_is_null(value)) {
            mpk_pack_nil(pk);
            return 0;
        }
        if (s_id_from_json(value, &id))
            return WHY(PDB_EINVAL, "type '%s' field '%s' must be a UUID string or null", kind,
                       name);
        mpk_pack_id(pk, &id);
        return 0;
    }
    return WHY(PDB_EINVAL, "type '%s' field '%s' has an unknown kind", kind, name);
}

static int
s_pack_variant(msgpack_packer *pk, const json_t *value, char *why)
{
    if (!json_is_object(value))
        return WHY(PDB_EINVAL, "field 'type' must be an object with a 'kind'");
    const json_t *kind_json = json_object_get(value, "kind");
    if (!json_is_string(kind_json))
        return WHY(PDB_EINVAL, "field 'type' needs a string 'kind'");
    const char *kind = json_string_value(kind_json);
    const variant_spec_t *variant = s_variant_by_name(kind);
    if (!variant)
        return WHY(PDB_EINVAL, "field 'type' has an unknown kind '%.*s'", JSON_MAP_NAME_SHOWN,
                   kind);
    const char *key;
    json_t *item;
    json_object_foreach((json_t *) value, key, item)
        if (strcmp(key, "kind") != 0 && !s_variant_field_type(variant, key))
            return WHY(PDB_EINVAL, "type '%s' has no field '%.*s'", variant->kind,
                       JSON_MAP_NAME_SHOWN, key);
    mpk_pack_map(pk, json_object_size(value));
    mpk_pack_str(pk, "kind");
    mpk_pack_str(pk, variant->kind);
    //  Members in the variant's own order: the same type packs the same way.
    for (int f = 0; f < VARIANT_FIELDS_MAX && variant->fields[f].name; f++) {
        item = json_object_get(value, variant->fields[f].name);
        if (!item)
            continue;
        mpk_pack_str(pk, variant->fields[f].name);
        int rc = s_pack_variant_field(pk, variant->kind, variant->fields[f].name,
                                      variant->fields[f].type, item, why);
        if (rc)
            return rc;
    }
    return 0;
}

static int
s_pack_scalar(msgpack_packer *pk, const field_spec_t *spec, const json_t *value, char *why)
{
    pdb_id_t id;
    switch (spec->kind) {
    case FK_STR:
    case FK_ENUM:
        if (!json_is_string(value))
            return WHY(PDB_EINVAL, "field '%s' must be a string", spec->name);
        mpk_pack_strn(pk, json_string_value(value), json_string_length(value));
        return 0;
    case FK_ID:
        if (s_id_from_json(value, &id))
            return WHY(PDB_EINVAL, "field '%s' must be a UUID string", spec->name);
        mpk_pack_id(pk, &id);
        return 0;
    case FK_UNIT:
        if (!json_is_number(value))
            return WHY(PDB_EINVAL, "field '%s' must be a number from 0 to 1", spec->name);
        mpk_pack_double(pk, json_number_value(value));
        return 0;
    case FK_BOOL:
        if (!json_is_boolean(value))
            return WHY(PDB_EINVAL, "field '%s' must be true or false", spec->name);
        mpk_pack_bool(pk, json_is_true(value));
        return 0;
    case FK_U64:
        if (!json_is_integer(value) || json_integer_value(value) < 0)
            return WHY(PDB_EINVAL, "field '%s' must be a non-negative integer", spec->name);
        mpk_pack_u64(pk, (uint64_t) json_integer_value(value));
        return 0;
    default:
        return WHY(PDB_EINVAL, "field '%s' has an unknown kind", spec->name);
    }
}

//  How the embedding field arrived: as "<name>_b64" (its text taken on the
//  fast path, taken_b64, or the JSON string), or as the number array (read
//  on the fast path, vec, or the JSON array itself).
typedef struct {
    bool b64;
    const jvec_vec_t *vec;
    const jvec_b64_t *taken_b64;
    uint32_t dim;
} s_vec_in_t;

static int
s_pack_value(msgpack_packer *pk, const field_spec_t *spec, const json_t *value,
             const s_vec_in_t *in, char *why)
{
    switch (spec->kind) {
    case FK_VEC: {
        //  jvec takes only "embedding" and "embedding_b64".
        bool taken_field = strcmp(spec->name, "embedding") == 0;
        if (in->b64 && in->taken_b64 && taken_field)
            return s_pack_vec_b64_text(pk, spec->name, in->taken_b64->text, in->taken_b64->len,
                                       in->dim, why);
        if (in->b64)
            return s_pack_vec_b64(pk, spec->name, value, in->dim, why);
        if (in->vec && taken_field)
            return s_pack_vec_floats(pk, in->vec->values, in->vec->n);
        return s_pack_vec(pk, spec->name, value, why);
    }
    case FK_STR_LIST: return s_pack_str_list(pk, spec->name, value, why);
    case FK_ID_LIST:  return s_pack_id_list(pk, spec->name, value, why);
    case FK_STR_MAP:  return s_pack_str_map(pk, spec->name, value, why);
    case FK_COUNTER:  return s_pack_counter(pk, spec->name, value, why);
    case FK_VARIANT:  return s_pack_variant(pk, value, why);
    default:          return s_pack_scalar(pk, spec, value, why);
    }
}

//  --------------------------------------------------------------------------
//  JSON -> MessagePack, whole field map

//  Which spec field a JSON member sets, or NULL when it sets none. A
//  counter is set through "<name>_by_instance"; "<name>" alone is its total,
//  derived on output and skipped on (non-client) input.
static const field_spec_t *
s_member_field(ent_type_t type, const char *key, const json_t *value, bool *skip, bool *b64)
{
    *skip = false;
    *b64 = false;
    size_t len = strlen(key), suffix = strlen(JSON_MAP_BY_INSTANCE);
    size_t b64_suffix = strlen(JSON_MAP_B64);
    const field_spec_t *spec = entity_field(type, key, len);
    if (spec && spec->kind == FK_COUNTER && json_is_integer(value))
        *skip = true;
    if (!spec && len > b64_suffix && strcmp(key + len - b64_suffix, JSON_MAP_B64) == 0) {
        spec = entity_field(type, key, len - b64_suffix);
        *b64 = spec && spec->kind == FK_VEC;
        if (!*b64)
            spec = NULL;
    }
    if (!spec && len > suffix && strcmp(key + len - suffix, JSON_MAP_BY_INSTANCE) == 0) {
        spec = entity_field(type, key, len - suffix);
        if (spec && spec->kind != FK_COUNTER)
            spec = NULL;
    }
    return spec;
}

//  Which JSON member carries each spec field (NULL: absent). Refuses
//  unknown members and, from clients, managed ones.
static int
s_collect(ent_type_t type, const json_t *object, bool from_client, const json_t **members,
          bool *b64, size_t *present, char *why)
{
    size_t count;
    const field_spec_t *spec = entity_spec(type, &count);
    memset(members, 0, count * sizeof *members);
    *present = 0;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *) object, key, value) {
        bool skip, compact;
        const field_spec_t *field = s_member_field(type, key, value, &skip, &compact);
        if (!field)
            return WHY(PDB_EINVAL, "unknown field '%.*s' for a %s", JSON_MAP_NAME_SHOWN, key,
                       entity_type_name(type));
        if (from_client && (field->flags & FIELD_MANAGED))
            return WHY(PDB_EINVAL, "field '%s' is set by the server", key);
        if (skip)
            continue;
        size_t index = (size_t) (field - spec);
        if (members[index] && field->kind == FK_VEC)
            return WHY(PDB_EINVAL, "give field '%s' or '%s%s', not both", field->name, field->name,
                       JSON_MAP_B64);
        if (members[index])
            return WHY(PDB_EINVAL, "field '%s' appears twice", field->name);
        members[index] = value;
        b64[index] = compact;
        (*present)++;
    }
    return 0;
}

//  The fields of the largest entity type: sizes the member table.
#define JSON_MAP_FIELDS_MAX 32

int
json_map_from_json(ent_type_t type, change_op_t op, const json_t *object,
                   bool from_client, uint32_t dim, mpk_out_t *out,
                   char why[PDB_ERRMSG_MAX])
{
    int rc = json_map_convert(type, object, from_client, dim, NULL, 0, out, why);
    if (rc)
        return rc;
    //  The same rules as every other write path: bounds, UTF-8, ranges,
    //  required and immutable fields.
    msgpack_unpacked unpacked;
    rc = mpk_parse(out->buf.data, out->buf.size, &unpacked);
    if (rc)
        return WHY(PDB_EINVAL, "the fields are too large or too deeply nested");
    rc = entity_check(type, op, &unpacked.data, from_client, dim, why);
    msgpack_unpacked_destroy(&unpacked);
    return rc;
}

int
json_map_convert(ent_type_t type, const json_t *object, bool from_client, uint32_t dim,
                 const jvec_t *vecs, size_t index, mpk_out_t *out,
                 char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    size_t count;
    const field_spec_t *spec = entity_spec(type, &count);
    if (!spec || count > JSON_MAP_FIELDS_MAX)
        return WHY(PDB_EINVAL, "unknown entity type");
    if (!json_is_object(object))
        return WHY(PDB_EINVAL, "the body must be a JSON object");
    const json_t *members[JSON_MAP_FIELDS_MAX];
    bool compact[JSON_MAP_FIELDS_MAX] = { false };
    size_t present;
    int rc = s_collect(type, object, from_client, members, compact, &present, why);
    if (rc)
        return rc;
    jvec_vec_t vec;
    jvec_b64_t b64;
    bool have_vec = jvec_get(vecs, index, &vec), have_b64 = jvec_get_b64(vecs, index, &b64);
    mpk_pack_map(&out->pk, present);
    for (size_t i = 0; i < count && !rc; i++) {
        if (!members[i])
            continue;
        s_vec_in_t in = { compact[i], have_vec ? &vec : NULL, have_b64 ? &b64 : NULL, dim };
        mpk_pack_str(&out->pk, spec[i].name);
        rc = s_pack_value(&out->pk, &spec[i], members[i], &in, why);
    }
    return rc ? rc : mpk_out_status(out);
}

//  --------------------------------------------------------------------------
//  MessagePack -> JSON text
//
//  Written straight into the reply's text: a search or a list page renders
//  many records, and a tree of jansson values per record (an allocation per
//  member) cost more than the rest of the reply. Each writer returns false
//  when the stored value does not have its field's kind; strings are checked
//  for UTF-8 here, as jansson checked them when it built the tree.

static void
s_vec_write(json_text_t *out, const void *data, size_t len)
{
    size_t n = len / sizeof(float);
    json_text_put(out, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            json_text_put(out, ",", 1);
        float f = s_f32_le_load((const uint8_t *) data + i * sizeof(float));
        json_text_put_real(out, json_text_f32(f));
    }
    json_text_put(out, "]", 1);
}

static bool
s_str_write(json_text_t *out, const msgpack_object *v)
{
    if (v->type != MSGPACK_OBJECT_STR || !entity_utf8_valid(v->via.str.ptr, v->via.str.size))
        return false;
    json_text_put_string(out, v->via.str.ptr, v->via.str.size);
    return true;
}

void
json_map_put_id(json_text_t *out, const pdb_id_t *id)
{
    char text[PDB_ID_STR_LEN + 1];
    pdb_id_format(id, text);
    json_text_put_string(out, text, PDB_ID_STR_LEN);
}

static bool
s_id_obj_write(json_text_t *out, const msgpack_object *v)
{
    pdb_id_t id;
    if (mpk_get_id(v, &id))
        return false;
    json_map_put_id(out, &id);
    return true;
}

static bool
s_list_write(json_text_t *out, const msgpack_object *v,
             bool (*item_fn)(json_text_t *, const msgpack_object *))
{
    if (v->type != MSGPACK_OBJECT_ARRAY)
        return false;
    json_text_put(out, "[", 1);
    for (uint32_t i = 0; i < v->via.array.size; i++) {
        if (i)
            json_text_put(out, ",", 1);
        if (!item_fn(out, &v->via.array.ptr[i]))
            return false;
    }
    json_text_put(out, "]", 1);
    return true;
}

static bool
s_str_map_write(json_text_t *out, const msgpack_object *v)
{
    if (v->type != MSGPACK_OBJECT_MAP)
        return false;
    json_text_put(out, "{", 1);
    for (uint32_t i = 0; i < v->via.map.size; i++) {
        const msgpack_object_kv *kv = &v->via.map.ptr[i];
        if (i)
            json_text_put(out, ",", 1);
        if (!s_str_write(out, &kv->key))
            return false;
        json_text_put(out, ":", 1);
        if (!s_str_write(out, &kv->val))
            return false;
    }
    json_text_put(out, "}", 1);
    return true;
}

static bool
s_unit_write(json_text_t *out, const msgpack_object *v)
{
    double d;
    if (mpk_get_double(v, &d))
        return false;
    json_text_put_real(out, d);
    return true;
}

static bool
s_bool_write(json_text_t *out, const msgpack_object *v)
{
    if (v->type != MSGPACK_OBJECT_BOOLEAN)
        return false;
    json_text_put(out, v->via.boolean ? "true" : "false", v->via.boolean ? 4 : 5);
    return true;
}

static bool
s_variant_field_write(json_text_t *out, char type, const msgpack_object *v)
{
    switch (type) {
    case 'U': return s_unit_write(out, v);
    case 'B': return s_bool_write(out, v);
    case 'I': if (v->type == MSGPACK_OBJECT_NIL) {
                  json_text_put(out, "null", 4);
                  return true;
              }
              return s_id_obj_write(out, v);
    default:  return s_str_write(out, v);
    }
}

static bool
s_variant_write(json_text_t *out, const msgpack_object *v)
{
    const msgpack_object *kind = mpk_map_get(v, "kind");
    const variant_spec_t *variant = NULL;
    for (size_t i = 0; kind && i < entity_variant_count && !variant; i++)
        if (mpk_is_str(kind, entity_variants[i].kind))
            variant = &entity_variants[i];
    if (!variant)
        return false;
    bool first = true;
    json_text_put(out, "{", 1);
    json_text_put_key(out, &first, "kind");
    json_text_put_string(out, variant->kind, strlen(variant->kind));
    for (int f = 0; f < VARIANT_FIELDS_MAX && variant->fields[f].name; f++) {
        const msgpack_object *member = mpk_map_get(v, variant->fields[f].name);
        if (!member)
            continue;
        json_text_put_key(out, &first, variant->fields[f].name);
        if (!s_variant_field_write(out, variant->fields[f].type, member))
            return false;
    }
    json_text_put(out, "}", 1);
    return true;
}

//  A counter becomes two members: the total and the per-instance map.
static bool
s_counter_write(json_text_t *out, bool *first, const char *name, const msgpack_object *v)
{
    if (v->type != MSGPACK_OBJECT_MAP)
        return false;
    uint64_t total = 0;
    for (uint32_t i = 0; i < v->via.map.size; i++) {
        const msgpack_object_kv *kv = &v->via.map.ptr[i];
        if (mpk_get_id(&kv->key, &(pdb_id_t) { 0 })
            || kv->val.type != MSGPACK_OBJECT_POSITIVE_INTEGER || kv->val.via.u64 > INT64_MAX)
            return false;
        total = total + kv->val.via.u64 < total ? UINT64_MAX : total + kv->val.via.u64;
    }
    json_text_put_key(out, first, name);
    json_text_put_int(out, total > INT64_MAX ? INT64_MAX : (int64_t) total);
    char member[64];
    snprintf(member, sizeof member, "%s%s", name, JSON_MAP_BY_INSTANCE);
    json_text_put_key(out, first, member);
    json_text_put(out, "{", 1);
    for (uint32_t i = 0; i < v->via.map.size; i++) {
        const msgpack_object_kv *kv = &v->via.map.ptr[i];
        pdb_id_t id;
        (void) mpk_get_id(&kv->key, &id);          // checked above
        if (i)
            json_text_put(out, ",", 1);
        json_map_put_id(out, &id);
        json_text_put(out, ":", 1);
        json_text_put_int(out, (int64_t) kv->val.via.u64);
    }
    json_text_put(out, "}", 1);
    return true;
}

static bool
s_value_write(json_text_t *out, const field_spec_t *spec, const msgpack_object *v)
{
    switch (spec->kind) {
    case FK_STR:
    case FK_ENUM:     return s_str_write(out, v);
    case FK_ID:       return s_id_obj_write(out, v);
    case FK_UNIT:     return s_unit_write(out, v);
    case FK_BOOL:     return s_bool_write(out, v);
    case FK_U64:      if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 > INT64_MAX)
                          return false;
                      json_text_put_int(out, (int64_t) v->via.u64);
                      return true;
    case FK_VEC:      if (v->type != MSGPACK_OBJECT_BIN)
                          return false;
                      s_vec_write(out, v->via.bin.ptr, v->via.bin.size);
                      return true;
    case FK_STR_LIST: return s_list_write(out, v, s_str_write);
    case FK_ID_LIST:  return s_list_write(out, v, s_id_obj_write);
    case FK_STR_MAP:  return s_str_map_write(out, v);
    case FK_VARIANT:  return s_variant_write(out, v);
    case FK_COUNTER:  return false;   // two members: s_counter_write
    }
    return false;
}

static bool
s_field_write(json_text_t *out, bool *first, const field_spec_t *spec, const msgpack_object *v)
{
    if (spec->kind == FK_COUNTER && v->type != MSGPACK_OBJECT_NIL)
        return s_counter_write(out, first, spec->name, v);
    json_text_put_key(out, first, spec->name);
    if (v->type != MSGPACK_OBJECT_NIL)
        return s_value_write(out, spec, v);
    json_text_put(out, "null", 4);
    return true;
}

int
json_map_write(ent_type_t type, const msgpack_object *fields, const void *vec,
               size_t vec_len, json_text_t *out, bool *first)
{
    if (!fields || fields->type != MSGPACK_OBJECT_MAP)
        return PDB_ECORRUPT;
    size_t mark = out->len;
    size_t count;
    const field_spec_t *spec = entity_spec(type, &count);
    bool ok = true;
    for (size_t i = 0; ok && i < count; i++) {
        if ((spec[i].flags & FIELD_SEPARATE) && vec) {
            json_text_put_key(out, first, spec[i].name);
            s_vec_write(out, vec, vec_len);
            continue;
        }
        const msgpack_object *value = mpk_map_get(fields, spec[i].name);
        if (value)
            ok = s_field_write(out, first, &spec[i], value);
    }
    if (!ok) {
        json_text_truncate(out, mark);
        return PDB_ECORRUPT;
    }
    return out->failed ? -ENOMEM : 0;
}

int
json_map_to_json(ent_type_t type, const msgpack_object *fields, const void *vec,
                 size_t vec_len, json_t *into)
{
    json_text_t text = JSON_TEXT_INIT;
    bool first = true;
    json_text_put(&text, "{", 1);
    int rc = json_map_write(type, fields, vec, vec_len, &text, &first);
    json_text_put(&text, "}", 1);
    size_t len = 0;
    char *data = json_text_take(&text, &len);
    if (!rc && !data)
        rc = -ENOMEM;
    json_t *members = rc ? NULL : json_loadb(data, len, 0, NULL);
    free(data);
    if (!rc && (!members || json_object_update(into, members) != 0))
        rc = -ENOMEM;
    json_decref(members);
    return rc;
}
