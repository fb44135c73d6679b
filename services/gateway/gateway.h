/*  gateway.h - the gateway process as one object: the read-only store, the
    listening socket, the storage client pool, the watch hub, metrics and
    the HTTP server, built from a cfg_t and torn down in reverse.
*/
#ifndef GW_GATEWAY_H
#define GW_GATEWAY_H

#include "cfg.h"

#define GATEWAY_STORE_WAIT_MS 15000   // how long startup waits for storage to create the store
#define GATEWAY_DRAIN_MS 5000         // at a stop: requests in flight finish, clients move on
#define GATEWAY_STORE_RETRY_MS 100

typedef struct gateway gateway_t;

//  Binds the HTTP port (failing at once if it is taken), then opens the
//  store read-only, waiting up to GATEWAY_STORE_WAIT_MS for storage to
//  create it. NULL on failure, with the reason logged; *refused tells a
//  refused configuration (the token file, TLS files, sync/peers) from a
//  failure a restart may mend. CZMQ must be set up first
//  (service_czmq_init): gateway_run waits for SIGINT/SIGTERM itself.
gateway_t *gateway_new(const cfg_t *cfg, bool *refused);
//  Frees everything; safe on NULL and on *self_p == NULL.
void gateway_destroy(gateway_t **self_p);

//  Serves until SIGINT or SIGTERM, then stops cleanly (streams ended,
//  connections closed, threads joined). Returns 0 or a negative code.
int gateway_run(gateway_t *self);

#endif
