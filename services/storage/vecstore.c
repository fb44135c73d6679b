#include "vecstore.h"
#include "vecblock.h"
#include "bounds.h"
#include "clock.h"
#include "err.h"
#include "log.h"
#include "store_db.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define VECSTORE_BUILD_BATCH 4096u      // embeddings per build transaction: bounds its dirty pages
#define VECSTORE_BUILD_LOG_MS 5000u     // progress line interval while building

//  --------------------------------------------------------------------------
//  One block being rewritten: a private copy of its slots, laid out for
//  one more than it holds, changed, then stored whole (the stored bytes
//  may move under a write, so nothing is edited in place).

typedef struct {
    uint8_t *ids, *quant, *codes, *vectors;   // arrays of cap entries, in one allocation
    uint32_t cap;
    uint32_t count;
    uint32_t live;
    uint32_t dim;
} s_edit_t;

static int
s_edit_begin(s_edit_t *e, const vecblock_t *old, uint32_t dim)
{
    e->dim = dim;
    e->count = old ? old->count : 0;
    e->live = old ? old->live : 0;
    e->cap = e->count + 1;
    size_t vlen = (size_t) dim * sizeof(float);
    e->ids = malloc((size_t) e->cap * vecblock_slot_len(dim));
    if (!e->ids)
        return -ENOMEM;
    e->quant = e->ids + (size_t) e->cap * PDB_ID_LEN;
    e->codes = e->quant + (size_t) e->cap * VECBLOCK_QUANT_LEN;
    e->vectors = e->codes + (size_t) e->cap * dim;
    if (old && old->count) {
        memcpy(e->ids, old->ids, (size_t) old->count * PDB_ID_LEN);
        memcpy(e->quant, old->quant, (size_t) old->count * VECBLOCK_QUANT_LEN);
        memcpy(e->codes, old->codes, (size_t) old->count * dim);
        memcpy(e->vectors, old->vectors, (size_t) old->count * vlen);
    }
    return 0;
}

static bool
s_edit_cleared(const s_edit_t *e, uint32_t i)
{
    static const uint8_t zero[PDB_ID_LEN];
    return memcmp(e->ids + (size_t) i * PDB_ID_LEN, zero, PDB_ID_LEN) == 0;
}

//  Fills slot i with an experience, or clears it (id NULL): a cleared slot
//  is zeros but for a negative error bound.
static void
s_edit_set(s_edit_t *e, uint32_t i, const pdb_id_t *id, const void *vector)
{
    size_t vlen = (size_t) e->dim * sizeof(float);
    float scale = 0.0f, error = -1.0f;
    if (id) {
        memcpy(e->ids + (size_t) i * PDB_ID_LEN, id->b, PDB_ID_LEN);
        memcpy(e->vectors + (size_t) i * vlen, vector, vlen);
        vecblock_quantize(vector, e->dim, e->codes + (size_t) i * e->dim, &scale, &error);
    }
    else {
        memset(e->ids + (size_t) i * PDB_ID_LEN, 0, PDB_ID_LEN);
        memset(e->vectors + (size_t) i * vlen, 0, vlen);
        memset(e->codes + (size_t) i * e->dim, 0, e->dim);
    }
    memcpy(e->quant + (size_t) i * VECBLOCK_QUANT_LEN, &scale, sizeof scale);
    memcpy(e->quant + (size_t) i * VECBLOCK_QUANT_LEN + sizeof scale, &error, sizeof error);
}

//  The stored form of the first e->count slots.
static uint8_t *
s_edit_pack(const s_edit_t *e, size_t *len)
{
    *len = vecblock_len(e->dim, e->count);
    uint8_t *out = malloc(*len), *p = out;
    if (!out)
        return NULL;
    uint32_t zero = 0;
    memcpy(p, &e->count, 4);
    memcpy(p + 4, &e->live, 4);
    memcpy(p + 8, &e->dim, 4);
    memcpy(p + 12, &zero, 4);
    p += VECBLOCK_HDR_LEN;
    size_t n = e->count;
    memcpy(p, e->ids, n * PDB_ID_LEN);
    p += n * PDB_ID_LEN;
    memcpy(p, e->quant, n * VECBLOCK_QUANT_LEN);
    p += n * VECBLOCK_QUANT_LEN;
    memcpy(p, e->codes, n * e->dim);
    p += n * e->dim;
    memcpy(p, e->vectors, n * e->dim * sizeof(float));
    return out;
}

