#include "http.h"
#include "json_text.h"
#include "bounds.h"
#include "decimal.h"
#include "log.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_BACKLOG 1024            // pending connections per listening socket
#define HTTP_BODY_INITIAL 4096       // bytes: first allocation of a body buffer
//  Handler threads: handlers block on a storage round trip, and storage
//  commits every write waiting at once in one fsync, so this many writes in
//  flight keep its batches full (see BENCHMARKS.md, 64 clients).
#define HTTP_WORKERS 64
//  Deadlines of the stages of a request (see s_reap). Every byte resets
//  libmicrohttpd's own timeout, so it cannot stop a client that dribbles.
#define HTTP_WAIT_S 30               // accept, or the previous reply, to the request line
#define HTTP_HEADERS_S 10            // request line to the end of the headers
#define HTTP_BODY_S 30               // end of headers to the end of the body (1 MiB: 35 KB/s)
#define HTTP_REAP_INTERVAL_MS 500    // how often deadlines are checked
//  Sending a reply: libmicrohttpd's timeout, which a client reading
//  nothing at all trips. Streams write a heartbeat far more often.
#define HTTP_IDLE_TIMEOUT_S 120
//  The network loop's longest wait: it looks at the stop flag this often
//  even when nothing else wakes it.
#define HTTP_LOOP_WAIT_MAX_MS 1000
//  At stop, how long the loop may go on sending replies it resumed last.
#define HTTP_LOOP_FLUSH_MS 1000u

//  What a connection is waiting for; the stages before BUSY have deadlines.
typedef enum {
    S_WAIT,        // a request line
    S_HEADERS,     // the rest of the headers
    S_BODY,        // the body
    S_BUSY,        // our handler, then the reply going out (no deadline)
} s_stage_t;

//  One accepted connection (MHD's socket context), listed for the reaper.
typedef struct s_conn {
    struct s_conn *prev, *next;
    int fd;
    s_stage_t stage;
    uint64_t deadline_ms;       // when the stage must be over (monotonic)
    bool cut;                   // shut down by the reaper or a drain already
    bool served;                // answered a request: waiting now means keep-alive idle
} s_conn_t;

//  Per-request state kept by MHD in *con_cls between calls.
typedef struct s_req {
    http_req_t req;
    http_reply_t reply;          // filled by a worker
    struct s_req *next;          // in the work queue
    s_conn_t *conn_state;
    const char *raw_uri;         // the request target as received (for s_line_has_nul)
    size_t raw_uri_len;
    size_t body_cap;
    size_t body_max;             // s_body_max
    bool started;                // the first call (headers complete) was seen
    bool queued;                 // handed to a worker; the connection is suspended
    bool answered;               // a worker filled reply
    bool replied;
    bool close;                  // say Connection: close
} s_req_t;

//  Set by http_defer on the worker thread that runs the handler: once a
//  reply is deferred another thread may finish it and the request be freed
//  before the handler returns, so the worker must learn of it without
//  touching the request.
static _Thread_local bool s_deferred_now;
//  True on the network thread: it needs no wake-up to see a resume.
static _Thread_local bool s_on_loop_thread;
#define HTTP_DRAIN_POLL_MS 20        // how often a drain looks at the connections left
//  A keep-alive connection is idle for a drain once its last reply is this
//  old: a busy client sends its next request within a moment of reading a
//  reply, and cutting the connection in that moment would fail the request.
#define HTTP_DRAIN_IDLE_MS 250

//  A worker thread. An idle one waits on its own condition for the request
//  it is handed, and the most recently idle is handed the next: its stack,
//  its heap and the code it ran are still in the cache, where a shared
//  condition wakes whichever waited longest.
typedef struct s_worker {
    struct http *http;
    pthread_t thread;
    pthread_cond_t wake;
    s_req_t *job;                // handed over while idle
    struct s_worker *next_idle;
} s_worker_t;

struct http {
    struct MHD_Daemon *daemon;
    http_handler_fn handler;
    http_observe_fn observe;
    void *arg;
    http_loop_t loop;            // the network thread's other work
    pthread_t loop_thread;
    bool loop_running;
    int wake_fd;                 // eventfd: wakes the network thread
    bool resumed_here;           // the network thread resumed a connection since it last ran
                                 // libmicrohttpd: its next wait must not sleep
    bool sync_ready;             // lock and tick are initialised
    atomic_bool loop_stop;       // the network thread ends once its work is done
    atomic_bool quiesce;         // http_drain asks the network thread to close the listener
    atomic_bool quiesced;
    pthread_mutex_t lock;        // everything below
    pthread_cond_t tick;         // wakes the reaper early at shutdown
    s_req_t *head, *tail;        // requests waiting for a worker (none idle)
    s_worker_t *idle;            // idle workers, the most recent first
    s_conn_t *conns;             // every open connection
    unsigned conns_n;
    bool stopping;
    s_worker_t workers[HTTP_WORKERS];
    size_t workers_n;
    pthread_t reaper;
    bool reaper_running;
    atomic_bool draining;        // replies close their connection
};

