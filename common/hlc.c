#include "hlc.h"

uint64_t
hlc_tick(hlc_t *self, uint64_t wall_ms)
{
    uint64_t physical = wall_ms << HLC_COUNTER_BITS;
    //  Counter overflow carries into the millisecond part: still monotonic.
    self->last = physical > self->last ? physical : self->last + 1;
    return self->last;
}

void
hlc_observe(hlc_t *self, uint64_t remote)
{
    if (remote > self->last)
        self->last = remote;
}
