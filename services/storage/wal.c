#include "wal.h"
#include "mpk.h"
#include "store_db.h"

#include <string.h>

int
wal_head(store_t *store, MDB_txn *txn, uint64_t *head)
{
    int rc = store_meta_get(store, txn, STORE_META_WAL_HEAD, head, sizeof *head);
    if (rc == PDB_ENOTFOUND) {
        *head = 0;
        return 0;
    }
    return rc;
}

static int
s_put_head(store_t *store, MDB_txn *txn, uint64_t head)
{
    static const char name[] = STORE_META_WAL_HEAD;
    MDB_val key = { sizeof name - 1, (void *) name }, val = { sizeof head, &head };
    return pdb_from_mdb(mdb_put(txn, store->meta, &key, &val, 0));
}

int
wal_init(store_t *store, MDB_txn *txn)
{
    return s_put_head(store, txn, 0);
}

int
wal_append(store_t *store, MDB_txn *txn, change_t *c)
{
    uint64_t head = 0;
    int rc = wal_head(store, txn, &head);
    if (rc)
        return rc;
    c->seq = head + 1;
    mpk_out_t out;
    mpk_out_init(&out);
    change_pack(&out.pk, c);
    rc = mpk_out_status(&out);
    uint8_t kbuf[8];
    store_key_seq(kbuf, c->seq);
    MDB_val key = { sizeof kbuf, kbuf }, val = { out.buf.size, out.buf.data };
    //  Sequences only grow: APPEND skips the search and keeps pages full.
    if (!rc)
        rc = pdb_from_mdb(mdb_put(txn, store->wal, &key, &val, MDB_APPEND));
    mpk_out_release(&out);
    if (!rc)
        rc = s_put_head(store, txn, c->seq);
    return rc;
}

int
wal_append_own(store_t *store, MDB_txn *txn, change_t *c)
{
    int rc = wal_append(store, txn, c);
    if (rc)
        return rc;
    uint8_t kbuf[8], vbuf[8];
    store_key_seq(kbuf, c->origin_seq);
    store_key_seq(vbuf, c->seq);
    MDB_val key = { sizeof kbuf, kbuf }, val = { sizeof vbuf, vbuf };
    return pdb_from_mdb(mdb_put(txn, store->own_changes, &key, &val, MDB_APPEND));
}

int
wal_own_seq(store_t *store, MDB_txn *txn, uint64_t origin_seq, uint64_t *seq)
{
    uint8_t kbuf[8];
    store_key_seq(kbuf, origin_seq);
    MDB_val key = { sizeof kbuf, kbuf }, val;
    int rc = mdb_get(txn, store->own_changes, &key, &val);
    if (rc == MDB_NOTFOUND)
        return PDB_ENOTFOUND;
    if (rc)
        return pdb_from_mdb(rc);
    if (val.mv_size != 8)
        return PDB_ECORRUPT;
    *seq = store_seq_from_key(&val);
    return 0;
}

//  --------------------------------------------------------------------------
//  Trimming

//  Drops own_changes entries whose WAL entry is below `floor` (compacted);
//  at most max of them.
static int
s_own_trim(store_t *store, MDB_txn *txn, uint64_t floor, uint64_t max)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, store->own_changes, &cur);
    if (rc)
        return pdb_from_mdb(rc);
    MDB_val key, val;
    uint64_t n = 0;
    //  Both sequences grow together: the front holds the oldest entries.
    while (n < max && (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST)) == 0) {
        if (val.mv_size != 8) {
            rc = MDB_CORRUPTED;
            break;
        }
        if (store_seq_from_key(&val) >= floor)
            break;
        rc = mdb_cursor_del(cur, 0);
        if (rc)
            break;
        n++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : pdb_from_mdb(rc);
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
    return s_put_head(store, txn, last);
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
wal_trim(store_t *store, MDB_txn *txn, uint64_t below, uint64_t max, wal_trim_t *out)
{
    memset(out, 0, sizeof *out);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, store->wal, &cur);
    if (rc)
        return pdb_from_mdb(rc);
    rc = s_keep_head(store, txn, cur, &out->head);
    //  Nothing past the head exists; clamping keeps the arithmetic honest.
    if (below > out->head + 1)
        below = out->head + 1;
    if (!rc)
        rc = s_delete_front(cur, below, max, out->head, &out->deleted, &out->floor);
    mdb_cursor_close(cur);
    //  Each index entry names one WAL entry: as many go as were deleted.
    if (!rc && out->deleted)
        rc = s_own_trim(store, txn, out->floor, out->deleted);
    return rc;
}