static uint64_t
s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

//  --------------------------------------------------------------------------
//  Listening socket

static int
s_bind_one(const struct addrinfo *ai, int *fd_out)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
    if (fd < 0)
        return -errno;
    int on = 1;
    //  SO_REUSEPORT: gateways on one port share it; a process that bound
    //  without it still makes our bind fail, which is what we want to report.
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0
        || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0
        || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0
        || listen(fd, HTTP_BACKLOG) != 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

static unsigned
s_port_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *) &ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *) &ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *) &ss)->sin6_port);
    return 0;
}

int
http_listen(const char *host, unsigned port, int *fd, unsigned *bound_port,
            char why[PDB_ERRMSG_MAX])
{
    char service[16];
    snprintf(service, sizeof service, "%u", port);
    struct addrinfo hints = { 0 }, *list = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host[0] ? host : NULL, service, &hints, &list);
    if (gai != 0) {
        snprintf(why, PDB_ERRMSG_MAX, "cannot resolve host '%s': %s", host, gai_strerror(gai));
        return -EINVAL;
    }
    int rc = -EADDRNOTAVAIL;
    for (const struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        rc = s_bind_one(ai, fd);
        if (rc == 0)
            break;
    }
    freeaddrinfo(list);
    if (rc) {
        snprintf(why, PDB_ERRMSG_MAX, "cannot listen on %s:%u: %s%s", host, port, strerror(-rc),
                 rc == -EADDRINUSE ? " (taken by a process without SO_REUSEPORT?)" : "");
        return rc;
    }
    *bound_port = s_port_of(*fd);
    return 0;
}

//  --------------------------------------------------------------------------
//  Replies

static const char *
s_error_code(unsigned status)
{
    switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 409: return "conflict";
    case 413: return "too_large";
    case 415: return "unsupported_media_type";
    case 503: return "unavailable";
    default:  return "internal";
    }
}

static void
s_reply_release(http_reply_t *reply)
{
    free(reply->body);
    if (reply->stream)
        MHD_destroy_response(reply->stream);
    memset(reply, 0, sizeof *reply);
}

void
http_reply_text(http_reply_t *reply, unsigned status, const char *content_type,
                const char *text, size_t len)
{
    s_reply_release(reply);
    reply->status = status;
    reply->content_type = content_type;
    reply->body = malloc(len + 1);
    if (!reply->body) {
        reply->status = 500;     // nothing left to say it with: empty 500
        return;
    }
    memcpy(reply->body, text, len);
    reply->body[len] = '\0';
    reply->body_len = len;
}

void
http_reply_json(http_reply_t *reply, unsigned status, json_t *body)
{
    s_reply_release(reply);
    size_t len = 0;
    char *text = json_text_dump(body, &len);
    json_decref(body);
    reply->content_type = "application/json";
    reply->status = text ? status : 500;
    reply->body = text;
    reply->body_len = text ? len : 0;
}

void
http_reply_json_text(http_reply_t *reply, unsigned status, json_text_t *text)
{
    s_reply_release(reply);
    size_t len = 0;
    char *body = json_text_take(text, &len);
    reply->content_type = "application/json";
    reply->status = body ? status : 500;
    reply->body = body;
    reply->body_len = body ? len : 0;
}

void
http_reply_empty(http_reply_t *reply, unsigned status)
{
    s_reply_release(reply);
    reply->status = status;
}

static void
s_reply_error_text(http_reply_t *reply, unsigned status, const char *message)
{
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", s_error_code(status),
                             "message", message);
    //  A message that is not valid UTF-8 (it quotes client input) must
    //  still produce an error reply.
    if (!body)
        body = json_pack("{s:{s:s,s:s}}", "error", "code", s_error_code(status),
                         "message", "invalid input");
    http_reply_json(reply, status, body);
}

void
http_reply_error(http_reply_t *reply, unsigned status, const char *fmt, ...)
{
    char message[PDB_ERRMSG_MAX * 2];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    s_reply_error_text(reply, status, message);
}

static unsigned
s_status_of(int rc)
{
    switch (rc) {
    case PDB_EINVAL:    return 400;
    case PDB_ENOTFOUND:
    case PDB_EDELETED:  return 404;
    case PDB_ECONFLICT: return 409;
    case PDB_ETOOBIG:   return 413;
    case PDB_EUNAVAIL:  return 503;
    default:            return 500;
    }
}

void
http_reply_rc(http_reply_t *reply, int rc, const char *why)
{
    s_reply_error_text(reply, s_status_of(rc), why && why[0] ? why : pdb_strerror(rc));
}

void
http_reply_rc_index(http_reply_t *reply, int rc, const char *why, size_t index)
{
    unsigned status = s_status_of(rc);
    json_t *body = json_pack("{s:{s:s,s:s,s:I}}", "error", "code", s_error_code(status),
                             "message", why && why[0] ? why : pdb_strerror(rc),
                             "index", (json_int_t) index);
    if (!body) {
        s_reply_error_text(reply, status, why);      // not UTF-8: the plain fallback
        return;
    }
    http_reply_json(reply, status, body);
}

