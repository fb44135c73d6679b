#include "peerset.h"
#include "log.h"
#include "peer.h"
#include "peers_cfg.h"
#include "worker.h"
#include "mpk.h"
#include "syncstat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    peers_cfg_entry_t entry;
    peer_t *peer;
    zactor_t *workers[2];
    uint64_t written;               // status version in the file
} s_running_t;

struct peerset {
    const synctx_t *ctx;
    peerspec_t *config;
    size_t config_n;
    s_running_t **running;
    size_t n;
    peers_cfg_problem_t *warned;    // problems already logged (logged again once fixed and back)
    size_t warned_n;
    bool changed;                   // peers started or stopped since the status write
    uint64_t written_mono;          // last status write
    peerset_refused_t refused;      // connections refused for an unknown key
};

peerset_t *
peerset_new(const synctx_t *ctx, const peerspec_t *config, size_t config_n)
{
    peerset_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ctx = ctx;
    self->config = calloc(config_n ? config_n : 1, sizeof *self->config);
    self->running = calloc(PEERSPEC_LIST_MAX + PEERS_CFG_DB_MAX, sizeof *self->running);
    if (!self->config || !self->running) {
        peerset_destroy(&self);
        return NULL;
    }
    if (config_n)
        memcpy(self->config, config, config_n * sizeof *config);
    self->config_n = config_n;
    return self;
}

static void
s_stop(s_running_t **r_p)
{
    s_running_t *r = *r_p;
    for (int d = 0; d < 2; d++)
        zactor_destroy(&r->workers[d]);
    peer_destroy(&r->peer);
    free(r);
    *r_p = NULL;
}

static s_running_t *
s_start(const synctx_t *ctx, const peers_cfg_entry_t *entry)
{
    s_running_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->entry = *entry;
    r->peer = peer_new(&entry->spec, entry->from_db);
    bool ok = r->peer != NULL;
    for (int d = 0; ok && d < 2; d++) {
        if (peer_runs(r->peer, (peer_dir_t) d)) {
            r->workers[d] = worker_start(ctx, r->peer, (peer_dir_t) d);
            ok = r->workers[d] != NULL;
        }
    }
    if (!ok) {
        s_stop(&r);
        return NULL;
    }
    log_i("syncer", "peer started peer=%s address=%s direction=%s collectives=%zu source=%s",
          entry->spec.name, entry->spec.address, peerspec_dir_name(entry->spec.direction),
          entry->spec.collectives_n, entry->from_db ? "peers-db" : "config");
    return r;
}

void
peerset_destroy(peerset_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    peerset_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++)
        s_stop(&self->running[i]);
    free(self->running);
    free(self->config);
    free(self->warned);
    free(self);
    *self_p = NULL;
}

//  Logs each bad row once while it stays bad.
static void
s_report(peerset_t *self, const peers_cfg_t *want)
{
    for (size_t i = 0; i < want->problems_n; i++) {
        const peers_cfg_problem_t *p = &want->problems[i];
        bool known = false;
        for (size_t j = 0; !known && j < self->warned_n; j++)
            known = strcmp(self->warned[j].name, p->name) == 0
                 && strcmp(self->warned[j].why, p->why) == 0;
        if (!known)
            log_w("syncer", "peer row ignored peer=%s: %s", p->name, p->why);
    }
    free(self->warned);
    self->warned = NULL;
    self->warned_n = 0;
    if (want->problems_n == 0)
        return;
    self->warned = malloc(want->problems_n * sizeof *self->warned);
    if (self->warned) {
        memcpy(self->warned, want->problems, want->problems_n * sizeof *self->warned);
        self->warned_n = want->problems_n;
    }
}

//  Stops what is gone or changed; returns how many remain.
static void
s_stop_stale(peerset_t *self, const peers_cfg_t *want)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->n; i++) {
        s_running_t *r = self->running[i];
        const char *name = r->entry.spec.name;
        const peers_cfg_entry_t *w = peers_cfg_find(want, name, strlen(name));
        if (w && peers_cfg_same(w, &r->entry)) {
            self->running[kept++] = r;
            continue;
        }
        log_i("syncer", "peer stopped peer=%s reason=%s", name, w ? "changed" : "removed");
        s_stop(&self->running[i]);
        self->changed = true;
    }
    self->n = kept;
}

