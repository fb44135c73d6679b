#include "page.h"
#include "change.h"
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

//  One scan's state: the receiver's vector as it will stand after the
//  changes taken so far, and the entries re-encoded for it.
typedef struct {
    const page_req_t *req;
    page_t *page;
    size_t cap;
    vv_t expect;
    bool whole_link;             // no filter: whole copies stay whole
} s_scan_t;

//  The entry re-encoded as a partial copy, kept by the page.
static int
s_remake_partial(s_scan_t *scan, const MDB_val *val, MDB_val *out)
{
    change_t c;
    if (change_decode(val->mv_data, val->mv_size, &c) != 0)
        return PDB_ECORRUPT;
    c.partial = true;
    mpk_out_t buf;
    mpk_out_init(&buf);
    change_pack(&buf.pk, &c);
    int rc = mpk_out_status(&buf);
    page_t *page = scan->page;
    uint8_t **more = rc ? NULL : realloc(page->owned, (page->owned_n + 1) * sizeof *more);
    if (!rc && !more)
        rc = -ENOMEM;
    if (!rc) {
        page->owned = more;
        page->owned[page->owned_n++] = (uint8_t *) buf.buf.data;
        *out = (MDB_val) { buf.buf.size, buf.buf.data };
        buf.buf.data = NULL;       // the page frees it
    }
    mpk_out_release(&buf);
    return rc;
}

//  What to do with one WAL entry, and the bytes to send for it (the entry
//  itself, or a partial copy of it); PDB_ETOOBIG when it can never fit.
static int
s_judge(s_scan_t *scan, uint64_t seq, const MDB_val *val, MDB_val *send,
        s_verdict_t *verdict)
{
    const page_req_t *req = scan->req;
    page_t *page = scan->page;
    change_t h;
    if (change_decode(val->mv_data, val->mv_size, &h) != 0)
        return PDB_ECORRUPT;
    bool covered = vv_covers(&scan->expect, &h.origin, h.origin_seq);
    //  A state installed from the receiver's snapshot is the receiver's own
    //  data (or older): sending it back would be a second full transfer.
    bool its_own = req->receiver && pdb_id_cmp(&h.source, req->receiver) == 0;
    if (covered || its_own || !s_in_filter(req, &h.collective_id)) {
        *verdict = S_SKIP;
        return 0;
    }
    //  A whole copy must continue the receiver's sequence of its origin
    //  exactly, or the receiver holds it back. Where this log does not hold
    //  the changes in between (a snapshot installed here, compaction, a log
    //  from before dense numbering), it goes as a partial copy: merged, but
    //  claiming nothing about the others.
    *send = *val;
    bool continues = h.origin_seq == vv_get(&scan->expect, &h.origin) + 1;
    bool remade = scan->whole_link && !h.partial && !continues;
    if (remade) {
        int rc = s_remake_partial(scan, val, send);
        if (rc)
            return rc;
    }
    size_t cost = send->mv_size + PAGE_BLOB_OVERHEAD;
    if (page->n >= req->max_changes || page->bytes + cost > req->max_bytes) {
        if (page->n == 0) {
            page->big_seq = seq;
            page->big_len = send->mv_size;
            return PDB_ETOOBIG;
        }
        *verdict = S_FULL;
        return 0;
    }
    if (scan->whole_link && !h.partial && continues) {
        int rc = vv_raise(&scan->expect, &h.origin, h.origin_seq);
        if (rc)
            return rc;
    }
    *verdict = S_TAKE;
    return 0;
}

static int
s_scan(store_t *store, MDB_txn *txn, s_scan_t *scan)
{
    const page_req_t *req = scan->req;
    page_t *page = scan->page;
    if (req->cursor == UINT64_MAX)
        return 0;                   // nothing can come after it
    store_iter_t wal;
    int rc = store_wal(store, txn, req->cursor + 1, &wal);
    size_t examined = 0;
    uint64_t seq;
    MDB_val val;
    while (!rc && (rc = store_wal_next(&wal, &seq, &val)) == 0) {
        if (examined == PAGE_EXAMINE_MAX) {
            page->has_more = true;
            break;
        }
        s_verdict_t verdict;
        MDB_val send;
        rc = s_judge(scan, seq, &val, &send, &verdict);
        if (rc)
            break;
        if (verdict == S_FULL) {
            page->has_more = true;
            break;
        }
        if (verdict == S_TAKE) {
            rc = s_push(page, &scan->cap, send.mv_data, send.mv_size);
            if (rc)
                break;
            page->bytes += send.mv_size + PAGE_BLOB_OVERHEAD;
        }
        page->next_cursor = seq;
        examined++;
    }
    store_iter_close(&wal);
    return rc == PDB_ENOTFOUND ? 0 : rc;
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
    s_scan_t scan = { .req = req, .page = out,
                      .whole_link = !req->filter || req->filter_n == 0 };
    rc = vv_copy(&scan.expect, req->vector);
    if (!rc)
        rc = s_scan(store, txn, &scan);
    vv_release(&scan.expect);
    return rc;
}

void
page_release(page_t *page)
{
    free(page->changes);
    page->changes = NULL;
    page->n = 0;
    for (size_t i = 0; i < page->owned_n; i++)
        free(page->owned[i]);
    free(page->owned);
    page->owned = NULL;
    page->owned_n = 0;
}
