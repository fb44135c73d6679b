#include "store_db.h"
#include "vecblock.h"
#include "err.h"
#include "bounds.h"
#include "log.h"
#include "mpk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define STORE_DB_COUNT 16

typedef struct {
    const char *name;
    unsigned flags;
    size_t offset;
    bool derived;       // rebuilt from the others: a reader copes without it
} s_db_t;

//  Names are part of the on-disk format: never rename one.
static const s_db_t s_dbs[STORE_DB_COUNT] = {
    { "meta",             0,           offsetof(store_t, meta), false },
    { "collectives",      0,           offsetof(store_t, collectives), false },
    { "collective_names", MDB_DUPSORT, offsetof(store_t, collective_names), false },
    { "experiences",      0,           offsetof(store_t, experiences), false },
    { "embeddings",       0,           offsetof(store_t, embeddings), false },
    { "relations",        0,           offsetof(store_t, relations), false },
    { "relations_by_exp", 0,           offsetof(store_t, relations_by_exp), false },
    { "insights",         0,           offsetof(store_t, insights), false },
    { "versions",         0,           offsetof(store_t, versions), false },
    { "wal",              0,           offsetof(store_t, wal), false },
    { "peers",            0,           offsetof(store_t, peers), false },
    { "origins",          0,           offsetof(store_t, origins), false },
    { "own_changes",      0,           offsetof(store_t, own_changes), false },
    //  Embeddings in blocks (vecblock.h); the embeddings database above
    //  holds them only in a folder written before the blocks existed,
    //  until storage's next start moves them.
    { "vec_blocks",       0,           offsetof(store_t, vec_blocks), true },
    { "vec_slots",        0,           offsetof(store_t, vec_slots),  true },
    { "vec_free",         0,           offsetof(store_t, vec_free),   true },
};

static int
s_open_dbs(store_t *self)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(self->env, NULL, self->readonly ? MDB_RDONLY : 0, &txn);
    if (rc)
        return pdb_from_mdb(rc);
    self->vec_dbs = true;
    for (int i = 0; i < STORE_DB_COUNT; i++) {
        unsigned flags = s_dbs[i].flags | (self->readonly ? 0 : MDB_CREATE);
        MDB_dbi *dbi = (MDB_dbi *) ((char *) self + s_dbs[i].offset);
        rc = mdb_dbi_open(txn, s_dbs[i].name, flags, dbi);
        if (rc == MDB_NOTFOUND && s_dbs[i].derived) {
            self->vec_dbs = false;           // readers fall back (vecblock.h)
            continue;
        }
        if (rc) {
            mdb_txn_abort(txn);
            return pdb_from_mdb(rc);
        }
    }
    return pdb_from_mdb(mdb_txn_commit(txn));
}

int
store_open(const char *dir, bool readonly, uint64_t map_size, store_t **out)
{
    store_t *self = calloc(1, sizeof *self);
    if (!self)
        return -ENOMEM;
    self->readonly = readonly;
    int rc = mdb_env_create(&self->env);
    if (rc) {
        free(self);
        return pdb_from_mdb(rc);
    }
    //  Readers take their size from the file (0); storage sets the map.
    rc = mdb_env_set_mapsize(self->env, readonly ? 0 : (size_t) map_size);
    if (!rc)
        rc = mdb_env_set_maxdbs(self->env, STORE_DB_COUNT + 4);
    if (!rc)
        rc = mdb_env_set_maxreaders(self->env, STORE_MAX_READERS);
    //  MDB_NOTLS: gateway threads hand read transactions around freely and
    //  one thread may hold several; slots are tied to transactions instead.
    if (!rc)
        rc = mdb_env_open(self->env, dir, MDB_NOTLS | (readonly ? MDB_RDONLY : 0), 0600);
    if (!rc)
        rc = s_open_dbs(self) ? -1 : 0;
    if (rc) {
        int code = rc == -1 ? PDB_ENOTFOUND : pdb_from_mdb(rc);
        mdb_env_close(self->env);
        free(self);
        return code;
    }
    *out = self;
    return 0;
}

