#include "install.h"
#include "bounds.h"
#include "log.h"
#include "peers.h"
#include "sproto.h"
#include "state.h"
#include "sync_msg.h"
#include "wal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

//  The embedding size of a collective installed earlier in the same page,
//  for checking its children before anything is written.
typedef struct {
    pdb_id_t id;
    uint32_t dim;
} s_dim_t;

typedef struct {
    const char *peer;
    size_t peer_len;
    bool done;
    uint64_t snapshot_seq;
    vv_entry_t *vector;
    size_t vector_n;
    pdb_id_t source;            // the snapshot's responder (nil: not said)
    change_t *changes;
    state_checked_t *checked;       // per change, filled by s_check_one
    uint32_t n;
    s_dim_t *dims;
    size_t dims_n;
} s_install_t;

static void
s_install_release(s_install_t *in)
{
    free(in->vector);
    free(in->changes);
    free(in->checked);
    free(in->dims);
}

//  --------------------------------------------------------------------------
//  Arguments

static int
s_entry_cmp(const void *a, const void *b)
{
    return pdb_id_cmp(&((const vv_entry_t *) a)->origin, &((const vv_entry_t *) b)->origin);
}

static int
s_read_vector(const msgpack_object *map, s_install_t *in, char *why)
{
    uint32_t n = map->via.map.size;
    if (n > SYNC_VECTOR_MAX)
        return WHY(PDB_ETOOBIG, "vector of %u origins is over the limit of %u", n,
                   SYNC_VECTOR_MAX);
    in->vector = calloc(n ? n : 1, sizeof *in->vector);
    if (!in->vector)
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (mpk_get_id(&kv->key, &in->vector[i].origin) || pdb_id_is_nil(&in->vector[i].origin)
            || mpk_get_u64(&kv->val, &in->vector[i].seq))
            return WHY(PDB_EINVAL, "vector entry %u must be bin(origin): seq", i);
    }
    in->vector_n = n;
    qsort(in->vector, n, sizeof *in->vector, s_entry_cmp);
    for (uint32_t i = 1; i < n; i++)
        if (pdb_id_cmp(&in->vector[i - 1].origin, &in->vector[i].origin) == 0)
            return WHY(PDB_EINVAL, "vector names an origin twice");
    return 0;
}

static int
s_read_changes(const msgpack_object *list, s_install_t *in, char *why)
{
    uint32_t n = list->via.array.size;
    if (n > PDB_BATCH_MAX)
        return WHY(PDB_ETOOBIG, "page of %u entities is over the limit of %u", n,
                   PDB_BATCH_MAX);
    in->changes = calloc(n ? n : 1, sizeof *in->changes);
    in->checked = calloc(n ? n : 1, sizeof *in->checked);
    in->dims = calloc(n ? n : 1, sizeof *in->dims);
    if (!in->changes || !in->checked || !in->dims)
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        const void *data;
        size_t len;
        if (mpk_get_bin(&list->via.array.ptr[i], &data, &len)
            || change_decode(data, len, &in->changes[i]))
            return WHY(PDB_EINVAL, "entity %u is malformed", i);
        if ((int) in->changes[i].op != OP_STATE)
            return WHY(PDB_EINVAL, "entity %u is not a state (op %d)", i,
                       (int) in->changes[i].op);
        //  Only the caller knows whose snapshot this is; a mark the entity
        //  came with means nothing here.
        in->changes[i].source = in->source;
    }
    in->n = n;
    return 0;
}

static int
s_read_args(const msgpack_object *args, s_install_t *in, char *why)
{
    const msgpack_object *a = args->via.array.ptr;
    uint32_t n = args->via.array.size;
    if ((n != 5 && n != 6) || mpk_get_str(&a[0], &in->peer, &in->peer_len)
        || a[1].type != MSGPACK_OBJECT_ARRAY || a[2].type != MSGPACK_OBJECT_BOOLEAN
        || mpk_get_u64(&a[3], &in->snapshot_seq) || a[4].type != MSGPACK_OBJECT_MAP
        || (n == 6 && (mpk_get_id(&a[5], &in->source) || pdb_id_is_nil(&in->source))))
        return WHY(PDB_EINVAL, "install takes [peer name, [bin state], done, snapshot seq, "
                   "{vector}, bin(source)?]");
    if (in->peer_len > 0 && !peers_name_valid(in->peer, in->peer_len))
        return WHY(PDB_EINVAL, "peer name must be 1..%u bytes of UTF-8", PEERS_NAME_MAX);
    in->done = a[2].via.boolean;
    int rc = s_read_vector(&a[4], in, why);
    return rc ? rc : s_read_changes(&a[1], in, why);
}

//  --------------------------------------------------------------------------
//  Checking every entity before writing any

