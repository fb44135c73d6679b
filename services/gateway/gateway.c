#include "gateway.h"
#include "api.h"
#include "http.h"
#include "route.h"
#include "secret.h"
#include "nodekey.h"
#include "syncrelay.h"
#include "tokens.h"
#include "sproto.h"
#include "vec.h"
#include "clock.h"
#include "log.h"

#include <czmq.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct gateway {
    cfg_t cfg;
    int listen_fd;
    unsigned port;                   // the bound port (cfg's, or the kernel's for 0)
    char storage_endpoint[CFG_ENDPOINT_MAX];
    store_t *store;
    spool_t *pool;
    smux_t *mux;
    amux_t *amux;                    // the network thread's (http_loop_t)
    watch_t *watch;
    metrics_t *metrics;
    peerspec_t *config_peers;        // sync/peers, parsed once (cfg_load checked it)
    size_t config_peers_n;
    tokens_t *tokens;                // gateway/api_tokens; NULL: no tokens asked
    char *tls_cert, *tls_key;        // PEM texts for HTTPS; NULL for plain HTTP
    zcert_t *storage_cert;           // CURVE to storage/tcp: the node's key pair, or NULL
    annquery_t *ann;                 // storage's search thread, when storage is on this host
    api_t api;
};

//  Waits for storage to create the environment: gateways may start first.
static int
s_open_store(const char *dir, store_t **store)
{
    uint64_t deadline = clock_mono_ms() + GATEWAY_STORE_WAIT_MS;
    bool logged = false;
    while (true) {
        int rc = store_open(dir, true, 0, store);
        if (rc != PDB_ENOTFOUND && rc != -ENOENT)
            return rc;
        if (clock_mono_ms() >= deadline)
            return rc;
        if (!logged)
            log_i("gateway", "waiting for storage to create the store data=%s", dir);
        logged = true;
        usleep(GATEWAY_STORE_RETRY_MS * 1000);
    }
}

static int
s_load_tokens(gateway_t *self)
{
    if (!self->cfg.api_tokens[0])
        return 0;
    char why[PDB_ERRMSG_MAX];
    int rc = tokens_load(self->cfg.api_tokens, &self->tokens, why);
    if (rc) {
        log_e("gateway", "cannot load gateway/api_tokens rc=%d (%s): %s", rc, pdb_strerror(rc),
              why);
        return rc;
    }
    bool api = tokens_for_api(self->tokens);
    if (!api && !self->cfg.insecure && !cfg_host_is_loopback(self->cfg.http_host)) {
        log_e("gateway", "gateway/host %s is beyond loopback and %s holds no API token "
              "(read, write or admin): anyone who reaches the port could write and delete",
              self->cfg.http_host, self->cfg.api_tokens);
        return PDB_EINVAL;
    }
    log_i("gateway", "tokens loaded tokens=%zu api_requires_token=%s sync_requires_peer_token=yes "
          "file=%s", tokens_count(self->tokens), api ? "yes" : "no", self->cfg.api_tokens);
    return 0;
}

static int
s_load_tls(gateway_t *self)
{
    if (!self->cfg.tls_cert[0])
        return 0;
    char why[PDB_ERRMSG_MAX];
    //  A certificate is no secret, but is read with the same bounds.
    int rc = secret_file_read_mode(self->cfg.tls_cert, false, &self->tls_cert, why);
    if (!rc)
        rc = secret_file_read(self->cfg.tls_key, &self->tls_key, why);
    if (rc)
        log_e("gateway", "cannot load the HTTPS certificate or key rc=%d (%s): %s", rc,
              pdb_strerror(rc), why);
    return rc;
}

//  *refused: the failure is the configuration's (tokens, TLS, peers), which
//  a restart cannot mend.
static int
s_build(gateway_t *self, bool *refused)
{
    //  First: a bad token file is a configuration error, found before waiting
    //  for anything.
    int rc = s_load_tokens(self);
    if (!rc)
        rc = s_load_tls(self);
    *refused = rc != 0;
    if (rc)
        return rc;
    char why[PDB_ERRMSG_MAX];
    rc = http_listen(self->cfg.http_host, self->cfg.http_port, &self->listen_fd,
                         &self->port, why);
    if (rc) {
        log_e("gateway", "%s", why);
        return rc;
    }
    rc = s_open_store(self->cfg.data_dir, &self->store);
    if (rc) {
        log_e("gateway", "cannot open the store data=%s rc=%d (%s)%s", self->cfg.data_dir, rc,
              pdb_strerror(rc), rc == PDB_ENOTFOUND || rc == -ENOENT
              ? ": is pulsedb-storage running on this data folder?" : "");
        return rc;
    }
    cfg_storage_endpoint(&self->cfg, self->storage_endpoint, sizeof self->storage_endpoint);
    char events[CFG_PATH_MAX + 32];
    snprintf(events, sizeof events, "ipc://%s/%s", self->cfg.data_dir, SPROTO_EVENTS);
    //  Storage on another host: CURVE with the node's key pair (a copy in
    //  this gateway's data folder), when there is one.
    if (strncmp(self->storage_endpoint, "tcp://", 6) == 0) {
        rc = nodekey_load(self->cfg.data_dir, &self->storage_cert, why);
        if (rc && rc != PDB_ENOTFOUND) {
            log_e("gateway", "cannot load the node's key pair: %s", why);
            return rc;
        }
    }
    self->pool = spool_new(self->storage_endpoint, (int) self->cfg.storage_timeout_ms,
                           self->storage_cert);
    self->mux = smux_new(self->storage_endpoint, (int) self->cfg.storage_timeout_ms,
                         self->storage_cert);
    self->amux = amux_new(self->storage_endpoint, (int) self->cfg.storage_timeout_ms,
                          self->storage_cert);
    self->watch = watch_new(self->store, events);
    self->metrics = metrics_new();
    if (!self->pool || !self->mux || !self->amux || !self->watch || !self->metrics)
        return -ENOMEM;
    rc = peerspec_list_parse(self->cfg.sync_peers, &self->config_peers, &self->config_peers_n, why);
    if (rc) {
        log_e("gateway", "cannot read sync/peers rc=%d (%s): %s", rc, pdb_strerror(rc), why);
        *refused = true;
        return rc;
    }
    //  The search thread's socket is in the data folder: a gateway whose
    //  storage is on another host scans exactly.
    if (strncmp(self->storage_endpoint, "ipc://", 6) == 0
        && !(self->ann = annquery_new(self->cfg.data_dir, self->cfg.ann_threshold)))
        return -ENOMEM;
    self->api = (api_t) {
        .store = self->store, .pool = self->pool, .mux = self->mux, .amux = self->amux,
        .watch = self->watch,
        .metrics = self->metrics, .storage_endpoint = self->storage_endpoint,
        .config_peers = self->config_peers, .config_peers_n = self->config_peers_n,
        .tokens = self->tokens, .data_dir = self->cfg.data_dir, .ann = self->ann,
    };
    return 0;
}

