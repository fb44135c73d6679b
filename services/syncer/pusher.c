#include "pusher.h"
#include "ack.h"
#include "change.h"
#include "log.h"
#include "page.h"
#include "sops.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PUSH_IDLE_MS 1000           // look at the WAL at least this often

//  One batch copied out of the read transaction, so none is held while the
//  peer applies it.
typedef struct {
    uint8_t *bytes;
    sync_blob_t *blobs;
    uint64_t *seqs;
    size_t n;
    uint64_t next_cursor;           // last seq examined
    bool has_more;
    uint64_t head;
} s_batch_t;

static void
s_batch_release(s_batch_t *b)
{
    free(b->bytes);
    free(b->blobs);
    free(b->seqs);
    memset(b, 0, sizeof *b);
}

static int
s_batch_copy(const page_t *page, s_batch_t *b)
{
    memset(b, 0, sizeof *b);
    b->next_cursor = page->next_cursor;
    b->has_more = page->has_more;
    b->head = page->head;
    if (page->n == 0)
        return 0;
    b->bytes = malloc(page->bytes);
    b->blobs = calloc(page->n, sizeof *b->blobs);
    b->seqs = calloc(page->n, sizeof *b->seqs);
    if (!b->bytes || !b->blobs || !b->seqs) {
        s_batch_release(b);
        return -ENOMEM;
    }
    size_t off = 0;
    for (size_t i = 0; i < page->n; i++) {
        change_t h;
        if (change_decode(page->changes[i].data, page->changes[i].len, &h) != 0) {
            s_batch_release(b);
            return PDB_ECORRUPT;
        }
        memcpy(b->bytes + off, page->changes[i].data, page->changes[i].len);
        b->blobs[i] = (sync_blob_t) { b->bytes + off, page->changes[i].len };
        b->seqs[i] = h.seq;
        off += page->changes[i].len;
    }
    b->n = page->n;
    return 0;
}

int
pusher_init(pusher_t *self, const synctx_t *ctx, peer_t *peer, link_cancel_t *cancel,
            char why[PDB_ERRMSG_MAX])
{
    memset(self, 0, sizeof *self);
    return conn_init(&self->conn, ctx, peer, PEER_PUSH, cancel, why);
}

void
pusher_release(pusher_t *self)
{
    conn_release(&self->conn);
    vv_release(&self->remote);
}

//  Writes push_acked when it moved and PUSH_PERSIST_MS passed since the
//  last write, or at once when `now`; with last_seen_ms, and for it alone
//  when that moved PUSH_SEEN_PERSIST_MS. Under the identity lock, and only
//  while the row is bound to the instance that acknowledged it: once the
//  sibling direction has reset the row for a replaced peer, the cursor is
//  the old instance's and is dropped (the next hello reads the new row).
static int
s_persist(pusher_t *self, bool now, char *why)
{
    const senv_t *env = self->conn.ctx->env;
    uint64_t mono = env->mono_ms(env->ctx);
    peer_t *peer = self->conn.peer;
    uint64_t seen = peer_last_seen(peer);
    bool seen_due = seen >= self->seen_persisted + PUSH_SEEN_PERSIST_MS;
    bool acked_due = self->acked != self->persisted
                  && (now || mono >= self->persisted_mono_ms + PUSH_PERSIST_MS);
    if (!acked_due && !seen_due)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&peer->ident_lock);
    if (__atomic_load_n(&peer->generation, __ATOMIC_ACQUIRE) == self->conn.generation) {
        sops_kv_t kv[] = { SOPS_U("push_acked", self->acked), SOPS_U("last_seen_ms", seen) };
        rc = sops_peer_set(self->conn.storage, peer->spec.name, kv, seen ? 2 : 1, why);
    }
    pthread_mutex_unlock(&peer->ident_lock);
    if (!rc) {
        self->persisted = self->acked;
        self->persisted_mono_ms = mono;
        self->seen_persisted = seen;
    }
    return rc;
}

static int
s_hello(pusher_t *self, char *why)
{
    //  Hello reads push_acked back from the row: what was acknowledged but
    //  not written yet goes first, or the cursor would step back.
    int rc = s_persist(self, true, why);
    if (!rc)
        rc = conn_hello(&self->conn, why);
    if (!rc)
        rc = conn_row_u64(&self->conn, "push_acked", &self->acked);
    vv_release(&self->remote);
    if (!rc && self->conn.vector.n) {
        self->remote.entries = malloc(self->conn.vector.n * sizeof *self->remote.entries);
        if (!self->remote.entries)
            return -ENOMEM;
        memcpy(self->remote.entries, self->conn.vector.entries,
               self->conn.vector.n * sizeof *self->remote.entries);
        self->remote.n = self->conn.vector.n;
    }
    //  The peer has every change it made itself, whatever its vector said
    //  at hello: never echo them back.
    if (!rc)
        rc = vv_raise(&self->remote, &self->conn.responder, UINT64_MAX);
    self->persisted = self->acked;
    return rc;
}

