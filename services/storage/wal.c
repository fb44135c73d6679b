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
