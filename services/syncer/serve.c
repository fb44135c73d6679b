#include "serve.h"
#include "authz.h"
#include "zap.h"
#include "ack.h"
#include "bounds.h"
#include "inbound.h"
#include "log.h"
#include "mpk.h"
#include "page.h"
#include "peers_cfg.h"
#include "snapshot_session.h"
#include "sops.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SERVE_TICK_MS 1000

//  Where a reply goes (the socket the request came on, the caller's ROUTER
//  identity, whether it sent the empty delimiter frame of a REQ socket) and
//  who the caller proved to be: the peer its CURVE key or peer token names.
typedef struct {
    zsock_t *sock;                  // borrowed: the server's router or relay
    zframe_t *identity;
    bool delimiter;
    bool authenticated;             // peer is set; authz applies
    bool by_token;                  // through a gateway: a peer token without an
                                    // entry here may do everything (the token says so)
    char peer[PEERSPEC_NAME_MAX + 1];
} s_route_t;

typedef struct {
    s_route_t route;
    pdb_id_t source;
    uint64_t scan_from;             // examined up to here while waiting
    size_t max_changes, max_bytes;
    vv_t vector;
    pdb_id_t *filter;
    size_t filter_n;
    uint64_t deadline;
} s_parked_t;

//  A push handed to storage, waiting for its answer.
typedef struct {
    s_route_t route;
    pdb_id_t source;                // the pushing instance
    uint64_t request_id;
    uint64_t *seqs;                 // the batch's seqs, for safe_through
    size_t n;
    uint64_t deadline;
} s_push_t;

struct serve {
    const synctx_t *ctx;
    sclient_t *storage;
    zsock_t *router;                // sync/bind: ZeroMQ peers (CURVE with a key pair)
    zsock_t *relay;                 // DATA/sync-relay.sock: HTTP peers, via the gateways
    authz_t *authz;                 // what each authenticated peer may do
    zap_t *zap;                     // admits configured keys (with a key pair)
    snapshot_session_table_t *sessions;
    inbound_t *inbound;
    s_parked_t *parked[SERVE_PARKED_MAX];
    size_t parked_n;
    sclient_t *applier;             // pushes' "apply", sent without waiting (owned)
    s_push_t *pushes[SERVE_PUSHES_MAX];
    size_t pushes_n;
};

static uint64_t
s_mono(const serve_t *self)
{
    return self->ctx->env->mono_ms(self->ctx->env->ctx);
}

static uint64_t
s_wall(const serve_t *self)
{
    return self->ctx->env->wall_ms(self->ctx->env->ctx);
}

//  A caller's request refused for what it carried: logged and kept in its
//  inbound row, so status shows it.
static void
s_note_refused(serve_t *self, const pdb_id_t *from, sync_op_t op, const char *detail)
{
    char id[PDB_ID_STR_LEN + 1];
    pdb_id_format(from, id);
    uint64_t count = inbound_refused(self->inbound, from, detail, s_mono(self), s_wall(self));
    //  Once per caller at warning level: a caller cannot flood the log.
    log_emit(count == 1 ? LOGL_WARN : LOGL_DEBUG, "syncer", "%s refused source=%s "
             "refused=%llu: %s", sync_msg_op_name(op), id, (unsigned long long) count, detail);
}

//  --------------------------------------------------------------------------
//  Replies

static void
s_send(serve_t *self, const s_route_t *route, sync_msg_t *reply)
{
    reply->from = self->ctx->self;
    mpk_out_t out;
    mpk_out_init(&out);
    sync_msg_pack(&out.pk, reply);
    zmsg_t *msg = zmsg_new();
    if (mpk_out_status(&out) == 0 && msg) {
        zmsg_append(msg, &(zframe_t *) { zframe_dup(route->identity) });
        if (route->delimiter)
            zmsg_addmem(msg, "", 0);
        zmsg_addmem(msg, out.buf.data, out.buf.size);
        //  A caller that went away is simply not answered.
        if (zmsg_send(&msg, route->sock) != 0)
            log_d("syncer", "reply dropped op=%s", sync_msg_op_name(reply->op));
    }
    zmsg_destroy(&msg);
    mpk_out_release(&out);
}

