#include "puller.h"
#include "change.h"
#include "hlc.h"
#include "log.h"
#include "sops.h"
#include "sproto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
puller_init(puller_t *self, const synctx_t *ctx, peer_t *peer, link_cancel_t *cancel,
            char why[PDB_ERRMSG_MAX])
{
    memset(self, 0, sizeof *self);
    return conn_init(&self->conn, ctx, peer, PEER_PULL, cancel, why);
}

void
puller_release(puller_t *self)
{
    conn_release(&self->conn);
}

static uint64_t
s_mono(const puller_t *self)
{
    return self->conn.ctx->env->mono_ms(self->conn.ctx->env->ctx);
}

static void
s_start_snapshot(puller_t *self, const char *reason)
{
    if (self->snap.active)
        return;
    log_i("syncer", "initial sync starting peer=%s reason=%s", self->conn.peer->spec.name,
          reason);
    initsync_begin(&self->snap, s_mono(self));
    peer_set_state(self->conn.peer, PEER_PULL, PEER_SNAPSHOT);
}

//  An empty node takes a new peer's state as a snapshot: each entity once,
//  however often it changed. The row remembers that one began, so a
//  restart resumes it though the node is no longer empty. A node with data
//  of its own pulls the peer's log from the start instead, which sends only
//  what it lacks (none of what came from here) and falls back to a
//  snapshot where that log was compacted.
static int
s_hello(puller_t *self, char *why)
{
    int rc = conn_hello(&self->conn, why);
    uint64_t cursor = 0, begun = 0;
    if (!rc)
        rc = conn_row_u64(&self->conn, "pull_cursor", &cursor);
    if (!rc)
        rc = conn_row_u64(&self->conn, "initial_sync", &begun);
    if (rc || cursor > 0 || self->conn.head == 0 || !self->conn.peer_has_news
        || (!self->conn.self_empty && !begun))
        return rc;
    if (!begun) {
        sops_kv_t mark = SOPS_U("initial_sync", 1);
        rc = sops_peer_set(self->conn.storage, self->conn.peer->spec.name, &mark, 1, why);
    }
    if (!rc)
        s_start_snapshot(self, begun ? "resuming" : "new peer");
    return rc;
}

#define PULL_HELD 1                 // s_apply: a change was held back (missing dependency)

//  Applies a page with its cursor. *reached gets where the cursor stands.
//  Returns 0, PULL_HELD, or a failure code.
static int
s_apply(puller_t *self, const sync_msg_t *msg, uint64_t cursor, uint64_t *reached, char *why)
{
    int *results = calloc(msg->changes_n ? msg->changes_n : 1, sizeof *results);
    if (!results)
        return -ENOMEM;
    uint64_t head;
    const char *name = self->conn.peer->spec.name;
    //  A filtered pull brings a subset of each origin's changes: partial.
    bool partial = self->conn.peer->spec.collectives_n > 0;
    char held_why[PDB_ERRMSG_MAX] = "";
    int rc = sops_apply(self->conn.storage, name, msg->next_cursor, msg->changes,
                        msg->changes_n, partial, results, &head, held_why, why);
    peer_counts_t add = { .pulled = msg->changes_n };
    size_t held = msg->changes_n;
    for (size_t i = 0; !rc && i < msg->changes_n; i++) {
        if (results[i] == SPROTO_APPLIED)
            add.pull_applied++;
        else if (results[i] == SPROTO_KNOWN)
            add.pull_stale++;
        else {
            add.pull_missing++;
            if (held == msg->changes_n)
                held = i;
        }
    }
    free(results);
    if (rc)
        return rc;
    peer_count(self->conn.peer, &add);
    *reached = msg->next_cursor;
    if (held < msg->changes_n) {
        //  Storage stopped the cursor just before the held change.
        change_t h = { 0 };
        uint64_t before = change_decode(msg->changes[held].data, msg->changes[held].len, &h) == 0
                        ? h.seq - 1 : cursor;
        *reached = before > cursor ? before : cursor;
        if (!self->missing_warned)
            log_w("syncer", "pull held back peer=%s missing=%llu seq=%llu: %s; retrying", name,
                  (unsigned long long) add.pull_missing, (unsigned long long) h.seq,
                  held_why[0] ? held_why : "a change needs an entity not here yet");
        self->missing_warned = true;
        return PULL_HELD;
    }
    self->missing_warned = false;
    return 0;
}

//  The pull request for the page after cursor; ours is our vector.
static void
s_request(const puller_t *self, uint64_t cursor, const vv_t *ours, sync_msg_t *req)
{
    const synctx_t *ctx = self->conn.ctx;
    const peerspec_t *spec = &self->conn.peer->spec;
    *req = (sync_msg_t) {
        .op = SYNC_PULL, .from = ctx->self, .has_target = true, .target = self->conn.responder,
        .cursor = cursor, .max_changes = ctx->batch_max_changes,
        .max_bytes = ctx->batch_max_bytes, .wait_ms = ctx->pull_wait_ms,
        .collectives = (pdb_id_t *) spec->collectives, .collectives_n = spec->collectives_n,
        .vector = ours->entries, .vector_n = ours->n, .has_vector = true,
    };
}