//  Writes the block back, or deletes it when no slot is left, and keeps
//  its free mark exactly when it has a cleared slot. Frees the copy.
static int
s_edit_store(store_t *store, MDB_txn *txn, const pdb_id_t *collective, uint32_t number,
             s_edit_t *e)
{
    //  Cleared slots at the end are given back rather than marked.
    while (e->count > 0 && s_edit_cleared(e, e->count - 1))
        e->count--;
    uint8_t kbuf[VECBLOCK_KEY_LEN];
    vecblock_key(kbuf, collective, number);
    MDB_val key = { sizeof kbuf, kbuf }, val = { 0, NULL };
    uint8_t *packed = e->count ? s_edit_pack(e, &val.mv_size) : NULL;
    free(e->ids);
    e->ids = NULL;
    if (e->count && !packed)
        return -ENOMEM;
    val.mv_data = packed;
    int rc = e->count ? mdb_put(txn, store->vec_blocks, &key, &val, 0)
                      : mdb_del(txn, store->vec_blocks, &key, NULL);
    free(packed);
    if (rc == MDB_SUCCESS) {
        MDB_val none = { 0, NULL };
        rc = e->live < e->count ? mdb_put(txn, store->vec_free, &key, &none, 0)
                                : mdb_del(txn, store->vec_free, &key, NULL);
        rc = rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
    }
    return pdb_from_mdb(rc);
}

//  --------------------------------------------------------------------------
//  Reads

static int
s_block_get(store_t *store, MDB_txn *txn, const pdb_id_t *collective, uint32_t number,
            vecblock_t *out)
{
    uint8_t kbuf[VECBLOCK_KEY_LEN];
    vecblock_key(kbuf, collective, number);
    MDB_val key = { sizeof kbuf, kbuf }, val;
    int rc = pdb_from_mdb(mdb_get(txn, store->vec_blocks, &key, &val));
    return rc ? rc : vecblock_decode(number, &val, out);
}

//  The lowest-numbered block of the collective with a cleared slot.
static int
s_first_free(store_t *store, MDB_txn *txn, const pdb_id_t *collective, uint32_t *number)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, store->vec_free, &cur);
    if (rc)
        return pdb_from_mdb(rc);
    MDB_val key = { PDB_ID_LEN, (void *) collective->b }, val;
    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    if (rc == 0 && (key.mv_size != VECBLOCK_KEY_LEN
                    || memcmp(key.mv_data, collective->b, PDB_ID_LEN) != 0))
        rc = MDB_NOTFOUND;
    if (rc == 0)
        *number = vecblock_key_number(&key);
    mdb_cursor_close(cur);
    return pdb_from_mdb(rc);
}

static int
s_head_put(store_t *store, MDB_txn *txn, const pdb_id_t *collective, const vecblock_head_t *h)
{
    uint8_t buf[VECBLOCK_HEAD_LEN];
    vecblock_head_pack(h, buf);
    MDB_val key = { PDB_ID_LEN, (void *) collective->b }, val = { sizeof buf, buf };
    return pdb_from_mdb(mdb_put(txn, store->vec_blocks, &key, &val, 0));
}

//  --------------------------------------------------------------------------
//  Add