static void
s_error(serve_t *self, const s_route_t *route, sync_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
s_error(serve_t *self, const s_route_t *route, sync_err_t code, const char *fmt, ...)
{
    char detail[PDB_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    log_d("syncer", "request refused code=%s detail=%s", sync_msg_err_name(code), detail);
    sync_msg_t reply = { .op = SYNC_ERROR, .error = code, .detail = detail,
                         .detail_len = strlen(detail) };
    s_send(self, route, &reply);
}

//  Storage's failure as the protocol's error code.
static sync_err_t
s_storage_error(int rc)
{
    switch (rc) {
    case PDB_EINVAL:   return SYNC_ERR_BAD_REQUEST;
    case PDB_ETOOBIG:  return SYNC_ERR_TOO_LARGE;
    case PDB_EUNAVAIL: return SYNC_ERR_BUSY;
    default:           return SYNC_ERR_INTERNAL;
    }
}

//  Requests after hello must name this node; a mismatch applies nothing.
static bool
s_check_target(serve_t *self, const s_route_t *route, const sync_msg_t *msg)
{
    char want[PDB_ID_STR_LEN + 1], got[PDB_ID_STR_LEN + 1];
    pdb_id_format(&self->ctx->self, want);
    if (!msg->has_target || pdb_id_cmp(&msg->target, &self->ctx->self) != 0) {
        pdb_id_format(&msg->target, got);
        s_error(self, route, SYNC_ERR_BAD_REQUEST, "%s names target %s but this node is %s: "
                "nothing applied; say hello again", sync_msg_op_name(msg->op), got, want);
        return false;
    }
    if (pdb_id_cmp(&msg->from, &self->ctx->self) == 0) {
        s_error(self, route, SYNC_ERR_BAD_REQUEST, "%s comes from this node itself (%s)",
                sync_msg_op_name(msg->op), want);
        return false;
    }
    return true;
}

//  --------------------------------------------------------------------------
//  hello

static void
s_hello(serve_t *self, const s_route_t *route, const sync_msg_t *msg)
{
    if (msg->protocol < SYNC_PROTOCOL_VERSION) {
        s_error(self, route, SYNC_ERR_PROTOCOL_VERSION, "protocol %u is not supported; this "
                "node speaks %u", msg->protocol, SYNC_PROTOCOL_VERSION);
        return;
    }
    store_t *store = self->ctx->store;
    MDB_txn *txn;
    store_meta_t meta;
    vv_t vector = { 0 };
    int rc = store_read_begin(store, &txn);
    if (!rc) {
        rc = store_meta_read(store, txn, &meta);
        if (!rc)
            rc = vv_read(store, txn, &vector);
        mdb_txn_abort(txn);
    }
    if (rc) {
        s_error(self, route, SYNC_ERR_INTERNAL, "cannot read the store: %s", pdb_strerror(rc));
        return;
    }
    sync_msg_t reply = {
        .op = SYNC_HELLO_OK, .accepted = true, .max_batch_bytes = SERVE_MAX_BATCH_BYTES,
        .head = meta.wal_head, .floor = meta.wal_floor,
        .vector = vector.entries, .vector_n = vector.n, .has_vector = true,
    };
    s_send(self, route, &reply);
    vv_release(&vector);
}

//  A peer token is itself a grant: its holder needs no entry here (an HTTP
//  peer behind a NAT cannot be dialled back), but an entry limits it.
static authz_verdict_t
s_verdict(const s_route_t *route, authz_verdict_t verdict)
{
    return verdict == AUTHZ_UNAUTHORIZED && route->by_token ? AUTHZ_OK : verdict;
}

//  --------------------------------------------------------------------------
//  push

//  Every change's envelope reads, and seqs strictly increase from 1.
static bool
s_check_push(serve_t *self, const s_route_t *route, const sync_msg_t *msg, uint64_t *seqs)
{
    for (size_t i = 0; i < msg->changes_n; i++) {
        change_t h;
        if (change_decode(msg->changes[i].data, msg->changes[i].len, &h) != 0) {
            s_error(self, route, SYNC_ERR_BAD_REQUEST, "change %zu is not an encoded change", i);
            return false;
        }
        if (h.seq == 0 || (i > 0 && h.seq <= seqs[i - 1])) {
            s_error(self, route, SYNC_ERR_BAD_REQUEST, "change %zu: seq %llu does not strictly "
                    "increase", i, (unsigned long long) h.seq);
            return false;
        }
        char why[PDB_ERRMSG_MAX];
        if (route->authenticated
            && s_verdict(route, authz_push_collective(self->authz, route->peer, &h.collective_id,
                                                      why)) != AUTHZ_OK) {
            s_error(self, route, SYNC_ERR_FORBIDDEN, "%s", why);
            s_note_refused(self, &msg->from, SYNC_PUSH, why);
            return false;
        }
        seqs[i] = h.seq;
    }
    return true;
}

static void
s_push_free(s_push_t **p_p)
{
    s_push_t *p = *p_p;
    zframe_destroy(&p->route.identity);
    free(p->seqs);
    free(p);
    *p_p = NULL;
}

//  Hands the checked batch to storage without waiting for it: the ROUTER
//  goes on serving every other peer (hello, pull, snapshot, other pushes)
//  while storage applies and fsyncs, and the reply leaves when storage
//  answers (serve_on_storage). Takes seqs (n entries).
static void
s_push_send(serve_t *self, s_route_t *route, const sync_msg_t *msg, uint64_t *seqs)
{
    size_t n = msg->changes_n;
    s_push_t *p = self->pushes_n < SERVE_PUSHES_MAX ? calloc(1, sizeof *p) : NULL;
    if (!p) {
        free(seqs);
        s_error(self, route, SYNC_ERR_BUSY, "%zu pushes are waiting for storage; retry later",
                self->pushes_n);
        return;
    }
    char why[PDB_ERRMSG_MAX] = "";
    mpk_out_t args;
    uint64_t request_id = 0;
    //  A sender that filtered its push, or a peer held to some collectives
    //  here, sends a subset of each origin's changes: storage applies them
    //  as partial copies.
    bool partial = msg->filtered
                || (route->authenticated && authz_limited(self->authz, route->peer));
    int rc = sops_apply_pack(&args, "", seqs[n - 1], msg->changes, n, partial);
    if (!rc)
        rc = sclient_send(self->applier, "apply", args.buf.data, args.buf.size, &request_id,
                          why);
    mpk_out_release(&args);
    if (rc) {
        free(seqs);
        free(p);
        s_error(self, route, s_storage_error(rc), "storage refused the batch: %s",
                why[0] ? why : pdb_strerror(rc));
        return;
    }
    *p = (s_push_t) { .route = *route, .source = msg->from, .request_id = request_id,
                      .seqs = seqs, .n = n,
                      .deadline = s_mono(self) + SERVE_APPLY_TIMEOUT_MS };
    route->identity = NULL;          // now owned by the waiting push
    self->pushes[self->pushes_n++] = p;
}

static void
s_push(serve_t *self, s_route_t *route, const sync_msg_t *msg)
{
    if (!s_check_target(self, route, msg))
        return;
    size_t n = msg->changes_n;
    if (n == 0) {
        sync_msg_t reply = { .op = SYNC_PUSH_OK };
        s_send(self, route, &reply);
        return;
    }
    uint64_t *seqs = calloc(n, sizeof *seqs);
    if (!seqs)
        s_error(self, route, SYNC_ERR_BUSY, "out of memory");
    else if (s_check_push(self, route, msg, seqs)) {
        s_push_send(self, route, msg, seqs);
        seqs = NULL;                 // now the waiting push's
    }
    free(seqs);
}

//  Storage answered the push p: the reply counts what was accepted and
//  says how far the batch is durable.
static void
s_push_answer(serve_t *self, s_push_t *p, int rc, const void *result, size_t len,
              const char *why)
{
    char detail[PDB_ERRMSG_MAX];
    snprintf(detail, sizeof detail, "%s", why);
    int *results = rc ? NULL : calloc(p->n, sizeof *results);
    if (!rc && !results) {
        rc = -ENOMEM;
        snprintf(detail, sizeof detail, "out of memory");
    }
    char held[PDB_ERRMSG_MAX] = "";
    if (!rc)
        rc = sops_apply_result(result, len, results, p->n, NULL, held, detail);
    if (rc) {
        s_error(self, &p->route, s_storage_error(rc), "storage refused the batch: %s",
                detail[0] ? detail : pdb_strerror(rc));
        s_note_refused(self, &p->source, SYNC_PUSH, detail[0] ? detail : pdb_strerror(rc));
    }
    else {
        inbound_pushed(self->inbound, &p->source, s_mono(self), s_wall(self));
        ack_t ack;
        ack_summarize(p->seqs, results, p->n, &ack);
        sync_msg_t reply = { .op = SYNC_PUSH_OK, .accepted_n = ack.accepted,
                             .stale_n = ack.stale, .missing_n = ack.missing,
                             .safe_through = ack.safe_through };
        s_send(self, &p->route, &reply);
        //  A change held back for a reason storage names (a jump in its
        //  origin's sequence) is a partial refusal: shown like one.
        if (held[0])
            s_note_refused(self, &p->source, SYNC_PUSH, held);
    }
    free(results);
}

//  Answers pushes whose wait for storage ended (all of them with `all`):
//  busy with why, the sender retries (applying twice is harmless: the
//  second copy is known).
static void
s_pushes_expire(serve_t *self, uint64_t now, bool all, const char *why)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->pushes_n; i++) {
        s_push_t *p = self->pushes[i];
        if (!all && now < p->deadline) {
            self->pushes[kept++] = p;
            continue;
        }
        s_error(self, &p->route, SYNC_ERR_BUSY, "%s; retry later", why);
        s_push_free(&self->pushes[i]);
    }
    self->pushes_n = kept;
}

