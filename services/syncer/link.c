#include "link.h"
#include "lhttp.h"
#include "sockmon.h"
#include "bounds.h"
#include "clock.h"
#include "log.h"
#include "mpk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LINK_SLICE_MS 200     // how often a wait looks at the stop flag

struct link {
    zsock_t *sock;
    char *address;
    sockmon_t *mon;          // disconnects: a reply lost with its connection
    zcert_t *cert;           // CURVE: our key pair (borrowed) ...
    char *server_key;        // ... and the peer's public key; NULL without CURVE
    lhttp_t *http;           // an http(s):// peer: no socket at all
    sync_op_t http_op;       // the request in flight over HTTP
};

static zsock_t *
s_connect(const link_t *self)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!sock)
        return NULL;
    if (self->server_key) {
        zcert_apply(self->cert, sock);
        zsock_set_curve_serverkey(sock, self->server_key);
    }
    //  Queue only to a connected peer, drop on close, refuse huge frames.
    zsock_set_immediate(sock, 1);
    zsock_set_linger(sock, 0);
    zsock_set_maxmsgsize(sock, (int) PDB_MSG_MAX);
    zsock_set_sndtimeo(sock, 0);
    if (zsock_connect(sock, "%s", self->address) != 0) {
        zsock_destroy(&sock);
        return NULL;
    }
    return sock;
}

link_t *
link_new(const char *address, const link_opts_t *opts)
{
    link_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->address = strdup(address);
    if (self->address && lhttp_address(address)) {
        lhttp_opts_t http = { opts ? opts->token : NULL, opts ? opts->ca_file : NULL };
        self->http = lhttp_new(address, &http);
        if (!self->http)
            link_destroy(&self);
        return self;
    }
    if (opts && opts->cert && opts->server_key && *opts->server_key) {
        self->cert = opts->cert;
        self->server_key = strdup(opts->server_key);
    }
    bool keys_ok = !opts || !opts->server_key || !*opts->server_key || self->server_key;
    self->sock = self->address && keys_ok ? s_connect(self) : NULL;
    self->mon = self->sock ? sockmon_new(self->sock) : NULL;
    if (!self->sock) {
        log_e("syncer", "cannot connect address=%s", address);
        link_destroy(&self);
    }
    return self;
}

void
link_destroy(link_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    link_t *self = *self_p;
    sockmon_destroy(&self->mon);
    zsock_destroy(&self->sock);
    lhttp_destroy(&self->http);
    free(self->server_key);
    free(self->address);
    free(self);
    *self_p = NULL;
}

bool
link_cancelled(link_cancel_t *cancel)
{
    if (!cancel)
        return false;
    if (cancel->terminated || (cancel->stop && *cancel->stop))
        return true;
    while (cancel->pipe && (zsock_events(cancel->pipe) & ZMQ_POLLIN)) {
        char *command = zstr_recv(cancel->pipe);
        if (!command || strcmp(command, "$TERM") == 0)
            cancel->terminated = true;
        zstr_free(&command);
        if (cancel->terminated)
            return true;
    }
    return false;
}

//  Polls sock for `events` (or only the cancel pipe when sock is NULL) until
//  deadline. Returns 1 ready, 0 timed out, -ECANCELED.
static int
s_wait(zsock_t *sock, short events, link_cancel_t *cancel, int64_t deadline, sockmon_t *mon)
{
    while (true) {
        if (link_cancelled(cancel))
            return -ECANCELED;
        int64_t left = deadline - (int64_t) clock_mono_ms();
        if (left <= 0)
            return 0;
        zmq_pollitem_t items[3];
        int n = 0, at_mon = -1;
        if (sock)
            items[n++] = (zmq_pollitem_t) { zsock_resolve(sock), 0, events, 0 };
        if (cancel && cancel->pipe)
            items[n++] = (zmq_pollitem_t) { zsock_resolve(cancel->pipe), 0, ZMQ_POLLIN, 0 };
        if (mon) {
            at_mon = n;
            items[n++] = (zmq_pollitem_t) { sockmon_handle(mon), 0, ZMQ_POLLIN, 0 };
        }
        long slice = left < LINK_SLICE_MS ? (long) left : LINK_SLICE_MS;
        int rc = n ? zmq_poll(items, n, slice) : (zclock_sleep((int) slice), 0);
        if (rc < 0 && zmq_errno() != EINTR)
            return 0;
        if (rc > 0 && sock && (items[0].revents & events))
            return 1;
        if (rc > 0 && at_mon >= 0 && (items[at_mon].revents & ZMQ_POLLIN)
            && sockmon_disconnected(mon))
            return -EPIPE;
    }
}

