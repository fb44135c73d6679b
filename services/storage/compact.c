#include "compact.h"
#include "hlc.h"
#include "log.h"
#include "store_db.h"
#include "wal.h"

#include <string.h>

static int
s_read_two(const msgpack_object *args, uint64_t *a, uint64_t *b)
{
    if (args->via.array.size != 2 || mpk_get_u64(&args->via.array.ptr[0], a)
        || mpk_get_u64(&args->via.array.ptr[1], b))
        return PDB_EINVAL;
    return 0;
}

int
compact_wal(store_t *store, MDB_txn *txn, const msgpack_object *args, mpk_out_t *out,
            storage_stats_t *stats, char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    uint64_t below, max;
    if (s_read_two(args, &below, &max))
        return WHY(PDB_EINVAL, "compact takes [below seq, max entries]");
    if (max > COMPACT_STEP_MAX)
        max = COMPACT_STEP_MAX;
    wal_trim_t trim;
    int rc = wal_trim(store, txn, below, max, &trim);
    if (rc)
        return rc;
    mpk_pack_array(&out->pk, 2);
    mpk_pack_u64(&out->pk, trim.deleted);
    mpk_pack_u64(&out->pk, trim.floor);
    stats->compacted += trim.deleted;
    if (trim.deleted)
        log_d("storage", "wal compacted deleted=%llu floor=%llu head=%llu",
              (unsigned long long) trim.deleted, (unsigned long long) trim.floor,
              (unsigned long long) trim.head);
    return 0;
}

//  --------------------------------------------------------------------------

//  True when the versions value is a tombstone stamped before older_than_ms.
static int
s_old_tombstone(const MDB_val *val, uint64_t older_than_ms, bool *old)
{
    ent_type_t type;
    bool tomb;
    pdb_id_t coll;
    *old = false;
    int rc = store_version_head(val, &type, &tomb, &coll);
    if (rc || !tomb)
        return rc;
    store_version_t v;
    rc = store_version_decode(val, &v);
    if (!rc)
        *old = hlc_wall_ms(v.hlc) < older_than_ms;
    return rc;
}

int
compact_purge(store_t *store, MDB_txn *txn, const msgpack_object *args, mpk_out_t *out,
              storage_stats_t *stats, char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    uint64_t older_than_ms, max;
    if (s_read_two(args, &older_than_ms, &max))
        return WHY(PDB_EINVAL, "purge takes [older than ms, max entries]");
    if (max > COMPACT_STEP_MAX)
        max = COMPACT_STEP_MAX;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, store->versions, &cur);
    if (rc)
        return pdb_from_mdb(rc);
    uint64_t purged = 0;
    MDB_val key, val;
    int mrc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
    while (mrc == 0 && purged < max) {
        bool old;
        rc = s_old_tombstone(&val, older_than_ms, &old);
        if (rc)
            break;
        if (!old) {
            mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
            continue;
        }
        uint8_t id[PDB_ID_LEN];
        if (key.mv_size != sizeof id) {
            rc = PDB_ECORRUPT;
            break;
        }
        memcpy(id, key.mv_data, sizeof id);
        mrc = mdb_cursor_del(cur, 0);
        if (mrc)
            break;
        purged++;
        //  Seek past the deleted key rather than trust the cursor after a delete.
        key.mv_size = sizeof id;
        key.mv_data = id;
        mrc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    }
    mdb_cursor_close(cur);
    if (!rc && mrc && mrc != MDB_NOTFOUND)
        rc = pdb_from_mdb(mrc);
    if (rc)
        return rc;
    mpk_pack_array(&out->pk, 1);
    mpk_pack_u64(&out->pk, purged);
    stats->purged += purged;
    return 0;
}
