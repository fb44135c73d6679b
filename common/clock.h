/*  clock.h - wall time and randomness behind one small interface, so tests
    can pass fakes (retry jitter, HLC with skewed clocks).
*/
#ifndef PDB_CLOCK_H
#define PDB_CLOCK_H

#include <stddef.h>
#include <stdint.h>

//  Milliseconds since the Unix epoch.
uint64_t clock_wall_ms(void);

//  Monotonic milliseconds, for timeouts and rates; microseconds, for time slices.
uint64_t clock_mono_ms(void);
uint64_t clock_mono_us(void);

//  Fills buf with random bytes from the kernel; returns 0 or -errno.
int clock_random(void *buf, size_t len);

#endif
