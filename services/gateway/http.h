/*  http.h - the libmicrohttpd server. One network thread runs an epoll
    loop over all connections and moves bytes; each complete request is
    handed to a fixed pool of worker threads (handlers block on storage, so
    concurrent writers must not queue behind each other) while its
    connection is suspended, except the requests the loop's owner takes on
    the network thread itself (http_loop_t): their handlers never block, and
    answer once a socket the loop also waits on brings their reply. A connection costs memory, not a thread, and
    every stage of a request has a deadline (the request line, the headers,
    the body), so slow or idle clients can neither use up threads nor hold a
    connection forever by sending one byte at a time. A request line holding
    a NUL byte gets 400 and the connection is closed. Bodies are accumulated
    up to PDB_HTTP_BODY_MAX, and replies built as plain values so handlers
    never touch MHD except to stream (a stream's content reader runs on the
    network thread and must never block: see watch.c).

    Error bodies: {"error": {"code": "not_found", "message": "..."}}.
*/
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include "err.h"
#include "json_text.h"

#include <jansson.h>
#include <zmq.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_SYNC_PREFIX "/v1/sync/"          // sync messages: bodies up to PDB_MSG_MAX
#define HTTP_MSGPACK "application/msgpack"

typedef enum {
    HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_PUT, HTTP_PATCH, HTTP_DELETE, HTTP_OTHER
} http_method_t;

typedef struct http http_t;

//  One request, owned by the server; valid until its reply is queued.
typedef struct {
    http_t *server;            // the server it came to (for http_resume)
    struct MHD_Connection *conn;
    http_method_t method;
    const char *method_name;
    const char *path;          // without the query string
    const char *path_name;     // the "{name}" segment of the matched route (route.c),
    size_t path_name_len;      // not NUL-terminated; NULL when the route has none
    char *body;                // NUL-terminated, NULL when empty
    size_t body_len;
    bool body_too_large;       // over its cap (PDB_HTTP_BODY_MAX; PDB_MSG_MAX for a
                               // MessagePack POST under HTTP_SYNC_PREFIX): the rest dropped
    uint64_t start_us;         // monotonic, for the duration metric
    const char *caller;        // route.c: the sync peer a peer token names, or ""
    bool on_loop;              // handled on the network thread: must not block (http_loop_t)
} http_req_t;

//  What a handler answers. Exactly one of body / stream is set.
typedef struct {
    unsigned status;
    char *body;                      // owned (malloc), may be NULL for no content
    size_t body_len;
    const char *content_type;        // static string
    struct MHD_Response *stream;     // owned until queued (SSE)
    char allow[64];                  // Allow header for 405
    const char *security_policy;     // Content-Security-Policy (static string), or NULL
    bool bearer_challenge;           // 401: add WWW-Authenticate: Bearer
} http_reply_t;

//  Called once per complete request, on a worker thread (or on the network
//  thread, req->on_loop, for what http_loop_t.on_loop takes).
typedef void (*http_handler_fn)(void *arg, http_req_t *req, http_reply_t *reply);
//  Called after each reply is queued: status and handler time.
typedef void (*http_observe_fn)(void *arg, const http_req_t *req, unsigned status,
                                uint64_t duration_us);

#define HTTP_LOOP_ITEMS_MAX 4

//  Work of the network thread besides HTTP, so that a request can be
//  answered with no worker at all: a handler the thread runs defers its
//  reply (http_defer) and sends for it; the loop waits on that socket with
//  the connections, and what comes finishes the request (http_finish), all
//  on the network thread. Every callback runs there; none may block.
typedef struct {
    //  True when this complete request is handled on the network thread.
    bool (*on_loop)(void *arg, const http_req_t *req);
    //  Before each wait: fills up to HTTP_LOOP_ITEMS_MAX items to poll as
    //  well, lowers *timeout_ms to its own next deadline; returns how many.
    int (*items)(void *arg, zmq_pollitem_t *items, long *timeout_ms);
    //  After each wait, with the items it filled (n may be 0).
    void (*polled)(void *arg, const zmq_pollitem_t *items, int n);
    //  True while it holds work: at the stop, the thread runs until it has none.
    bool (*busy)(void *arg);
    void *arg;
} http_loop_t;

