#include "peer.h"
#include "sops.h"

#include <stdlib.h>
#include <string.h>

peer_t *
peer_new(const cfg_peer_t *spec, bool from_db)
{
    peer_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->spec = *spec;
    self->from_db = from_db;
    pthread_mutex_init(&self->ident_lock, NULL);
    pthread_mutex_init(&self->lock, NULL);
    self->state[PEER_PUSH] = peer_runs(self, PEER_PUSH) ? PEER_CONNECTING : PEER_OFF;
    self->state[PEER_PULL] = peer_runs(self, PEER_PULL) ? PEER_CONNECTING : PEER_OFF;
    self->version = 1;
    return self;
}

void
peer_destroy(peer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    peer_t *self = *self_p;
    pthread_mutex_destroy(&self->ident_lock);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

bool
peer_runs(const peer_t *self, peer_dir_t dir)
{
    cfg_peer_dir_t d = self->spec.direction;
    return d == CFG_PEER_BOTH || (dir == PEER_PUSH ? d == CFG_PEER_PUSH : d == CFG_PEER_PULL);
}

const char *
peer_state_name(peer_state_t state)
{
    switch (state) {
    case PEER_CONNECTING: return "connecting";
    case PEER_SYNCING:    return "syncing";
    case PEER_IDLE:       return "idle";
    case PEER_SNAPSHOT:   return "snapshot";
    case PEER_DEGRADED:   return "degraded";
    default:              return "off";
    }
}

//  Worse first: what a person should see when the two directions differ.
static int
s_rank(peer_state_t state)
{
    static const int rank[] = {
        [PEER_OFF] = 0, [PEER_IDLE] = 1, [PEER_SYNCING] = 2, [PEER_CONNECTING] = 3,
        [PEER_SNAPSHOT] = 4, [PEER_DEGRADED] = 5,
    };
    return rank[state];
}

static peer_state_t
s_state(const peer_t *self)
{
    peer_state_t a = self->state[PEER_PUSH], b = self->state[PEER_PULL];
    return s_rank(a) >= s_rank(b) ? a : b;
}

peer_state_t
peer_state(peer_t *self)
{
    pthread_mutex_lock(&self->lock);
    peer_state_t state = s_state(self);
    pthread_mutex_unlock(&self->lock);
    return state;
}

void
peer_set_state(peer_t *self, peer_dir_t dir, peer_state_t state)
{
    pthread_mutex_lock(&self->lock);
    if (self->state[dir] != state) {
        self->state[dir] = state;
        self->version++;
    }
    pthread_mutex_unlock(&self->lock);
}

//  Times move every exchange; a row write per second is plenty.
#define PEER_TIME_STEP_MS 1000

static void
s_seen(peer_t *self, uint64_t wall_ms)
{
    if (wall_ms >= self->last_seen_ms + PEER_TIME_STEP_MS) {
        self->last_seen_ms = wall_ms;
        self->version++;
    }
}

void
peer_note_ok(peer_t *self, peer_dir_t dir, uint64_t wall_ms)
{
    pthread_mutex_lock(&self->lock);
    if (self->failures[dir]) {
        self->failures[dir] = 0;
        self->version++;
    }
    if (wall_ms >= self->last_success_ms + PEER_TIME_STEP_MS) {
        self->last_success_ms = wall_ms;
        self->version++;
    }
    s_seen(self, wall_ms);
    pthread_mutex_unlock(&self->lock);
}

void
peer_note_seen(peer_t *self, uint64_t wall_ms)
{
    pthread_mutex_lock(&self->lock);
    s_seen(self, wall_ms);
    pthread_mutex_unlock(&self->lock);
}

void
peer_note_head(peer_t *self, uint64_t head)
{
    pthread_mutex_lock(&self->lock);
    if (self->peer_head != head) {
        self->peer_head = head;
        self->version++;
    }
    pthread_mutex_unlock(&self->lock);
}

unsigned
peer_note_failure(peer_t *self, peer_dir_t dir, const char *error)
{
    pthread_mutex_lock(&self->lock);
    unsigned failures = ++self->failures[dir];
    snprintf(self->last_error, sizeof self->last_error, "%s", error);
    self->state[dir] = failures >= PEER_DEGRADED_AFTER ? PEER_DEGRADED : PEER_CONNECTING;
    self->counts.errors++;
    self->version++;
    pthread_mutex_unlock(&self->lock);
    return failures;
}

void
peer_note_lag(peer_t *self, peer_dir_t dir, uint64_t lag, uint64_t wall_ms)
{
    pthread_mutex_lock(&self->lock);
    uint64_t *field = dir == PEER_PULL ? &self->lag_changes : &self->push_lag_changes;
    if (*field != lag) {
        *field = lag;
        self->version++;
    }
    if (dir == PEER_PULL) {
        //  Behind since the last time we were caught up.
        if (lag == 0 || self->caught_up_ms == 0)
            self->caught_up_ms = wall_ms;
        uint64_t ms = lag && wall_ms > self->caught_up_ms ? wall_ms - self->caught_up_ms : 0;
        bool moved = ms / PEER_TIME_STEP_MS != self->lag_ms / PEER_TIME_STEP_MS
                  || (ms == 0) != (self->lag_ms == 0);
        if (moved)
            self->version++;
        self->lag_ms = ms;
    }
    pthread_mutex_unlock(&self->lock);
}

void
peer_note_snapshot(peer_t *self, uint64_t done, uint64_t total, uint64_t bytes, uint64_t rate,
                   uint64_t eta_ms)
{
    pthread_mutex_lock(&self->lock);
    self->snap_done = done;
    self->snap_total = total;
    self->snap_bytes = bytes;
    self->snap_rate = rate;
    self->snap_eta_ms = eta_ms;
    self->version++;
    pthread_mutex_unlock(&self->lock);
}

void
peer_count(peer_t *self, const peer_counts_t *add)
{
    pthread_mutex_lock(&self->lock);
    peer_counts_t *c = &self->counts;
    c->pushed += add->pushed;
    c->push_accepted += add->push_accepted;
    c->push_stale += add->push_stale;
    c->push_missing += add->push_missing;
    c->pulled += add->pulled;
    c->pull_applied += add->pull_applied;
    c->pull_stale += add->pull_stale;
    c->pull_missing += add->pull_missing;
    c->installed += add->installed;
    c->errors += add->errors;
    pthread_mutex_unlock(&self->lock);
}

void
peer_counts(peer_t *self, peer_counts_t *out)
{
    pthread_mutex_lock(&self->lock);
    *out = self->counts;
    pthread_mutex_unlock(&self->lock);
}

int
peer_flush(peer_t *self, sclient_t *storage, bool force, char why[PDB_ERRMSG_MAX])
{
    pthread_mutex_lock(&self->lock);
    if (!force && self->version == self->flushed) {
        pthread_mutex_unlock(&self->lock);
        return 0;
    }
    uint64_t version = self->version;
    char error[PDB_ERRMSG_MAX];
    snprintf(error, sizeof error, "%s", self->last_error);
    unsigned failures = self->failures[0] > self->failures[1] ? self->failures[0]
                                                              : self->failures[1];
    sops_kv_t kv[16] = {
        SOPS_S("state", peer_state_name(s_state(self))),
        SOPS_U("failures", failures),
        SOPS_U("retries", self->counts.errors),
        SOPS_S("last_error", error),
        SOPS_U("lag_changes", self->lag_changes),
        SOPS_U("lag_ms", self->lag_ms),
        SOPS_U("push_lag_changes", self->push_lag_changes),
        SOPS_U("snapshot_done", self->snap_done),
        SOPS_U("snapshot_total", self->snap_total),
        SOPS_U("snapshot_bytes", self->snap_bytes),
        SOPS_U("snapshot_rate", self->snap_rate),
        SOPS_U("snapshot_eta_ms", self->snap_eta_ms),
    };
    size_t n = 12;
    //  What is not known yet is left out: a 0 would claim a time or a head.
    if (self->last_seen_ms)
        kv[n++] = SOPS_U("last_seen_ms", self->last_seen_ms);
    if (self->last_success_ms)
        kv[n++] = SOPS_U("last_success_ms", self->last_success_ms);
    if (self->last_success_ms)              // a hello succeeded: the head is known
        kv[n++] = SOPS_U("peer_head", self->peer_head);
    pthread_mutex_unlock(&self->lock);
    int rc = sops_peer_set(storage, self->spec.name, kv, n, why);
    if (rc == 0) {
        pthread_mutex_lock(&self->lock);
        if (self->flushed < version)
            self->flushed = version;
        pthread_mutex_unlock(&self->lock);
    }
    return rc;
}
