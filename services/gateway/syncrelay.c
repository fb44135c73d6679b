/*  syncrelay.c - relays HTTP sync requests to the syncer and answers them
    when it does, on one thread, with a DEALER per request in flight (the
    protocol has no request ids: a socket's next reply is its request's).
*/
#include "syncrelay.h"
#include "bounds.h"
#include "cfg.h"
#include "clock.h"
#include "log.h"
#include "sync_msg.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SYNCRELAY_CONNECT_MS 1000     // a syncer not taking a request by then: busy
#define SYNCRELAY_RETRY_MS 20         // how often an unsent request tries again
#define SYNCRELAY_IDLE_MS 1000        // the loop's longest sleep

//  A request from a worker, waiting for the relay thread.
typedef struct s_job {
    struct s_job *next;
    http_deferred_t *deferred;
    char peer[PEERSPEC_NAME_MAX + 1];
    char *body;
    size_t len;
} s_job_t;

//  A socket and the request it carries (relay thread only).
typedef struct {
    zsock_t *sock;
    s_job_t *job;                 // NULL: free
    bool sent;
    uint64_t deadline_ms;         // to be sent by (unsent), or answered by
} s_slot_t;

struct syncrelay {
    char endpoint[CFG_PATH_MAX + 32];
    pthread_t thread;
    bool running;
    pthread_mutex_t lock;         // the queue, in_flight, stopping
    s_job_t *head, *tail;
    size_t in_flight;             // queued or in a slot
    bool stopping;
    int wake[2];                  // a byte on wake[1] wakes the thread
    s_slot_t slots[SYNCRELAY_IN_FLIGHT_MAX];
};

//  --------------------------------------------------------------------------
//  Replies

static const struct {
    int code;
    unsigned status;
} s_statuses[] = {
    { SYNC_ERR_PROTOCOL_VERSION, 400 }, { SYNC_ERR_BAD_REQUEST, 400 },
    { SYNC_ERR_UNAUTHORIZED, 401 }, { SYNC_ERR_CURSOR_BELOW_FLOOR, 409 },
    { SYNC_ERR_TOO_LARGE, 413 }, { SYNC_ERR_BUSY, 503 }, { SYNC_ERR_INTERNAL, 500 },
    { SYNC_ERR_FORBIDDEN, 403 },
};

static unsigned
s_status_of(int code)
{
    for (size_t i = 0; i < sizeof s_statuses / sizeof s_statuses[0]; i++)
        if (s_statuses[i].code == code)
            return s_statuses[i].status;
    return 500;
}

//  The HTTP status of a sync reply body: 200 for an answer, the mapped
//  status for an error message, 502 for bytes that are no sync message.
static unsigned
s_status(const void *body, size_t len)
{
    sync_msg_t msg;
    char why[PDB_ERRMSG_MAX];
    if (sync_msg_decode(body, len, &msg, why) != 0)
        return 502;
    unsigned status = msg.op == SYNC_ERROR ? s_status_of(msg.error) : 200;
    sync_msg_release(&msg);
    return status;
}

static void
s_reply_bytes(http_reply_t *reply, unsigned status, const void *body, size_t len)
{
    http_reply_text(reply, status, HTTP_MSGPACK, body, len);
}

void
syncrelay_reply_error(http_reply_t *reply, int sync_err, const char *fmt, ...)
{
    char detail[PDB_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    sync_msg_t msg = { .op = SYNC_ERROR, .error = (sync_err_t) sync_err, .detail = detail,
                       .detail_len = strlen(detail) };
    mpk_out_t out;
    mpk_out_init(&out);
    sync_msg_pack(&out.pk, &msg);
    if (mpk_out_status(&out) == 0)
        s_reply_bytes(reply, s_status_of(sync_err), out.buf.data, out.buf.size);
    else
        http_reply_error(reply, 500, "out of memory");
    mpk_out_release(&out);
}

//  Answers a job's request and frees the job.
static void
s_finish(s_job_t *job, int sync_err, const char *detail, const void *body, size_t len)
{
    http_reply_t reply = { 0 };
    if (body)
        s_reply_bytes(&reply, s_status(body, len), body, len);
    else
        syncrelay_reply_error(&reply, sync_err, "%s", detail);
    http_finish(job->deferred, &reply);
    free(job->body);
    free(job);
}

//  --------------------------------------------------------------------------
//  The relay thread

static zsock_t *
s_socket(const char *endpoint)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!sock)
        return NULL;
    zsock_set_linger(sock, 0);
    zsock_set_sndtimeo(sock, 0);
    //  Send only to a connected syncer: an unsent request is retried until
    //  SYNCRELAY_CONNECT_MS, then answered busy, not queued for minutes.
    zsock_set_immediate(sock, 1);
    zsock_set_maxmsgsize(sock, (int) PDB_MSG_MAX);
    if (zsock_connect(sock, "%s", endpoint) != 0)
        zsock_destroy(&sock);
    return sock;
}

