/*  mpk.h - MessagePack helpers over msgpack-c: a bounded structural check
    that runs before msgpack-c allocates anything, lookups on decoded
    objects, and a packer with a sticky error so long pack sequences need
    one check at the end instead of one per call.
*/
#ifndef PDB_MPK_H
#define PDB_MPK_H

#include "id.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Checks that data holds exactly one well-formed MessagePack object with no
//  trailing bytes, nesting at most PDB_MPK_DEPTH_MAX and at most
//  PDB_MPK_OBJECTS_MAX objects, every count backed by enough bytes.
//  Returns 0 or PDB_EINVAL. Reads nothing past len.
int mpk_check(const void *data, size_t len);

//  For readers that walk MessagePack bytes in place (mpk_check, the change
//  reader): the n-byte big-endian number at *p into *out, moving *p past
//  it; false, nothing moved, when fewer than n bytes are left before end.
static inline bool
mpk_take_be(const uint8_t **p, const uint8_t *end, size_t n, uint64_t *out)
{
    if ((size_t) (end - *p) < n)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | (*p)[i];
    *p += n;
    *out = v;
    return true;
}

//  mpk_check, then decode into out (caller calls msgpack_unpacked_destroy
//  on success; nothing to free on failure). Strings and bins in the result
//  point into data, which must outlive out.
int mpk_parse(const void *data, size_t len, msgpack_unpacked *out);

//  Output buffer plus packer. Pack calls on it never need individual checks:
//  an allocation failure sets `failed`, which mpk_out_take reports.
typedef struct {
    msgpack_sbuffer buf;
    msgpack_packer pk;
    bool failed;
} mpk_out_t;

void mpk_out_init(mpk_out_t *self);
void mpk_out_release(mpk_out_t *self);
//  0 when every write so far succeeded, else -ENOMEM.
int  mpk_out_status(const mpk_out_t *self);

void mpk_pack_str(msgpack_packer *pk, const char *text);
void mpk_pack_strn(msgpack_packer *pk, const char *text, size_t len);
void mpk_pack_bin(msgpack_packer *pk, const void *data, size_t len);
void mpk_pack_id(msgpack_packer *pk, const pdb_id_t *id);
void mpk_pack_u64(msgpack_packer *pk, uint64_t value);
void mpk_pack_i64(msgpack_packer *pk, int64_t value);
void mpk_pack_bool(msgpack_packer *pk, bool value);
void mpk_pack_nil(msgpack_packer *pk);
void mpk_pack_double(msgpack_packer *pk, double value);
void mpk_pack_array(msgpack_packer *pk, size_t n);
void mpk_pack_map(msgpack_packer *pk, size_t n);
//  (Every packer passed here must be an mpk_out_t's pk.)
//  Packs obj with every map's entries sorted by key bytes and every float
//  as float64, so equal values always give equal bytes (digests rely on it).
void mpk_pack_canonical(msgpack_packer *pk, const msgpack_object *obj);

//  The value under key in a map, or NULL (also NULL if obj is not a map).
const msgpack_object *mpk_map_get(const msgpack_object *map, const char *key);

bool mpk_is_str(const msgpack_object *obj, const char *text);
//  Each returns 0 or PDB_EINVAL when obj has another type or range, or is
//  NULL (so mpk_get_x(mpk_map_get(map, key), &v) reads an optional member).
int  mpk_get_id(const msgpack_object *obj, pdb_id_t *out);
int  mpk_get_u64(const msgpack_object *obj, uint64_t *out);
int  mpk_get_i64(const msgpack_object *obj, int64_t *out);
int  mpk_get_double(const msgpack_object *obj, double *out);
//  Borrows the bytes of a str or bin (valid while the object is).
int  mpk_get_str(const msgpack_object *obj, const char **data, size_t *len);
int  mpk_get_bin(const msgpack_object *obj, const void **data, size_t *len);

//  Compares two objects' canonical encodings; true when they are equal.
bool mpk_equal(const msgpack_object *a, const msgpack_object *b);

//  mpk_equal for map keys, without allocating: a str or bin is compared by
//  type, size and bytes directly (its canonical encoding is its header plus
//  its bytes, so the answer is the same); any other type falls back to
//  mpk_equal. For the duplicate-key loops on every change storage applies.
bool mpk_key_equal(const msgpack_object *a, const msgpack_object *b);

#endif