void
http_reply_stream(http_reply_t *reply, struct MHD_Response *stream)
{
    s_reply_release(reply);
    reply->status = 200;
    reply->stream = stream;
}

//  --------------------------------------------------------------------------
//  Request accessors

const char *
http_query(const http_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *
http_header(const http_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *
http_bearer(const http_req_t *req, size_t *len)
{
    const char *value = http_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
    //  The scheme is case-insensitive (RFC 7235); the token is not.
    if (!value || strncasecmp(value, "Bearer ", 7) != 0)
        return NULL;
    value += 7;
    value += strspn(value, " ");
    *len = strcspn(value, " \t");
    return value;
}

bool
http_is_json(const http_req_t *req)
{
    const char *type = http_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!type)
        return false;
    while (*type == ' ' || *type == '\t')
        type++;
    size_t len = strcspn(type, "; \t");
    return len == strlen("application/json") && strncasecmp(type, "application/json", len) == 0;
}

int
http_conn_fd(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info ? info->connect_fd : -1;
}

//  --------------------------------------------------------------------------
//  Connections and their deadlines

static void
s_stage(http_t *self, s_conn_t *c, s_stage_t stage, unsigned limit_s)
{
    if (!c)
        return;
    pthread_mutex_lock(&self->lock);
    c->stage = stage;
    c->deadline_ms = limit_s ? clock_mono_ms() + (uint64_t) limit_s * 1000u : 0;
    pthread_mutex_unlock(&self->lock);
}

//  MHD_OPTION_NOTIFY_CONNECTION: lists each connection for the reaper. The
//  closed notice comes before MHD closes the socket, so the reaper, which
//  holds the lock while it shuts a socket down, never touches a reused fd.
static void
s_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
         enum MHD_ConnectionNotificationCode code)
{
    http_t *self = cls;
    s_conn_t *c = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        c = calloc(1, sizeof *c);
        if (!c)
            return;             // served without a deadline: rare, and logged by nobody
        c->fd = http_conn_fd(conn);
        c->stage = S_WAIT;
        c->deadline_ms = clock_mono_ms() + HTTP_WAIT_S * 1000u;
        pthread_mutex_lock(&self->lock);
        c->next = self->conns;
        if (self->conns)
            self->conns->prev = c;
        self->conns = c;
        self->conns_n++;
        pthread_mutex_unlock(&self->lock);
        *socket_context = c;
        return;
    }
    if (!c)
        return;
    pthread_mutex_lock(&self->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        self->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    self->conns_n--;
    pthread_mutex_unlock(&self->lock);
    free(c);
    *socket_context = NULL;
}

//  Shuts down every connection past its stage's deadline; returns how many.
//  shutdown() rather than close(): the socket stays MHD's, which sees the
//  end of the stream, closes it and frees the connection as usual.
static unsigned
s_reap_once(http_t *self)
{
    uint64_t now = clock_mono_ms();
    unsigned cut = 0;
    for (s_conn_t *c = self->conns; c; c = c->next) {
        if (c->cut || c->deadline_ms == 0 || now < c->deadline_ms || c->fd < 0)
            continue;
        shutdown(c->fd, SHUT_RDWR);
        c->cut = true;
        cut++;
    }
    return cut;
}

