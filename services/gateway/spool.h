/*  spool.h - a pool of storage clients. An sclient_t carries one request at
    a time and is not thread-safe, while requests run on many worker
    threads at once: a thread takes a client for one call and gives it back. Clients
    are made on demand, so the pool grows to the number of concurrent
    writers, and at most SPOOL_IDLE_MAX idle ones are kept.
*/
#ifndef GW_SPOOL_H
#define GW_SPOOL_H

#include <czmq.h>

#include "sclient.h"

typedef struct spool spool_t;

//  endpoint: the storage socket; timeout_ms per call. NULL when out of
//  memory. Caller frees with spool_destroy.
//  cert: the node's key pair for CURVE to storage/tcp (borrowed), or NULL.
spool_t *spool_new(const char *endpoint, int timeout_ms, zcert_t *cert);
//  The key pair clients of this pool use (NULL: none).
zcert_t *spool_cert(const spool_t *self);
//  Destroys every idle client; all taken clients must have been given back.
void spool_destroy(spool_t **self_p);

//  A client for the caller's exclusive use, or NULL when none can be made
//  (logged). Hand it back with spool_give.
sclient_t *spool_take(spool_t *self);
//  Returns a client taken from this pool (NULL is ignored).
void spool_give(spool_t *self, sclient_t *client);

#endif
