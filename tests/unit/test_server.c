/*  test_server.c - storage's sockets and group commit loop (server.h) over
    real ZeroMQ sockets, with server_run on a thread of its own: the
    owner-only ipc sockets, replies and "wal <seq>" announcements, frames
    refused with a protocol error, a failed request rolled back alone
    inside its group, a message of many requests answered in one, the group bound, a full map failing only the writes
    it stops, and storage/tcp admitting only the listed CURVE keys.
*/
#include "err.h"
#include "mpk.h"
#include "nodekey.h"
#include "sclient.h"
#include "server.h"
#include "service.h"
#include "sproto.h"
#include "sync_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <czmq.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 5000          // generous bound on a reply that must come
#define SILENCE_MS 1000       // how long a refused client is listened to

//  --------------------------------------------------------------------------
//  A storage server on a node in a temporary folder

typedef struct {
    fx_node_t n;
    server_t *server;
    pthread_t thread;
    bool running;
    volatile sig_atomic_t stop;
    int exit_code;
    char endpoint[TESTKIT_DIR_MAX + 32];
    char events[TESTKIT_DIR_MAX + 32];
} s_srv_t;

static const server_opts_t s_opts = { .max_requests = 64, .max_bytes = 4u << 20 };

static void *
s_serve(void *arg)
{
    s_srv_t *s = arg;
    s->exit_code = server_run(s->server, &s->stop);
    return NULL;
}

//  Starts serving (again): server_run on its own thread.
static void
s_go(s_srv_t *s)
{
    s->stop = 0;
    s->exit_code = -1;
    assert_int_equal(pthread_create(&s->thread, NULL, s_serve, s), 0);
    s->running = true;
}

//  Stops serving; the sockets stay bound and keep queueing requests.
static void
s_halt(s_srv_t *s)
{
    s->stop = 1;
    assert_int_equal(pthread_join(s->thread, NULL), 0);
    s->running = false;
    assert_int_equal(s->exit_code, SERVICE_EXIT_OK);
}

//  A server with opts on a node already open in s->n (not yet serving).
static void
s_bind(s_srv_t *s, const server_opts_t *opts)
{
    s->server = server_new(s->n.node, opts);
    assert_non_null(s->server);
    snprintf(s->endpoint, sizeof s->endpoint, "ipc://%s/%s", s->n.dir, SPROTO_SOCKET);
    snprintf(s->events, sizeof s->events, "ipc://%s/%s", s->n.dir, SPROTO_EVENTS);
}

static void
s_start(s_srv_t *s, const server_opts_t *opts, uint64_t map_size)
{
    memset(s, 0, sizeof *s);
    fx_open_sized(&s->n, map_size);
    s_bind(s, opts);
    s_go(s);
}

static void
s_close(s_srv_t *s)
{
    if (s->running)
        s_halt(s);
    server_destroy(&s->server);
    assert_null(s->server);
    fx_close(&s->n);
}

//  --------------------------------------------------------------------------
//  Clients

static sclient_t *
s_client(s_srv_t *s)
{
    sclient_t *c = sclient_new(s->endpoint, WAIT_MS);
    assert_non_null(c);
    return c;
}

//  A collective create through sclient; returns storage's rc, *seq its seq.
static int
s_create(sclient_t *c, const char *name, uint64_t *seq, char why[PDB_ERRMSG_MAX])
{
    mpk_out_t f;
    fx_fields_new(&f, 2);
    fx_kv_str(&f.pk, "name", name);
    fx_kv_u64(&f.pk, "embedding_dim", FX_DIM1);
    int rc = sclient_write(c, ENT_COLLECTIVE, OP_CREATE, NULL, NULL, f.buf.data, f.buf.size,
                           NULL, seq, why);
    mpk_out_release(&f);
    return rc;
}

//  A raw DEALER: CURVE with cert when given, the server's key server_key.
static zsock_t *
s_dealer(const char *endpoint, zcert_t *cert, const char *server_key)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    assert_non_null(sock);
    zsock_set_linger(sock, 0);
    if (cert) {
        zcert_apply(cert, sock);
        zsock_set_curve_serverkey(sock, server_key);
    }
    assert_int_equal(zsock_connect(sock, "%s", endpoint), 0);
    return sock;
}

