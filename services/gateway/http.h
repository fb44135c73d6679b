/*  http.h - the libmicrohttpd server: one thread per connection (handlers
    block on storage, so concurrent writers must not queue behind each
    other), bodies accumulated up to PDB_HTTP_BODY_MAX, and replies built as
    plain values so handlers never touch MHD except to stream.

    Error bodies: {"error": {"code": "not_found", "message": "..."}}.
*/
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include "err.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_PUT, HTTP_PATCH, HTTP_DELETE, HTTP_OTHER
} http_method_t;

//  One request, owned by the server; valid until its reply is queued.
typedef struct {
    struct MHD_Connection *conn;
    http_method_t method;
    const char *method_name;
    const char *path;          // without the query string
    const char *path_name;     // the "{name}" segment of the matched route (route.c),
    size_t path_name_len;      // not NUL-terminated; NULL when the route has none
    char *body;                // NUL-terminated, NULL when empty
    size_t body_len;
    bool body_too_large;       // over PDB_HTTP_BODY_MAX: the rest was dropped
    uint64_t start_us;         // monotonic, for the duration metric
} http_req_t;

//  What a handler answers. Exactly one of body / stream is set.
typedef struct {
    unsigned status;
    char *body;                      // owned (malloc), may be NULL for no content
    size_t body_len;
    const char *content_type;        // static string
    struct MHD_Response *stream;     // owned until queued (SSE)
    char allow[64];                  // Allow header for 405
    bool bearer_challenge;           // 401: add WWW-Authenticate: Bearer
} http_reply_t;

//  Called once per complete request, in the connection's own thread.
typedef void (*http_handler_fn)(void *arg, http_req_t *req, http_reply_t *reply);
//  Called after each reply is queued: status and handler time.
typedef void (*http_observe_fn)(void *arg, const http_req_t *req, unsigned status,
                                uint64_t duration_us);

typedef struct http http_t;

//  Binds and listens on host:port with SO_REUSEPORT, so several gateway
//  processes share one port and the kernel spreads connections over them.
//  *bound_port gets the real port (for port 0). Returns 0 and the socket in
//  *fd, or -errno with `why` saying what failed (e.g. the port is taken by
//  a process that did not set SO_REUSEPORT).
int http_listen(const char *host, unsigned port, int *fd, unsigned *bound_port,
                char why[PDB_ERRMSG_MAX]);

//  Starts serving on listen_fd (takes ownership). max_connections bounds
//  both connections and threads. NULL on failure (logged; fd closed).
http_t *http_new(int listen_fd, unsigned max_connections, http_handler_fn handler,
                 http_observe_fn observe, void *arg);
//  Graceful stop, before http_destroy: stops accepting (the port's other
//  gateways take the new connections), answers every request that arrives
//  on an open connection with "Connection: close", and returns once no
//  connection is left or after timeout_ms (idle keep-alive clients that
//  send nothing are then cut by http_destroy). Streaming replies must have
//  been told to end first (see watch_stop).
void http_drain(http_t *self, unsigned timeout_ms);
//  Stops accepting, closes connections and joins their threads. Streaming
//  replies must have been told to end first (see watch_stop).
void http_destroy(http_t **self_p);

//  Query-string argument or header value, NULL when absent.
const char *http_query(const http_req_t *req, const char *name);
const char *http_header(const http_req_t *req, const char *name);
//  True when the Content-Type media type is application/json.
bool http_is_json(const http_req_t *req);

//  Reply builders. Each replaces whatever the reply held.
//  http_reply_json takes ownership of body (drops its reference).
void http_reply_json(http_reply_t *reply, unsigned status, json_t *body);
void http_reply_text(http_reply_t *reply, unsigned status, const char *content_type,
                     const char *text, size_t len);
void http_reply_empty(http_reply_t *reply, unsigned status);
void http_reply_error(http_reply_t *reply, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
//  The credentials of an "Authorization: Bearer TOKEN" header: the token
//  and its length, or NULL when the header is absent or another scheme.
const char *http_bearer(const http_req_t *req, size_t *len);
//  Maps a project code to its status (EINVAL 400, ENOTFOUND/EDELETED 404,
//  ECONFLICT 409, ETOOBIG 413, EUNAVAIL 503, else 500) with `why` as the
//  message (pdb_strerror when empty).
void http_reply_rc(http_reply_t *reply, int rc, const char *why);
//  Takes ownership of stream, replied with status 200.
void http_reply_stream(http_reply_t *reply, struct MHD_Response *stream);
void http_reply_release(http_reply_t *reply);

//  The file descriptor of the request's connection (to notice a client
//  that went away while a stream waits), or -1.
int http_conn_fd(struct MHD_Connection *conn);

#endif
