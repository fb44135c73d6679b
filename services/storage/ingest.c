#include "ingest.h"
#include "apply.h"
#include "bounds.h"
#include "clock.h"
#include "mpk.h"
#include "sproto.h"
#include "state.h"
#include "store_db.h"
#include "wal.h"

#include <stdio.h>
#include <string.h>

static int
s_raise_origin(store_t *store, MDB_txn *txn, const pdb_id_t *origin, uint64_t seq)
{
    uint64_t known;
    int rc = store_origin_seq(store, txn, origin, &known);
    if (rc || seq <= known)
        return rc;
    MDB_val key = { PDB_ID_LEN, (void *) origin->b }, val = { sizeof seq, &seq };
    return pdb_from_mdb(mdb_put(txn, store->origins, &key, &val, 0));
}

int
ingest_raise_vector(const ingest_t *self, MDB_txn *txn, const pdb_id_t *origin, uint64_t seq)
{
    return s_raise_origin(self->store, txn, origin, seq);
}

int
ingest_stamp(const change_t *c, uint64_t *stamp, char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    *stamp = c->hlc;
    if (c->op == OP_STATE) {
        msgpack_unpacked u;
        if (mpk_parse(c->fields, c->fields_len, &u)) {
            snprintf(why, PDB_ERRMSG_MAX, "state fields do not decode");
            return PDB_EINVAL;
        }
        state_t st;
        int rc = state_read(c->entity, &u.data, &st, why);
        msgpack_unpacked_destroy(&u);
        if (rc)
            return rc;
        if (st.max_hlc > *stamp)
            *stamp = st.max_hlc;
    }
    if (hlc_wall_ms(*stamp) > clock_wall_ms() + PDB_HLC_DRIFT_MAX_MS) {
        snprintf(why, PDB_ERRMSG_MAX, "clock stamp is more than %llu ms ahead of this node",
                 (unsigned long long) PDB_HLC_DRIFT_MAX_MS);
        return PDB_EINVAL;
    }
    return 0;
}

//  A peer's change under this node's conflict policy, counting conflicts.
//  checked: see ingest_state (NULL: check everything).
static int
s_apply_remote(const ingest_t *self, MDB_txn *txn, const change_t *c,
               const state_checked_t *checked, char *why)
{
    apply_policy_t policy = { self->policy, self->overrides, self->overrides_n, self->self, 0 };
    int rc = apply_state_checked(self->store, txn, c, &policy, checked, why);
    if (rc >= 0 && self->conflicts)
        *self->conflicts += policy.conflicts;
    return rc;
}

//  Everything of an echoed change but its envelope (the sender's seq, and
//  the partial mark a filtered relay may have added) matches what was
//  written: no peer can alter a change on its way.
static bool
s_same_change(const change_t *a, const change_t *b)
{
    return pdb_id_cmp(&a->origin, &b->origin) == 0 && a->origin_seq == b->origin_seq
        && a->hlc == b->hlc && a->entity == b->entity && a->op == b->op
        && pdb_id_cmp(&a->collective_id, &b->collective_id) == 0
        && pdb_id_cmp(&a->entity_id, &b->entity_id) == 0
        && pdb_id_cmp(&a->source, &b->source) == 0 && a->fields_len == b->fields_len
        && (a->fields_len == 0 || memcmp(a->fields, b->fields, a->fields_len) == 0);
}

//  A change naming this node as its origin. This node numbers its own
//  changes 1, 2, 3, ... (its vector entry is the last) and indexes where
//  each sits in its WAL; one it never wrote (beyond what it wrote, or
//  differing from what it wrote there) would move its own vector entry or
//  collide with a later local write: refused, nothing applied. What it
//  really wrote comes back as an echo or a relay: known. An entry compacted
//  away (or written before the index) cannot be compared; nothing is
//  applied either way.
static int
s_own_origin(const ingest_t *self, MDB_txn *txn, const change_t *c, uint64_t known, char *why)
{
    if (c->origin_seq > known) {
        snprintf(why, PDB_ERRMSG_MAX, "change names this node as its origin with origin_seq "
                 "%llu, but this node wrote only through %llu: refused as forged",
                 (unsigned long long) c->origin_seq, (unsigned long long) known);
        return PDB_EINVAL;
    }
    uint64_t seq;
    int rc = wal_own_seq(self->store, txn, c->origin_seq, &seq);
    if (rc == PDB_ENOTFOUND)
        return SPROTO_KNOWN;
    uint8_t kbuf[8];
    store_key_seq(kbuf, seq);
    MDB_val key = { sizeof kbuf, kbuf }, val;
    if (!rc)
        rc = pdb_from_mdb(mdb_get(txn, self->store->wal, &key, &val));
    if (rc == PDB_ENOTFOUND)
        return SPROTO_KNOWN;
    if (rc)
        return rc;
    change_t wrote;
    if (change_decode(val.mv_data, val.mv_size, &wrote) != 0)
        return PDB_ECORRUPT;
    if (!s_same_change(c, &wrote)) {
        snprintf(why, PDB_ERRMSG_MAX, "change names this node as its origin with origin_seq "
                 "%llu, but differs from what this node wrote there: refused as forged",
                 (unsigned long long) c->origin_seq);
        return PDB_EINVAL;
    }
    return SPROTO_KNOWN;
}

