#include "sstats.h"
#include "log.h"
#include "mpk.h"

#include <string.h>

//  A counter of the reply; one that storage does not report (an older
//  build) stays 0.
static int
s_counter(const msgpack_object *map, const char *name, uint64_t *out)
{
    const msgpack_object *v = mpk_map_get(map, name);
    return v ? mpk_get_u64(v, out) : 0;
}

//  [[bound µs or nil, commits], ...], the unbounded bucket last.
static int
s_buckets(const msgpack_object *list, metrics_storage_t *out)
{
    if (list->type != MSGPACK_OBJECT_ARRAY || list->via.array.size == 0
        || list->via.array.size > METRICS_COMMIT_BUCKETS_MAX)
        return PDB_EPROTO;
    uint32_t n = list->via.array.size;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *pair = &list->via.array.ptr[i];
        if (pair->type != MSGPACK_OBJECT_ARRAY || pair->via.array.size != 2
            || mpk_get_u64(&pair->via.array.ptr[1], &out->commits_in[i]))
            return PDB_EPROTO;
        const msgpack_object *bound = &pair->via.array.ptr[0];
        bool last = i + 1 == n;
        if (last ? bound->type != MSGPACK_OBJECT_NIL
                 : mpk_get_u64(bound, &out->bound_us[i])
                   || (i > 0 && out->bound_us[i] <= out->bound_us[i - 1]))
            return PDB_EPROTO;
    }
    out->buckets_n = n;
    return 0;
}

static int
s_read(const msgpack_object *result, void *arg)
{
    metrics_storage_t *out = arg;
    if (result->type != MSGPACK_OBJECT_MAP)
        return PDB_EPROTO;
    const struct { const char *name; uint64_t *value; } counters[] = {
        { "requests", &out->requests }, { "failed", &out->failed },
        { "commits", &out->commits }, { "writes", &out->writes },
        { "group_max", &out->group_max }, { "run_us", &out->run_us },
        { "commit_us", &out->commit_us }, { "applied", &out->applied },
        { "known", &out->known }, { "missing", &out->missing },
        { "conflicts", &out->conflicts }, { "installed", &out->installed },
        { "compacted", &out->compacted }, { "purged", &out->purged },
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        if (s_counter(result, counters[i].name, counters[i].value))
            return PDB_EPROTO;
    const msgpack_object *buckets = mpk_map_get(result, "commit_buckets");
    return buckets ? s_buckets(buckets, out) : 0;
}

void
sstats_fetch(smux_t *mux, metrics_storage_t *out)
{
    memset(out, 0, sizeof *out);
    mpk_out_t args;
    mpk_out_init(&args);
    mpk_pack_array(&args.pk, 0);
    char why[PDB_ERRMSG_MAX] = "";
    int rc = smux_call(mux, "stats", &args, s_read, out, why);
    if (rc) {
        log_w("gateway", "metrics: storage's counters unavailable rc=%d (%s)", rc,
              why[0] ? why : pdb_strerror(rc));
        memset(out, 0, sizeof *out);
        return;
    }
    out->up = true;
}
