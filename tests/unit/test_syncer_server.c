/*  test_syncer_server.c - two nodes in one process over real sockets: each
    a storage core serving its ipc socket on a thread, node A also running
    the sync server (serve.h) on a loopback tcp port. Node B's pusher and
    puller talk to A as a real peer would: push with safe_through and
    push_acked, pull without echo, the long poll, and the errors the server
    gives for bad input (garbage, unknown version, wrong target, a cursor
    below the floor) without changing anything; identity changes, initial
    sync from a peer with history, and compaction through storage.
*/
#include "change.h"
#include "clock.h"
#include "compact.h"
#include "conn.h"
#include "link.h"
#include "node.h"
#include "peer.h"
#include "prow.h"
#include "puller.h"
#include "pusher.h"
#include "serve.h"
#include "server.h"
#include "sclient.h"
#include "senv.h"
#include "snapshot_session.h"
#include "sops.h"
#include "testkit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <czmq.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAP_SIZE (64ull << 20)

//  --------------------------------------------------------------------------
//  A node: a storage core served on a thread

typedef struct {
    char dir[TESTKIT_DIR_MAX];
    node_t *node;
    server_t *storage;
    pthread_t thread;
    volatile sig_atomic_t stop;
    synctx_t ctx;
    sclient_t *client;            // the test's own storage client
} s_node_t;

static void *
s_storage_run(void *arg)
{
    s_node_t *n = arg;
    server_run(n->storage, &n->stop);
    return NULL;
}

static void
s_node_start(s_node_t *n, const char *tag)
{
    memset(n, 0, sizeof *n);
    char name[32];
    snprintf(name, sizeof name, "syncer_%s", tag);
    testkit_mkdir(n->dir, name);
    assert_int_equal(node_open(n->dir, MAP_SIZE, &n->node), 0);
    assert_int_equal(mdb_env_set_flags(n->node->store->env, MDB_NOSYNC, 1), 0);
    server_opts_t opts = { .tcp_endpoint = NULL, .max_requests = 64, .max_bytes = 4u << 20 };
    n->storage = server_new(n->node, &opts);
    assert_non_null(n->storage);
    assert_int_equal(pthread_create(&n->thread, NULL, s_storage_run, n), 0);
    n->ctx = (synctx_t) {
        .store = n->node->store, .env = senv_system(), .self = n->node->instance_id,
        .batch_max_changes = 1000, .batch_max_bytes = 4u << 20, .pull_wait_ms = 0,
        .retry_initial_ms = 10, .retry_max_ms = 100, .retry_multiplier_pct = 200,
    };
    snprintf(n->ctx.storage_endpoint, sizeof n->ctx.storage_endpoint, "ipc://%s/storage.sock",
             n->dir);
    snprintf(n->ctx.events_endpoint, sizeof n->ctx.events_endpoint,
             "ipc://%s/storage-events.sock", n->dir);
    n->client = sclient_new(n->ctx.storage_endpoint, 5000);
    assert_non_null(n->client);
}

static void
s_node_stop(s_node_t *n)
{
    sclient_destroy(&n->client);
    n->stop = 1;
    pthread_join(n->thread, NULL);
    server_destroy(&n->storage);
    node_destroy(&n->node);
    testkit_rmdir(n->dir);
}

static uint64_t
s_head(s_node_t *n)
{
    MDB_txn *txn;
    assert_int_equal(store_read_begin(n->node->store, &txn), 0);
    store_meta_t meta;
    assert_int_equal(store_meta_read(n->node->store, txn, &meta), 0);
    mdb_txn_abort(txn);
    return meta.wal_head;
}

//  A collective create (name) or rename (id given) through storage "write".
static pdb_id_t
s_write(s_node_t *n, const pdb_id_t *id, const char *name)
{
    mpk_out_t f;
    mpk_out_init(&f);
    mpk_pack_map(&f.pk, id ? 1 : 2);
    mpk_pack_str(&f.pk, "name");
    mpk_pack_str(&f.pk, name);
    if (!id) {
        mpk_pack_str(&f.pk, "embedding_dim");
        mpk_pack_u64(&f.pk, 2);
    }
    pdb_id_t out;
    char why[PDB_ERRMSG_MAX];
    int rc = sclient_write(n->client, ENT_COLLECTIVE, id ? OP_UPDATE : OP_CREATE, id, id,
                           f.buf.data, f.buf.size, &out, NULL, why);
    if (rc)
        fail_msg("write failed rc=%d %s", rc, why);
    mpk_out_release(&f);
    return out;
}

//  --------------------------------------------------------------------------
//  The sync server of node A on a thread

typedef struct {
    s_node_t *node;
    char endpoint[128];
    volatile int ready;
    volatile sig_atomic_t stop;
    pthread_t thread;
} s_serve_t;

static void *
s_serve_run(void *arg)
{
    s_serve_t *s = arg;
    sclient_t *storage = sclient_new(s->node->ctx.storage_endpoint, 5000);
    char relay[TESTKIT_DIR_MAX + 32];
    snprintf(relay, sizeof relay, "ipc://%s/%s", s->node->dir, SYNC_RELAY_SOCKET);
    serve_t *srv = serve_new(&s->node->ctx, storage, "tcp://127.0.0.1:*", relay, NULL, 0);
    zsock_t *events = zsock_new_sub(s->node->ctx.events_endpoint, "wal ");
    char *endpoint = srv ? zsock_last_endpoint(serve_socket(srv)) : NULL;
    snprintf(s->endpoint, sizeof s->endpoint, "%s", endpoint ? endpoint : "");
    zstr_free(&endpoint);
    __atomic_store_n(&s->ready, 1, __ATOMIC_RELEASE);
    zpoller_t *poller = srv ? zpoller_new(serve_socket(srv), events, serve_storage_socket(srv),
                                          NULL) : NULL;
    while (poller && !s->stop) {
        uint64_t wait = serve_tick(srv);
        void *which = zpoller_wait(poller, (int) (wait < 50 ? wait : 50));
        if (which == events) {
            char *event = zstr_recv(events);
            zstr_free(&event);
            serve_on_wal(srv);
        }
        serve_on_storage(srv);
        serve_handle(srv, serve_socket(srv));
    }
    zpoller_destroy(&poller);
    serve_destroy(&srv);
    zsock_destroy(&events);
    sclient_destroy(&storage);
    return NULL;
}