//  --------------------------------------------------------------------------
//  pull

//  The page a pull asks for (s_answer_pull sets where it starts).
static page_req_t
s_pull_req(size_t max_changes, size_t max_bytes, const vv_t *vector, const pdb_id_t *source,
           const pdb_id_t *filter, size_t filter_n)
{
    return (page_req_t) { .max_changes = max_changes,
                          .max_bytes = max_bytes, .vector = vector, .receiver = source,
                          .filter = filter, .filter_n = filter_n };
}

//  Builds and sends the page for a pull (or a parked one), from *scan_from
//  on (req's cursor is ignored). Returns true when answered, false when the
//  page is empty and may wait (*scan_from moved).
static bool
s_answer_pull(serve_t *self, const s_route_t *route, uint64_t *scan_from, page_req_t req,
              bool may_wait)
{
    size_t max_bytes = req.max_bytes;
    req.cursor = *scan_from;
    MDB_txn *txn;
    page_t page = { 0 };
    int rc = store_read_begin(self->ctx->store, &txn);
    if (rc) {
        s_error(self, route, SYNC_ERR_INTERNAL, "cannot read the store: %s", pdb_strerror(rc));
        return true;
    }
    rc = page_build(self->ctx->store, txn, &req, &page);
    bool answered = true;
    if (rc == PDB_ENOTFOUND)
        s_error(self, route, SYNC_ERR_CURSOR_BELOW_FLOOR, "cursor %llu is below this node's WAL "
                "floor %llu: start an initial sync", (unsigned long long) *scan_from,
                (unsigned long long) page.floor);
    else if (rc == PDB_ETOOBIG)
        s_error(self, route, SYNC_ERR_TOO_LARGE, "change seq %llu is %zu bytes, over max_bytes "
                "%zu", (unsigned long long) page.big_seq, page.big_len, max_bytes);
    else if (rc)
        s_error(self, route, SYNC_ERR_INTERNAL, "cannot read the WAL: %s", pdb_strerror(rc));
    else if (may_wait && page.n == 0 && !page.has_more) {
        *scan_from = page.next_cursor;
        answered = false;
    }
    else {
        sync_msg_t reply = { .op = SYNC_PULL_OK, .changes = page.changes, .changes_n = page.n,
                             .next_cursor = page.next_cursor, .has_more = page.has_more,
                             .head = page.head };
        s_send(self, route, &reply);
    }
    page_release(&page);
    mdb_txn_abort(txn);
    return answered;
}