//  Reads the next batch after acked. A batch that cannot start at acked
//  (compacted away) starts at the floor: the peer needs a snapshot pulled
//  from here for the gap, which a push cannot send.
static int
s_read_batch(pusher_t *self, s_batch_t *batch, char *why)
{
    const synctx_t *ctx = self->conn.ctx;
    const peerspec_t *spec = &self->conn.peer->spec;
    size_t limit = self->conn.max_batch_bytes - CONN_ENVELOPE_BYTES;
    page_req_t req = {
        .cursor = self->acked,
        .max_changes = ctx->batch_max_changes,
        .max_bytes = ctx->batch_max_bytes < limit ? ctx->batch_max_bytes : limit,
        .vector = &self->remote,
        .receiver = &self->conn.responder,
        .filter = spec->collectives, .filter_n = spec->collectives_n,
    };
    MDB_txn *txn;
    int rc = store_read_begin(ctx->store, &txn);
    if (rc)
        return rc;
    page_t page;
    rc = page_build(ctx->store, txn, &req, &page);
    if (rc == PDB_ENOTFOUND) {
        if (!self->floor_warned)
            log_w("syncer", "push gap peer=%s push_acked=%llu floor=%llu: compacted changes "
                  "cannot be pushed; the peer must pull a snapshot from this node",
                  spec->name, (unsigned long long) self->acked,
                  (unsigned long long) page.floor);
        self->floor_warned = true;
        req.cursor = page.floor - 1;
        page_release(&page);
        rc = page_build(ctx->store, txn, &req, &page);
    }
    if (rc == PDB_ETOOBIG)
        snprintf(why, PDB_ERRMSG_MAX, "change seq %llu of %zu bytes is over the batch limit "
                 "of %zu bytes (ours or the peer's); it is never skipped",
                 (unsigned long long) page.big_seq, page.big_len, req.max_bytes);
    if (!rc)
        rc = s_batch_copy(&page, batch);
    page_release(&page);
    mdb_txn_abort(txn);
    return rc;
}

//  Sends the batch and moves acked by the reply.
static int
s_send(pusher_t *self, const s_batch_t *batch, char *why)
{
    bool filtered = self->conn.peer->spec.collectives_n > 0;
    sync_msg_t req = {
        .op = SYNC_PUSH, .from = self->conn.ctx->self, .has_target = true,
        .target = self->conn.responder,
        .changes = batch->blobs, .changes_n = batch->n, .filtered = filtered,
    };
    link_reply_t reply;
    sync_err_t remote;
    int rc = conn_request(&self->conn, &req, PUSH_TIMEOUT_MS, SYNC_PUSH_OK, &reply, &remote, why);
    if (rc)
        return rc;
    const sync_msg_t *msg = &reply.msg;
    uint64_t safe = msg->safe_through, last = batch->seqs[batch->n - 1];
    uint64_t moved = safe >= last ? batch->next_cursor : (safe < batch->next_cursor ? safe
                                                                    : batch->next_cursor);
    //  Follow the peer's vector as it moves: only whole copies move it. A
    //  partial one (filtered here, or marked) raised to its origin_seq would
    //  make the next pages skip that origin's earlier changes: never sent.
    for (size_t i = 0; !filtered && i < batch->n && batch->seqs[i] <= safe; i++) {
        change_t h;
        if (change_decode(batch->blobs[i].data, batch->blobs[i].len, &h) == 0 && !h.partial
            && vv_raise(&self->remote, &h.origin, h.origin_seq) != 0)
            break;                  // only an optimisation: the peer answers "stale"
    }
    peer_counts_t add = { .pushed = batch->n, .push_accepted = msg->accepted_n,
                          .push_stale = msg->stale_n, .push_missing = msg->missing_n };
    peer_count(self->conn.peer, &add);
    self->stalled = moved <= self->acked;
    if (msg->missing_n)
        log_w("syncer", "push held back peer=%s missing=%llu safe_through=%llu: the peer lacks "
              "what they depend on (an entity, or earlier changes of their origin); resending "
              "later", self->conn.peer->spec.name,
              (unsigned long long) msg->missing_n, (unsigned long long) safe);
    if (moved > self->acked)
        self->acked = moved;
    log_d("syncer", "pushed peer=%s changes=%zu accepted=%llu stale=%llu push_acked=%llu",
          self->conn.peer->spec.name, batch->n, (unsigned long long) msg->accepted_n,
          (unsigned long long) msg->stale_n, (unsigned long long) self->acked);
    link_reply_release(&reply);
    conn_exchange_ok(&self->conn);
    //  Not `now`: the next batch does not wait for this commit.
    return s_persist(self, false, why);
}

