#include "server.h"
#include "bounds.h"
#include "clock.h"
#include "handlers.h"
#include "log.h"
#include "service.h"
#include "sproto.h"
#include "store_db.h"
#include "wal.h"

#include <czmq.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SERVER_POLL_MS 250          // how often the loop looks at the stop flag
#define SERVER_IPC_PATH_MAX 100     // sun_path is 108 bytes, less "ipc://"
//  After a store fault the group's answers (errors for its writes) get this
//  long to leave before the process exits.
#define SERVER_FAULT_LINGER_MS 2000

//  One request. A message of several requests (sproto.h) is several in a
//  row: the first holds the sender and the number of replies to send back.
typedef struct {
    zsock_t *sock;              // borrowed: the socket the request came on
    zframe_t *identity;         // the first of a message only
    size_t frames;              // the first of a message: its requests; else 0
    zframe_t *body;
    handlers_request_t req;
    msgpack_unpacked unpacked;
    bool parsed;
    int rc;
    char why[PDB_ERRMSG_MAX];
    mpk_out_t result;
} s_pending_t;

struct server {
    node_t *node;
    zsock_t *router;                // ipc://DATA/storage.sock: this host's processes
    zsock_t *remote;                // storage/tcp: CURVE, for processes on other hosts
    zactor_t *auth;                 // admits remote keys in DATA/storage-clients/
    zsock_t *events;
    server_opts_t opts;
    s_pending_t *pending;
    storage_stats_t stats;
    uint64_t published_head;
};

int
server_ipc_endpoint(const char *dir, const char *name, char *out, size_t len)
{
    char *real = realpath(dir, NULL);
    if (!real)
        return -errno;
    int n = snprintf(out, len, "ipc://%s/%s", real, name);
    free(real);
    if (n < 0 || (size_t) n >= len || (size_t) n - 6 > SERVER_IPC_PATH_MAX)
        return -ENAMETOOLONG;
    unlink(out + 6);     // a stale socket of a crashed storage; we hold the lock
    return 0;
}

static void
s_socket_opts(zsock_t *sock)
{
    //  Frames over the limit are refused by libzmq before we see them.
    zsock_set_maxmsgsize(sock, (int) PDB_MSG_MAX);
    zsock_set_linger(sock, 0);
    zsock_set_rcvtimeo(sock, 0);
    zsock_set_sndtimeo(sock, 0);
}

//  storage/tcp. With the node's key pair it is a CURVE server whose ZAP
//  handler (CZMQ's zauth) admits only the public certificates in
//  DATA/SERVER_CLIENTS_DIR (pulsedb keygen puts the node's own there, so the
//  node's processes elsewhere connect with a copy of its key pair). Without
//  one it takes anyone: start-up allowed that only on loopback or with
//  --insecure (cfg_exposure_check).
static int
s_bind_remote(server_t *self, const char *data_dir)
{
    const char *endpoint = self->opts.tcp_endpoint;
    self->remote = zsock_new(ZMQ_ROUTER);
    if (!self->remote)
        return -ENOMEM;
    s_socket_opts(self->remote);
    if (self->opts.cert) {
        char clients[4096];
        snprintf(clients, sizeof clients, "%s/%s", data_dir, SERVER_CLIENTS_DIR);
        self->auth = zactor_new(zauth, NULL);
        if (!self->auth || zstr_sendx(self->auth, "CURVE", clients, NULL) != 0
            || zsock_wait(self->auth) != 0)
            return PDB_EUNAVAIL;
        zcert_apply(self->opts.cert, self->remote);
        zsock_set_curve_server(self->remote, 1);
        zsock_set_zap_domain(self->remote, "pulsedb-storage");
    }
    if (zsock_bind(self->remote, "%s", endpoint) < 0) {
        log_e("storage", "cannot bind endpoint=%s (%s)", endpoint, zmq_strerror(zmq_errno()));
        return PDB_EUNAVAIL;
    }
    log_i("storage", "listening endpoint=%s auth=%s clients=%s/%s", endpoint,
          self->opts.cert ? "CURVE" : "none", data_dir, SERVER_CLIENTS_DIR);
    return 0;
}

