/*  link.h - the client end of one sync connection with one request in
    flight: a DEALER to a peer's tcp:// sync endpoint, or HTTP POSTs to an
    http(s):// peer's gateway (lhttp.h). The protocol has no request ids,
    so a request that timed out leaves the socket replaced: a late reply
    can never be taken for the answer to the next request.

    Waiting is cancellable: `cancel` names the owning actor's pipe (a
    "$TERM" on it stops the wait) and/or a stop flag polled between slices.
*/
#ifndef PDB_SYNCER_LINK_H
#define PDB_SYNCER_LINK_H

#include "err.h"
#include "sync_msg.h"

#include <czmq.h>
#include <signal.h>
#include <stdbool.h>

#define LINK_CONNECT_WAIT_MS 3000    // a peer not connected by then is "not reachable"

typedef struct link link_t;

typedef struct {
    zsock_t *pipe;                      // actor pipe, or NULL
    volatile sig_atomic_t *stop;        // stop flag, or NULL
    bool terminated;                    // set once "$TERM" was read from pipe
} link_cancel_t;

//  A decoded reply; its blobs and strings borrow `frame`.
typedef struct {
    zframe_t *frame;
    sync_msg_t msg;
} link_reply_t;

//  How to reach and prove ourselves to a peer; every field may be NULL.
typedef struct {
    zcert_t *cert;              // this node's CURVE key pair (borrowed), for tcp://
    const char *server_key;     // the peer's CURVE public key (Z85), for tcp://
    const char *token;          // bearer token, for http(s)://
    const char *ca_file;        // CA bundle for https://
} link_opts_t;

//  Connects (lazily: ZeroMQ reconnects by itself) to a tcp:// address, with
//  CURVE when opts gives both a cert and the peer's key; or prepares HTTP
//  requests to an http(s):// one. NULL on failure, reason logged. Caller
//  frees with link_destroy.
link_t *link_new(const char *address, const link_opts_t *opts);
void link_destroy(link_t **self_p);

//  Sends req and waits up to timeout_ms for the reply. Returns 0 with
//  *reply filled (release with link_reply_release), PDB_EUNAVAIL when the
//  peer is not connected or did not answer in time, -ECANCELED when
//  cancelled, PDB_EINVAL / PDB_EPROTO / PDB_ETOOBIG for a reply that does not
//  decode (why says which), or -ENOMEM.
int link_request(link_t *self, const sync_msg_t *req, int timeout_ms, link_cancel_t *cancel,
                 link_reply_t *reply, char why[PDB_ERRMSG_MAX]);

//  link_request in two halves, to keep one request in flight while the
//  caller does other work: link_send sends req (0, PDB_EUNAVAIL,
//  -ECANCELED or -ENOMEM); link_receive waits up to timeout_ms for the
//  reply to that request, `op` naming it in messages, and returns as
//  link_request does. No other request may be sent in between.
int link_send(link_t *self, const sync_msg_t *req, link_cancel_t *cancel,
              char why[PDB_ERRMSG_MAX]);
int link_receive(link_t *self, sync_op_t op, int timeout_ms, link_cancel_t *cancel,
                 link_reply_t *reply, char why[PDB_ERRMSG_MAX]);

//  Drops the request in flight (its reply is no longer wanted): the socket
//  is replaced, as after a timeout, so that reply is never taken for the
//  answer to the next request.
void link_abandon(link_t *self);

void link_reply_release(link_reply_t *reply);

//  Waits up to ms for a cancel. Returns true when cancelled.
bool link_cancel_wait(link_cancel_t *cancel, int64_t ms);

//  True when the cancel condition holds now (reads a pending "$TERM").
bool link_cancelled(link_cancel_t *cancel);

#endif
