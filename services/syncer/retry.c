#include "retry.h"

#include <assert.h>

void
retry_init(retry_t *self, uint64_t initial_ms, uint64_t max_ms, unsigned multiplier_pct,
           const senv_t *env)
{
    assert(self && env);
    self->initial_ms = initial_ms;
    self->max_ms = max_ms < initial_ms ? initial_ms : max_ms;
    self->multiplier_pct = multiplier_pct < 100 ? 100 : multiplier_pct;
    self->failures = 0;
    self->env = env;
}

uint64_t
retry_cap_ms(const retry_t *self, unsigned failures)
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
retry_failed(retry_t *self)
{
    if (self->failures < UINT32_MAX)
        self->failures++;
    uint64_t cap = retry_cap_ms(self, self->failures);
    return self->env->random_u64(self->env->ctx) % (cap + 1);
}

void
retry_reset(retry_t *self)
{
    self->failures = 0;
}
