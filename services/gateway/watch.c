#include "watch.h"
#include "http.h"
#include "json_map.h"
#include "json_text.h"
#include "change.h"
#include "clock.h"
#include "log.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WATCH_BLOCK_SIZE (32u << 10)        // bytes MHD asks for per read
#define WATCH_BATCH_CHANGES 256u            // WAL entries read per transaction
#define WATCH_BATCH_BYTES (256u << 10)      // event bytes buffered per batch
#define WATCH_CHECK_MS 1000                 // how often a waiting stream checks its client

typedef struct s_stream s_stream_t;

struct watch {
    store_t *store;
    char *endpoint;
    pthread_mutex_t lock;         // head, stopping, parked
    uint64_t head;                // highest WAL sequence known to exist
    bool stopping;
    s_stream_t *parked;           // streams with nothing to send, their connections suspended
    bool running;
    pthread_t hub;
    atomic_uint streams;
};

struct s_stream {
    watch_t *hub;
    http_t *server;
    struct MHD_Connection *conn;
    s_stream_t *prev, *next;       // in hub->parked while parked
    bool parked;
    uint64_t wake_ms;              // when a parked stream must look again (monotonic)
    int fd;                        // client socket, to notice a hang-up
    pdb_id_t collective;
    uint64_t cursor;               // last WAL sequence looked at
    uint64_t seen_head;            // hub head when the last scan started
    char *out;                     // pending event bytes
    size_t out_len, out_off, out_cap;
    uint64_t last_write_ms;
    bool more;                     // the last scan stopped at a batch bound
    bool finished;                 // the collective was deleted: end after flushing
};

//  --------------------------------------------------------------------------
//  Hub

//  Takes a parked stream off the list and hands its connection back to
//  libmicrohttpd, which calls s_read again. Caller holds the hub lock.
static void
s_unpark(watch_t *self, s_stream_t *st)
{
    if (st->prev)
        st->prev->next = st->next;
    else
        self->parked = st->next;
    if (st->next)
        st->next->prev = st->prev;
    st->prev = st->next = NULL;
    st->parked = false;
    http_resume(st->server, st->conn);
}

//  Records the new head and wakes every parked stream that has something
//  to do: new WAL entries, a heartbeat or client check due, or shutdown.
static void
s_advance(watch_t *self, uint64_t head)
{
    uint64_t now = clock_mono_ms();
    pthread_mutex_lock(&self->lock);
    if (head > self->head)
        self->head = head;
    s_stream_t *next;
    for (s_stream_t *st = self->parked; st; st = next) {
        next = st->next;
        if (self->stopping || self->head > st->seen_head || now >= st->wake_ms)
            s_unpark(self, st);
    }
    pthread_mutex_unlock(&self->lock);
}

static bool
s_stopping(watch_t *self)
{
    pthread_mutex_lock(&self->lock);
    bool stopping = self->stopping;
    pthread_mutex_unlock(&self->lock);
    return stopping;
}

static uint64_t
s_store_head(watch_t *self)
{
    MDB_txn *txn;
    store_meta_t meta = { 0 };
    if (store_read_begin(self->store, &txn) != 0)
        return 0;
    if (store_meta_read(self->store, txn, &meta) != 0)
        meta.wal_head = 0;
    mdb_txn_abort(txn);
    return meta.wal_head;
}

static void *
s_hub_run(void *arg)
{
    watch_t *self = arg;
    zsock_t *sub = zsock_new_sub(self->endpoint, "wal ");
    if (sub)
        zsock_set_rcvtimeo(sub, WATCH_POLL_MS);
    else
        log_w("watch", "cannot subscribe endpoint=%s polling_ms=%d", self->endpoint,
              WATCH_POLL_MS);
    while (!s_stopping(self)) {
        char *msg = sub ? zstr_recv(sub) : NULL;
        uint64_t seq = 0;
        if (msg && sscanf(msg, "wal %" SCNu64, &seq) == 1)
            s_advance(self, seq);
        zstr_free(&msg);
        if (!seq)
            s_advance(self, s_store_head(self));   // quiet, or a message was lost
        if (!sub)
            zclock_sleep(WATCH_POLL_MS);
    }
    zsock_destroy(&sub);
    return NULL;
}

watch_t *
watch_new(store_t *store, const char *events_endpoint)
{
    watch_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    self->endpoint = strdup(events_endpoint);
    int rc = self->endpoint ? 0 : -ENOMEM;
    if (!rc)
        rc = -pthread_mutex_init(&self->lock, NULL);
    if (rc) {
        free(self->endpoint);
        free(self);
        return NULL;
    }
    atomic_init(&self->streams, 0);
    return self;
}

int
watch_start(watch_t *self)
{
    self->head = s_store_head(self);
    int rc = pthread_create(&self->hub, NULL, s_hub_run, self);
    if (rc)
        return -rc;
    self->running = true;
    return 0;
}

void
watch_stop(watch_t *self)
{
    pthread_mutex_lock(&self->lock);
    self->stopping = true;
    while (self->parked)
        s_unpark(self, self->parked);
    pthread_mutex_unlock(&self->lock);
    if (self->running)
        pthread_join(self->hub, NULL);
    self->running = false;
}

