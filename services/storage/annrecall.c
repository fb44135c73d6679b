#include "annrecall.h"
#include "annidx.h"
#include "err.h"
#include "vec.h"
#include "vecblock.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

uint32_t
annrecall_ef(unsigned step)
{
    uint32_t ef = (uint32_t) ANNRECALL_EF_FIRST << (step / 2);
    return step % 2 ? ef + ef / 2 : ef;
}

typedef struct {
    double score;
    pdb_id_t id;
} s_hit_t;

//  Keeps the best `cap` by score, best first (cap is small: insertion).
static void
s_keep(s_hit_t *top, size_t *n, size_t cap, double score, const uint8_t *id)
{
    if (*n == cap && score <= top[cap - 1].score)
        return;
    size_t i = *n < cap ? (*n)++ : cap - 1;
    while (i > 0 && top[i - 1].score < score) {
        top[i] = top[i - 1];
        i--;
    }
    top[i].score = score;
    memcpy(top[i].id.b, id, PDB_ID_LEN);
}

//  The exact ANNRECALL_K nearest experiences to q, other than `self`.
static int
s_exact(store_t *store, MDB_txn *txn, const annidx_t *idx, const float *q,
        const pdb_id_t *self, s_hit_t *top, size_t *n)
{
    *n = 0;
    double q_norm2 = vec_norm2(q, idx->dim);
    vecblock_iter_t it;
    int rc = vecblock_iter_open(store, txn, &idx->collective, &it);
    vecblock_t block;
    while (!rc && !(rc = vecblock_iter_next(&it, &block))) {
        if (block.dim != idx->dim) {
            rc = PDB_ECORRUPT;
            break;
        }
        for (uint32_t i = 0; i < block.count; i++) {
            const uint8_t *id = vecblock_slot_id(&block, i);
            if (id && memcmp(id, self->b, PDB_ID_LEN))
                s_keep(top, n, ANNRECALL_K, vec_cosine(q, q_norm2,
                                                       vecblock_slot_vector(&block, i),
                                                       idx->dim), id);
        }
    }
    vecblock_iter_close(&it);
    return rc == PDB_ENOTFOUND ? 0 : rc;
}

//  How many of truth a search at ef finds for q, itself left out. As the
//  gateway does, it asks for ANN_SPARE hits more than it keeps and would
//  score them exactly: every one of truth among them is in the k it keeps,
//  so counting them there measures what a search answers.
static int
s_found(const annidx_t *idx, const float *q, uint32_t ef, const pdb_id_t *self,
        const s_hit_t *truth, size_t truth_n, uint64_t *found)
{
    pdb_id_t ids[ANNRECALL_K + ANN_SPARE + 1];
    float scores[ANNRECALL_K + ANN_SPARE + 1];
    size_t n = 0;
    int rc = annidx_search(idx, q, ANNRECALL_K + ANN_SPARE + 1, ef, ids, scores, NULL, &n);
    for (size_t i = 0, kept = 0; !rc && i < n && kept < ANNRECALL_K + ANN_SPARE; i++) {
        if (!memcmp(ids[i].b, self->b, PDB_ID_LEN))
            continue;
        kept++;
        for (size_t j = 0; j < truth_n; j++)
            if (!memcmp(ids[i].b, truth[j].id.b, PDB_ID_LEN)) {
                (*found)++;
                break;
            }
    }
    return rc;
}

//  A uniform number in (0, 1] from a 64-bit LCG (deterministic per sample).
static double
s_uniform(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return ((double) (*state >> 11) + 1.0) / 9007199254740992.0;
}

