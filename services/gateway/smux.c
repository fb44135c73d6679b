#include "smux.h"
#include "log.h"
#include "sockmon.h"
#include "sproto.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

//  Messages at storage at once. One: storage commits whole groups anyway,
//  so what comes while it works waits here and leaves as one message when
//  it answers (measured: 8 writes per message at 64 clients, against 6
//  with two in flight, and more writes/s).
#define SMUX_OUTSTANDING 1

//  One request, on its caller's stack: the caller waits on cond until it is
//  done, or until it is asked to lead. Each job has its own lock, so that a
//  leader waking a message's callers one by one does not wake each into a
//  wait for the mux's lock.
typedef struct s_job {
    struct s_job *next;
    zframe_t *request;               // the packed request until it is sent
    uint64_t request_id;
    int64_t deadline;                // zclock_mono ms, from the call
    int rc;                          // 0: reply and u hold storage's answer
    char why[PDB_ERRMSG_MAX];
    zframe_t *reply;
    msgpack_unpacked u;              // decoded once; points into reply
    pthread_mutex_t lock;            // guards done and lead
    pthread_cond_t cond;
    bool done;                       // its answer is in
    bool lead;                       // its caller leads next
    bool sync_ready;                 // lock and cond initialised
} s_job_t;

//  No thread of its own: one caller at a time, the leader, sends and
//  receives for everyone, and hands the socket to another waiting caller
//  when its own reply is in. A lone caller is its own leader, so a write
//  crosses no more threads than through a plain client; under load, one
//  hand-off serves a whole message of writes.
struct smux {
    pthread_mutex_t lock;            // guards queue and leading
    s_job_t *queue;                  // submitted, not sent yet, in order
    s_job_t **queue_tail;
    bool leading;                    // some caller leads
    atomic_uint_fast64_t next_id;
    atomic_uint_fast64_t sent_requests, sent_messages;   // for /metrics
    //  The leader's own (the lock passes them from one leader to the next).
    char *endpoint;
    zcert_t *cert;
    int timeout_ms;
    zsock_t *sock;
    sockmon_t *mon;                  // storage went away: its replies with it
    s_job_t *inflight;               // sent, waiting for a reply
    unsigned outstanding;            // messages sent and not answered yet
};

//  --------------------------------------------------------------------------
//  The leader's work

static void
s_reconnect(smux_t *self)
{
    sockmon_destroy(&self->mon);
    zsock_destroy(&self->sock);
    self->sock = sclient_connect(self->endpoint, self->cert);
    if (self->sock) {
        zsock_set_rcvtimeo(self->sock, 0);
        int wait = self->timeout_ms < SCLIENT_CONNECT_WAIT_MS ? self->timeout_ms
                                                              : SCLIENT_CONNECT_WAIT_MS;
        zsock_set_sndtimeo(self->sock, wait);
        self->mon = sockmon_new(self->sock);
    }
}

//  Tells a job's caller it is done, or that it leads next. Only the leader
//  finishes jobs or passes the lead, and a job out of the queue and the
//  in-flight list is the leader's alone until then.
static void
s_wake(s_job_t *job, bool lead)
{
    pthread_mutex_lock(&job->lock);
    if (lead)
        job->lead = true;
    else
        job->done = true;
    //  Signalled under the job's lock: its caller cannot return (and free
    //  the job) before the leader lets go of it.
    pthread_cond_signal(&job->cond);
    pthread_mutex_unlock(&job->lock);
}

//  Wakes the callers of a list of finished jobs.
static void
s_finish(s_job_t *list)
{
    while (list) {
        s_job_t *job = list;
        list = job->next;
        s_wake(job, false);
    }
}

//  Fails every job of list with PDB_EUNAVAIL and `why`, and wakes them.
static void
s_fail(s_job_t *list, const char *why)
{
    for (s_job_t *job = list; job; job = job->next) {
        zframe_destroy(&job->request);
        job->rc = PDB_EUNAVAIL;
        snprintf(job->why, sizeof job->why, "%s", why);
    }
    s_finish(list);
}

//  Sends a batch (at most SPROTO_FRAMES_MAX jobs) as one message. With no
//  storage connected a send waits SCLIENT_CONNECT_WAIT_MS at most and its
//  requests fail: a client sees 503 rather than a long hang.
static void
s_send(smux_t *self, s_job_t *batch)
{
    if (!self->sock)
        s_reconnect(self);
    //  Nothing is in flight (SMUX_OUTSTANDING 1): a disconnect seen before
    //  now is old news, not this message's.
    if (self->mon && !self->inflight)
        (void) sockmon_disconnected(self->mon);
    zmsg_t *msg = zmsg_new();
    s_job_t *last = batch;
    uint64_t frames = 0;
    for (s_job_t *job = batch; job; job = job->next) {
        if (msg)
            zmsg_append(msg, &job->request);
        last = job;
        frames++;
    }
    if (!msg || !self->sock || zmsg_send(&msg, self->sock) != 0) {
        zmsg_destroy(&msg);
        s_fail(batch, "storage is not reachable");
        return;
    }
    self->outstanding++;
    atomic_fetch_add(&self->sent_requests, frames);
    atomic_fetch_add(&self->sent_messages, 1);
    last->next = self->inflight;
    self->inflight = batch;
}

