#include "syncer.h"
#include "nodekey.h"
#include "compact.h"
#include "log.h"
#include "peerset.h"
#include "serve.h"
#include "clock.h"
#include "mpk.h"
#include "sclient.h"
#include "sync_msg.h"
#include "syncstat.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SYNCER_STORE_POLL_MS 200      // while storage has not created the store yet
#define SYNCER_STORE_NAG_MS 30000     // how often that wait is logged
#define SYNCER_RELOAD_MS 1000         // peers database re-read
#define SYNCER_STORAGE_TIMEOUT_MS 10000

static int
s_wait_store(const cfg_t *cfg, volatile sig_atomic_t *stop, store_t **store)
{
    uint64_t nag = 0;
    while (!*stop) {
        int rc = store_open(cfg->data_dir, true, 0, store);
        if (rc == 0)
            return 0;
        uint64_t now = clock_mono_ms();
        if (now >= nag) {
            log_i("syncer", "waiting for storage to create the store data=%s rc=%d (%s)",
                  cfg->data_dir, rc, pdb_strerror(rc));
            nag = now + SYNCER_STORE_NAG_MS;
        }
        zclock_sleep(SYNCER_STORE_POLL_MS);
    }
    return -ECANCELED;
}

//  This node's identity, asked of storage itself: storage may change it at
//  start (a restored copy takes a new one), so the meta record is only
//  right once storage serves. Waits for storage until stopped.
static int
s_instance(const char *endpoint, volatile sig_atomic_t *stop, pdb_id_t *out)
{
    uint64_t nag = 0;
    sclient_t *storage = sclient_new(endpoint, SYNCER_STORAGE_TIMEOUT_MS);
    if (!storage)
        return PDB_EUNAVAIL;
    int rc = -ECANCELED;
    while (!*stop) {
        char why[PDB_ERRMSG_MAX] = "";
        void *result = NULL;
        size_t len = 0;
        rc = sclient_call(storage, "stats", NULL, 0, &result, &len, why);
        msgpack_unpacked u;
        if (!rc && mpk_parse(result, len, &u) == 0) {
            const msgpack_object *id = u.data.type == MSGPACK_OBJECT_MAP
                                       ? mpk_map_get(&u.data, "instance_id") : NULL;
            rc = id ? mpk_get_id(id, out) : PDB_EPROTO;
            msgpack_unpacked_destroy(&u);
        }
        else if (!rc)
            rc = PDB_EPROTO;
        free(result);
        if (rc != PDB_EUNAVAIL)
            break;
        uint64_t now = clock_mono_ms();
        if (now >= nag) {
            log_i("syncer", "waiting for storage at %s: %s", endpoint, why);
            nag = now + SYNCER_STORE_NAG_MS;
        }
    }
    sclient_destroy(&storage);
    return rc;
}

//  The node's CURVE key pair and the token file, when it has them.
static int
s_credentials(const cfg_t *cfg, syncer_base_t *base)
{
    char why[PDB_ERRMSG_MAX];
    int rc = nodekey_load(cfg->data_dir, &base->cert, why);
    if (rc && rc != PDB_ENOTFOUND) {
        log_e("syncer", "cannot load the node's key pair: %s", why);
        return rc;
    }
    if (base->cert)
        log_i("syncer", "CURVE on: peers must present a configured key public_key=%s",
              zcert_public_txt(base->cert));
    rc = cfg->api_tokens[0] ? tokens_load(cfg->api_tokens, &base->tokens, why) : 0;
    if (rc)
        log_e("syncer", "cannot load gateway/api_tokens: %s", why);
    return rc;
}