//  The reaper thread. A client must finish each stage of a request within
//  its deadline (HTTP_WAIT_S, HTTP_HEADERS_S, HTTP_BODY_S), however it
//  spreads its bytes: a slowloris that sends one byte a second holds a
//  connection (a few KB, no thread) for seconds, not forever.
static void *
s_reap(void *arg)
{
    http_t *self = arg;
    pthread_mutex_lock(&self->lock);
    while (!self->stopping) {
        unsigned cut = s_reap_once(self);
        if (cut)
            log_w("http", "closed slow connections count=%u (request stage over its deadline)",
                  cut);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += HTTP_REAP_INTERVAL_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&self->tick, &self->lock, &ts);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

//  Wakes the network thread out of its wait. libmicrohttpd has no channel
//  of its own to it when the loop is ours (it drops MHD_USE_ITC in that
//  mode), so every resume from another thread must come with this.
static void
s_wake(http_t *self)
{
    uint64_t one = 1;
    if (write(self->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        log_w("http", "cannot wake the network thread (%s)", strerror(errno));
}

void
http_resume(http_t *self, struct MHD_Connection *conn)
{
    MHD_resume_connection(conn);
    if (s_on_loop_thread)
        self->resumed_here = true;
    else
        s_wake(self);
}

//  --------------------------------------------------------------------------
//  Workers: handlers that may block run here, never on the network thread,
//  so a handler waiting on storage stalls no other connection.

//  The next request for worker w, waiting idle when there is none; NULL
//  when stopping with nothing left to answer. Called with the lock held.
static s_req_t *
s_next_job(http_t *self, s_worker_t *w)
{
    s_req_t *r = self->head;
    if (r) {
        self->head = r->next;
        if (!self->head)
            self->tail = NULL;
        return r;
    }
    if (self->stopping)
        return NULL;
    w->job = NULL;
    w->next_idle = self->idle;
    self->idle = w;
    while (!w->job && !self->stopping)
        pthread_cond_wait(&w->wake, &self->lock);
    r = w->job;
    w->job = NULL;
    //  Woken to stop: whatever is still queued is answered first.
    return r ? r : s_next_job(self, w);
}

static void *
s_work(void *arg)
{
    s_worker_t *w = arg;
    http_t *self = w->http;
    pthread_mutex_lock(&self->lock);
    s_req_t *r;
    while ((r = s_next_job(self, w)) != NULL) {
        pthread_mutex_unlock(&self->lock);
        s_deferred_now = false;
        self->handler(self->arg, &r->req, &r->reply);
        if (!s_deferred_now) {
            r->answered = true;
            //  Resuming publishes the reply: MHD's own lock orders it before
            //  the network thread's next call of s_access for this request.
            http_resume(self, r->req.conn);
        }
        pthread_mutex_lock(&self->lock);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

http_deferred_t *
http_defer(http_req_t *req)
{
    s_deferred_now = true;
    return (http_deferred_t *) req;      // req is the first member of its s_req_t
}

void
http_finish(http_deferred_t *deferred, http_reply_t *reply)
{
    s_req_t *r = (s_req_t *) deferred;
    r->reply = *reply;
    memset(reply, 0, sizeof *reply);      // now the request's
    r->answered = true;
    http_resume(r->req.server, r->req.conn);
}

//  Suspends the connection and queues the request for a worker, or returns
//  false when the server is stopping (the caller answers at once).
static bool
s_enqueue(http_t *self, s_req_t *r)
{
    pthread_mutex_lock(&self->lock);
    bool open = !self->stopping;
    s_worker_t *w = NULL;
    if (open) {
        MHD_suspend_connection(r->req.conn);
        r->queued = true;
        r->next = NULL;
        w = self->idle;
        if (w) {
            self->idle = w->next_idle;
            w->job = r;
        }
        else {
            if (self->tail)
                self->tail->next = r;
            else
                self->head = r;
            self->tail = r;
        }
    }
    pthread_mutex_unlock(&self->lock);
    //  After the unlock: a worker woken while the lock is still held would
    //  only block on it again (measured: a tenth of the workers' switches).
    if (w)
        pthread_cond_signal(&w->wake);
    return open;
}

//  --------------------------------------------------------------------------
//  MHD callbacks

static http_method_t
s_method(const char *name)
{
    static const struct { const char *name; http_method_t method; } table[] = {
        { "GET", HTTP_GET }, { "HEAD", HTTP_HEAD }, { "POST", HTTP_POST },
        { "PUT", HTTP_PUT }, { "PATCH", HTTP_PATCH }, { "DELETE", HTTP_DELETE },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].name, name) == 0)
            return table[i].method;
    return HTTP_OTHER;
}

//  A body's cap: a sync message (POST /v1/sync/..., MessagePack) may be as
//  large as the protocol's frame, any other body as PDB_HTTP_BODY_MAX.
static size_t
s_body_max(const s_req_t *r)
{
    const char *type = MHD_lookup_connection_value(r->req.conn, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_CONTENT_TYPE);
    bool sync = r->req.method == HTTP_POST && r->req.path
             && strncmp(r->req.path, HTTP_SYNC_PREFIX, strlen(HTTP_SYNC_PREFIX)) == 0
             && type && strncasecmp(type, HTTP_MSGPACK, strlen(HTTP_MSGPACK)) == 0;
    return sync ? PDB_MSG_MAX : PDB_HTTP_BODY_MAX;
}

//  Content-Length over the cap: refuse before reading a byte of the body.
static bool
s_declared_too_large(const s_req_t *r)
{
    const char *length = MHD_lookup_connection_value(r->req.conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!length)
        return false;
    //  libmicrohttpd refuses a malformed Content-Length itself; what fails
    //  to parse here is one past 64 bits.
    uint64_t n;
    return decimal_parse_u64(length, &n) != 0 || n > r->body_max;
}

//  Whether the request line held a NUL byte. libmicrohttpd (0.9.75) parses
//  the line in place by length but hands out C strings, so "GET\0X /health"
//  reached us as GET and "/health\0junk" as /health. In that layout the
//  method's first NUL is followed only by the spaces before the target, and
//  the target's first NUL sits right before the version; anything else
//  means the client sent a NUL. (A line that starts with NUL is taken by
//  libmicrohttpd for an empty line before the request and never reaches
//  us; the wait deadline closes such a connection.)
static bool
s_line_has_nul(const s_req_t *r, const char *method, const char *version)
{
    if (!r->raw_uri)
        return false;
    const char *p = method + strlen(method) + 1;
    if (p > r->raw_uri)
        return false;           // not the layout described above: nothing to judge
    while (p < r->raw_uri && *p == ' ')
        p++;
    if (p != r->raw_uri)
        return true;
    const char *uri_end = r->raw_uri + r->raw_uri_len;
    return version && version[0] && version > uri_end && version != uri_end + 1;
}

//  Appends upload data, or drops it once the body is over the cap so a
//  client cannot make us hold more than r->body_max.
static void
s_take_body(s_req_t *r, const char *data, size_t len)
{
    http_req_t *req = &r->req;
    if (req->body_too_large)
        return;
    if (len > r->body_max - req->body_len) {
        req->body_too_large = true;
        free(req->body);
        req->body = NULL;
        req->body_len = r->body_cap = 0;
        return;
    }
    if (req->body_len + len + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : HTTP_BODY_INITIAL;
        while (cap < req->body_len + len + 1)
            cap *= 2;
        char *grown = realloc(req->body, cap);
        if (!grown) {
            req->body_too_large = true;   // reported as 413: we cannot hold it
            return;
        }
        req->body = grown;
        r->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, len);
    req->body_len += len;
    req->body[req->body_len] = '\0';
}

static struct MHD_Response *
s_response(const http_reply_t *reply, char **body)
{
    struct MHD_Response *response =
        *body ? MHD_create_response_from_buffer(reply->body_len, *body, MHD_RESPMEM_MUST_FREE)
              : MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!response)
        return NULL;
    *body = NULL;   // now owned by the response
    //  A header that cannot be added (out of memory) fails the response.
    bool ok = (!reply->content_type
               || MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                          reply->content_type) == MHD_YES)
           && (!reply->allow[0]
               || MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW,
                                          reply->allow) == MHD_YES)
           && (!reply->security_policy
               || MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_SECURITY_POLICY,
                                          reply->security_policy) == MHD_YES)
           && (!reply->bearer_challenge
               || MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                          "Bearer realm=\"pulsedb\"") == MHD_YES);
    if (!ok)
        MHD_destroy_response(response);
    return ok ? response : NULL;
}

