/*  senv.h - time and randomness for the syncer behind one small interface,
    so unit tests can pass fakes (retry jitter, peer expiry, rates).
*/
#ifndef PDB_SYNCER_SENV_H
#define PDB_SYNCER_SENV_H

#include <stdint.h>

typedef struct {
    uint64_t (*mono_ms)(void *ctx);      // monotonic milliseconds: timeouts, rates
    uint64_t (*wall_ms)(void *ctx);      // Unix milliseconds: last seen, expiry, purge
    uint64_t (*random_u64)(void *ctx);   // uniformly random 64 bits
    void *ctx;
} senv_t;

//  The real clocks and the kernel's randomness. Static: never freed.
const senv_t *senv_system(void);

#endif
