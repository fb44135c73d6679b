#include "apply.h"
#include "bounds.h"
#include "cascade.h"
#include "mpk.h"
#include "policy.h"
#include "sproto.h"
#include "state.h"
#include "store_db.h"
#include "vecstore.h"
#include "versions.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define APPLY_FIELDS_MAX 16   // more than any entity type has

//  The stored state of one entity, copied out of LMDB: values returned by
//  mdb_get are only valid until the next write in the transaction.
typedef struct {
    bool exists;
    store_version_t v;
    void *vbuf;
    void *rbuf;
    size_t rlen;
} s_stored_t;

static void
s_stored_release(s_stored_t *s)
{
    free(s->vbuf);
    free(s->rbuf);
    memset(s, 0, sizeof *s);
}

static void *
s_dup(const void *data, size_t len)
{
    void *copy = malloc(len ? len : 1);
    if (copy && len)
        memcpy(copy, data, len);
    return copy;
}

static void
s_record_key(const store_t *store, ent_type_t type, const pdb_id_t *coll, const pdb_id_t *id,
             uint8_t buf[STORE_KEY_PAIR_LEN], MDB_val *key)
{
    (void) store;
    if (type == ENT_COLLECTIVE) {
        key->mv_size = PDB_ID_LEN;
        key->mv_data = (void *) id->b;
    }
    else {
        store_key_pair(buf, coll, id);
        key->mv_size = STORE_KEY_PAIR_LEN;
        key->mv_data = buf;
    }
}

static int
s_load(store_t *store, MDB_txn *txn, const pdb_id_t *id, s_stored_t *out)
{
    memset(out, 0, sizeof *out);
    MDB_val key = { PDB_ID_LEN, (void *) id->b }, val;
    int rc = mdb_get(txn, store->versions, &key, &val);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return pdb_from_mdb(rc);
    out->vbuf = s_dup(val.mv_data, val.mv_size);
    if (!out->vbuf)
        return -ENOMEM;
    MDB_val copy = { val.mv_size, out->vbuf };
    rc = store_version_decode(&copy, &out->v);
    out->exists = rc == 0;
    if (rc || out->v.tombstone)
        return rc;
    uint8_t kbuf[STORE_KEY_PAIR_LEN];
    s_record_key(store, out->v.entity, &out->v.collective_id, id, kbuf, &key);
    rc = mdb_get(txn, store_records_dbi(store, out->v.entity), &key, &val);
    if (rc)
        return rc == MDB_NOTFOUND ? PDB_ECORRUPT : pdb_from_mdb(rc);
    out->rbuf = s_dup(val.mv_data, val.mv_size);
    out->rlen = val.mv_size;
    return out->rbuf ? 0 : -ENOMEM;
}

//  --------------------------------------------------------------------------
//  Dependencies: the collective, and a relation's two experiences

//  For a change inside a collective: KNOWN when the collective is deleted,
//  MISSINGDEP when it has not arrived (a delete needs nothing), else 0 with
//  its embedding size.
static int
s_check_collective(store_t *store, MDB_txn *txn, const change_t *c, bool is_delete,
                   uint32_t *dim)
{
    *dim = 0;
    if (c->entity == ENT_COLLECTIVE)
        return 0;
    int rc = store_collective_dim(store, txn, &c->collective_id, dim);
    if (rc == PDB_EDELETED)
        return SPROTO_KNOWN;
    if (rc == PDB_ENOTFOUND)
        return is_delete ? 0 : PDB_EMISSINGDEP;
    return rc;
}

//  --------------------------------------------------------------------------
//  What is merged: field values and the version each carries. A change
//  gives every field its own version; a state (state.h) gives each field
//  the create's version unless its "versions" names another.