//  Picks where the new vector goes and writes it there.
static int
s_place(store_t *store, MDB_txn *txn, const pdb_id_t *collective, vecblock_head_t *head,
        const pdb_id_t *id, const void *vector, uint32_t *number, uint32_t *slot)
{
    vecblock_t old;
    const vecblock_t *from = NULL;
    int rc = s_first_free(store, txn, collective, number);
    if (rc == 0) {
        rc = s_block_get(store, txn, collective, *number, &old);
        for (*slot = 0; !rc && *slot < old.count; (*slot)++)
            if (!vecblock_slot_id(&old, *slot))
                break;
        //  Marked free, but missing or without a cleared slot.
        if (rc == PDB_ENOTFOUND || (!rc && *slot == old.count))
            rc = PDB_ECORRUPT;
        from = &old;
    }
    else if (rc == PDB_ENOTFOUND && head->next_block > 0) {
        *number = head->next_block - 1;
        rc = s_block_get(store, txn, collective, *number, &old);
        if (rc == 0 && old.count < head->slots_per_block) {
            *slot = old.count;
            from = &old;
        }
    }
    if (rc && rc != PDB_ENOTFOUND)
        return rc;
    if (!from) {
        *number = head->next_block++;
        *slot = 0;
    }
    if (from && from->dim != head->dim)
        return PDB_ECORRUPT;
    s_edit_t e;
    rc = s_edit_begin(&e, from, head->dim);
    if (rc)
        return rc;
    if (*slot == e.count)
        e.count++;
    e.live++;
    s_edit_set(&e, *slot, id, vector);
    return s_edit_store(store, txn, collective, *number, &e);
}

int
vecstore_add(store_t *store, MDB_txn *txn, const pdb_id_t *collective, const pdb_id_t *id,
             const void *vector, size_t len)
{
    if (len == 0 || len % sizeof(float) || len / sizeof(float) > PDB_DIM_MAX)
        return PDB_EINVAL;
    uint8_t pair[STORE_KEY_PAIR_LEN];
    store_key_pair(pair, collective, id);
    uint32_t number = 0, slot = 0;
    int rc = vecblock_slot_find(store, txn, collective, id, &number, &slot);
    if (rc != PDB_ENOTFOUND)
        return rc;                      // 0: it has its slot already
    vecblock_head_t head;
    rc = vecblock_head_get(store, txn, collective, &head);
    if (rc == PDB_ENOTFOUND) {
        head.dim = (uint32_t) (len / sizeof(float));
        head.slots_per_block = vecblock_slots_per_block(head.dim);
        head.next_block = 0;
        head.live = 0;
        rc = 0;
    }
    if (rc)
        return rc;
    if ((size_t) head.dim * sizeof(float) != len)
        return PDB_EINVAL;
    rc = s_place(store, txn, collective, &head, id, vector, &number, &slot);
    uint8_t loc[8];
    memcpy(loc, &number, 4);
    memcpy(loc + 4, &slot, 4);
    MDB_val key = { sizeof pair, pair }, val = { sizeof loc, loc };
    if (!rc)
        rc = pdb_from_mdb(mdb_put(txn, store->vec_slots, &key, &val, 0));
    head.live++;
    return rc ? rc : s_head_put(store, txn, collective, &head);
}

//  --------------------------------------------------------------------------
//  Remove

int
vecstore_remove(store_t *store, MDB_txn *txn, const pdb_id_t *collective, const pdb_id_t *id)
{
    uint8_t pair[STORE_KEY_PAIR_LEN];
    store_key_pair(pair, collective, id);
    uint32_t number = 0, slot = 0;
    int rc = vecblock_slot_find(store, txn, collective, id, &number, &slot);
    if (rc == PDB_ENOTFOUND)
        return 0;
    vecblock_head_t head;
    vecblock_t old;
    if (!rc)
        rc = vecblock_head_get(store, txn, collective, &head);
    if (!rc)
        rc = s_block_get(store, txn, collective, number, &old);
    if (rc)
        return rc == PDB_ENOTFOUND ? PDB_ECORRUPT : rc;
    const uint8_t *held = slot < old.count ? vecblock_slot_id(&old, slot) : NULL;
    if (!held || memcmp(held, id->b, PDB_ID_LEN) != 0 || old.live == 0 || head.live == 0)
        return PDB_ECORRUPT;
    s_edit_t e;
    rc = s_edit_begin(&e, &old, old.dim);
    if (rc)
        return rc;
    s_edit_set(&e, slot, NULL, NULL);       // nothing of it stays readable
    e.live--;
    rc = s_edit_store(store, txn, collective, number, &e);
    MDB_val key = { sizeof pair, pair };
    if (!rc)
        rc = pdb_from_mdb(mdb_del(txn, store->vec_slots, &key, NULL));
    head.live--;
    return rc ? rc : s_head_put(store, txn, collective, &head);
}

