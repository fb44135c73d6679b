/*  annrecall.h - how many true nearest neighbours an index finds, measured
    on its own collective, and the smallest ef that finds enough of them.

    Each sample is a query made from a stored vector, moved in a random
    direction as far as its nearest neighbour lies (so it is like a new
    point of the data, not one the graph holds): its 10 nearest experiences,
    ranked exactly from the collective's blocks, against what the index
    returns at each ef of ANNRECALL_EFS. Graph indexes do well on data with neighbourhood
    structure (embeddings of text, which cluster) and badly on data without
    (vectors uniform in a cube: 0.25 recall at ef=256 on 100,000 of them,
    BENCHMARKS.md): an index whose recall stays below the target at every
    ef is not used, and searches scan exactly instead, so an approximate
    answer is never silently poor.
*/
#ifndef PDB_ANNRECALL_H
#define PDB_ANNRECALL_H

#include "store.h"

#include <stdbool.h>
#include <stdint.h>

struct annidx_s;

//  The goal is 95% of the true top 10; 100 samples (1,000 neighbours)
//  measure it within about +-1.2% (two standard errors), so the measured
//  recall must reach 96%.
#define ANNRECALL_TARGET 0.96
#define ANNRECALL_SAMPLES 100
#define ANNRECALL_K 10
//  ef 16, 24, 32, 48, ..., 1536, 2048: half steps, because a search's time
//  grows with ef, and at a million vectors 64 can fall just short where
//  128 is more than needed.
#define ANNRECALL_STEPS 15
#define ANNRECALL_EF_FIRST 16

typedef struct {
    uint32_t done;                      // samples measured
    uint64_t found[ANNRECALL_STEPS];    // true neighbours found at each ef
    uint64_t wanted;                    // true neighbours looked for
} annrecall_t;

//  The ef of step i.
uint32_t annrecall_ef(unsigned step);

//  Measures one more sample (its vector and the exact ranking read in txn).
//  *done once ANNRECALL_SAMPLES are measured, or when the collective has
//  too few vectors to sample. Returns 0, -ENOMEM or a store code.
int  annrecall_step(annrecall_t *self, struct annidx_s *idx, store_t *store, MDB_txn *txn,
                    bool *done);

//  The smallest ef, at least ef_floor, whose measured recall reaches the
//  target, with that recall; 0 when none does (*recall: the best seen).
uint32_t annrecall_choose(const annrecall_t *self, uint32_t ef_floor, double *recall);

#endif
