#include "compact.h"
#include "hlc.h"
#include "log.h"
#include "wal.h"

#include <string.h>

#define WHY(code, ...) (snprintf(why, PDB_ERRMSG_MAX, __VA_ARGS__), (code))

static const char s_head_key[] = "wal_head";

static int
s_read_two(const msgpack_object *args, uint64_t *a, uint64_t *b)
{
    if (args->via.array.size != 2 || mpk_get_u64(&args->via.array.ptr[0], a)
        || mpk_get_u64(&args->via.array.ptr[1], b))
        return PDB_EINVAL;
    return 0;
}

//  The head, from meta or the log's last key, whichever is larger; meta is
//  brought up to it, so emptying the log can never lose it.
static int
s_keep_head(store_t *store, MDB_txn *txn, MDB_cursor *cur, uint64_t *head)
{
    int rc = wal_head(store, txn, head);
    if (rc)
        return rc;
    MDB_val key, val;
    rc = mdb_cursor_get(cur, &key, &val, MDB_LAST);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return pdb_from_mdb(rc);
    uint64_t last = store_seq_from_key(&key);
    if (last <= *head)
        return 0;
    *head = last;
    MDB_val hkey = { sizeof s_head_key - 1, (void *) s_head_key };
    MDB_val hval = { sizeof *head, head };
    return pdb_from_mdb(mdb_put(txn, store->meta, &hkey, &hval, 0));
}

//  Deletes from the front while below `below`; *floor: the first key left.
static int
s_delete_front(MDB_cursor *cur, uint64_t below, uint64_t max, uint64_t head,
               uint64_t *deleted, uint64_t *floor)
{
    MDB_val key, val;
    int rc;
    *floor = head + 1;
    //  Back to the first entry after each delete rather than trusting the
    //  cursor's position after mdb_cursor_del.
    while ((rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST)) == 0) {
        uint64_t seq = store_seq_from_key(&key);
        if (seq >= below || *deleted >= max) {
            *floor = seq;
            return 0;
        }
        rc = mdb_cursor_del(cur, 0);
        if (rc)
            return pdb_from_mdb(rc);
        (*deleted)++;
    }
    return rc == MDB_NOTFOUND ? 0 : pdb_from_mdb(rc);
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
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, store->wal, &cur);
    if (rc)
        return pdb_from_mdb(rc);
    uint64_t head = 0, deleted = 0, floor = 0;
    rc = s_keep_head(store, txn, cur, &head);
    //  Nothing past the head exists; clamping keeps the arithmetic honest.
    if (below > head + 1)
        below = head + 1;
    if (!rc)
        rc = s_delete_front(cur, below, max, head, &deleted, &floor);
    mdb_cursor_close(cur);
    //  Each index entry names one WAL entry: as many go as were deleted.
    if (!rc && deleted)
        rc = wal_own_trim(store, txn, floor, deleted);
    if (rc)
        return rc;
    mpk_pack_array(&out->pk, 2);
    mpk_pack_u64(&out->pk, deleted);
    mpk_pack_u64(&out->pk, floor);
    stats->compacted += deleted;
    if (deleted)
        log_d("storage", "wal compacted deleted=%llu floor=%llu head=%llu",
              (unsigned long long) deleted, (unsigned long long) floor,
              (unsigned long long) head);
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
