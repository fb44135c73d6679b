#include "mpk.h"
#include "err.h"
#include "bounds.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Structural check

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
    size_t objects;
} s_scan_t;

static bool
s_take(s_scan_t *s, size_t n, uint64_t *value)
{
    return mpk_take_be(&s->p, s->end, n, value);
}

static bool
s_skip_bytes(s_scan_t *s, uint64_t n)
{
    if ((uint64_t) (s->end - s->p) < n)
        return false;
    s->p += n;
    return true;
}

static bool s_skip_object(s_scan_t *s, unsigned depth);

static bool
s_skip_items(s_scan_t *s, uint64_t count, unsigned depth)
{
    //  Each item needs at least one byte: a count larger than what is left
    //  is a lie, refused before anything is allocated for it.
    if (count > (uint64_t) (s->end - s->p) || depth >= PDB_MPK_DEPTH_MAX)
        return false;
    for (uint64_t i = 0; i < count; i++)
        if (!s_skip_object(s, depth + 1))
            return false;
    return true;
}

static bool
s_skip_object(s_scan_t *s, unsigned depth)
{
    if (s->p >= s->end || ++s->objects > PDB_MPK_OBJECTS_MAX)
        return false;
    uint8_t b = *s->p++;
    uint64_t n;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return true;                                  // fixint, nil, bool
    if ((b & 0xe0) == 0xa0)
        return s_skip_bytes(s, b & 0x1f);             // fixstr
    if ((b & 0xf0) == 0x90)
        return s_skip_items(s, b & 0x0f, depth);      // fixarray
    if ((b & 0xf0) == 0x80)
        return s_skip_items(s, (uint64_t) (b & 0x0f) * 2, depth);   // fixmap
    switch (b) {
    case 0xc4: case 0xd9:                             // bin8, str8
        return s_take(s, 1, &n) && s_skip_bytes(s, n);
    case 0xc5: case 0xda:
        return s_take(s, 2, &n) && s_skip_bytes(s, n);
    case 0xc6: case 0xdb:
        return s_take(s, 4, &n) && s_skip_bytes(s, n);
    case 0xcc: case 0xd0: return s_skip_bytes(s, 1);
    case 0xcd: case 0xd1: return s_skip_bytes(s, 2);
    case 0xca: case 0xce: case 0xd2: return s_skip_bytes(s, 4);
    case 0xcb: case 0xcf: case 0xd3: return s_skip_bytes(s, 8);
    case 0xdc: return s_take(s, 2, &n) && s_skip_items(s, n, depth);
    case 0xdd: return s_take(s, 4, &n) && s_skip_items(s, n, depth);
    case 0xde: return s_take(s, 2, &n) && s_skip_items(s, n * 2, depth);
    case 0xdf: return s_take(s, 4, &n) && s_skip_items(s, n * 2, depth);
    default:   return false;                          // ext types: never ours
    }
}

int
mpk_check(const void *data, size_t len)
{
    if (len == 0 || len > PDB_MSG_MAX)
        return PDB_EINVAL;
    s_scan_t s = { data, (const uint8_t *) data + len, 0 };
    if (!s_skip_object(&s, 0) || s.p != s.end)
        return PDB_EINVAL;
    return 0;
}

//  The decoded objects' first chunk for a small input (a record, a reply):
//  with its header a 1 KiB block, which malloc serves from its per-thread
//  cache. msgpack's own 8 KiB chunk is a large request for glibc, which
//  may first merge every free small block (malloc_consolidate), and a
//  search decodes some 36 records. Hence msgpack_unpack, which fills a
//  zone of the caller's (msgpack_unpack_next always makes its own).
#define S_SMALL_INPUT 4096
#define S_SMALL_CHUNK (1024 - sizeof(void *))