//  Sends [version, id, op, args] (args: a packed array, or NULL for []).
static void
s_send(zsock_t *sock, uint64_t id, const char *op, const mpk_out_t *args)
{
    mpk_out_t req;
    mpk_out_init(&req);
    sproto_pack_request(&req.pk, id, op, args ? args->buf.data : NULL, args ? args->buf.size : 0);
    assert_int_equal(mpk_out_status(&req), 0);
    assert_int_equal(zsock_send(sock, "b", req.buf.data, req.buf.size), 0);
    mpk_out_release(&req);
}

//  A "ping" on a connection the server refuses: sent if the DEALER still
//  has a peer to queue it for, else given up after SILENCE_MS.
static void
s_send_refused(zsock_t *sock, uint64_t id)
{
    mpk_out_t req;
    mpk_out_init(&req);
    sproto_pack_request(&req.pk, id, "ping", NULL, 0);
    assert_int_equal(mpk_out_status(&req), 0);
    zsock_set_sndtimeo(sock, SILENCE_MS);
    (void) zsock_send(sock, "b", req.buf.data, req.buf.size);
    mpk_out_release(&req);
}

//  One reply: [request_id, rc, message, result].
typedef struct {
    bool got;
    uint64_t id;
    int64_t rc;
    char message[PDB_ERRMSG_MAX];
    zframe_t *frame;
    msgpack_unpacked u;
    const msgpack_object *result;
} s_reply_t;

static s_reply_t
s_recv(zsock_t *sock, int timeout_ms)
{
    s_reply_t r;
    memset(&r, 0, sizeof r);
    zsock_set_rcvtimeo(sock, timeout_ms);
    r.frame = zframe_recv(sock);
    if (!r.frame)
        return r;
    r.got = true;
    assert_false(zframe_more(r.frame));
    assert_int_equal(mpk_parse(zframe_data(r.frame), zframe_size(r.frame), &r.u), 0);
    const msgpack_object *o = &r.u.data;
    assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(o->via.array.size, 4);
    assert_int_equal(mpk_get_u64(&o->via.array.ptr[0], &r.id), 0);
    assert_int_equal(mpk_get_i64(&o->via.array.ptr[1], &r.rc), 0);
    const char *msg;
    size_t len;
    assert_int_equal(mpk_get_str(&o->via.array.ptr[2], &msg, &len), 0);
    snprintf(r.message, sizeof r.message, "%.*s", (int) len, msg);
    r.result = &o->via.array.ptr[3];
    return r;
}

static void
s_reply_free(s_reply_t *r)
{
    if (r->got)
        msgpack_unpacked_destroy(&r->u);
    zframe_destroy(&r->frame);
}

//  A reply that must come, with the given id and rc.
static void
s_expect(zsock_t *sock, uint64_t id, int rc, const char *message)
{
    s_reply_t r = s_recv(sock, WAIT_MS);
    if (!r.got)
        fail_msg("no reply to request %llu", (unsigned long long) id);
    if (r.id != id || r.rc != rc || (message && strcmp(r.message, message) != 0))
        fail_msg("reply id=%llu rc=%lld '%s', expected id=%llu rc=%d '%s'",
                 (unsigned long long) r.id, (long long) r.rc, r.message,
                 (unsigned long long) id, rc, message ? message : "*");
    s_reply_free(&r);
}

//  A counter of storage's "stats".
static uint64_t
s_stat(sclient_t *c, const char *name)
{
    void *result;
    size_t len;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(sclient_call(c, "stats", NULL, 0, &result, &len, why), 0);
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(result, len, &u), 0);
    uint64_t v = 0;
    const msgpack_object *o = mpk_map_get(&u.data, name);
    assert_non_null(o);
    assert_int_equal(mpk_get_u64(o, &v), 0);
    msgpack_unpacked_destroy(&u);
    free(result);
    return v;
}

//  "ping" through sclient: storage's rc.
static int
s_ping(sclient_t *c)
{
    void *result = NULL;
    size_t len = 0;
    char why[PDB_ERRMSG_MAX];
    int rc = sclient_call(c, "ping", NULL, 0, &result, &len, why);
    assert_null(result);                  // nil
    return rc;
}

static void
s_wait_ms(long ms)
{
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&t, NULL);
}

//  --------------------------------------------------------------------------