typedef struct {
    s_node_t a, b;
    s_serve_t serve;
    peer_t *peer;                 // node A, as node B knows it
} s_world_t;

static int
s_setup(void **state)
{
    s_world_t *w = calloc(1, sizeof *w);
    assert_non_null(w);
    s_node_start(&w->a, "a");
    s_node_start(&w->b, "b");
    w->serve.node = &w->a;
    assert_int_equal(pthread_create(&w->serve.thread, NULL, s_serve_run, &w->serve), 0);
    while (!__atomic_load_n(&w->serve.ready, __ATOMIC_ACQUIRE))
        usleep(1000);
    assert_true(strncmp(w->serve.endpoint, "tcp://127.0.0.1:", 16) == 0);
    peerspec_t spec = { .name = "a", .direction = PEERSPEC_BOTH };
    snprintf(spec.address, sizeof spec.address, "%s", w->serve.endpoint);
    w->peer = peer_new(&spec, false);
    assert_non_null(w->peer);
    *state = w;
    return 0;
}

static int
s_teardown(void **state)
{
    s_world_t *w = *state;
    w->serve.stop = 1;
    pthread_join(w->serve.thread, NULL);
    peer_destroy(&w->peer);
    s_node_stop(&w->b);
    s_node_stop(&w->a);
    free(w);
    return 0;
}

//  Steps until idle (wait > 0); returns how many steps ran.
static int
s_push_all(pusher_t *p)
{
    char why[PDB_ERRMSG_MAX];
    for (int i = 0; i < 100; i++) {
        uint64_t wait = 0;
        int rc = pusher_step(p, &wait, why);
        if (rc)
            fail_msg("push step rc=%d %s", rc, why);
        if (wait) {
            //  As `sync once` ends: push_acked is written lazily.
            rc = pusher_flush(p, why);
            if (rc)
                fail_msg("push flush rc=%d %s", rc, why);
            return i + 1;
        }
    }
    fail_msg("push never went idle");
    return -1;
}

static int
s_pull_all(puller_t *p)
{
    char why[PDB_ERRMSG_MAX];
    for (int i = 0; i < 100; i++) {
        uint64_t wait = 0;
        int rc = puller_step(p, &wait, why);
        if (rc)
            fail_msg("pull step rc=%d %s", rc, why);
        if (wait)
            return i + 1;
    }
    fail_msg("pull never went idle");
    return -1;
}

static uint64_t
s_row_u64(s_node_t *n, const char *name, const char *field)
{
    prow_t row;
    uint64_t v = 0;
    if (prow_read(n->node->store, NULL, name, &row) == 0)
        (void) prow_u64(&row, field, &v);
    prow_release(&row);
    return v;
}

//  The row `name` of node n is bound to instance (a bin(16) instance_id).
static void
s_assert_bound(s_node_t *n, const char *name, const pdb_id_t *instance)
{
    prow_t row;
    assert_int_equal(prow_read(n->node->store, NULL, name, &row), 0);
    const msgpack_object *v = mpk_map_get(row.map, "instance_id");
    pdb_id_t bound;
    assert_non_null(v);
    assert_int_equal(mpk_get_id(v, &bound), 0);
    assert_memory_equal(bound.b, instance->b, PDB_ID_LEN);
    prow_release(&row);
}

static void
test_push_and_pull_converge_without_echo(void **state)
{
    s_world_t *w = *state;
    link_cancel_t cancel = { 0 };
    char why[PDB_ERRMSG_MAX];
    pusher_t pusher;
    puller_t puller;
    assert_int_equal(pusher_init(&pusher, &w->b.ctx, w->peer, &cancel, why), 0);
    assert_int_equal(puller_init(&puller, &w->b.ctx, w->peer, &cancel, why), 0);
    //  First contact while A is empty: no initial sync needed.
    s_pull_all(&puller);
    assert_false(puller.snap.active);
    s_assert_bound(&w->b, "a", &w->a.node->instance_id);

    //  B writes; the pusher sends it all and push_acked follows safe_through.
    pdb_id_t c1 = s_write(&w->b, NULL, "from-b");
    for (int i = 0; i < 5; i++)
        s_write(&w->b, &c1, i % 2 ? "b-odd" : "b-even");
    assert_int_equal(s_head(&w->b), 6);
    s_push_all(&pusher);
    assert_int_equal(s_head(&w->a), 6);
    assert_int_equal(pusher.acked, 6);
    assert_int_equal(s_row_u64(&w->b, "a", "push_acked"), 6);
    peer_counts_t c;
    peer_counts(w->peer, &c);
    assert_int_equal(c.pushed, 6);
    assert_int_equal(c.push_accepted, 6);
    //  Pushing again sends nothing.
    s_push_all(&pusher);
    peer_counts(w->peer, &c);
    assert_int_equal(c.pushed, 6);

    //  A writes; B pulls only A's own changes: B's are covered by its vector.
    pdb_id_t c2 = s_write(&w->a, NULL, "from-a");
    s_write(&w->a, &c2, "a-renamed");
    s_pull_all(&puller);
    peer_counts(w->peer, &c);
    assert_int_equal(c.pulled, 2);
    assert_int_equal(c.pull_applied, 2);
    assert_int_equal(s_head(&w->b), 8);
    assert_int_equal(s_row_u64(&w->b, "a", "pull_cursor"), 8);
    //  A saw B pull: its inbound row is written on the server's next flush.
    //  The pusher now skips A's changes (A's vector covers them).
    s_push_all(&pusher);
    peer_counts(w->peer, &c);
    assert_int_equal(c.pushed, 6);
    assert_int_equal(pusher.acked, 8);
    pusher_release(&pusher);
    puller_release(&puller);
    (void) c1;
}

