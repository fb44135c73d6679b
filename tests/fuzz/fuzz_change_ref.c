/*  fuzz_change_ref.c - change_decode (common/change.c), which reads an
    encoded change in place, against a reading of the same bytes through
    msgpack-c's unpacker with the same checks: the syncer routes and
    acknowledges, and storage applies, by change_decode, so it must accept
    exactly the changes any MessagePack reader sees as well-formed, and
    agree on every item when it does.
*/
#include "bounds.h"
#include "change.h"
#include "err.h"
#include "fuzz_check.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

//  The optional items after fields: the partial mark, then the source.
static int
s_ref_marks(const msgpack_object *obj, change_t *c)
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

//  The reference: what change.h promises, read from msgpack-c's objects.
static int
s_ref_from_object(const msgpack_object *obj, change_t *out)
{
    if (obj->type != MSGPACK_OBJECT_ARRAY || obj->via.array.size < 9
        || obj->via.array.size > 11)
        return PDB_EINVAL;
    const msgpack_object *a = obj->via.array.ptr;
    change_t c = { .partial = false };
    if (s_ref_marks(obj, &c))
        return PDB_EINVAL;
    uint64_t entity, op;
    const void *fields;
    if (mpk_get_u64(&a[0], &c.seq) || mpk_get_id(&a[1], &c.origin)
        || mpk_get_u64(&a[2], &c.origin_seq) || mpk_get_u64(&a[3], &c.hlc)
        || mpk_get_u64(&a[4], &entity) || mpk_get_u64(&a[5], &op)
        || mpk_get_id(&a[6], &c.collective_id) || mpk_get_id(&a[7], &c.entity_id)
        || mpk_get_bin(&a[8], &fields, &c.fields_len))
        return PDB_EINVAL;
    if (c.origin_seq == 0 || c.hlc == 0 || pdb_id_is_nil(&c.origin)
        || pdb_id_is_nil(&c.entity_id) || pdb_id_is_nil(&c.collective_id)
        || entity > ENT_INSIGHT || op > OP_STATE || !entity_type_valid((int) entity)
        || !(entity_op_valid((int) op) || op == OP_STATE))
        return PDB_EINVAL;
    const uint8_t *f = fields;
    bool is_map = c.fields_len > 0 && ((f[0] & 0xf0) == 0x80 || f[0] == 0xde || f[0] == 0xdf);
    if (c.fields_len > PDB_CHANGE_MAX || !is_map || mpk_check(fields, c.fields_len) != 0)
        return PDB_EINVAL;
    c.entity = (ent_type_t) entity;
    c.op = (change_op_t) op;
    c.fields = fields;
    if (c.entity == ENT_COLLECTIVE && pdb_id_cmp(&c.collective_id, &c.entity_id) != 0)
        return PDB_EINVAL;
    *out = c;
    return 0;
}

static int
s_ref_decode(const uint8_t *data, size_t len, change_t *out)
{
    msgpack_unpacked u;
    int rc = mpk_parse(data, len, &u);
    if (rc)
        return rc;
    rc = s_ref_from_object(&u.data, out);
    msgpack_unpacked_destroy(&u);     // bins point into data, not the zone
    return rc;
}

static void
s_compare(const change_t *c, const change_t *ref)
{
    if (c->seq != ref->seq || c->origin_seq != ref->origin_seq || c->hlc != ref->hlc)
        FUZZ_FAIL("seq, origin_seq or hlc differ from msgpack-c's reading");
    if (pdb_id_cmp(&c->origin, &ref->origin) != 0
        || pdb_id_cmp(&c->collective_id, &ref->collective_id) != 0
        || pdb_id_cmp(&c->entity_id, &ref->entity_id) != 0
        || pdb_id_cmp(&c->source, &ref->source) != 0)
        FUZZ_FAIL("an id differs from msgpack-c's reading");
    if (c->entity != ref->entity || c->op != ref->op || c->partial != ref->partial)
        FUZZ_FAIL("entity, op or partial mark differ from msgpack-c's reading");
    if (c->fields != ref->fields || c->fields_len != ref->fields_len)
        FUZZ_FAIL("fields differ from msgpack-c's reading");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    change_t c, ref;
    int ours = change_decode(data, len, &c);
    int theirs = s_ref_decode(data, len, &ref);
    if (theirs == -ENOMEM)
        return 0;
    if ((ours == 0) != (theirs == 0))
        FUZZ_FAIL("change_decode rc=%d but msgpack-c's reading rc=%d on %zu bytes", ours,
                  theirs, len);
    if (ours == 0)
        s_compare(&c, &ref);
    return 0;
}
