#include "inbound.h"
#include "log.h"
#include "prow.h"
#include "sops.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    pdb_id_t instance;
    uint64_t cursor, written_cursor;
    uint64_t seen_mono, seen_wall;
    uint64_t written_mono;
    bool ever_written;
    bool seen_since_write;
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

void
inbound_note(inbound_t *self, const pdb_id_t *instance, uint64_t cursor, uint64_t mono_ms,
             uint64_t wall_ms)
{
    s_entry_t *e = s_slot(self, instance);
    e->cursor = cursor;
    e->seen_mono = mono_ms;
    e->seen_wall = wall_ms;
    e->seen_since_write = true;
}

static bool
s_due(const s_entry_t *e, uint64_t mono_ms, bool force)
{
    if (!e->seen_since_write)
        return false;
    if (force || !e->ever_written)
        return true;
    if (e->cursor != e->written_cursor)
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
        char name[PROW_INBOUND_NAME_MAX], why[PDB_ERRMSG_MAX];
        prow_inbound_name(&e->instance, name);
        sops_kv_t kv[] = {
            SOPS_ID("instance_id", &e->instance),
            SOPS_U("pulled_through", e->cursor),
            SOPS_U("last_seen_ms", e->seen_wall),
        };
        int rc = wait ? sops_peer_set(storage, name, kv, 3, why)
                      : sops_peer_set_send(storage, name, kv, 3, why);
        if (rc) {
            log_d("syncer", "inbound row write failed peer=%s rc=%d (%s)", name, rc,
                  why[0] ? why : pdb_strerror(rc));
            continue;
        }
        e->written_cursor = e->cursor;
        e->written_mono = mono_ms;
        e->ever_written = true;
        e->seen_since_write = false;
        written++;
    }
    return written;
}
