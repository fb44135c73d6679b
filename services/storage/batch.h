/*  batch.h - "apply": a batch of remote changes and the peer's new pull
    cursor, in one transaction, so a crash can neither lose nor repeat a
    batch's effect. The whole batch is checked before anything is written;
    a malformed change refuses it whole. A change whose dependency has not
    arrived stops the batch there: it and everything after it stay
    unacknowledged and the cursor stops just before it.
*/
#ifndef PDB_BATCH_H
#define PDB_BATCH_H

#include "ingest.h"
#include "mpk.h"
#include "stats.h"

//  args: [peer name ("" for none), peer cursor, [bin(change), ...], partial?].
//  partial (optional, false when absent): the batch came over a collective
//  filter, so every change in it is ingested as a partial copy (ingest.h).
//  Packs [[result per change], wal_head] into out. Returns 0 or PDB_EINVAL /
//  PDB_ETOOBIG with why, or a store error.
int batch_apply(const ingest_t *ingest, MDB_txn *txn, const msgpack_object *args,
                mpk_out_t *out, storage_stats_t *stats, char why[PDB_ERRMSG_MAX]);

#endif
