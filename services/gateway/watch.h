/*  watch.h - change streams (server-sent events) for one collective.

    One hub thread per gateway subscribes to storage's PUB socket
    ("wal <seq>" after every commit) and wakes the streams. A stream with
    nothing to send is parked: its connection is suspended, holding no
    thread, until the hub resumes it (new entries, heartbeat or client check
    due, shutdown). Each stream then
    reads the new WAL entries itself from LMDB in a short read transaction
    (never held while waiting), keeps its collective's changes and writes

        id: <seq>
        event: change
        data: {"seq":..,"op":"create","entity":"experience","collective_id":..,
               "entity_id":..,"origin":..,"hlc":..,"fields":{..}}

    A stream starts after a given sequence (?from=SEQ or Last-Event-ID: the
    last one the client saw; 0 for the whole log). When the WAL no longer
    holds the next entries (compacted), the stream says so once with
    `event: gap` and data {"from", "to"}, then goes on: the client must
    resync those from a snapshot.

    A missed PUB message costs nothing but latency: the hub also re-reads
    the WAL head every WATCH_POLL_MS. Streams send a comment every
    WATCH_HEARTBEAT_MS, end after their collective's own delete, when the
    client goes away, or at shutdown (watch_stop).
*/
#ifndef GW_WATCH_H
#define GW_WATCH_H

#include "id.h"
#include "store.h"

#include "http.h"

#include <microhttpd.h>
#include <stdint.h>

#define WATCH_HEARTBEAT_MS 15000
#define WATCH_POLL_MS 500

typedef struct watch watch_t;

//  events_endpoint: storage's PUB socket (ipc://DATA/storage-events.sock).
//  Nothing runs until watch_start. NULL when out of memory.
watch_t *watch_new(store_t *store, const char *events_endpoint);
//  Stops the hub if running; every stream must have ended (http_destroy).
void watch_destroy(watch_t **self_p);

//  Starts the hub thread. Returns 0 or -errno.
int watch_start(watch_t *self);
//  Tells every stream to end (resuming the parked ones) and the hub to
//  exit, and joins the hub. Call before stopping the HTTP server.
void watch_stop(watch_t *self);

//  A streaming response for the changes of `collective` with sequence
//  greater than `after`, for the request req. NULL when out of memory. The
//  response is the caller's to queue (http_reply_stream).
struct MHD_Response *watch_stream(watch_t *self, const http_req_t *req,
                                  const pdb_id_t *collective, uint64_t after);

//  Streams currently open, for metrics.
unsigned watch_streams(watch_t *self);

#endif
