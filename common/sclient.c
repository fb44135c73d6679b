#include "sclient.h"
#include "bounds.h"
#include "log.h"
#include "mpk.h"
#include "sockmon.h"
#include "sproto.h"

#include <czmq.h>

#include <stdlib.h>
#include <string.h>

struct sclient {
    zcert_t *cert;           // CURVE with the node's key pair (borrowed), or NULL
    zsock_t *sock;
    sockmon_t *mon;          // storage restarts: a reply lost with the connection
    char *endpoint;
    int timeout_ms;
    uint64_t next_id;
};

zsock_t *
sclient_connect(const char *endpoint, zcert_t *cert)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!sock)
        return NULL;
    if (cert) {
        //  storage/tcp's server key is the node's own: one key pair per node.
        zcert_apply(cert, sock);
        zsock_set_curve_serverkey(sock, zcert_public_txt(cert));
    }
    //  Queue only to a live storage and drop on close: a request must never
    //  be delivered after its caller has given up and reported 503.
    zsock_set_immediate(sock, 1);
    zsock_set_linger(sock, 0);
    zsock_set_rcvhwm(sock, 0);
    if (zsock_connect(sock, "%s", endpoint) != 0) {
        zsock_destroy(&sock);
        return NULL;
    }
    return sock;
}

static void
s_reconnect(sclient_t *self)
{
    sockmon_destroy(&self->mon);
    zsock_destroy(&self->sock);
    self->sock = sclient_connect(self->endpoint, self->cert);
    self->mon = self->sock ? sockmon_new(self->sock) : NULL;
}

sclient_t *
sclient_new(const char *endpoint, int timeout_ms)
{
    return sclient_new_keyed(endpoint, timeout_ms, NULL);
}

sclient_t *
sclient_new_keyed(const char *endpoint, int timeout_ms, zcert_t *cert)
{
    sclient_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cert = cert;
    self->endpoint = strdup(endpoint);
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : SCLIENT_TIMEOUT_MS_DEFAULT;
    self->next_id = 1;
    self->sock = self->endpoint ? sclient_connect(endpoint, cert) : NULL;
    self->mon = self->sock ? sockmon_new(self->sock) : NULL;
    if (!self->sock) {
        log_e("sclient", "cannot connect endpoint=%s", endpoint);
        free(self->endpoint);
        free(self);
        return NULL;
    }
    return self;
}

void
sclient_destroy(sclient_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sclient_t *self = *self_p;
    sockmon_destroy(&self->mon);
    zsock_destroy(&self->sock);
    free(self->endpoint);
    free(self);
    *self_p = NULL;
}

//  A reply frame and its decoded form (parsed once; u points into frame).
typedef struct {
    zframe_t *frame;
    msgpack_unpacked u;
} s_reply_t;

static void
s_reply_release(s_reply_t *reply)
{
    if (reply->frame)
        msgpack_unpacked_destroy(&reply->u);
    zframe_destroy(&reply->frame);
}

//  Reads the reply for request_id into *reply, skipping late replies to
//  requests that timed out earlier. Returns true, or false on timeout or
//  when storage went away (its reply died with the connection: *lost set).
static bool
s_await(sclient_t *self, uint64_t request_id, int64_t deadline, s_reply_t *reply, bool *lost)
{
    *lost = false;
    while (true) {
        int64_t left = deadline - zclock_mono();
        if (left <= 0)
            return false;
        zmq_pollitem_t items[2] = { { zsock_resolve(self->sock), 0, ZMQ_POLLIN, 0 } };
        int n = 1;
        if (self->mon)
            items[n++] = (zmq_pollitem_t) { sockmon_handle(self->mon), 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(items, n, (long) left) < 0 && zmq_errno() != EINTR)
            return false;
        if (n > 1 && (items[1].revents & ZMQ_POLLIN) && sockmon_disconnected(self->mon)) {
            *lost = true;
            return false;
        }
        if (!(items[0].revents & ZMQ_POLLIN))
            continue;
        zsock_set_rcvtimeo(self->sock, 0);
        zframe_t *frame = zframe_recv(self->sock);
        if (!frame)
            continue;
        uint64_t id = 0;
        if (mpk_parse(zframe_data(frame), zframe_size(frame), &reply->u) != 0) {
            zframe_destroy(&frame);
            continue;
        }
        const msgpack_object *o = &reply->u.data;
        if (o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size == 4)
            (void) mpk_get_u64(&o->via.array.ptr[0], &id);
        if (id == request_id) {
            reply->frame = frame;
            return true;
        }
        msgpack_unpacked_destroy(&reply->u);
        zframe_destroy(&frame);
    }
}