static void
s_parked_free(s_parked_t **p_p)
{
    s_parked_t *p = *p_p;
    zframe_destroy(&p->route.identity);
    vv_release(&p->vector);
    free(p->filter);
    free(p);
    *p_p = NULL;
}

//  Holds a pull until the WAL moves or its wait ends. False when it cannot.
static bool
s_park(serve_t *self, s_route_t *route, const sync_msg_t *msg, uint64_t scan_from,
       size_t max_bytes)
{
    if (self->parked_n == SERVE_PARKED_MAX)
        return false;
    s_parked_t *p = calloc(1, sizeof *p);
    if (!p)
        return false;
    *p = (s_parked_t) { .route = *route, .source = msg->from, .scan_from = scan_from,
                        .max_changes = msg->max_changes, .max_bytes = max_bytes,
                        .deadline = s_mono(self) + msg->wait_ms };
    route->identity = NULL;          // now owned by the parked request
    bool ok = true;
    if (msg->vector_n) {
        p->vector.entries = malloc(msg->vector_n * sizeof *msg->vector);
        ok = p->vector.entries != NULL;
        if (ok)
            memcpy(p->vector.entries, msg->vector, msg->vector_n * sizeof *msg->vector);
        p->vector.n = ok ? msg->vector_n : 0;
    }
    if (ok && msg->collectives_n) {
        p->filter = malloc(msg->collectives_n * sizeof *msg->collectives);
        ok = p->filter != NULL;
        if (ok)
            memcpy(p->filter, msg->collectives, msg->collectives_n * sizeof *msg->collectives);
        p->filter_n = ok ? msg->collectives_n : 0;
    }
    if (!ok) {
        *route = p->route;
        p->route.identity = NULL;
        s_parked_free(&p);
        return false;
    }
    self->parked[self->parked_n++] = p;
    return true;
}

static void
s_pull(serve_t *self, s_route_t *route, const sync_msg_t *msg)
{
    if (!s_check_target(self, route, msg))
        return;
    if (msg->max_changes == 0 || msg->max_bytes == 0) {
        s_error(self, route, SYNC_ERR_BAD_REQUEST, "max_changes and max_bytes must be at least 1");
        return;
    }
    inbound_note(self->inbound, &msg->from, msg->cursor, s_mono(self),
                 self->ctx->env->wall_ms(self->ctx->env->ctx));
    size_t max_bytes = msg->max_bytes < SERVE_MAX_BATCH_BYTES ? msg->max_bytes
                                                               : SERVE_MAX_BATCH_BYTES;
    vv_t vector = { msg->vector, msg->vector_n };
    uint64_t scan_from = msg->cursor;
    bool wait = msg->wait_ms > 0 && self->parked_n < SERVE_PARKED_MAX;
    page_req_t req = s_pull_req(msg->max_changes, max_bytes, &vector, &msg->from,
                                msg->collectives, msg->collectives_n);
    if (s_answer_pull(self, route, &scan_from, req, wait))
        return;
    if (!s_park(self, route, msg, scan_from, max_bytes))
        s_answer_pull(self, route, &scan_from, req, false);
}

