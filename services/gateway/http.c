#include "http.h"
#include "json_text.h"
#include "bounds.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_BACKLOG 1024            // pending connections per listening socket
#define HTTP_IDLE_TIMEOUT_S 120      // an idle keep-alive connection holds a thread
#define HTTP_BODY_INITIAL 4096       // bytes: first allocation of a body buffer
#define HTTP_DRAIN_POLL_MS 20        // how often a drain looks at the connections left

struct http {
    struct MHD_Daemon *daemon;
    http_handler_fn handler;
    http_observe_fn observe;
    void *arg;
    atomic_bool draining;            // replies close their connection
};

//  Per-request state kept by MHD in *con_cls between calls.
typedef struct {
    http_req_t req;
    size_t body_cap;
    bool replied;
} s_req_t;

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

void
http_reply_release(http_reply_t *reply)
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
    http_reply_release(reply);
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
    http_reply_release(reply);
    size_t len = 0;
    char *text = json_text_dump(body, &len);
    json_decref(body);
    reply->content_type = "application/json";
    reply->status = text ? status : 500;
    reply->body = text;
    reply->body_len = text ? len : 0;
}

void
http_reply_empty(http_reply_t *reply, unsigned status)
{
    http_reply_release(reply);
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

void
http_reply_rc(http_reply_t *reply, int rc, const char *why)
{
    unsigned status;
    switch (rc) {
    case PDB_EINVAL:    status = 400; break;
    case PDB_ENOTFOUND:
    case PDB_EDELETED:  status = 404; break;
    case PDB_ECONFLICT: status = 409; break;
    case PDB_ETOOBIG:   status = 413; break;
    case PDB_EUNAVAIL:  status = 503; break;
    default:            status = 500; break;
    }
    s_reply_error_text(reply, status, why && why[0] ? why : pdb_strerror(rc));
}

void
http_reply_stream(http_reply_t *reply, struct MHD_Response *stream)
{
    http_reply_release(reply);
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

//  Content-Length over the cap: refuse before reading a byte of the body.
static bool
s_declared_too_large(struct MHD_Connection *conn)
{
    const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!length)
        return false;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(length, &end, 10);
    return errno == ERANGE || n > PDB_HTTP_BODY_MAX;
}

//  Appends upload data, or drops it once the body is over the cap so a
//  client cannot make us hold more than PDB_HTTP_BODY_MAX.
static void
s_take_body(s_req_t *r, const char *data, size_t len)
{
    http_req_t *req = &r->req;
    if (req->body_too_large)
        return;
    if (len > PDB_HTTP_BODY_MAX - req->body_len) {
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
    if (reply->content_type)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, reply->content_type);
    if (reply->allow[0])
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, reply->allow);
    if (reply->bearer_challenge)
        MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"pulsedb\"");
    return response;
}

static enum MHD_Result
s_queue(http_t *self, s_req_t *r, http_reply_t *reply)
{
    struct MHD_Response *response = reply->stream;
    reply->stream = NULL;
    if (!response)
        response = s_response(reply, &reply->body);
    if (!response) {
        http_reply_release(reply);
        return MHD_NO;
    }
    if (r->req.body_too_large || atomic_load(&self->draining))
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = MHD_queue_response(r->req.conn, reply->status, response);
    MHD_destroy_response(response);
    r->replied = true;
    if (self->observe)
        self->observe(self->arg, &r->req, reply->status, s_now_us() - r->req.start_us);
    http_reply_release(reply);
    return ok;
}

static enum MHD_Result
s_respond(http_t *self, s_req_t *r)
{
    http_reply_t reply = { 0 };
    if (r->req.body_too_large)
        http_reply_error(&reply, 413, "the request body is over the limit of %u bytes",
                         PDB_HTTP_BODY_MAX);
    else
        self->handler(self->arg, &r->req, &reply);
    if (reply.status == 0)
        http_reply_error(&reply, 500, "no reply");
    return s_queue(self, r, &reply);
}

static enum MHD_Result
s_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
         const char *version, const char *upload_data, size_t *upload_data_size,
         void **con_cls)
{
    (void) version;
    http_t *self = cls;
    s_req_t *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->req.conn = conn;
        r->req.method_name = method;
        r->req.method = s_method(method);
        r->req.path = url;
        r->req.start_us = s_now_us();
        *con_cls = r;
        if (!s_declared_too_large(conn))
            return MHD_YES;
        r->req.body_too_large = true;
        return s_respond(self, r);
    }
    if (*upload_data_size) {
        if (!r->replied)
            s_take_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->replied)
        return MHD_YES;
    return s_respond(self, r);
}

static void
s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
            enum MHD_RequestTerminationCode toe)
{
    (void) cls;
    (void) conn;
    (void) toe;
    s_req_t *r = *con_cls;
    if (!r)
        return;
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
    log_w("http", "%s", line);
}

http_t *
http_new(int listen_fd, unsigned max_connections, http_handler_fn handler,
         http_observe_fn observe, void *arg)
{
    http_t *self = calloc(1, sizeof *self);
    if (!self) {
        close(listen_fd);
        return NULL;
    }
    self->handler = handler;
    self->observe = observe;
    self->arg = arg;
    //  Thread per connection: a handler blocked on a storage round trip or a
    //  stream waiting for changes holds only its own connection.
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
                   | MHD_USE_AUTO | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    self->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, s_access, self,
        MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket) listen_fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) HTTP_IDLE_TIMEOUT_S,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_END);
    if (!self->daemon) {
        log_e("http", "cannot start the HTTP server fd=%d", listen_fd);
        close(listen_fd);
        free(self);
        return NULL;
    }
    return self;
}

static unsigned
s_connections(http_t *self)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return info ? info->num_connections : 0;
}

void
http_drain(http_t *self, unsigned timeout_ms)
{
    //  The listener first: a client told to close reconnects to another
    //  gateway, never to this one.
    MHD_socket fd = MHD_quiesce_daemon(self->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    atomic_store(&self->draining, true);
    uint64_t deadline = s_now_us() + (uint64_t) timeout_ms * 1000u;
    unsigned left;
    while ((left = s_connections(self)) > 0 && s_now_us() < deadline) {
        struct timespec nap = { 0, HTTP_DRAIN_POLL_MS * 1000000L };
        nanosleep(&nap, NULL);
    }
    if (left)
        log_i("http", "drain over with connections open connections=%u", left);
}

void
http_destroy(http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    http_t *self = *self_p;
    MHD_stop_daemon(self->daemon);   // also closes the listening socket
    free(self);
    *self_p = NULL;
}