typedef struct {
    const msgpack_object *fields;    // values by field name
    uint64_t hlc;                    // version of every field...
    pdb_id_t origin;
    const msgpack_object *fvers;     // ...but those named here (NULL: none)
    apply_policy_t *policy;          // NULL: plain lww, nothing counted
    merge_policy_t mode;             // the policy for this write's collective
} s_write_t;

static merge_policy_t
s_mode_for(const apply_policy_t *policy, const pdb_id_t *collective)
{
    if (!policy)
        return POLICY_LWW;
    for (size_t i = 0; i < policy->overrides_n; i++)
        if (pdb_id_cmp(&policy->overrides[i].collective, collective) == 0)
            return policy->overrides[i].mode;
    return policy->mode;
}

static void
s_write_version(const s_write_t *w, const char *name, uint64_t *hlc, pdb_id_t *origin)
{
    *hlc = w->hlc;
    *origin = w->origin;
    //  Shapes were checked by state_read; mpk_map_get takes a NULL map.
    const msgpack_object *fv = mpk_map_get(w->fvers, name);
    if (fv && fv->type == MSGPACK_OBJECT_ARRAY && fv->via.array.size == 2) {
        (void) mpk_get_u64(&fv->via.array.ptr[0], hlc);
        (void) mpk_get_id(&fv->via.array.ptr[1], origin);
    }
}

static int
s_check_endpoint(store_t *store, MDB_txn *txn, const change_t *c, const msgpack_object *ref,
                 char *why)
{
    pdb_id_t id;
    if (!ref || mpk_get_id(ref, &id))
        return WHY(PDB_EINVAL, "relation needs source and target ids");
    store_version_t v;
    int rc = store_version_get(store, txn, &id, &v);
    if (rc == PDB_ENOTFOUND)
        return PDB_EMISSINGDEP;
    if (rc)
        return rc;
    if (v.entity != ENT_EXPERIENCE || pdb_id_cmp(&v.collective_id, &c->collective_id) != 0)
        return WHY(PDB_EINVAL, "relation endpoints must be experiences of the same collective");
    //  A relation to a deleted experience is dominated by that delete.
    return v.tombstone ? SPROTO_KNOWN : 0;
}

//  --------------------------------------------------------------------------
//  Create

static void
s_pack_record_of_change(msgpack_packer *pk, ent_type_t type, const msgpack_object *fields)
{
    size_t count, present = 0;
    const field_spec_t *spec = entity_spec(type, &count);
    for (size_t i = 0; i < count; i++)
        if (!(spec[i].flags & FIELD_SEPARATE) && mpk_map_get(fields, spec[i].name))
            present++;
    mpk_pack_map(pk, present);
    for (size_t i = 0; i < count; i++) {
        const msgpack_object *value = mpk_map_get(fields, spec[i].name);
        if ((spec[i].flags & FIELD_SEPARATE) || !value)
            continue;
        mpk_pack_str(pk, spec[i].name);
        mpk_pack_canonical(pk, value);
    }
}

static int
s_put_name(store_t *store, MDB_txn *txn, const msgpack_object *name, const pdb_id_t *id,
           bool add)
{
    if (!name || name->type != MSGPACK_OBJECT_STR)
        return 0;
    MDB_val key = { name->via.str.size, (void *) name->via.str.ptr };
    MDB_val val = { PDB_ID_LEN, (void *) id->b };
    int rc = add ? mdb_put(txn, store->collective_names, &key, &val, MDB_NODUPDATA)
                 : mdb_del(txn, store->collective_names, &key, &val);
    if (rc == MDB_KEYEXIST || (!add && rc == MDB_NOTFOUND))
        rc = 0;
    return pdb_from_mdb(rc);
}