bool
link_cancel_wait(link_cancel_t *cancel, int64_t ms)
{
    if (ms <= 0)
        return link_cancelled(cancel);
    return s_wait(NULL, 0, cancel, (int64_t) clock_mono_ms() + ms, NULL) == -ECANCELED;
}

//  After a timeout: a new socket, so a late reply is never mistaken.
static void
s_reset(link_t *self)
{
    if (self->http) {
        lhttp_abandon(self->http);
        return;
    }
    sockmon_destroy(&self->mon);
    zsock_destroy(&self->sock);
    self->sock = s_connect(self);
    self->mon = self->sock ? sockmon_new(self->sock) : NULL;
}

//  Packs and sends req once the peer is connected. Returns 0, PDB_EUNAVAIL,
//  -ECANCELED or -ENOMEM.
static int
s_send(link_t *self, const sync_msg_t *req, link_cancel_t *cancel, int64_t start, char *why)
{
    mpk_out_t out;
    mpk_out_init(&out);
    sync_msg_pack(&out.pk, req);
    int rc = mpk_out_status(&out);
    zframe_t *frame = rc ? NULL : zframe_new(out.buf.data, out.buf.size);
    mpk_out_release(&out);
    if (!frame)
        return -ENOMEM;
    rc = s_wait(self->sock, ZMQ_POLLOUT, cancel, start + LINK_CONNECT_WAIT_MS, NULL);
    if (rc == 1 && zframe_send(&frame, self->sock, ZFRAME_DONTWAIT) != 0)
        rc = 0;
    zframe_destroy(&frame);
    if (rc == 0) {
        snprintf(why, PDB_ERRMSG_MAX, "peer %s not reachable within %d ms%s", self->address,
                 LINK_CONNECT_WAIT_MS, self->server_key ? " (or it refused our key)" : "");
        //  A fresh socket for the next try: libzmq does not reconnect after a
        //  refused CURVE handshake, and the peer may admit our key later.
        s_reset(self);
    }
    return rc == 1 ? 0 : rc == 0 ? PDB_EUNAVAIL : rc;
}

//  Takes the one-frame reply. Returns 0 with reply->frame, or a code.
static int
s_receive(link_t *self, link_reply_t *reply, char *why)
{
    zmsg_t *msg = zmsg_recv(self->sock);
    if (!msg) {
        s_reset(self);
        snprintf(why, PDB_ERRMSG_MAX, "peer %s: receive failed", self->address);
        return PDB_EUNAVAIL;
    }
    size_t frames = zmsg_size(msg);
    reply->frame = frames == 1 ? zmsg_pop(msg) : NULL;
    zmsg_destroy(&msg);
    if (!reply->frame) {
        snprintf(why, PDB_ERRMSG_MAX, "peer %s sent a reply of %zu frames, not 1",
                 self->address, frames);
        return PDB_EPROTO;
    }
    return 0;
}

//  Waits until deadline for the reply to the request of operation op, and
//  decodes it. Returns as link_request.
static int
s_reply(link_t *self, sync_op_t op, int64_t deadline, int timeout_ms, link_cancel_t *cancel,
        link_reply_t *reply, char *why)
{
    int rc = s_wait(self->sock, ZMQ_POLLIN, cancel, deadline, self->mon);
    if (rc <= 0) {
        s_reset(self);
        if (rc == 0)
            snprintf(why, PDB_ERRMSG_MAX, "peer %s did not answer %s within %d ms",
                     self->address, sync_msg_op_name(op), timeout_ms);
        else if (rc == -EPIPE)
            snprintf(why, PDB_ERRMSG_MAX, "peer %s disconnected before answering %s",
                     self->address, sync_msg_op_name(op));
        return rc == 0 || rc == -EPIPE ? PDB_EUNAVAIL : rc;
    }
    rc = s_receive(self, reply, why);
    if (rc)
        return rc;
    rc = sync_msg_decode(zframe_data(reply->frame), zframe_size(reply->frame), &reply->msg, why);
    if (rc)
        zframe_destroy(&reply->frame);
    return rc;
}