gateway_t *
gateway_new(const cfg_t *cfg, bool *refused)
{
    *refused = false;
    gateway_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    self->listen_fd = -1;
    if (s_build(self, refused) != 0)
        gateway_destroy(&self);
    return self;
}

void
gateway_destroy(gateway_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gateway_t *self = *self_p;
    if (self->listen_fd >= 0)
        close(self->listen_fd);
    watch_destroy(&self->watch);
    smux_destroy(&self->mux);
    amux_destroy(&self->amux);
    spool_destroy(&self->pool);
    annquery_destroy(&self->ann);
    metrics_destroy(&self->metrics);
    free(self->config_peers);
    tokens_destroy(&self->tokens);
    if (self->tls_key)
        memset(self->tls_key, 0, strlen(self->tls_key));   // no copy of a secret left behind
    free(self->tls_key);
    free(self->tls_cert);
    zcert_destroy(&self->storage_cert);
    store_destroy(&self->store);
    free(self);
    *self_p = NULL;
}

//  Every reply: one metric sample and one debug line.
static void
s_observe(void *arg, const http_req_t *req, unsigned status, uint64_t duration_us)
{
    api_t *api = arg;
    metrics_observe(api->metrics, status, duration_us);
    log_d("gateway", "request method=%s path=%s status=%u us=%llu", req->method_name,
          req->path, status, (unsigned long long) duration_us);
}

//  The network thread's own storage writes (http_loop_t): creates with a
//  small body are parsed, sent and answered there (route_on_loop).
_Static_assert(SLINK_POLL_ITEMS <= HTTP_LOOP_ITEMS_MAX, "the loop polls the link's items");

static int
s_loop_items(void *arg, zmq_pollitem_t *items, long *timeout_ms)
{
    return amux_poll_items(((api_t *) arg)->amux, items, timeout_ms);
}

static void
s_loop_polled(void *arg, const zmq_pollitem_t *items, int n)
{
    amux_poll_done(((api_t *) arg)->amux, items, n);
}

static bool
s_loop_busy(void *arg)
{
    return amux_busy(((api_t *) arg)->amux);
}

//  Blocks until SIGINT or SIGTERM arrives. The signals are blocked in every
//  thread (masks are inherited), so only this wait ever sees them.
static int
s_wait_for_stop(const sigset_t *stop)
{
    while (true) {
        int sig = sigwaitinfo(stop, NULL);
        if (sig == SIGINT || sig == SIGTERM)
            return sig;
        if (sig < 0 && errno != EINTR)
            return -errno;
    }
}

int
gateway_run(gateway_t *self)
{
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    //  Before any thread starts, so all of them inherit the mask.
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = watch_start(self->watch);
    if (rc) {
        log_e("gateway", "cannot start the watch hub rc=%d (%s)", rc, pdb_strerror(rc));
        return rc;
    }
    //  After the signal mask: its thread inherits it.
    self->api.relay = syncrelay_new(self->cfg.data_dir);
    http_tls_t tls = { self->tls_cert, self->tls_key };
    http_loop_t loop = { route_on_loop, s_loop_items, s_loop_polled, s_loop_busy, &self->api };
    http_t *http = self->api.relay ? http_new(self->listen_fd, self->cfg.http_max_connections,
                                              self->tls_cert ? &tls : NULL, route_handle,
                                              s_observe, &self->api, &loop) : NULL;
    self->listen_fd = -1;   // now owned by the HTTP server (closed on failure too)
    if (!http) {
        watch_stop(self->watch);
        syncrelay_destroy(&self->api.relay);
        return -EIO;
    }
    log_i("gateway", "started listen=%s://%s:%u pid=%ld data=%s storage=%s max_connections=%u "
          "vector_isa=%s", self->tls_cert ? "https" : "http", self->cfg.http_host, self->port,
          (long) getpid(), self->cfg.data_dir, self->storage_endpoint,
          self->cfg.http_max_connections, vec_isa());
    int sig = s_wait_for_stop(&stop);
    log_i("gateway", "stopping signal=%d", sig);
    //  Streams first: they end only once the hub says stop, and the server
    //  cannot stop while a parked stream's connection is suspended.
    watch_stop(self->watch);
    syncrelay_stop(self->api.relay);
    http_drain(http, GATEWAY_DRAIN_MS);
    http_destroy(&http);
    syncrelay_destroy(&self->api.relay);
    log_i("gateway", "stopped pid=%ld", (long) getpid());
    return sig < 0 ? sig : 0;
}
