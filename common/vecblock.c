#include "vecblock.h"
#include "store_db.h"
#include "bounds.h"
#include "err.h"

#include <math.h>
#include <string.h>

size_t
vecblock_slot_len(uint32_t dim)
{
    return PDB_ID_LEN + VECBLOCK_QUANT_LEN + (size_t) dim * (1 + sizeof(float));
}

uint32_t
vecblock_slots_per_block(uint32_t dim)
{
    size_t n = VECBLOCK_TARGET_BYTES / vecblock_slot_len(dim);
    return n < VECBLOCK_MIN_SLOTS ? VECBLOCK_MIN_SLOTS : (uint32_t) n;
}

size_t
vecblock_len(uint32_t dim, uint32_t count)
{
    return VECBLOCK_HDR_LEN + (size_t) count * vecblock_slot_len(dim);
}

void
vecblock_quantize(const void *vector, uint32_t dim, uint8_t *codes, float *scale, float *error)
{
    const uint8_t *p = vector;
    double norm2 = 0.0, top = 0.0;
    for (uint32_t i = 0; i < dim; i++) {
        float x;
        memcpy(&x, p + (size_t) i * sizeof x, sizeof x);
        norm2 += (double) x * x;
        top = fabs((double) x) > top ? fabs((double) x) : top;
    }
    memset(codes, VECBLOCK_CODE_BIAS, dim);
    *scale = *error = 0.0f;
    if (!(norm2 > 0.0) || !isfinite(norm2))
        return;                     // scores 0 against anything, as vec_cosine does
    double norm = sqrt(norm2);
    //  The stored (float32) scale is the one the bound must hold for.
    float a = (float) (top / norm / VECBLOCK_CODE_MAX);
    if (!(a > 0.0f))
        return;
    double err2 = 0.0;
    for (uint32_t i = 0; i < dim; i++) {
        float x;
        memcpy(&x, p + (size_t) i * sizeof x, sizeof x);
        double u = (double) x / norm;
        double c = nearbyint(u / a);
        c = c > VECBLOCK_CODE_MAX ? VECBLOCK_CODE_MAX : c < -VECBLOCK_CODE_MAX ? -VECBLOCK_CODE_MAX : c;
        codes[i] = (uint8_t) ((int) c + VECBLOCK_CODE_BIAS);
        double r = u - c * a;
        err2 += r * r;
    }
    *scale = a;
    //  Rounded up: the bound must never be below the true error.
    *error = nextafterf((float) (sqrt(err2) * (1.0 + 1e-9)), INFINITY);
}

void
vecblock_key(uint8_t out[VECBLOCK_KEY_LEN], const pdb_id_t *collective, uint32_t block)
{
    memcpy(out, collective->b, PDB_ID_LEN);
    for (int i = 0; i < 4; i++)
        out[PDB_ID_LEN + i] = (uint8_t) (block >> (24 - 8 * i));
}

