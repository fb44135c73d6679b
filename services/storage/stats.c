#include "stats.h"

//  A fast disk syncs in a few hundred microseconds, a slow or busy one in
//  tens of milliseconds; a commit over a second is a disk in trouble.
static const uint64_t s_commit_bounds_us[STORAGE_COMMIT_BOUNDS] = {
    250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000, 10000000,
};

uint64_t
storage_commit_bound_us(size_t i)
{
    return i < STORAGE_COMMIT_BOUNDS ? s_commit_bounds_us[i] : UINT64_MAX;
}

void
storage_stats_commit(storage_stats_t *self, size_t writes, uint64_t run_us, uint64_t commit_us)
{
    self->commits++;
    self->writes += writes;
    self->run_us += run_us;
    self->commit_us += commit_us;
    size_t i = 0;
    while (i < STORAGE_COMMIT_BOUNDS && commit_us > s_commit_bounds_us[i])
        i++;
    self->commit_buckets[i]++;
}
