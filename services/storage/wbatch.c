#include "wbatch.h"
#include "bounds.h"
#include "local.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define WHY(code, ...) (snprintf(why, PDB_ERRMSG_MAX, __VA_ARGS__), (code))

//  The entity types a batch may create: those that live inside a collective
//  (a collective's own create checks its name against the others).
static bool
s_entity_ok(uint64_t entity)
{
    return entity == ENT_EXPERIENCE || entity == ENT_RELATION || entity == ENT_INSIGHT;
}

//  Every item is a bin before anything is written.
static int
s_check_items(const msgpack_object *items, char *why)
{
    uint32_t n = items->via.array.size;
    if (n == 0)
        return WHY(PDB_EINVAL, "write_batch needs at least one item");
    if (n > PDB_WRITE_BATCH_MAX)
        return WHY(PDB_ETOOBIG, "write_batch of %u items is over the limit of %u", n,
                   PDB_WRITE_BATCH_MAX);
    for (uint32_t i = 0; i < n; i++)
        if (items->via.array.ptr[i].type != MSGPACK_OBJECT_BIN)
            return WHY(PDB_EINVAL, WBATCH_ITEM_PREFIX "%u: fields must be a bin", i);
    return 0;
}

static int
s_write_all(const ingest_t *ingest, MDB_txn *txn, ent_type_t entity, const pdb_id_t *coll,
            const msgpack_object *items, uint64_t wall_ms, pdb_id_t *ids, uint64_t *seq,
            char *why)
{
    for (uint32_t i = 0; i < items->via.array.size; i++) {
        const msgpack_object *bin = &items->via.array.ptr[i];
        local_write_t w = { .entity = entity, .op = OP_CREATE, .collective_id = coll,
                            .entity_id = NULL, .fields = bin->via.bin.ptr,
                            .fields_len = bin->via.bin.size };
        char detail[PDB_ERRMSG_MAX];
        int rc = local_write(ingest, txn, &w, wall_ms, &ids[i], seq, detail);
        if (rc)
            return WHY(rc, WBATCH_ITEM_PREFIX "%u: %.*s", i, PDB_ERRMSG_MAX - 20, detail);
    }
    return 0;
}

int
wbatch_run(const ingest_t *ingest, MDB_txn *txn, const msgpack_object *args, uint64_t wall_ms,
           mpk_out_t *out, char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    const msgpack_object *a = args->via.array.ptr;
    uint64_t entity;
    pdb_id_t coll;
    if (args->via.array.size != 3 || mpk_get_u64(&a[0], &entity) || !s_entity_ok(entity)
        || mpk_get_id(&a[1], &coll) || a[2].type != MSGPACK_OBJECT_ARRAY)
        return WHY(PDB_EINVAL, "write_batch takes [experience|relation|insight, collective, "
                   "[bin fields, ...]]");
    int rc = s_check_items(&a[2], why);
    if (rc)
        return rc;
    uint32_t n = a[2].via.array.size;
    pdb_id_t *ids = malloc(n * sizeof *ids);
    if (!ids)
        return -ENOMEM;
    uint64_t seq = 0;
    rc = s_write_all(ingest, txn, (ent_type_t) entity, &coll, &a[2], wall_ms, ids, &seq, why);
    if (!rc) {
        mpk_pack_array(&out->pk, 2);
        mpk_pack_array(&out->pk, n);
        for (uint32_t i = 0; i < n; i++)
            mpk_pack_id(&out->pk, &ids[i]);
        mpk_pack_u64(&out->pk, seq);
        rc = mpk_out_status(out);
    }
    free(ids);
    return rc;
}
