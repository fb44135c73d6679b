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

//  Facts read at scrape time (from LMDB and the watch hub).
typedef struct {
    bool store_ok;                 // false: the store could not be read
    uint64_t wal_head, wal_floor;
    uint64_t collectives, experiences, relations, insights;
    unsigned watch_streams;
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
