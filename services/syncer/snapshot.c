#include "snapshot.h"
#include "bounds.h"
#include "err.h"
#include "mpk.h"
#include "state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

//  Phases, in stream order. Collectives and tombstones are read from the
//  versions database (keyed by entity id), the others from their records
//  databases (keyed by collective id + entity id).
enum { S_COLL = 1, S_EXP, S_REL, S_INS, S_TOMB, S_DONE };

//  Position: [phase][entities sent so far: 7 bytes big-endian][last key sent].
//  The key is exclusive: the next page starts after it. 1 + 7 + 32 = 40.
#define S_COUNTER_BYTES 7
#define S_HEAD_LEN (1 + S_COUNTER_BYTES)
#define S_COUNTER_MAX ((1ull << (8 * S_COUNTER_BYTES)) - 1)
#define S_PAIR_LEN (2 * PDB_ID_LEN)      // a record's position: collective id + id

typedef struct {
    int phase;
    uint64_t counter;
    uint8_t key[S_PAIR_LEN];
    size_t key_len;
} s_pos_t;

typedef struct {
    store_t *store;
    MDB_txn *txn;
    pdb_id_t *filter;               // sorted, unique; NULL when none
    size_t filter_n;
    store_iter_t walk[S_DONE];      // by phase, opened on first use
    bool open[S_DONE];
} s_scan_t;

//  --------------------------------------------------------------------------
//  Positions

static size_t
s_phase_key_len(int phase)
{
    return phase == S_COLL || phase == S_TOMB ? PDB_ID_LEN
         : phase == S_DONE ? 0 : S_PAIR_LEN;
}

static int
s_pos_read(const snapshot_pos_t *in, s_pos_t *out)
{
    memset(out, 0, sizeof *out);
    out->phase = S_COLL;
    if (in->len == 0)
        return 0;
    if (in->len < S_HEAD_LEN || in->len > SNAPSHOT_POS_MAX)
        return PDB_EINVAL;
    out->phase = in->bytes[0];
    for (size_t i = 1; i < S_HEAD_LEN; i++)
        out->counter = out->counter << 8 | in->bytes[i];
    out->key_len = in->len - S_HEAD_LEN;
    if (out->phase < S_COLL || out->phase > S_DONE
        || (out->key_len != 0 && out->key_len != s_phase_key_len(out->phase)))
        return PDB_EINVAL;
    memcpy(out->key, in->bytes + S_HEAD_LEN, out->key_len);
    return 0;
}

static void
s_pos_write(const s_pos_t *in, snapshot_pos_t *out)
{
    out->bytes[0] = (uint8_t) in->phase;
    for (size_t i = 0; i < S_COUNTER_BYTES; i++)
        out->bytes[1 + i] = (uint8_t) (in->counter >> (8 * (S_COUNTER_BYTES - 1 - i)));
    memcpy(out->bytes + S_HEAD_LEN, in->key, in->key_len);
    out->len = S_HEAD_LEN + in->key_len;
}

//  --------------------------------------------------------------------------
//  The collective filter

static int
s_id_cmp(const void *a, const void *b)
{
    return pdb_id_cmp(a, b);
}

static int
s_scan_init(s_scan_t *scan, store_t *store, MDB_txn *txn, const pdb_id_t *filter,
            size_t filter_n)
{
    memset(scan, 0, sizeof *scan);
    scan->store = store;
    scan->txn = txn;
    if (filter_n == 0)
        return 0;
    scan->filter = malloc(filter_n * sizeof *scan->filter);
    if (!scan->filter)
        return -ENOMEM;
    memcpy(scan->filter, filter, filter_n * sizeof *filter);
    qsort(scan->filter, filter_n, sizeof *scan->filter, s_id_cmp);
    size_t n = 1;
    for (size_t i = 1; i < filter_n; i++)
        if (pdb_id_cmp(&scan->filter[i], &scan->filter[n - 1]) != 0)
            scan->filter[n++] = scan->filter[i];
    scan->filter_n = n;
    return 0;
}

static void
s_scan_release(s_scan_t *scan)
{
    for (int i = 0; i < S_DONE; i++)
        if (scan->open[i])
            store_iter_close(&scan->walk[i]);
    free(scan->filter);
    memset(scan, 0, sizeof *scan);
}