static enum MHD_Result
s_queue(http_t *self, s_req_t *r, http_reply_t *reply)
{
    if (reply->status == 0)
        http_reply_error(reply, 500, "no reply");
    struct MHD_Response *response = reply->stream;
    reply->stream = NULL;
    if (!response)
        response = s_response(reply, &reply->body);
    if (!response) {
        s_reply_release(reply);
        return MHD_NO;
    }
    //  Without the header the client would keep a connection that closes:
    //  refuse the reply instead, which closes it now.
    enum MHD_Result ok = MHD_YES;
    if (r->close || r->req.body_too_large || atomic_load(&self->draining))
        ok = MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
    if (ok == MHD_YES)
        ok = MHD_queue_response(r->req.conn, reply->status, response);
    MHD_destroy_response(response);
    r->replied = true;
    if (self->observe)
        self->observe(self->arg, &r->req, reply->status, s_now_us() - r->req.start_us);
    s_reply_release(reply);
    return ok;
}

static bool
s_stopping(http_t *self)
{
    pthread_mutex_lock(&self->lock);
    bool stopping = self->stopping;
    pthread_mutex_unlock(&self->lock);
    return stopping;
}

//  A request the loop's owner takes on this thread: its handler answers at
//  once or defers, and a deferred one is finished from the loop's own work
//  (http_loop_t), on this thread too, with its connection suspended until then.
static enum MHD_Result
s_run_here(http_t *self, s_req_t *r)
{
    r->req.on_loop = true;
    s_deferred_now = false;
    self->handler(self->arg, &r->req, &r->reply);
    if (!s_deferred_now)
        return s_queue(self, r, &r->reply);
    r->queued = true;
    MHD_suspend_connection(r->req.conn);
    return MHD_YES;
}

//  The whole request is in: refusals are answered here, what the loop's
//  owner takes runs here, anything else goes to a worker (or, while
//  stopping, gets 503 at once).
static enum MHD_Result
s_dispatch(http_t *self, s_req_t *r)
{
    s_stage(self, r->conn_state, S_BUSY, 0);
    if (r->req.body_too_large) {
        http_reply_error(&r->reply, 413, "the request body is over the limit of %zu bytes",
                         r->body_max);
        return s_queue(self, r, &r->reply);
    }
    if (self->loop.on_loop && self->loop.on_loop(self->loop.arg, &r->req)) {
        if (!s_stopping(self))
            return s_run_here(self, r);
    }
    else if (s_enqueue(self, r))
        return MHD_YES;
    http_reply_error(&r->reply, 503, "the server is stopping");
    r->close = true;
    return s_queue(self, r, &r->reply);
}

//  First call for a request: its headers are complete.
static enum MHD_Result
s_begin(http_t *self, s_req_t *r, struct MHD_Connection *conn, const char *url,
        const char *method, const char *version)
{
    r->started = true;
    r->req.server = self;
    r->req.conn = conn;
    r->req.method_name = method;
    r->req.method = s_method(method);
    r->req.path = url;
    r->req.start_us = s_now_us();
    if (s_line_has_nul(r, method, version)) {
        s_stage(self, r->conn_state, S_BUSY, 0);
        r->close = true;
        http_reply_error(&r->reply, 400, "the request line holds a NUL byte");
        return s_queue(self, r, &r->reply);
    }
    s_stage(self, r->conn_state, S_BODY, HTTP_BODY_S);
    r->body_max = s_body_max(r);
    if (!s_declared_too_large(r))
        return MHD_YES;
    r->req.body_too_large = true;
    return s_dispatch(self, r);
}

