/*  lhttp.h - the HTTP transport of a sync link (libcurl): the same
    MessagePack messages as over ZeroMQ, as `POST {base}/v1/sync/{op}`
    bodies (application/msgpack) to a peer's gateway, over http:// or
    https://, with keep-alive, a connect timeout, an optional bearer token
    and CA file, and one request in flight. link.c picks it for http(s)://
    addresses; callers see no difference.
*/
#ifndef PDB_SYNCER_LHTTP_H
#define PDB_SYNCER_LHTTP_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LHTTP_CONNECT_TIMEOUT_MS 3000   // as LINK_CONNECT_WAIT_MS for ZeroMQ
#define LHTTP_SLICE_MS 200              // how often a wait looks at `cancelled`

typedef struct lhttp lhttp_t;

typedef struct {
    const char *token;          // bearer token sent to the peer, NULL or "" for none
    const char *ca_file;        // CA bundle for https, NULL for the system's
} lhttp_opts_t;

//  Asked between slices of a wait; true stops it.
typedef bool (*lhttp_cancelled_fn)(void *arg);

//  For "http://HOST:PORT" or "https://HOST:PORT" (the strings are copied).
//  NULL on failure (logged). Caller frees with lhttp_destroy.
lhttp_t *lhttp_new(const char *address, const lhttp_opts_t *opts);
void lhttp_destroy(lhttp_t **self_p);

//  Starts POSTing body (copied) to /v1/sync/{op}. Returns 0 or -ENOMEM /
//  PDB_EUNAVAIL with `why`. One request at a time: a second send abandons
//  the first.
int lhttp_send(lhttp_t *self, const char *op, const void *body, size_t len,
               char why[PDB_ERRMSG_MAX]);

//  Waits up to timeout_ms for the reply. Returns 0 with *reply (malloc'd,
//  caller frees) and *reply_len, whatever the HTTP status (the body is the
//  peer's MessagePack reply or error); PDB_EUNAVAIL when the peer cannot be
//  reached, times out, or answers without a body (why says which);
//  PDB_ETOOBIG for a body over PDB_MSG_MAX; -ECANCELED.
int lhttp_receive(lhttp_t *self, int timeout_ms, lhttp_cancelled_fn cancelled, void *arg,
                  uint8_t **reply, size_t *reply_len, unsigned *status,
                  char why[PDB_ERRMSG_MAX]);

//  Drops the transfer in flight, if any.
void lhttp_abandon(lhttp_t *self);

//  True for the addresses this transport takes.
bool lhttp_address(const char *address);

#endif