//  n's version vector entry for origin.
static uint64_t
s_vector(s_node_t *n, const pdb_id_t *origin)
{
    MDB_txn *txn;
    vv_t vv;
    assert_int_equal(store_read_begin(n->node->store, &txn), 0);
    assert_int_equal(vv_read(n->node->store, txn, &vv), 0);
    mdb_txn_abort(txn);
    uint64_t seq = vv_get(&vv, origin);
    vv_release(&vv);
    return seq;
}

//  The WAL entry at seq of node n, decoded (its fields are not kept).
static change_t
s_wal_at(s_node_t *n, uint64_t seq)
{
    change_t c;
    free(testkit_wal_entry(n->node->store, seq, &c, NULL));
    c.fields = NULL;
    c.fields_len = 0;
    return c;
}

//  B syncs only collective c1 with A, both ways. Each side applies some of
//  the other's changes only, so neither vector may claim the other's
//  changes; what each logged is marked partial; B's own never come back.
static void
test_filtered_push_and_pull_are_partial(void **state)
{
    s_world_t *w = *state;
    pdb_id_t c1 = s_write(&w->b, NULL, "b-one");
    s_write(&w->b, NULL, "b-two");                       // outside the filter
    s_write(&w->b, &c1, "b-one-renamed");
    peerspec_t spec = { .name = "a", .direction = PEERSPEC_BOTH, .collectives_n = 1 };
    spec.collectives[0] = c1;
    snprintf(spec.address, sizeof spec.address, "%s", w->serve.endpoint);
    peer_t *peer = peer_new(&spec, false);
    assert_non_null(peer);
    link_cancel_t cancel = { 0 };
    char why[PDB_ERRMSG_MAX];
    pusher_t pusher;
    puller_t puller;
    assert_int_equal(pusher_init(&pusher, &w->b.ctx, peer, &cancel, why), 0);
    assert_int_equal(puller_init(&puller, &w->b.ctx, peer, &cancel, why), 0);
    s_pull_all(&puller);                                 // A is empty: no snapshot
    s_push_all(&pusher);
    const pdb_id_t *a_id = &w->a.node->instance_id, *b_id = &w->b.node->instance_id;
    //  A has c1's two changes, marked, and no claim on B's changes.
    assert_int_equal(s_head(&w->a), 2);
    for (uint64_t seq = 1; seq <= 2; seq++) {
        change_t c = s_wal_at(&w->a, seq);
        assert_memory_equal(c.origin.b, b_id->b, PDB_ID_LEN);
        assert_true(c.partial);
    }
    assert_int_equal(s_vector(&w->a, b_id), 0);

    //  A renames c1 and makes c3: B pulls the rename only, as a partial copy,
    //  and none of its own changes (A's WAL holds them: B's vector skips them).
    s_write(&w->a, &c1, "a-renamed-it");
    s_write(&w->a, NULL, "a-three");
    s_pull_all(&puller);
    peer_counts_t counts;
    peer_counts(peer, &counts);
    assert_int_equal(counts.pulled, 1);
    assert_int_equal(counts.pull_applied, 1);
    assert_int_equal(s_head(&w->b), 4);
    change_t got = s_wal_at(&w->b, 4);
    assert_memory_equal(got.origin.b, a_id->b, PDB_ID_LEN);
    assert_int_equal(got.origin_seq, 1);                  // A's first own change
    assert_true(got.partial);
    assert_int_equal(s_vector(&w->b, a_id), 0);
    assert_int_equal(s_vector(&w->b, b_id), 3);           // its own: whole
    pusher_release(&pusher);
    puller_release(&puller);
    peer_destroy(&peer);
}

//  A monotonic clock the test moves by hand.
static uint64_t s_fake_mono = 1000000;

static uint64_t
s_fake_mono_ms(void *ctx)
{
    (void) ctx;
    return s_fake_mono;
}

//  One step that sends (or finds nothing), failing the test on error;
//  returns the wait the pusher asked for.
static uint64_t
s_push_step(pusher_t *p)
{
    char why[PDB_ERRMSG_MAX];
    uint64_t wait = 0;
    int rc = pusher_step(p, &wait, why);
    if (rc)
        fail_msg("push step rc=%d %s", rc, why);
    return wait;
}

static void
test_pusher_writes_push_acked_lazily_and_never_past_the_ack(void **state)
{
    s_world_t *w = *state;
    senv_t fake = *senv_system();
    fake.mono_ms = s_fake_mono_ms;
    w->b.ctx.env = &fake;
    link_cancel_t cancel = { 0 };
    char why[PDB_ERRMSG_MAX];
    pusher_t pusher;
    assert_int_equal(pusher_init(&pusher, &w->b.ctx, w->peer, &cancel, why), 0);
    //  Nothing written for a while: the first acknowledgement is written at once.
    pdb_id_t c1 = s_write(&w->b, NULL, "first");
    s_write(&w->b, &c1, "first-renamed");
    assert_int_not_equal(s_push_step(&pusher), 0);
    assert_int_equal(pusher.acked, 2);
    assert_int_equal(s_row_u64(&w->b, "a", "push_acked"), 2);

    //  Within PUSH_PERSIST_MS the next batch goes out without a write, and
    //  the idle wait ends when the write is due.
    s_fake_mono += 10;
    s_write(&w->b, &c1, "second");
    uint64_t wait = s_push_step(&pusher);
    assert_int_equal(s_head(&w->a), 3);
    assert_int_equal(pusher.acked, 3);
    assert_int_equal(s_row_u64(&w->b, "a", "push_acked"), 2);
    assert_true(wait > 0 && wait <= PUSH_PERSIST_MS - 10);
    s_fake_mono += 5;
    assert_true(s_push_step(&pusher) <= PUSH_PERSIST_MS - 15);
    assert_int_equal(s_row_u64(&w->b, "a", "push_acked"), 2);
    //  Idle when it is due: written.
    s_fake_mono += PUSH_PERSIST_MS;
    assert_true(s_push_step(&pusher) > 0);
    assert_int_equal(s_row_u64(&w->b, "a", "push_acked"), 3);

    //  At stop (pusher_flush) whatever was acknowledged is written; a
    //  second flush writes nothing new.
    s_fake_mono += 1;
    s_write(&w->b, &c1, "third");
    s_push_step(&pusher);
    assert_int_equal(s_row_u64(&w->b, "a", "push_acked"), 3);
    assert_int_equal(pusher_flush(&pusher, why), 0);
    assert_int_equal(s_row_u64(&w->b, "a", "push_acked"), 4);
    assert_int_equal(pusher_flush(&pusher, why), 0);
    assert_int_equal(s_row_u64(&w->b, "a", "push_acked"), 4);

    //  Once the sibling direction has reset the row (a replaced peer), the
    //  old instance's cursor is not written into it.
    s_fake_mono += 1;
    s_write(&w->b, &c1, "fourth");
    s_push_step(&pusher);
    assert_int_equal(pusher.acked, 5);
    assert_int_equal(s_row_u64(&w->b, "a", "push_acked"), 4);
    __atomic_add_fetch(&w->peer->generation, 1, __ATOMIC_ACQ_REL);
    assert_int_equal(pusher_flush(&pusher, why), 0);
    assert_int_equal(s_row_u64(&w->b, "a", "push_acked"), 4);
    pusher_release(&pusher);
    w->b.ctx.env = senv_system();
}