//  Under the lock: the next batch to send, or NULL when there is none or
//  SMUX_OUTSTANDING messages are at storage already (what comes meanwhile
//  waits to leave together with the others).
static s_job_t *
s_take(smux_t *self)
{
    if (!self->queue || self->outstanding >= SMUX_OUTSTANDING)
        return NULL;
    s_job_t *batch = self->queue, *last = batch;
    for (size_t n = 1; n < SPROTO_FRAMES_MAX && last->next; n++)
        last = last->next;
    self->queue = last->next;
    if (!self->queue)
        self->queue_tail = &self->queue;
    last->next = NULL;
    return batch;
}

//  Takes the job waiting for request_id out of the in-flight list.
static s_job_t *
s_take_inflight(smux_t *self, uint64_t request_id)
{
    for (s_job_t **p = &self->inflight; *p; p = &(*p)->next)
        if ((*p)->request_id == request_id) {
            s_job_t *job = *p;
            *p = job->next;
            job->next = NULL;
            return job;
        }
    return NULL;
}

//  Reads every reply waiting and wakes their callers. A reply nobody waits
//  for (its request timed out before a reconnect) is dropped.
static void
s_receive(smux_t *self)
{
    s_job_t *done = NULL;
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
            s_job_t *job = o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size == 4
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
    if (done)
        s_finish(done);
}

//  Fails everything in flight and starts on a fresh socket, so that none of
//  those requests can still be delivered after its caller was told 503.
static void
s_abandon(smux_t *self, const char *why)
{
    s_job_t *lost = self->inflight;
    self->inflight = NULL;
    self->outstanding = 0;
    s_fail(lost, why);
    s_reconnect(self);
}

//  How long the leader may wait for replies: until the first deadline.
static long
s_poll_timeout(smux_t *self)
{
    long timeout = self->timeout_ms;
    int64_t now = zclock_mono();
    for (s_job_t *job = self->inflight; job; job = job->next) {
        int64_t left = job->deadline - now;
        if (left < timeout)
            timeout = left > 0 ? (long) left : 0;
    }
    return timeout;
}

static bool
s_expired(smux_t *self)
{
    int64_t now = zclock_mono();
    for (s_job_t *job = self->inflight; job; job = job->next)
        if (job->deadline <= now)
            return true;
    return false;
}

//  Leads until mine is done: sends what is queued (one message at a time),
//  reads replies, fails what storage does not answer in time. Then hands
//  the lead to a caller still waiting, if any.
static void
s_lead(smux_t *self, s_job_t *mine)
{
    while (true) {
        pthread_mutex_lock(&self->lock);
        if (mine->done) {       // set by this thread, the leader
            s_job_t *next = self->inflight ? self->inflight : self->queue;
            if (!next)
                self->leading = false;
            pthread_mutex_unlock(&self->lock);
            if (next)
                s_wake(next, true);
            return;
        }
        s_job_t *batch = s_take(self);
        pthread_mutex_unlock(&self->lock);
        if (batch) {
            s_send(self, batch);
            continue;                   // it may have failed mine
        }
        zmq_pollitem_t items[2] = {
            { self->sock ? zsock_resolve(self->sock) : NULL, 0, ZMQ_POLLIN, 0 },
            { self->mon ? sockmon_handle(self->mon) : NULL, 0, ZMQ_POLLIN, 0 },
        };
        int n = self->sock ? (self->mon ? 2 : 1) : 0;
        if (n > 0 && zmq_poll(items, n, s_poll_timeout(self)) < 0 && zmq_errno() != EINTR) {
            log_e("gateway", "storage poll failed (%s)", zmq_strerror(zmq_errno()));
            s_abandon(self, "storage is not reachable");
            continue;
        }
        if (n > 0 && (items[0].revents & ZMQ_POLLIN))
            s_receive(self);
        if (n > 1 && (items[1].revents & ZMQ_POLLIN) && sockmon_disconnected(self->mon))
            s_abandon(self, "storage went away before answering");
        else if (s_expired(self)) {
            char why[PDB_ERRMSG_MAX];
            snprintf(why, sizeof why, "storage did not answer within %d ms", self->timeout_ms);
            log_w("gateway", "storage did not answer within %d ms: failing the writes in flight",
                  self->timeout_ms);
            s_abandon(self, why);
        }
    }
}

//  --------------------------------------------------------------------------
//  The callers

smux_t *
smux_new(const char *endpoint, int timeout_ms, zcert_t *cert)
{
    smux_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->queue_tail = &self->queue;
    self->endpoint = strdup(endpoint);
    self->cert = cert;
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : SCLIENT_TIMEOUT_MS_DEFAULT;
    atomic_init(&self->next_id, 1);
    atomic_init(&self->sent_requests, 0);
    atomic_init(&self->sent_messages, 0);
    if (!self->endpoint || pthread_mutex_init(&self->lock, NULL) != 0) {
        free(self->endpoint);
        free(self);
        return NULL;
    }
    s_reconnect(self);
    if (!self->sock) {
        log_e("gateway", "cannot connect to storage endpoint=%s", endpoint);
        smux_destroy(&self);
    }
    return self;
}

