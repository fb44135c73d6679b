#include "slink.h"
#include "log.h"
#include "sclient.h"
#include "sockmon.h"
#include "sproto.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct slink {
    char *endpoint;
    zcert_t *cert;
    int timeout_ms;
    int send_wait_ms;
    atomic_uint_fast64_t next_id;    // jobs are made on any thread
    zsock_t *sock;
    sockmon_t *mon;                  // storage went away: its replies with it
    slink_job_t *inflight;           // sent, waiting for a reply
    unsigned outstanding;            // messages sent and not answered yet
};

static void
s_reconnect(slink_t *self)
{
    sockmon_destroy(&self->mon);
    zsock_destroy(&self->sock);
    self->sock = sclient_connect(self->endpoint, self->cert);
    if (self->sock) {
        zsock_set_rcvtimeo(self->sock, 0);
        zsock_set_sndtimeo(self->sock, self->send_wait_ms);
        self->mon = sockmon_new(self->sock);
    }
}

slink_t *
slink_new(const char *endpoint, int timeout_ms, int send_wait_ms, zcert_t *cert)
{
    slink_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->endpoint = strdup(endpoint);
    self->cert = cert;
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : SCLIENT_TIMEOUT_MS_DEFAULT;
    self->send_wait_ms = send_wait_ms < self->timeout_ms ? send_wait_ms : self->timeout_ms;
    atomic_init(&self->next_id, 1);
    if (self->endpoint)
        s_reconnect(self);
    if (!self->sock) {
        log_e("gateway", "cannot connect to storage endpoint=%s", endpoint);
        slink_destroy(&self);
    }
    return self;
}

void
slink_destroy(slink_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    slink_t *self = *self_p;
    sockmon_destroy(&self->mon);
    zsock_destroy(&self->sock);
    free(self->endpoint);
    free(self);
    *self_p = NULL;
}

int
slink_timeout_ms(const slink_t *self)
{
    return self->timeout_ms;
}

int
slink_job_init(slink_t *self, slink_job_t *job, const char *op, mpk_out_t *args,
               void (*done)(slink_job_t *job))
{
    memset(job, 0, sizeof *job);
    job->done = done;
    int rc = mpk_out_status(args);
    if (rc) {
        mpk_out_release(args);
        return rc;
    }
    job->request_id = atomic_fetch_add(&self->next_id, 1);
    //  From the call: one waiting behind a message storage does not answer
    //  is sent when that one is given up, and waits only what is left.
    job->deadline = zclock_mono() + self->timeout_ms;
    mpk_out_t req;
    mpk_out_init(&req);
    sproto_pack_request(&req.pk, job->request_id, op, args->buf.data, args->buf.size);
    mpk_out_release(args);
    rc = mpk_out_status(&req);
    job->request = rc ? NULL : zframe_new(req.buf.data, req.buf.size);
    mpk_out_release(&req);
    return job->request ? 0 : rc ? rc : -ENOMEM;
}

void
slink_job_release(slink_job_t *job)
{
    if (job->reply)
        msgpack_unpacked_destroy(&job->u);
    zframe_destroy(&job->reply);
    zframe_destroy(&job->request);
}

void
slink_queue_init(slink_queue_t *queue)
{
    queue->head = NULL;
    queue->tail = &queue->head;
}

void
slink_queue_push(slink_queue_t *queue, slink_job_t *job)
{
    job->next = NULL;
    *queue->tail = job;
    queue->tail = &job->next;
}

slink_job_t *
slink_queue_take(slink_queue_t *queue, uint64_t *n)
{
    slink_job_t *batch = queue->head, *last = batch;
    *n = 0;
    if (!batch)
        return NULL;
    *n = 1;
    for (; *n < SPROTO_FRAMES_MAX && last->next; (*n)++)
        last = last->next;
    queue->head = last->next;
    if (!queue->head)
        queue->tail = &queue->head;
    last->next = NULL;
    return batch;
}

//  Tells each job of a list its end.
static void
s_finish(slink_job_t *list)
{
    while (list) {
        slink_job_t *job = list;
        list = job->next;
        job->next = NULL;
        job->done(job);
    }
}

//  Fails every job of list with PDB_EUNAVAIL and `why`.
static void
s_fail(slink_job_t *list, const char *why)
{
    for (slink_job_t *job = list; job; job = job->next) {
        zframe_destroy(&job->request);
        job->rc = PDB_EUNAVAIL;
        snprintf(job->why, sizeof job->why, "%s", why);
    }
    s_finish(list);
}

bool
slink_writable(slink_t *self)
{
    if (!self->sock)
        s_reconnect(self);
    return self->sock && (zsock_events(self->sock) & ZMQ_POLLOUT);
}

