#include "senv.h"
#include "clock.h"

#include <stdint.h>

static uint64_t
s_mono(void *ctx)
{
    (void) ctx;
    return clock_mono_ms();
}

static uint64_t
s_wall(void *ctx)
{
    (void) ctx;
    return clock_wall_ms();
}

static uint64_t
s_random(void *ctx)
{
    (void) ctx;
    uint64_t value = 0;
    //  getrandom only fails on a kernel without it; a fixed value then still
    //  gives a valid (if unjittered) delay.
    if (clock_random(&value, sizeof value) != 0)
        value = UINT64_MAX / 2;
    return value;
}

static const senv_t s_system = { s_mono, s_wall, s_random, NULL };

const senv_t *
senv_system(void)
{
    return &s_system;
}