//  Index of the first filter id >= id (filter_n when none).
static size_t
s_filter_lower(const s_scan_t *scan, const uint8_t *id)
{
    size_t lo = 0, hi = scan->filter_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (memcmp(scan->filter[mid].b, id, PDB_ID_LEN) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool
s_filter_has(const s_scan_t *scan, const uint8_t *id)
{
    if (!scan->filter)
        return true;
    size_t at = s_filter_lower(scan, id);
    return at < scan->filter_n && memcmp(scan->filter[at].b, id, PDB_ID_LEN) == 0;
}

//  --------------------------------------------------------------------------
//  Finding the next entity

static ent_type_t
s_phase_type(int phase)
{
    switch (phase) {
    case S_EXP: return ENT_EXPERIENCE;
    case S_REL: return ENT_RELATION;
    case S_INS: return ENT_INSIGHT;
    default:    return ENT_COLLECTIVE;
    }
}

//  The phase's walk (collectives and tombstones: the versions), placed on
//  the first entry strictly after `after` (len 0: the first).
static int
s_walk(s_scan_t *scan, int phase, const uint8_t *after, size_t len, store_iter_t **walk)
{
    store_iter_t *it = &scan->walk[phase];
    if (!scan->open[phase]) {
        int rc = phase == S_COLL || phase == S_TOMB
               ? store_versions(scan->store, scan->txn, it)
               : store_records(scan->store, scan->txn, s_phase_type(phase), NULL, it);
        if (rc)
            return rc;
        scan->open[phase] = true;
    }
    pdb_id_t coll, id;
    int rc;
    if (len == PDB_ID_LEN) {
        memcpy(id.b, after, PDB_ID_LEN);
        rc = store_iter_seek(it, NULL, &id);
    }
    else if (len == S_PAIR_LEN) {
        memcpy(coll.b, after, PDB_ID_LEN);
        memcpy(id.b, after + PDB_ID_LEN, PDB_ID_LEN);
        rc = store_iter_seek(it, &coll, &id);
    }
    else
        rc = store_iter_seek(it, NULL, NULL);
    *walk = it;
    return rc;
}

//  A key found in a phase: the entity id (collectives, tombstones) or the
//  collective id + entity id. The s_next_* finders return 0 with one, or
//  PDB_ENOTFOUND when their phase has nothing more.
typedef struct {
    uint8_t key[S_PAIR_LEN];
    size_t len;
} s_key_t;

static int
s_take(const pdb_id_t *coll, const pdb_id_t *id, s_key_t *found)
{
    found->len = 0;
    if (coll) {
        memcpy(found->key, coll->b, PDB_ID_LEN);
        found->len = PDB_ID_LEN;
    }
    memcpy(found->key + found->len, id->b, PDB_ID_LEN);
    found->len += PDB_ID_LEN;
    return 0;
}

//  Collectives, live or deleted. With a filter, each filter id is looked up.
static int
s_next_collective(s_scan_t *scan, const uint8_t *after, size_t len, s_key_t *found)
{
    ent_type_t type;
    bool tomb;
    pdb_id_t coll, id;
    if (scan->filter) {
        size_t i = len ? s_filter_lower(scan, after) : 0;
        if (len && i < scan->filter_n && memcmp(scan->filter[i].b, after, PDB_ID_LEN) == 0)
            i++;
        for (; i < scan->filter_n; i++) {
            store_version_t v;
            int rc = store_version_get(scan->store, scan->txn, &scan->filter[i], &v);
            if (rc == PDB_ENOTFOUND)
                continue;
            if (rc)
                return rc;
            if (v.entity == ENT_COLLECTIVE)
                return s_take(NULL, &scan->filter[i], found);
        }
        return PDB_ENOTFOUND;
    }
    store_iter_t *walk;
    int rc = s_walk(scan, S_COLL, after, len, &walk);
    MDB_val val;
    while (!rc && (rc = store_next(walk, NULL, &id, &val)) == 0) {
        rc = store_version_head(&val, &type, &tomb, &coll);
        if (!rc && type == ENT_COLLECTIVE)
            return s_take(NULL, &id, found);
    }
    return rc;
}

//  Live experiences, relations or insights: keys lead with the collective,
//  so a filter skips straight from one filtered collective to the next.
static int
s_next_record(s_scan_t *scan, int phase, const uint8_t *after, size_t len, s_key_t *found)
{
    store_iter_t *walk;
    int rc = s_walk(scan, phase, after, len, &walk);
    pdb_id_t coll, id;
    while (!rc && (rc = store_next(walk, &coll, &id, NULL)) == 0) {
        if (s_filter_has(scan, coll.b))
            return s_take(&coll, &id, found);
        //  Not filtered: jump to the next filtered collective's first key.
        size_t i = s_filter_lower(scan, coll.b);
        if (i >= scan->filter_n)
            return PDB_ENOTFOUND;
        rc = store_iter_seek(walk, &scan->filter[i], NULL);
    }
    return rc;
}

//  Tombstones of everything but collectives (those went first).
static int
s_next_tombstone(s_scan_t *scan, const uint8_t *after, size_t len, s_key_t *found)
{
    store_iter_t *walk;
    int rc = s_walk(scan, S_TOMB, after, len, &walk);
    pdb_id_t id;
    MDB_val val;
    while (!rc && (rc = store_next(walk, NULL, &id, &val)) == 0) {
        ent_type_t type;
        bool tomb;
        pdb_id_t coll;
        rc = store_version_head(&val, &type, &tomb, &coll);
        if (!rc && tomb && type != ENT_COLLECTIVE && s_filter_has(scan, coll.b))
            return s_take(NULL, &id, found);
    }
    return rc;
}

//  The next entity after pos, moving through the phases; *next is where it
//  is (phase S_DONE when nothing is left).
static int
s_find(s_scan_t *scan, const s_pos_t *pos, s_pos_t *next)
{
    *next = *pos;
    for (; next->phase < S_DONE; next->phase++, next->key_len = 0) {
        s_key_t found;
        int rc;
        if (next->phase == S_COLL)
            rc = s_next_collective(scan, next->key, next->key_len, &found);
        else if (next->phase == S_TOMB)
            rc = s_next_tombstone(scan, next->key, next->key_len, &found);
        else
            rc = s_next_record(scan, next->phase, next->key, next->key_len, &found);
        if (rc == 0) {
            if (found.len != s_phase_key_len(next->phase))
                return PDB_ECORRUPT;
            memcpy(next->key, found.key, found.len);
            next->key_len = found.len;
            return 0;
        }
        if (rc != PDB_ENOTFOUND)
            return rc;
    }
    next->key_len = 0;
    return 0;
}

//  --------------------------------------------------------------------------
//  One entity as a STATE change

//  The entity's state fields (state.h), from its version, record and
//  embedding as stored.
static int
s_pack_state_fields(const s_scan_t *scan, ent_type_t type, const store_version_t *v,
                    const pdb_id_t *id, msgpack_packer *pk)
{
    state_src_t src = { .tombstone = v->tombstone, .hlc = v->hlc, .origin = v->origin,
                        .versions = v->field_versions, .versions_len = v->field_versions_len };
    if (!v->tombstone) {
        MDB_val val, vec = { 0, NULL };
        int rc = store_record_at(scan->store, scan->txn, type, &v->collective_id, id, &val);
        if (rc)
            return rc == PDB_ENOTFOUND ? PDB_ECORRUPT : rc;
        if (type == ENT_EXPERIENCE) {
            rc = store_embedding_get(scan->store, scan->txn, &v->collective_id, id, &vec);
            if (rc)
                return rc == PDB_ENOTFOUND ? PDB_ECORRUPT : rc;
        }
        src.record = val.mv_data;
        src.record_len = val.mv_size;
        src.embedding = vec.mv_data;
        src.embedding_len = vec.mv_size;
    }
    return state_pack(pk, type, &src);
}

//  Packs the entity at `at` as an encoded change into `change`.
static int
s_build(const s_scan_t *scan, const s_pos_t *at, uint64_t seq, const pdb_id_t *origin,
        mpk_out_t *change)
{
    bool by_id = at->phase == S_COLL || at->phase == S_TOMB;
    pdb_id_t id;
    memcpy(id.b, at->key + (by_id ? 0 : PDB_ID_LEN), PDB_ID_LEN);
    store_version_t v;
    int rc = store_version_get(scan->store, scan->txn, &id, &v);
    if (rc)
        return rc == PDB_ENOTFOUND ? PDB_ECORRUPT : rc;
    ent_type_t type = at->phase == S_TOMB ? v.entity : s_phase_type(at->phase);
    //  A record without a live version of the same type and collective is
    //  a broken store, not something to send.
    if (v.entity != type || (!by_id && (v.tombstone
                                        || memcmp(v.collective_id.b, at->key, PDB_ID_LEN))))
        return PDB_ECORRUPT;
    mpk_out_t fields;
    mpk_out_init(&fields);
    rc = s_pack_state_fields(scan, type, &v, &id, &fields.pk);
    if (!rc)
        rc = mpk_out_status(&fields);
    if (!rc && fields.buf.size > PDB_CHANGE_MAX)
        rc = PDB_ETOOBIG;
    if (!rc) {
        change_t c = {
            .seq = seq, .origin = *origin, .origin_seq = seq, .hlc = v.hlc,
            .entity = type, .op = OP_STATE, .collective_id = v.collective_id,
            .entity_id = id, .fields = (const uint8_t *) fields.buf.data,
            .fields_len = fields.buf.size,
        };
        change_pack(&change->pk, &c);
        rc = mpk_out_status(change);
    }
    mpk_out_release(&fields);
    return rc;
}

//  Bytes a bin of len bytes takes once packed.
static size_t
s_bin_size(size_t len)
{
    return len + (len < 256 ? 2 : len < 65536 ? 3 : 5);
}

//  --------------------------------------------------------------------------

typedef struct {
    const pdb_id_t *origin;
    msgpack_packer *out;
    size_t max_bytes;
    size_t bytes;            // appended so far
    size_t count;
} s_page_t;

//  Packs the entity at `next` into the page: 0 when it went in (at moves
//  there), PDB_ENOTFOUND when it does not fit (at stays), or an error.
static int
s_emit(const s_scan_t *scan, s_pos_t *at, const s_pos_t *next, s_page_t *page)
{
    if (at->counter >= S_COUNTER_MAX)
        return PDB_ETOOBIG;
    mpk_out_t change;
    mpk_out_init(&change);
    int rc = s_build(scan, next, at->counter + 1, page->origin, &change);
    size_t need = s_bin_size(change.buf.size);
    if (!rc && page->bytes + need > page->max_bytes)
        rc = PDB_ENOTFOUND;
    if (!rc) {
        mpk_pack_bin(page->out, change.buf.data, change.buf.size);
        page->bytes += need;
        page->count++;
        uint64_t counter = at->counter + 1;
        *at = *next;
        at->counter = counter;
    }
    mpk_out_release(&change);
    return rc;
}

int
snapshot_page(store_t *store, MDB_txn *txn, const pdb_id_t *filter, size_t filter_n,
              snapshot_pos_t *pos, size_t max_entities, size_t max_bytes,
              const pdb_id_t *origin, msgpack_packer *out, size_t *count, bool *done)
{
    *count = 0;
    *done = false;
    s_pos_t at;
    int rc = s_pos_read(pos, &at);
    if (rc)
        return rc;
    s_scan_t scan;
    rc = s_scan_init(&scan, store, txn, filter, filter_n);
    s_page_t page = { origin, out, max_bytes, 0, 0 };
    //  Looking for the next entity before checking the bounds is what
    //  tells a full last page apart from one with more to come.
    while (!rc) {
        s_pos_t next;
        rc = s_find(&scan, &at, &next);
        if (!rc && next.phase == S_DONE) {
            at = next;
            *done = true;
            break;
        }
        if (rc || page.count >= max_entities)
            break;
        rc = s_emit(&scan, &at, &next, &page);
        if (rc == PDB_ENOTFOUND) {
            //  Never skipped: an entity too big for any page is an error
            //  the caller reports, not a hole in the snapshot.
            rc = page.count == 0 ? PDB_ETOOBIG : 0;
            break;
        }
    }
    s_scan_release(&scan);
    if (rc) {
        *done = false;
        return rc;
    }
    *count = page.count;
    s_pos_write(&at, pos);
    return 0;
}

//  Live records of a type in the collective.
static int
s_count_records(const s_scan_t *scan, ent_type_t type, const pdb_id_t *coll, uint64_t *total)
{
    store_iter_t it;
    int rc = store_records(scan->store, scan->txn, type, coll, &it);
    while (!rc && (rc = store_next(&it, NULL, NULL, NULL)) == 0)
        (*total)++;
    store_iter_close(&it);
    return rc == PDB_ENOTFOUND ? 0 : rc;
}

//  With a filter: each collective, its live contents, and the tombstones
//  inside it (one pass over the versions database).
static int
s_total_filtered(s_scan_t *scan, uint64_t *total)
{
    int rc = 0;
    for (size_t i = 0; i < scan->filter_n && !rc; i++) {
        store_version_t v;
        rc = store_version_get(scan->store, scan->txn, &scan->filter[i], &v);
        if (rc == PDB_ENOTFOUND || (!rc && v.entity != ENT_COLLECTIVE)) {
            rc = 0;
            continue;
        }
        if (rc)
            break;
        (*total)++;
        if (v.tombstone)
            continue;
        const ent_type_t types[] = { ENT_EXPERIENCE, ENT_RELATION, ENT_INSIGHT };
        for (size_t t = 0; t < 3 && !rc; t++)
            rc = s_count_records(scan, types[t], &scan->filter[i], total);
    }
    s_key_t found;
    uint8_t after[PDB_ID_LEN] = { 0 };
    size_t len = 0;
    while (!rc && (rc = s_next_tombstone(scan, after, len, &found)) == 0) {
        (*total)++;
        memcpy(after, found.key, PDB_ID_LEN);
        len = PDB_ID_LEN;
    }
    return rc == PDB_ENOTFOUND ? 0 : rc;
}

int
snapshot_total(store_t *store, MDB_txn *txn, const pdb_id_t *filter, size_t filter_n,
               uint64_t *total)
{
    *total = 0;
    if (filter_n == 0) {
        //  Every versions entry is sent exactly once: collectives (live or
        //  deleted), live contents through their records, other tombstones.
        return store_versions_count(store, txn, total);
    }
    s_scan_t scan;
    int rc = s_scan_init(&scan, store, txn, filter, filter_n);
    if (!rc)
        rc = s_total_filtered(&scan, total);
    s_scan_release(&scan);
    return rc;
}