int
sclient_read_reply(const msgpack_object *reply, const msgpack_object **result,
                   char why[PDB_ERRMSG_MAX])
{
    const msgpack_object *a = reply->via.array.ptr;
    int64_t code;
    const char *msg;
    size_t msg_len;
    if (mpk_get_i64(&a[1], &code) || mpk_get_str(&a[2], &msg, &msg_len)
        || code > 0 || code < INT32_MIN)
        return PDB_EPROTO;
    snprintf(why, PDB_ERRMSG_MAX, "%.*s", (int) (msg_len < PDB_ERRMSG_MAX ? msg_len
             : PDB_ERRMSG_MAX - 1), msg);
    *result = &a[3];
    return (int) code;
}

//  The result as its own packed copy (caller frees; NULL for nil).
static int
s_copy_result(const msgpack_object *result, void **out, size_t *out_len)
{
    if (result->type == MSGPACK_OBJECT_NIL)
        return 0;
    mpk_out_t copy;
    mpk_out_init(&copy);
    mpk_pack_canonical(&copy.pk, result);
    if (mpk_out_status(&copy)) {
        mpk_out_release(&copy);
        return -ENOMEM;
    }
    *out = copy.buf.data;      // ownership passes to the caller
    *out_len = copy.buf.size;
    return 0;
}

//  Sends op and waits for its reply, decoded into *reply (release with
//  s_reply_release when this returns true). False with rc (PDB_EUNAVAIL or
//  a packing error) and `why` when no reply came.
static bool
s_call(sclient_t *self, const char *op, const void *args, size_t args_len, s_reply_t *reply,
       int *rc, char *why)
{
    why[0] = '\0';
    memset(reply, 0, sizeof *reply);
    *rc = PDB_EUNAVAIL;
    if (!self->sock)
        s_reconnect(self);
    if (!self->sock) {
        snprintf(why, PDB_ERRMSG_MAX, "cannot create a socket for storage");
        return false;
    }
    uint64_t request_id = self->next_id++;
    mpk_out_t req;
    mpk_out_init(&req);
    sproto_pack_request(&req.pk, request_id, op, args, args_len);
    *rc = mpk_out_status(&req);
    if (*rc) {
        mpk_out_release(&req);
        return false;
    }
    zframe_t *frame = zframe_new(req.buf.data, req.buf.size);
    mpk_out_release(&req);
    int64_t deadline = zclock_mono() + self->timeout_ms;
    if (self->mon)
        (void) sockmon_disconnected(self->mon);    // old news: not this request's
    //  With ZMQ_IMMEDIATE a send waits only while no storage is connected:
    //  give up soon, so a client sees 503 instead of a long hang.
    zsock_set_sndtimeo(self->sock, self->timeout_ms < SCLIENT_CONNECT_WAIT_MS
                                   ? self->timeout_ms : SCLIENT_CONNECT_WAIT_MS);
    *rc = PDB_EUNAVAIL;
    if (!frame || zframe_send(&frame, self->sock, 0) != 0) {
        zframe_destroy(&frame);
        snprintf(why, PDB_ERRMSG_MAX, "storage is not reachable");
        return false;
    }
    bool lost;
    if (!s_await(self, request_id, deadline, reply, &lost)) {
        //  Start afresh so the request cannot be delivered late.
        s_reconnect(self);
        if (lost)
            snprintf(why, PDB_ERRMSG_MAX, "storage went away before answering");
        else
            snprintf(why, PDB_ERRMSG_MAX, "storage did not answer within %d ms",
                     self->timeout_ms);
        return false;
    }
    *rc = 0;
    return true;
}

int
sclient_call(sclient_t *self, const char *op, const void *args, size_t args_len,
             void **result, size_t *result_len, char why[PDB_ERRMSG_MAX])
{
    *result = NULL;
    *result_len = 0;
    s_reply_t reply;
    int rc;
    if (!s_call(self, op, args, args_len, &reply, &rc, why))
        return rc;
    const msgpack_object *value;
    rc = sclient_read_reply(&reply.u.data, &value, why);
    if (rc == 0)
        rc = s_copy_result(value, result, result_len);
    s_reply_release(&reply);
    return rc;
}

int
sclient_send(sclient_t *self, const char *op, const void *args, size_t args_len,
             uint64_t *request_id, char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    uint64_t id = self->next_id++;
    mpk_out_t req;
    mpk_out_init(&req);
    sproto_pack_request(&req.pk, id, op, args, args_len);
    int rc = mpk_out_status(&req);
    zframe_t *frame = rc ? NULL : zframe_new(req.buf.data, req.buf.size);
    mpk_out_release(&req);
    if (rc)
        return rc;
    zsock_set_sndtimeo(self->sock, 0);
    if (!frame || zframe_send(&frame, self->sock, 0) != 0) {
        zframe_destroy(&frame);
        snprintf(why, PDB_ERRMSG_MAX, "storage is not reachable");
        return PDB_EUNAVAIL;
    }
    *request_id = id;
    return 0;
}

