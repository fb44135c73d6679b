/*  entity.h - the data model as a table: every entity type's fields, their
    kinds, bounds and merge rules (DESIGN.md section 1). Validation, record
    packing, merging and the JSON mapping are all driven by these tables, so
    a field is described once.

    Field values in MessagePack: strings are str, ids are bin(16), units and
    floats are float64, embeddings are bin of little-endian float32, lists are
    arrays, string maps are maps, the applications counter maps bin(16)
    instance ids to unsigned counts.
*/
#ifndef PDB_ENTITY_H
#define PDB_ENTITY_H

#include "err.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    ENT_COLLECTIVE = 1,
    ENT_EXPERIENCE = 2,
    ENT_RELATION   = 3,
    ENT_INSIGHT    = 4,
} ent_type_t;

typedef enum {
    OP_CREATE = 1,
    OP_UPDATE = 2,
    OP_DELETE = 3,
} change_op_t;

//  A whole entity's state (common/state.h), carried between nodes only:
//  initial sync and its relay. Kept out of change_op_t on purpose, so the
//  switches over what a client can write stay exhaustive; entity_op_valid
//  and entity_check refuse it, change_decode accepts it.
#define OP_STATE 4

typedef enum {
    FK_STR,        // str of min..max bytes, valid UTF-8
    FK_ID,         // bin(16); JSON: UUID string
    FK_UNIT,       // float64 in 0..1
    FK_VEC,        // bin of float32 x collective dim, all finite; JSON: number array
    FK_STR_LIST,   // array of at most max strings
    FK_STR_MAP,    // map of at most max string -> string
    FK_BOOL,
    FK_U64,        // unsigned integer in min..max
    FK_ENUM,       // str, one of `values`
    FK_VARIANT,    // experience type: map {"kind": ..., variant fields}
    FK_COUNTER,    // map bin(16) instance -> count; JSON: {"uuid": n}
    FK_ID_LIST,    // array of at most max bin(16)
} field_kind_t;

typedef enum {
    MERGE_IMMUTABLE,   // set at create, never changes
    MERGE_LWW,         // last writer wins on (hlc, origin)
    MERGE_COUNTER,     // per-instance maximum (grow-only counter)
    MERGE_MAX,         // largest value wins
} merge_t;

#define FIELD_REQUIRED 1u   // must be present on create
#define FIELD_MANAGED  2u   // set by storage; a client may not send it
#define FIELD_SEPARATE 4u   // kept outside the record (experience embedding)

typedef struct {
    const char *name;
    field_kind_t kind;
    merge_t merge;
    unsigned flags;
    uint64_t min, max;            // bytes / items / integer range
    double unit_default;          // FK_UNIT value when a create omits it
    const char *const *values;    // FK_ENUM: NULL-terminated
} field_spec_t;

//  Experience type variants: kind name and its fields, each
//  'S' string, 'U' unit float, 'B' bool, 'I' experience id (or nil),
//  'V' severity (low, medium, high, critical).
#define VARIANT_FIELDS_MAX 3
typedef struct {
    const char *kind;
    struct { const char *name; char type; } fields[VARIANT_FIELDS_MAX];
} variant_spec_t;

extern const variant_spec_t entity_variants[];
extern const size_t entity_variant_count;
extern const char *const entity_severities[];

//  "collective", "experience", "relation", "insight"; NULL when unknown.
const char *entity_type_name(ent_type_t type);
bool entity_type_valid(int type);
//  create, update or delete: the operations a write carries (not OP_STATE).
bool entity_op_valid(int op);

//  The fields of a type in canonical (record) order.
const field_spec_t *entity_spec(ent_type_t type, size_t *count);
//  One field by name, or NULL.
const field_spec_t *entity_field(ent_type_t type, const char *name, size_t len);

//  Validates the field map of one change. `from_client` (a new local
//  write, not a replicated one) forbids managed fields and all-zero vectors;
//  `dim` is the collective's embedding size (0 when the type has no
//  embedding). Returns 0, or PDB_EINVAL / PDB_ETOOBIG with `why` filled.
int entity_check(ent_type_t type, change_op_t op, const msgpack_object *fields,
                 bool from_client, uint32_t dim, char why[PDB_ERRMSG_MAX]);

//  Checks one value against its field spec (same codes as entity_check).
int entity_check_value(const field_spec_t *spec, const msgpack_object *value,
                       uint32_t dim, char why[PDB_ERRMSG_MAX]);

//  True when len bytes are valid UTF-8 with no NUL.
bool entity_utf8_valid(const char *text, size_t len);

#endif
