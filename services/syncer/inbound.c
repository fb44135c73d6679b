#include "inbound.h"
#include "log.h"
#include "prow.h"
#include "sops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    pdb_id_t instance;
    bool pulled;                     // cursor is known
    uint64_t cursor, written_cursor;
    uint64_t seen_mono, seen_wall;
    uint64_t written_mono;
    bool ever_written;
    bool seen_since_write;
    bool marked;                     // pushed or refused since the last write
    bool pushed;                     // a push of it was taken: it may hold the WAL
    uint64_t refused;                // requests of it refused, since this syncer started
    uint64_t refused_wall;
    char refusal[INBOUND_REFUSAL_MAX];
} s_entry_t;

struct inbound {
    s_entry_t *entries;
    size_t n;
};

inbound_t *
inbound_new(void)
{
    inbound_t *self = calloc(1, sizeof *self);
    if (self)
        self->entries = calloc(INBOUND_MAX, sizeof *self->entries);
    if (self && !self->entries) {
        free(self);
        self = NULL;
    }
    return self;
}

void
inbound_destroy(inbound_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->entries);
    free(*self_p);
    *self_p = NULL;
}

static s_entry_t *
s_slot(inbound_t *self, const pdb_id_t *instance)
{
    size_t oldest = 0;
    for (size_t i = 0; i < self->n; i++) {
        if (pdb_id_cmp(&self->entries[i].instance, instance) == 0)
            return &self->entries[i];
        if (self->entries[i].seen_mono < self->entries[oldest].seen_mono)
            oldest = i;
    }
    //  Full: forget the quietest entry; its row stays as last written.
    s_entry_t *e = self->n < INBOUND_MAX ? &self->entries[self->n++] : &self->entries[oldest];
    memset(e, 0, sizeof *e);
    e->instance = *instance;
    return e;
}

static s_entry_t *
s_seen(inbound_t *self, const pdb_id_t *instance, uint64_t mono_ms, uint64_t wall_ms)
{
    s_entry_t *e = s_slot(self, instance);
    e->seen_mono = mono_ms;
    e->seen_wall = wall_ms;
    e->seen_since_write = true;
    return e;
}

void
inbound_note(inbound_t *self, const pdb_id_t *instance, uint64_t cursor, uint64_t mono_ms,
             uint64_t wall_ms)
{
    s_entry_t *e = s_seen(self, instance, mono_ms, wall_ms);
    e->cursor = cursor;
    e->pulled = true;
}

void
inbound_pushed(inbound_t *self, const pdb_id_t *instance, uint64_t mono_ms, uint64_t wall_ms)
{
    s_entry_t *e = s_seen(self, instance, mono_ms, wall_ms);
    e->marked |= !e->pushed;
    e->pushed = true;
}

uint64_t
inbound_refused(inbound_t *self, const pdb_id_t *instance, const char *detail,
                uint64_t mono_ms, uint64_t wall_ms)
{
    s_entry_t *e = s_seen(self, instance, mono_ms, wall_ms);
    e->refused++;
    e->refused_wall = wall_ms;
    snprintf(e->refusal, sizeof e->refusal, "%s", detail);
    e->marked = true;
    return e->refused;
}

//  The row: what it pulled, whether it pushed, what of it was refused.
static int
s_write(const s_entry_t *e, sclient_t *storage, bool wait)
{
    char name[PROW_INBOUND_NAME_MAX], why[PDB_ERRMSG_MAX];
    prow_inbound_name(&e->instance, name);
    sops_kv_t kv[INBOUND_ROW_FIELDS];
    size_t n = 0;
    kv[n++] = SOPS_ID("instance_id", &e->instance);
    kv[n++] = SOPS_U("last_seen_ms", e->seen_wall);
    if (e->pulled)
        kv[n++] = SOPS_U("pulled_through", e->cursor);
    if (e->pushed)
        kv[n++] = SOPS_U("pushed", 1);
    if (e->refused) {
        kv[n++] = SOPS_U("refused", e->refused);
        kv[n++] = SOPS_U("last_refused_ms", e->refused_wall);
        kv[n++] = SOPS_S("last_refusal", e->refusal);
    }
    int rc = wait ? sops_peer_set(storage, name, kv, n, why)
                  : sops_peer_set_send(storage, name, kv, n, why);
    if (rc)
        log_d("syncer", "inbound row write failed peer=%s rc=%d (%s)", name, rc,
              why[0] ? why : pdb_strerror(rc));
    return rc;
}

static bool
s_due(const s_entry_t *e, uint64_t mono_ms, bool force)
{
    if (!e->seen_since_write)
        return false;
    if (force || !e->ever_written)
        return true;
    if (e->cursor != e->written_cursor || e->marked)
        return mono_ms >= e->written_mono + INBOUND_WRITE_MS;
    return mono_ms >= e->written_mono + INBOUND_REFRESH_MS;
}

unsigned
inbound_flush(inbound_t *self, sclient_t *storage, uint64_t mono_ms, bool force,
              bool wait)
{
    unsigned written = 0;
    for (size_t i = 0; i < self->n; i++) {
        s_entry_t *e = &self->entries[i];
        if (!s_due(e, mono_ms, force))
            continue;
        if (s_write(e, storage, wait) != 0)
            continue;
        e->written_cursor = e->cursor;
        e->marked = false;
        e->written_mono = mono_ms;
        e->ever_written = true;
        e->seen_since_write = false;
        written++;
    }
    return written;
}