int
sclient_recv(sclient_t *self, uint64_t *request_id, int *reply_rc, void **result,
             size_t *result_len, char why[PDB_ERRMSG_MAX])
{
    *result = NULL;
    *result_len = 0;
    why[0] = '\0';
    zsock_set_rcvtimeo(self->sock, 0);
    zframe_t *frame = zframe_recv(self->sock);
    if (!frame)
        return -EAGAIN;
    msgpack_unpacked u;
    bool parsed = mpk_parse(zframe_data(frame), zframe_size(frame), &u) == 0;
    bool known = parsed && u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size == 4
              && mpk_get_u64(&u.data.via.array.ptr[0], request_id) == 0;
    int rc = known ? 0 : PDB_EPROTO;
    if (known) {
        const msgpack_object *value;
        *reply_rc = sclient_read_reply(&u.data, &value, why);
        if (*reply_rc == 0)
            *reply_rc = s_copy_result(value, result, result_len);
    }
    if (parsed)
        msgpack_unpacked_destroy(&u);
    zframe_destroy(&frame);
    return rc;
}

zsock_t *
sclient_socket(sclient_t *self)
{
    return self->sock;
}

bool
sclient_lost(sclient_t *self)
{
    return self->mon && sockmon_disconnected(self->mon);
}

//  [id, seq] or, with a record, [id, seq, bin(record)] of a write's result.
static int
s_read_id_seq(const msgpack_object *o, pdb_id_t *id_out, uint64_t *seq_out,
              void **record, size_t *record_len)
{
    pdb_id_t id;
    uint64_t seq;
    const void *rec = NULL;
    size_t rec_len = 0;
    bool ok = o->type == MSGPACK_OBJECT_ARRAY
           && o->via.array.size == (record ? 3u : 2u)
           && !mpk_get_id(&o->via.array.ptr[0], &id)
           && !mpk_get_u64(&o->via.array.ptr[1], &seq)
           && (!record || !mpk_get_bin(&o->via.array.ptr[2], &rec, &rec_len));
    if (!ok)
        return PDB_EPROTO;
    if (record) {
        *record = malloc(rec_len ? rec_len : 1);
        if (!*record)
            return -ENOMEM;
        memcpy(*record, rec, rec_len);
        *record_len = rec_len;
    }
    if (id_out)
        *id_out = id;
    if (seq_out)
        *seq_out = seq;
    return 0;
}

static void
s_pack_optional_id(msgpack_packer *pk, const pdb_id_t *id)
{
    if (id)
        mpk_pack_id(pk, id);
    else
        mpk_pack_nil(pk);
}

int
sclient_read_id_seq(const msgpack_object *reply, pdb_id_t *id_out, uint64_t *seq_out,
                    void **record, size_t *record_len, char why[PDB_ERRMSG_MAX])
{
    const msgpack_object *value;
    int rc = sclient_read_reply(reply, &value, why);
    return rc ? rc : s_read_id_seq(value, id_out, seq_out, record, record_len);
}

//  op with its packed args; the reply's result read by s_read_id_seq.
static int
s_call_id_seq(sclient_t *self, const char *op, const mpk_out_t *args, pdb_id_t *id_out,
              uint64_t *seq_out, void **record, size_t *record_len, char *why)
{
    int rc = mpk_out_status(args);
    if (rc)
        return rc;
    s_reply_t reply;
    if (!s_call(self, op, args->buf.data, args->buf.size, &reply, &rc, why))
        return rc;
    rc = sclient_read_id_seq(&reply.u.data, id_out, seq_out, record, record_len, why);
    s_reply_release(&reply);
    return rc;
}

void
sclient_pack_write(mpk_out_t *args, ent_type_t entity, change_op_t op,
                   const pdb_id_t *collective_id, const pdb_id_t *entity_id,
                   const void *fields, size_t fields_len, bool record)
{
    mpk_pack_array(&args->pk, record ? 6 : 5);
    mpk_pack_u64(&args->pk, entity);
    mpk_pack_u64(&args->pk, op);
    s_pack_optional_id(&args->pk, collective_id);
    s_pack_optional_id(&args->pk, entity_id);
    mpk_pack_bin(&args->pk, fields, fields_len);
    if (record)
        mpk_pack_bool(&args->pk, true);
}

int
sclient_write(sclient_t *self, ent_type_t entity, change_op_t op,
              const pdb_id_t *collective_id, const pdb_id_t *entity_id,
              const void *fields, size_t fields_len,
              pdb_id_t *id_out, uint64_t *seq_out, char why[PDB_ERRMSG_MAX])
{
    mpk_out_t args;
    mpk_out_init(&args);
    sclient_pack_write(&args, entity, op, collective_id, entity_id, fields, fields_len, false);
    int rc = s_call_id_seq(self, "write", &args, id_out, seq_out, NULL, NULL, why);
    mpk_out_release(&args);
    return rc;
}

void
sclient_pack_reinforce(mpk_out_t *args, const pdb_id_t *experience_id)
{
    mpk_pack_array(&args->pk, 1);
    mpk_pack_id(&args->pk, experience_id);
}
