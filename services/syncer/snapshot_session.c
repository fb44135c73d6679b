#include "snapshot_session.h"
#include "clock.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct snapshot_session {
    store_t *store;
    char token[SNAPSHOT_SESSION_TOKEN_LEN + 1];
    pdb_id_t source;
    MDB_txn *txn;
    pdb_id_t *filter;
    size_t filter_n;
    snapshot_pos_t pos;
    uint64_t total, seq;
    vv_t vector;
    uint64_t used_mono;
};

struct snapshot_session_table {
    store_t *store;
    snapshot_session_t *sessions[SNAPSHOT_SESSION_MAX];
};

snapshot_session_table_t *
snapshot_session_table_new(store_t *store)
{
    snapshot_session_table_t *self = calloc(1, sizeof *self);
    if (self)
        self->store = store;
    return self;
}

static void
s_free(snapshot_session_t **s_p)
{
    snapshot_session_t *s = *s_p;
    if (!s)
        return;
    if (s->txn)
        mdb_txn_abort(s->txn);
    vv_release(&s->vector);
    free(s->filter);
    free(s);
    *s_p = NULL;
}

void
snapshot_session_table_destroy(snapshot_session_table_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (size_t i = 0; i < SNAPSHOT_SESSION_MAX; i++)
        s_free(&(*self_p)->sessions[i]);
    free(*self_p);
    *self_p = NULL;
}

static int
s_token(char out[SNAPSHOT_SESSION_TOKEN_LEN + 1])
{
    uint8_t raw[SNAPSHOT_SESSION_TOKEN_LEN / 2];
    int rc = clock_random(raw, sizeof raw);
    if (rc)
        return rc;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

//  The consistent view: meta, vector and total from the session's txn.
static int
s_fill(snapshot_session_table_t *self, snapshot_session_t *s)
{
    int rc = store_read_begin(self->store, &s->txn);
    store_meta_t meta;
    if (!rc)
        rc = store_meta_read(self->store, s->txn, &meta);
    if (!rc)
        rc = vv_read(self->store, s->txn, &s->vector);
    if (!rc)
        rc = snapshot_total(self->store, s->txn, s->filter, s->filter_n, &s->total);
    if (!rc)
        s->seq = meta.wal_head;
    return rc;
}

//  A slot for a new session of source: the one source already had (a
//  caller restarting its snapshot ends the old one), a free one, or, when
//  all are taken, the one idle longest if idle SNAPSHOT_SESSION_EVICT_IDLE_MS or more
//  (a caller that opened sessions and never read them cannot keep others
//  out). SNAPSHOT_SESSION_MAX when none.
static size_t
s_slot_for(snapshot_session_table_t *self, const pdb_id_t *source, uint64_t mono_ms)
{
    size_t free_slot = SNAPSHOT_SESSION_MAX, idlest = SNAPSHOT_SESSION_MAX;
    for (size_t i = 0; i < SNAPSHOT_SESSION_MAX; i++) {
        snapshot_session_t *s = self->sessions[i];
        if (s && pdb_id_cmp(&s->source, source) == 0)
            return i;
        if (!s && free_slot == SNAPSHOT_SESSION_MAX)
            free_slot = i;
        if (s && (idlest == SNAPSHOT_SESSION_MAX
                  || s->used_mono < self->sessions[idlest]->used_mono))
            idlest = i;
    }
    if (free_slot < SNAPSHOT_SESSION_MAX)
        return free_slot;
    snapshot_session_t *s = self->sessions[idlest];
    if (mono_ms >= s->used_mono + SNAPSHOT_SESSION_EVICT_IDLE_MS)
        return idlest;
    return SNAPSHOT_SESSION_MAX;
}

int
snapshot_session_open(snapshot_session_table_t *self, const pdb_id_t *source,
                      const pdb_id_t *filter, size_t filter_n, uint64_t mono_ms,
                      snapshot_session_t **out)
{
    size_t slot = s_slot_for(self, source, mono_ms);
    if (slot == SNAPSHOT_SESSION_MAX)
        return PDB_EFULL;
    if (self->sessions[slot]) {
        log_i("syncer", "snapshot session ended token=%.8s idle_ms=%llu: its slot is taken "
              "by a new session", self->sessions[slot]->token,
              (unsigned long long) (mono_ms - self->sessions[slot]->used_mono));
        s_free(&self->sessions[slot]);
    }
    snapshot_session_t *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->store = self->store;
    s->source = *source;
    s->used_mono = mono_ms;
    int rc = s_token(s->token);
    if (!rc && filter_n) {
        s->filter = malloc(filter_n * sizeof *filter);
        rc = s->filter ? 0 : -ENOMEM;
        if (!rc)
            memcpy(s->filter, filter, filter_n * sizeof *filter);
        s->filter_n = filter_n;
    }
    if (!rc)
        rc = s_fill(self, s);
    if (rc) {
        s_free(&s);
        return rc;
    }
    self->sessions[slot] = s;
    *out = s;
    return 0;
}

snapshot_session_t *
snapshot_session_find(snapshot_session_table_t *self, const char *token, size_t len,
                      const pdb_id_t *source, uint64_t mono_ms)
{
    for (size_t i = 0; i < SNAPSHOT_SESSION_MAX; i++) {
        snapshot_session_t *s = self->sessions[i];
        if (s && len == SNAPSHOT_SESSION_TOKEN_LEN && memcmp(s->token, token, len) == 0
            && pdb_id_cmp(&s->source, source) == 0) {
            s->used_mono = mono_ms;
            return s;
        }
    }
    return NULL;
}

int
snapshot_session_page(snapshot_session_t *session, const pdb_id_t *self_id, size_t max_entities,
                      size_t max_bytes, mpk_out_t *out, size_t *count, bool *done)
{
    return snapshot_page(session->store, session->txn, session->filter, session->filter_n,
                         &session->pos, max_entities, max_bytes, self_id, &out->pk, count, done);
}

void
snapshot_session_close(snapshot_session_table_t *self, snapshot_session_t *session)
{
    for (size_t i = 0; i < SNAPSHOT_SESSION_MAX; i++)
        if (self->sessions[i] == session)
            s_free(&self->sessions[i]);
}

void
snapshot_session_expire(snapshot_session_table_t *self, uint64_t mono_ms)
{
    for (size_t i = 0; i < SNAPSHOT_SESSION_MAX; i++) {
        snapshot_session_t *s = self->sessions[i];
        if (s && mono_ms >= s->used_mono + SNAPSHOT_SESSION_IDLE_MS) {
            log_i("syncer", "snapshot session expired token=%.8s idle_ms=%llu", s->token,
                  (unsigned long long) (mono_ms - s->used_mono));
            s_free(&self->sessions[i]);
        }
    }
}

size_t
snapshot_session_count(const snapshot_session_table_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < SNAPSHOT_SESSION_MAX; i++)
        n += self->sessions[i] != NULL;
    return n;
}

const char *snapshot_session_token(const snapshot_session_t *s) { return s->token; }
uint64_t snapshot_session_total(const snapshot_session_t *s) { return s->total; }
uint64_t snapshot_session_seq(const snapshot_session_t *s) { return s->seq; }
const vv_t *snapshot_session_vector(const snapshot_session_t *s) { return &s->vector; }