static page_req_t
s_parked_req(const s_parked_t *p)
{
    return s_pull_req(p->max_changes, p->max_bytes, &p->vector, &p->source, p->filter,
                      p->filter_n);
}

//  Answers parked pulls that now have changes (look) or whose wait ended.
static void
s_parked_run(serve_t *self, bool look)
{
    uint64_t now = s_mono(self);
    size_t kept = 0;
    for (size_t i = 0; i < self->parked_n; i++) {
        s_parked_t *p = self->parked[i];
        bool expired = now >= p->deadline;
        bool answered = false;
        if (look || expired)
            answered = s_answer_pull(self, &p->route, &p->scan_from, s_parked_req(p),
                                     !expired);
        if (answered)
            s_parked_free(&self->parked[i]);
        else
            self->parked[kept++] = p;
    }
    self->parked_n = kept;
}

//  --------------------------------------------------------------------------
//  snapshot

//  Splits consecutive packed bins (what snapshot_page writes) into blobs.
static int
s_split_bins(const uint8_t *p, size_t len, size_t count, sync_blob_t *out)
{
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        if (off >= len)
            return PDB_ECORRUPT;
        uint8_t tag = p[off++];
        size_t width = tag == 0xc4 ? 1 : tag == 0xc5 ? 2 : tag == 0xc6 ? 4 : 0;
        if (width == 0 || len - off < width)
            return PDB_ECORRUPT;
        size_t n = 0;
        for (size_t k = 0; k < width; k++)
            n = n << 8 | p[off++];
        if (len - off < n)
            return PDB_ECORRUPT;
        out[i] = (sync_blob_t) { p + off, n };
        off += n;
    }
    return off == len ? 0 : PDB_ECORRUPT;
}

static snapshot_session_t *
s_session(serve_t *self, const s_route_t *route, const sync_msg_t *msg)
{
    snapshot_session_t *session = NULL;
    if (msg->page_token) {
        session = snapshot_session_find(self->sessions, msg->page_token, msg->page_token_len,
                                        &msg->from, s_mono(self));
        if (!session)
            s_error(self, route, SYNC_ERR_BAD_REQUEST, "snapshot session unknown or expired; "
                    "start again without page_token");
        return session;
    }
    int rc = snapshot_session_open(self->sessions, &msg->from, msg->collectives,
                                   msg->collectives_n, s_mono(self), &session);
    if (rc == PDB_EFULL)
        s_error(self, route, SYNC_ERR_BUSY, "%d snapshot sessions are running; retry later",
                SNAPSHOT_SESSION_MAX);
    else if (rc)
        s_error(self, route, SYNC_ERR_INTERNAL, "cannot start a snapshot: %s", pdb_strerror(rc));
    else {
        //  The caller will pull from snapshot_seq: hold the WAL above it.
        inbound_note(self->inbound, &msg->from, snapshot_session_seq(session), s_mono(self),
                     self->ctx->env->wall_ms(self->ctx->env->ctx));
        log_i("syncer", "snapshot session started token=%.8s entities=%llu snapshot_seq=%llu",
              snapshot_session_token(session), (unsigned long long) snapshot_session_total(session),
              (unsigned long long) snapshot_session_seq(session));
    }
    return rc ? NULL : session;
}

