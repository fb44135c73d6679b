#include "peers_cfg.h"
#include "prow.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    peers_cfg_t *out;
    size_t config_n;
    size_t cap;
} s_walk_t;

static void
s_problem(peers_cfg_t *out, const char *name, size_t len, const char *why)
{
    if (out->problems_n == PEERS_CFG_PROBLEMS_MAX)
        return;
    peers_cfg_problem_t *p = &out->problems[out->problems_n++];
    size_t n = len < PEERSPEC_NAME_MAX ? len : PEERSPEC_NAME_MAX;
    memcpy(p->name, name, n);
    p->name[n] = '\0';
    snprintf(p->why, sizeof p->why, "%s", why);
}

static int
s_row(const char *name, size_t name_len, const msgpack_object *map, void *arg)
{
    s_walk_t *walk = arg;
    peers_cfg_t *out = walk->out;
    const char *address, *dir = NULL, *coll = NULL, *key = NULL;
    size_t address_len, dir_len = 0, coll_len = 0, key_len = 0;
    bool inbound = store_peer_is_inbound(name, name_len);
    if (inbound || !prow_map_str(map, "address", &address, &address_len))
        return 0;                   // an inbound row, or only a configured peer's status
    if (peers_cfg_find(out, name, name_len)) {
        s_problem(out, name, name_len, "is also in sync/peers; the configuration wins");
        return 0;
    }
    if (out->n - walk->config_n == PEERS_CFG_DB_MAX) {
        s_problem(out, name, name_len, "is past the limit of peers from the database");
        return 0;
    }
    bool has_dir = prow_map_str(map, "direction", &dir, &dir_len);
    (void) prow_map_str(map, "collectives", &coll, &coll_len);
    (void) prow_map_str(map, "public_key", &key, &key_len);
    char why[PDB_ERRMSG_MAX];
    peers_cfg_entry_t *e = &out->items[out->n];
    if (peerspec_from_fields(&e->spec, name, name_len, address, address_len,
                             has_dir ? dir : NULL, dir_len, coll, coll_len, why) != 0
        || peerspec_set_key(&e->spec, key, key_len, why) != 0) {
        s_problem(out, name, name_len, why);
        return 0;
    }
    e->from_db = true;
    out->n++;
    return 0;
}

int
peers_cfg_collect(store_t *store, const peerspec_t *config, size_t config_n, peers_cfg_t *out)
{
    memset(out, 0, sizeof *out);
    out->items = calloc(config_n + PEERS_CFG_DB_MAX, sizeof *out->items);
    out->problems = calloc(PEERS_CFG_PROBLEMS_MAX, sizeof *out->problems);
    if (!out->items || !out->problems)
        return -ENOMEM;
    for (size_t i = 0; i < config_n; i++)
        out->items[out->n++] = (peers_cfg_entry_t) { config[i], false };
    s_walk_t walk = { out, config_n, config_n + PEERS_CFG_DB_MAX };
    return prow_each(store, s_row, &walk);
}

void
peers_cfg_release(peers_cfg_t *self)
{
    free(self->items);
    free(self->problems);
    memset(self, 0, sizeof *self);
}

const peers_cfg_entry_t *
peers_cfg_find(const peers_cfg_t *self, const char *name, size_t len)
{
    for (size_t i = 0; i < self->n; i++) {
        const char *have = self->items[i].spec.name;
        if (strlen(have) == len && memcmp(have, name, len) == 0)
            return &self->items[i];
    }
    return NULL;
}

bool
peers_cfg_same(const peers_cfg_entry_t *a, const peers_cfg_entry_t *b)
{
    const peerspec_t *x = &a->spec, *y = &b->spec;
    return a->from_db == b->from_db && strcmp(x->name, y->name) == 0
        && strcmp(x->address, y->address) == 0 && x->direction == y->direction
        && x->collectives_n == y->collectives_n
        && memcmp(x->collectives, y->collectives, x->collectives_n * sizeof *x->collectives) == 0;
}

static int
s_id_cmp(const void *a, const void *b)
{
    return memcmp(a, b, PDB_ID_LEN);
}

void
peers_cfg_filter_key(const peerspec_t *spec, uint8_t out[PEERS_CFG_FILTER_MAX], size_t *len)
{
    assert(spec->collectives_n <= PEERSPEC_COLLECTIVES_MAX);
    for (size_t i = 0; i < spec->collectives_n; i++)
        memcpy(out + i * PDB_ID_LEN, spec->collectives[i].b, PDB_ID_LEN);
    //  Sorted, so the same set in another order is the same record.
    qsort(out, spec->collectives_n, PDB_ID_LEN, s_id_cmp);
    *len = spec->collectives_n * PDB_ID_LEN;
}

bool
peers_cfg_filter_within(const peerspec_t *spec, const uint8_t *key, size_t len)
{
    if (len % PDB_ID_LEN != 0)
        return false;
    if (len == 0)
        return true;                // the cursors were built over every collective
    if (spec->collectives_n == 0)
        return false;               // filter removed: every collective now
    for (size_t i = 0; i < spec->collectives_n; i++) {
        bool found = false;
        for (size_t off = 0; !found && off < len; off += PDB_ID_LEN)
            found = memcmp(key + off, spec->collectives[i].b, PDB_ID_LEN) == 0;
        if (!found)
            return false;
    }
    return true;
}