void
watch_destroy(watch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    watch_t *self = *self_p;
    watch_stop(self);
    pthread_mutex_destroy(&self->lock);
    free(self->endpoint);
    free(self);
    *self_p = NULL;
}

unsigned
watch_streams(watch_t *self)
{
    return atomic_load(&self->streams);
}

//  --------------------------------------------------------------------------
//  Event formatting

static int
s_out_append(s_stream_t *st, const char *text, size_t len)
{
    if (st->out_len + len > st->out_cap) {
        size_t cap = st->out_cap ? st->out_cap : 4096;
        while (cap < st->out_len + len)
            cap *= 2;
        char *grown = realloc(st->out, cap);
        if (!grown)
            return -ENOMEM;
        st->out = grown;
        st->out_cap = cap;
    }
    memcpy(st->out + st->out_len, text, len);
    st->out_len += len;
    return 0;
}

static const char *
s_op_name(change_op_t op)
{
    switch (op) {
    case OP_CREATE: return "create";
    case OP_UPDATE: return "update";
    case OP_DELETE: return "delete";
    }
    //  Snapshot entities relayed through this node: whole state, not a delta.
    return (int) op == OP_STATE ? "state" : "unknown";
}

static json_t *
s_id_json(const pdb_id_t *id)
{
    char text[PDB_ID_STR_LEN + 1];
    pdb_id_format(id, text);
    return json_string(text);
}

//  The JSON of one change: its identity, then its fields in API form.
static json_t *
s_change_json(const change_t *c)
{
    json_t *fields = json_object();
    msgpack_unpacked u;
    if (fields && mpk_parse(c->fields, c->fields_len, &u) == 0) {
        //  A state change carries the entity's record under "record".
        const msgpack_object *values = (int) c->op == OP_STATE ? mpk_map_get(&u.data, "record")
                                                                : &u.data;
        if (!values || json_map_to_json(c->entity, values, NULL, 0, fields) != 0)
            json_object_clear(fields);    // undecodable: the ids still tell what changed
        msgpack_unpacked_destroy(&u);
    }
    return json_pack("{s:I,s:s,s:s,s:o,s:o,s:o,s:I,s:o*}",
                     "seq", (json_int_t) c->seq, "op", s_op_name(c->op),
                     "entity", entity_type_name(c->entity),
                     "collective_id", s_id_json(&c->collective_id),
                     "entity_id", s_id_json(&c->entity_id), "origin", s_id_json(&c->origin),
                     "hlc", (json_int_t) c->hlc, "fields", fields);
}

static int
s_append_event(s_stream_t *st, const char *event, uint64_t seq, json_t *data)
{
    char *text = json_text_dump(data, NULL);
    json_decref(data);
    if (!text)
        return -ENOMEM;
    char head[96];
    int n = snprintf(head, sizeof head, "id: %" PRIu64 "\nevent: %s\ndata: ", seq, event);
    int rc = s_out_append(st, head, (size_t) n);
    if (!rc)
        rc = s_out_append(st, text, strlen(text));
    if (!rc)
        rc = s_out_append(st, "\n\n", 2);
    free(text);
    return rc;
}

//  --------------------------------------------------------------------------
//  Reading the WAL

static int
s_take_change(s_stream_t *st, uint64_t seq, const MDB_val *val)
{
    if (seq > st->cursor + 1) {
        //  Entries were compacted away: say so, the client must resync.
        json_t *gap = json_pack("{s:I,s:I}", "from", (json_int_t) (st->cursor + 1),
                                "to", (json_int_t) (seq - 1));
        int rc = s_append_event(st, "gap", seq - 1, gap);
        if (rc)
            return rc;
    }
    st->cursor = seq;
    change_t c;
    if (change_decode(val->mv_data, val->mv_size, &c) != 0) {
        log_w("watch", "skipping undecodable WAL entry seq=%" PRIu64, seq);
        return 0;
    }
    if (pdb_id_cmp(&c.collective_id, &st->collective) != 0)
        return 0;
    c.seq = seq;
    if (c.entity == ENT_COLLECTIVE && c.op == OP_DELETE)
        st->finished = true;
    return s_append_event(st, "change", seq, s_change_json(&c));
}

//  Reads the WAL after the stream's cursor, one bounded batch.
static int
s_fill(s_stream_t *st)
{
    pthread_mutex_lock(&st->hub->lock);
    st->seen_head = st->hub->head;
    pthread_mutex_unlock(&st->hub->lock);
    MDB_txn *txn;
    int rc = store_read_begin(st->hub->store, &txn);
    if (rc)
        return rc;
    store_iter_t wal;
    rc = store_wal(st->hub->store, txn, st->cursor + 1, &wal);
    if (!rc) {
        uint64_t seq;
        MDB_val val;
        int wrc = store_wal_next(&wal, &seq, &val);
        for (unsigned n = 0; !rc && wrc == 0 && !st->finished && n < WATCH_BATCH_CHANGES
                             && st->out_len < WATCH_BATCH_BYTES; n++) {
            rc = s_take_change(st, seq, &val);
            wrc = store_wal_next(&wal, &seq, &val);
        }
        st->more = !rc && wrc == 0 && !st->finished;
        if (!rc && wrc != 0 && wrc != PDB_ENOTFOUND)
            rc = wrc;
    }
    store_iter_close(&wal);
    mdb_txn_abort(txn);
    return rc;
}

