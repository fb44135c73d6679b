#include "chead.h"
#include "err.h"

#include <string.h>

typedef struct {
    const uint8_t *p, *end;
} s_rd_t;

static int
s_uint(s_rd_t *r, uint64_t *out)
{
    if (r->p >= r->end)
        return PDB_EINVAL;
    uint8_t tag = *r->p++;
    size_t n;
    if (tag <= 0x7f) {
        *out = tag;
        return 0;
    }
    switch (tag) {
    case 0xcc: n = 1; break;
    case 0xcd: n = 2; break;
    case 0xce: n = 4; break;
    case 0xcf: n = 8; break;
    default:   return PDB_EINVAL;
    }
    if ((size_t) (r->end - r->p) < n)
        return PDB_EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | r->p[i];
    r->p += n;
    *out = v;
    return 0;
}

static int
s_id(s_rd_t *r, pdb_id_t *out)
{
    if (r->end - r->p < 2 + PDB_ID_LEN || r->p[0] != 0xc4 || r->p[1] != PDB_ID_LEN)
        return PDB_EINVAL;
    memcpy(out->b, r->p + 2, PDB_ID_LEN);
    r->p += 2 + PDB_ID_LEN;
    return 0;
}

//  Skips a bin of any width.
static int
s_skip_bin(s_rd_t *r)
{
    if (r->p >= r->end)
        return PDB_EINVAL;
    uint8_t tag = *r->p++;
    size_t width = tag == 0xc4 ? 1 : tag == 0xc5 ? 2 : tag == 0xc6 ? 4 : 0;
    if (width == 0 || (size_t) (r->end - r->p) < width)
        return PDB_EINVAL;
    size_t len = 0;
    for (size_t i = 0; i < width; i++)
        len = len << 8 | r->p[i];
    r->p += width;
    if ((size_t) (r->end - r->p) < len)
        return PDB_EINVAL;
    r->p += len;
    return 0;
}

//  The marks after the collective: entity_id, fields, then a boolean and,
//  when sourced, the source's id.
static int
s_marks(s_rd_t *r, bool sourced, chead_t *h)
{
    pdb_id_t entity_id;
    if (s_id(r, &entity_id) || s_skip_bin(r) || r->p >= r->end
        || (*r->p != 0xc2 && *r->p != 0xc3))
        return PDB_EINVAL;
    h->partial = *r->p++ == 0xc3;
    if (sourced && (s_id(r, &h->source) || pdb_id_is_nil(&h->source)))
        return PDB_EINVAL;
    return 0;
}

int
chead_read(const void *data, size_t len, chead_t *out)
{
    s_rd_t r = { data, (const uint8_t *) data + len };
    uint64_t entity, op;
    chead_t h = { .partial = false };
    //  fixarray of 9, of 10 with the partial mark, of 11 with the source too
    if (len < 1 || r.p[0] < 0x99 || r.p[0] > 0x9b)
        return PDB_EINVAL;
    bool marked = r.p[0] != 0x99, sourced = r.p[0] == 0x9b;
    r.p++;
    if (s_uint(&r, &h.seq) || s_id(&r, &h.origin) || s_uint(&r, &h.origin_seq)
        || s_uint(&r, &h.hlc) || s_uint(&r, &entity) || s_uint(&r, &op)
        || s_id(&r, &h.collective) || h.origin_seq == 0)
        return PDB_EINVAL;
    if (marked && s_marks(&r, sourced, &h))
        return PDB_EINVAL;
    *out = h;
    return 0;
}
