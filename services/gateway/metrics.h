/*  metrics.h - request counters and latencies kept with atomics (every
    connection thread records its own request), rendered on demand as
    Prometheus text together with node facts read from the store.
*/
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_VERSION "0.1.0"

typedef struct metrics metrics_t;

//  One sync peer's facts (from the peers database, see view_sync.h). A
//  fact the peer's row does not have yet is left out of the exposition.
typedef struct {
    uint64_t value;
    bool known;
} metrics_fact_t;

typedef struct {
    const char *name;              // borrowed
    const char *state;             // borrowed; NULL when the syncer has not run
    bool up;                       // state is not degraded
    metrics_fact_t lag_changes, lag_ms, failures, retries, conflicts, wal_held_back;
    metrics_fact_t last_success_ms;   // wall clock
    metrics_fact_t snapshot_done, snapshot_total;
} metrics_peer_t;

//  Storage's own counters (its "stats" request, sstats.h), asked for at
//  scrape time: how it commits, and what it did with peers' changes.
#define METRICS_COMMIT_BUCKETS_MAX 16
typedef struct {
    bool up;                       // storage answered
    uint64_t requests, failed, commits, writes, group_max, run_us, commit_us;
    uint64_t applied, known, missing, conflicts, installed, compacted, purged;
    size_t buckets_n;              // commits by duration, the last bound unbounded
    uint64_t bound_us[METRICS_COMMIT_BUCKETS_MAX];
    uint64_t commits_in[METRICS_COMMIT_BUCKETS_MAX];   // not cumulative
} metrics_storage_t;

//  Facts read at scrape time (from LMDB, the watch hub and storage).
typedef struct {
    bool store_ok;                 // false: the store could not be read
    uint64_t wal_head, wal_floor;
    uint64_t collectives, experiences, relations, insights;
    unsigned watch_streams;
    uint64_t storage_writes, storage_messages;   // sent by this gateway (smux.h, amux.h)
    metrics_storage_t storage;
    const metrics_peer_t *peers;   // borrowed; NULL when peers_n is 0
    size_t peers_n;
} metrics_node_t;

//  NULL when out of memory. Caller frees with metrics_destroy.
metrics_t *metrics_new(void);
void metrics_destroy(metrics_t **self_p);

//  Counts one reply with its HTTP status and handler time. Thread-safe.
void metrics_observe(metrics_t *self, unsigned status, uint64_t duration_us);

//  Prometheus text exposition (version 0.0.4). Caller frees the result
//  with free(); NULL when out of memory.
char *metrics_render(const metrics_t *self, const metrics_node_t *node, size_t *len);

#endif
