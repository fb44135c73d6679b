/*  ingest.h - one change into the store: the convergence rules, then the
    WAL and the version vector, in the caller's transaction.

    The version vector keeps, per origin, the highest origin_seq applied or
    dominated here. Each origin's changes arrive in its order along any one
    unfiltered path, so the entry is a prefix: anything at or below it is
    known. A partial copy (change_t.partial: it came over a collective
    filter, here or on any earlier hop) is merged and logged with its mark
    kept, but moves no vector entry: the changes its filter skipped are not
    here, and a raised entry would make every peer skip them for us.
*/
#ifndef PDB_INGEST_H
#define PDB_INGEST_H

#include "apply.h"
#include "change.h"
#include "hlc.h"
#include "store.h"

typedef struct {
    store_t *store;
    pdb_id_t self;        // this node's instance id
    hlc_t *hlc;           // this node's clock (observes every remote stamp)
    merge_policy_t policy;    // how peers' writes meet ours (zero: lww)
    const apply_override_t *overrides;   // per-collective policies
    size_t overrides_n;
    uint64_t *conflicts;      // when set, raised by every discarded write
} ingest_t;

//  A change from a peer (a STATE change too: one that another node installed
//  and relays under its own origin). Returns SPROTO_APPLIED (applied and
//  appended with its origin, partial and source marks kept), SPROTO_KNOWN (already
//  seen or dominated: only the vector moves), PDB_EMISSINGDEP (nothing
//  written: retry later), or an error (abort the transaction). The vector
//  moves only for a whole copy (c->partial false), also when it was known.
//  A change naming this node as its origin is known only when it is what
//  this node wrote (the same change at its WAL seq origin_seq, the partial
//  mark aside, or one compacted away); any other is PDB_EINVAL (why says
//  "forged"): it would move this node's own vector entry.
int ingest_remote(const ingest_t *self, MDB_txn *txn, const change_t *c,
                  char why[PDB_ERRMSG_MAX]);

//  A local write that local.c has checked in this transaction (so its
//  fields and collective are not checked again): stamps c (origin, hlc,
//  origin_seq = its WAL seq), applies and appends it. c->seq holds the
//  sequence on return. Returns 0 or error.
int ingest_local(const ingest_t *self, MDB_txn *txn, change_t *c, uint64_t wall_ms,
                 char why[PDB_ERRMSG_MAX]);

//  A STATE change from a snapshot (services/syncer/snapshot.h), installed by this
//  node: its envelope only names the entity, so the version vector is not
//  consulted or moved. Merges it; when that changed anything, appends it to
//  the WAL as this node's own change (origin self, origin_seq its WAL seq,
//  a fresh stamp) so it relays to third nodes, which ingest it with
//  ingest_remote like any change. c->source (the snapshot's source, or nil)
//  is kept as the record's source mark: that instance holds the state
//  already, and peers never send it there. The clock observes every stamp
//  inside. checked, when not NULL, is what the caller learnt checking these
//  same bytes (install checks a whole page first): its stamp is taken as is
//  and the record's check is not repeated for the same embedding size.
//  Returns SPROTO_APPLIED, SPROTO_KNOWN, PDB_EMISSINGDEP (nothing written)
//  or an error (PDB_EINVAL with why for a bad state; abort the transaction).
int ingest_state(const ingest_t *self, MDB_txn *txn, const change_t *c,
                 const state_checked_t *checked, uint64_t wall_ms, char why[PDB_ERRMSG_MAX]);

//  The largest stamp a change carries: its hlc, or for a STATE change also
//  every version inside. PDB_EINVAL (why) when a STATE's fields are bad or a
//  stamp is beyond PDB_HLC_DRIFT_MAX_MS ahead of this node's clock.
int ingest_stamp(const change_t *c, uint64_t *stamp, char why[PDB_ERRMSG_MAX]);

//  Raises the version vector entry of origin to seq (never lowers it).
int ingest_raise_vector(const ingest_t *self, MDB_txn *txn, const pdb_id_t *origin,
                        uint64_t seq);

//  Persists the clock's high-water mark (once per commit).
int ingest_save_clock(const ingest_t *self, MDB_txn *txn);

#endif