//  Tries to hand the slot's request to the syncer. False when it cannot yet.
static bool
s_send(syncrelay_t *self, s_slot_t *slot)
{
    if (!slot->sock)
        slot->sock = s_socket(self->endpoint);
    if (!slot->sock)
        return false;
    zmsg_t *msg = zmsg_new();
    if (!msg || zmsg_addstr(msg, slot->job->peer) != 0
        || zmsg_addmem(msg, slot->job->body, slot->job->len) != 0
        || zmsg_send(&msg, slot->sock) != 0) {
        zmsg_destroy(&msg);
        return false;
    }
    slot->sent = true;
    slot->deadline_ms = clock_mono_ms() + SYNCRELAY_TIMEOUT_MS;
    return true;
}

//  Ends the slot's request with a busy error. The socket goes too: a late
//  reply must never answer the slot's next request.
static void
s_fail(syncrelay_t *self, s_slot_t *slot, const char *detail)
{
    zsock_destroy(&slot->sock);
    s_finish(slot->job, SYNC_ERR_BUSY, detail, NULL, 0);
    slot->job = NULL;
    pthread_mutex_lock(&self->lock);
    self->in_flight--;
    pthread_mutex_unlock(&self->lock);
}

static void
s_answered(syncrelay_t *self, s_slot_t *slot)
{
    zmsg_t *msg = zmsg_recv(slot->sock);
    zframe_t *body = msg && zmsg_size(msg) == 1 ? zmsg_first(msg) : NULL;
    if (!body) {
        zmsg_destroy(&msg);
        s_fail(self, slot, "the syncer sent a malformed reply");
        return;
    }
    s_finish(slot->job, 0, "", zframe_data(body), zframe_size(body));
    zmsg_destroy(&msg);
    slot->job = NULL;
    slot->sent = false;
    pthread_mutex_lock(&self->lock);
    self->in_flight--;
    pthread_mutex_unlock(&self->lock);
}

//  Moves queued jobs into free slots (there is always one: in_flight is
//  bounded by the slot count) and tries to send them.
static void
s_take_jobs(syncrelay_t *self)
{
    char drain[64];
    while (read(self->wake[0], drain, sizeof drain) > 0)
        ;
    pthread_mutex_lock(&self->lock);
    s_job_t *jobs = self->head;
    self->head = self->tail = NULL;
    pthread_mutex_unlock(&self->lock);
    for (size_t i = 0; jobs && i < SYNCRELAY_IN_FLIGHT_MAX; i++) {
        s_slot_t *slot = &self->slots[i];
        if (slot->job)
            continue;
        slot->job = jobs;
        jobs = jobs->next;
        slot->sent = false;
        slot->deadline_ms = clock_mono_ms() + SYNCRELAY_CONNECT_MS;
        (void) s_send(self, slot);
    }
    assert(!jobs);          // in_flight never exceeds the slots
}

//  Unsent requests try again; requests past their deadline end busy.
//  Returns the time to wait before the next look, in ms.
static long
s_timers(syncrelay_t *self)
{
    uint64_t now = clock_mono_ms();
    long wait = SYNCRELAY_IDLE_MS;
    for (size_t i = 0; i < SYNCRELAY_IN_FLIGHT_MAX; i++) {
        s_slot_t *slot = &self->slots[i];
        if (!slot->job)
            continue;
        if (!slot->sent && s_send(self, slot))
            continue;
        if (now >= slot->deadline_ms) {
            s_fail(self, slot, slot->sent ? "the syncer did not answer in time"
                                          : "the syncer is not running");
            continue;
        }
        if (!slot->sent && wait > SYNCRELAY_RETRY_MS)
            wait = SYNCRELAY_RETRY_MS;
    }
    return wait;
}

