#include "compact.h"
#include "link.h"
#include "log.h"
#include "mpk.h"
#include "peers_cfg.h"
#include "prow.h"
#include "sops.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define COMPACT_STORAGE_TIMEOUT_MS 30000

uint64_t
compact_floor(const compact_hold_t *holds, size_t n, uint64_t head, uint64_t now_ms,
              uint64_t expiry_ms, uint64_t unseen_since_ms, size_t *live)
{
    uint64_t below = head + 1;
    *live = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t seen = holds[i].seen ? holds[i].last_seen_ms : unseen_since_ms;
        if (now_ms > seen && now_ms - seen > expiry_ms)
            continue;                        // expired: it will resync by snapshot
        (*live)++;
        uint64_t keep = holds[i].position < head ? holds[i].position + 1 : head + 1;
        if (keep < below)
            below = keep;
    }
    return below;
}

//  An inbound row waiting to learn whether its instance is a peer here.
typedef struct {
    pdb_id_t instance;
    bool has_instance, pushed;
    compact_hold_t hold;
} s_inbound_t;

typedef struct {
    const peers_cfg_t *peers;
    compact_hold_t *holds;
    size_t n, cap;
    bool *covered;                   // per peers entry: a row was found
    pdb_id_t *bound;                 // instances the peers' rows are bound to
    size_t bound_n;
    s_inbound_t *inbound;
    size_t inbound_n, inbound_cap;
} s_collect_t;

static int
s_add(s_collect_t *c, compact_hold_t hold)
{
    if (c->n == c->cap) {
        size_t grown = c->cap ? 2 * c->cap : 64;
        compact_hold_t *more = realloc(c->holds, grown * sizeof *more);
        if (!more)
            return -ENOMEM;
        c->holds = more;
        c->cap = grown;
    }
    c->holds[c->n++] = hold;
    return 0;
}

static int
s_hold(s_collect_t *c, const msgpack_object *map, const char *position_key)
{
    compact_hold_t h = { 0 };
    (void) prow_map_u64(map, position_key, &h.position);
    h.seen = prow_map_u64(map, "last_seen_ms", &h.last_seen_ms);
    return s_add(c, h);
}

static bool
s_pushes(const peers_cfg_entry_t *e)
{
    return e->spec.direction != PEERSPEC_PULL;
}

//  A row's instance_id: bin(16), or a UUID string as rows written by hand
//  may hold.
static bool
s_row_instance(const msgpack_object *map, pdb_id_t *out)
{
    const msgpack_object *v = mpk_map_get(map, "instance_id");
    const char *str;
    size_t len;
    return v && (mpk_get_id(v, out) == 0
                 || (mpk_get_str(v, &str, &len) == 0 && pdb_id_parse(str, len, out) == 0));
}

//  An inbound row with a cursor, kept aside: it holds the WAL only if its
//  instance pushed here or is a peer of this node, which the rows after it
//  may tell (an id made up for one pull must not pin the WAL).
static int
s_inbound_row(s_collect_t *c, const char *name, size_t len, const msgpack_object *map)
{
    s_inbound_t in = { 0 };
    if (!prow_map_u64(map, "pulled_through", &in.hold.position))
        return 0;                            // it only pushed: nothing to hold
    in.hold.seen = prow_map_u64(map, "last_seen_ms", &in.hold.last_seen_ms);
    uint64_t pushed = 0;
    in.pushed = prow_map_u64(map, "pushed", &pushed) && pushed;
    in.has_instance = s_row_instance(map, &in.instance)
                   || pdb_id_parse(name + 3, len - 3, &in.instance) == 0;
    if (c->inbound_n == c->inbound_cap) {
        size_t grown = c->inbound_cap ? 2 * c->inbound_cap : 16;
        s_inbound_t *more = realloc(c->inbound, grown * sizeof *more);
        if (!more)
            return -ENOMEM;
        c->inbound = more;
        c->inbound_cap = grown;
    }
    c->inbound[c->inbound_n++] = in;
    return 0;
}

static int
s_note_bound(s_collect_t *c, const msgpack_object *map)
{
    pdb_id_t id;
    if (!s_row_instance(map, &id))
        return 0;
    pdb_id_t *more = realloc(c->bound, (c->bound_n + 1) * sizeof *more);
    if (!more)
        return -ENOMEM;
    c->bound = more;
    c->bound[c->bound_n++] = id;
    return 0;
}

static int
s_row(const char *name, size_t len, const msgpack_object *map, void *arg)
{
    s_collect_t *c = arg;
    if (len > STORE_PEER_INBOUND_PREFIX_LEN && store_peer_is_inbound(name, len))
        return s_inbound_row(c, name, len, map);
    const peers_cfg_entry_t *e = peers_cfg_find(c->peers, name, len);
    if (!e)
        return 0;                            // a removed peer's old row
    c->covered[e - c->peers->items] = true;
    int rc = s_note_bound(c, map);
    return !rc && s_pushes(e) ? s_hold(c, map, "push_acked") : rc;
}

static bool
s_is_bound(const s_collect_t *c, const pdb_id_t *instance)
{
    for (size_t i = 0; i < c->bound_n; i++)
        if (pdb_id_cmp(&c->bound[i], instance) == 0)
            return true;
    return false;
}

//  The inbound rows that hold: those of instances that pushed or are peers.
static int
s_add_inbound(s_collect_t *c)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < c->inbound_n; i++) {
        const s_inbound_t *in = &c->inbound[i];
        if (in->pushed || (in->has_instance && s_is_bound(c, &in->instance)))
            rc = s_add(c, in->hold);
    }
    return rc;
}