//  Binds and listens on host:port with SO_REUSEPORT, so several gateway
//  processes share one port and the kernel spreads connections over them.
//  *bound_port gets the real port (for port 0). Returns 0 and the socket in
//  *fd, or -errno with `why` saying what failed (e.g. the port is taken by
//  a process that did not set SO_REUSEPORT).
int http_listen(const char *host, unsigned port, int *fd, unsigned *bound_port,
                char why[PDB_ERRMSG_MAX]);

//  HTTPS: the server's certificate chain and private key, PEM text.
typedef struct {
    const char *cert_pem;
    const char *key_pem;
} http_tls_t;

//  Starts serving on listen_fd (takes ownership), over HTTPS when tls is
//  not NULL (its texts must outlive the server). max_connections bounds the open
//  connections (threads are fixed). loop (copied; may be NULL) adds work
//  to the network thread. NULL on failure (logged; fd closed).
http_t *http_new(int listen_fd, unsigned max_connections, const http_tls_t *tls,
                 http_handler_fn handler, http_observe_fn observe, void *arg,
                 const http_loop_t *loop);
//  Graceful stop, before http_destroy: stops accepting (the port's other
//  gateways take the new connections), closes the keep-alive connections
//  that sit idle after a reply, answers every request that arrives on an
//  open connection with "Connection: close", and returns once no
//  connection is left or after timeout_ms (a client that connected and
//  never sent a request is then cut by http_destroy). Streaming replies
//  must have been told to end first (see watch_stop).
void http_drain(http_t *self, unsigned timeout_ms);
//  Answers the requests already handed to workers, stops the workers, lets
//  the network thread finish the loop's work (http_loop_t.busy), then
//  closes every connection. Streams must have been told to end first (see
//  watch_stop): libmicrohttpd may not stop with a connection suspended.
void http_destroy(http_t **self_p);

//  Query-string argument or header value, NULL when absent.
const char *http_query(const http_req_t *req, const char *name);
const char *http_header(const http_req_t *req, const char *name);
//  True when the Content-Type media type is application/json.
bool http_is_json(const http_req_t *req);

//  Reply builders. Each replaces whatever the reply held.
//  http_reply_json takes ownership of body (drops its reference).
void http_reply_json(http_reply_t *reply, unsigned status, json_t *body);
//  The same for text written already; takes what text holds (json_text_take).
void http_reply_json_text(http_reply_t *reply, unsigned status, json_text_t *text);
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
//  http_reply_rc for one item of a batch request: the error object also
//  carries "index", the item's position in the request (from 0).
void http_reply_rc_index(http_reply_t *reply, int rc, const char *why, size_t index);
//  Takes ownership of stream, replied with status 200.
void http_reply_stream(http_reply_t *reply, struct MHD_Response *stream);

//  A reply given later (a relayed long poll, or a write the network thread
//  sent to storage), so no worker waits for it: the handler calls http_defer and returns at once,
//  leaving `reply` untouched; the connection stays suspended until
//  http_finish (from any thread, exactly once) hands over a reply and
//  resumes it. After http_finish the request may be gone: drop the handle.
//  Every deferred request must be finished before http_destroy.
typedef struct http_deferred http_deferred_t;
http_deferred_t *http_defer(http_req_t *req);
//  Takes over reply's contents (reply is left empty).
void http_finish(http_deferred_t *deferred, http_reply_t *reply);

//  MHD_resume_connection for a connection this server suspended (a parked
//  stream's): the network thread, which runs libmicrohttpd's loop, is woken
//  to serve it. Any thread.
void http_resume(http_t *self, struct MHD_Connection *conn);

//  The file descriptor of the request's connection (to notice a client
//  that went away while a stream waits), or -1.
int http_conn_fd(struct MHD_Connection *conn);

#endif