static void
s_assert_owner_only_socket(const char *dir, const char *name)
{
    char path[TESTKIT_DIR_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
}

//  A socket file left by a storage that crashed is replaced (the node's
//  lock says no other storage runs); whoever can write to the sockets can
//  write anything, so they are the owner's only.
static void
test_server_binds_owner_only_sockets_over_a_stale_one(void **state)
{
    (void) state;
    s_srv_t s;
    memset(&s, 0, sizeof s);
    fx_open(&s.n);
    char stale[TESTKIT_DIR_MAX + 32];
    snprintf(stale, sizeof stale, "%s/%s", s.n.dir, SPROTO_SOCKET);
    FILE *fp = fopen(stale, "w");
    assert_non_null(fp);
    assert_int_equal(fclose(fp), 0);
    s_bind(&s, &s_opts);
    s_assert_owner_only_socket(s.n.dir, SPROTO_SOCKET);
    s_assert_owner_only_socket(s.n.dir, SPROTO_EVENTS);
    s_go(&s);
    sclient_t *c = s_client(&s);
    assert_int_equal(s_ping(c), 0);
    sclient_destroy(&c);
    s_close(&s);
}

//  ipc paths are limited (sun_path): a data folder too deep is refused
//  with nothing bound, not cut short.
static void
test_server_refuses_a_data_folder_too_deep_for_ipc(void **state)
{
    (void) state;
    char root[TESTKIT_DIR_MAX];
    testkit_mkdir(root, "server_deep");
    char deep[256];
    snprintf(deep, sizeof deep, "%s/%0100d", root, 0);
    node_t *node = NULL;
    assert_int_equal(node_open(deep, FX_MAP_SIZE, &node), 0);
    assert_null(server_new(node, &s_opts));
    char sock[300];
    snprintf(sock, sizeof sock, "%s/%s", deep, SPROTO_SOCKET);
    assert_int_equal(access(sock, F_OK), -1);
    node_destroy(&node);
    testkit_rmdir(deep);
    testkit_rmdir(root);
}

//  Every commit that advanced the log is announced as "wal <head>"; reads
//  and refused writes announce nothing.
static void
test_server_answers_writes_and_announces_the_wal_head(void **state)
{
    (void) state;
    s_srv_t s;
    s_start(&s, &s_opts, FX_MAP_SIZE);
    sclient_t *c = s_client(&s);
    zsock_t *sub = zsock_new_sub(s.events, "wal ");
    assert_non_null(sub);
    char why[PDB_ERRMSG_MAX];
    uint64_t seq = 0;
    //  A subscription takes effect some time after the connect: write until
    //  an announcement comes through.
    char *event = NULL;
    for (int i = 0; i < 100 && !event; i++) {
        char name[16];
        snprintf(name, sizeof name, "warm-%d", i);
        assert_int_equal(s_create(c, name, &seq, why), 0);
        assert_int_equal(seq, (uint64_t) i + 1);
        zsock_set_rcvtimeo(sub, 100);
        event = zstr_recv(sub);
    }
    assert_non_null(event);
    zstr_free(&event);
    zsock_set_rcvtimeo(sub, 0);
    while ((event = zstr_recv(sub)) != NULL)         // announcements still queued
        zstr_free(&event);

    zsock_set_rcvtimeo(sub, WAIT_MS);
    assert_int_equal(s_create(c, "kb", &seq, why), 0);
    char want[32];
    snprintf(want, sizeof want, "wal %llu", (unsigned long long) seq);
    event = zstr_recv(sub);
    assert_non_null(event);
    assert_string_equal(event, want);
    zstr_free(&event);
    //  A read and a refused write, then a write: the next announcement is
    //  that write's.
    assert_int_equal(s_ping(c), 0);
    uint64_t ignored;
    assert_int_equal(s_create(c, "kb", &ignored, why), PDB_ECONFLICT);
    assert_non_null(strstr(why, "kb"));
    assert_int_equal(s_create(c, "notes", &seq, why), 0);
    snprintf(want, sizeof want, "wal %llu", (unsigned long long) seq);
    event = zstr_recv(sub);
    assert_non_null(event);
    assert_string_equal(event, want);
    zstr_free(&event);
    assert_int_equal(fx_head(&s.n), seq);
    zsock_destroy(&sub);
    sclient_destroy(&c);
    s_close(&s);
}

static void
test_server_refuses_bad_frames_and_keeps_serving(void **state)
{
    (void) state;
    s_srv_t s;
    s_start(&s, &s_opts, FX_MAP_SIZE);
    zsock_t *d = s_dealer(s.endpoint, NULL, NULL);
    //  More requests in one message than the protocol allows.
    zmsg_t *many = zmsg_new();
    for (int i = 0; i <= SPROTO_FRAMES_MAX; i++)
        assert_int_equal(zmsg_addstr(many, "ping"), 0);
    assert_int_equal(zmsg_send(&many, d), 0);
    s_expect(d, 0, PDB_EPROTO, "a message carries 1 to 64 requests, one per frame");
    //  Bytes that are no MessagePack, and a request of another version.
    assert_int_equal(zsock_send(d, "b", "\xc1", (size_t) 1), 0);
    s_expect(d, 0, PDB_EPROTO, "request is not one well-formed MessagePack value");
    mpk_out_t req;
    mpk_out_init(&req);
    mpk_pack_array(&req.pk, 4);
    mpk_pack_u64(&req.pk, SPROTO_VERSION + 1);
    mpk_pack_u64(&req.pk, 4);
    mpk_pack_str(&req.pk, "ping");
    mpk_pack_array(&req.pk, 0);
    assert_int_equal(zsock_send(d, "b", req.buf.data, req.buf.size), 0);
    mpk_out_release(&req);
    s_expect(d, 4, PDB_EPROTO, "protocol version 2 not supported (this storage speaks 1)");
    //  An operation storage does not know.
    s_send(d, 5, "drop", NULL);
    s_expect(d, 5, PDB_EPROTO, "unknown operation 'drop'");
    s_send(d, 6, "ping", NULL);
    s_expect(d, 6, 0, "");
    sclient_t *c = s_client(&s);
    assert_int_equal(s_stat(c, "requests"), 5);
    assert_int_equal(s_stat(c, "failed"), 4);
    assert_int_equal(s_stat(c, "commits"), 0);
    sclient_destroy(&c);
    zsock_destroy(&d);
    s_close(&s);
}

//  "apply" args: peer "edge", cursor, and the changes encoded.
static void
s_apply_args(mpk_out_t *args, fx_change_t *set, size_t n)
{
    mpk_out_init(args);
    mpk_pack_array(&args->pk, 3);
    mpk_pack_str(&args->pk, "edge");
    mpk_pack_u64(&args->pk, set[n - 1].c.seq);
    mpk_pack_array(&args->pk, n);
    for (size_t i = 0; i < n; i++) {
        mpk_out_t one;
        fx_change_encode(&set[i].c, &one);
        mpk_pack_bin(&args->pk, one.buf.data, one.buf.size);
        mpk_out_release(&one);
    }
}

//  "write" args for a collective create named name.
static void
s_write_args(mpk_out_t *args, const char *name)
{
    mpk_out_t f;
    fx_fields_new(&f, 2);
    fx_kv_str(&f.pk, "name", name);
    fx_kv_u64(&f.pk, "embedding_dim", FX_DIM1);
    mpk_out_init(args);
    mpk_pack_array(&args->pk, 5);
    mpk_pack_u64(&args->pk, ENT_COLLECTIVE);
    mpk_pack_u64(&args->pk, OP_CREATE);
    mpk_pack_nil(&args->pk);
    mpk_pack_nil(&args->pk);
    mpk_pack_bin(&args->pk, f.buf.data, f.buf.size);
    mpk_out_release(&f);
}

//  Each request runs in a transaction nested in the group's: a batch that
//  wrote its first change and then failed is undone alone, and the writes
//  around it in the same group commit. The three requests are queued while
//  the server is not polling, so that they form one group; whether they
//  did is read from group_max, and the round is repeated until they have.
static void
test_server_failed_request_is_rolled_back_alone(void **state)
{
    (void) state;
    s_srv_t s;
    s_start(&s, &s_opts, FX_MAP_SIZE);
    sclient_t *c = s_client(&s);
    zsock_t *d = s_dealer(s.endpoint, NULL, NULL);
    s_send(d, 1, "ping", NULL);                   // connected before the rounds
    s_expect(d, 1, 0, "");
    bool grouped = false;
    for (uint8_t round = 0; round < 20 && !grouped; round++) {
        //  A collective of origin B, then an update of it with a field
        //  collectives do not have: refused when applied, after the first.
        uint8_t coll = (uint8_t) (0x50 + round);
        fx_change_t set[2];
        fx_coll_change(&set[0], FX_ORG_B, 2u * round + 1, 100, coll, "from-b");
        msgpack_packer *pk = fx_hand_begin(&set[1], FX_ORG_B, 2u * round + 2, FX_H(101),
                                           ENT_COLLECTIVE, OP_UPDATE, coll, coll);
        mpk_pack_map(pk, 1);
        fx_kv_str(pk, "colour", "red");
        fx_change_end(&set[1]);
        set[0].c.seq = 2u * round + 1;
        set[1].c.seq = 2u * round + 2;
        mpk_out_t a, b, w;
        char name_a[16], name_c[16];
        snprintf(name_a, sizeof name_a, "a-%u", round);
        snprintf(name_c, sizeof name_c, "c-%u", round);
        s_write_args(&a, name_a);
        s_apply_args(&b, set, 2);
        uint64_t head = fx_head(&s.n);

        s_halt(&s);
        s_send(d, 10, "write", &a);
        s_send(d, 11, "apply", &b);
        s_write_args(&w, name_c);
        s_send(d, 12, "write", &w);
        s_wait_ms(20);                            // let them land in the queue
        s_go(&s);
        s_reply_t r = s_recv(d, WAIT_MS);
        assert_true(r.got && r.id == 10 && r.rc == 0);
        s_reply_free(&r);
        r = s_recv(d, WAIT_MS);
        assert_true(r.got && r.id == 11);
        assert_int_equal(r.rc, PDB_EINVAL);
        assert_non_null(strstr(r.message, "change 1"));
        s_reply_free(&r);
        r = s_recv(d, WAIT_MS);
        assert_true(r.got && r.id == 12 && r.rc == 0);
        s_reply_free(&r);

        //  The two writes are in; nothing of the batch is, not even the
        //  collective it applied first, nor its peer's cursor.
        assert_int_equal(fx_head(&s.n), head + 2);
        assert_int_equal(fx_alive(&s.n, fx_id(coll)), -1);
        assert_int_equal(fx_vector(&s.n, fx_id(FX_ORG_B)), 0);
        assert_int_equal(fx_pull_cursor(&s.n, "edge"), -1);
        grouped = s_stat(c, "group_max") >= 3;
        mpk_out_release(&a);
        mpk_out_release(&b);
        mpk_out_release(&w);
        fx_changes_release(set, 2);
    }
    assert_true(grouped);
    zsock_destroy(&d);
    sclient_destroy(&c);
    s_close(&s);
}

//  A message of several requests: each is served as if it came alone (a
//  refused one is rolled back alone, a malformed one refused alone) and the
//  replies come back as one message, in order, from one group.
static void
test_server_serves_a_message_of_many_requests(void **state)
{
    (void) state;
    s_srv_t s;
    s_start(&s, &s_opts, FX_MAP_SIZE);
    sclient_t *c = s_client(&s);
    uint64_t head = fx_head(&s.n);
    zsock_t *d = s_dealer(s.endpoint, NULL, NULL);
    mpk_out_t a, b, dup;
    s_write_args(&a, "many-a");
    s_write_args(&b, "many-b");
    s_write_args(&dup, "many-a");                 // a name taken by the first
    const mpk_out_t *args[] = { &a, NULL, &b, &dup };
    zmsg_t *msg = zmsg_new();
    for (uint64_t i = 0; i < 4; i++) {
        mpk_out_t req;
        mpk_out_init(&req);
        if (args[i])
            sproto_pack_request(&req.pk, 20 + i, "write", args[i]->buf.data,
                                args[i]->buf.size);
        else
            mpk_pack_str(&req.pk, "no request");
        assert_int_equal(zmsg_addmem(msg, req.buf.data, req.buf.size), 0);
        mpk_out_release(&req);
    }
    assert_int_equal(zmsg_send(&msg, d), 0);
    zsock_set_rcvtimeo(d, WAIT_MS);
    zmsg_t *reply = zmsg_recv(d);
    assert_non_null(reply);
    assert_int_equal(zmsg_size(reply), 4);
    const uint64_t want_id[] = { 20, 0, 22, 23 };
    const int want_rc[] = { 0, PDB_EPROTO, 0, PDB_ECONFLICT };
    for (size_t i = 0; i < 4; i++) {
        zframe_t *frame = zmsg_pop(reply);
        msgpack_unpacked u;
        assert_int_equal(mpk_parse(zframe_data(frame), zframe_size(frame), &u), 0);
        uint64_t id;
        int64_t rc;
        assert_int_equal(u.data.via.array.size, 4);
        assert_int_equal(mpk_get_u64(&u.data.via.array.ptr[0], &id), 0);
        assert_int_equal(mpk_get_i64(&u.data.via.array.ptr[1], &rc), 0);
        assert_int_equal(id, want_id[i]);
        assert_int_equal(rc, want_rc[i]);
        msgpack_unpacked_destroy(&u);
        zframe_destroy(&frame);
    }
    zmsg_destroy(&reply);
    assert_int_equal(fx_head(&s.n), head + 2);     // the two creates, and only them
    assert_true(s_stat(c, "group_max") >= 4);
    mpk_out_release(&a);
    mpk_out_release(&b);
    mpk_out_release(&dup);
    zsock_destroy(&d);
    sclient_destroy(&c);
    s_close(&s);
}

//  With max_requests 1 every request is a group of its own: one commit
//  (and one fsync) each, however many wait.
static void
test_server_group_holds_at_most_max_requests(void **state)
{
    (void) state;
    s_srv_t s;
    server_opts_t one = s_opts;
    one.max_requests = 1;
    s_start(&s, &one, FX_MAP_SIZE);
    zsock_t *d = s_dealer(s.endpoint, NULL, NULL);
    s_send(d, 1, "ping", NULL);
    s_expect(d, 1, 0, "");
    s_halt(&s);
    for (uint64_t i = 0; i < 5; i++) {
        mpk_out_t a;
        char name[16];
        snprintf(name, sizeof name, "c-%llu", (unsigned long long) i);
        s_write_args(&a, name);
        s_send(d, 10 + i, "write", &a);
        mpk_out_release(&a);
    }
    s_wait_ms(20);                                // let them land in the queue
    s_go(&s);
    bool seen[6] = { false };
    for (uint64_t i = 0; i < 5; i++) {
        s_reply_t r = s_recv(d, WAIT_MS);
        assert_true(r.got);
        assert_int_equal(r.id, 10 + i);           // answered in order
        assert_int_equal(r.rc, 0);
        uint64_t seq;
        assert_int_equal(r.result->type, MSGPACK_OBJECT_ARRAY);
        assert_int_equal(mpk_get_u64(&r.result->via.array.ptr[1], &seq), 0);
        assert_true(seq >= 1 && seq <= 5 && !seen[seq]);
        seen[seq] = true;
        s_reply_free(&r);
    }
    sclient_t *c = s_client(&s);
    assert_int_equal(s_stat(c, "group_max"), 1);
    assert_int_equal(s_stat(c, "commits"), 5);
    assert_int_equal(s_stat(c, "wal_head"), 5);
    sclient_destroy(&c);
    zsock_destroy(&d);
    s_close(&s);
}

//  A full map is no store fault: the write it stops fails with PDB_EFULL,
//  what committed stays, and the server goes on serving.
static void
test_server_full_map_fails_the_write_and_keeps_serving(void **state)
{
    (void) state;
    s_srv_t s;
    s_start(&s, &s_opts, 1u << 20);               // 1 MiB: a handful of 60 KiB writes
    sclient_t *c = s_client(&s);
    char why[PDB_ERRMSG_MAX];
    pdb_id_t coll;
    mpk_out_t f;
    fx_fields_new(&f, 2);
    fx_kv_str(&f.pk, "name", "kb");
    fx_kv_u64(&f.pk, "embedding_dim", FX_DIM1);
    assert_int_equal(sclient_write(c, ENT_COLLECTIVE, OP_CREATE, NULL, NULL, f.buf.data,
                                   f.buf.size, &coll, NULL, why), 0);
    mpk_out_release(&f);
    char *text = malloc(60u << 10);
    assert_non_null(text);
    memset(text, 'x', 60u << 10);
    int rc = 0;
    uint64_t landed = 0;
    for (int i = 0; i < 40 && rc == 0; i++) {
        fx_fields_new(&f, 2);
        mpk_pack_str(&f.pk, "content");
        mpk_pack_strn(&f.pk, text, 60u << 10);
        fx_kv_vec(&f.pk, "embedding", 1.0f);
        rc = sclient_write(c, ENT_EXPERIENCE, OP_CREATE, &coll, NULL, f.buf.data, f.buf.size,
                           NULL, NULL, why);
        landed += rc == 0;
        mpk_out_release(&f);
    }
    free(text);
    assert_int_equal(rc, PDB_EFULL);
    assert_true(landed > 0);
    assert_int_equal(s_ping(c), 0);
    assert_int_equal(s_stat(c, "wal_head"), 1 + landed);
    assert_int_equal(fx_entries(&s.n, fx_store(&s.n)->experiences), landed);
    sclient_destroy(&c);
    s_close(&s);                                  // exits SERVICE_EXIT_OK, not _STORE
}

//  A loopback port free at the time of asking.
static int
s_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0 };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &addr, sizeof addr), 0);
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *) &addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