//  The query of one sample, as a new point of the data would be rather than
//  one of its stored points (a stored point's own links lead the graph
//  straight to its neighbours, so its recall looks better than a fresh
//  query's: 0.978 against 0.883 on a million clustered vectors): a stored
//  vector moved, in a random direction, as far as its nearest neighbour is.
static int
s_query(const annrecall_t *self, const annidx_t *idx, const pdb_id_t *sample, float *q)
{
    pdb_id_t ids[2];
    float scores[2];
    size_t n = 0;
    int rc = annidx_search(idx, q, 2, 64, ids, scores, NULL, &n);
    double cosine = 0.99;               // no neighbour: a small step
    for (size_t i = 0; !rc && i < n; i++)
        if (memcmp(ids[i].b, sample->b, PDB_ID_LEN)) {
            cosine = scores[i];
            break;
        }
    double step = sqrt(fmax(0.0, 2.0 - 2.0 * cosine)), norm2 = 0.0;
    uint64_t state = 0x9e3779b97f4a7c15ull * (self->done + 1);
    double *g = malloc((size_t) idx->dim * sizeof *g);
    if (!g)
        return -ENOMEM;
    for (uint32_t i = 0; i < idx->dim; i++) {      // Box-Muller: a Gaussian direction
        g[i] = sqrt(-2.0 * log(s_uniform(&state))) * cos(6.283185307179586 * s_uniform(&state));
        norm2 += g[i] * g[i];
    }
    double scale = norm2 > 0.0 ? step / sqrt(norm2) : 0.0, qn = 0.0;
    for (uint32_t i = 0; i < idx->dim; i++) {
        q[i] = (float) (q[i] + g[i] * scale);
        qn += (double) q[i] * q[i];
    }
    for (uint32_t i = 0; i < idx->dim; i++)
        q[i] = (float) (q[i] / sqrt(qn));
    free(g);
    return rc;
}

int
annrecall_step(annrecall_t *self, annidx_t *idx, store_t *store, MDB_txn *txn, bool *done)
{
    *done = self->done >= ANNRECALL_SAMPLES;
    if (*done)
        return 0;
    pdb_id_t sample;
    MDB_val vector;
    int rc = annidx_sample(idx, store, txn, (uint64_t) self->done * 2654435761u, &sample,
                           &vector);
    if (rc == PDB_ENOTFOUND) {
        *done = true;
        return 0;
    }
    float *q = rc ? NULL : malloc((size_t) idx->dim * sizeof *q);
    if (!rc && !q)
        rc = -ENOMEM;
    if (rc)
        return rc;
    memcpy(q, vector.mv_data, (size_t) idx->dim * sizeof *q);
    double norm2 = 0.0;
    for (uint32_t i = 0; i < idx->dim; i++)
        norm2 += (double) q[i] * q[i];
    for (uint32_t i = 0; i < idx->dim; i++)
        q[i] = (float) (q[i] / sqrt(norm2));         // a sample has a direction
    rc = s_query(self, idx, &sample, q);
    //  The moved query is no stored point: every experience may be its answer.
    pdb_id_t none;
    memset(&none, 0, sizeof none);
    s_hit_t truth[ANNRECALL_K];
    size_t truth_n = 0;
    if (!rc)
        rc = s_exact(store, txn, idx, q, &none, truth, &truth_n);
    for (unsigned step = 0; !rc && step < ANNRECALL_STEPS; step++)
        rc = s_found(idx, q, annrecall_ef(step), &none, truth, truth_n, &self->found[step]);
    free(q);
    if (rc)
        return rc;
    self->wanted += truth_n;
    self->done++;
    *done = self->done >= ANNRECALL_SAMPLES;
    return 0;
}

uint32_t
annrecall_choose(const annrecall_t *self, uint32_t ef_floor, double *recall)
{
    *recall = 1.0;
    if (self->wanted == 0)
        return ef_floor;
    double best = 0.0;
    bool tried = false;
    for (unsigned step = 0; step < ANNRECALL_STEPS; step++) {
        if (annrecall_ef(step) < ef_floor)
            continue;
        tried = true;
        double r = (double) self->found[step] / (double) self->wanted;
        best = r > best ? r : best;
        if (r >= ANNRECALL_TARGET) {
            *recall = r;
            return annrecall_ef(step);
        }
    }
    *recall = tried ? best : -1.0;
    return tried ? 0 : ef_floor;
}
