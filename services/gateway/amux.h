/*  amux.h - storage writes for a thread that must never block: the HTTP
    server's network thread (http_loop_t). A write is queued with a
    callback and the thread goes on serving; what is queued leaves as one
    message once storage has answered the last (as smux.h: storage commits
    whole groups anyway), and each callback runs on the same thread when
    its reply is in, or when the write fails: storage not connected within
    SCLIENT_CONNECT_WAIT_MS, gone, or silent past the timeout (PDB_EUNAVAIL
    with `why`, as smux's callers hear it).

    A write so answered crosses no thread of ours: the network thread parses
    the request, sends, and renders the reply, where a worker's write costs
    two hand-offs between threads and a wake-up of the network thread.

    Not thread-safe, except amux_counts: only the owning thread calls it.
*/
#ifndef GW_AMUX_H
#define GW_AMUX_H

#include "entity.h"
#include "id.h"
#include "slink.h"

typedef struct amux amux_t;

//  A write's end: rc 0 with storage's decoded reply (valid during the call
//  only), else its code with `why`.
typedef void (amux_done_fn)(void *arg, int rc, const msgpack_object *reply, const char *why);

//  As smux_new.
amux_t *amux_new(const char *endpoint, int timeout_ms, zcert_t *cert);
//  Fails what is still queued or in flight (their callbacks run), then frees.
void amux_destroy(amux_t **self_p);

//  Queues a create ("write" asking for the record, as smux_create) of fields
//  (a packed map, copied). 0: done(arg, ...) will run exactly once, never
//  from within this call; else a packing error and it will not.
int amux_create(amux_t *self, ent_type_t entity, const pdb_id_t *collective_id,
                const void *fields, size_t fields_len, amux_done_fn *done, void *arg);

//  The loop's part (http_loop_t): before the wait, sends what is queued
//  when it can and fills up to SLINK_POLL_ITEMS items, lowering
//  *timeout_ms; after it, takes replies and fails what is overdue.
int amux_poll_items(amux_t *self, zmq_pollitem_t *items, long *timeout_ms);
void amux_poll_done(amux_t *self, const zmq_pollitem_t *items, int n);
//  True while a write is queued or in flight.
bool amux_busy(const amux_t *self);

//  Requests sent so far and the messages that carried them (any thread).
void amux_counts(amux_t *self, uint64_t *requests, uint64_t *messages);

#endif