static enum MHD_Result
s_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
         const char *version, const char *upload_data, size_t *upload_data_size,
         void **con_cls)
{
    http_t *self = cls;
    s_req_t *r = *con_cls;
    if (!r)
        return MHD_NO;          // s_uri could not allocate: drop the connection
    if (!r->started)
        return s_begin(self, r, conn, url, method, version);
    if (*upload_data_size) {
        if (!r->replied)
            s_take_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->replied)
        return MHD_YES;
    if (r->answered)            // resumed by the worker that answered
        return s_queue(self, r, &r->reply);
    if (r->queued)
        return MHD_YES;
    return s_dispatch(self, r);
}

//  MHD_OPTION_URI_LOG_CALLBACK: the request line is in. Its return value
//  becomes the request's *con_cls.
static void *
s_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    http_t *self = cls;
    s_req_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    //  Before MHD cuts off the query string or unescapes the target in place.
    r->raw_uri = uri;
    r->raw_uri_len = uri ? strlen(uri) : 0;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    r->conn_state = info ? info->socket_context : NULL;
    s_stage(self, r->conn_state, S_HEADERS, HTTP_HEADERS_S);
    return r;
}

static void
s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
            enum MHD_RequestTerminationCode toe)
{
    (void) toe;
    http_t *self = cls;
    s_req_t *r = *con_cls;
    if (!r)
        return;
    //  Keep-alive: the next request line is due within HTTP_WAIT_S.
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    s_conn_t *c = info ? info->socket_context : NULL;
    s_stage(self, c, S_WAIT, HTTP_WAIT_S);
    if (c) {
        pthread_mutex_lock(&self->lock);
        c->served = true;
        pthread_mutex_unlock(&self->lock);
    }
    s_reply_release(&r->reply);
    free(r->req.body);
    free(r);
    *con_cls = NULL;
}

static void
s_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void) cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    //  A client hanging up (or one the reaper cut off) is routine, and one
    //  line per connection would let a flood of them flood the log.
    if (strncmp(line, "Connection socket is closed", 27) == 0)
        log_d("http", "%s", line);
    else
        log_w("http", "%s", line);
}

//  --------------------------------------------------------------------------
//  Server

static int
s_threads_start(http_t *self)
{
    for (size_t i = 0; i < HTTP_WORKERS; i++) {
        s_worker_t *w = &self->workers[i];
        w->http = self;
        int rc = pthread_cond_init(&w->wake, NULL);
        if (!rc && (rc = pthread_create(&w->thread, NULL, s_work, w)) != 0)
            pthread_cond_destroy(&w->wake);
        if (rc)
            return -rc;
        self->workers_n++;
    }
    int rc = pthread_create(&self->reaper, NULL, s_reap, self);
    if (rc)
        return -rc;
    self->reaper_running = true;
    return 0;
}

//  Stops the reaper and the workers; every queued request is answered
//  first, so no connection is left suspended (MHD_stop_daemon requires it).
static void
s_threads_stop(http_t *self)
{
    pthread_mutex_lock(&self->lock);
    self->stopping = true;
    for (size_t i = 0; i < self->workers_n; i++)
        pthread_cond_signal(&self->workers[i].wake);
    pthread_cond_broadcast(&self->tick);
    pthread_mutex_unlock(&self->lock);
    for (size_t i = 0; i < self->workers_n; i++)
        pthread_join(self->workers[i].thread, NULL);
    if (self->reaper_running)
        pthread_join(self->reaper, NULL);
    self->reaper_running = false;
}

static struct MHD_Daemon *
s_daemon_start(http_t *self, int listen_fd, unsigned max_connections, const http_tls_t *tls)
{
    //  HTTPS through libmicrohttpd's GnuTLS; the PEM texts are copied by it.
    struct MHD_OptionItem https[] = {
        { MHD_OPTION_HTTPS_MEM_KEY, 0, tls ? (void *) tls->key_pem : NULL },
        { MHD_OPTION_HTTPS_MEM_CERT, 0, tls ? (void *) tls->cert_pem : NULL },
        { MHD_OPTION_END, 0, NULL },
    };
    //  One epoll loop, ours (s_loop), moves the bytes of every connection.
    //  A connection costs memory, not a thread, so slow clients cannot use
    //  up threads, and max_connections can be far above the worker count.
    //  The loop is run by our own thread rather than libmicrohttpd's so
    //  that it can wait on storage's socket too (http_loop_t). One is
    //  enough: a pool of two (MHD_OPTION_THREAD_POOL_SIZE) wrote no faster
    //  on two cores shared with workers and storage (BENCHMARKS.md).
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG
                   | (tls ? MHD_USE_TLS : 0);
    return MHD_start_daemon(
        flags, 0, NULL, NULL, s_access, self,
        MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, NULL,
        MHD_OPTION_ARRAY, tls ? https : https + 2,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket) listen_fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) HTTP_IDLE_TIMEOUT_S,
        MHD_OPTION_NOTIFY_CONNECTION, s_notify, self,
        MHD_OPTION_URI_LOG_CALLBACK, s_uri, self,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_END);
}