//  A raw request to A's server; returns the decoded reply (release it).
static void
s_raw(s_world_t *w, const void *data, size_t len, zmsg_t *frames, link_reply_t *reply)
{
    zsock_t *sock = zsock_new_dealer(w->serve.endpoint);
    assert_non_null(sock);
    zsock_set_rcvtimeo(sock, 5000);
    if (frames)
        assert_int_equal(zmsg_send(&frames, sock), 0);
    else
        assert_int_equal(zsock_send(sock, "b", data, len), 0);
    memset(reply, 0, sizeof *reply);
    reply->frame = zframe_recv(sock);
    assert_non_null(reply->frame);
    char why[PDB_ERRMSG_MAX];
    int rc = sync_msg_decode(zframe_data(reply->frame), zframe_size(reply->frame), &reply->msg,
                             why);
    if (rc)
        fail_msg("reply does not decode: %s", why);
    zsock_destroy(&sock);
}

static void
s_raw_msg(s_world_t *w, const sync_msg_t *msg, link_reply_t *reply)
{
    mpk_out_t out;
    mpk_out_init(&out);
    sync_msg_pack(&out.pk, msg);
    s_raw(w, out.buf.data, out.buf.size, NULL, reply);
    mpk_out_release(&out);
}

static void
s_expect_error(link_reply_t *reply, sync_err_t code, const char *words)
{
    assert_int_equal(reply->msg.op, SYNC_ERROR);
    if (reply->msg.error != code || !strstr(reply->msg.detail, words))
        fail_msg("error %s '%.*s', wanted %s '%s'", sync_msg_err_name(reply->msg.error),
                 (int) reply->msg.detail_len, reply->msg.detail, sync_msg_err_name(code), words);
    link_reply_release(reply);
}

static void
test_bad_requests_get_errors_and_change_nothing(void **state)
{
    s_world_t *w = *state;
    s_write(&w->a, NULL, "one");
    uint64_t head = s_head(&w->a);
    link_reply_t reply;
    s_raw(w, "garbage", 7, NULL, &reply);
    s_expect_error(&reply, SYNC_ERR_BAD_REQUEST, "MessagePack");
    //  [1, "hello", {}]: version 1 had sparse origin sequences
    s_raw(w, "\x93\x01\xa5hello\x80", 9, NULL, &reply);
    s_expect_error(&reply, SYNC_ERR_PROTOCOL_VERSION, "speaks 2");
    //  [3, "hello", {}]
    s_raw(w, "\x93\x03\xa5hello\x80", 9, NULL, &reply);
    s_expect_error(&reply, SYNC_ERR_PROTOCOL_VERSION, "speaks 2");
    //  A reply sent as a request.
    sync_msg_t ok = { .op = SYNC_PUSH_OK, .from = w->b.node->instance_id };
    s_raw_msg(w, &ok, &reply);
    s_expect_error(&reply, SYNC_ERR_BAD_REQUEST, "not a request");
    //  Two frames of payload.
    zmsg_t *two = zmsg_new();
    zmsg_addstr(two, "x");
    zmsg_addstr(two, "y");
    s_raw(w, NULL, 0, two, &reply);
    s_expect_error(&reply, SYNC_ERR_BAD_REQUEST, "one frame");

    //  A push naming another target: refused whole, nothing applied.
    uint8_t change[256];
    mpk_out_t out;
    mpk_out_init(&out);
    change_t c = { .seq = 1, .origin = w->b.node->instance_id, .origin_seq = 1, .hlc = 1u << 20,
                   .entity = ENT_COLLECTIVE, .op = OP_UPDATE,
                   .collective_id = w->b.node->instance_id,
                   .entity_id = w->b.node->instance_id,
                   .fields = (const uint8_t *) "\x80", .fields_len = 1 };
    change_pack(&out.pk, &c);
    assert_true(out.buf.size <= sizeof change);
    memcpy(change, out.buf.data, out.buf.size);
    sync_blob_t blob = { change, out.buf.size };
    sync_msg_t push = { .op = SYNC_PUSH, .from = w->b.node->instance_id, .has_target = true,
                        .target = w->b.node->instance_id, .changes = &blob, .changes_n = 1 };
    s_raw_msg(w, &push, &reply);
    s_expect_error(&reply, SYNC_ERR_BAD_REQUEST, "names target");
    //  Sequences that do not increase.
    sync_blob_t twice[2] = { blob, blob };
    push.target = w->a.node->instance_id;
    push.changes = twice;
    push.changes_n = 2;
    s_raw_msg(w, &push, &reply);
    s_expect_error(&reply, SYNC_ERR_BAD_REQUEST, "strictly increase");
    //  From this node itself.
    push.from = w->a.node->instance_id;
    push.changes_n = 1;
    s_raw_msg(w, &push, &reply);
    s_expect_error(&reply, SYNC_ERR_BAD_REQUEST, "this node itself");
    mpk_out_release(&out);
    assert_int_equal(s_head(&w->a), head);

    //  The server is still up: hello answers with A's identity and head.
    sync_msg_t hello = { .op = SYNC_HELLO, .from = w->b.node->instance_id, .protocol = SYNC_PROTOCOL_VERSION,
                         .has_vector = true };
    s_raw_msg(w, &hello, &reply);
    assert_int_equal(reply.msg.op, SYNC_HELLO_OK);
    assert_memory_equal(reply.msg.from.b, w->a.node->instance_id.b, PDB_ID_LEN);
    assert_int_equal(reply.msg.head, head);
    assert_int_equal(reply.msg.floor, 1);
    assert_true(reply.msg.accepted);
    assert_int_equal(reply.msg.max_batch_bytes, SERVE_MAX_BATCH_BYTES);
    link_reply_release(&reply);
}

