#include "change.h"
#include "err.h"
#include "bounds.h"

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

//  The optional items after fields: the partial mark, then the source.
static int
s_marks(const msgpack_object *obj, change_t *c)
{
    uint32_t n = obj->via.array.size;
    const msgpack_object *a = obj->via.array.ptr;
    if (n >= 10) {
        if (a[9].type != MSGPACK_OBJECT_BOOLEAN)
            return PDB_EINVAL;
        c->partial = a[9].via.boolean;
    }
    if (n == 11 && (mpk_get_id(&a[10], &c->source) || pdb_id_is_nil(&c->source)))
        return PDB_EINVAL;
    return 0;
}

int
change_from_object(const msgpack_object *obj, change_t *out)
{
    if (obj->type != MSGPACK_OBJECT_ARRAY || obj->via.array.size < 9
        || obj->via.array.size > 11)
        return PDB_EINVAL;
    const msgpack_object *a = obj->via.array.ptr;
    change_t c = { .partial = false };
    if (s_marks(obj, &c))
        return PDB_EINVAL;
    uint64_t entity, op;
    const void *fields;
    if (mpk_get_u64(&a[0], &c.seq) || mpk_get_id(&a[1], &c.origin)
        || mpk_get_u64(&a[2], &c.origin_seq) || mpk_get_u64(&a[3], &c.hlc)
        || mpk_get_u64(&a[4], &entity) || mpk_get_u64(&a[5], &op)
        || mpk_get_id(&a[6], &c.collective_id) || mpk_get_id(&a[7], &c.entity_id)
        || mpk_get_bin(&a[8], &fields, &c.fields_len))
        return PDB_EINVAL;
    //  Range-check the u64s before narrowing: (int) (2^32 + 2) would pass as 2.
    if (c.origin_seq == 0 || c.hlc == 0 || pdb_id_is_nil(&c.origin)
        || pdb_id_is_nil(&c.entity_id) || pdb_id_is_nil(&c.collective_id)
        || entity > ENT_INSIGHT || op > OP_STATE
        || !entity_type_valid((int) entity)
        || !(entity_op_valid((int) op) || op == OP_STATE))
        return PDB_EINVAL;
    const uint8_t *f = fields;
    bool is_map = c.fields_len > 0 && ((f[0] & 0xf0) == 0x80 || f[0] == 0xde || f[0] == 0xdf);
    if (c.fields_len > PDB_CHANGE_MAX || !is_map || mpk_check(fields, c.fields_len) != 0)
        return PDB_EINVAL;
    c.entity = (ent_type_t) entity;
    c.op = (change_op_t) op;
    c.fields = fields;
    //  A collective's own changes name it twice; anything else is a lie.
    if (c.entity == ENT_COLLECTIVE && pdb_id_cmp(&c.collective_id, &c.entity_id) != 0)
        return PDB_EINVAL;
    *out = c;
    return 0;
}

int
change_decode(const void *data, size_t len, change_t *out)
{
    msgpack_unpacked unpacked;
    int rc = mpk_parse(data, len, &unpacked);
    if (rc)
        return rc;
    rc = change_from_object(&unpacked.data, out);
    //  Bins point into `data`, not into the unpacked zone, so the result
    //  stays valid after the zone is gone.
    msgpack_unpacked_destroy(&unpacked);
    return rc;
}

int
change_version_cmp(uint64_t hlc_a, const pdb_id_t *origin_a,
                   uint64_t hlc_b, const pdb_id_t *origin_b)
{
    if (hlc_a != hlc_b)
        return hlc_a < hlc_b ? -1 : 1;
    return pdb_id_cmp(origin_a, origin_b);
}