//  How long the loop may wait: until libmicrohttpd's next timeout (0 when
//  it has work ready), at most HTTP_LOOP_WAIT_MAX_MS.
static long
s_loop_timeout(http_t *self)
{
    MHD_UNSIGNED_LONG_LONG mhd_ms;
    if (MHD_get_timeout(self->daemon, &mhd_ms) == MHD_YES && mhd_ms < HTTP_LOOP_WAIT_MAX_MS)
        return (long) mhd_ms;
    return HTTP_LOOP_WAIT_MAX_MS;
}

//  At the end: libmicrohttpd may queue a reply resumed in its last pass
//  and send it only in a later one (it says so with a timeout of 0), so it
//  runs while it has work ready, for HTTP_LOOP_FLUSH_MS at most, before
//  the connections are closed.
static void
s_loop_flush(http_t *self)
{
    uint64_t deadline = s_now_us() + HTTP_LOOP_FLUSH_MS * 1000u;
    MHD_UNSIGNED_LONG_LONG ms;
    do
        MHD_run(self->daemon);
    while (MHD_get_timeout(self->daemon, &ms) == MHD_YES && ms == 0 && s_now_us() < deadline);
}

//  The network thread: waits on the connections (libmicrohttpd's epoll
//  set), the wake-up fd and the loop owner's sockets at once; then hands
//  the owner what came (its replies finish deferred requests, resuming
//  their connections), then lets libmicrohttpd serve. Ends once asked to
//  and the owner holds no work, so no deferred request is left behind.
static void *
s_loop(void *arg)
{
    http_t *self = arg;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon,
                                                           MHD_DAEMON_INFO_EPOLL_FD);
    int epoll_fd = info ? info->epoll_fd : -1;
    s_on_loop_thread = true;
    while (true) {
        zmq_pollitem_t items[2 + HTTP_LOOP_ITEMS_MAX] = {
            { NULL, epoll_fd, ZMQ_POLLIN, 0 },
            { NULL, self->wake_fd, ZMQ_POLLIN, 0 },
        };
        long timeout = s_loop_timeout(self);
        int extra = self->loop.items ? self->loop.items(self->loop.arg, items + 2, &timeout) : 0;
        //  The owner may have finished requests just now (a write that
        //  could not leave): libmicrohttpd must send their replies first.
        if (self->resumed_here)
            timeout = 0;
        if (zmq_poll(items, 2 + extra, timeout) < 0) {
            //  Nothing is known to be ready; the rest of the pass still runs,
            //  so deadlines pass and a stop ends the loop.
            for (int i = 0; i < 2 + extra; i++)
                items[i].revents = 0;
            if (zmq_errno() != EINTR) {
                log_e("http", "poll failed (%s)", zmq_strerror(zmq_errno()));
                struct timespec nap = { 0, 10 * 1000000L };     // never spin on a broken poll
                nanosleep(&nap, NULL);
            }
        }
        if (items[1].revents & ZMQ_POLLIN) {
            uint64_t count;
            if (read(self->wake_fd, &count, sizeof count) < 0 && errno != EAGAIN)
                log_w("http", "cannot read the wake-up fd (%s)", strerror(errno));
        }
        if (self->loop.polled)
            self->loop.polled(self->loop.arg, items + 2, extra);
        if (atomic_load(&self->quiesce) && !atomic_load(&self->quiesced)) {
            MHD_socket fd = MHD_quiesce_daemon(self->daemon);
            if (fd != MHD_INVALID_SOCKET)
                close(fd);
            atomic_store(&self->quiesced, true);
        }
        self->resumed_here = false;
        MHD_run(self->daemon);
        if (atomic_load(&self->loop_stop)
            && !(self->loop.busy && self->loop.busy(self->loop.arg))) {
            s_loop_flush(self);
            break;
        }
    }
    return NULL;
}

static int
s_loop_start(http_t *self)
{
    int rc = pthread_create(&self->loop_thread, NULL, s_loop, self);
    if (rc)
        return -rc;
    if (pthread_setname_np(self->loop_thread, "http-loop") != 0)
        log_d("http", "cannot name the network thread");   // only tools show the name
    self->loop_running = true;
    return 0;
}

//  Lets the network thread finish the loop owner's work and end.
static void
s_loop_stop(http_t *self)
{
    if (!self->loop_running)
        return;
    atomic_store(&self->loop_stop, true);
    s_wake(self);
    pthread_join(self->loop_thread, NULL);
    self->loop_running = false;
}