void
store_destroy(store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mdb_env_close((*self_p)->env);
    free(*self_p);
    *self_p = NULL;
}

int
store_read_begin(store_t *self, MDB_txn **txn)
{
    int rc = mdb_txn_begin(self->env, NULL, MDB_RDONLY, txn);
    if (rc == MDB_MAP_RESIZED) {
        //  Storage grew the map: adopt the new size and try once more.
        rc = mdb_env_set_mapsize(self->env, 0);
        if (!rc)
            rc = mdb_txn_begin(self->env, NULL, MDB_RDONLY, txn);
    }
    return pdb_from_mdb(rc);
}

void
store_key_pair(uint8_t out[STORE_KEY_PAIR_LEN], const pdb_id_t *a, const pdb_id_t *b)
{
    memcpy(out, a->b, PDB_ID_LEN);
    memcpy(out + PDB_ID_LEN, b->b, PDB_ID_LEN);
}

void
store_key_seq(uint8_t out[8], uint64_t seq)
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t) (seq >> (56 - 8 * i));
}

uint64_t
store_seq_from_key(const MDB_val *key)
{
    uint64_t seq = 0;
    const uint8_t *p = key->mv_data;
    for (size_t i = 0; i < key->mv_size && i < 8; i++)
        seq = seq << 8 | p[i];
    return seq;
}

MDB_dbi
store_records_dbi(const store_t *self, ent_type_t type)
{
    switch (type) {
    case ENT_COLLECTIVE: return self->collectives;
    case ENT_EXPERIENCE: return self->experiences;
    case ENT_RELATION:   return self->relations;
    case ENT_INSIGHT:    return self->insights;
    }
    return self->collectives;
}

int
store_meta_get(store_t *self, MDB_txn *txn, const char *name, void *out, size_t len)
{
    MDB_val key = { strlen(name), (void *) name }, val;
    int rc = mdb_get(txn, self->meta, &key, &val);
    if (rc)
        return pdb_from_mdb(rc);
    if (val.mv_size != len)
        return PDB_ECORRUPT;
    memcpy(out, val.mv_data, len);
    return 0;
}

int
store_meta_read(store_t *self, MDB_txn *txn, store_meta_t *out)
{
    store_meta_t m = { 0 };
    int rc = store_meta_get(self, txn, STORE_META_INSTANCE_ID, m.instance_id.b, PDB_ID_LEN);
    if (!rc)
        rc = store_meta_get(self, txn, STORE_META_SCHEMA, &m.schema_version,
                            sizeof m.schema_version);
    if (!rc)
        rc = store_meta_get(self, txn, STORE_META_HLC, &m.hlc, sizeof m.hlc);
    if (rc)
        return rc;
    //  Head and floor come from the WAL itself, so they can never disagree
    //  with it; an empty WAL keeps its head in meta.
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, self->wal, &cur);
    if (rc)
        return pdb_from_mdb(rc);
    MDB_val key, val;
    rc = store_meta_get(self, txn, STORE_META_WAL_HEAD, &m.wal_head, sizeof m.wal_head);
    if (rc == PDB_ENOTFOUND)
        rc = 0;
    if (!rc && mdb_cursor_get(cur, &key, &val, MDB_LAST) == 0) {
        uint64_t last = store_seq_from_key(&key);
        if (last > m.wal_head)
            m.wal_head = last;
    }
    m.wal_floor = m.wal_head + 1;
    if (!rc && mdb_cursor_get(cur, &key, &val, MDB_FIRST) == 0)
        m.wal_floor = store_seq_from_key(&key);
    mdb_cursor_close(cur);
    if (!rc)
        *out = m;
    return rc;
}

void
store_version_pack(msgpack_packer *pk, const store_version_t *v)
{
    static const uint8_t empty_map = 0x80;
    mpk_pack_array(pk, 6);
    mpk_pack_u64(pk, v->entity);
    mpk_pack_bool(pk, v->tombstone);
    mpk_pack_id(pk, &v->collective_id);
    mpk_pack_u64(pk, v->hlc);
    mpk_pack_id(pk, &v->origin);
    if (v->field_versions)
        mpk_pack_bin(pk, v->field_versions, v->field_versions_len);
    else
        mpk_pack_bin(pk, &empty_map, 1);
}