int
mpk_parse(const void *data, size_t len, msgpack_unpacked *out)
{
    int rc = mpk_check(data, len);
    if (rc)
        return rc;
    msgpack_unpacked_init(out);
    out->zone = msgpack_zone_new(len <= S_SMALL_INPUT ? S_SMALL_CHUNK : MSGPACK_ZONE_CHUNK_SIZE);
    if (!out->zone)
        return -ENOMEM;
    size_t offset = 0;
    msgpack_unpack_return ret = msgpack_unpack(data, len, &offset, out->zone, &out->data);
    if (ret != MSGPACK_UNPACK_SUCCESS || offset != len) {
        msgpack_unpacked_destroy(out);
        return ret == MSGPACK_UNPACK_NOMEM_ERROR ? -ENOMEM : PDB_EINVAL;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Packing

static int
s_out_write(void *data, const char *buf, size_t len)
{
    mpk_out_t *self = data;
    if (self->failed)
        return -1;
    if (msgpack_sbuffer_write(&self->buf, buf, len) != 0) {
        self->failed = true;
        return -1;
    }
    return 0;
}

void
mpk_out_init(mpk_out_t *self)
{
    msgpack_sbuffer_init(&self->buf);
    msgpack_packer_init(&self->pk, self, s_out_write);
    self->failed = false;
}

void
mpk_out_release(mpk_out_t *self)
{
    msgpack_sbuffer_destroy(&self->buf);
    self->buf.data = NULL;
    self->buf.size = 0;
    self->buf.alloc = 0;
}

int
mpk_out_status(const mpk_out_t *self)
{
    return self->failed ? -ENOMEM : 0;
}

//  Packer results are deliberately ignored below: the write callback keeps
//  the sticky error that mpk_out_status reports.
void mpk_pack_str(msgpack_packer *pk, const char *text) { mpk_pack_strn(pk, text, strlen(text)); }

void
mpk_pack_strn(msgpack_packer *pk, const char *text, size_t len)
{
    (void) msgpack_pack_str_with_body(pk, text, len);
}

void
mpk_pack_bin(msgpack_packer *pk, const void *data, size_t len)
{
    (void) msgpack_pack_bin_with_body(pk, data, len);
}

void mpk_pack_id(msgpack_packer *pk, const pdb_id_t *id) { mpk_pack_bin(pk, id->b, PDB_ID_LEN); }
void mpk_pack_u64(msgpack_packer *pk, uint64_t value) { (void) msgpack_pack_uint64(pk, value); }
void mpk_pack_i64(msgpack_packer *pk, int64_t value) { (void) msgpack_pack_int64(pk, value); }
void mpk_pack_nil(msgpack_packer *pk) { (void) msgpack_pack_nil(pk); }
void mpk_pack_double(msgpack_packer *pk, double value) { (void) msgpack_pack_double(pk, value); }
void mpk_pack_array(msgpack_packer *pk, size_t n) { (void) msgpack_pack_array(pk, n); }
void mpk_pack_map(msgpack_packer *pk, size_t n) { (void) msgpack_pack_map(pk, n); }

void
mpk_pack_bool(msgpack_packer *pk, bool value)
{
    (void) (value ? msgpack_pack_true(pk) : msgpack_pack_false(pk));
}

//  The bytes of a str or bin key; false for other types.
static bool
s_key_bytes(const msgpack_object *key, const char **data, size_t *len)
{
    if (key->type == MSGPACK_OBJECT_STR) {
        *data = key->via.str.ptr;
        *len = key->via.str.size;
        return true;
    }
    if (key->type == MSGPACK_OBJECT_BIN) {
        *data = key->via.bin.ptr;
        *len = key->via.bin.size;
        return true;
    }
    return false;
}

//  Orders keys by type, then by bytes (str, bin) or value (integers). Bin
//  keys matter: the applications counter maps bin(16) instance ids to counts,
//  and treating them as equal left them in arrival order, so replicas that
//  merged the same counters in another order stored different bytes.
static int
s_key_cmp(const msgpack_object *a, const msgpack_object *b)
{
    if (a->type != b->type)
        return (int) a->type - (int) b->type;
    if (a->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return (a->via.u64 > b->via.u64) - (a->via.u64 < b->via.u64);
    if (a->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return (a->via.i64 > b->via.i64) - (a->via.i64 < b->via.i64);
    const char *da = "", *db = "";
    size_t la = 0, lb = 0;
    if (!s_key_bytes(a, &da, &la) || !s_key_bytes(b, &db, &lb))
        return 0;
    int c = la && lb ? memcmp(da, db, la < lb ? la : lb) : 0;
    return c ? c : (la > lb) - (la < lb);
}

static int
s_kv_cmp(const void *a, const void *b)
{
    return s_key_cmp(&((const msgpack_object_kv *) a)->key,
                     &((const msgpack_object_kv *) b)->key);
}

void
mpk_pack_canonical(msgpack_packer *pk, const msgpack_object *obj)
{
    switch (obj->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        mpk_pack_double(pk, obj->via.f64);
        return;
    case MSGPACK_OBJECT_ARRAY:
        mpk_pack_array(pk, obj->via.array.size);
        for (uint32_t i = 0; i < obj->via.array.size; i++)
            mpk_pack_canonical(pk, &obj->via.array.ptr[i]);
        return;
    case MSGPACK_OBJECT_MAP: {
        uint32_t n = obj->via.map.size;
        msgpack_object_kv *sorted = n ? malloc(n * sizeof *sorted) : NULL;
        if (n && !sorted) {
            ((mpk_out_t *) pk->data)->failed = true;
            return;
        }
        if (n)
            memcpy(sorted, obj->via.map.ptr, n * sizeof *sorted);
        if (n > 1)
            qsort(sorted, n, sizeof *sorted, s_kv_cmp);
        mpk_pack_map(pk, n);
        for (uint32_t i = 0; i < n; i++) {
            mpk_pack_canonical(pk, &sorted[i].key);
            mpk_pack_canonical(pk, &sorted[i].val);
        }
        free(sorted);
        return;
    }
    default:
        (void) msgpack_pack_object(pk, *obj);
        return;
    }
}

//  --------------------------------------------------------------------------
//  Reading decoded objects

const msgpack_object *
mpk_map_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (mpk_is_str(&map->via.map.ptr[i].key, key))
            return &map->via.map.ptr[i].val;
    return NULL;
}

bool
mpk_is_str(const msgpack_object *obj, const char *text)
{
    size_t len = strlen(text);
    return obj->type == MSGPACK_OBJECT_STR && obj->via.str.size == len
        && memcmp(obj->via.str.ptr, text, len) == 0;
}

int
mpk_get_id(const msgpack_object *obj, pdb_id_t *out)
{
    if (!obj || obj->type != MSGPACK_OBJECT_BIN || obj->via.bin.size != PDB_ID_LEN)
        return PDB_EINVAL;
    memcpy(out->b, obj->via.bin.ptr, PDB_ID_LEN);
    return 0;
}

int
mpk_get_u64(const msgpack_object *obj, uint64_t *out)
{
    if (!obj || obj->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return PDB_EINVAL;
    *out = obj->via.u64;
    return 0;
}

int
mpk_get_i64(const msgpack_object *obj, int64_t *out)
{
    if (!obj)
        return PDB_EINVAL;
    if (obj->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = obj->via.i64;
        return 0;
    }
    if (obj->type == MSGPACK_OBJECT_POSITIVE_INTEGER && obj->via.u64 <= INT64_MAX) {
        *out = (int64_t) obj->via.u64;
        return 0;
    }
    return PDB_EINVAL;
}

int
mpk_get_double(const msgpack_object *obj, double *out)
{
    if (!obj)
        return PDB_EINVAL;
    switch (obj->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:          *out = obj->via.f64; break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double) obj->via.u64; break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double) obj->via.i64; break;
    default:                              return PDB_EINVAL;
    }
    return isfinite(*out) ? 0 : PDB_EINVAL;
}

int
mpk_get_str(const msgpack_object *obj, const char **data, size_t *len)
{
    if (!obj || obj->type != MSGPACK_OBJECT_STR)
        return PDB_EINVAL;
    *data = obj->via.str.ptr;
    *len = obj->via.str.size;
    return 0;
}

int
mpk_get_bin(const msgpack_object *obj, const void **data, size_t *len)
{
    if (!obj || obj->type != MSGPACK_OBJECT_BIN)
        return PDB_EINVAL;
    *data = obj->via.bin.ptr;
    *len = obj->via.bin.size;
    return 0;
}

bool
mpk_equal(const msgpack_object *a, const msgpack_object *b)
{
    mpk_out_t ea, eb;
    mpk_out_init(&ea);
    mpk_out_init(&eb);
    mpk_pack_canonical(&ea.pk, a);
    mpk_pack_canonical(&eb.pk, b);
    bool equal = !ea.failed && !eb.failed && ea.buf.size == eb.buf.size
              && memcmp(ea.buf.data, eb.buf.data, ea.buf.size) == 0;
    mpk_out_release(&ea);
    mpk_out_release(&eb);
    return equal;
}

//  Strs and bins are what our keys are (field names, instance ids); their
//  canonical encoding is a header chosen by size plus the bytes, and no
//  other type's encoding can start with a str or bin header.
bool
mpk_key_equal(const msgpack_object *a, const msgpack_object *b)
{
    bool a_bytes = a->type == MSGPACK_OBJECT_STR || a->type == MSGPACK_OBJECT_BIN;
    bool b_bytes = b->type == MSGPACK_OBJECT_STR || b->type == MSGPACK_OBJECT_BIN;
    if (!a_bytes && !b_bytes)
        return mpk_equal(a, b);
    if (a->type != b->type)
        return false;
    bool str = a->type == MSGPACK_OBJECT_STR;
    uint32_t size = str ? a->via.str.size : a->via.bin.size;
    if (size != (str ? b->via.str.size : b->via.bin.size))
        return false;
    const char *a_ptr = str ? a->via.str.ptr : a->via.bin.ptr;
    const char *b_ptr = str ? b->via.str.ptr : b->via.bin.ptr;
    return size == 0 || memcmp(a_ptr, b_ptr, size) == 0;
}