//  The embedding size to check a child against: its collective's here, or
//  that of a collective earlier in the page; 0 (any) when neither, and the
//  merge then holds the child back as a missing dependency.
static uint32_t
s_dim_of(const ingest_t *ingest, MDB_txn *txn, const s_install_t *in, const pdb_id_t *coll)
{
    uint32_t dim = 0;
    if (store_collective_dim(ingest->store, txn, coll, &dim) == 0)
        return dim;
    for (size_t i = in->dims_n; i-- > 0;)
        if (pdb_id_cmp(&in->dims[i].id, coll) == 0)
            return in->dims[i].dim;
    return 0;
}

static int
s_check_one(const ingest_t *ingest, MDB_txn *txn, s_install_t *in, uint32_t i, char *why)
{
    const change_t *c = &in->changes[i];
    char detail[PDB_ERRMSG_MAX];
    uint64_t stamp;
    int rc = ingest_stamp(c, &stamp, detail);       // the state's shape, and clock drift
    if (rc)
        return WHY(rc, "entity %u (%s): %.180s", i, entity_type_name(c->entity), detail);
    msgpack_unpacked u;
    if (mpk_parse(c->fields, c->fields_len, &u))
        return WHY(PDB_EINVAL, "entity %u: state fields do not decode", i);
    state_t st;
    rc = state_read(c->entity, &u.data, &st, detail);
    uint32_t dim = 0;
    if (!rc && c->entity != ENT_COLLECTIVE)
        dim = s_dim_of(ingest, txn, in, &c->collective_id);
    if (!rc)
        rc = state_check(c->entity, &st, dim, detail);
    if (!rc)
        in->checked[i] = (state_checked_t) { .stamp = stamp, .dim = dim };
    const msgpack_object *d = mpk_map_get(st.record, "embedding_dim");
    if (!rc && c->entity == ENT_COLLECTIVE && !st.tombstone && d) {
        in->dims[in->dims_n].id = c->entity_id;
        in->dims[in->dims_n].dim = (uint32_t) d->via.u64;     // checked: 1..PDB_DIM_MAX
        in->dims_n++;
    }
    msgpack_unpacked_destroy(&u);
    return rc ? WHY(rc, "entity %u (%s): %.180s", i, entity_type_name(c->entity), detail) : 0;
}

//  --------------------------------------------------------------------------

static int
s_install_all(const ingest_t *ingest, MDB_txn *txn, const s_install_t *in, uint64_t wall_ms,
              uint64_t *installed, char *why)
{
    for (uint32_t i = 0; i < in->n; i++) {
        char detail[PDB_ERRMSG_MAX] = "";
        int rc = ingest_state(ingest, txn, &in->changes[i], &in->checked[i], wall_ms, detail);
        const char *type = entity_type_name(in->changes[i].entity);
        //  A held-back entity is never dropped: refusing the page keeps the
        //  caller's cursor from passing it.
        if (rc == PDB_EMISSINGDEP)
            return WHY(rc, "entity %u (%s): its collective or experience is not here", i, type);
        if (rc < 0)
            return WHY(rc, "entity %u (%s): %.180s", i, type,
                       detail[0] ? detail : pdb_strerror(rc));
        if (rc == SPROTO_APPLIED)
            (*installed)++;
    }
    return 0;
}

//  The last page: pull from the snapshot's sequence on, and know what it held.
static int
s_finish(const ingest_t *ingest, MDB_txn *txn, const s_install_t *in)
{
    int rc = 0;
    if (in->peer_len > 0)
        rc = peers_raise_cursor(ingest->store, txn, in->peer, in->peer_len, in->snapshot_seq);
    for (size_t i = 0; i < in->vector_n && !rc; i++)
        if (pdb_id_cmp(&in->vector[i].origin, &ingest->self) != 0)
            rc = ingest_raise_vector(ingest, txn, &in->vector[i].origin, in->vector[i].seq);
    if (!rc)
        log_i("storage", "snapshot installed peer=%.*s snapshot_seq=%llu origins=%zu",
              (int) in->peer_len, in->peer, (unsigned long long) in->snapshot_seq,
              in->vector_n);
    return rc;
}

int
install_run(const ingest_t *ingest, MDB_txn *txn, const msgpack_object *args, uint64_t wall_ms,
            mpk_out_t *out, storage_stats_t *stats, char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    s_install_t in;
    memset(&in, 0, sizeof in);
    int rc = s_read_args(args, &in, why);
    for (uint32_t i = 0; i < in.n && !rc; i++)
        rc = s_check_one(ingest, txn, &in, i, why);
    uint64_t installed = 0, head = 0;
    if (!rc)
        rc = s_install_all(ingest, txn, &in, wall_ms, &installed, why);
    if (!rc && in.done)
        rc = s_finish(ingest, txn, &in);
    if (!rc)
        rc = wal_head(ingest->store, txn, &head);
    if (!rc) {
        mpk_pack_array(&out->pk, 2);
        mpk_pack_u64(&out->pk, installed);
        mpk_pack_u64(&out->pk, head);
        stats->installed += installed;
    }
    s_install_release(&in);
    return rc;
}
