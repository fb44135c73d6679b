/*  ingest.h - one change into the store: the convergence rules, then the
    WAL and the version vector, in the caller's transaction.

    The version vector keeps, per origin, the highest origin_seq applied or
    dominated here. Each origin's changes arrive in its order along any one
    path, so the entry is a prefix: anything at or below it is known.
*/
#ifndef PDB_INGEST_H
#define PDB_INGEST_H

#include "change.h"
#include "hlc.h"
#include "store.h"

typedef struct {
    store_t *store;
    pdb_id_t self;        // this node's instance id
    hlc_t *hlc;           // this node's clock (observes every remote stamp)
} ingest_t;

//  A change from a peer. Returns SPROTO_APPLIED (applied and appended with
//  its origin kept), SPROTO_KNOWN (already seen or dominated: only the
//  vector moves), PDB_EMISSINGDEP (nothing written: retry later), or an
//  error (abort the transaction).
int ingest_remote(const ingest_t *self, MDB_txn *txn, const change_t *c,
                  char why[PDB_ERRMSG_MAX]);

//  A local write: stamps c (origin, hlc, origin_seq = its WAL seq), applies
//  and appends it. c->seq holds the sequence on return. Returns 0 or error.
int ingest_local(const ingest_t *self, MDB_txn *txn, change_t *c, uint64_t wall_ms,
                 char why[PDB_ERRMSG_MAX]);

//  Persists the clock's high-water mark (once per commit).
int ingest_save_clock(const ingest_t *self, MDB_txn *txn);

#endif