//  Deletes A's WAL below `below` (what storage "compact" does).
static void
s_compact(s_node_t *n, uint64_t below)
{
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(n->node->store->env, NULL, 0, &txn), 0);
    for (uint64_t s = 1; s < below; s++) {
        uint8_t k[8];
        store_key_seq(k, s);
        MDB_val key = { 8, k };
        (void) mdb_del(txn, n->node->store->wal, &key, NULL);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
}

static void
test_pull_below_floor_and_too_large(void **state)
{
    s_world_t *w = *state;
    pdb_id_t c = s_write(&w->a, NULL, "x");
    s_write(&w->a, &c, "y");
    s_write(&w->a, &c, "z");
    s_compact(&w->a, 2);
    link_reply_t reply;
    sync_msg_t pull = { .op = SYNC_PULL, .from = w->b.node->instance_id, .has_target = true,
                        .target = w->a.node->instance_id, .cursor = 0, .max_changes = 10,
                        .max_bytes = 1 << 20 };
    s_raw_msg(w, &pull, &reply);
    s_expect_error(&reply, SYNC_ERR_CURSOR_BELOW_FLOOR, "below this node's WAL floor 2");
    pull.cursor = 1;
    s_raw_msg(w, &pull, &reply);
    assert_int_equal(reply.msg.op, SYNC_PULL_OK);
    assert_int_equal(reply.msg.changes_n, 2);
    assert_int_equal(reply.msg.next_cursor, 3);
    assert_false(reply.msg.has_more);
    assert_int_equal(reply.msg.head, 3);
    link_reply_release(&reply);
    pull.max_bytes = 10;
    s_raw_msg(w, &pull, &reply);
    s_expect_error(&reply, SYNC_ERR_TOO_LARGE, "over max_bytes 10");
    pull.max_changes = 0;
    s_raw_msg(w, &pull, &reply);
    s_expect_error(&reply, SYNC_ERR_BAD_REQUEST, "at least 1");
}

typedef struct {
    s_node_t *node;
    int delay_ms;
    const char *name;             // collective names are unique
} s_later_t;

static void *
s_write_later(void *arg)
{
    s_later_t *l = arg;
    usleep((useconds_t) l->delay_ms * 1000);
    sclient_t *client = sclient_new(l->node->ctx.storage_endpoint, 5000);
    mpk_out_t f;
    mpk_out_init(&f);
    mpk_pack_map(&f.pk, 2);
    mpk_pack_str(&f.pk, "name");
    mpk_pack_str(&f.pk, l->name);
    mpk_pack_str(&f.pk, "embedding_dim");
    mpk_pack_u64(&f.pk, 2);
    char why[PDB_ERRMSG_MAX];
    (void) sclient_write(client, ENT_COLLECTIVE, OP_CREATE, NULL, NULL, f.buf.data, f.buf.size,
                         NULL, NULL, why);
    mpk_out_release(&f);
    sclient_destroy(&client);
    return NULL;
}

static void
test_long_poll_answers_when_the_wal_moves(void **state)
{
    s_world_t *w = *state;
    s_write(&w->a, NULL, "first");
    link_t *link = link_new(w->serve.endpoint, NULL);
    assert_non_null(link);
    sync_msg_t pull = { .op = SYNC_PULL, .from = w->b.node->instance_id, .has_target = true,
                        .target = w->a.node->instance_id, .cursor = 1, .max_changes = 10,
                        .max_bytes = 1 << 20, .wait_ms = 20000 };
    //  Nothing new: held until a write 300 ms later, not for 20 s.
    s_later_t later = { &w->a, 300, "late-1" };
    pthread_t writer;
    assert_int_equal(pthread_create(&writer, NULL, s_write_later, &later), 0);
    uint64_t start = zclock_mono();
    link_reply_t reply;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(link_request(link, &pull, 25000, NULL, &reply, why), 0);
    uint64_t took = (uint64_t) (zclock_mono() - (int64_t) start);
    pthread_join(writer, NULL);
    assert_int_equal(reply.msg.op, SYNC_PULL_OK);
    assert_int_equal(reply.msg.changes_n, 1);
    assert_int_equal(reply.msg.next_cursor, 2);
    assert_true(took >= 250 && took < 5000);
    link_reply_release(&reply);
    //  A wait that ends with nothing new answers an empty page on time.
    pull.cursor = 2;
    pull.wait_ms = 300;
    start = zclock_mono();
    assert_int_equal(link_request(link, &pull, 5000, NULL, &reply, why), 0);
    took = (uint64_t) (zclock_mono() - (int64_t) start);
    assert_int_equal(reply.msg.changes_n, 0);
    assert_int_equal(reply.msg.next_cursor, 2);
    assert_true(took >= 250 && took < 3000);
    link_reply_release(&reply);
    //  A changes the caller already has (its vector) do not end the wait:
    //  the page comes back empty but with the cursor past them.
    vv_entry_t mine = { w->a.node->instance_id, 100 };
    pull.vector = &mine;
    pull.vector_n = 1;
    pull.has_vector = true;
    pull.wait_ms = 600;
    later.delay_ms = 100;
    later.name = "late-2";
    assert_int_equal(pthread_create(&writer, NULL, s_write_later, &later), 0);
    assert_int_equal(link_request(link, &pull, 5000, NULL, &reply, why), 0);
    pthread_join(writer, NULL);
    assert_int_equal(reply.msg.changes_n, 0);
    assert_int_equal(reply.msg.next_cursor, 3);
    link_reply_release(&reply);
    link_destroy(&link);
}