int
peerset_reload(peerset_t *self)
{
    peers_cfg_t want;
    int rc = peers_cfg_collect(self->ctx->store, self->config, self->config_n, &want);
    if (rc) {
        peers_cfg_release(&want);
        return rc;
    }
    s_report(self, &want);
    s_stop_stale(self, &want);
    for (size_t i = 0; i < want.n; i++) {
        const char *name = want.items[i].spec.name;
        bool running = false;
        for (size_t j = 0; !running && j < self->n; j++)
            running = strcmp(self->running[j]->entry.spec.name, name) == 0;
        if (running)
            continue;
        s_running_t *r = s_start(self->ctx, &want.items[i]);
        if (r) {
            self->running[self->n++] = r;
            self->changed = true;
        }
        else
            log_e("syncer", "cannot start peer=%s (out of memory or threads)", name);
    }
    peers_cfg_release(&want);
    return 0;
}

static bool
s_status_changed(peerset_t *self)
{
    bool changed = self->changed;
    for (size_t i = 0; !changed && i < self->n; i++)
        changed = peer_version(self->running[i]->peer) != self->running[i]->written;
    return changed;
}

static int
s_status_write(peerset_t *self, const char *data_dir, uint64_t now_wall)
{
    uint64_t *versions = calloc(self->n ? self->n : 1, sizeof *versions);
    if (!versions)
        return -ENOMEM;
    mpk_out_t doc;
    mpk_out_init(&doc);
    mpk_pack_map(&doc.pk, 4);
    mpk_pack_str(&doc.pk, "refused");
    mpk_pack_map(&doc.pk, 4);
    mpk_pack_str(&doc.pk, "count");
    mpk_pack_u64(&doc.pk, self->refused.count);
    mpk_pack_str(&doc.pk, "last_ms");
    mpk_pack_u64(&doc.pk, self->refused.last_ms);
    mpk_pack_str(&doc.pk, "last_key");
    mpk_pack_str(&doc.pk, self->refused.last_key);
    mpk_pack_str(&doc.pk, "last_address");
    mpk_pack_str(&doc.pk, self->refused.last_address);
    mpk_pack_str(&doc.pk, "written_ms");
    mpk_pack_u64(&doc.pk, now_wall);
    mpk_pack_str(&doc.pk, "pid");
    mpk_pack_u64(&doc.pk, (uint64_t) getpid());
    mpk_pack_str(&doc.pk, "peers");
    mpk_pack_map(&doc.pk, self->n);
    for (size_t i = 0; i < self->n; i++) {
        peer_t *peer = self->running[i]->peer;
        mpk_pack_str(&doc.pk, peer->spec.name);
        peer_status_pack(peer, &doc.pk, &versions[i]);
    }
    int rc = mpk_out_status(&doc);
    if (!rc)
        rc = syncstat_write(data_dir, doc.buf.data, doc.buf.size);
    for (size_t i = 0; !rc && i < self->n; i++)
        self->running[i]->written = versions[i];
    if (!rc)
        self->changed = false;
    mpk_out_release(&doc);
    free(versions);
    return rc;
}

uint64_t
peerset_write_status(peerset_t *self, const char *data_dir, uint64_t now_wall,
                     uint64_t now_mono, int *rc)
{
    *rc = 0;
    uint64_t since = now_mono - self->written_mono;
    bool due = self->written_mono == 0 || since >= PEERSET_STATUS_REFRESH_MS
            || (since >= PEERSET_STATUS_MS && s_status_changed(self));
    if (!due)
        return since >= PEERSET_STATUS_MS ? PEERSET_STATUS_MS : PEERSET_STATUS_MS - since;
    *rc = s_status_write(self, data_dir, now_wall);
    //  A failed write is tried again at the next turn, not in a loop.
    self->written_mono = now_mono;
    return PEERSET_STATUS_MS;
}

void
peerset_set_refused(peerset_t *self, const peerset_refused_t *refused)
{
    if (refused->count != self->refused.count)
        self->changed = true;
    self->refused = *refused;
}
