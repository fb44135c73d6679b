/*  stats.h - the storage process's counters, reported by "stats". */
#ifndef PDB_STATS_H
#define PDB_STATS_H

#include <stdint.h>

typedef struct {
    uint64_t requests;       // requests answered
    uint64_t commits;        // write transactions committed (one fsync each)
    uint64_t group_max;      // largest group committed at once
    uint64_t applied;        // remote changes applied
    uint64_t known;          // remote changes already known or dominated
    uint64_t missing;        // remote changes held back on a missing dependency
    uint64_t failed;         // requests answered with an error
    uint64_t conflicts;      // peers' field writes discarded by the conflict policy
    uint64_t installed;      // snapshot entities that changed this node
    uint64_t compacted;      // WAL entries deleted by compaction
    uint64_t purged;         // old tombstones dropped
} storage_stats_t;

#endif