int
store_version_decode(const MDB_val *val, store_version_t *out)
{
    msgpack_unpacked u;
    if (mpk_parse(val->mv_data, val->mv_size, &u))
        return PDB_ECORRUPT;
    const msgpack_object *o = &u.data;
    int rc = PDB_ECORRUPT;
    uint64_t type;
    store_version_t v;
    if (o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size == 6
        && !mpk_get_u64(&o->via.array.ptr[0], &type)
        && type <= ENT_INSIGHT && entity_type_valid((int) type)
        && o->via.array.ptr[1].type == MSGPACK_OBJECT_BOOLEAN
        && !mpk_get_id(&o->via.array.ptr[2], &v.collective_id)
        && !mpk_get_u64(&o->via.array.ptr[3], &v.hlc)
        && !mpk_get_id(&o->via.array.ptr[4], &v.origin)
        && !mpk_get_bin(&o->via.array.ptr[5], (const void **) &v.field_versions,
                        &v.field_versions_len)) {
        v.entity = (ent_type_t) type;
        v.tombstone = o->via.array.ptr[1].via.boolean;
        *out = v;
        rc = 0;
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

int
store_version_head(const MDB_val *val, ent_type_t *type, bool *tombstone, pdb_id_t *collective)
{
    //  store_version_pack always writes fixarray(6), a fixint type, a bool and a
    //  bin8 of 16 bytes first: read those bytes in place, which is what makes
    //  a scan over a million entities cheap. Anything else takes the full
    //  decode, so an unexpected but valid encoding still reads right.
    const uint8_t *p = val->mv_data;
    if (val->mv_size > 5 + PDB_ID_LEN && p[0] == 0x96 && p[1] >= ENT_COLLECTIVE
        && p[1] <= ENT_INSIGHT && (p[2] == 0xc2 || p[2] == 0xc3) && p[3] == 0xc4
        && p[4] == PDB_ID_LEN) {
        *type = (ent_type_t) p[1];
        *tombstone = p[2] == 0xc3;
        memcpy(collective->b, p + 5, PDB_ID_LEN);
        return 0;
    }
    store_version_t v;
    int rc = store_version_decode(val, &v);
    if (rc)
        return rc;
    *type = v.entity;
    *tombstone = v.tombstone;
    *collective = v.collective_id;
    return 0;
}

int
store_version_get(store_t *self, MDB_txn *txn, const pdb_id_t *id, store_version_t *out)
{
    MDB_val key = { PDB_ID_LEN, (void *) id->b }, val;
    int rc = mdb_get(txn, self->versions, &key, &val);
    if (rc)
        return pdb_from_mdb(rc);
    return store_version_decode(&val, out);
}

int
store_record_get(store_t *self, MDB_txn *txn, const pdb_id_t *id, ent_type_t *type_out,
                 pdb_id_t *collective_out, MDB_val *record)
{
    store_version_t v;
    int rc = store_version_get(self, txn, id, &v);
    if (rc)
        return rc;
    if (v.tombstone)
        return PDB_ENOTFOUND;
    uint8_t kbuf[STORE_KEY_PAIR_LEN];
    MDB_val key = { PDB_ID_LEN, (void *) id->b };
    if (v.entity != ENT_COLLECTIVE) {
        store_key_pair(kbuf, &v.collective_id, id);
        key.mv_size = sizeof kbuf;
        key.mv_data = kbuf;
    }
    rc = pdb_from_mdb(mdb_get(txn, store_records_dbi(self, v.entity), &key, record));
    if (rc)
        return rc;
    if (type_out)
        *type_out = v.entity;
    if (collective_out)
        *collective_out = v.collective_id;
    return 0;
}

int
store_embedding_get(store_t *self, MDB_txn *txn, const pdb_id_t *collective,
                    const pdb_id_t *id, MDB_val *vector)
{
    int rc = vecblock_vector_get(self, txn, collective, id, vector);
    if (rc != PDB_ENOTFOUND || vecblock_ready(self, txn))
        return rc;
    //  A folder storage has not laid out yet keeps them in their database.
    uint8_t kbuf[STORE_KEY_PAIR_LEN];
    store_key_pair(kbuf, collective, id);
    MDB_val key = { sizeof kbuf, kbuf };
    return pdb_from_mdb(mdb_get(txn, self->embeddings, &key, vector));
}

int
store_collective_by_name(store_t *self, MDB_txn *txn, const char *name, size_t len,
                         pdb_id_t *out)
{
    if (len == 0 || len > 511)
        return PDB_ENOTFOUND;
    //  Duplicates are sorted: the first is the smallest id, the one every
    //  node picks when concurrent creates made the same name twice.
    MDB_val key = { len, (void *) name }, val;
    int rc = mdb_get(txn, self->collective_names, &key, &val);
    if (rc)
        return pdb_from_mdb(rc);
    if (val.mv_size != PDB_ID_LEN)
        return PDB_ECORRUPT;
    memcpy(out->b, val.mv_data, PDB_ID_LEN);
    return 0;
}

int
store_collective_dim(store_t *self, MDB_txn *txn, const pdb_id_t *collective, uint32_t *dim)
{
    store_version_t v;
    int rc = store_version_get(self, txn, collective, &v);
    if (rc)
        return rc;
    if (v.entity != ENT_COLLECTIVE)
        return PDB_ENOTFOUND;
    if (v.tombstone)
        return PDB_EDELETED;
    MDB_val key = { PDB_ID_LEN, (void *) collective->b }, val;
    rc = pdb_from_mdb(mdb_get(txn, self->collectives, &key, &val));
    if (rc)
        return rc;
    msgpack_unpacked u;
    if (mpk_parse(val.mv_data, val.mv_size, &u))
        return PDB_ECORRUPT;
    const msgpack_object *d = mpk_map_get(&u.data, "embedding_dim");
    uint64_t n = 0;
    rc = d && !mpk_get_u64(d, &n) && n > 0 && n <= PDB_DIM_MAX ? 0 : PDB_ECORRUPT;
    msgpack_unpacked_destroy(&u);
    if (!rc)
        *dim = (uint32_t) n;
    return rc;
}

int
store_origin_seq(store_t *self, MDB_txn *txn, const pdb_id_t *origin, uint64_t *seq)
{
    MDB_val key = { PDB_ID_LEN, (void *) origin->b }, val;
    int rc = mdb_get(txn, self->origins, &key, &val);
    if (rc == MDB_NOTFOUND) {
        *seq = 0;
        return 0;
    }
    if (rc)
        return pdb_from_mdb(rc);
    if (val.mv_size != sizeof *seq)
        return PDB_ECORRUPT;
    memcpy(seq, val.mv_data, sizeof *seq);
    return 0;
}

//  --------------------------------------------------------------------------
//  Walks

//  Opens a walk over dbi; the first next hands out the first entry at or
//  after the prefix (when within) or the database's first.
static int
s_iter_open(MDB_txn *txn, MDB_dbi dbi, size_t key_len, const pdb_id_t *within,
            store_iter_t *it)
{
    memset(it, 0, sizeof *it);
    it->key_len = key_len;
    int rc = mdb_cursor_open(txn, dbi, &it->cur);
    if (rc) {
        it->cur = NULL;
        return pdb_from_mdb(rc);
    }
    if (within) {
        it->within = true;
        it->prefix = *within;
        it->key = (MDB_val) { PDB_ID_LEN, it->prefix.b };
        rc = mdb_cursor_get(it->cur, &it->key, &it->val, MDB_SET_RANGE);
    }
    else
        rc = mdb_cursor_get(it->cur, &it->key, &it->val, MDB_FIRST);
    it->pending = rc == 0 ? 1 : rc == MDB_NOTFOUND ? PDB_ENOTFOUND : pdb_from_mdb(rc);
    return 0;
}

//  Positions the walk on the first key >= key (len bytes), or the first
//  strictly after it.
static void
s_iter_range(store_iter_t *it, const uint8_t *key, size_t len, bool exclusive)
{
    it->key = (MDB_val) { len, (void *) key };
    int rc = mdb_cursor_get(it->cur, &it->key, &it->val, MDB_SET_RANGE);
    if (rc == 0 && exclusive && it->key.mv_size == len && memcmp(it->key.mv_data, key, len) == 0)
        rc = mdb_cursor_get(it->cur, &it->key, &it->val, MDB_NEXT);
    it->pending = rc == 0 ? 1 : rc == MDB_NOTFOUND ? PDB_ENOTFOUND : pdb_from_mdb(rc);
}

//  Steps to the next entry: 0 with it->key/val, or the code to hand out.
static int
s_iter_step(store_iter_t *it)
{
    if (!it->cur)
        return PDB_ENOTFOUND;
    int rc = 0;
    if (it->pending < 0)
        return it->pending;               // the end (or a failure) stays put
    if (it->pending == 0) {
        rc = mdb_cursor_get(it->cur, &it->key, &it->val, MDB_NEXT);
        if (rc)
            it->pending = rc == MDB_NOTFOUND ? PDB_ENOTFOUND : pdb_from_mdb(rc);
    }
    else
        it->pending = 0;
    if (rc)
        return it->pending;
    if (it->within && (it->key.mv_size < PDB_ID_LEN
                       || memcmp(it->key.mv_data, it->prefix.b, PDB_ID_LEN) != 0)) {
        it->pending = PDB_ENOTFOUND;
        return it->pending;
    }
    if (it->key_len && it->key.mv_size != it->key_len)
        return PDB_ECORRUPT;
    return 0;
}

void
store_iter_close(store_iter_t *it)
{
    if (it->cur)
        mdb_cursor_close(it->cur);
    it->cur = NULL;
    it->pending = PDB_ENOTFOUND;
}

int
store_wal(store_t *self, MDB_txn *txn, uint64_t from, store_iter_t *it)
{
    int rc = s_iter_open(txn, self->wal, 8, NULL, it);
    if (rc)
        return rc;
    uint8_t start[8];
    store_key_seq(start, from);
    s_iter_range(it, start, sizeof start, false);
    return 0;
}

int
store_wal_next(store_iter_t *it, uint64_t *seq, MDB_val *change)
{
    int rc = s_iter_step(it);
    if (rc)
        return rc;
    *seq = store_seq_from_key(&it->key);
    *change = it->val;
    return 0;
}

int
store_records(store_t *self, MDB_txn *txn, ent_type_t type, const pdb_id_t *collective,
              store_iter_t *it)
{
    bool by_id = type == ENT_COLLECTIVE;
    if (by_id && collective) {
        memset(it, 0, sizeof *it);
        return PDB_EINVAL;
    }
    return s_iter_open(txn, store_records_dbi(self, type),
                       by_id ? PDB_ID_LEN : STORE_KEY_PAIR_LEN, collective, it);
}

int
store_relations_of(store_t *self, MDB_txn *txn, const pdb_id_t *experience, store_iter_t *it)
{
    return s_iter_open(txn, self->relations_by_exp, STORE_KEY_PAIR_LEN, experience, it);
}

int
store_versions(store_t *self, MDB_txn *txn, store_iter_t *it)
{
    return s_iter_open(txn, self->versions, PDB_ID_LEN, NULL, it);
}

int
store_iter_seek(store_iter_t *it, const pdb_id_t *collective, const pdb_id_t *id)
{
    uint8_t key[STORE_KEY_PAIR_LEN];
    if (!collective && !id) {
        //  Back to the start (of the collective, for a walk kept inside one).
        if (it->within)
            s_iter_range(it, it->prefix.b, PDB_ID_LEN, false);
        else {
            int rc = mdb_cursor_get(it->cur, &it->key, &it->val, MDB_FIRST);
            it->pending = rc == 0 ? 1 : rc == MDB_NOTFOUND ? PDB_ENOTFOUND : pdb_from_mdb(rc);
        }
        return 0;
    }
    if (it->key_len == PDB_ID_LEN && !collective && id) {
        memcpy(key, id->b, PDB_ID_LEN);
        s_iter_range(it, key, PDB_ID_LEN, true);
        return 0;
    }
    if (it->key_len != STORE_KEY_PAIR_LEN || !collective
        || (it->within && pdb_id_cmp(collective, &it->prefix) != 0))
        return PDB_EINVAL;
    if (!id) {
        memcpy(key, collective->b, PDB_ID_LEN);
        s_iter_range(it, key, PDB_ID_LEN, false);
        return 0;
    }
    store_key_pair(key, collective, id);
    s_iter_range(it, key, sizeof key, true);
    return 0;
}

int
store_next(store_iter_t *it, pdb_id_t *collective, pdb_id_t *id, MDB_val *value)
{
    int rc = s_iter_step(it);
    if (rc)
        return rc;
    if (it->key_len != PDB_ID_LEN && it->key_len != STORE_KEY_PAIR_LEN)
        return PDB_EINVAL;               // not a walk over ids
    const uint8_t *k = it->key.mv_data;
    size_t second = it->key_len == PDB_ID_LEN ? 0 : PDB_ID_LEN;
    if (collective)
        memcpy(collective->b, k, PDB_ID_LEN);
    if (id)
        memcpy(id->b, k + second, PDB_ID_LEN);
    if (value)
        *value = it->val;
    return 0;
}

static int
s_count(MDB_txn *txn, MDB_dbi dbi, uint64_t *n)
{
    MDB_stat st;
    int rc = pdb_from_mdb(mdb_stat(txn, dbi, &st));
    if (!rc)
        *n = st.ms_entries;
    return rc;
}

int
store_records_count(store_t *self, MDB_txn *txn, ent_type_t type, uint64_t *n)
{
    return s_count(txn, store_records_dbi(self, type), n);
}

int
store_versions_count(store_t *self, MDB_txn *txn, uint64_t *n)
{
    return s_count(txn, self->versions, n);
}

int
store_record_at(store_t *self, MDB_txn *txn, ent_type_t type, const pdb_id_t *collective,
                const pdb_id_t *id, MDB_val *record)
{
    uint8_t kbuf[STORE_KEY_PAIR_LEN];
    MDB_val key = { PDB_ID_LEN, (void *) id->b };
    if (type != ENT_COLLECTIVE) {
        store_key_pair(kbuf, collective, id);
        key = (MDB_val) { sizeof kbuf, kbuf };
    }
    return pdb_from_mdb(mdb_get(txn, store_records_dbi(self, type), &key, record));
}

//  --------------------------------------------------------------------------
//  Peers and origins

int
store_peer_get(store_t *self, MDB_txn *txn, const char *name, size_t len, MDB_val *row)
{
    MDB_val key = { len, (void *) name };
    return pdb_from_mdb(mdb_get(txn, self->peers, &key, row));
}

bool
store_peer_is_inbound(const char *name, size_t len)
{
    return len >= STORE_PEER_INBOUND_PREFIX_LEN
        && memcmp(name, STORE_PEER_INBOUND_PREFIX, STORE_PEER_INBOUND_PREFIX_LEN) == 0;
}

int
store_peers(store_t *self, MDB_txn *txn, store_iter_t *it)
{
    return s_iter_open(txn, self->peers, 0, NULL, it);
}

int
store_peer_next(store_iter_t *it, const char **name, size_t *len, MDB_val *row)
{
    int rc = s_iter_step(it);
    if (rc)
        return rc;
    *name = it->key.mv_data;
    *len = it->key.mv_size;
    *row = it->val;
    return 0;
}

int
store_peers_count(store_t *self, MDB_txn *txn, uint64_t *n)
{
    return s_count(txn, self->peers, n);
}

int
store_origins(store_t *self, MDB_txn *txn, store_iter_t *it)
{
    return s_iter_open(txn, self->origins, PDB_ID_LEN, NULL, it);
}

int
store_origin_next(store_iter_t *it, pdb_id_t *origin, uint64_t *seq)
{
    int rc = s_iter_step(it);
    if (rc)
        return rc;
    if (it->val.mv_size != sizeof *seq)
        return PDB_ECORRUPT;
    memcpy(origin->b, it->key.mv_data, PDB_ID_LEN);
    memcpy(seq, it->val.mv_data, sizeof *seq);
    return 0;
}
