#include "backoff.h"

#include <assert.h>

void
backoff_init(backoff_t *self, uint64_t initial_ms, uint64_t max_ms, unsigned multiplier_pct)
{
    assert(self);
    self->initial_ms = initial_ms;
    self->max_ms = max_ms < initial_ms ? initial_ms : max_ms;
    self->multiplier_pct = multiplier_pct < 100 ? 100 : multiplier_pct;
    self->failures = 0;
}

uint64_t
backoff_cap_ms(const backoff_t *self, unsigned failures)
{
    if (failures == 0)
        return 0;
    uint64_t cap = self->initial_ms;
    for (unsigned i = 1; i < failures && cap < self->max_ms; i++) {
        //  Multiply in steps that cannot overflow: cap < max <= 86,400,000
        //  and the multiplier is at most 1000 %.
        uint64_t next = cap * self->multiplier_pct / 100;
        if (next == cap)
            break;                 // x1.00 stays constant
        cap = next;
    }
    return cap < self->max_ms ? cap : self->max_ms;
}

uint64_t
backoff_failed(backoff_t *self)
{
    if (self->failures < UINT32_MAX)
        self->failures++;
    return backoff_cap_ms(self, self->failures);
}

uint64_t
backoff_failed_jitter(backoff_t *self, uint64_t random)
{
    return random % (backoff_failed(self) + 1);
}

void
backoff_reset(backoff_t *self)
{
    self->failures = 0;
}