static void *
s_run(void *arg)
{
    syncrelay_t *self = arg;
    zmq_pollitem_t items[SYNCRELAY_IN_FLIGHT_MAX + 1];
    size_t index[SYNCRELAY_IN_FLIGHT_MAX + 1];
    while (true) {
        pthread_mutex_lock(&self->lock);
        bool stopping = self->stopping;
        pthread_mutex_unlock(&self->lock);
        if (stopping)
            break;
        long wait = s_timers(self);
        int n = 0;
        items[n++] = (zmq_pollitem_t) { NULL, self->wake[0], ZMQ_POLLIN, 0 };
        for (size_t i = 0; i < SYNCRELAY_IN_FLIGHT_MAX; i++)
            if (self->slots[i].job && self->slots[i].sent) {
                index[n] = i;
                items[n++] = (zmq_pollitem_t) { zsock_resolve(self->slots[i].sock), 0,
                                                ZMQ_POLLIN, 0 };
            }
        if (zmq_poll(items, n, wait) <= 0)
            continue;
        for (int k = 1; k < n; k++)
            if (items[k].revents & ZMQ_POLLIN)
                s_answered(self, &self->slots[index[k]]);
        if (items[0].revents & ZMQ_POLLIN)
            s_take_jobs(self);
    }
    return NULL;
}

//  --------------------------------------------------------------------------
//  Lifecycle

syncrelay_t *
syncrelay_new(const char *data_dir)
{
    syncrelay_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    snprintf(self->endpoint, sizeof self->endpoint, "ipc://%s/%s", data_dir, SYNC_RELAY_SOCKET);
    pthread_mutex_init(&self->lock, NULL);
    self->wake[0] = self->wake[1] = -1;
    if (pipe2(self->wake, O_NONBLOCK | O_CLOEXEC) != 0
        || pthread_create(&self->thread, NULL, s_run, self) != 0) {
        log_e("gateway", "cannot start the sync relay (%s)", strerror(errno));
        syncrelay_destroy(&self);
        return NULL;
    }
    self->running = true;
    return self;
}

static void
s_wake(syncrelay_t *self)
{
    char byte = 1;
    //  A full pipe already holds a wake-up: nothing is lost.
    if (write(self->wake[1], &byte, 1) < 0 && errno != EAGAIN)
        log_w("gateway", "sync relay wake-up failed (%s)", strerror(errno));
}

void
syncrelay_stop(syncrelay_t *self)
{
    pthread_mutex_lock(&self->lock);
    self->stopping = true;
    pthread_mutex_unlock(&self->lock);
    if (self->running) {
        s_wake(self);
        pthread_join(self->thread, NULL);
        self->running = false;
    }
    //  Nothing may stay suspended: http_destroy needs every request answered.
    //  The thread has ended: its sockets are ours to close.
    for (size_t i = 0; i < SYNCRELAY_IN_FLIGHT_MAX; i++) {
        if (self->slots[i].job)
            s_fail(self, &self->slots[i], "the gateway is stopping");
        zsock_destroy(&self->slots[i].sock);
    }
    pthread_mutex_lock(&self->lock);
    s_job_t *jobs = self->head;
    self->head = self->tail = NULL;
    pthread_mutex_unlock(&self->lock);
    for (s_job_t *next; jobs; jobs = next) {
        next = jobs->next;
        s_finish(jobs, SYNC_ERR_BUSY, "the gateway is stopping", NULL, 0);
    }
}

void
syncrelay_destroy(syncrelay_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    syncrelay_t *self = *self_p;
    syncrelay_stop(self);
    for (int i = 0; i < 2; i++)
        if (self->wake[i] >= 0)
            close(self->wake[i]);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

void
syncrelay_submit(syncrelay_t *self, http_req_t *req, const char *peer, http_reply_t *reply)
{
    s_job_t *job = calloc(1, sizeof *job);
    char *body = job ? malloc(req->body_len ? req->body_len : 1) : NULL;
    if (!body) {
        free(job);
        syncrelay_reply_error(reply, SYNC_ERR_BUSY, "out of memory");
        return;
    }
    memcpy(body, req->body ? req->body : "", req->body_len);
    *job = (s_job_t) { .body = body, .len = req->body_len };
    snprintf(job->peer, sizeof job->peer, "%s", peer ? peer : "");
    pthread_mutex_lock(&self->lock);
    bool take = !self->stopping && self->in_flight < SYNCRELAY_IN_FLIGHT_MAX;
    if (take) {
        self->in_flight++;
        job->deferred = http_defer(req);
        if (self->tail)
            self->tail->next = job;
        else
            self->head = job;
        self->tail = job;
    }
    pthread_mutex_unlock(&self->lock);
    if (!take) {
        free(body);
        free(job);
        syncrelay_reply_error(reply, SYNC_ERR_BUSY, "too many sync requests in flight "
                              "(at most %d)", SYNCRELAY_IN_FLIGHT_MAX);
        return;
    }
    s_wake(self);
}
