/*  apply.h - the convergence rules (DESIGN.md section 4), for local and
    remote changes alike: per-field last-writer-wins on (hlc, origin),
    grow-only per-instance counters, maximum timestamps, final tombstones,
    and the cascades of deletes. Order-independent and idempotent: replicas
    that applied the same set of changes hold byte-identical records.

    A STATE change (a whole entity, common/state.h) merges under the same
    rules with each field's own version from the state: new entities are
    created from the record, present ones merged field by field, and a
    tombstone deletes (and cascades) as a delete would.

    apply_change only changes entities; the caller appends the WAL and the
    version vector (see ingest.h).
*/
#ifndef PDB_APPLY_H
#define PDB_APPLY_H

#include "change.h"
#include "state.h"
#include "store.h"

//  What install learnt checking a STATE change before writing anything, so
//  that applying the same bytes need not work it out again: the largest
//  stamp inside (from ingest_stamp, drift bound passed) and the embedding
//  size its record passed state_check with (0: any).
typedef struct {
    uint64_t stamp;
    uint32_t dim;
} state_checked_t;

//  Applies c inside txn. Returns SPROTO_APPLIED when anything changed,
//  SPROTO_KNOWN when c was dominated or already here (nothing written),
//  PDB_EMISSINGDEP when it refers to an entity not here yet, PDB_EINVAL /
//  PDB_ETOOBIG (why filled) for a change that breaks the entity rules, or a
//  store error. On error the caller aborts the (nested) transaction.
int apply_change(store_t *store, MDB_txn *txn, const change_t *c, char why[PDB_ERRMSG_MAX]);

//  apply_change for a local write that local.c checked in this same
//  transaction (its collective or entity is live, its fields passed
//  entity_check as a client's, defaults and managed fields are storage's
//  own): those checks are not run again. Never for a peer's change.
int apply_change_local(store_t *store, MDB_txn *txn, const change_t *c,
                       char why[PDB_ERRMSG_MAX]);

//  Conflict policies for changes from peers (DESIGN.md section 4). lww is
//  the rule above. remote_wins / local_wins decide a field that this node
//  wrote last and a peer's change also sets, whatever their clocks: for
//  star topologies (clients remote_wins, the hub local_wins). In the order
//  of POLICY_NAMES (common/policy.h), which is how the configuration names
//  them.
typedef enum {
    POLICY_LWW = 0,
    POLICY_REMOTE_WINS,
    POLICY_LOCAL_WINS,
} merge_policy_t;

//  A policy's name ("lww", "remote_wins", "local_wins") -> 0 with *mode
//  set, or PDB_EINVAL (policy_parse's grammar, in storage's terms).
int apply_policy_parse(const char *name, merge_policy_t *mode);

typedef struct {
    pdb_id_t collective;
    merge_policy_t mode;
} apply_override_t;

typedef struct {
    merge_policy_t mode;      // the node's policy...
    const apply_override_t *overrides;   // ...unless the collective has its own
    size_t overrides_n;
    pdb_id_t self;            // this node: which stored versions are "local"
    uint64_t conflicts;       // raised once per field whose write was discarded
} apply_policy_t;

//  apply_change under a policy (NULL: lww); counts discarded writes in
//  policy->conflicts. For a STATE change whose record already passed
//  state_check with embedding size checked->dim (install checks a whole
//  page before writing any of it), the check is not repeated when the
//  collective here has that size, and is when it has another; checked may
//  be NULL.
int apply_state_checked(store_t *store, MDB_txn *txn, const change_t *c, apply_policy_t *policy,
                        const state_checked_t *checked, char why[PDB_ERRMSG_MAX]);


#endif