//  After a batch went out: the oldest change the peer still lacks, as far
//  as the batch tells. One acknowledged whole leaves none, unless more is
//  waiting: that was written after the batch's last change, so it is at
//  most as old (the next step reads it).
static uint64_t
s_oldest_after(const pusher_t *self, const s_batch_t *batch)
{
    for (size_t i = 0; i < batch->n; i++)
        if (batch->seqs[i] > self->acked)
            return change_wall_ms(batch->blobs[i].data, batch->blobs[i].len);
    if (!batch->has_more || batch->n == 0)
        return 0;
    const sync_blob_t *last = &batch->blobs[batch->n - 1];
    return change_wall_ms(last->data, last->len);
}

//  The peer cannot be reached and no batch tells what it lacks: the first
//  change above push_acked stands in, so the lag of a peer that is down
//  from the start still grows. Only an estimate: without the peer's
//  vector, a change it has counts too.
static void
s_note_unreached(pusher_t *self)
{
    peer_t *peer = self->conn.peer;
    uint64_t acked = self->acked;
    if (peer_oldest(peer, PEER_PUSH) != 0
        || (acked == 0 && conn_row_u64(&self->conn, "push_acked", &acked) != 0))
        return;
    store_t *store = self->conn.ctx->store;
    MDB_txn *txn;
    if (store_read_begin(store, &txn) != 0)
        return;
    store_iter_t wal;
    uint64_t seq;
    MDB_val val;
    if (store_wal(store, txn, acked + 1, &wal) == 0 && store_wal_next(&wal, &seq, &val) == 0)
        peer_note_oldest(peer, PEER_PUSH, change_wall_ms(val.mv_data, val.mv_size));
    store_iter_close(&wal);
    mdb_txn_abort(txn);
}

//  Shortens an idle wait so that an unwritten push_acked is written when due.
static void
s_wake_to_persist(const pusher_t *self, uint64_t *wait_ms)
{
    if (*wait_ms == 0 || self->acked == self->persisted)
        return;
    const senv_t *env = self->conn.ctx->env;
    uint64_t mono = env->mono_ms(env->ctx), due = self->persisted_mono_ms + PUSH_PERSIST_MS;
    uint64_t left = due > mono ? due - mono : 1;        // 0 would mean "more to send"
    if (left < *wait_ms)
        *wait_ms = left;
}

int
pusher_step(pusher_t *self, uint64_t *wait_ms, char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    *wait_ms = PUSH_IDLE_MS;
    peer_t *peer = self->conn.peer;
    if (conn_needs_hello(&self->conn)) {
        int rc = s_hello(self, why);
        if (rc) {
            s_note_unreached(self);
            return rc;
        }
    }
    s_batch_t batch;
    int rc = s_read_batch(self, &batch, why);
    if (rc)
        return rc;
    //  Until the peer acknowledges it, the batch's first change is the
    //  oldest it lacks (page.h skipped what it has or does not want).
    const sync_blob_t *first = batch.n ? &batch.blobs[0] : NULL;
    peer_note_oldest(peer, PEER_PUSH, first ? change_wall_ms(first->data, first->len) : 0);
    if (batch.n > 0)
        rc = s_send(self, &batch, why);
    else {
        self->stalled = false;
        if (batch.next_cursor > self->acked)
            self->acked = batch.next_cursor;
        rc = s_persist(self, false, why);
    }
    if (!rc) {
        peer_note_lag(peer, PEER_PUSH, batch.head > self->acked ? batch.head - self->acked : 0);
        peer_note_oldest(peer, PEER_PUSH, s_oldest_after(self, &batch));
        peer_note_acked(peer, self->acked);
        //  Syncing means working through a backlog; a last batch leaves us in step.
        peer_set_state(peer, PEER_PUSH, batch.has_more ? PEER_SYNCING : PEER_IDLE);
        if (batch.has_more && !self->stalled)
            *wait_ms = 0;
        s_wake_to_persist(self, wait_ms);
    }
    s_batch_release(&batch);
    return rc;
}

int
pusher_flush(pusher_t *self, char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    return s_persist(self, true, why);
}