static void
s_snapshot(serve_t *self, const s_route_t *route, const sync_msg_t *msg)
{
    if (!s_check_target(self, route, msg))
        return;
    if (msg->max_changes == 0) {
        s_error(self, route, SYNC_ERR_BAD_REQUEST, "max_entities must be at least 1");
        return;
    }
    snapshot_session_t *session = s_session(self, route, msg);
    if (!session)
        return;
    mpk_out_t ents;
    mpk_out_init(&ents);
    size_t count = 0;
    bool done = false;
    int rc = snapshot_session_page(session, &self->ctx->self, msg->max_changes,
                                   SERVE_MAX_BATCH_BYTES - (64u << 10), &ents, &count, &done);
    sync_blob_t *blobs = calloc(count ? count : 1, sizeof *blobs);
    if (!rc)
        rc = mpk_out_status(&ents) ? -ENOMEM : blobs ? 0 : -ENOMEM;
    if (!rc)
        rc = s_split_bins((const uint8_t *) ents.buf.data, ents.buf.size, count, blobs);
    if (rc == PDB_ETOOBIG)
        s_error(self, route, SYNC_ERR_TOO_LARGE, "an entity of the snapshot is over the page "
                "limit of %u bytes", SERVE_MAX_BATCH_BYTES - (64u << 10));
    else if (rc)
        s_error(self, route, SYNC_ERR_INTERNAL, "snapshot page failed: %s", pdb_strerror(rc));
    else {
        const vv_t *vector = snapshot_session_vector(session);
        const char *token = done ? NULL : snapshot_session_token(session);
        sync_msg_t reply = {
            .op = SYNC_SNAPSHOT_OK, .changes = blobs, .changes_n = count,
            .page_token = token, .page_token_len = token ? strlen(token) : 0,
            .total = snapshot_session_total(session), .done = done,
            .snapshot_seq = snapshot_session_seq(session),
            .vector = vector->entries, .vector_n = vector->n, .has_vector = true,
        };
        s_send(self, route, &reply);
    }
    if (rc || done)
        snapshot_session_close(self->sessions, session);
    free(blobs);
    mpk_out_release(&ents);
}

//  --------------------------------------------------------------------------
//  Dispatch

//  An authenticated caller may ask only what its peer entry allows. A
//  refusal is answered, logged and shown in the caller's inbound row.
static bool
s_authorized(serve_t *self, const s_route_t *route, const sync_msg_t *msg)
{
    if (!route->authenticated)
        return true;
    char why[PDB_ERRMSG_MAX] = "";
    authz_verdict_t verdict;
    if (msg->op == SYNC_PUSH)
        verdict = authz_push(self->authz, route->peer, why);
    else if (msg->op == SYNC_PULL || msg->op == SYNC_SNAPSHOT)
        verdict = authz_read(self->authz, route->peer, msg->collectives, msg->collectives_n,
                             why);
    else
        verdict = authz_known(self->authz, route->peer, why);
    verdict = s_verdict(route, verdict);
    if (verdict == AUTHZ_OK)
        return true;
    s_error(self, route, verdict == AUTHZ_UNAUTHORIZED ? SYNC_ERR_UNAUTHORIZED
                                                       : SYNC_ERR_FORBIDDEN, "%s", why);
    s_note_refused(self, &msg->from, msg->op, why);
    return false;
}

static void
s_dispatch(serve_t *self, s_route_t *route, zframe_t *payload)
{
    sync_msg_t msg;
    char why[PDB_ERRMSG_MAX];
    int rc = sync_msg_decode(zframe_data(payload), zframe_size(payload), &msg, why);
    if (rc == PDB_EPROTO)
        s_error(self, route, SYNC_ERR_PROTOCOL_VERSION, "%s", why);
    else if (rc == PDB_ETOOBIG)
        s_error(self, route, SYNC_ERR_TOO_LARGE, "%s", why);
    else if (rc)
        s_error(self, route, SYNC_ERR_BAD_REQUEST, "%s", rc == -ENOMEM ? "out of memory" : why);
    if (rc)
        return;
    if (!s_authorized(self, route, &msg)) {
        sync_msg_release(&msg);
        return;
    }
    switch (msg.op) {
    case SYNC_HELLO:    s_hello(self, route, &msg); break;
    case SYNC_PUSH:     s_push(self, route, &msg); break;
    case SYNC_PULL:     s_pull(self, route, &msg); break;
    case SYNC_SNAPSHOT: s_snapshot(self, route, &msg); break;
    default:
        s_error(self, route, SYNC_ERR_BAD_REQUEST, "'%s' is a reply, not a request",
                sync_msg_op_name(msg.op));
    }
    sync_msg_release(&msg);
}

//  [identity, payload] from a DEALER, [identity, "", payload] from a REQ.
//  With CURVE the ZAP handler named the caller's peer as the payload's
//  User-Id: only configured keys get that far.
static void
s_handle_zmq(serve_t *self, zmsg_t *msg)
{
    size_t frames = zmsg_size(msg);
    s_route_t route = { .sock = self->router, .identity = zmsg_pop(msg) };
    zframe_t *payload = NULL;
    if (frames == 3) {
        zframe_t *delimiter = zmsg_pop(msg);
        route.delimiter = zframe_size(delimiter) == 0;
        zframe_destroy(&delimiter);
    }
    if (frames == 2 || (frames == 3 && route.delimiter))
        payload = zmsg_pop(msg);
    const char *user = payload && self->zap ? zframe_meta(payload, "User-Id") : NULL;
    if (user && *user) {
        snprintf(route.peer, sizeof route.peer, "%s", user);
        route.authenticated = true;
    }
    if (payload && self->zap && !route.authenticated)
        s_error(self, &route, SYNC_ERR_UNAUTHORIZED, "no peer key was admitted");
    else if (payload)
        s_dispatch(self, &route, payload);
    else if (route.identity)
        s_error(self, &route, SYNC_ERR_BAD_REQUEST, "a request is one frame");
    zframe_destroy(&payload);
    zframe_destroy(&route.identity);
}

