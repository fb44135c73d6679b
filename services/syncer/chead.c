#include "chead.h"
#include "bounds.h"
#include "entity.h"
#include "err.h"
#include "mpk.h"

#include <string.h>

//  Reads the same bytes change_decode accepts, in every MessagePack form
//  msgpack-c reads (an int8 holding 5 is the unsigned 5, an id may come as
//  a bin16), with the same checks, but without unpacking: nothing is
//  allocated. The syncer routes and acknowledges by this reader while
//  storage applies by change_decode, so the two must never disagree
//  (tests/fuzz/fuzz_chead.c checks it).

typedef struct {
    const uint8_t *p, *end;
} s_rd_t;

//  n bytes big-endian into *out.
static int
s_be(s_rd_t *r, size_t n, uint64_t *out)
{
    if ((size_t) (r->end - r->p) < n)
        return PDB_EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | r->p[i];
    r->p += n;
    *out = v;
    return 0;
}

//  An integer msgpack-c reads as positive: a fixint, a uint of any width,
//  or an int of any width holding a value >= 0.
static int
s_uint(s_rd_t *r, uint64_t *out)
{
    if (r->p >= r->end)
        return PDB_EINVAL;
    uint8_t tag = *r->p++;
    if (tag <= 0x7f) {
        *out = tag;
        return 0;
    }
    bool is_signed = tag >= 0xd0 && tag <= 0xd3;
    if (!is_signed && (tag < 0xcc || tag > 0xcf))
        return PDB_EINVAL;
    size_t n = (size_t) 1 << (tag - (is_signed ? 0xd0 : 0xcc));
    if (s_be(r, n, out))
        return PDB_EINVAL;
    return is_signed && (*out >> (8 * n - 1)) ? PDB_EINVAL : 0;
}

//  A bin of any width (bin8, bin16, bin32): its bytes, borrowed.
static int
s_bin(s_rd_t *r, const uint8_t **data, size_t *len)
{
    if (r->p >= r->end || *r->p < 0xc4 || *r->p > 0xc6)
        return PDB_EINVAL;
    size_t width = (size_t) 1 << (*r->p++ - 0xc4);
    uint64_t n;
    if (s_be(r, width, &n) || (uint64_t) (r->end - r->p) < n)
        return PDB_EINVAL;
    *data = r->p;
    *len = (size_t) n;
    r->p += n;
    return 0;
}

//  A 16-byte bin that is not all zeros.
static int
s_id(s_rd_t *r, pdb_id_t *out)
{
    const uint8_t *data;
    size_t len;
    if (s_bin(r, &data, &len) || len != PDB_ID_LEN)
        return PDB_EINVAL;
    memcpy(out->b, data, PDB_ID_LEN);
    return pdb_id_is_nil(out) ? PDB_EINVAL : 0;
}

//  An array header of any width (fixarray, array16, array32).
static int
s_array(s_rd_t *r, uint64_t *count)
{
    if (r->p >= r->end)
        return PDB_EINVAL;
    uint8_t tag = *r->p++;
    if ((tag & 0xf0) == 0x90) {
        *count = tag & 0x0f;
        return 0;
    }
    return tag == 0xdc ? s_be(r, 2, count) : tag == 0xdd ? s_be(r, 4, count) : PDB_EINVAL;
}

//  The fields: one map of at most PDB_CHANGE_MAX bytes that mpk_check
//  accepts (its contents are storage's to check against the entity tables).
static int
s_fields(s_rd_t *r)
{
    const uint8_t *f;
    size_t len;
    if (s_bin(r, &f, &len) || len == 0 || len > PDB_CHANGE_MAX)
        return PDB_EINVAL;
    bool is_map = (f[0] & 0xf0) == 0x80 || f[0] == 0xde || f[0] == 0xdf;
    return is_map && mpk_check(f, len) == 0 ? 0 : PDB_EINVAL;
}

//  After the fields: the partial mark (10 items), then the source (11).
static int
s_marks(s_rd_t *r, uint64_t count, chead_t *h)
{
    if (count >= 10) {
        if (r->p >= r->end || (*r->p != 0xc2 && *r->p != 0xc3))
            return PDB_EINVAL;
        h->partial = *r->p++ == 0xc3;
    }
    return count == 11 ? s_id(r, &h->source) : 0;
}

//  entity and op as change_from_object allows them (op: a write or a
//  STATE); a collective's own changes name it twice.
static bool
s_kinds_valid(uint64_t entity, uint64_t op, const pdb_id_t *collective,
              const pdb_id_t *entity_id)
{
    if (entity < ENT_COLLECTIVE || entity > ENT_INSIGHT || op < OP_CREATE || op > OP_STATE)
        return false;
    return entity != ENT_COLLECTIVE || pdb_id_cmp(collective, entity_id) == 0;
}

int
chead_read(const void *data, size_t len, chead_t *out)
{
    s_rd_t r = { data, (const uint8_t *) data + len };
    uint64_t count, entity, op;
    pdb_id_t entity_id;
    chead_t h = { .partial = false };
    if (len > PDB_MSG_MAX || s_array(&r, &count) || count < 9 || count > 11)
        return PDB_EINVAL;
    if (s_uint(&r, &h.seq) || s_id(&r, &h.origin) || s_uint(&r, &h.origin_seq)
        || s_uint(&r, &h.hlc) || s_uint(&r, &entity) || s_uint(&r, &op)
        || s_id(&r, &h.collective) || s_id(&r, &entity_id) || s_fields(&r)
        || s_marks(&r, count, &h) || r.p != r.end)
        return PDB_EINVAL;
    if (h.origin_seq == 0 || h.hlc == 0 || !s_kinds_valid(entity, op, &h.collective, &entity_id))
        return PDB_EINVAL;
    *out = h;
    return 0;
}
