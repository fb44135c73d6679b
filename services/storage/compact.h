/*  compact.h - keeping the store from growing without bound: "compact"
    drops WAL entries every peer already holds, "purge" drops tombstones
    older than the tombstone TTL. Both run in bounded steps inside the
    group's transaction, so writers queued behind them never stall long;
    the syncer calls them again until nothing is left to do.
*/
#ifndef PDB_COMPACT_H
#define PDB_COMPACT_H

#include "mpk.h"
#include "stats.h"
#include "store.h"

#define COMPACT_STEP_MAX 100000u   // entries deleted by one call at most, whatever is
                                   // asked: bounds the time the group's transaction holds

//  "compact" [below_seq, max_entries]: deletes WAL entries with seq <
//  below_seq (never past the head), oldest first, at most max_entries
//  (capped at COMPACT_STEP_MAX). The head stays in meta, so sequences are
//  never reused. Packs [deleted, floor] (floor: the first sequence still
//  held, head + 1 when the log is empty). Returns 0, PDB_EINVAL with why, or
//  a store error.
int compact_wal(store_t *store, MDB_txn *txn, const msgpack_object *args, mpk_out_t *out,
                storage_stats_t *stats, char why[PDB_ERRMSG_MAX]);

//  "purge" [older_than_ms, max_entries]: drops tombstones whose stamp's
//  wall time is before older_than_ms, at most max_entries (capped at
//  COMPACT_STEP_MAX). Live entities are never touched. Packs [purged].
int compact_purge(store_t *store, MDB_txn *txn, const msgpack_object *args, mpk_out_t *out,
                  storage_stats_t *stats, char why[PDB_ERRMSG_MAX]);

#endif
