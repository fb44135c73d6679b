#include "amux.h"
#include "sclient.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

//  One write, from amux_create to its callback.
typedef struct {
    slink_job_t link;                // first: the link hands this back
    amux_t *owner;
    amux_done_fn *done;
    void *arg;
    int64_t queued_ms;               // zclock_mono, when it was queued
} s_write_t;

struct amux {
    slink_t *link;
    slink_queue_t queue;             // not sent yet
    //  Ended, their callbacks not run yet: they run once the next batch is
    //  on its way, so storage works on it while this thread renders replies.
    slink_queue_t ended;
    atomic_uint_fast64_t sent_requests, sent_messages;
};

amux_t *
amux_new(const char *endpoint, int timeout_ms, zcert_t *cert)
{
    amux_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    slink_queue_init(&self->queue);
    slink_queue_init(&self->ended);
    atomic_init(&self->sent_requests, 0);
    atomic_init(&self->sent_messages, 0);
    //  Sends never wait: the loop polls for a connected storage instead.
    self->link = slink_new(endpoint, timeout_ms, 0, cert);
    if (!self->link)
        amux_destroy(&self);
    return self;
}

//  The link's `done`, and the end of a write that never left: its
//  callback waits in `ended` for s_run_ended.
static void
s_end(slink_job_t *link)
{
    slink_queue_push(&((s_write_t *) link)->owner->ended, link);
}

//  Runs the callbacks of the writes that ended, in order.
static void
s_run_ended(amux_t *self)
{
    slink_job_t *list = self->ended.head;
    slink_queue_init(&self->ended);
    while (list) {
        slink_job_t *link = list;
        list = link->next;
        s_write_t *write = (s_write_t *) link;
        if (link->rc == 0)
            write->done(write->arg, 0, &link->u.data, "");
        else
            write->done(write->arg, link->rc, NULL,
                        link->why[0] ? link->why : pdb_strerror(link->rc));
        slink_job_release(link);
        free(write);
    }
}

//  Fails every queued write with `why`.
static void
s_fail_queue(amux_t *self, const char *why)
{
    slink_job_t *list = self->queue.head;
    slink_queue_init(&self->queue);
    while (list) {
        slink_job_t *job = list;
        list = job->next;
        job->next = NULL;
        job->rc = PDB_EUNAVAIL;
        snprintf(job->why, sizeof job->why, "%s", why);
        s_end(job);
    }
}

void
amux_destroy(amux_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    amux_t *self = *self_p;
    s_fail_queue(self, "the server is stopping");
    if (self->link)
        slink_abandon(self->link, "the server is stopping");
    s_run_ended(self);
    slink_destroy(&self->link);
    free(self);
    *self_p = NULL;
}

int
amux_create(amux_t *self, ent_type_t entity, const pdb_id_t *collective_id,
            const void *fields, size_t fields_len, amux_done_fn *done, void *arg)
{
    s_write_t *write = malloc(sizeof *write);
    if (!write)
        return -ENOMEM;
    mpk_out_t args;
    mpk_out_init(&args);
    sclient_pack_write(&args, entity, OP_CREATE, collective_id, NULL, fields, fields_len, true);
    int rc = slink_job_init(self->link, &write->link, "write", &args, s_end);
    if (rc) {
        slink_job_release(&write->link);
        free(write);
        return rc;
    }
    write->owner = self;
    write->done = done;
    write->arg = arg;
    write->queued_ms = zclock_mono();
    slink_queue_push(&self->queue, &write->link);
    return 0;
}

//  Sends the next batch when nothing is at storage and it is connected;
//  fails the queue when storage stayed unreachable for
//  SCLIENT_CONNECT_WAIT_MS since the oldest write was queued. Returns true
//  when writes wait for storage to connect.
static bool
s_flush(amux_t *self)
{
    if (!self->queue.head || slink_outstanding(self->link) > 0)
        return false;
    if (!slink_writable(self->link)) {
        s_write_t *oldest = (s_write_t *) self->queue.head;
        if (zclock_mono() - oldest->queued_ms < SCLIENT_CONNECT_WAIT_MS)
            return true;
        s_fail_queue(self, "storage is not reachable");
        return false;
    }
    uint64_t n;
    slink_job_t *batch = slink_queue_take(&self->queue, &n);
    atomic_fetch_add(&self->sent_requests, n);
    atomic_fetch_add(&self->sent_messages, 1);
    slink_send(self->link, batch);
    return false;
}

int
amux_poll_items(amux_t *self, zmq_pollitem_t *items, long *timeout_ms)
{
    bool waiting = s_flush(self);
    s_run_ended(self);              // writes that failed to leave
    short events = ZMQ_POLLIN;
    if (waiting) {
        //  Woken when storage connects, or when the oldest write gives up.
        events |= ZMQ_POLLOUT;
        int64_t left = ((s_write_t *) self->queue.head)->queued_ms + SCLIENT_CONNECT_WAIT_MS
                     - zclock_mono();
        if (left < *timeout_ms)
            *timeout_ms = left > 0 ? (long) left : 0;
    }
    return slink_poll_items(self->link, items, events, timeout_ms);
}

void
amux_poll_done(amux_t *self, const zmq_pollitem_t *items, int n)
{
    slink_poll_done(self->link, items, n);
    (void) s_flush(self);
    s_run_ended(self);
}

bool
amux_busy(const amux_t *self)
{
    return self->queue.head != NULL || slink_inflight(self->link) != NULL;
}

void
amux_counts(amux_t *self, uint64_t *requests, uint64_t *messages)
{
    *requests = atomic_load(&self->sent_requests);
    *messages = atomic_load(&self->sent_messages);
}
