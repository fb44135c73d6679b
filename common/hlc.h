/*  hlc.h - hybrid logical clock: 48 bits of wall milliseconds, 16 bits of
    counter. Every stamp issued is larger than every stamp seen before, so a
    causally later write wins even when wall clocks are skewed.
*/
#ifndef PDB_HLC_H
#define PDB_HLC_H

#include <stdint.h>

#define HLC_COUNTER_BITS 16

typedef struct {
    uint64_t last;     // largest stamp issued or observed
} hlc_t;

//  A stamp for a local event at wall time wall_ms.
uint64_t hlc_tick(hlc_t *self, uint64_t wall_ms);

//  Takes note of a remote stamp so later local stamps exceed it.
void hlc_observe(hlc_t *self, uint64_t remote);

//  The wall-clock milliseconds part of a stamp.
static inline uint64_t
hlc_wall_ms(uint64_t stamp)
{
    return stamp >> HLC_COUNTER_BITS;
}

#endif