static int
s_bind(server_t *self, const char *data_dir)
{
    char endpoint[4096];
    int rc = server_ipc_endpoint(data_dir, SPROTO_SOCKET, endpoint, sizeof endpoint);
    if (rc) {
        log_e("storage", "socket path too long data=%s (ipc paths are limited to %d bytes)",
              data_dir, SERVER_IPC_PATH_MAX);
        return rc;
    }
    self->router = zsock_new(ZMQ_ROUTER);
    self->events = zsock_new(ZMQ_PUB);
    if (!self->router || !self->events)
        return -ENOMEM;
    s_socket_opts(self->router);
    //  Owner-only: whoever can write to storage's socket can write anything.
    if (zsock_bind(self->router, "%s", endpoint) < 0 || chmod(endpoint + 6, 0600) != 0) {
        log_e("storage", "cannot bind endpoint=%s (%s)", endpoint, zmq_strerror(zmq_errno()));
        return PDB_EUNAVAIL;
    }
    if (self->opts.tcp_endpoint && *self->opts.tcp_endpoint
        && s_bind_remote(self, data_dir) != 0)
        return PDB_EUNAVAIL;
    rc = server_ipc_endpoint(data_dir, SPROTO_EVENTS, endpoint, sizeof endpoint);
    if (rc || zsock_bind(self->events, "%s", endpoint) < 0 || chmod(endpoint + 6, 0600) != 0) {
        log_e("storage", "cannot bind events endpoint=%s", endpoint);
        return PDB_EUNAVAIL;
    }
    log_i("storage", "listening endpoint=ipc://%s/%s tcp=%s", data_dir, SPROTO_SOCKET,
          self->opts.tcp_endpoint && *self->opts.tcp_endpoint ? self->opts.tcp_endpoint : "-");
    return 0;
}

server_t *
server_new(node_t *node, const server_opts_t *opts)
{
    server_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->node = node;
    self->opts = *opts;
    if (self->opts.max_requests == 0)
        self->opts.max_requests = 1;
    //  The last message taken may bring SPROTO_FRAMES_MAX requests.
    self->pending = calloc(self->opts.max_requests + SPROTO_FRAMES_MAX - 1,
                           sizeof *self->pending);
    if (!self->pending || s_bind(self, node->data_dir) != 0) {
        server_destroy(&self);
        return NULL;
    }
    return self;
}

