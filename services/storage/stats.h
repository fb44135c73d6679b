/*  stats.h - the storage process's counters, reported by "stats". Besides
    counts, how long the writer spends on each group: running its requests
    and committing them (the commit is the fsyncs), so an operator can tell
    a slow disk from a busy writer.
*/
#ifndef PDB_STATS_H
#define PDB_STATS_H

#include <stddef.h>
#include <stdint.h>

//  Commits by duration: one more bucket than bounds, the last unbounded.
#define STORAGE_COMMIT_BOUNDS 12

typedef struct {
    uint64_t requests;       // requests answered
    uint64_t commits;        // write transactions committed (one fsync each)
    uint64_t group_max;      // largest group committed at once
    uint64_t writes;         // requests that wrote, in the groups committed
    uint64_t run_us;         // time running those groups' requests
    uint64_t commit_us;      // time in their commits
    uint64_t commit_buckets[STORAGE_COMMIT_BOUNDS + 1];   // not cumulative
    uint64_t applied;        // remote changes applied
    uint64_t known;          // remote changes already known or dominated
    uint64_t missing;        // remote changes held back on a missing dependency
    uint64_t failed;         // requests answered with an error
    uint64_t conflicts;      // peers' field writes discarded by the conflict policy
    uint64_t installed;      // snapshot entities that changed this node
    uint64_t compacted;      // WAL entries deleted by compaction
    uint64_t purged;         // old tombstones dropped
} storage_stats_t;

//  The upper bound of commit bucket i < STORAGE_COMMIT_BOUNDS, in
//  microseconds: 250 µs to 10 s.
uint64_t storage_commit_bound_us(size_t i);

//  Counts one committed group: `writes` requests that wrote, run_us spent
//  running the group's requests and commit_us committing it.
void storage_stats_commit(storage_stats_t *self, size_t writes, uint64_t run_us,
                          uint64_t commit_us);

#endif