//  --- over HTTP ---------------------------------------------------------------

static bool
s_http_cancelled(void *arg)
{
    return link_cancelled(arg);
}

static int
s_http_send(link_t *self, const sync_msg_t *req, char *why)
{
    mpk_out_t out;
    mpk_out_init(&out);
    sync_msg_pack(&out.pk, req);
    int rc = mpk_out_status(&out);
    if (!rc)
        rc = lhttp_send(self->http, sync_msg_op_name(req->op), out.buf.data, out.buf.size, why);
    mpk_out_release(&out);
    self->http_op = req->op;
    return rc;
}

//  The reply body, whatever the HTTP status: a refusal comes as a sync
//  "error" message with its code, exactly as over ZeroMQ.
static int
s_http_reply(link_t *self, int timeout_ms, link_cancel_t *cancel, link_reply_t *reply,
             char *why)
{
    uint8_t *body = NULL;
    size_t len = 0;
    unsigned status = 0;
    int rc = lhttp_receive(self->http, timeout_ms, s_http_cancelled, cancel, &body, &len,
                           &status, why);
    if (rc)
        return rc;
    reply->frame = zframe_new(body, len);
    free(body);
    if (!reply->frame)
        return -ENOMEM;
    rc = sync_msg_decode(zframe_data(reply->frame), zframe_size(reply->frame), &reply->msg, why);
    if (rc) {
        zframe_destroy(&reply->frame);
        char detail[PDB_ERRMSG_MAX];
        snprintf(detail, sizeof detail, "%s", why);
        snprintf(why, PDB_ERRMSG_MAX, "peer %.100s answered %s with HTTP %u and no sync "
                 "message: %.100s", self->address, sync_msg_op_name(self->http_op), status, detail);
        return status == 200 ? rc : PDB_EUNAVAIL;
    }
    return 0;
}

//  --- either --------------------------------------------------------------------

//  Sends req, measuring the wait for a connection from start.
static int
s_send_at(link_t *self, const sync_msg_t *req, link_cancel_t *cancel, int64_t start, char *why)
{
    if (self->http)
        return link_cancelled(cancel) ? -ECANCELED : s_http_send(self, req, why);
    if (!self->sock)
        s_reset(self);
    if (!self->sock) {
        snprintf(why, PDB_ERRMSG_MAX, "cannot create a socket for %s", self->address);
        return PDB_EUNAVAIL;
    }
    if (self->mon)
        (void) sockmon_disconnected(self->mon);    // old news: not this request's
    return s_send(self, req, cancel, start, why);
}

int
link_request(link_t *self, const sync_msg_t *req, int timeout_ms, link_cancel_t *cancel,
             link_reply_t *reply, char why[PDB_ERRMSG_MAX])
{
    memset(reply, 0, sizeof *reply);
    why[0] = '\0';
    int64_t start = (int64_t) clock_mono_ms();
    int rc = s_send_at(self, req, cancel, start, why);
    if (rc)
        return rc;
    if (self->http)
        return s_http_reply(self, timeout_ms, cancel, reply, why);
    return s_reply(self, req->op, start + timeout_ms, timeout_ms, cancel, reply, why);
}

int
link_send(link_t *self, const sync_msg_t *req, link_cancel_t *cancel, char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    return s_send_at(self, req, cancel, (int64_t) clock_mono_ms(), why);
}

int
link_receive(link_t *self, sync_op_t op, int timeout_ms, link_cancel_t *cancel,
             link_reply_t *reply, char why[PDB_ERRMSG_MAX])
{
    memset(reply, 0, sizeof *reply);
    why[0] = '\0';
    if (self->http)
        return s_http_reply(self, timeout_ms, cancel, reply, why);
    if (!self->sock) {
        snprintf(why, PDB_ERRMSG_MAX, "peer %s: no request in flight", self->address);
        return PDB_EUNAVAIL;
    }
    return s_reply(self, op, (int64_t) clock_mono_ms() + timeout_ms, timeout_ms, cancel, reply,
                   why);
}

void
link_abandon(link_t *self)
{
    s_reset(self);
}

void
link_reply_release(link_reply_t *reply)
{
    if (reply->frame)
        sync_msg_release(&reply->msg);
    zframe_destroy(&reply->frame);
}