int
ingest_remote(const ingest_t *self, MDB_txn *txn, const change_t *c, char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    uint64_t known;
    int rc = store_origin_seq(self->store, txn, &c->origin, &known);
    if (rc)
        return rc;
    if (pdb_id_cmp(&c->origin, &self->self) == 0)
        return s_own_origin(self, txn, c, known, why);
    if (c->origin_seq <= known)
        return SPROTO_KNOWN;
    //  A whole copy continues its origin's sequence exactly: one past the
    //  entry would make the entry claim the changes in between, and this
    //  node would skip them for ever. It waits for them (a sender that
    //  cannot send them marks such a change partial; docs/sync-protocol.md).
    if (!c->partial && c->origin_seq != known + 1) {
        snprintf(why, PDB_ERRMSG_MAX, "whole copy of origin_seq %llu skips its origin's "
                 "changes %llu..%llu: held back until they arrive",
                 (unsigned long long) c->origin_seq, (unsigned long long) known + 1,
                 (unsigned long long) c->origin_seq - 1);
        return PDB_EMISSINGDEP;
    }
    uint64_t stamp;
    rc = ingest_stamp(c, &stamp, why);
    if (rc)
        return rc;
    //  A relayed state's stamps inside are observed too: a later local
    //  write must beat every version stored here.
    hlc_observe(self->hlc, stamp);
    rc = s_apply_remote(self, txn, c, NULL, why);
    //  Logged when it changed something, and always when whole (it raises
    //  the vector below): what this node relays of an origin is then that
    //  origin's sequence without holes, also where a change lost here.
    if (rc == SPROTO_APPLIED || (rc == SPROTO_KNOWN && !c->partial)) {
        change_t relayed = *c;     // keeps origin, origin_seq, hlc, partial and source marks
        int wrc = wal_append(self->store, txn, &relayed);
        if (wrc)
            return wrc;
    }
    //  A partial copy says nothing of the origin's changes its filter
    //  skipped: raising the entry would claim them. A whole copy raises it
    //  even when known, which is how an earlier partial copy gets covered.
    if (!c->partial && (rc == SPROTO_APPLIED || rc == SPROTO_KNOWN)) {
        int vrc = s_raise_origin(self->store, txn, &c->origin, c->origin_seq);
        if (vrc)
            return vrc;
    }
    return rc;
}

int
ingest_local(const ingest_t *self, MDB_txn *txn, change_t *c, uint64_t wall_ms,
             char why[PDB_ERRMSG_MAX])
{
    uint64_t mine;
    int rc = store_origin_seq(self->store, txn, &self->self, &mine);
    if (rc)
        return rc;
    c->origin = self->self;
    c->origin_seq = mine + 1;
    c->hlc = hlc_tick(self->hlc, wall_ms);
    //  local.c checked the write in this transaction: not checked again.
    rc = apply_change_local(self->store, txn, c, why);
    if (rc == SPROTO_KNOWN || rc == PDB_EMISSINGDEP) {
        //  A fresh local stamp beats everything stored, so this means the
        //  entity (or its collective) is gone or not here.
        snprintf(why, PDB_ERRMSG_MAX, "%s not found", entity_type_name(c->entity));
        return PDB_ENOTFOUND;
    }
    if (rc != SPROTO_APPLIED)
        return rc;
    rc = wal_append_own(self->store, txn, c);
    if (!rc)
        rc = s_raise_origin(self->store, txn, &c->origin, c->origin_seq);
    return rc;
}

int
ingest_state(const ingest_t *self, MDB_txn *txn, const change_t *c,
             const state_checked_t *checked, uint64_t wall_ms, char why[PDB_ERRMSG_MAX])
{
    if (c->op != OP_STATE) {
        snprintf(why, PDB_ERRMSG_MAX, "not a state change");
        return PDB_EINVAL;
    }
    uint64_t stamp = checked ? checked->stamp : 0;
    int rc = checked ? 0 : ingest_stamp(c, &stamp, why);
    if (rc)
        return rc;
    hlc_observe(self->hlc, stamp);
    rc = s_apply_remote(self, txn, c, checked, why);
    if (rc != SPROTO_APPLIED)
        return rc;
    //  Relayed as our own change: the snapshot's envelope (a position in
    //  the sender's stream) means nothing to third nodes' vectors.
    uint64_t mine;
    rc = store_origin_seq(self->store, txn, &self->self, &mine);
    if (rc)
        return rc;
    change_t own = *c;
    own.partial = false;           // our own change: every node may count it
                                   // own.source stays: the snapshot's source has it
    own.origin = self->self;
    own.origin_seq = mine + 1;
    own.hlc = hlc_tick(self->hlc, wall_ms);
    rc = wal_append_own(self->store, txn, &own);
    if (!rc)
        rc = s_raise_origin(self->store, txn, &own.origin, own.origin_seq);
    return rc ? rc : SPROTO_APPLIED;
}

int
ingest_save_clock(const ingest_t *self, MDB_txn *txn)
{
    static const char name[] = STORE_META_HLC;
    MDB_val key = { sizeof name - 1, (void *) name };
    MDB_val val = { sizeof self->hlc->last, &self->hlc->last };
    return pdb_from_mdb(mdb_put(txn, self->store->meta, &key, &val, 0));
}