//  --------------------------------------------------------------------------
//  Drop

//  Deletes every key of dbi that starts with the collective id.
static int
s_del_prefix(MDB_txn *txn, MDB_dbi dbi, const pdb_id_t *collective)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return pdb_from_mdb(rc);
    while (rc == 0) {
        //  Seek each time rather than trust the cursor after a delete.
        MDB_val key = { PDB_ID_LEN, (void *) collective->b }, val;
        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
        if (rc == 0 && (key.mv_size < PDB_ID_LEN
                        || memcmp(key.mv_data, collective->b, PDB_ID_LEN) != 0))
            rc = MDB_NOTFOUND;
        if (rc == 0)
            rc = mdb_cursor_del(cur, 0);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : pdb_from_mdb(rc);
}

int
vecstore_drop(store_t *store, MDB_txn *txn, const pdb_id_t *collective)
{
    int rc = s_del_prefix(txn, store->vec_blocks, collective);
    if (!rc)
        rc = s_del_prefix(txn, store->vec_slots, collective);
    return rc ? rc : s_del_prefix(txn, store->vec_free, collective);
}

//  --------------------------------------------------------------------------
//  Build for a folder written before the layout existed

//  Adds up to VECSTORE_BUILD_BATCH embeddings after `last` (all-zero key:
//  from the start) in txn; *done says the end was reached.
static int
s_build_batch(store_t *store, MDB_txn *txn, uint8_t last[STORE_KEY_PAIR_LEN], bool *started,
              uint64_t *added, uint64_t *skipped, bool *done)
{
    MDB_cursor *cur;
    int rc = pdb_from_mdb(mdb_cursor_open(txn, store->embeddings, &cur));
    if (rc)
        return rc;
    MDB_val key = { STORE_KEY_PAIR_LEN, last }, val;
    int mrc = mdb_cursor_get(cur, &key, &val, *started ? MDB_SET_RANGE : MDB_FIRST);
    if (mrc == 0 && *started && key.mv_size == STORE_KEY_PAIR_LEN
        && memcmp(key.mv_data, last, STORE_KEY_PAIR_LEN) == 0)
        mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
    *started = true;
    for (uint32_t n = 0; mrc == 0 && !rc && n < VECSTORE_BUILD_BATCH; n++) {
        pdb_id_t coll, id;
        memcpy(last, key.mv_data, STORE_KEY_PAIR_LEN);
        memcpy(coll.b, last, PDB_ID_LEN);
        memcpy(id.b, last + PDB_ID_LEN, PDB_ID_LEN);
        //  The cursor's database is not written here, so val stays valid.
        rc = key.mv_size == STORE_KEY_PAIR_LEN
           ? vecstore_add(store, txn, &coll, &id, val.mv_data, val.mv_size) : PDB_EINVAL;
        if (rc == PDB_EINVAL) {
            (*skipped)++;               // not a vector of its collective's size
            rc = 0;
        }
        else if (!rc)
            (*added)++;
        if (!rc)
            mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    *done = mrc == MDB_NOTFOUND;
    if (!rc && mrc && mrc != MDB_NOTFOUND)
        rc = pdb_from_mdb(mrc);
    return rc;
}

//  What the folder holds: its layout marker and, unless its blocks hold
//  every embedding already, how many its embeddings database has. A build
//  cut short is cleared first.
static int
s_build_start(store_t *store, uint32_t *layout, uint64_t *total)
{
    MDB_txn *txn;
    int rc = pdb_from_mdb(mdb_txn_begin(store->env, NULL, 0, &txn));
    if (rc)
        return rc;
    rc = vecblock_layout(store, txn, layout);
    MDB_stat st = { .ms_entries = 0 };
    if (!rc && *layout != VECBLOCK_LAYOUT)
        rc = pdb_from_mdb(mdb_stat(txn, store->embeddings, &st));
    if (!rc && *layout == 0)
        rc = pdb_from_mdb(mdb_drop(txn, store->vec_blocks, 0));
    if (!rc && *layout == 0)
        rc = pdb_from_mdb(mdb_drop(txn, store->vec_slots, 0));
    if (!rc && *layout == 0)
        rc = pdb_from_mdb(mdb_drop(txn, store->vec_free, 0));
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    *total = st.ms_entries;
    return pdb_from_mdb(mdb_txn_commit(txn));
}

//  In the transaction that completes the blocks: the embeddings database
//  is emptied (its pages go back to the free list), and the marker and the
//  schema say so together, so no build that still reads that database
//  opens the folder again (store.h).
static int
s_take_over(store_t *store, MDB_txn *txn)
{
    uint32_t layout = VECBLOCK_LAYOUT, schema = STORE_SCHEMA_VERSION;
    MDB_val key = { sizeof VECBLOCK_META_KEY - 1, (void *) VECBLOCK_META_KEY };
    MDB_val val = { sizeof layout, &layout };
    MDB_val skey = { sizeof STORE_META_SCHEMA - 1, (void *) STORE_META_SCHEMA };
    MDB_val sval = { sizeof schema, &schema };
    int rc = mdb_drop(txn, store->embeddings, 0);
    if (!rc)
        rc = mdb_put(txn, store->meta, &key, &val, 0);
    if (!rc)
        rc = mdb_put(txn, store->meta, &skey, &sval, 0);
    return pdb_from_mdb(rc);
}

//  Fills the blocks from the embeddings database in bounded transactions,
//  the last of which takes over.
static int
s_build(store_t *store, uint64_t total)
{
    uint64_t added = 0, skipped = 0;
    if (total)
        log_i("storage", "building search blocks embeddings=%llu", (unsigned long long) total);
    uint8_t last[STORE_KEY_PAIR_LEN] = { 0 };
    bool started = false, done = false;
    uint64_t t0 = clock_mono_ms(), logged = t0;
    int rc = 0;
    while (!rc && !done) {
        MDB_txn *txn;
        rc = pdb_from_mdb(mdb_txn_begin(store->env, NULL, 0, &txn));
        if (rc)
            break;
        rc = s_build_batch(store, txn, last, &started, &added, &skipped, &done);
        if (!rc && done)
            rc = s_take_over(store, txn);
        if (rc)
            mdb_txn_abort(txn);
        else
            rc = pdb_from_mdb(mdb_txn_commit(txn));
        if (!rc && !done && clock_mono_ms() - logged >= VECSTORE_BUILD_LOG_MS) {
            logged = clock_mono_ms();
            log_i("storage", "building search blocks done=%llu total=%llu",
                  (unsigned long long) added, (unsigned long long) total);
        }
    }
    if (rc) {
        log_e("storage", "building search blocks failed done=%llu rc=%d (%s)",
              (unsigned long long) added, rc, pdb_strerror(rc));
        return rc;
    }
    if (skipped)
        log_w("storage", "search blocks built embeddings=%llu ms=%llu; dropped %llu of another "
              "size than their collective's", (unsigned long long) added,
              (unsigned long long) (clock_mono_ms() - t0), (unsigned long long) skipped);
    else if (total)
        log_i("storage", "search blocks built embeddings=%llu ms=%llu", (unsigned long long) added,
              (unsigned long long) (clock_mono_ms() - t0));
    return 0;
}

int
vecstore_ensure(store_t *store)
{
    uint32_t layout;
    uint64_t total;
    int rc = s_build_start(store, &layout, &total);
    if (rc || layout == VECBLOCK_LAYOUT)
        return rc;
    if (layout == 0)
        return s_build(store, total);
    //  Blocks built beside the database (schema 1): they are complete.
    MDB_txn *txn;
    rc = pdb_from_mdb(mdb_txn_begin(store->env, NULL, 0, &txn));
    if (!rc) {
        rc = s_take_over(store, txn);
        if (rc)
            mdb_txn_abort(txn);
        else
            rc = pdb_from_mdb(mdb_txn_commit(txn));
    }
    if (rc)
        log_e("storage", "moving embeddings into search blocks failed rc=%d (%s)", rc,
              pdb_strerror(rc));
    else if (total)
        log_i("storage", "embeddings now kept in search blocks only: freed the copies of %llu",
              (unsigned long long) total);
    return rc;
}