int
syncer_base_open(const cfg_t *cfg, volatile sig_atomic_t *stop, syncer_base_t *base)
{
    memset(base, 0, sizeof *base);
    char why[PDB_ERRMSG_MAX];
    if (peerspec_list_parse(cfg->sync_peers, &base->peers, &base->peers_n, why) != 0) {
        log_e("syncer", "sync/peers: %s", why);
        return SYNCER_EXIT_FATAL;
    }
    if (s_credentials(cfg, base) != 0) {
        syncer_base_close(base);
        return SYNCER_EXIT_FATAL;
    }
    if (s_wait_store(cfg, stop, &base->store) != 0) {
        syncer_base_close(base);
        return SYNCER_EXIT_FAIL;
    }
    synctx_t *ctx = &base->ctx;
    cfg_storage_endpoint(cfg, ctx->storage_endpoint, sizeof ctx->storage_endpoint);
    int rc = s_instance(ctx->storage_endpoint, stop, &ctx->self);
    if (rc) {
        log_e("syncer", "cannot learn this node's identity from storage at %s rc=%d (%s)",
              ctx->storage_endpoint, rc, pdb_strerror(rc));
        syncer_base_close(base);
        return SYNCER_EXIT_FAIL;
    }
    ctx->store = base->store;
    ctx->env = senv_system();
    //  cfg_load keeps data_dir within CFG_DATA_DIR_IPC_MAX bytes.
    snprintf(ctx->events_endpoint, sizeof ctx->events_endpoint,
             "ipc://%.200s/storage-events.sock", cfg->data_dir);
    ctx->batch_max_changes = cfg->sync_batch_max_changes;
    ctx->batch_max_bytes = (size_t) cfg->sync_batch_max_kb << 10;
    ctx->pull_wait_ms = cfg->sync_pull_wait_ms;
    ctx->retry_initial_ms = cfg->sync_retry_initial_ms;
    ctx->retry_max_ms = cfg->sync_retry_max_ms;
    ctx->retry_multiplier_pct = cfg->sync_retry_multiplier_pct;
    ctx->cert = base->cert;
    ctx->tokens = base->tokens;
    ctx->ca_file = cfg->sync_ca_file;
    return 0;
}

void
syncer_base_close(syncer_base_t *base)
{
    store_destroy(&base->store);
    zcert_destroy(&base->cert);
    tokens_destroy(&base->tokens);
    free(base->peers);
    base->peers = NULL;
    base->peers_n = 0;
}

//  --------------------------------------------------------------------------
//  The daemon

typedef struct {
    syncer_base_t base;
    const char *data_dir;
    sclient_t *storage;
    zsock_t *events;
    serve_t *server;
    peerset_t *peers;
    zactor_t *compactor;
    zpoller_t *poller;
    bool status_warned;             // the last status write failed (logged once)
    bool status_written;            // the status file is this process's
} s_daemon_t;

static void
s_daemon_close(s_daemon_t *d)
{
    zactor_destroy(&d->compactor);
    peerset_destroy(&d->peers);
    //  Nothing in the status file is current once the syncer is gone.
    int rc = d->status_written ? syncstat_remove(d->data_dir) : 0;
    if (rc)
        log_w("syncer", "cannot remove the status file rc=%d (%s)", rc, pdb_strerror(rc));
    zpoller_destroy(&d->poller);
    serve_destroy(&d->server);
    zsock_destroy(&d->events);
    sclient_destroy(&d->storage);
    syncer_base_close(&d->base);
}

static int
s_daemon_open(s_daemon_t *d, const cfg_t *cfg)
{
    const synctx_t *ctx = &d->base.ctx;
    d->data_dir = cfg->data_dir;
    d->storage = sclient_new(ctx->storage_endpoint, SYNCER_STORAGE_TIMEOUT_MS);
    d->events = zsock_new_sub(ctx->events_endpoint, "wal ");
    if (!d->storage || !d->events)
        return SYNCER_EXIT_FAIL;
    //  Always serving: with no sync/bind, HTTP peers still reach the relay.
    char relay[CFG_PATH_MAX + 32];
    snprintf(relay, sizeof relay, "ipc://%s/%s", cfg->data_dir, SYNC_RELAY_SOCKET);
    d->server = serve_new(ctx, d->storage, cfg->sync_bind, relay, d->base.peers,
                          d->base.peers_n);
    if (!d->server)
        return SYNCER_EXIT_FAIL;
    d->peers = peerset_new(ctx, d->base.peers, d->base.peers_n);
    compact_opts_t copts = {
        .ctx = ctx, .config = d->base.peers, .config_n = d->base.peers_n,
        .peer_expiry_ms = cfg->sync_peer_expiry_s * 1000,
        .tombstone_ttl_ms = cfg->sync_tombstone_ttl_s * 1000,
        .started_wall_ms = ctx->env->wall_ms(ctx->env->ctx),
    };
    d->compactor = compact_start(&copts, cfg->sync_compact_interval_s);
    d->poller = zpoller_new(d->events, NULL);
    if (!d->peers || !d->compactor || !d->poller)
        return SYNCER_EXIT_FAIL;
    if (zpoller_add(d->poller, serve_socket(d->server)) != 0
        || zpoller_add(d->poller, serve_relay_socket(d->server)) != 0
        || zpoller_add(d->poller, serve_storage_socket(d->server)) != 0)
        return SYNCER_EXIT_FAIL;
    return 0;
}