//  Takes the jobs of *batch whose time is up out of it and fails them:
//  sent now, storage might commit one after its caller was told it failed.
static void
s_drop_expired(slink_t *self, slink_job_t **batch)
{
    int64_t now = zclock_mono();
    slink_job_t *expired = NULL, **tail = &expired;
    for (slink_job_t **at = batch; *at;) {
        slink_job_t *job = *at;
        if (job->deadline > now) {
            at = &job->next;
            continue;
        }
        *at = job->next;
        job->next = NULL;
        *tail = job;
        tail = &job->next;
    }
    if (expired) {
        char why[PDB_ERRMSG_MAX];
        snprintf(why, sizeof why, "storage was not free within %d ms", self->timeout_ms);
        s_fail(expired, why);
    }
}

void
slink_send(slink_t *self, slink_job_t *batch)
{
    s_drop_expired(self, &batch);
    if (!batch)
        return;
    if (!self->sock)
        s_reconnect(self);
    //  Nothing is in flight: a disconnect seen before now is old news, not
    //  this message's.
    if (self->mon && !self->inflight)
        (void) sockmon_disconnected(self->mon);
    zmsg_t *msg = zmsg_new();
    slink_job_t *last = batch;
    for (slink_job_t *job = batch; job; job = job->next) {
        if (msg)
            zmsg_append(msg, &job->request);
        last = job;
    }
    if (!msg || !self->sock || zmsg_send(&msg, self->sock) != 0) {
        zmsg_destroy(&msg);
        s_fail(batch, "storage is not reachable");
        return;
    }
    self->outstanding++;
    last->next = self->inflight;
    self->inflight = batch;
}

unsigned
slink_outstanding(const slink_t *self)
{
    return self->outstanding;
}

slink_job_t *
slink_inflight(const slink_t *self)
{
    return self->inflight;
}

//  Takes the job waiting for request_id out of the in-flight list.
static slink_job_t *
s_take_inflight(slink_t *self, uint64_t request_id)
{
    for (slink_job_t **p = &self->inflight; *p; p = &(*p)->next)
        if ((*p)->request_id == request_id) {
            slink_job_t *job = *p;
            *p = job->next;
            job->next = NULL;
            return job;
        }
    return NULL;
}

//  Reads every reply waiting and ends their jobs. A reply nobody waits for
//  (its request timed out before a reconnect) is dropped.
static void
s_receive(slink_t *self)
{
    slink_job_t *done = NULL;
    zmsg_t *msg;
    while (self->sock && (msg = zmsg_recv(self->sock)) != NULL) {
        zframe_t *frame;
        while ((frame = zmsg_pop(msg)) != NULL) {
            msgpack_unpacked u;
            if (mpk_parse(zframe_data(frame), zframe_size(frame), &u) != 0) {
                zframe_destroy(&frame);
                continue;
            }
            uint64_t id = 0;
            const msgpack_object *o = &u.data;
            slink_job_t *job = o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size == 4
                            && mpk_get_u64(&o->via.array.ptr[0], &id) == 0
                             ? s_take_inflight(self, id) : NULL;
            if (!job) {
                msgpack_unpacked_destroy(&u);
                zframe_destroy(&frame);
                continue;
            }
            job->reply = frame;
            job->u = u;
            job->next = done;
            done = job;
        }
        zmsg_destroy(&msg);
        if (self->outstanding > 0)
            self->outstanding--;        // one answer per message
    }
    s_finish(done);
}

void
slink_abandon(slink_t *self, const char *why)
{
    slink_job_t *lost = self->inflight;
    self->inflight = NULL;
    self->outstanding = 0;
    s_fail(lost, why);
    s_reconnect(self);
}

int
slink_poll_items(slink_t *self, zmq_pollitem_t *items, short events, long *timeout_ms)
{
    int64_t now = zclock_mono();
    for (slink_job_t *job = self->inflight; job; job = job->next) {
        int64_t left = job->deadline - now;
        if (left < *timeout_ms)
            *timeout_ms = left > 0 ? (long) left : 0;
    }
    if (!self->sock)
        return 0;
    items[0] = (zmq_pollitem_t) { zsock_resolve(self->sock), 0, events, 0 };
    if (!self->mon)
        return 1;
    items[1] = (zmq_pollitem_t) { sockmon_handle(self->mon), 0, ZMQ_POLLIN, 0 };
    return 2;
}

static bool
s_expired(const slink_t *self)
{
    int64_t now = zclock_mono();
    for (slink_job_t *job = self->inflight; job; job = job->next)
        if (job->deadline <= now)
            return true;
    return false;
}

void
slink_poll_done(slink_t *self, const zmq_pollitem_t *items, int n)
{
    if (n > 0 && (items[0].revents & ZMQ_POLLIN))
        s_receive(self);
    if (n > 1 && (items[1].revents & ZMQ_POLLIN) && sockmon_disconnected(self->mon))
        slink_abandon(self, "storage went away before answering");
    else if (s_expired(self)) {
        char why[PDB_ERRMSG_MAX];
        snprintf(why, sizeof why, "storage did not answer within %d ms", self->timeout_ms);
        log_w("gateway", "storage did not answer within %d ms: failing the writes in flight",
              self->timeout_ms);
        slink_abandon(self, why);
    }
}