//  [identity, peer, payload] from a gateway: peer is the HTTP peer its token
//  named, or "" when the gateway requires no tokens (then nothing is
//  enforced, as for ZeroMQ without keys). Only this node's user can reach
//  the relay socket (owner-only), so the name is taken as proven.
static void
s_handle_relay(serve_t *self, zmsg_t *msg)
{
    s_route_t route = { .sock = self->relay, .identity = zmsg_pop(msg) };
    zframe_t *peer = zmsg_size(msg) == 2 ? zmsg_pop(msg) : NULL;
    zframe_t *payload = peer ? zmsg_pop(msg) : NULL;
    size_t len = peer ? zframe_size(peer) : 0;
    if (len > 0 && peerspec_name_valid((const char *) zframe_data(peer), len,
                                       PEERSPEC_NAME_MAX)) {
        memcpy(route.peer, zframe_data(peer), len);
        route.authenticated = route.by_token = true;
    }
    if (payload && (len == 0 || route.authenticated))
        s_dispatch(self, &route, payload);
    else if (route.identity)
        s_error(self, &route, SYNC_ERR_BAD_REQUEST, "a relayed request is [peer, message]");
    zframe_destroy(&peer);
    zframe_destroy(&payload);
    zframe_destroy(&route.identity);
}

void
serve_handle(serve_t *self, zsock_t *which)
{
    bool relay = which == self->relay;
    for (int i = 0; i < SERVE_BURST && (zsock_events(which) & ZMQ_POLLIN); i++) {
        zmsg_t *msg = zmsg_recv(which);
        if (!msg)
            break;
        if (relay)
            s_handle_relay(self, msg);
        else
            s_handle_zmq(self, msg);
        zmsg_destroy(&msg);
    }
}

void
serve_on_storage(serve_t *self)
{
    for (int i = 0; i < SERVE_BURST; i++) {
        uint64_t id = 0;
        int reply_rc = 0;
        void *result = NULL;
        size_t len = 0;
        char why[PDB_ERRMSG_MAX];
        int rc = sclient_recv(self->applier, &id, &reply_rc, &result, &len, why);
        if (rc == -EAGAIN)
            break;
        for (size_t k = 0; rc == 0 && k < self->pushes_n; k++) {
            if (self->pushes[k]->request_id != id)
                continue;                    // not this one (or one that expired)
            s_push_answer(self, self->pushes[k], reply_rc, result, len, why);
            s_push_free(&self->pushes[k]);
            self->pushes[k] = self->pushes[--self->pushes_n];
            break;
        }
        free(result);
    }
}

zsock_t *
serve_storage_socket(serve_t *self)
{
    return sclient_socket(self->applier);
}

void
serve_on_wal(serve_t *self)
{
    s_parked_run(self, true);
}

uint64_t
serve_tick(serve_t *self)
{
    uint64_t now = s_mono(self);
    s_parked_run(self, false);
    //  A storage that went away took the waiting applies with it: they get
    //  no reply, so their senders hear at once rather than after the wait.
    if (sclient_lost(self->applier))
        s_pushes_expire(self, now, true, "storage went away before applying the batch");
    char why[PDB_ERRMSG_MAX];
    snprintf(why, sizeof why, "storage did not apply the batch within %d ms",
             SERVE_APPLY_TIMEOUT_MS);
    s_pushes_expire(self, now, false, why);
    snapshot_session_expire(self->sessions, now);
    //  Through the applier, without waiting: the loop never blocks on storage.
    inbound_flush(self->inbound, self->applier, now, false, false);
    uint64_t next = SERVE_TICK_MS;
    for (size_t i = 0; i < self->parked_n; i++) {
        uint64_t d = self->parked[i]->deadline;
        uint64_t left = d > now ? d - now : 0;
        if (left < next)
            next = left;
    }
    for (size_t i = 0; i < self->pushes_n; i++) {
        uint64_t d = self->pushes[i]->deadline;
        uint64_t left = d > now ? d - now : 0;
        if (left < next)
            next = left;
    }
    return next;
}

zsock_t *
serve_socket(serve_t *self)
{
    return self->router;
}

zsock_t *
serve_relay_socket(serve_t *self)
{
    return self->relay;
}

static zsock_t *
s_router(void)
{
    zsock_t *sock = zsock_new(ZMQ_ROUTER);
    if (!sock)
        return NULL;
    //  Frames over the limit are refused by libzmq before we see them.
    zsock_set_maxmsgsize(sock, (int) PDB_MSG_MAX);
    zsock_set_linger(sock, 0);
    zsock_set_sndtimeo(sock, 0);
    zsock_set_sndhwm(sock, 10000);
    return sock;
}

