/*  retry.h - exponential backoff with full jitter: after the n-th
    consecutive failure the delay is drawn uniformly from 0..cap(n), where
    cap(n) = min(max, initial * multiplier^(n-1)). Full jitter spreads the
    retries of many syncers that failed together (a restarted peer) instead
    of having them knock in lockstep.
*/
#ifndef PDB_SYNCER_RETRY_H
#define PDB_SYNCER_RETRY_H

#include "senv.h"

#include <stdint.h>

typedef struct {
    uint64_t initial_ms;
    uint64_t max_ms;
    unsigned multiplier_pct;     // 200 doubles the cap each failure
    unsigned failures;           // consecutive, since the last success
    const senv_t *env;           // borrowed: randomness
} retry_t;

void retry_init(retry_t *self, uint64_t initial_ms, uint64_t max_ms, unsigned multiplier_pct,
                const senv_t *env);

//  The upper bound of the delay after `failures` consecutive failures (0
//  for none).
uint64_t retry_cap_ms(const retry_t *self, unsigned failures);

//  Counts one more failure and returns the delay before the next attempt.
uint64_t retry_failed(retry_t *self);

//  A success: the next failure starts from the initial delay again.
void retry_reset(retry_t *self);

#endif
