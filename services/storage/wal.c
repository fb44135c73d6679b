#include "wal.h"
#include "mpk.h"

#include <string.h>

static const char s_head_key[] = "wal_head";

int
wal_head(store_t *store, MDB_txn *txn, uint64_t *head)
{
    MDB_val key = { sizeof s_head_key - 1, (void *) s_head_key }, val;
    int rc = mdb_get(txn, store->meta, &key, &val);
    if (rc == MDB_NOTFOUND) {
        *head = 0;
        return 0;
    }
    if (rc)
        return pdb_from_mdb(rc);
    if (val.mv_size != sizeof *head)
        return PDB_ECORRUPT;
    memcpy(head, val.mv_data, sizeof *head);
    return 0;
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
    MDB_val hkey = { sizeof s_head_key - 1, (void *) s_head_key };
    MDB_val hval = { sizeof c->seq, &c->seq };
    if (!rc)
        rc = pdb_from_mdb(mdb_put(txn, store->meta, &hkey, &hval, 0));
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

int
wal_own_trim(store_t *store, MDB_txn *txn, uint64_t floor, uint64_t max)
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