int
compact_collect(const compact_opts_t *opts, compact_hold_t **holds, size_t *n)
{
    peers_cfg_t peers;
    int rc = peers_cfg_collect(opts->ctx->store, opts->config, opts->config_n, &peers);
    s_collect_t c = { .peers = &peers };
    c.covered = calloc(peers.n ? peers.n : 1, sizeof *c.covered);
    if (!rc && !c.covered)
        rc = -ENOMEM;
    if (!rc)
        rc = prow_each(opts->ctx->store, s_row, &c);
    if (!rc)
        rc = s_add_inbound(&c);
    for (size_t i = 0; !rc && i < peers.n; i++)
        if (!c.covered[i] && s_pushes(&peers.items[i]))
            rc = s_add(&c, (compact_hold_t) { 0 });
    peers_cfg_release(&peers);
    free(c.covered);
    free(c.bound);
    free(c.inbound);
    if (rc) {
        free(c.holds);
        return rc;
    }
    *holds = c.holds;
    *n = c.n;
    return 0;
}

static int
s_head(store_t *store, uint64_t *head, uint64_t *floor)
{
    MDB_txn *txn;
    int rc = store_read_begin(store, &txn);
    if (rc)
        return rc;
    store_meta_t meta;
    rc = store_meta_read(store, txn, &meta);
    mdb_txn_abort(txn);
    if (!rc) {
        *head = meta.wal_head;
        *floor = meta.wal_floor;
    }
    return rc;
}

//  Deletes below `below` in bounded steps.
static int
s_compact(sclient_t *storage, compact_result_t *r, char *why)
{
    while (r->floor < r->below) {
        uint64_t deleted = 0, floor = 0;
        int rc = sops_compact(storage, r->below, COMPACT_STEP, &deleted, &floor, why);
        if (rc)
            return rc;
        r->removed += deleted;
        if (floor <= r->floor && deleted == 0)
            break;                           // nothing moved: do not spin
        r->floor = floor;
        if (deleted < COMPACT_STEP)
            break;
    }
    return 0;
}

static int
s_purge(sclient_t *storage, uint64_t older_than_ms, compact_result_t *r, char *why)
{
    while (true) {
        uint64_t purged = 0;
        int rc = sops_purge(storage, older_than_ms, PURGE_STEP, &purged, why);
        if (rc)
            return rc;
        r->purged += purged;
        if (purged < PURGE_STEP)
            return 0;
    }
}

int
compact_run(const compact_opts_t *opts, sclient_t *storage, compact_result_t *out,
            char why[PDB_ERRMSG_MAX])
{
    memset(out, 0, sizeof *out);
    why[0] = '\0';
    const senv_t *env = opts->ctx->env;
    compact_hold_t *holds = NULL;
    size_t n = 0;
    uint64_t head = 0;
    int rc = compact_collect(opts, &holds, &n);
    if (!rc)
        rc = s_head(opts->ctx->store, &head, &out->floor);
    if (rc) {
        free(holds);
        snprintf(why, PDB_ERRMSG_MAX, "cannot read the store: %s", pdb_strerror(rc));
        return rc;
    }
    uint64_t now = env->wall_ms(env->ctx);
    out->below = compact_floor(holds, n, head, now, opts->peer_expiry_ms,
                               opts->started_wall_ms, &out->live);
    free(holds);
    rc = s_compact(storage, out, why);
    if (!rc && now > opts->tombstone_ttl_ms)
        rc = s_purge(storage, now - opts->tombstone_ttl_ms, out, why);
    return rc;
}

//  --------------------------------------------------------------------------
//  The thread

typedef struct {
    compact_opts_t opts;
    uint64_t interval_ms;
} s_args_t;

static void
s_log(const compact_result_t *r, int rc, const char *why, bool *unsupported_logged)
{
    if (rc == PDB_EPROTO && strstr(why, "unknown operation")) {
        if (!*unsupported_logged)
            log_w("syncer", "compaction unavailable: storage does not support it yet (%s)", why);
        *unsupported_logged = true;
        return;
    }
    if (rc) {
        log_w("syncer", "compaction failed rc=%d (%s) removed=%" PRIu64 " purged=%" PRIu64, rc,
              why[0] ? why : pdb_strerror(rc), r->removed, r->purged);
        return;
    }
    log_emit(r->removed || r->purged ? LOGL_INFO : LOGL_DEBUG, "syncer",
             "compaction done removed=%" PRIu64 " floor=%" PRIu64 " below=%" PRIu64
             " purged=%" PRIu64 " live_peers=%zu", r->removed, r->floor, r->below, r->purged,
             r->live);
}

static void
s_actor(zsock_t *pipe, void *arg)
{
    s_args_t args = *(s_args_t *) arg;
    free(arg);
    link_cancel_t cancel = { .pipe = pipe };
    sclient_t *storage = sclient_new(args.opts.ctx->storage_endpoint, COMPACT_STORAGE_TIMEOUT_MS);
    zsock_signal(pipe, 0);
    bool unsupported_logged = false;
    while (!link_cancel_wait(&cancel, (int64_t) args.interval_ms)) {
        if (!storage)
            continue;
        compact_result_t r;
        char why[PDB_ERRMSG_MAX];
        int rc = compact_run(&args.opts, storage, &r, why);
        s_log(&r, rc, why, &unsupported_logged);
    }
    sclient_destroy(&storage);
}

zactor_t *
compact_start(const compact_opts_t *opts, uint64_t interval_s)
{
    s_args_t *args = malloc(sizeof *args);
    if (!args)
        return NULL;
    *args = (s_args_t) { *opts, interval_s * 1000 };
    return zactor_new(s_actor, args);
}
