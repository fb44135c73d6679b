#include "change.h"
#include "err.h"
#include "bounds.h"
#include "hlc.h"

#include <string.h>

void
change_pack(msgpack_packer *pk, const change_t *c)
{
    //  Whole copies keep the 9-item form, byte for byte what older nodes wrote.
    bool sourced = !pdb_id_is_nil(&c->source);
    mpk_pack_array(pk, sourced ? 11 : c->partial ? 10 : 9);
    mpk_pack_u64(pk, c->seq);
    mpk_pack_id(pk, &c->origin);
    mpk_pack_u64(pk, c->origin_seq);
    mpk_pack_u64(pk, c->hlc);
    mpk_pack_u64(pk, (uint64_t) c->entity);
    mpk_pack_u64(pk, (uint64_t) c->op);
    mpk_pack_id(pk, &c->collective_id);
    mpk_pack_id(pk, &c->entity_id);
    mpk_pack_bin(pk, c->fields, c->fields_len);
    if (c->partial || sourced)
        mpk_pack_bool(pk, c->partial);
    if (sourced)
        mpk_pack_id(pk, &c->source);
}

//  --------------------------------------------------------------------------
//  Reading, in place: every MessagePack form msgpack-c reads (an int8
//  holding 5 is the unsigned 5, an id may come as a bin16), nothing
//  allocated, so routing a change costs no more than looking at it.
//  tests/fuzz/fuzz_change_ref.c holds it against a msgpack-c reading.

typedef struct {
    const uint8_t *p, *end;
} s_rd_t;

//  n bytes big-endian into *out.
static int
s_be(s_rd_t *r, size_t n, uint64_t *out)
{
    return mpk_take_be(&r->p, r->end, n, out) ? 0 : PDB_EINVAL;
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
//  accepts (its contents are for entity_check or the state's checks).
static int
s_fields(s_rd_t *r, change_t *c)
{
    if (s_bin(r, &c->fields, &c->fields_len) || c->fields_len == 0
        || c->fields_len > PDB_CHANGE_MAX)
        return PDB_EINVAL;
    const uint8_t *f = c->fields;
    bool is_map = (f[0] & 0xf0) == 0x80 || f[0] == 0xde || f[0] == 0xdf;
    return is_map && mpk_check(f, c->fields_len) == 0 ? 0 : PDB_EINVAL;
}

//  After the fields: the partial mark (10 items), then the source (11).
static int
s_marks(s_rd_t *r, uint64_t count, change_t *c)
{
    if (count >= 10) {
        if (r->p >= r->end || (*r->p != 0xc2 && *r->p != 0xc3))
            return PDB_EINVAL;
        c->partial = *r->p++ == 0xc3;
    }
    return count == 11 ? s_id(r, &c->source) : 0;
}

//  entity and op as the tables know them (op: a write or a STATE); a
//  collective's own changes name it twice, anything else is a lie.
//  Range-checked as u64 before narrowing: (int) (2^32 + 2) would pass as 2.
static bool
s_kinds_valid(uint64_t entity, uint64_t op, const change_t *c)
{
    if (entity > ENT_INSIGHT || op > OP_STATE || !entity_type_valid((int) entity)
        || !(entity_op_valid((int) op) || op == OP_STATE))
        return false;
    return entity != ENT_COLLECTIVE || pdb_id_cmp(&c->collective_id, &c->entity_id) == 0;
}

int
change_decode(const void *data, size_t len, change_t *out)
{
    s_rd_t r = { data, (const uint8_t *) data + len };
    uint64_t count, entity, op;
    change_t c = { .partial = false };
    if (len > PDB_MSG_MAX || s_array(&r, &count) || count < 9 || count > 11)
        return PDB_EINVAL;
    if (s_uint(&r, &c.seq) || s_id(&r, &c.origin) || s_uint(&r, &c.origin_seq)
        || s_uint(&r, &c.hlc) || s_uint(&r, &entity) || s_uint(&r, &op)
        || s_id(&r, &c.collective_id) || s_id(&r, &c.entity_id) || s_fields(&r, &c)
        || s_marks(&r, count, &c) || r.p != r.end)
        return PDB_EINVAL;
    if (c.origin_seq == 0 || c.hlc == 0 || !s_kinds_valid(entity, op, &c))
        return PDB_EINVAL;
    c.entity = (ent_type_t) entity;
    c.op = (change_op_t) op;
    *out = c;
    return 0;
}

uint64_t
change_wall_ms(const void *data, size_t len)
{
    change_t c;
    return change_decode(data, len, &c) == 0 ? hlc_wall_ms(c.hlc) : 0;
}

int
change_version_cmp(uint64_t hlc_a, const pdb_id_t *origin_a,
                   uint64_t hlc_b, const pdb_id_t *origin_b)
{
    if (hlc_a != hlc_b)
        return hlc_a < hlc_b ? -1 : 1;
    return pdb_id_cmp(origin_a, origin_b);
}
