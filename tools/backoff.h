/*  backoff.h - restart delays for a supervised child: 100 ms doubling to a
    10 s cap, back to 100 ms once the child has run healthily for 30 s.
    Pure arithmetic (the caller passes how long the child ran), so tests need
    no clock.
*/
#ifndef PDB_BACKOFF_H
#define PDB_BACKOFF_H

#include <stdint.h>

#define BACKOFF_INITIAL_MS 100u      // first restart: quick, most crashes are one-offs
#define BACKOFF_MAX_MS 10000u        // 10 s: a crash loop costs little, recovery stays fast
#define BACKOFF_HEALTHY_MS 30000u    // 30 s up counts as healthy: forget earlier crashes

typedef struct {
    uint32_t next_ms;                // delay the next exit will get
} backoff_t;

void backoff_init(backoff_t *self);

//  A child exited after running ran_ms: returns how long to wait before
//  restarting it, and advances the schedule.
uint32_t backoff_on_exit(backoff_t *self, uint64_t ran_ms);

#endif