//  storage/tcp with the node's key pair is a CURVE server admitting the
//  public certificates in DATA/storage-clients/: the node's own (keygen
//  puts it there) and any other listed; an unlisted key, or none, gets no
//  answer.
static void
test_server_tcp_with_a_key_pair_admits_only_listed_clients(void **state)
{
    (void) state;
    s_srv_t s;
    memset(&s, 0, sizeof s);
    fx_open(&s.n);
    char public_txt[NODEKEY_TEXT_LEN + 1], why[PDB_ERRMSG_MAX];
    assert_int_equal(nodekey_generate(s.n.dir, false, public_txt, why), 0);
    zcert_t *cert = NULL;
    assert_int_equal(nodekey_load(s.n.dir, &cert, why), 0);
    zcert_t *gateway = zcert_new(), *stranger = zcert_new();
    char clients[TESTKIT_DIR_MAX + 32], path[TESTKIT_DIR_MAX + 64];
    snprintf(clients, sizeof clients, "%s/%s", s.n.dir, SERVER_CLIENTS_DIR);
    snprintf(path, sizeof path, "%s/gateway.cert", clients);
    assert_int_equal(zcert_save_public(gateway, path), 0);
    char tcp[64];
    snprintf(tcp, sizeof tcp, "tcp://127.0.0.1:%d", s_free_port());
    server_opts_t opts = s_opts;
    opts.tcp_endpoint = tcp;
    opts.cert = cert;
    s_bind(&s, &opts);
    s_go(&s);

    //  The node's own key pair, as a gateway on another host holds it.
    sclient_t *own = sclient_new_keyed(tcp, WAIT_MS, cert);
    assert_non_null(own);
    assert_int_equal(s_ping(own), 0);
    sclient_destroy(&own);
    //  Another listed key.
    zsock_t *d = s_dealer(tcp, gateway, public_txt);
    s_send(d, 1, "ping", NULL);
    s_expect(d, 1, 0, "");
    zsock_destroy(&d);
    //  An unlisted key, and no CURVE at all: silence. A refused handshake
    //  may leave the DEALER with no peer, where a send would wait for one
    //  for ever: it may fail instead, which is silence too.
    d = s_dealer(tcp, stranger, public_txt);
    s_send_refused(d, 2);
    s_reply_t r = s_recv(d, SILENCE_MS);
    assert_false(r.got);
    zsock_destroy(&d);
    d = s_dealer(tcp, NULL, NULL);
    s_send_refused(d, 3);
    r = s_recv(d, SILENCE_MS);
    assert_false(r.got);
    zsock_destroy(&d);
    //  The ipc socket serves this host's processes without keys.
    sclient_t *local = s_client(&s);
    assert_int_equal(s_stat(local, "requests"), 2);
    sclient_destroy(&local);

    testkit_rmdir(clients);
    s_close(&s);
    zcert_destroy(&gateway);
    zcert_destroy(&stranger);
    zcert_destroy(&cert);
}

int
main(void)
{
    zsys_handler_set(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_binds_owner_only_sockets_over_a_stale_one),
        cmocka_unit_test(test_server_refuses_a_data_folder_too_deep_for_ipc),
        cmocka_unit_test(test_server_answers_writes_and_announces_the_wal_head),
        cmocka_unit_test(test_server_refuses_bad_frames_and_keeps_serving),
        cmocka_unit_test(test_server_failed_request_is_rolled_back_alone),
        cmocka_unit_test(test_server_serves_a_message_of_many_requests),
        cmocka_unit_test(test_server_group_holds_at_most_max_requests),
        cmocka_unit_test(test_server_full_map_fails_the_write_and_keeps_serving),
        cmocka_unit_test(test_server_tcp_with_a_key_pair_admits_only_listed_clients),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    zsys_shutdown();
    return rc;
}