//  --------------------------------------------------------------------------
//  Streaming

static bool
s_client_gone(int fd)
{
    if (fd < 0)
        return false;
    struct pollfd p = { .fd = fd, .events = POLLRDHUP };
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

//  Parks the stream until the hub head moves past what the last scan saw,
//  shutdown, or wait_ms: suspends its connection, which the hub resumes.
//  Returns false, parking nothing, when there is something to do already.
//  Under the hub lock, so the hub cannot resume a connection that is not
//  suspended yet, and a stopping hub parks nothing more.
static bool
s_park(s_stream_t *st, uint64_t wait_ms)
{
    watch_t *hub = st->hub;
    pthread_mutex_lock(&hub->lock);
    bool park = hub->head <= st->seen_head && !hub->stopping;
    if (park) {
        st->wake_ms = clock_mono_ms() + wait_ms;
        st->parked = true;
        st->prev = NULL;
        st->next = hub->parked;
        if (hub->parked)
            hub->parked->prev = st;
        hub->parked = st;
        MHD_suspend_connection(st->conn);
    }
    pthread_mutex_unlock(&hub->lock);
    return park;
}

static ssize_t
s_flush(s_stream_t *st, char *buf, size_t max)
{
    size_t n = st->out_len - st->out_off;
    if (n > max)
        n = max;
    memcpy(buf, st->out + st->out_off, n);
    st->out_off += n;
    if (st->out_off == st->out_len)
        st->out_off = st->out_len = 0;
    st->last_write_ms = clock_mono_ms();
    return (ssize_t) n;
}

//  MHD content reader. It runs on the network thread that serves all
//  connections, so it never waits: with nothing to send it parks the stream
//  and returns 0 bytes, and the hub resumes the connection later.
static ssize_t
s_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    s_stream_t *st = cls;
    while (true) {
        if (st->out_len > st->out_off)
            return s_flush(st, buf, max);
        if (st->finished || s_stopping(st->hub))
            return MHD_CONTENT_READER_END_OF_STREAM;
        //  A client that left is a normal end, not an error worth a log line.
        if (s_client_gone(st->fd))
            return MHD_CONTENT_READER_END_OF_STREAM;
        bool behind = false;
        pthread_mutex_lock(&st->hub->lock);
        behind = st->hub->head > st->seen_head;
        pthread_mutex_unlock(&st->hub->lock);
        if ((behind || st->more) && s_fill(st) != 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (st->out_len > 0)
            continue;
        uint64_t idle = clock_mono_ms() - st->last_write_ms;
        if (idle >= WATCH_HEARTBEAT_MS) {
            if (s_out_append(st, ": heartbeat\n\n", 13) != 0)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            continue;
        }
        uint64_t left = WATCH_HEARTBEAT_MS - idle;
        if (s_park(st, left < WATCH_CHECK_MS ? left : WATCH_CHECK_MS))
            return 0;
    }
}

static void
s_free(void *cls)
{
    s_stream_t *st = cls;
    //  MHD frees a response only on a connection it is serving, which a
    //  parked one is not; stay safe if that ever changes.
    pthread_mutex_lock(&st->hub->lock);
    if (st->parked) {
        if (st->prev)
            st->prev->next = st->next;
        else
            st->hub->parked = st->next;
        if (st->next)
            st->next->prev = st->prev;
    }
    pthread_mutex_unlock(&st->hub->lock);
    atomic_fetch_sub(&st->hub->streams, 1);
    free(st->out);
    free(st);
}

static s_stream_t *
s_stream_new(watch_t *self, const http_req_t *req, const pdb_id_t *collective,
             uint64_t after)
{
    s_stream_t *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->hub = self;
    st->server = req->server;
    st->conn = req->conn;
    st->fd = http_conn_fd(req->conn);
    st->collective = *collective;
    st->cursor = after;
    st->seen_head = 0;             // first read scans whatever is there
    st->last_write_ms = clock_mono_ms();
    char id[PDB_ID_STR_LEN + 1], hello[128];
    pdb_id_format(collective, id);
    int n = snprintf(hello, sizeof hello, "retry: 1000\n: watching %s after %" PRIu64 "\n\n",
                     id, after);
    if (s_out_append(st, hello, (size_t) n) != 0) {
        free(st);
        return NULL;
    }
    return st;
}

struct MHD_Response *
watch_stream(watch_t *self, const http_req_t *req, const pdb_id_t *collective,
             uint64_t after)
{
    s_stream_t *st = s_stream_new(self, req, collective, after);
    if (!st)
        return NULL;
    atomic_fetch_add(&self->streams, 1);
    struct MHD_Response *response = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, WATCH_BLOCK_SIZE, s_read, st, s_free);
    if (!response) {
        s_free(st);
        return NULL;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(response, "X-Accel-Buffering", "no");
    return response;
}
