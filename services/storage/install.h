/*  install.h - "install": pages of a peer's snapshot (services/syncer/snapshot.h)
    merged into this node. Every entity of a page is checked before any is
    written, and a page is installed in one transaction with, on its last
    page, the peer's pull cursor and this node's version vector, so a crash
    can neither lose nor half-apply a page.
*/
#ifndef PDB_INSTALL_H
#define PDB_INSTALL_H

#include "ingest.h"
#include "mpk.h"
#include "stats.h"

//  args: [peer name ("" for none), [bin(state change), ...], done,
//  snapshot_seq, vector {bin(origin): seq}, bin(source)?]. Merges each
//  entity (see ingest_state); those that changed anything are appended to
//  the WAL as this node's own changes, marked with source (the instance
//  the snapshot came from) when given, so they are never sent back there.
//  When done: the peer's pull cursor is raised to
//  snapshot_seq and each vector entry (but this node's own: it alone
//  numbers its changes) is raised to the given seq.
//  Packs [installed, wal_head]. Returns 0, PDB_EINVAL / PDB_ETOOBIG with why
//  for bad arguments or a malformed entity, PDB_EMISSINGDEP with why when an
//  entity's collective (or a relation's experience) is neither here nor
//  earlier in the page, or a store error; the caller aborts txn on any.
int install_run(const ingest_t *ingest, MDB_txn *txn, const msgpack_object *args,
                uint64_t wall_ms, mpk_out_t *out, storage_stats_t *stats,
                char why[PDB_ERRMSG_MAX]);

#endif
