#include "initsync.h"
#include "log.h"
#include "sops.h"

#include <string.h>

void
initsync_begin(initsync_t *self, uint64_t mono_ms)
{
    memset(self, 0, sizeof *self);
    self->active = true;
    self->started_mono_ms = mono_ms;
}

static void
s_progress(initsync_t *self, conn_t *conn, size_t n, uint64_t bytes)
{
    const senv_t *env = conn->ctx->env;
    self->done += n;
    self->bytes += bytes;
    uint64_t elapsed = env->mono_ms(env->ctx) - self->started_mono_ms;
    uint64_t rate = elapsed ? self->done * 1000 / elapsed : self->done;
    uint64_t left = self->total > self->done ? self->total - self->done : 0;
    uint64_t eta = rate ? left * 1000 / rate : 0;
    peer_note_snapshot(conn->peer, self->done, self->total, self->bytes, rate, eta);
    log_i("syncer", "initial sync peer=%s entities=%llu/%llu bytes=%llu rate=%llu/s eta_ms=%llu",
          conn->peer->spec.name, (unsigned long long) self->done,
          (unsigned long long) self->total, (unsigned long long) self->bytes,
          (unsigned long long) rate, (unsigned long long) eta);
}

//  Installs a page; the done page also moves the cursor and the vector.
static int
s_install(initsync_t *self, conn_t *conn, const sync_msg_t *msg, char *why)
{
    uint64_t installed = 0, bytes = 0;
    for (size_t i = 0; i < msg->changes_n; i++)
        bytes += msg->changes[i].len;
    //  A filtered snapshot holds some collectives only: the responder's
    //  vector would claim every other change of theirs too, so it is not
    //  taken. The states themselves are logged as our own changes, marked
    //  with the responder, which has them: they are never sent back to it.
    bool filtered = conn->peer->spec.collectives_n > 0;
    int rc = sops_install(conn->storage, conn->peer->spec.name, msg->changes, msg->changes_n,
                          msg->done, msg->snapshot_seq, msg->vector,
                          filtered ? 0 : msg->vector_n, &conn->responder, &installed, why);
    if (rc)
        return rc;
    peer_counts_t add = { .installed = installed };
    peer_count(conn->peer, &add);
    s_progress(self, conn, msg->changes_n, bytes);
    return 0;
}

//  Takes the page token (or none, at the end) for the next request.
static int
s_take_token(initsync_t *self, const sync_msg_t *msg, char *why)
{
    if (!msg->done && (!msg->page_token || msg->page_token_len == 0)) {
        snprintf(why, PDB_ERRMSG_MAX, "snapshot page is not the last but has no page_token");
        return PDB_EPROTO;
    }
    size_t len = msg->done ? 0 : msg->page_token_len;
    if (len > INITSYNC_TOKEN_MAX) {
        snprintf(why, PDB_ERRMSG_MAX, "snapshot page_token of %zu bytes is too long", len);
        return PDB_EPROTO;
    }
    if (len)
        memcpy(self->token, msg->page_token, len);
    self->token[len] = '\0';
    return 0;
}

//  The request for the page after the token (the first page without one).
static void
s_request(const initsync_t *self, const conn_t *conn, sync_msg_t *req)
{
    const peerspec_t *spec = &conn->peer->spec;
    *req = (sync_msg_t) {
        .op = SYNC_SNAPSHOT, .from = conn->ctx->self, .has_target = true,
        .target = conn->responder,
        .collectives = (pdb_id_t *) spec->collectives, .collectives_n = spec->collectives_n,
        .page_token = self->token[0] ? self->token : NULL, .page_token_len = strlen(self->token),
        .max_changes = conn->ctx->batch_max_changes,
    };
}

//  Asks for the next page while this one installs, so the peer builds it
//  meanwhile; not past the end of the burst. True when it is in flight. A
//  request that could not be sent is asked for again by the next step.
static bool
s_prefetch(const initsync_t *self, conn_t *conn, const sync_msg_t *msg, uint64_t until)
{
    const senv_t *env = conn->ctx->env;
    if (msg->done || env->mono_ms(env->ctx) >= until)
        return false;
    sync_msg_t req;
    s_request(self, conn, &req);
    char why[PDB_ERRMSG_MAX];
    return conn_send(conn, &req, why) == 0;
}

//  Takes one page: checks it belongs to the session, keeps the token for
//  the next request, asks for that page, and installs this one.
static int
s_take_page(initsync_t *self, conn_t *conn, const sync_msg_t *msg, uint64_t until,
            bool *in_flight, char *why)
{
    bool first = self->token[0] == '\0';
    if (!first && msg->snapshot_seq != self->snapshot_seq) {
        snprintf(why, PDB_ERRMSG_MAX, "snapshot_seq changed mid-session (%llu, then %llu)",
                 (unsigned long long) self->snapshot_seq, (unsigned long long) msg->snapshot_seq);
        return PDB_EPROTO;
    }
    self->snapshot_seq = msg->snapshot_seq;
    self->total = msg->total;
    int rc = s_take_token(self, msg, why);
    if (rc)
        return rc;
    *in_flight = s_prefetch(self, conn, msg, until);
    return s_install(self, conn, msg, why);
}

int
initsync_page(initsync_t *self, conn_t *conn, bool *finished, char why[PDB_ERRMSG_MAX])
{
    *finished = false;
    const senv_t *env = conn->ctx->env;
    uint64_t until = env->mono_ms(env->ctx) + INITSYNC_BURST_MS;
    sync_msg_t req;
    s_request(self, conn, &req);
    int rc = conn_send(conn, &req, why);
    bool in_flight = rc == 0;
    while (in_flight) {
        link_reply_t reply;
        sync_err_t remote;
        in_flight = false;
        rc = conn_receive(conn, SYNC_SNAPSHOT, INITSYNC_TIMEOUT_MS, SYNC_SNAPSHOT_OK, &reply,
                          &remote, why);
        if (rc)
            break;
        const sync_msg_t *msg = &reply.msg;
        rc = s_take_page(self, conn, msg, until, &in_flight, why);
        if (!rc && msg->done) {
            log_i("syncer", "initial sync done peer=%s entities=%llu bytes=%llu snapshot_seq=%llu",
                  conn->peer->spec.name, (unsigned long long) self->done,
                  (unsigned long long) self->bytes, (unsigned long long) self->snapshot_seq);
            self->active = false;
            *finished = true;
        }
        link_reply_release(&reply);
        if (rc)
            break;
        conn_exchange_ok(conn);
    }
    //  Only after a failure: the session cannot resume past a page that was
    //  asked for and not installed.
    if (in_flight)
        conn_abandon(conn);
    //  A lost session (expired, peer restarted) or a refused page: start over.
    if (rc && rc != -ECANCELED)
        initsync_begin(self, env->mono_ms(env->ctx));
    return rc;
}
