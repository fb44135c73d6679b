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

//  Assigns c->seq = head + 1 and appends c. For a local change the caller
//  sets origin_seq to the same value first (see ingest). Returns 0 or a code.
int wal_append(store_t *store, MDB_txn *txn, change_t *c);

#endif
