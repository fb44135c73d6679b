/*  slink.h - the gateway's link to storage for writes: one DEALER, the
    requests sent on it and not answered yet, and their deadlines. Requests
    leave in batches, one message of up to SPROTO_FRAMES_MAX frames each
    (sproto.h), and each one's end is told to its job's `done` callback:
    storage's reply, its deadline passing, or storage going away.

    Not thread-safe, and no thread of its own: its owner polls it (with
    whatever else it waits on) and hands the poll's result back. Two owners
    use it: smux.h, whose callers take turns at it, and amux.h, on the HTTP
    server's network thread.
*/
#ifndef GW_SLINK_H
#define GW_SLINK_H

#include "err.h"
#include "mpk.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#define SLINK_POLL_ITEMS 2           // the DEALER and its disconnect monitor

//  One request. The owner makes it with slink_job_init, sends it in a
//  batch, and gets it back in `done`, exactly once, with rc 0 and `u`
//  holding storage's decoded reply, or PDB_EUNAVAIL and `why`.
typedef struct slink_job {
    struct slink_job *next;
    zframe_t *request;               // the packed request until it is sent
    uint64_t request_id;
    int64_t deadline;                // zclock_mono ms, from the call
    int rc;
    char why[PDB_ERRMSG_MAX];
    zframe_t *reply;
    msgpack_unpacked u;              // decoded once; points into reply
    void (*done)(struct slink_job *job);
} slink_job_t;

typedef struct slink slink_t;

//  Jobs waiting to be sent, in order (initialise with slink_queue_init).
typedef struct {
    slink_job_t *head;
    slink_job_t **tail;
} slink_queue_t;

void slink_queue_init(slink_queue_t *queue);
void slink_queue_push(slink_queue_t *queue, slink_job_t *job);
//  Takes the next batch, at most SPROTO_FRAMES_MAX jobs linked by next, and
//  their count in *n; NULL when the queue is empty.
slink_job_t *slink_queue_take(slink_queue_t *queue, uint64_t *n);

//  Connects to storage at endpoint (CURVE with cert when not NULL: borrowed,
//  must outlive the link). timeout_ms bounds each request from its making;
//  send_wait_ms is how long a send may block for a storage not connected
//  yet (0: the owner waits for slink_writable instead). NULL on failure.
slink_t *slink_new(const char *endpoint, int timeout_ms, int send_wait_ms, zcert_t *cert);
//  Only once no job is in flight.
void slink_destroy(slink_t **self_p);
int slink_timeout_ms(const slink_t *self);

//  Packs op with args (released here in every case) into job, with a new
//  request id and a deadline timeout_ms from now. 0, or a packing error.
int slink_job_init(slink_t *self, slink_job_t *job, const char *op, mpk_out_t *args,
                   void (*done)(slink_job_t *job));
//  Frees what a job holds (its reply included); the job itself is the owner's.
void slink_job_release(slink_job_t *job);

//  True when a message can leave now without blocking (a storage is
//  connected and takes it), reconnecting first if the socket was lost.
bool slink_writable(slink_t *self);
//  Sends a batch (at most SPROTO_FRAMES_MAX jobs linked by next) as one
//  message; when it cannot leave, its jobs fail ("storage is not reachable").
//  A job whose deadline passed while it waited fails without leaving.
void slink_send(slink_t *self, slink_job_t *batch);
//  Messages sent and not answered yet.
unsigned slink_outstanding(const slink_t *self);
//  A job in flight (the one sent last), or NULL when none is.
slink_job_t *slink_inflight(const slink_t *self);

//  What to poll: fills up to SLINK_POLL_ITEMS items (the DEALER with
//  `events`, which holds at least ZMQ_POLLIN, then its monitor) and
//  returns how many. *timeout_ms is lowered to the first deadline.
int slink_poll_items(slink_t *self, zmq_pollitem_t *items, short events, long *timeout_ms);
//  After the poll: takes the replies that came, and fails what storage
//  will not answer (it went away, or a deadline passed).
void slink_poll_done(slink_t *self, const zmq_pollitem_t *items, int n);
//  Fails every job in flight with `why` and starts on a fresh socket, so
//  that none of them can still be delivered after its caller heard 503.
void slink_abandon(slink_t *self, const char *why);

#endif