uint32_t
vecblock_key_number(const MDB_val *key)
{
    const uint8_t *p = (const uint8_t *) key->mv_data + PDB_ID_LEN;
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

int
vecblock_layout(store_t *store, MDB_txn *txn, uint32_t *layout)
{
    *layout = 0;
    if (!store->vec_dbs)
        return 0;
    MDB_val key = { sizeof VECBLOCK_META_KEY - 1, (void *) VECBLOCK_META_KEY }, val;
    int rc = mdb_get(txn, store->meta, &key, &val);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return pdb_from_mdb(rc);
    uint32_t got;
    if (val.mv_size != sizeof got)
        return PDB_ECORRUPT;
    memcpy(&got, val.mv_data, sizeof got);
    if (got != VECBLOCK_LAYOUT_BESIDE && got != VECBLOCK_LAYOUT)
        return PDB_ECORRUPT;
    *layout = got;
    return 0;
}

bool
vecblock_ready(store_t *store, MDB_txn *txn)
{
    uint32_t layout;
    return vecblock_layout(store, txn, &layout) == 0 && layout != 0;
}

int
vecblock_slot_find(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
                   const pdb_id_t *id, uint32_t *number, uint32_t *slot)
{
    if (!store->vec_dbs)
        return PDB_ENOTFOUND;
    uint8_t pair[STORE_KEY_PAIR_LEN];
    store_key_pair(pair, collective, id);
    MDB_val key = { sizeof pair, pair }, val;
    int rc = pdb_from_mdb(mdb_get(txn, store->vec_slots, &key, &val));
    if (rc)
        return rc;
    if (val.mv_size != 8)
        return PDB_ECORRUPT;
    memcpy(number, val.mv_data, 4);
    memcpy(slot, (const uint8_t *) val.mv_data + 4, 4);
    return 0;
}

int
vecblock_vector_at(store_t *store, MDB_txn *txn, const pdb_id_t *collective, uint32_t number,
                   uint32_t slot, const pdb_id_t *id, MDB_val *vector)
{
    if (!store->vec_dbs)
        return PDB_ENOTFOUND;
    uint8_t kbuf[VECBLOCK_KEY_LEN];
    vecblock_key(kbuf, collective, number);
    MDB_val key = { sizeof kbuf, kbuf }, val;
    vecblock_t block;
    int rc = pdb_from_mdb(mdb_get(txn, store->vec_blocks, &key, &val));
    if (!rc)
        rc = vecblock_decode(number, &val, &block);
    if (rc)
        return rc;
    const uint8_t *held = slot < block.count ? vecblock_slot_id(&block, slot) : NULL;
    if (!held || memcmp(held, id->b, PDB_ID_LEN) != 0)
        return PDB_ENOTFOUND;
    vector->mv_size = (size_t) block.dim * sizeof(float);
    vector->mv_data = (void *) vecblock_slot_vector(&block, slot);
    return 0;
}

int
vecblock_vector_get(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
                    const pdb_id_t *id, MDB_val *vector)
{
    uint32_t number, slot;
    int rc = vecblock_slot_find(store, txn, collective, id, &number, &slot);
    if (rc)
        return rc;
    rc = vecblock_vector_at(store, txn, collective, number, slot, id, vector);
    return rc == PDB_ENOTFOUND ? PDB_ECORRUPT : rc;     // a slot entry that misleads
}

int
vecblock_head_get(store_t *store, MDB_txn *txn, const pdb_id_t *collective, vecblock_head_t *out)
{
    MDB_val key = { PDB_ID_LEN, (void *) collective->b }, val;
    int rc = pdb_from_mdb(mdb_get(txn, store->vec_blocks, &key, &val));
    if (rc)
        return rc;
    if (val.mv_size != VECBLOCK_HEAD_LEN)
        return PDB_ECORRUPT;
    const uint8_t *p = val.mv_data;
    vecblock_head_t h;
    memcpy(&h.dim, p, 4);
    memcpy(&h.slots_per_block, p + 4, 4);
    memcpy(&h.next_block, p + 8, 4);
    memcpy(&h.live, p + 16, 8);
    if (h.dim == 0 || h.dim > PDB_DIM_MAX || h.slots_per_block != vecblock_slots_per_block(h.dim))
        return PDB_ECORRUPT;
    *out = h;
    return 0;
}

void
vecblock_head_pack(const vecblock_head_t *head, uint8_t out[VECBLOCK_HEAD_LEN])
{
    uint32_t zero = 0;
    memcpy(out, &head->dim, 4);
    memcpy(out + 4, &head->slots_per_block, 4);
    memcpy(out + 8, &head->next_block, 4);
    memcpy(out + 12, &zero, 4);
    memcpy(out + 16, &head->live, 8);
}

int
vecblock_decode(uint32_t number, const MDB_val *val, vecblock_t *out)
{
    if (val->mv_size < VECBLOCK_HDR_LEN)
        return PDB_ECORRUPT;
    const uint8_t *p = val->mv_data;
    vecblock_t b = { .number = number };
    memcpy(&b.count, p, 4);
    memcpy(&b.live, p + 4, 4);
    memcpy(&b.dim, p + 8, 4);
    if (b.dim == 0 || b.dim > PDB_DIM_MAX || b.count > vecblock_slots_per_block(b.dim)
        || b.live > b.count || val->mv_size != vecblock_len(b.dim, b.count))
        return PDB_ECORRUPT;
    b.ids = p + VECBLOCK_HDR_LEN;
    b.quant = b.ids + (size_t) b.count * PDB_ID_LEN;
    b.codes = b.quant + (size_t) b.count * VECBLOCK_QUANT_LEN;
    b.vectors = b.codes + (size_t) b.count * b.dim;
    *out = b;
    return 0;
}

const uint8_t *
vecblock_slot_id(const vecblock_t *block, uint32_t i)
{
    const uint8_t *id = block->ids + (size_t) i * PDB_ID_LEN;
    uint64_t a, b;
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    return (a | b) ? id : NULL;
}

const void *
vecblock_slot_vector(const vecblock_t *block, uint32_t i)
{
    return block->vectors + (size_t) i * block->dim * sizeof(float);
}

const uint8_t *
vecblock_slot_codes(const vecblock_t *block, uint32_t i)
{
    return block->codes + (size_t) i * block->dim;
}

void
vecblock_slot_quant(const vecblock_t *block, uint32_t i, float *scale, float *error)
{
    const uint8_t *q = block->quant + (size_t) i * VECBLOCK_QUANT_LEN;
    memcpy(scale, q, sizeof *scale);
    memcpy(error, q + sizeof *scale, sizeof *error);
}

int
vecblock_iter_open(store_t *store, MDB_txn *txn, const pdb_id_t *collective, vecblock_iter_t *it)
{
    memset(it, 0, sizeof *it);
    it->collective = *collective;
    return pdb_from_mdb(mdb_cursor_open(txn, store->vec_blocks, &it->cur));
}

void
vecblock_iter_from(vecblock_iter_t *it, uint32_t number)
{
    it->first = number;
}

int
vecblock_iter_next(vecblock_iter_t *it, vecblock_t *out)
{
    uint32_t number = 0;
    MDB_val val = { 0, NULL };
    int rc = vecblock_iter_next_raw(it, &number, &val);
    return rc ? rc : vecblock_decode(number, &val, out);
}

int
vecblock_iter_next_raw(vecblock_iter_t *it, uint32_t *number, MDB_val *val_out)
{
    MDB_val key, val;
    int rc;
    if (it->started)
        rc = mdb_cursor_get(it->cur, &key, &val, MDB_NEXT);
    else {
        //  The first key of a collective is its head (16 bytes); blocks follow.
        uint8_t first[VECBLOCK_KEY_LEN];
        vecblock_key(first, &it->collective, it->first);
        key.mv_size = sizeof first;
        key.mv_data = first;
        rc = mdb_cursor_get(it->cur, &key, &val, MDB_SET_RANGE);
        it->started = true;
    }
    if (rc)
        return pdb_from_mdb(rc);
    if (key.mv_size != VECBLOCK_KEY_LEN || memcmp(key.mv_data, it->collective.b, PDB_ID_LEN))
        return PDB_ENOTFOUND;
    *number = vecblock_key_number(&key);
    *val_out = val;
    return 0;
}

void
vecblock_iter_close(vecblock_iter_t *it)
{
    if (it->cur)
        mdb_cursor_close(it->cur);
    it->cur = NULL;
}
