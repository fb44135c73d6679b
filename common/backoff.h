/*  backoff.h - exponential backoff: after the n-th consecutive failure the
    delay is at most cap(n) = min(max, initial * multiplier^(n-1)), and a
    success starts over. The caller picks the delay: the cap itself (the
    supervisor restarting a child: 100 ms, 200 ms, ... 10 s) or full jitter,
    a uniform draw from 0..cap (the syncer: syncers that failed together,
    say against a restarted peer, then do not knock again in lockstep).
    Pure arithmetic: randomness is passed in, so tests need no clock and no
    random source.
*/
#ifndef PDB_BACKOFF_H
#define PDB_BACKOFF_H

#include <stdint.h>

typedef struct {
    uint64_t initial_ms;
    uint64_t max_ms;
    unsigned multiplier_pct;     // 200 doubles the cap each failure
    unsigned failures;           // consecutive, since the last success
} backoff_t;

//  A maximum below the initial delay is raised to it, a multiplier below
//  100 % to 100 % (a constant delay).
void backoff_init(backoff_t *self, uint64_t initial_ms, uint64_t max_ms, unsigned multiplier_pct);

//  The upper bound of the delay after `failures` consecutive failures (0
//  for none).
uint64_t backoff_cap_ms(const backoff_t *self, unsigned failures);

//  Counts one more failure and returns the delay before the next attempt:
//  its cap.
uint64_t backoff_failed(backoff_t *self);

//  Counts one more failure and returns the delay before the next attempt
//  with full jitter: `random` (uniform over 64 bits) brought into 0..cap.
uint64_t backoff_failed_jitter(backoff_t *self, uint64_t random);

//  A success: the next failure starts from the initial delay again.
void backoff_reset(backoff_t *self);

#endif
