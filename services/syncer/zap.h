/*  zap.h - who may connect to the sync socket when the node has a CURVE key
    pair: a ZAP handler (ZeroMQ's authentication protocol, RFC 27) that
    admits a client only when its public key is a configured peer's, and
    names that peer as the connection's User-Id, so the server authorizes
    every request by peer (collectives, directions).

    CZMQ's zauth admits keys from a certificate folder but names no user,
    which per-peer authorization needs; hence this small handler, run as a
    CZMQ actor on the process's ZeroMQ context.
*/
#ifndef PDB_SYNCER_ZAP_H
#define PDB_SYNCER_ZAP_H

#include "cfg.h"

#include <stddef.h>
#include <stdint.h>

#define ZAP_DOMAIN "pulsedb-sync"     // the sync socket's ZAP domain
#define ZAP_PEERS_MAX 1024            // peers with keys: config + database

typedef struct zap zap_t;

//  What was refused, for status.
typedef struct {
    uint64_t count;                            // connections refused since start
    uint64_t last_ms;                          // wall clock of the last one, 0 for none
    char last_key[PEERSPEC_KEY_LEN + 1];       // its public key (Z85; not a secret)
    char last_address[64];                     // its IP address
} zap_refusals_t;

//  Starts the handler. NULL on failure (logged). Only one may run per
//  process (ZeroMQ has one ZAP endpoint).
zap_t *zap_new(void);
void zap_destroy(zap_t **self_p);

//  Replaces the admitted peers with those of peers[] that have a public key.
//  Thread-safe; takes effect for the next connection. Returns 0 or -ENOMEM.
int zap_set_peers(zap_t *self, const peerspec_t *peers, size_t n);

void zap_refusals(zap_t *self, zap_refusals_t *out);

#endif