void
server_destroy(server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    server_t *self = *self_p;
    zsock_destroy(&self->router);
    zsock_destroy(&self->remote);
    zactor_destroy(&self->auth);
    zsock_destroy(&self->events);
    free(self->pending);
    free(self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  One group

static s_pending_t *
s_pending_init(server_t *self, size_t i, zsock_t *from)
{
    s_pending_t *p = &self->pending[i];
    memset(p, 0, sizeof *p);
    p->sock = from;
    mpk_out_init(&p->result);
    return p;
}

//  Takes every waiting message, up to the bounds (the last one whole).
//  Returns how many requests.
static size_t
s_drain(server_t *self)
{
    size_t n = 0, bytes = 0;
    zsock_t *from = self->router;
    while (n < self->opts.max_requests && bytes < self->opts.max_bytes) {
        zmsg_t *msg = zmsg_recv(from);
        if (!msg && from == self->router && self->remote) {
            from = self->remote;         // this host's requests first, then the others
            continue;
        }
        if (!msg)
            break;
        s_pending_t *first = s_pending_init(self, n, from);
        first->identity = zmsg_pop(msg);
        size_t frames = zmsg_size(msg);
        if (!first->identity || frames == 0 || frames > SPROTO_FRAMES_MAX) {
            first->frames = 1;          // one reply saying why
            first->rc = PDB_EPROTO;
            snprintf(first->why, sizeof first->why,
                     "a message carries 1 to %d requests, one per frame", SPROTO_FRAMES_MAX);
            n++;
            zmsg_destroy(&msg);
            continue;
        }
        first->frames = frames;
        for (size_t i = 0; i < frames; i++) {
            s_pending_t *p = i ? s_pending_init(self, n, from) : first;
            p->body = zmsg_pop(msg);
            bytes += zframe_size(p->body);
            n++;
        }
        zmsg_destroy(&msg);
    }
    return n;
}

//  Returns true when the request wrote (ran in a nested transaction that
//  committed into the group's).
static bool
s_run_one(server_t *self, MDB_txn *parent, s_pending_t *p, const handlers_ctx_t *ctx)
{
    if (p->rc)
        return false;
    p->rc = handlers_parse(zframe_data(p->body), zframe_size(p->body), &p->unpacked, &p->req,
                           p->why);
    if (p->rc)
        return false;
    p->parsed = true;
    if (handlers_is_read(&p->req)) {
        p->rc = handlers_run(ctx, NULL, &p->req, &p->result, p->why);
        return false;
    }
    //  LMDB leaves child unset when the begin fails: there is nothing to abort.
    MDB_txn *child = NULL;
    p->rc = pdb_from_mdb(mdb_txn_begin(self->node->store->env, parent, 0, &child));
    if (p->rc) {
        snprintf(p->why, sizeof p->why, "cannot begin a transaction: %s", pdb_strerror(p->rc));
        return false;
    }
    p->rc = handlers_run(ctx, child, &p->req, &p->result, p->why);
    if (p->rc)
        mdb_txn_abort(child);          // this request alone is rolled back
    else
        p->rc = pdb_from_mdb(mdb_txn_commit(child));    // frees child, even on failure
    if (p->rc)
        mpk_out_release(&p->result);
    return p->rc == 0;
}

//  Adds p's reply to msg as a frame of its own (an empty one if it cannot be
//  packed, so the others keep their places) and releases p.
static void
s_reply_frame(server_t *self, s_pending_t *p, zmsg_t *msg)
{
    if (p->rc)
        self->stats.failed++;
    self->stats.requests++;
    mpk_out_t out;
    mpk_out_init(&out);
    if (p->rc && !p->why[0])
        snprintf(p->why, sizeof p->why, "%s", pdb_strerror(p->rc));
    sproto_pack_reply(&out.pk, p->req.request_id, p->rc, p->why,
                      p->rc ? NULL : p->result.buf.data, p->rc ? 0 : p->result.buf.size);
    if (msg)
        zmsg_addmem(msg, mpk_out_status(&out) ? NULL : out.buf.data,
                    mpk_out_status(&out) ? 0 : out.buf.size);
    mpk_out_release(&out);
    mpk_out_release(&p->result);
    zframe_destroy(&p->identity);
    zframe_destroy(&p->body);
    if (p->parsed)
        msgpack_unpacked_destroy(&p->unpacked);
}

//  Answers the n requests: one message per message taken.
static void
s_reply_all(server_t *self, size_t n)
{
    for (size_t i = 0; i < n;) {
        s_pending_t *first = &self->pending[i];
        size_t frames = first->frames;
        zsock_t *to = first->sock;
        zmsg_t *msg = first->identity ? zmsg_new() : NULL;    // no sender: no answer
        if (msg)
            zmsg_append(msg, &first->identity);
        for (size_t k = 0; k < frames; k++)
            s_reply_frame(self, &self->pending[i + k], msg);
        //  A client that went away is no reason to stall the others.
        if (msg && zmsg_send(&msg, to) != 0)
            zmsg_destroy(&msg);
        i += frames;
    }
}

//  True when a failed begin or commit of a group leaves the environment in
//  doubt: a write or fsync error (the kernel may have dropped the pages it
//  could not write, so a later fsync that succeeds proves nothing), LMDB's
//  MDB_PANIC after a failed meta page write, or anything unexpected. A full
//  map, a transaction over LMDB's dirty-page limit, or one a request left in
//  error leave the store as it was: only that group's writes fail.
static bool
s_store_fault(int mdb_rc)
{
    return mdb_rc != MDB_MAP_FULL && mdb_rc != MDB_TXN_FULL && mdb_rc != MDB_BAD_TXN;
}

//  A group's outcome: whether it committed (and the WAL head after it), and
//  whether the store failed.
typedef struct {
    uint64_t head;
    bool committed;
    bool fault;
    size_t writes;              // requests that wrote
    uint64_t run_us, commit_us;
} s_group_t;

//  Every request of the group gets rc: none of them could run.
static int
s_fail_all(server_t *self, size_t n, int rc)
{
    for (size_t i = 0; i < n; i++)
        if (!self->pending[i].rc)
            self->pending[i].rc = rc;
    return rc;
}

//  Runs a group in one transaction. Returns 0, or the code each write of the
//  group fails with (s_fail_writes); out says what happened.
static int
s_commit_group(server_t *self, size_t n, s_group_t *out)
{
    handlers_ctx_t ctx = {
        .ingest = { self->node->store, self->node->instance_id, &self->node->hlc,
                    self->opts.policy, self->opts.overrides, self->opts.overrides_n, NULL },
        .stats = &self->stats,
        .wall_ms = clock_wall_ms(),
    };
    *out = (s_group_t) { .head = self->published_head };
    MDB_txn *txn;
    int mdb_rc = mdb_txn_begin(self->node->store->env, NULL, 0, &txn);
    if (mdb_rc) {
        out->fault = true;
        return s_fail_all(self, n, pdb_from_mdb(mdb_rc));
    }
    uint64_t started_us = clock_mono_us();
    size_t writes = 0;
    for (size_t i = 0; i < n; i++)
        if (s_run_one(self, txn, &self->pending[i], &ctx))
            writes++;
    out->writes = writes;
    if (writes == 0) {
        mdb_txn_abort(txn);       // nothing to make durable: no fsync
        return 0;
    }
    int rc = ingest_save_clock(&ctx.ingest, txn);
    if (!rc)
        rc = wal_head(self->node->store, txn, &out->head);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    uint64_t commit_us = clock_mono_us();
    out->run_us = commit_us - started_us;
    mdb_rc = mdb_txn_commit(txn);          // the group's one fsync; frees txn either way
    out->commit_us = clock_mono_us() - commit_us;
    out->committed = mdb_rc == 0;
    out->fault = mdb_rc != 0 && s_store_fault(mdb_rc);
    return pdb_from_mdb(mdb_rc);
}

static void
s_fail_writes(server_t *self, size_t n, int rc)
{
    for (size_t i = 0; i < n; i++) {
        s_pending_t *p = &self->pending[i];
        if (p->rc == 0 && p->parsed && !handlers_is_read(&p->req)) {
            p->rc = rc;
            snprintf(p->why, sizeof p->why, "commit failed: %s", pdb_strerror(rc));
            mpk_out_release(&p->result);
        }
    }
}

static void
s_publish(server_t *self, uint64_t head)
{
    if (head <= self->published_head)
        return;
    self->published_head = head;
    if (zstr_sendf(self->events, "wal %llu", (unsigned long long) head) != 0)
        log_w("storage", "publish failed head=%llu", (unsigned long long) head);
}

//  One group: drained, run, committed, answered. Returns false when the store
//  failed and the process must exit.
static bool
s_serve_group(server_t *self, size_t n)
{
    s_group_t group;
    int rc = s_commit_group(self, n, &group);
    if (rc) {
        log_e("storage", "group commit failed requests=%zu rc=%d (%s)%s", n, rc,
              pdb_strerror(rc), group.fault ? " store_fault=yes: exiting for a restart" : "");
        s_fail_writes(self, n, rc);
    }
    else if (group.committed) {
        storage_stats_commit(&self->stats, group.writes, group.run_us, group.commit_us);
        if (n > self->stats.group_max)
            self->stats.group_max = n;
    }
    s_reply_all(self, n);
    if (group.committed)
        s_publish(self, group.head);
    return !group.fault;
}

int
server_run(server_t *self, volatile sig_atomic_t *stop)
{
    zmq_pollitem_t items[2] = {
        { zsock_resolve(self->router), 0, ZMQ_POLLIN, 0 },
        { self->remote ? zsock_resolve(self->remote) : NULL, 0, ZMQ_POLLIN, 0 },
    };
    while (!*stop) {
        int ready = zmq_poll(items, self->remote ? 2 : 1, SERVER_POLL_MS);
        if (ready < 0 && zmq_errno() != EINTR) {
            log_e("storage", "poll failed (%s)", zmq_strerror(zmq_errno()));
            return SERVICE_EXIT_FAIL;
        }
        if (ready <= 0)
            continue;
        size_t n = s_drain(self);
        if (n > 0 && !s_serve_group(self, n)) {
            zsock_set_linger(self->router, SERVER_FAULT_LINGER_MS);
            if (self->remote)
                zsock_set_linger(self->remote, SERVER_FAULT_LINGER_MS);
            return SERVICE_EXIT_STORE;
        }
    }
    return SERVICE_EXIT_OK;
}
