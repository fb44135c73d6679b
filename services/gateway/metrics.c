#include "metrics.h"
#include "vec.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define METRICS_STATUS_MIN 100
#define METRICS_STATUS_MAX 599

//  Upper bounds of the latency buckets, in microseconds: 1 ms .. 10 s,
//  roughly 2.5x apart, covering a cached read up to a storage timeout.
static const uint64_t s_bounds_us[] = {
    1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000,
};
#define METRICS_BUCKETS (sizeof s_bounds_us / sizeof s_bounds_us[0])

struct metrics {
    atomic_uint_fast64_t by_status[METRICS_STATUS_MAX - METRICS_STATUS_MIN + 1];
    atomic_uint_fast64_t buckets[METRICS_BUCKETS];   // not cumulative; summed on render
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_us;
    time_t started;
};

metrics_t *
metrics_new(void)
{
    metrics_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    for (size_t i = 0; i < sizeof self->by_status / sizeof self->by_status[0]; i++)
        atomic_init(&self->by_status[i], 0);
    for (size_t i = 0; i < METRICS_BUCKETS; i++)
        atomic_init(&self->buckets[i], 0);
    atomic_init(&self->count, 0);
    atomic_init(&self->sum_us, 0);
    self->started = time(NULL);
    return self;
}

void
metrics_destroy(metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

void
metrics_observe(metrics_t *self, unsigned status, uint64_t duration_us)
{
    if (status >= METRICS_STATUS_MIN && status <= METRICS_STATUS_MAX)
        atomic_fetch_add_explicit(&self->by_status[status - METRICS_STATUS_MIN], 1,
                                  memory_order_relaxed);
    for (size_t i = 0; i < METRICS_BUCKETS; i++)
        if (duration_us <= s_bounds_us[i]) {
            atomic_fetch_add_explicit(&self->buckets[i], 1, memory_order_relaxed);
            break;
        }
    atomic_fetch_add_explicit(&self->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&self->sum_us, duration_us, memory_order_relaxed);
}

static void
s_render_requests(const metrics_t *self, FILE *out)
{
    fprintf(out, "# HELP pulsedb_http_requests_total HTTP replies by status code.\n"
                 "# TYPE pulsedb_http_requests_total counter\n");
    for (unsigned s = METRICS_STATUS_MIN; s <= METRICS_STATUS_MAX; s++) {
        uint64_t n = atomic_load_explicit(&self->by_status[s - METRICS_STATUS_MIN],
                                          memory_order_relaxed);
        if (n)
            fprintf(out, "pulsedb_http_requests_total{code=\"%u\"} %llu\n", s,
                    (unsigned long long) n);
    }
    fprintf(out, "# HELP pulsedb_http_request_duration_seconds Handler time per request.\n"
                 "# TYPE pulsedb_http_request_duration_seconds histogram\n");
    uint64_t cumulative = 0;
    for (size_t i = 0; i < METRICS_BUCKETS; i++) {
        cumulative += atomic_load_explicit(&self->buckets[i], memory_order_relaxed);
        fprintf(out, "pulsedb_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                (double) s_bounds_us[i] / 1e6, (unsigned long long) cumulative);
    }
    uint64_t count = atomic_load_explicit(&self->count, memory_order_relaxed);
    uint64_t sum_us = atomic_load_explicit(&self->sum_us, memory_order_relaxed);
    fprintf(out, "pulsedb_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
                 "pulsedb_http_request_duration_seconds_sum %.6f\n"
                 "pulsedb_http_request_duration_seconds_count %llu\n",
            (unsigned long long) count, (double) sum_us / 1e6, (unsigned long long) count);
}

static void
s_render_node(const metrics_node_t *node, FILE *out)
{
    fprintf(out, "# HELP pulsedb_store_up 1 when the gateway can read the store.\n"
                 "# TYPE pulsedb_store_up gauge\npulsedb_store_up %d\n", node->store_ok ? 1 : 0);
    if (!node->store_ok)
        return;
    fprintf(out, "# HELP pulsedb_wal_head Last local WAL sequence.\n"
                 "# TYPE pulsedb_wal_head gauge\npulsedb_wal_head %llu\n"
                 "# HELP pulsedb_wal_floor First WAL sequence still held.\n"
                 "# TYPE pulsedb_wal_floor gauge\npulsedb_wal_floor %llu\n",
            (unsigned long long) node->wal_head, (unsigned long long) node->wal_floor);
    fprintf(out, "# HELP pulsedb_entities Live entities by type.\n"
                 "# TYPE pulsedb_entities gauge\n"
                 "pulsedb_entities{type=\"collective\"} %llu\n"
                 "pulsedb_entities{type=\"experience\"} %llu\n"
                 "pulsedb_entities{type=\"relation\"} %llu\n"
                 "pulsedb_entities{type=\"insight\"} %llu\n",
            (unsigned long long) node->collectives, (unsigned long long) node->experiences,
            (unsigned long long) node->relations, (unsigned long long) node->insights);
}

//  A label value with \\, " and newlines escaped, as the text format requires.
static void
s_label_value(FILE *out, const char *value)
{
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
}

//  One gauge per fact; a peer without the fact has no sample.
static const struct {
    const char *name;
    const char *help;
    size_t offset;                 // of its metrics_fact_t in metrics_peer_t
} s_peer_series[] = {
    { "pulsedb_sync_peer_lag_changes", "Changes between this node and the peer not yet synced.",
      offsetof(metrics_peer_t, lag_changes) },
    { "pulsedb_sync_peer_lag_ms",
      "Age of the oldest change the peer (push) or this node (pull) lacks, in ms.",
      offsetof(metrics_peer_t, lag_ms) },
    { "pulsedb_sync_peer_failures", "Consecutive failed sync attempts with the peer.",
      offsetof(metrics_peer_t, failures) },
    { "pulsedb_sync_peer_retries", "Retries of failed sync attempts with the peer, in all.",
      offsetof(metrics_peer_t, retries) },
    { "pulsedb_sync_peer_conflicts", "Changes from the peer that met a concurrent local write.",
      offsetof(metrics_peer_t, conflicts) },
    { "pulsedb_sync_peer_wal_held_back", "WAL entries kept until the peer has them.",
      offsetof(metrics_peer_t, wal_held_back) },
    { "pulsedb_sync_peer_last_success_ms", "Wall clock of the last good exchange, Unix ms.",
      offsetof(metrics_peer_t, last_success_ms) },
    { "pulsedb_sync_peer_snapshot_done", "Entities moved by the peer's initial sync.",
      offsetof(metrics_peer_t, snapshot_done) },
    { "pulsedb_sync_peer_snapshot_total", "Entities the peer's initial sync moves in all.",
      offsetof(metrics_peer_t, snapshot_total) },
};

static void
s_peer_sample(FILE *out, const char *series, const metrics_peer_t *peer, const char *state,
              unsigned long long value)
{
    fprintf(out, "%s{peer=\"", series);
    s_label_value(out, peer->name);
    if (state) {
        fputs("\",state=\"", out);
        s_label_value(out, state);
    }
    fprintf(out, "\"} %llu\n", value);
}

static void
s_render_peers(const metrics_node_t *node, FILE *out)
{
    fprintf(out, "# HELP pulsedb_sync_peers Outbound sync peers (configured or added).\n"
                 "# TYPE pulsedb_sync_peers gauge\npulsedb_sync_peers %zu\n", node->peers_n);
    fputs("# HELP pulsedb_sync_peer_up 1 unless the sync peer is degraded (failing "
          "repeatedly).\n# TYPE pulsedb_sync_peer_up gauge\n", out);
    for (size_t i = 0; i < node->peers_n; i++)
        s_peer_sample(out, "pulsedb_sync_peer_up", &node->peers[i], NULL, node->peers[i].up);
    fputs("# HELP pulsedb_sync_peer_state The peer's sync state (idle, syncing, snapshot, "
          "degraded, ...), as a label.\n# TYPE pulsedb_sync_peer_state gauge\n", out);
    for (size_t i = 0; i < node->peers_n; i++)
        if (node->peers[i].state)
            s_peer_sample(out, "pulsedb_sync_peer_state", &node->peers[i],
                          node->peers[i].state, 1);
    for (size_t s = 0; s < sizeof s_peer_series / sizeof s_peer_series[0]; s++) {
        fprintf(out, "# HELP %s %s\n# TYPE %s gauge\n", s_peer_series[s].name,
                s_peer_series[s].help, s_peer_series[s].name);
        for (size_t i = 0; i < node->peers_n; i++) {
            const metrics_fact_t *fact = (const metrics_fact_t *)
                ((const char *) &node->peers[i] + s_peer_series[s].offset);
            if (fact->known)
                s_peer_sample(out, s_peer_series[s].name, &node->peers[i], NULL,
                              (unsigned long long) fact->value);
        }
    }
}

//  Storage's counters, one series each (offset of the value in
//  metrics_storage_t).
static const struct {
    const char *name;
    const char *help;
    size_t offset;
} s_storage_series[] = {
    { "pulsedb_storage_requests_total", "Requests storage answered.",
      offsetof(metrics_storage_t, requests) },
    { "pulsedb_storage_failed_total", "Requests storage answered with an error.",
      offsetof(metrics_storage_t, failed) },
    { "pulsedb_storage_commits_total", "Write transactions committed, each made durable on disk.",
      offsetof(metrics_storage_t, commits) },
    { "pulsedb_storage_committed_writes_total",
      "Write requests committed (commits_total of them at a time).",
      offsetof(metrics_storage_t, writes) },
    { "pulsedb_storage_applied_total", "Changes from peers applied.",
      offsetof(metrics_storage_t, applied) },
    { "pulsedb_storage_known_total", "Changes from peers already known or superseded.",
      offsetof(metrics_storage_t, known) },
    { "pulsedb_storage_missing_total", "Changes from peers held back for a missing parent.",
      offsetof(metrics_storage_t, missing) },
    { "pulsedb_storage_conflicts_total",
      "Fields of peers' changes discarded by the conflict policy.",
      offsetof(metrics_storage_t, conflicts) },
    { "pulsedb_storage_installed_total", "Snapshot entities that changed this node.",
      offsetof(metrics_storage_t, installed) },
    { "pulsedb_storage_compacted_total", "WAL entries deleted by compaction.",
      offsetof(metrics_storage_t, compacted) },
    { "pulsedb_storage_purged_total", "Old tombstones dropped.",
      offsetof(metrics_storage_t, purged) },
};

static void
s_render_storage(const metrics_storage_t *st, FILE *out)
{
    fprintf(out, "# HELP pulsedb_storage_up 1 when storage answered this scrape.\n"
                 "# TYPE pulsedb_storage_up gauge\npulsedb_storage_up %d\n", st->up ? 1 : 0);
    if (!st->up)
        return;
    for (size_t s = 0; s < sizeof s_storage_series / sizeof s_storage_series[0]; s++) {
        const uint64_t *value = (const uint64_t *)
            ((const char *) st + s_storage_series[s].offset);
        fprintf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", s_storage_series[s].name,
                s_storage_series[s].help, s_storage_series[s].name, s_storage_series[s].name,
                (unsigned long long) *value);
    }
    fprintf(out, "# HELP pulsedb_storage_group_max Most requests committed at once.\n"
                 "# TYPE pulsedb_storage_group_max gauge\npulsedb_storage_group_max %llu\n"
                 "# HELP pulsedb_storage_run_seconds_total Time running the requests of "
                 "committed groups, before their commits.\n"
                 "# TYPE pulsedb_storage_run_seconds_total counter\n"
                 "pulsedb_storage_run_seconds_total %.6f\n"
                 "# HELP pulsedb_storage_commit_duration_seconds Time per commit: writing "
                 "pages and syncing them.\n"
                 "# TYPE pulsedb_storage_commit_duration_seconds histogram\n",
            (unsigned long long) st->group_max, (double) st->run_us / 1e6);
    uint64_t cumulative = 0;
    for (size_t i = 0; i + 1 < st->buckets_n; i++) {
        cumulative += st->commits_in[i];
        fprintf(out, "pulsedb_storage_commit_duration_seconds_bucket{le=\"%g\"} %llu\n",
                (double) st->bound_us[i] / 1e6, (unsigned long long) cumulative);
    }
    //  +Inf counts every commit, so the histogram agrees with commits_total.
    fprintf(out, "pulsedb_storage_commit_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
                 "pulsedb_storage_commit_duration_seconds_sum %.6f\n"
                 "pulsedb_storage_commit_duration_seconds_count %llu\n",
            (unsigned long long) st->commits, (double) st->commit_us / 1e6,
            (unsigned long long) st->commits);
}

char *
metrics_render(const metrics_t *self, const metrics_node_t *node, size_t *len)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (!out)
        return NULL;
    fprintf(out, "# HELP pulsedb_gateway_info Gateway build and process.\n"
                 "# TYPE pulsedb_gateway_info gauge\n"
                 "pulsedb_gateway_info{version=\"%s\",pid=\"%ld\",vector_isa=\"%s\"} 1\n"
                 "# HELP pulsedb_gateway_start_time_seconds Process start, Unix time.\n"
                 "# TYPE pulsedb_gateway_start_time_seconds gauge\n"
                 "pulsedb_gateway_start_time_seconds %lld\n"
                 "# HELP pulsedb_watch_streams Open change streams.\n"
                 "# TYPE pulsedb_watch_streams gauge\npulsedb_watch_streams %u\n"
                 "# HELP pulsedb_gateway_storage_writes_total Writes sent to storage.\n"
                 "# TYPE pulsedb_gateway_storage_writes_total counter\n"
                 "pulsedb_gateway_storage_writes_total %llu\n"
                 "# HELP pulsedb_gateway_storage_messages_total Messages that carried them "
                 "(writes that arrive together share one).\n"
                 "# TYPE pulsedb_gateway_storage_messages_total counter\n"
                 "pulsedb_gateway_storage_messages_total %llu\n",
            GW_VERSION, (long) getpid(), vec_isa(), (long long) self->started,
            node->watch_streams, (unsigned long long) node->storage_writes,
            (unsigned long long) node->storage_messages);
    s_render_requests(self, out);
    s_render_node(node, out);
    s_render_storage(&node->storage, out);
    if (node->store_ok)
        s_render_peers(node, out);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    *len = size;
    return text;
}