//  Writes a peer row of node n directly (what an older run left behind).
static void
s_put_row(s_node_t *n, const char *name, const char *instance, uint64_t cursor,
          const char *address)
{
    mpk_out_t out;
    mpk_out_init(&out);
    mpk_pack_map(&out.pk, address ? 4 : 3);
    mpk_pack_str(&out.pk, "instance_id");
    mpk_pack_str(&out.pk, instance);
    mpk_pack_str(&out.pk, "push_acked");
    mpk_pack_u64(&out.pk, cursor);
    mpk_pack_str(&out.pk, "pull_cursor");
    mpk_pack_u64(&out.pk, cursor);
    if (address) {
        mpk_pack_str(&out.pk, "address");
        mpk_pack_str(&out.pk, address);
    }
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(n->node->store->env, NULL, 0, &txn), 0);
    MDB_val key = { strlen(name), (void *) name }, val = { out.buf.size, out.buf.data };
    assert_int_equal(mdb_put(txn, n->node->store->peers, &key, &val, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mpk_out_release(&out);
}

static void
test_identity_change_resets_the_row_once_per_cycle(void **state)
{
    s_world_t *w = *state;
    //  B's row for "a" is bound to an instance that is gone, with cursors.
    s_put_row(&w->b, "a", "01900000-0000-7000-8000-00000000dead", 5, "tcp://kept:1");
    link_cancel_t cancel = { 0 };
    char why[PDB_ERRMSG_MAX];
    pusher_t pusher;
    assert_int_equal(pusher_init(&pusher, &w->b.ctx, w->peer, &cancel, why), 0);
    unsigned generation = w->peer->generation;
    s_write(&w->b, NULL, "after-reset");
    s_push_all(&pusher);
    //  Re-bound to A, cursors from zero (the change went out), other fields kept.
    assert_int_equal(w->peer->generation, generation + 1);
    s_assert_bound(&w->b, "a", &w->a.node->instance_id);
    prow_t row;
    assert_int_equal(prow_read(w->b.node->store, NULL, "a", &row), 0);
    const char *s;
    size_t len;
    assert_true(prow_str(&row, "address", &s, &len));
    assert_memory_equal(s, "tcp://kept:1", len);
    prow_release(&row);
    assert_int_equal(s_row_u64(&w->b, "a", "push_acked"), 1);
    assert_int_equal(s_row_u64(&w->b, "a", "pull_cursor"), 0);
    assert_int_equal(s_head(&w->a), 1);

    //  Two changes in one cycle (no exchange in between) is an error.
    s_put_row(&w->b, "a", "01900000-0000-7000-8000-00000000bee1", 0, NULL);
    pusher.conn.ready = false;
    pusher.conn.ident_changes = 1;
    uint64_t wait;
    assert_int_equal(pusher_step(&pusher, &wait, why), PDB_ECONFLICT);
    assert_non_null(strstr(why, "identity changed twice"));
    pusher_release(&pusher);
}

static void
test_initial_sync_from_a_peer_with_history(void **state)
{
    s_world_t *w = *state;
    pdb_id_t c = s_write(&w->a, NULL, "history");
    for (int i = 0; i < 4; i++)
        s_write(&w->a, &c, i % 2 ? "h-odd" : "h-even");
    s_write(&w->a, NULL, "second");
    w->b.ctx.batch_max_changes = 1;      // one entity per page
    link_cancel_t cancel = { 0 };
    char why[PDB_ERRMSG_MAX];
    puller_t puller;
    assert_int_equal(puller_init(&puller, &w->b.ctx, w->peer, &cancel, why), 0);
    uint64_t wait = 0;
    assert_int_equal(puller_step(&puller, &wait, why), 0);
    //  A new peer with history: a snapshot, page by page, each next page
    //  asked for while the last installs (here all within the first step).
    s_pull_all(&puller);
    assert_false(puller.snap.active);
    peer_counts_t counts;
    peer_counts(w->peer, &counts);
    assert_int_equal(counts.installed, 2);
    assert_int_equal(w->peer->snap_done, 2);
    assert_int_equal(w->peer->snap_total, 2);
    //  The cursor is the snapshot's seq, the vector A's as of the snapshot;
    //  later changes come by pulling.
    assert_int_equal(s_row_u64(&w->b, "a", "pull_cursor"), 6);
    assert_int_equal(s_vector(&w->b, &w->a.node->instance_id), 6);
    s_write(&w->a, &c, "after");
    s_pull_all(&puller);
    peer_counts(w->peer, &counts);
    assert_int_equal(counts.pull_applied, 1);
    assert_int_equal(s_row_u64(&w->b, "a", "pull_cursor"), 7);
    assert_int_equal(s_vector(&w->b, &w->a.node->instance_id), 7);
    puller_release(&puller);
}

//  A snapshot of some collectives only: installed, the cursor moves, but
//  the responder's vector (which covers its other collectives too) is not
//  taken, and the pulls after it are partial.
static void
test_filtered_initial_sync_takes_no_vector(void **state)
{
    s_world_t *w = *state;
    pdb_id_t c = s_write(&w->a, NULL, "kept");
    for (int i = 0; i < 3; i++)
        s_write(&w->a, &c, i % 2 ? "k-odd" : "k-even");
    s_write(&w->a, NULL, "filtered-out");
    peerspec_t spec = { .name = "a", .direction = PEERSPEC_PULL, .collectives_n = 1 };
    spec.collectives[0] = c;
    snprintf(spec.address, sizeof spec.address, "%s", w->serve.endpoint);
    peer_t *peer = peer_new(&spec, false);
    assert_non_null(peer);
    link_cancel_t cancel = { 0 };
    char why[PDB_ERRMSG_MAX];
    puller_t puller;
    assert_int_equal(puller_init(&puller, &w->b.ctx, peer, &cancel, why), 0);
    s_pull_all(&puller);
    peer_counts_t counts;
    peer_counts(peer, &counts);
    assert_int_equal(counts.installed, 1);
    assert_int_equal(s_row_u64(&w->b, "a", "pull_cursor"), 5);
    assert_int_equal(s_vector(&w->b, &w->a.node->instance_id), 0);
    s_write(&w->a, &c, "after");
    s_pull_all(&puller);
    peer_counts(peer, &counts);
    assert_int_equal(counts.pull_applied, 1);
    assert_int_equal(s_vector(&w->b, &w->a.node->instance_id), 0);
    puller_release(&puller);
    peer_destroy(&peer);
}

//  Snapshot sessions: one per caller (starting again ends the first), and
//  with every slot taken by sessions nobody reads (made-up ids cost
//  nothing), a new caller waits only SNAPSHOT_SESSION_EVICT_IDLE_MS, not the expiry.
static void
test_snapshot_sessions_are_one_per_caller_and_idle_ones_yield(void **state)
{
    s_world_t *w = *state;
    s_write(&w->a, NULL, "snap");
    snapshot_session_table_t *table = snapshot_session_table_new(w->a.node->store);
    assert_non_null(table);
    uint64_t t = 1000000;
    snapshot_session_t *s = NULL;
    pdb_id_t caller;
    for (int i = 0; i < SNAPSHOT_SESSION_MAX; i++) {
        memset(caller.b, 0x10 + i, sizeof caller.b);
        assert_int_equal(snapshot_session_open(table, &caller, NULL, 0, t + (uint64_t) i, &s), 0);
    }
    //  The last caller starts again: still one session of it.
    assert_int_equal(snapshot_session_open(table, &caller, NULL, 0, t + 100, &s), 0);
    assert_int_equal(snapshot_session_count(table), SNAPSHOT_SESSION_MAX);
    pdb_id_t late;
    memset(late.b, 0x77, sizeof late.b);
    uint64_t evict = t + SNAPSHOT_SESSION_EVICT_IDLE_MS;
    assert_int_equal(snapshot_session_open(table, &late, NULL, 0, evict - 1, &s), PDB_EFULL);
    //  The first caller starts again and reads on: it keeps its slot.
    pdb_id_t first;
    memset(first.b, 0x10, sizeof first.b);
    assert_int_equal(snapshot_session_open(table, &first, NULL, 0, evict, &s), 0);
    const char *token = snapshot_session_token(s);
    assert_non_null(snapshot_session_find(table, token, strlen(token), &first, evict + 1));
    //  Idle long enough, the second caller's session yields to the late one.
    assert_int_equal(snapshot_session_open(table, &late, NULL, 0, evict + 2, &s), 0);
    assert_int_equal(snapshot_session_count(table), SNAPSHOT_SESSION_MAX);
    assert_non_null(snapshot_session_find(table, token, strlen(token), &first, evict + 3));
    snapshot_session_table_destroy(&table);
}

static void
test_compaction_through_storage(void **state)
{
    s_world_t *w = *state;
    pdb_id_t c = s_write(&w->a, NULL, "to-compact");
    for (int i = 0; i < 9; i++)
        s_write(&w->a, &c, i % 2 ? "odd" : "even");
    //  An inbound peer that pushed here pulled through 4: it holds the WAL
    //  from 5 on. One that only pulled, under a made-up id, holds nothing.
    pdb_id_t inbound, made_up;
    memset(inbound.b, 0x42, sizeof inbound.b);
    memset(made_up.b, 0x43, sizeof made_up.b);
    char name[PROW_INBOUND_NAME_MAX], other[PROW_INBOUND_NAME_MAX];
    prow_inbound_name(&inbound, name);
    prow_inbound_name(&made_up, other);
    char why[PDB_ERRMSG_MAX];
    sops_kv_t kv[] = { SOPS_ID("instance_id", &inbound), SOPS_U("pulled_through", 4),
                       SOPS_U("last_seen_ms", clock_wall_ms()), SOPS_U("pushed", 1) };
    assert_int_equal(sops_peer_set(w->a.client, name, kv, 4, why), 0);
    sops_kv_t pulled_only[] = { SOPS_ID("instance_id", &made_up), SOPS_U("pulled_through", 1),
                                SOPS_U("last_seen_ms", clock_wall_ms()) };
    assert_int_equal(sops_peer_set(w->a.client, other, pulled_only, 3, why), 0);
    compact_opts_t opts = { .ctx = &w->a.ctx, .peer_expiry_ms = 60000,
                            .tombstone_ttl_ms = 120000, .started_wall_ms = clock_wall_ms() };
    compact_result_t r;
    assert_int_equal(compact_run(&opts, w->a.client, &r, why), 0);
    assert_int_equal(r.below, 5);
    assert_int_equal(r.removed, 4);
    assert_int_equal(r.floor, 5);
    assert_int_equal(r.live, 1);
    //  Again: nothing more to do.
    assert_int_equal(compact_run(&opts, w->a.client, &r, why), 0);
    assert_int_equal(r.removed, 0);
    //  Once that peer is gone (expired), nobody needs the WAL.
    assert_int_equal(sops_peer_del(w->a.client, name, why), 0);
    assert_int_equal(compact_run(&opts, w->a.client, &r, why), 0);
    assert_int_equal(r.below, 11);
    assert_int_equal(r.removed, 6);
    assert_int_equal(r.floor, 11);
    assert_int_equal(s_head(&w->a), 10);
    //  A puller still at the old position now has to start over.
    link_reply_t reply;
    sync_msg_t pull = { .op = SYNC_PULL, .from = w->b.node->instance_id, .has_target = true,
                        .target = w->a.node->instance_id, .cursor = 4, .max_changes = 10,
                        .max_bytes = 1 << 20 };
    s_raw_msg(w, &pull, &reply);
    s_expect_error(&reply, SYNC_ERR_CURSOR_BELOW_FLOOR, "floor 11");
}

//  The bytes of WAL entry seq of node n (copied into out, at most cap).
static size_t
s_wal_entry(s_node_t *n, uint64_t seq, uint8_t *out, size_t cap)
{
    MDB_txn *txn;
    assert_int_equal(store_read_begin(n->node->store, &txn), 0);
    uint8_t k[8];
    store_key_seq(k, seq);
    MDB_val key = { 8, k }, val;
    assert_int_equal(mdb_get(txn, n->node->store->wal, &key, &val), 0);
    assert_true(val.mv_size <= cap);
    memcpy(out, val.mv_data, val.mv_size);
    mdb_txn_abort(txn);
    return val.mv_size;
}

static void
test_push_waiting_on_storage_does_not_block_other_peers(void **state)
{
    s_world_t *w = *state;
    s_write(&w->b, NULL, "held");
    uint8_t change[4096];
    sync_blob_t blob = { change, s_wal_entry(&w->b, 1, change, sizeof change) };
    //  Storage of A is held: its next commit waits for this write lock, so
    //  the push's apply cannot finish until the test lets it.
    MDB_txn *hold;
    assert_int_equal(mdb_txn_begin(w->a.node->store->env, NULL, 0, &hold), 0);
    mpk_out_t out;
    mpk_out_init(&out);
    sync_msg_t push = { .op = SYNC_PUSH, .from = w->b.node->instance_id, .has_target = true,
                        .target = w->a.node->instance_id, .changes = &blob, .changes_n = 1 };
    sync_msg_pack(&out.pk, &push);
    zsock_t *pusher = zsock_new_dealer(w->serve.endpoint);
    assert_non_null(pusher);
    assert_int_equal(zsock_send(pusher, "b", out.buf.data, out.buf.size), 0);
    mpk_out_release(&out);
    //  Another peer says hello and pulls: both are answered meanwhile.
    pdb_id_t other;
    assert_int_equal(pdb_id_new(&other, clock_wall_ms()), 0);
    link_reply_t reply;
    sync_msg_t hello = { .op = SYNC_HELLO, .from = other, .protocol = SYNC_PROTOCOL_VERSION, .has_vector = true };
    s_raw_msg(w, &hello, &reply);
    assert_int_equal(reply.msg.op, SYNC_HELLO_OK);
    link_reply_release(&reply);
    sync_msg_t pull = { .op = SYNC_PULL, .from = other, .has_target = true,
                        .target = w->a.node->instance_id, .max_changes = 10,
                        .max_bytes = 1 << 20 };
    s_raw_msg(w, &pull, &reply);
    assert_int_equal(reply.msg.op, SYNC_PULL_OK);
    link_reply_release(&reply);
    //  The push is still waiting: storage cannot have answered it.
    assert_false(zsock_events(pusher) & ZMQ_POLLIN);
    mdb_txn_abort(hold);
    //  Let go, storage applies it and the push is answered.
    zsock_set_rcvtimeo(pusher, 10000);
    memset(&reply, 0, sizeof reply);
    reply.frame = zframe_recv(pusher);
    assert_non_null(reply.frame);
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(sync_msg_decode(zframe_data(reply.frame), zframe_size(reply.frame),
                                     &reply.msg, why), 0);
    assert_int_equal(reply.msg.op, SYNC_PUSH_OK);
    assert_int_equal(reply.msg.accepted_n, 1);
    assert_int_equal(reply.msg.safe_through, 1);
    link_reply_release(&reply);
    zsock_destroy(&pusher);
    assert_int_equal(s_head(&w->a), 1);
}

static void
test_pusher_fails_cleanly_when_the_peer_is_down(void **state)
{
    s_world_t *w = *state;
    peerspec_t spec = { .name = "nobody", .address = "tcp://127.0.0.1:1",
                        .direction = PEERSPEC_BOTH };
    peer_t *peer = peer_new(&spec, false);
    link_cancel_t cancel = { 0 };
    char why[PDB_ERRMSG_MAX];
    pusher_t pusher;
    assert_int_equal(pusher_init(&pusher, &w->b.ctx, peer, &cancel, why), 0);
    uint64_t wait;
    //  Nothing to send: no lag.
    assert_int_equal(pusher_step(&pusher, &wait, why), PDB_EUNAVAIL);
    assert_int_equal(peer_oldest(peer, PEER_PUSH), 0);
    //  A change it has never had: its age is the push lag, though the peer
    //  was never reached (no batch was read).
    uint64_t before = clock_wall_ms();
    s_write(&w->b, NULL, "pending");
    assert_int_equal(pusher_step(&pusher, &wait, why), PDB_EUNAVAIL);
    assert_non_null(strstr(why, "not reachable"));
    uint64_t oldest = peer_oldest(peer, PEER_PUSH);
    assert_true(oldest >= before && oldest <= clock_wall_ms());
    for (int i = 0; i < PEER_DEGRADED_AFTER; i++)
        peer_note_failure(peer, PEER_PUSH, why, clock_wall_ms());
    assert_int_equal(peer_state(peer), PEER_DEGRADED);
    //  A stop request ends a wait at once.
    volatile sig_atomic_t stop = 1;
    cancel.stop = &stop;
    assert_int_equal(pusher_step(&pusher, &wait, why), -ECANCELED);
    pusher_release(&pusher);
    peer_destroy(&peer);
}

int
main(void)
{
    zsys_handler_set(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_push_and_pull_converge_without_echo, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_filtered_push_and_pull_are_partial, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests_get_errors_and_change_nothing,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_pull_below_floor_and_too_large, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_long_poll_answers_when_the_wal_moves, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(
            test_pusher_writes_push_acked_lazily_and_never_past_the_ack, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_identity_change_resets_the_row_once_per_cycle,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_initial_sync_from_a_peer_with_history, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_filtered_initial_sync_takes_no_vector, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_sessions_are_one_per_caller_and_idle_ones_yield,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_compaction_through_storage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_push_waiting_on_storage_does_not_block_other_peers,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_pusher_fails_cleanly_when_the_peer_is_down,
                                        s_setup, s_teardown),
    };
    int rc = cmocka_run_group_tests_name("syncer_server", tests, NULL, NULL);
    zsys_shutdown();
    return rc;
}
