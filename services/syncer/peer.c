#include "peer.h"
#include "mpk.h"

#include <stdlib.h>
#include <string.h>

peer_t *
peer_new(const peerspec_t *spec, bool from_db)
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
    peerspec_dir_t d = self->spec.direction;
    return d == PEERSPEC_BOTH || (dir == PEER_PUSH ? d == PEERSPEC_PUSH : d == PEERSPEC_PULL);
}

static const char *
s_state_name(peer_state_t state)
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

uint64_t
peer_last_seen(peer_t *self)
{
    pthread_mutex_lock(&self->lock);
    uint64_t seen = self->last_seen_ms;
    pthread_mutex_unlock(&self->lock);
    return seen;
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
peer_note_failure(peer_t *self, peer_dir_t dir, const char *error, uint64_t wall_ms)
{
    pthread_mutex_lock(&self->lock);
    unsigned failures = ++self->failures[dir];
    snprintf(self->error[dir], sizeof self->error[dir], "%s", error);
    self->error_ms[dir] = wall_ms;
    snprintf(self->last_error, sizeof self->last_error, "%s", error);
    self->last_error_ms = wall_ms;
    self->state[dir] = failures >= PEER_DEGRADED_AFTER ? PEER_DEGRADED : PEER_CONNECTING;
    self->counts.errors++;
    self->version++;
    pthread_mutex_unlock(&self->lock);
    return failures;
}

static void
s_set(peer_t *self, uint64_t *field, uint64_t value)
{
    if (*field != value) {
        *field = value;
        self->version++;
    }
}

void
peer_note_lag(peer_t *self, peer_dir_t dir, uint64_t lag)
{
    pthread_mutex_lock(&self->lock);
    s_set(self, dir == PEER_PULL ? &self->lag_changes : &self->push_lag_changes, lag);
    pthread_mutex_unlock(&self->lock);
}

void
peer_note_oldest(peer_t *self, peer_dir_t dir, uint64_t oldest_ms)
{
    pthread_mutex_lock(&self->lock);
    s_set(self, &self->oldest_ms[dir], oldest_ms);
    pthread_mutex_unlock(&self->lock);
}

uint64_t
peer_oldest(peer_t *self, peer_dir_t dir)
{
    pthread_mutex_lock(&self->lock);
    uint64_t oldest = self->oldest_ms[dir];
    pthread_mutex_unlock(&self->lock);
    return oldest;
}

void
peer_note_acked(peer_t *self, uint64_t push_acked)
{
    pthread_mutex_lock(&self->lock);
    s_set(self, &self->push_acked, push_acked);
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
peer_progress(peer_t *self, peer_dir_t dir, peer_progress_t *out)
{
    pthread_mutex_lock(&self->lock);
    bool push = dir == PEER_PUSH;
    *out = (peer_progress_t) {
        .moved = push ? self->counts.pushed : self->counts.pulled,
        .lag = push ? self->push_lag_changes : self->lag_changes,
        .snap_done = push ? 0 : self->snap_done,
        .snap_total = push ? 0 : self->snap_total,
    };
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

uint64_t
peer_version(peer_t *self)
{
    pthread_mutex_lock(&self->lock);
    uint64_t version = self->version;
    pthread_mutex_unlock(&self->lock);
    return version;
}

//  The failing direction whose failure is the latest; -1 when none fails.
static int
s_failing(const peer_t *self)
{
    int dir = -1;
    for (int d = 0; d < 2; d++)
        if (self->failures[d] && (dir < 0 || self->error_ms[d] >= self->error_ms[dir]))
            dir = d;
    return dir;
}

static void
s_kv_u64(msgpack_packer *pk, const char *key, uint64_t value)
{
    mpk_pack_str(pk, key);
    mpk_pack_u64(pk, value);
}

static void
s_kv_str(msgpack_packer *pk, const char *key, const char *value)
{
    mpk_pack_str(pk, key);
    mpk_pack_str(pk, value);
}

#define S_ALWAYS_KNOWN 10           // fields s_pack_known packs

//  Packs the S_ALWAYS_KNOWN fields that are always known.
static void
s_pack_known(const peer_t *self, msgpack_packer *pk)
{
    unsigned failures = self->failures[0] > self->failures[1] ? self->failures[0]
                                                              : self->failures[1];
    s_kv_str(pk, "state", s_state_name(s_state(self)));
    s_kv_u64(pk, "failures", failures);
    s_kv_u64(pk, "retries", self->counts.errors);
    s_kv_u64(pk, "lag_changes", self->lag_changes);
    s_kv_u64(pk, "push_lag_changes", self->push_lag_changes);
    s_kv_u64(pk, "snapshot_done", self->snap_done);
    s_kv_u64(pk, "snapshot_total", self->snap_total);
    s_kv_u64(pk, "snapshot_bytes", self->snap_bytes);
    s_kv_u64(pk, "snapshot_rate", self->snap_rate);
    s_kv_u64(pk, "snapshot_eta_ms", self->snap_eta_ms);
}

void
peer_status_pack(peer_t *self, msgpack_packer *pk, uint64_t *version)
{
    pthread_mutex_lock(&self->lock);
    *version = self->version;
    int failing = s_failing(self);
    bool pushes = peer_runs(self, PEER_PUSH);
    //  What is not known yet is left out: a 0 would claim a time or a head.
    size_t n = S_ALWAYS_KNOWN + (self->last_seen_ms != 0) + (self->last_success_ms != 0) * 2
             + (failing >= 0) * 2 + (self->last_error_ms != 0) * 2 + pushes
             + (self->oldest_ms[PEER_PULL] != 0) + (self->oldest_ms[PEER_PUSH] != 0);
    mpk_pack_map(pk, n);
    s_pack_known(self, pk);
    if (self->last_seen_ms)
        s_kv_u64(pk, "last_seen_ms", self->last_seen_ms);
    if (self->last_success_ms) {          // a hello succeeded: the head is known
        s_kv_u64(pk, "last_success_ms", self->last_success_ms);
        s_kv_u64(pk, "peer_head", self->peer_head);
    }
    if (failing >= 0) {
        s_kv_str(pk, "error", self->error[failing]);
        s_kv_u64(pk, "error_ms", self->error_ms[failing]);
    }
    if (self->last_error_ms) {
        s_kv_str(pk, "last_error", self->last_error);
        s_kv_u64(pk, "last_error_ms", self->last_error_ms);
    }
    if (pushes)
        s_kv_u64(pk, "push_acked", self->push_acked);
    if (self->oldest_ms[PEER_PULL])
        s_kv_u64(pk, "pull_oldest_ms", self->oldest_ms[PEER_PULL]);
    if (self->oldest_ms[PEER_PUSH])
        s_kv_u64(pk, "push_oldest_ms", self->oldest_ms[PEER_PUSH]);
    pthread_mutex_unlock(&self->lock);
}