static int
s_read_state(puller_t *self, uint64_t *cursor, vv_t *ours)
{
    int rc = conn_row_u64(&self->conn, "pull_cursor", cursor);
    if (rc)
        return rc;
    MDB_txn *txn;
    rc = store_read_begin(self->conn.ctx->store, &txn);
    if (rc)
        return rc;
    rc = vv_read(self->conn.ctx->store, txn, ours);
    mdb_txn_abort(txn);
    return rc;
}

//  The HLC wall time of change i of a page (0 when it does not read).
static uint64_t
s_change_ms(const sync_msg_t *msg, size_t i)
{
    return change_wall_ms(msg->changes[i].data, msg->changes[i].len);
}

//  After a page was applied up to reached: the peer's oldest change above
//  it. None when that is the head the peer reported; the held change when
//  one waits for a dependency; otherwise the next page's first, not known
//  yet: written after this page's last change, so at most that old (the
//  next pull, asked for at once, tells).
static uint64_t
s_oldest_after(puller_t *self, const sync_msg_t *msg, uint64_t reached)
{
    if (reached >= msg->head)
        return 0;
    for (size_t i = 0; i < msg->changes_n; i++) {
        change_t h;
        if (change_decode(msg->changes[i].data, msg->changes[i].len, &h) == 0 && h.seq > reached)
            return hlc_wall_ms(h.hlc);
    }
    return msg->changes_n ? s_change_ms(msg, msg->changes_n - 1)
                          : peer_oldest(self->conn.peer, PEER_PULL);
}

//  After a page: how long to wait, the state and the lag.
static uint64_t
s_after(puller_t *self, const sync_msg_t *msg, uint64_t cursor, uint64_t reached, int held,
        uint64_t elapsed)
{
    peer_t *peer = self->conn.peer;
    peer_note_lag(peer, PEER_PULL, msg->head > reached ? msg->head - reached : 0);
    peer_note_oldest(peer, PEER_PULL, s_oldest_after(self, msg, reached));
    peer_note_head(peer, msg->head);
    bool empty = msg->changes_n == 0;
    //  Syncing means catching up on a backlog; a last page leaves us in step.
    peer_set_state(peer, PEER_PULL, msg->has_more ? PEER_SYNCING : PEER_IDLE);
    if (held)
        return PULL_IDLE_MS;
    if (msg->has_more || !empty || reached > cursor)
        return 0;
    //  Nothing new: the long poll already waited, unless the peer answered
    //  early (no long poll there, or wait_ms 0 here).
    unsigned wait = self->conn.ctx->pull_wait_ms;
    return wait == 0 || elapsed * 2 < wait ? PULL_IDLE_MS : 0;
}

//  One pull and its apply.
static int
s_pull(puller_t *self, uint64_t *wait_ms, char *why)
{
    uint64_t cursor;
    vv_t ours = { 0 };
    int rc = s_read_state(self, &cursor, &ours);
    if (rc) {
        vv_release(&ours);
        snprintf(why, PDB_ERRMSG_MAX, "cannot read the pull cursor or vector: %s",
                 pdb_strerror(rc));
        return rc;
    }
    sync_msg_t req;
    s_request(self, cursor, &ours, &req);
    uint64_t started = s_mono(self);
    link_reply_t reply;
    sync_err_t remote;
    int timeout = (int) self->conn.ctx->pull_wait_ms + PULL_SLACK_MS;
    rc = conn_request(&self->conn, &req, timeout, SYNC_PULL_OK, &reply, &remote, why);
    vv_release(&ours);
    if (rc == PDB_EPROTO && remote == SYNC_ERR_CURSOR_BELOW_FLOOR) {
        s_start_snapshot(self, "cursor below the peer's WAL floor");
        conn_exchange_ok(&self->conn);
        *wait_ms = 0;
        return 0;
    }
    if (rc)
        return rc;
    const sync_msg_t *msg = &reply.msg;
    uint64_t reached = cursor;
    if (msg->next_cursor < cursor) {
        snprintf(why, PDB_ERRMSG_MAX, "peer moved the cursor backwards (%llu after %llu)",
                 (unsigned long long) msg->next_cursor, (unsigned long long) cursor);
        rc = PDB_EPROTO;
    }
    else if (msg->changes_n > 0 || msg->next_cursor > cursor) {
        //  While the page is applied, its first change is the oldest we lack.
        if (msg->changes_n > 0)
            peer_note_oldest(self->conn.peer, PEER_PULL, s_change_ms(msg, 0));
        rc = s_apply(self, msg, cursor, &reached, why);
    }
    if (rc >= 0) {
        *wait_ms = s_after(self, msg, cursor, reached, rc, s_mono(self) - started);
        conn_exchange_ok(&self->conn);
        rc = 0;
    }
    link_reply_release(&reply);
    return rc;
}

int
puller_step(puller_t *self, uint64_t *wait_ms, char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    *wait_ms = 0;
    if (conn_needs_hello(&self->conn)) {
        int rc = s_hello(self, why);
        if (rc)
            return rc;
    }
    if (!self->snap.active)
        return s_pull(self, wait_ms, why);
    bool finished;
    int rc = initsync_page(&self->snap, &self->conn, &finished, why);
    if (!rc && finished)
        peer_set_state(self->conn.peer, PEER_PULL, PEER_SYNCING);
    return rc;
}
