/*  wal.h - the change log: u64 big-endian sequence -> encoded change, the
    same bytes peers receive. Appended in the transaction that applies the
    change, so the log and the data never disagree.
*/
#ifndef PDB_WAL_H
#define PDB_WAL_H

#include "change.h"
#include "store.h"

//  The last sequence ever appended (kept in meta, so compaction emptying the
//  log never reuses a sequence).
int wal_head(store_t *store, MDB_txn *txn, uint64_t *head);

//  A new store's empty log: head 0.
int wal_init(store_t *store, MDB_txn *txn);

//  Assigns c->seq = head + 1 and appends c. Returns 0 or a code.
int wal_append(store_t *store, MDB_txn *txn, change_t *c);

//  Appends a change this node made (its origin is this node, its origin_seq
//  the next of this node's own, which are numbered 1, 2, 3, ... apart from
//  the WAL's sequence) and indexes origin_seq -> seq in own_changes, so what
//  this node wrote under an origin_seq can be found again.
int wal_append_own(store_t *store, MDB_txn *txn, change_t *c);

//  The WAL sequence of this node's own change origin_seq: 0, or
//  PDB_ENOTFOUND when it is not indexed (compacted away, or written
//  before the index existed).
int wal_own_seq(store_t *store, MDB_txn *txn, uint64_t origin_seq, uint64_t *seq);

//  Deletes WAL entries with seq < below (never past the head), oldest
//  first, at most max, and the own_changes entries that index them. The
//  head stays in meta, so sequences are never reused. Returns 0 or a code.
typedef struct {
    uint64_t deleted;
    uint64_t floor;              // the first sequence still held (head + 1 when empty)
    uint64_t head;
} wal_trim_t;

int wal_trim(store_t *store, MDB_txn *txn, uint64_t below, uint64_t max, wal_trim_t *out);

#endif