//  The lock, and the tick whose timed waits count on CLOCK_MONOTONIC.
static int
s_sync_init(http_t *self)
{
    pthread_condattr_t attr;
    int rc = pthread_condattr_init(&attr);
    if (rc)
        return -rc;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (!rc)
        rc = pthread_mutex_init(&self->lock, NULL);
    if (!rc && (rc = pthread_cond_init(&self->tick, &attr)) != 0)
        pthread_mutex_destroy(&self->lock);
    pthread_condattr_destroy(&attr);
    self->sync_ready = rc == 0;
    return -rc;
}

http_t *
http_new(int listen_fd, unsigned max_connections, const http_tls_t *tls,
         http_handler_fn handler, http_observe_fn observe, void *arg, const http_loop_t *loop)
{
    http_t *self = calloc(1, sizeof *self);
    if (!self) {
        close(listen_fd);
        return NULL;
    }
    self->handler = handler;
    self->observe = observe;
    self->arg = arg;
    if (loop)
        self->loop = *loop;
    atomic_init(&self->loop_stop, false);
    atomic_init(&self->quiesce, false);
    atomic_init(&self->quiesced, false);
    self->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int rc = self->wake_fd < 0 ? -errno : s_sync_init(self);
    if (!rc)
        rc = s_threads_start(self);
    if (!rc) {
        self->daemon = s_daemon_start(self, listen_fd, max_connections, tls);
        rc = self->daemon ? s_loop_start(self) : -EIO;
    }
    if (rc) {
        log_e("http", "cannot start the HTTP server fd=%d rc=%d (%s)", listen_fd, rc,
              pdb_strerror(rc));
        if (!self->daemon)
            close(listen_fd);
        http_destroy(&self);
    }
    return self;
}

//  Open connections, from our own list: libmicrohttpd's count may not be
//  read while its loop runs on another thread.
static unsigned
s_connections(http_t *self)
{
    pthread_mutex_lock(&self->lock);
    unsigned n = self->conns_n;
    pthread_mutex_unlock(&self->lock);
    return n;
}

//  Shuts down the keep-alive connections that sit idle after a reply, so a
//  drain waits only for requests in flight. One with bytes already waiting
//  in the socket is a request on its way: it is left to be answered (with
//  Connection: close). So is one whose last reply went out less than
//  HTTP_DRAIN_IDLE_MS ago (its next request may be on the wire), and one
//  that never sent a request: its client is about to, and a cut would fail
//  that first request. Returns how many were shut down.
static unsigned
s_cut_idle(http_t *self)
{
    unsigned cut = 0;
    uint64_t now = clock_mono_ms();
    pthread_mutex_lock(&self->lock);
    for (s_conn_t *c = self->conns; c; c = c->next) {
        int pending = 0;
        //  In S_WAIT the deadline is the reply's end plus HTTP_WAIT_S.
        uint64_t replied = c->deadline_ms - (uint64_t) HTTP_WAIT_S * 1000u;
        if (c->cut || c->stage != S_WAIT || !c->served || c->fd < 0
            || now < replied + HTTP_DRAIN_IDLE_MS
            || ioctl(c->fd, FIONREAD, &pending) != 0 || pending > 0)
            continue;
        shutdown(c->fd, SHUT_RDWR);
        c->cut = true;
        cut++;
    }
    pthread_mutex_unlock(&self->lock);
    return cut;
}

void
http_drain(http_t *self, unsigned timeout_ms)
{
    //  The listener first: a client told to close reconnects to another
    //  gateway, never to this one. The network thread closes it, as the
    //  one thread that runs libmicrohttpd.
    uint64_t deadline = s_now_us() + (uint64_t) timeout_ms * 1000u;
    atomic_store(&self->quiesce, true);
    s_wake(self);
    while (!atomic_load(&self->quiesced) && s_now_us() < deadline) {
        struct timespec nap = { 0, 1000000L };
        nanosleep(&nap, NULL);
    }
    atomic_store(&self->draining, true);
    unsigned left, idle = 0;
    while (true) {
        //  Every round: a connection whose reply was already going out when
        //  the drain began said keep-alive, and is idle once it is sent.
        idle += s_cut_idle(self);
        left = s_connections(self);
        if (left == 0 || s_now_us() >= deadline)
            break;
        struct timespec nap = { 0, HTTP_DRAIN_POLL_MS * 1000000L };
        nanosleep(&nap, NULL);
    }
    if (idle)
        log_i("http", "drain closed idle keep-alive connections count=%u", idle);
    if (left)
        log_i("http", "drain over with connections open connections=%u", left);
}

void
http_destroy(http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    http_t *self = *self_p;
    s_threads_stop(self);
    s_loop_stop(self);
    if (self->daemon)
        MHD_stop_daemon(self->daemon);   // also closes the listening socket
    if (self->wake_fd >= 0)
        close(self->wake_fd);
    for (size_t i = 0; i < self->workers_n; i++)
        pthread_cond_destroy(&self->workers[i].wake);
    if (self->sync_ready) {
        pthread_cond_destroy(&self->tick);
        pthread_mutex_destroy(&self->lock);
    }
    free(self);
    *self_p = NULL;
}