//  With a key pair: a CURVE server that the ZAP handler guards (zap.h).
static int
s_curve(serve_t *self)
{
    if (!self->ctx->cert)
        return 0;
    self->zap = zap_new();
    if (!self->zap)
        return PDB_EUNAVAIL;
    zcert_apply(self->ctx->cert, self->router);
    zsock_set_curve_server(self->router, 1);
    zsock_set_zap_domain(self->router, ZAP_DOMAIN);
    return 0;
}

//  The gateways' relay socket, for this node's user only: whoever can send
//  on it names the peer a request comes from.
static int
s_bind_relay(serve_t *self, const char *endpoint)
{
    const char *path = endpoint + strlen("ipc://");
    unlink(path);                    // a stale socket of a syncer that crashed
    if (zsock_bind(self->relay, "%s", endpoint) < 0 || chmod(path, 0600) != 0) {
        log_e("syncer", "cannot bind the relay endpoint=%s (%s)", endpoint,
              zmq_strerror(zmq_errno()));
        return PDB_EUNAVAIL;
    }
    return 0;
}

serve_t *
serve_new(const synctx_t *ctx, sclient_t *storage, const char *bind, const char *relay,
          const peerspec_t *config, size_t config_n)
{
    serve_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ctx = ctx;
    self->storage = storage;
    self->sessions = snapshot_session_table_new(ctx->store);
    self->inbound = inbound_new();
    self->applier = sclient_new(ctx->storage_endpoint, SERVE_APPLY_TIMEOUT_MS);
    self->router = s_router();
    self->relay = s_router();
    self->authz = authz_new();
    //  The peers before the sockets: a connection that came before them
    //  would be refused a key that is configured.
    if (!self->sessions || !self->inbound || !self->applier || !self->router || !self->relay
        || !self->authz || s_curve(self) != 0 || serve_peers(self, config, config_n) != 0
        || s_bind_relay(self, relay) != 0) {
        serve_destroy(&self);
        return NULL;
    }
    if (*bind && zsock_bind(self->router, "%s", bind) < 0) {
        log_e("syncer", "cannot bind endpoint=%s (%s)", bind, zmq_strerror(zmq_errno()));
        serve_destroy(&self);
        return NULL;
    }
    log_i("syncer", "listening endpoint=%s auth=%s relay=%s relay_auth=%s", *bind ? bind : "-",
          self->zap ? "CURVE" : "none", relay, ctx->tokens ? "peer-tokens" : "none");
    return self;
}

int
serve_peers(serve_t *self, const peerspec_t *config, size_t config_n)
{
    peers_cfg_t peers;
    int rc = peers_cfg_collect(self->ctx->store, config, config_n, &peers);
    peerspec_t *specs = rc ? NULL : calloc(peers.n ? peers.n : 1, sizeof *specs);
    if (!rc && !specs)
        rc = -ENOMEM;
    for (size_t i = 0; !rc && i < peers.n; i++)
        specs[i] = peers.items[i].spec;
    if (!rc)
        rc = authz_set_peers(self->authz, specs, peers.n);
    if (!rc && self->zap)
        rc = zap_set_peers(self->zap, specs, peers.n);
    free(specs);
    peers_cfg_release(&peers);
    return rc;
}

void
serve_refusals(serve_t *self, uint64_t *count, uint64_t *last_ms, char *last_key,
               size_t key_len, char *last_address, size_t address_len)
{
    zap_refusals_t r = { 0 };
    if (self->zap)
        zap_refusals(self->zap, &r);
    *count = r.count;
    *last_ms = r.last_ms;
    snprintf(last_key, key_len, "%s", r.last_key);
    snprintf(last_address, address_len, "%s", r.last_address);
}

void
serve_destroy(serve_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    serve_t *self = *self_p;
    for (size_t i = 0; i < self->parked_n; i++) {
        s_parked_t *p = self->parked[i];
        if (self->router)
            s_answer_pull(self, &p->route, &p->scan_from, s_parked_req(p), false);
        s_parked_free(&self->parked[i]);
    }
    if (self->router)
        s_pushes_expire(self, 0, true, "the node is stopping");
    for (size_t i = 0; i < self->pushes_n; i++)
        s_push_free(&self->pushes[i]);
    sclient_destroy(&self->applier);
    if (self->inbound && self->storage)
        inbound_flush(self->inbound, self->storage, s_mono(self), true, true);
    snapshot_session_table_destroy(&self->sessions);
    inbound_destroy(&self->inbound);
    zsock_destroy(&self->router);
    zsock_destroy(&self->relay);
    zap_destroy(&self->zap);
    authz_destroy(&self->authz);
    free(self);
    *self_p = NULL;
}
