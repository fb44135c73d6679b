#include "page.h"
#include "chead.h"
#include "err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool
s_in_filter(const page_req_t *req, const pdb_id_t *collective)
{
    if (!req->filter || req->filter_n == 0)
        return true;
    for (size_t i = 0; i < req->filter_n; i++)
        if (pdb_id_cmp(&req->filter[i], collective) == 0)
            return true;
    return false;
}

static int
s_push(page_t *page, size_t *cap, const void *data, size_t len)
{
    if (page->n == *cap) {
        size_t grown = *cap ? *cap * 2 : 64;
        sync_blob_t *more = realloc(page->changes, grown * sizeof *more);
        if (!more)
            return -ENOMEM;
        page->changes = more;
        *cap = grown;
    }
    page->changes[page->n++] = (sync_blob_t) { data, len };
    return 0;
}

typedef enum { S_TAKE, S_SKIP, S_FULL } s_verdict_t;

//  What to do with one WAL entry; PDB_ETOOBIG when it can never fit.
static int
s_judge(const page_req_t *req, page_t *page, uint64_t seq, const MDB_val *val,
        s_verdict_t *verdict)
{
    chead_t h;
    if (chead_read(val->mv_data, val->mv_size, &h) != 0)
        return PDB_ECORRUPT;
    bool covered = req->vector && vv_covers(req->vector, &h.origin, h.origin_seq);
    //  A state installed from the receiver's snapshot is the receiver's own
    //  data (or older): sending it back would be a second full transfer.
    bool its_own = req->receiver && pdb_id_cmp(&h.source, req->receiver) == 0;
    if (covered || its_own || !s_in_filter(req, &h.collective)) {
        *verdict = S_SKIP;
        return 0;
    }
    size_t cost = val->mv_size + PAGE_BLOB_OVERHEAD;
    if (page->n >= req->max_changes || page->bytes + cost > req->max_bytes) {
        if (page->n == 0) {
            page->big_seq = seq;
            page->big_len = val->mv_size;
            return PDB_ETOOBIG;
        }
        *verdict = S_FULL;
        return 0;
    }
    *verdict = S_TAKE;
    return 0;
}

static int
s_scan(store_t *store, MDB_txn *txn, const page_req_t *req, page_t *page)
{
    MDB_cursor *cur;
    int rc = pdb_from_mdb(mdb_cursor_open(txn, store->wal, &cur));
    if (rc)
        return rc;
    size_t cap = 0, examined = 0;
    uint8_t start[8];
    store_key_seq(start, req->cursor + 1);
    MDB_val key = { sizeof start, start }, val;
    int mrc = req->cursor == UINT64_MAX ? MDB_NOTFOUND
            : mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    for (; mrc == 0; mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (examined == PAGE_EXAMINE_MAX) {
            page->has_more = true;
            break;
        }
        uint64_t seq = store_seq_from_key(&key);
        s_verdict_t verdict;
        rc = s_judge(req, page, seq, &val, &verdict);
        if (rc)
            break;
        if (verdict == S_FULL) {
            page->has_more = true;
            break;
        }
        if (verdict == S_TAKE) {
            rc = s_push(page, &cap, val.mv_data, val.mv_size);
            if (rc)
                break;
            page->bytes += val.mv_size + PAGE_BLOB_OVERHEAD;
        }
        page->next_cursor = seq;
        examined++;
    }
    mdb_cursor_close(cur);
    if (!rc && mrc != 0 && mrc != MDB_NOTFOUND)
        rc = pdb_from_mdb(mrc);
    return rc;
}

int
page_build(store_t *store, MDB_txn *txn, const page_req_t *req, page_t *out)
{
    memset(out, 0, sizeof *out);
    out->next_cursor = req->cursor;
    store_meta_t meta;
    int rc = store_meta_read(store, txn, &meta);
    if (rc)
        return rc;
    out->head = meta.wal_head;
    out->floor = meta.wal_floor;
    if (req->cursor < UINT64_MAX && req->cursor + 1 < meta.wal_floor)
        return PDB_ENOTFOUND;
    return s_scan(store, txn, req, out);
}

void
page_release(page_t *page)
{
    free(page->changes);
    page->changes = NULL;
    page->n = 0;
}