static void
s_drain_events(s_daemon_t *d)
{
    while (zsock_events(d->events) & ZMQ_POLLIN) {
        char *event = zstr_recv(d->events);
        if (!event)
            break;
        zstr_free(&event);
    }
    serve_on_wal(d->server);
}

//  The status file, when due; returns the milliseconds until the next turn.
static uint64_t
s_write_status(s_daemon_t *d, uint64_t now)
{
    peerset_refused_t refused;
    serve_refusals(d->server, &refused.count, &refused.last_ms, refused.last_key,
                   sizeof refused.last_key, refused.last_address, sizeof refused.last_address);
    peerset_set_refused(d->peers, &refused);
    int rc;
    const senv_t *env = d->base.ctx.env;
    uint64_t next = peerset_write_status(d->peers, d->data_dir, env->wall_ms(env->ctx), now,
                                         &rc);
    if (rc && !d->status_warned)
        log_w("syncer", "cannot write the status file data=%s rc=%d (%s)", d->data_dir, rc,
              pdb_strerror(rc));
    d->status_warned = rc != 0;
    d->status_written = d->status_written || rc == 0;
    return next;
}

static void
s_daemon_loop(s_daemon_t *d, volatile sig_atomic_t *stop)
{
    uint64_t next_reload = 0;
    while (!*stop) {
        uint64_t now = clock_mono_ms();
        if (now >= next_reload) {
            int rc = peerset_reload(d->peers);
            if (!rc)
                rc = serve_peers(d->server, d->base.peers, d->base.peers_n);
            if (rc)
                log_w("syncer", "cannot read the peers database rc=%d (%s)", rc,
                      pdb_strerror(rc));
            next_reload = now + SYNCER_RELOAD_MS;
        }
        uint64_t timeout = s_write_status(d, now);
        uint64_t tick = serve_tick(d->server);
        uint64_t until_reload = next_reload > now ? next_reload - now : 0;
        if (tick < timeout)
            timeout = tick;
        if (until_reload < timeout)
            timeout = until_reload;
        //  zpoller names one ready socket: each is looked at in turn (none
        //  blocks), so a busy one never starves the others.
        (void) zpoller_wait(d->poller, (int) timeout);
        if (zsock_events(d->events) & ZMQ_POLLIN)
            s_drain_events(d);
        serve_on_storage(d->server);
        serve_handle(d->server, serve_socket(d->server));
        serve_handle(d->server, serve_relay_socket(d->server));
    }
}

int
syncer_daemon(const cfg_t *cfg, volatile sig_atomic_t *stop)
{
    s_daemon_t d = { 0 };
    int rc = syncer_base_open(cfg, stop, &d.base);
    if (rc)
        return *stop ? SYNCER_EXIT_OK : rc;      // stopped while waiting for storage
    rc = s_daemon_open(&d, cfg);
    if (rc == 0) {
        char id[PDB_ID_STR_LEN + 1];
        pdb_id_format(&d.base.ctx.self, id);
        log_i("syncer", "started data=%s instance=%s bind=%s peers_configured=%zu pid=%d",
              cfg->data_dir, id, cfg->sync_bind[0] ? cfg->sync_bind : "-", d.base.peers_n,
              (int) getpid());
        s_daemon_loop(&d, stop);
    }
    else
        log_e("syncer", "cannot start data=%s", cfg->data_dir);
    s_daemon_close(&d);
    return rc;
}