void
smux_destroy(smux_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    smux_t *self = *self_p;
    sockmon_destroy(&self->mon);
    zsock_destroy(&self->sock);
    pthread_mutex_destroy(&self->lock);
    free(self->endpoint);
    free(self);
    *self_p = NULL;
}

void
smux_counts(smux_t *self, uint64_t *requests, uint64_t *messages)
{
    *requests = atomic_load(&self->sent_requests);
    *messages = atomic_load(&self->sent_messages);
}

static void
s_job_release(s_job_t *job)
{
    if (job->reply)
        msgpack_unpacked_destroy(&job->u);
    zframe_destroy(&job->reply);
    zframe_destroy(&job->request);
    if (job->sync_ready) {
        pthread_cond_destroy(&job->cond);
        pthread_mutex_destroy(&job->lock);
    }
}

//  Queues op with args and waits for its end. On 0, job->u is storage's
//  reply; else PDB_EUNAVAIL (or a packing error) with job->why. Release the
//  job with s_job_release in every case.
static int
s_exchange(smux_t *self, const char *op, mpk_out_t *args, s_job_t *job)
{
    memset(job, 0, sizeof *job);
    if (pthread_mutex_init(&job->lock, NULL) != 0)
        return -ENOMEM;
    if (pthread_cond_init(&job->cond, NULL) != 0) {
        pthread_mutex_destroy(&job->lock);
        return -ENOMEM;
    }
    job->sync_ready = true;
    int rc = mpk_out_status(args);
    if (rc)
        return rc;
    job->request_id = atomic_fetch_add(&self->next_id, 1);
    //  From the call: one waiting behind a message storage does not answer
    //  is sent when that one is given up, and waits only what is left.
    job->deadline = zclock_mono() + self->timeout_ms;
    mpk_out_t req;
    mpk_out_init(&req);
    sproto_pack_request(&req.pk, job->request_id, op, args->buf.data, args->buf.size);
    rc = mpk_out_status(&req);
    job->request = rc ? NULL : zframe_new(req.buf.data, req.buf.size);
    mpk_out_release(&req);
    if (!job->request)
        return rc ? rc : -ENOMEM;
    pthread_mutex_lock(&self->lock);
    *self->queue_tail = job;
    self->queue_tail = &job->next;
    bool lead = !self->leading;
    self->leading = true;
    pthread_mutex_unlock(&self->lock);
    if (!lead) {
        pthread_mutex_lock(&job->lock);
        while (!job->done && !job->lead)
            pthread_cond_wait(&job->cond, &job->lock);
        lead = !job->done;
        job->lead = false;
        pthread_mutex_unlock(&job->lock);
    }
    if (lead)
        s_lead(self, job);
    return job->rc;
}

//  A "write" or "reinforce" exchange, its result read by sclient_read_id_seq.
static int
s_call_id_seq(smux_t *self, const char *op, mpk_out_t *args, pdb_id_t *id_out,
              uint64_t *seq_out, void **record, size_t *record_len, char *why)
{
    s_job_t job;
    int rc = s_exchange(self, op, args, &job);
    if (rc == 0)
        rc = sclient_read_id_seq(&job.u.data, id_out, seq_out, record, record_len, why);
    else
        snprintf(why, PDB_ERRMSG_MAX, "%s", job.why[0] ? job.why : pdb_strerror(rc));
    s_job_release(&job);
    mpk_out_release(args);
    return rc;
}

int
smux_write(smux_t *self, ent_type_t entity, change_op_t op, const pdb_id_t *collective_id,
           const pdb_id_t *entity_id, const void *fields, size_t fields_len,
           pdb_id_t *id_out, uint64_t *seq_out, char why[PDB_ERRMSG_MAX])
{
    mpk_out_t args;
    mpk_out_init(&args);
    sclient_pack_write(&args, entity, op, collective_id, entity_id, fields, fields_len, false);
    return s_call_id_seq(self, "write", &args, id_out, seq_out, NULL, NULL, why);
}

int
smux_create(smux_t *self, ent_type_t entity, const pdb_id_t *collective_id,
            const void *fields, size_t fields_len, pdb_id_t *id_out, void **record,
            size_t *record_len, char why[PDB_ERRMSG_MAX])
{
    *record = NULL;
    *record_len = 0;
    mpk_out_t args;
    mpk_out_init(&args);
    sclient_pack_write(&args, entity, OP_CREATE, collective_id, NULL, fields, fields_len, true);
    return s_call_id_seq(self, "write", &args, id_out, NULL, record, record_len, why);
}

int
smux_reinforce(smux_t *self, const pdb_id_t *experience_id, uint64_t *seq_out,
               char why[PDB_ERRMSG_MAX])
{
    mpk_out_t args;
    mpk_out_init(&args);
    sclient_pack_reinforce(&args, experience_id);
    return s_call_id_seq(self, "reinforce", &args, NULL, seq_out, NULL, NULL, why);
}
