#include "backoff.h"

void
backoff_init(backoff_t *self)
{
    self->next_ms = BACKOFF_INITIAL_MS;
}

uint32_t
backoff_on_exit(backoff_t *self, uint64_t ran_ms)
{
    if (ran_ms >= BACKOFF_HEALTHY_MS)
        self->next_ms = BACKOFF_INITIAL_MS;
    uint32_t delay = self->next_ms;
    self->next_ms = delay >= BACKOFF_MAX_MS / 2 ? BACKOFF_MAX_MS : delay * 2;
    return delay;
}
