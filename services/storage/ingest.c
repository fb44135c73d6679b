#include "ingest.h"
#include "apply.h"
#include "bounds.h"
#include "clock.h"
#include "sproto.h"
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
ingest_remote(const ingest_t *self, MDB_txn *txn, const change_t *c, char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    uint64_t known;
    int rc = store_origin_seq(self->store, txn, &c->origin, &known);
    if (rc)
        return rc;
    if (c->origin_seq <= known)
        return SPROTO_KNOWN;       // includes our own changes coming back
    if (hlc_wall_ms(c->hlc) > clock_wall_ms() + PDB_HLC_DRIFT_MAX_MS) {
        snprintf(why, PDB_ERRMSG_MAX, "clock stamp is more than %llu ms ahead of this node",
                 (unsigned long long) PDB_HLC_DRIFT_MAX_MS);
        return PDB_EINVAL;
    }
    hlc_observe(self->hlc, c->hlc);
    rc = apply_change(self->store, txn, c, why);
    if (rc == SPROTO_APPLIED) {
        change_t relayed = *c;     // keeps origin, origin_seq and hlc
        int wrc = wal_append(self->store, txn, &relayed);
        if (wrc)
            return wrc;
    }
    if (rc == SPROTO_APPLIED || rc == SPROTO_KNOWN) {
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
    uint64_t head;
    int rc = wal_head(self->store, txn, &head);
    if (rc)
        return rc;
    c->origin = self->self;
    c->origin_seq = head + 1;
    c->hlc = hlc_tick(self->hlc, wall_ms);
    rc = apply_change(self->store, txn, c, why);
    if (rc == SPROTO_KNOWN || rc == PDB_EMISSINGDEP) {
        //  A fresh local stamp beats everything stored, so this means the
        //  entity (or its collective) is gone or not here.
        snprintf(why, PDB_ERRMSG_MAX, "%s not found", entity_type_name(c->entity));
        return PDB_ENOTFOUND;
    }
    if (rc != SPROTO_APPLIED)
        return rc;
    rc = wal_append(self->store, txn, c);
    if (!rc)
        rc = s_raise_origin(self->store, txn, &c->origin, c->origin_seq);
    return rc;
}

int
ingest_save_clock(const ingest_t *self, MDB_txn *txn)
{
    static const char name[] = "hlc";
    MDB_val key = { sizeof name - 1, (void *) name };
    MDB_val val = { sizeof self->hlc->last, &self->hlc->last };
    return pdb_from_mdb(mdb_put(txn, self->store->meta, &key, &val, 0));
}