static int
s_put_relation_links(store_t *store, MDB_txn *txn, const msgpack_object *fields,
                     const pdb_id_t *relation)
{
    const char *ends[2] = { "source", "target" };
    for (int i = 0; i < 2; i++) {
        pdb_id_t exp;
        if (mpk_get_id(mpk_map_get(fields, ends[i]), &exp))
            return PDB_EINVAL;
        uint8_t kbuf[STORE_KEY_PAIR_LEN];
        store_key_pair(kbuf, &exp, relation);
        MDB_val key = { sizeof kbuf, kbuf }, val = { 0, NULL };
        int rc = mdb_put(txn, store->relations_by_exp, &key, &val, 0);
        if (rc)
            return pdb_from_mdb(rc);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Merge into an existing entity

typedef struct {
    size_t count;
    const field_spec_t *spec;
    const msgpack_object *old_value[APPLY_FIELDS_MAX];
    const msgpack_object *new_value[APPLY_FIELDS_MAX];   // set when the change wins
    uint64_t hlc[APPLY_FIELDS_MAX];
    pdb_id_t origin[APPLY_FIELDS_MAX];
    uint64_t create_hlc;
    pdb_id_t create_origin;
} s_merge_t;

static void
s_merge_load(s_merge_t *m, ent_type_t type, const msgpack_object *record,
             const msgpack_object *fvers, const store_version_t *v)
{
    m->spec = entity_spec(type, &m->count);
    m->create_hlc = v->hlc;
    m->create_origin = v->origin;
    for (size_t i = 0; i < m->count; i++) {
        m->old_value[i] = mpk_map_get(record, m->spec[i].name);
        m->new_value[i] = NULL;
        m->hlc[i] = v->hlc;
        m->origin[i] = v->origin;
        const msgpack_object *fv = mpk_map_get(fvers, m->spec[i].name);
        if (fv && fv->type == MSGPACK_OBJECT_ARRAY && fv->via.array.size == 2) {
            (void) mpk_get_u64(&fv->via.array.ptr[0], &m->hlc[i]);
            (void) mpk_get_id(&fv->via.array.ptr[1], &m->origin[i]);
        }
    }
}

//  True when the counter `add` raises any entry of `old`.
static bool
s_counter_raises(const msgpack_object *old, const msgpack_object *add)
{
    for (uint32_t i = 0; i < add->via.map.size; i++) {
        const msgpack_object_kv *kv = &add->via.map.ptr[i];
        bool found = false;
        for (uint32_t j = 0; old && old->type == MSGPACK_OBJECT_MAP && j < old->via.map.size; j++) {
            const msgpack_object_kv *ov = &old->via.map.ptr[j];
            if (mpk_key_equal(&ov->key, &kv->key)) {
                found = true;
                if (ov->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER && kv->val.via.u64 > ov->val.via.u64)
                    return true;
            }
        }
        if (!found && kv->val.via.u64 > 0)
            return true;
    }
    return false;
}

//  Last writer wins, unless the policy settles a clash between a field this
//  node wrote last and a peer's write. A losing write that is not the very
//  version stored is a conflict: someone's write was discarded.
static bool
s_lww_wins(apply_policy_t *policy, merge_policy_t mode, uint64_t hlc, const pdb_id_t *origin,
           uint64_t held_hlc, const pdb_id_t *held_origin)
{
    int cmp = change_version_cmp(hlc, origin, held_hlc, held_origin);
    if (cmp == 0)
        return false;                      // the same write, seen again
    bool wins = cmp > 0;
    if (policy && mode != POLICY_LWW && pdb_id_cmp(held_origin, &policy->self) == 0
        && pdb_id_cmp(origin, &policy->self) != 0)
        wins = mode == POLICY_REMOTE_WINS;
    if (policy && !wins)
        policy->conflicts++;
    return wins;
}

//  Decides field i against the write; true when the write wins it.
static bool
s_merge_field(s_merge_t *m, size_t i, const msgpack_object *value, const s_write_t *w)
{
    const msgpack_object *old = m->old_value[i];
    uint64_t hlc;
    pdb_id_t origin;
    switch (m->spec[i].merge) {
    case MERGE_IMMUTABLE:
        return false;
    case MERGE_LWW:
        s_write_version(w, m->spec[i].name, &hlc, &origin);
        if (!s_lww_wins(w->policy, w->mode, hlc, &origin, m->hlc[i], &m->origin[i]))
            return false;
        m->hlc[i] = hlc;
        m->origin[i] = origin;
        return true;
    case MERGE_MAX:
        return !old || old->type != MSGPACK_OBJECT_POSITIVE_INTEGER
            || value->via.u64 > old->via.u64;
    case MERGE_COUNTER:
        return s_counter_raises(old, value);
    }
    return false;
}

static void
s_pack_counter(msgpack_packer *pk, const msgpack_object *old, const msgpack_object *add)
{
    uint32_t n_old = old && old->type == MSGPACK_OBJECT_MAP ? old->via.map.size : 0;
    msgpack_object_kv merged[2 * PDB_COUNTER_MAX];
    uint32_t n = 0;
    for (uint32_t j = 0; j < n_old && n < PDB_COUNTER_MAX; j++)
        merged[n++] = old->via.map.ptr[j];
    for (uint32_t i = 0; i < add->via.map.size; i++) {
        const msgpack_object_kv *kv = &add->via.map.ptr[i];
        uint32_t j = 0;
        while (j < n && !mpk_key_equal(&merged[j].key, &kv->key))
            j++;
        if (j == n && n < 2 * PDB_COUNTER_MAX)
            merged[n++] = *kv;
        else if (j < n && kv->val.via.u64 > merged[j].val.via.u64)
            merged[j].val = kv->val;
    }
    msgpack_object map = { .type = MSGPACK_OBJECT_MAP, .via.map = { n, merged } };
    mpk_pack_canonical(pk, &map);
}

static void
s_pack_merged_record(msgpack_packer *pk, const s_merge_t *m)
{
    size_t present = 0;
    for (size_t i = 0; i < m->count; i++)
        if (!(m->spec[i].flags & FIELD_SEPARATE) && (m->new_value[i] || m->old_value[i]))
            present++;
    mpk_pack_map(pk, present);
    for (size_t i = 0; i < m->count; i++) {
        if ((m->spec[i].flags & FIELD_SEPARATE) || !(m->new_value[i] || m->old_value[i]))
            continue;
        mpk_pack_str(pk, m->spec[i].name);
        if (m->new_value[i] && m->spec[i].merge == MERGE_COUNTER)
            s_pack_counter(pk, m->old_value[i], m->new_value[i]);
        else
            mpk_pack_canonical(pk, m->new_value[i] ? m->new_value[i] : m->old_value[i]);
    }
}

//  Field versions that differ from the create's: only LWW fields have them.
static void
s_pack_field_versions(msgpack_packer *pk, const s_merge_t *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->count; i++)
        if (m->hlc[i] != m->create_hlc || pdb_id_cmp(&m->origin[i], &m->create_origin))
            n++;
    mpk_pack_map(pk, n);
    for (size_t i = 0; i < m->count; i++) {
        if (m->hlc[i] == m->create_hlc && !pdb_id_cmp(&m->origin[i], &m->create_origin))
            continue;
        mpk_pack_str(pk, m->spec[i].name);
        mpk_pack_array(pk, 2);
        mpk_pack_u64(pk, m->hlc[i]);
        mpk_pack_id(pk, &m->origin[i]);
    }
}

//  A new entity's field versions: those of the write that differ from its
//  create version, packed exactly as a merge would store them.
static void
s_pack_create_versions(msgpack_packer *pk, ent_type_t type, const s_write_t *w)
{
    s_merge_t m;
    m.spec = entity_spec(type, &m.count);
    m.create_hlc = w->hlc;
    m.create_origin = w->origin;
    for (size_t i = 0; i < m.count; i++)
        s_write_version(w, m.spec[i].name, &m.hlc[i], &m.origin[i]);
    s_pack_field_versions(pk, &m);
}

//  A new entity: its record (embedding apart), index entries and versions.
static int
s_create(store_t *store, MDB_txn *txn, const change_t *c, const s_write_t *w, char *why)
{
    int rc = 0;
    if (c->entity == ENT_RELATION) {
        rc = s_check_endpoint(store, txn, c, mpk_map_get(w->fields, "source"), why);
        if (!rc)
            rc = s_check_endpoint(store, txn, c, mpk_map_get(w->fields, "target"), why);
        if (rc)
            return rc;
    }
    mpk_out_t rec, fv;
    mpk_out_init(&rec);
    mpk_out_init(&fv);
    s_pack_record_of_change(&rec.pk, c->entity, w->fields);
    if (w->fvers)
        s_pack_create_versions(&fv.pk, c->entity, w);
    rc = mpk_out_status(&rec);
    if (!rc)
        rc = mpk_out_status(&fv);
    uint8_t kbuf[STORE_KEY_PAIR_LEN];
    MDB_val key, val = { rec.buf.size, rec.buf.data };
    s_record_key(store, c->entity, &c->collective_id, &c->entity_id, kbuf, &key);
    if (!rc)
        rc = pdb_from_mdb(mdb_put(txn, store_records_dbi(store, c->entity), &key, &val, 0));
    if (!rc && c->entity == ENT_EXPERIENCE) {
        const msgpack_object *vec = mpk_map_get(w->fields, "embedding");
        rc = vecstore_add(store, txn, &c->collective_id, &c->entity_id, vec->via.bin.ptr,
                          vec->via.bin.size);
    }
    if (!rc && c->entity == ENT_COLLECTIVE)
        rc = s_put_name(store, txn, mpk_map_get(w->fields, "name"), &c->entity_id, true);
    if (!rc && c->entity == ENT_RELATION)
        rc = s_put_relation_links(store, txn, w->fields, &c->entity_id);
    if (!rc)
        rc = versions_put(store, txn, &c->entity_id, c->entity, false, &c->collective_id,
                           w->hlc, &w->origin, w->fvers ? fv.buf.data : NULL,
                           w->fvers ? fv.buf.size : 0);
    mpk_out_release(&rec);
    mpk_out_release(&fv);
    return rc ? rc : SPROTO_APPLIED;
}

static int
s_write_merged(store_t *store, MDB_txn *txn, const change_t *c, const s_stored_t *cur,
               const s_merge_t *m)
{
    mpk_out_t rec, fv;
    mpk_out_init(&rec);
    mpk_out_init(&fv);
    s_pack_merged_record(&rec.pk, m);
    s_pack_field_versions(&fv.pk, m);
    int rc = mpk_out_status(&rec);
    if (!rc)
        rc = mpk_out_status(&fv);
    uint8_t kbuf[STORE_KEY_PAIR_LEN];
    MDB_val key, val = { rec.buf.size, rec.buf.data };
    s_record_key(store, c->entity, &cur->v.collective_id, &c->entity_id, kbuf, &key);
    if (!rc)
        rc = pdb_from_mdb(mdb_put(txn, store_records_dbi(store, c->entity), &key, &val, 0));
    if (!rc)
        rc = versions_put(store, txn, &c->entity_id, c->entity, false, &cur->v.collective_id,
                           cur->v.hlc, &cur->v.origin, fv.buf.data, fv.buf.size);
    mpk_out_release(&rec);
    mpk_out_release(&fv);
    return rc;
}

//  A renamed collective moves in the name index.
static int
s_rename(store_t *store, MDB_txn *txn, const change_t *c, const s_merge_t *m)
{
    for (size_t i = 0; i < m->count; i++) {
        if (strcmp(m->spec[i].name, "name") != 0 || !m->new_value[i])
            continue;
        int rc = s_put_name(store, txn, m->old_value[i], &c->entity_id, false);
        return rc ? rc : s_put_name(store, txn, m->new_value[i], &c->entity_id, true);
    }
    return 0;
}

static int
s_merge(store_t *store, MDB_txn *txn, const change_t *c, const s_write_t *w,
        const s_stored_t *cur)
{
    msgpack_unpacked record, fvers;
    if (mpk_parse(cur->rbuf, cur->rlen, &record))
        return PDB_ECORRUPT;
    if (mpk_parse(cur->v.field_versions, cur->v.field_versions_len, &fvers)) {
        msgpack_unpacked_destroy(&record);
        return PDB_ECORRUPT;
    }
    s_merge_t m;
    s_merge_load(&m, c->entity, &record.data, &fvers.data, &cur->v);
    bool changed = false;
    for (size_t i = 0; i < m.count; i++) {
        const msgpack_object *value = mpk_map_get(w->fields, m.spec[i].name);
        if (value && s_merge_field(&m, i, value, w)) {
            m.new_value[i] = value;
            changed = true;
        }
    }
    int rc = SPROTO_KNOWN;
    if (changed) {
        rc = s_write_merged(store, txn, c, cur, &m);
        if (!rc && c->entity == ENT_COLLECTIVE)
            rc = s_rename(store, txn, c, &m);
        if (!rc)
            rc = SPROTO_APPLIED;
    }
    msgpack_unpacked_destroy(&record);
    msgpack_unpacked_destroy(&fvers);
    return rc;
}

//  --------------------------------------------------------------------------
//  Delete

//  hlc/origin: the delete's version, kept in the tombstone.
static int
s_delete(store_t *store, MDB_txn *txn, const change_t *c, const s_stored_t *cur,
         uint64_t hlc, const pdb_id_t *origin)
{
    int rc = 0;
    if (cur->exists) {
        msgpack_unpacked record;
        if (mpk_parse(cur->rbuf, cur->rlen, &record))
            return PDB_ECORRUPT;
        rc = cascade_delete(store, txn, c->entity, &cur->v.collective_id, &c->entity_id,
                            &record.data, hlc, origin);
        msgpack_unpacked_destroy(&record);
    }
    if (!rc)
        rc = versions_put(store, txn, &c->entity_id, c->entity, true, &c->collective_id,
                           hlc, origin, NULL, 0);
    return rc ? rc : SPROTO_APPLIED;
}

//  --------------------------------------------------------------------------

//  The stored entity, unless it is of another type or collective (a lie).
static int
s_load_same(store_t *store, MDB_txn *txn, const change_t *c, s_stored_t *cur, char *why)
{
    int rc = s_load(store, txn, &c->entity_id, cur);
    if (!rc && cur->exists && (cur->v.entity != c->entity
                               || pdb_id_cmp(&cur->v.collective_id, &c->collective_id) != 0))
        rc = WHY(PDB_EINVAL, "change names id of another %s or collective",
                 entity_type_name(cur->v.entity));
    return rc;
}

//  A create, update or delete. trusted: a local write that local.c checked
//  in this transaction (collective live, fields valid), not checked again.
static int
s_apply_op(store_t *store, MDB_txn *txn, const change_t *c, apply_policy_t *policy,
           bool trusted, char *why)
{
    uint32_t dim = 0;
    int rc = trusted ? 0 : s_check_collective(store, txn, c, c->op == OP_DELETE, &dim);
    if (rc)
        return rc;
    msgpack_unpacked fields;
    if (mpk_parse(c->fields, c->fields_len, &fields))
        return WHY(PDB_EINVAL, "change fields do not decode");
    if (!trusted)
        rc = entity_check(c->entity, c->op, &fields.data, false, dim, why);
    s_stored_t cur;
    memset(&cur, 0, sizeof cur);
    if (!rc)
        rc = s_load_same(store, txn, c, &cur, why);
    if (!rc && cur.exists && cur.v.tombstone)
        rc = SPROTO_KNOWN;                  // deletes are final
    s_write_t w = { &fields.data, c->hlc, c->origin, NULL, policy,
                    s_mode_for(policy, &c->collective_id) };
    if (!rc) {
        switch (c->op) {
        case OP_DELETE: rc = s_delete(store, txn, c, &cur, c->hlc, &c->origin); break;
        case OP_CREATE: rc = cur.exists ? s_merge(store, txn, c, &w, &cur)
                                        : s_create(store, txn, c, &w, why); break;
        case OP_UPDATE: rc = cur.exists ? s_merge(store, txn, c, &w, &cur)
                                        : PDB_EMISSINGDEP; break;
        }
    }
    s_stored_release(&cur);
    msgpack_unpacked_destroy(&fields);
    return rc;
}

//  A whole entity (state.h): created from its record and versions when
//  new, merged field by field with each field's own version when here, and
//  a tombstone deletes as a delete would.
static int
s_apply_state(store_t *store, MDB_txn *txn, const change_t *c, apply_policy_t *policy,
              const state_checked_t *checked, char *why)
{
    msgpack_unpacked fields;
    if (mpk_parse(c->fields, c->fields_len, &fields))
        return WHY(PDB_EINVAL, "state fields do not decode");
    state_t st;
    uint32_t dim = 0;
    int rc = state_read(c->entity, &fields.data, &st, why);
    if (!rc)
        rc = s_check_collective(store, txn, c, st.tombstone, &dim);
    //  state_check depends only on the state's bytes and dim: a caller that
    //  ran it with this dim already knows the answer.
    if (!rc && !(checked && checked->dim == dim))
        rc = state_check(c->entity, &st, dim, why);
    s_stored_t cur;
    memset(&cur, 0, sizeof cur);
    if (!rc)
        rc = s_load_same(store, txn, c, &cur, why);
    if (!rc && cur.exists && cur.v.tombstone)
        rc = SPROTO_KNOWN;                  // deletes are final
    s_write_t w = { st.record, st.hlc, st.origin, st.versions, policy,
                    s_mode_for(policy, &c->collective_id) };
    if (!rc) {
        if (st.tombstone)
            rc = s_delete(store, txn, c, &cur, st.hlc, &st.origin);
        else
            rc = cur.exists ? s_merge(store, txn, c, &w, &cur) : s_create(store, txn, c, &w, why);
    }
    s_stored_release(&cur);
    msgpack_unpacked_destroy(&fields);
    return rc;
}

static int
s_apply_with(store_t *store, MDB_txn *txn, const change_t *c, apply_policy_t *policy,
             char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    return c->op == OP_STATE ? s_apply_state(store, txn, c, policy, NULL, why)
                             : s_apply_op(store, txn, c, policy, false, why);
}

int
apply_change_local(store_t *store, MDB_txn *txn, const change_t *c, char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    if (c->op == OP_STATE)
        return apply_change(store, txn, c, why);
    return s_apply_op(store, txn, c, NULL, true, why);
}

int
apply_state_checked(store_t *store, MDB_txn *txn, const change_t *c, apply_policy_t *policy,
                    const state_checked_t *checked, char why[PDB_ERRMSG_MAX])
{
    if (!checked || c->op != OP_STATE)
        return s_apply_with(store, txn, c, policy, why);
    why[0] = '\0';
    return s_apply_state(store, txn, c, policy, checked, why);
}

int
apply_change(store_t *store, MDB_txn *txn, const change_t *c, char why[PDB_ERRMSG_MAX])
{
    return s_apply_with(store, txn, c, NULL, why);
}

int
apply_policy_parse(const char *name, merge_policy_t *mode)
{
    unsigned index;
    int rc = policy_parse(name, strlen(name), &index);
    if (!rc)
        *mode = (merge_policy_t) index;
    return rc;
}
