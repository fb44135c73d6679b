/*  syncrelay.h - the HTTP face of the sync protocol: POST /v1/sync/{op}
    bodies go, unchanged, to the syncer's serving side over its local relay
    socket (ipc://DATA/sync-relay.sock), so HTTP peers get the same
    messages, checks and errors as ZeroMQ peers from the same code.

    Each request is sent as two frames, [peer name, body]: the peer the
    caller's bearer token names ("" when no tokens are required), which the
    syncer authorizes like a CURVE peer. Waiting costs no HTTP worker: the
    request is deferred (http_defer) and one relay thread answers it when
    the syncer does, so long-poll pulls hold sockets, not threads.
*/
#ifndef GW_SYNCRELAY_H
#define GW_SYNCRELAY_H

#include "http.h"
#include "sync_msg.h"

#include <stddef.h>

#define SYNCRELAY_IN_FLIGHT_MAX 512          // relayed requests at once; more get busy
//  A relayed request's longest wait: the longest long poll plus a margin
//  for a large push to be applied.
#define SYNCRELAY_TIMEOUT_MS 60000

typedef struct syncrelay syncrelay_t;

//  Starts the relay thread for the syncer's socket in data_dir. NULL on
//  failure (logged).
syncrelay_t *syncrelay_new(const char *data_dir);
//  Answers every request still waiting (503 busy), stops the thread; later
//  submissions are answered busy at once. Call before http_destroy, and
//  syncrelay_destroy after it (workers may still submit until then).
void syncrelay_stop(syncrelay_t *self);
void syncrelay_destroy(syncrelay_t **self_p);

//  Relays the request's body for `peer` and defers its reply. Refusals
//  that need no syncer (too many in flight, stopping) are answered at once
//  in `reply`, as sync error messages.
void syncrelay_submit(syncrelay_t *self, http_req_t *req, const char *peer,
                      http_reply_t *reply);

//  A sync error message as an HTTP reply (application/msgpack), with the
//  status its code maps to (see docs/sync-protocol.md).
void syncrelay_reply_error(http_reply_t *reply, int sync_err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
