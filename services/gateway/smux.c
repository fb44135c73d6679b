#include "smux.h"
#include "log.h"
#include "slink.h"

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
typedef struct {
    slink_job_t link;                // first: the link hands this back
    pthread_mutex_t lock;            // guards done and lead
    pthread_cond_t cond;
    bool done;                       // its answer is in
    bool lead;                       // its caller leads next
} s_job_t;

//  No thread of its own: one caller at a time, the leader, sends and
//  receives for everyone on the link, and hands it to another waiting
//  caller when its own reply is in. A lone caller is its own leader, so a
//  write crosses no more threads than through a plain client; under load,
//  one hand-off serves a whole message of writes.
struct smux {
    pthread_mutex_t lock;            // guards queue and leading
    slink_queue_t queue;             // submitted, not sent yet
    bool leading;                    // some caller leads
    atomic_uint_fast64_t sent_requests, sent_messages;   // for /metrics
    slink_t *link;                   // the leader's (the lock passes it on)
};

//  --------------------------------------------------------------------------
//  The leader's work

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

//  The link's `done`: the caller's answer is in.
static void
s_done(slink_job_t *link)
{
    s_wake((s_job_t *) link, false);
}

//  Under the lock: the next batch to send, or NULL when there is none or
//  SMUX_OUTSTANDING messages are at storage already (what comes meanwhile
//  waits to leave together with the others).
static slink_job_t *
s_take(smux_t *self)
{
    if (slink_outstanding(self->link) >= SMUX_OUTSTANDING)
        return NULL;
    uint64_t n;
    slink_job_t *batch = slink_queue_take(&self->queue, &n);
    if (batch) {
        atomic_fetch_add(&self->sent_requests, n);
        atomic_fetch_add(&self->sent_messages, 1);
    }
    return batch;
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
            slink_job_t *inflight = slink_inflight(self->link);
            s_job_t *next = (s_job_t *) (inflight ? inflight : self->queue.head);
            if (!next)
                self->leading = false;
            pthread_mutex_unlock(&self->lock);
            if (next)
                s_wake(next, true);
            return;
        }
        slink_job_t *batch = s_take(self);
        pthread_mutex_unlock(&self->lock);
        if (batch) {
            slink_send(self->link, batch);
            continue;                   // it may have failed mine
        }
        zmq_pollitem_t items[SLINK_POLL_ITEMS];
        long timeout = slink_timeout_ms(self->link);
        int n = slink_poll_items(self->link, items, ZMQ_POLLIN, &timeout);
        if (n > 0 && zmq_poll(items, n, timeout) < 0 && zmq_errno() != EINTR) {
            log_e("gateway", "storage poll failed (%s)", zmq_strerror(zmq_errno()));
            slink_abandon(self->link, "storage is not reachable");
            continue;
        }
        slink_poll_done(self->link, items, n);
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
    slink_queue_init(&self->queue);
    atomic_init(&self->sent_requests, 0);
    atomic_init(&self->sent_messages, 0);
    if (pthread_mutex_init(&self->lock, NULL) != 0) {
        free(self);
        return NULL;
    }
    //  With no storage connected a send waits SCLIENT_CONNECT_WAIT_MS at
    //  most and its requests fail: a client sees 503 rather than a long hang.
    self->link = slink_new(endpoint, timeout_ms, SCLIENT_CONNECT_WAIT_MS, cert);
    if (!self->link)
        smux_destroy(&self);
    return self;
}

void
smux_destroy(smux_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    smux_t *self = *self_p;
    slink_destroy(&self->link);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

void
smux_counts(smux_t *self, uint64_t *requests, uint64_t *messages)
{
    *requests = atomic_load(&self->sent_requests);
    *messages = atomic_load(&self->sent_messages);
}

//  Queues op with args (released) and waits for its end. On 0, job->link.u
//  is storage's reply; else PDB_EUNAVAIL (or a packing error) with
//  job->link.why. Release the job with slink_job_release in every case.
static int
s_exchange(smux_t *self, const char *op, mpk_out_t *args, s_job_t *job)
{
    int rc = slink_job_init(self->link, &job->link, op, args, s_done);
    if (rc)
        return rc;
    job->done = job->lead = false;
    if (pthread_mutex_init(&job->lock, NULL) != 0)
        return -ENOMEM;
    if (pthread_cond_init(&job->cond, NULL) != 0) {
        pthread_mutex_destroy(&job->lock);
        return -ENOMEM;
    }
    pthread_mutex_lock(&self->lock);
    slink_queue_push(&self->queue, &job->link);
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
    pthread_cond_destroy(&job->cond);
    pthread_mutex_destroy(&job->lock);
    return job->link.rc;
}

//  A "write" or "reinforce" exchange, its result read by sclient_read_id_seq.
static int
s_call_id_seq(smux_t *self, const char *op, mpk_out_t *args, pdb_id_t *id_out,
              uint64_t *seq_out, void **record, size_t *record_len, char *why)
{
    s_job_t job;
    int rc = s_exchange(self, op, args, &job);
    if (rc == 0)
        rc = sclient_read_id_seq(&job.link.u.data, id_out, seq_out, record, record_len, why);
    else
        snprintf(why, PDB_ERRMSG_MAX, "%s", job.link.why[0] ? job.link.why : pdb_strerror(rc));
    slink_job_release(&job.link);
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

int
smux_call(smux_t *self, const char *op, mpk_out_t *args, smux_read_fn *read, void *arg,
          char why[PDB_ERRMSG_MAX])
{
    s_job_t job;
    int rc = s_exchange(self, op, args, &job);
    const msgpack_object *result;
    if (rc == 0)
        rc = sclient_read_reply(&job.link.u.data, &result, why);
    else
        snprintf(why, PDB_ERRMSG_MAX, "%s", job.link.why[0] ? job.link.why : pdb_strerror(rc));
    if (rc == 0)
        rc = read(result, arg);
    slink_job_release(&job.link);
    return rc;
}
