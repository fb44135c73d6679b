/*  test_writers.c - the gateway's storage writers against a real storage
    server (server.h, on a thread) over real ZeroMQ sockets: smux.h, whose
    callers block, and amux.h, driven here as the network thread drives it.
    Many writes at once each get their own answer, refusals included, and
    every write is in the store once; a create's record comes back; and a
    storage that never answers, is not there or goes away fails each write
    with 503's code within its bound, after which writes work again.
*/
#include "err.h"
#include "server.h"
#include "service.h"
#include "amux.h"
#include "smux.h"
#include "sproto.h"
#include "sync_fixture.h"

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

#define WAIT_MS 5000            // generous bound on a reply that must come
#define SHORT_MS 300            // the timeout under test
#define CALLERS 16
#define WRITES_EACH 50

typedef struct {
    fx_node_t n;
    server_t *server;
    pthread_t thread;
    volatile sig_atomic_t stop;
    char endpoint[TESTKIT_DIR_MAX + 32];
} s_srv_t;

static void *
s_serve(void *arg)
{
    s_srv_t *s = arg;
    (void) server_run(s->server, &s->stop);
    return NULL;
}

//  Storage serving the node open in s->n.
static void
s_serve_node(s_srv_t *s)
{
    static const server_opts_t opts = { .max_requests = 64, .max_bytes = 4u << 20 };
    s->server = server_new(s->n.node, &opts);
    assert_non_null(s->server);
    s->stop = 0;
    assert_int_equal(pthread_create(&s->thread, NULL, s_serve, s), 0);
}

//  A node in a temporary folder and its storage endpoint, not served yet.
static void
s_open(s_srv_t *s)
{
    memset(s, 0, sizeof *s);
    fx_open(&s->n);
    snprintf(s->endpoint, sizeof s->endpoint, "ipc://%s/%s", s->n.dir, SPROTO_SOCKET);
}

static void
s_start(s_srv_t *s)
{
    s_open(s);
    s_serve_node(s);
}

static void
s_stop(s_srv_t *s)
{
    s->stop = 1;
    assert_int_equal(pthread_join(s->thread, NULL), 0);
    server_destroy(&s->server);
    fx_close(&s->n);
}

//  A "storage" at s's endpoint that takes requests and never answers.
static zsock_t *
s_open_silent(s_srv_t *s)
{
    s_open(s);
    zsock_t *silent = zsock_new_router(s->endpoint);
    assert_non_null(silent);
    return silent;
}

//  Takes the request that reached *doomed, then goes away unanswering.
static void
s_take_and_vanish(zsock_t **doomed)
{
    zmsg_t *request = zmsg_recv(*doomed);
    assert_non_null(request);
    zmsg_destroy(&request);
    zsock_destroy(doomed);
}

//  A storage endpoint in a fresh folder where no storage listens.
static void
s_absent_endpoint(char dir[TESTKIT_DIR_MAX], char endpoint[TESTKIT_DIR_MAX + 32],
                  const char *name)
{
    testkit_mkdir(dir, name);
    snprintf(endpoint, TESTKIT_DIR_MAX + 32, "ipc://%s/%s", dir, SPROTO_SOCKET);
}

//  A collective create through the mux: storage's rc.
static int
s_create(smux_t *mux, const char *name, pdb_id_t *id, char why[PDB_ERRMSG_MAX])
{
    mpk_out_t f;
    fx_fields_new(&f, 2);
    fx_kv_str(&f.pk, "name", name);
    fx_kv_u64(&f.pk, "embedding_dim", FX_DIM1);
    int rc = smux_write(mux, ENT_COLLECTIVE, OP_CREATE, NULL, NULL, f.buf.data, f.buf.size, id,
                        NULL, why);
    mpk_out_release(&f);
    return rc;
}

//  --------------------------------------------------------------------------

typedef struct {
    smux_t *mux;
    int caller;
    pdb_id_t ids[WRITES_EACH];
    int rc[WRITES_EACH];
    int conflict_rc;
    char conflict_why[PDB_ERRMSG_MAX];
} s_caller_t;

static void *
s_write_many(void *arg)
{
    s_caller_t *c = arg;
    char name[32], why[PDB_ERRMSG_MAX];
    for (int i = 0; i < WRITES_EACH; i++) {
        snprintf(name, sizeof name, "c%02d-%03d", c->caller, i);
        c->rc[i] = s_create(c->mux, name, &c->ids[i], why);
        if (i == WRITES_EACH / 2)       // a name this caller took: refused alone
            c->conflict_rc = s_create(c->mux, name, NULL, c->conflict_why);
    }
    return NULL;
}

static int
s_id_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(pdb_id_t));
}

//  Sixteen callers at once: each write gets its own answer (a refused one
//  too, while the writes around it commit), every id is new, and the log
//  holds each write once.
static void
test_smux_many_callers_each_get_their_answer(void **state)
{
    (void) state;
    s_srv_t s;
    s_start(&s);
    uint64_t head = fx_head(&s.n);
    smux_t *mux = smux_new(s.endpoint, WAIT_MS, NULL);
    assert_non_null(mux);
    static s_caller_t callers[CALLERS];
    pthread_t threads[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        callers[i] = (s_caller_t) { .mux = mux, .caller = i };
        assert_int_equal(pthread_create(&threads[i], NULL, s_write_many, &callers[i]), 0);
    }
    static pdb_id_t all[CALLERS * WRITES_EACH];
    size_t n = 0;
    for (int i = 0; i < CALLERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        for (int k = 0; k < WRITES_EACH; k++) {
            assert_int_equal(callers[i].rc[k], 0);
            all[n++] = callers[i].ids[k];
        }
        assert_int_equal(callers[i].conflict_rc, PDB_ECONFLICT);
        assert_non_null(strstr(callers[i].conflict_why, "already"));
    }
    qsort(all, n, sizeof all[0], s_id_cmp);
    for (size_t i = 1; i < n; i++)
        assert_true(memcmp(&all[i - 1], &all[i], sizeof all[0]) != 0);
    assert_int_equal(fx_head(&s.n), head + CALLERS * WRITES_EACH);
    uint64_t requests, messages;
    smux_counts(mux, &requests, &messages);
    assert_int_equal(requests, CALLERS * (WRITES_EACH + 1));
    assert_true(messages >= requests / SPROTO_FRAMES_MAX && messages <= requests);
    smux_destroy(&mux);
    assert_null(mux);
    s_stop(&s);
}

//  A create asking for its record gets it, as storage stored it.
static void
test_smux_create_returns_the_record(void **state)
{
    (void) state;
    s_srv_t s;
    s_start(&s);
    smux_t *mux = smux_new(s.endpoint, WAIT_MS, NULL);
    assert_non_null(mux);
    mpk_out_t f;
    fx_fields_new(&f, 2);
    fx_kv_str(&f.pk, "name", "with-record");
    fx_kv_u64(&f.pk, "embedding_dim", FX_DIM1);
    pdb_id_t id;
    void *record = NULL;
    size_t len = 0;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(smux_create(mux, ENT_COLLECTIVE, NULL, f.buf.data, f.buf.size, &id, &record,
                                 &len, why), 0);
    mpk_out_release(&f);
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(record, len, &u), 0);
    const msgpack_object *name = mpk_map_get(&u.data, "name");
    const char *text;
    size_t text_len;
    assert_non_null(name);
    assert_int_equal(mpk_get_str(name, &text, &text_len), 0);
    assert_int_equal(text_len, strlen("with-record"));
    assert_memory_equal(text, "with-record", text_len);
    msgpack_unpacked_destroy(&u);
    free(record);
    smux_destroy(&mux);
    s_stop(&s);
}

typedef struct {
    smux_t *mux;
    int rc;
    char why[PDB_ERRMSG_MAX];
    int64_t took_ms;
} s_timed_t;

static void *
s_write_timed(void *arg)
{
    s_timed_t *t = arg;
    int64_t start = zclock_mono();
    char name[32];
    snprintf(name, sizeof name, "t-%p", arg);
    t->rc = s_create(t->mux, name, NULL, t->why);
    t->took_ms = zclock_mono() - start;
    return NULL;
}

//  Four callers at once against the mux; each must be answered.
static void
s_write_four(smux_t *mux, s_timed_t out[4])
{
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        out[i] = (s_timed_t) { .mux = mux };
        assert_int_equal(pthread_create(&threads[i], NULL, s_write_timed, &out[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
}

//  A storage that takes requests and never answers: every caller fails
//  with PDB_EUNAVAIL once its timeout is up, not later; then a real
//  storage on the same socket answers the next write.
static void
test_smux_silent_storage_times_out_then_recovers(void **state)
{
    (void) state;
    s_srv_t s;
    zsock_t *silent = s_open_silent(&s);
    smux_t *mux = smux_new(s.endpoint, SHORT_MS, NULL);
    assert_non_null(mux);
    s_timed_t out[4];
    s_write_four(mux, out);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(out[i].rc, PDB_EUNAVAIL);
        //  Sent and not answered, or, queued behind one, never sent.
        assert_true(strstr(out[i].why, "did not answer within 300 ms")
                    || strstr(out[i].why, "was not free within 300 ms"));
        //  Its own timeout, from its call, even behind the others.
        assert_true(out[i].took_ms >= SHORT_MS - 10);
        assert_true(out[i].took_ms < 2 * SHORT_MS);
    }
    zsock_destroy(&silent);
    s_serve_node(&s);
    char why[PDB_ERRMSG_MAX], name[32];
    int rc = PDB_EUNAVAIL;
    for (int i = 0; i < 50 && rc == PDB_EUNAVAIL; i++) {   // until the DEALER reconnects
        snprintf(name, sizeof name, "after-%d", i);
        rc = s_create(mux, name, NULL, why);
    }
    assert_int_equal(rc, 0);
    smux_destroy(&mux);
    s_stop(&s);
}

//  No storage at all: a caller hears so within the connect wait, not its
//  whole timeout.
static void
test_smux_absent_storage_fails_fast(void **state)
{
    (void) state;
    char dir[TESTKIT_DIR_MAX], endpoint[TESTKIT_DIR_MAX + 32];
    s_absent_endpoint(dir, endpoint, "smux_absent");
    smux_t *mux = smux_new(endpoint, WAIT_MS * 2, NULL);
    assert_non_null(mux);
    s_timed_t out[4];
    s_write_four(mux, out);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(out[i].rc, PDB_EUNAVAIL);
        assert_string_equal(out[i].why, "storage is not reachable");
        assert_true(out[i].took_ms < WAIT_MS);
    }
    smux_destroy(&mux);
    testkit_rmdir(dir);
}

//  A storage that goes away with requests unanswered: their callers hear
//  it at once, well before the timeout.
static void
test_smux_storage_gone_fails_at_once(void **state)
{
    (void) state;
    s_srv_t s;
    zsock_t *doomed = s_open_silent(&s);
    smux_t *mux = smux_new(s.endpoint, WAIT_MS * 4, NULL);
    assert_non_null(mux);
    s_timed_t out;
    pthread_t thread;
    out = (s_timed_t) { .mux = mux };
    assert_int_equal(pthread_create(&thread, NULL, s_write_timed, &out), 0);
    s_take_and_vanish(&doomed);                  // it arrived, and will not be answered
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(out.rc, PDB_EUNAVAIL);
    assert_string_equal(out.why, "storage went away before answering");
    assert_true(out.took_ms < WAIT_MS * 4);
    smux_destroy(&mux);
    fx_close(&s.n);
}

//  --------------------------------------------------------------------------
//  amux: driven as the network thread drives it

typedef struct {
    bool done;
    int rc;
    char why[PDB_ERRMSG_MAX];
    pdb_id_t id;
    int64_t start, took_ms;
} s_result_t;

static void
s_result_done(void *arg, int rc, const msgpack_object *reply, const char *why)
{
    s_result_t *r = arg;
    assert_false(r->done);          // exactly once
    r->done = true;
    r->rc = rc;
    snprintf(r->why, sizeof r->why, "%s", why);
    void *record = NULL;
    size_t record_len = 0;
    if (!rc)                        // a create's answer carries its record
        r->rc = sclient_read_id_seq(reply, &r->id, NULL, &record, &record_len, r->why);
    free(record);
    r->took_ms = zclock_mono() - r->start;
}

//  Queues a collective create; its callback must not have run yet.
static void
s_queue_create(amux_t *mux, const char *name, s_result_t *r)
{
    mpk_out_t f;
    fx_fields_new(&f, 2);
    fx_kv_str(&f.pk, "name", name);
    fx_kv_u64(&f.pk, "embedding_dim", FX_DIM1);
    *r = (s_result_t) { .start = zclock_mono() };
    assert_int_equal(amux_create(mux, ENT_COLLECTIVE, NULL, f.buf.data, f.buf.size,
                                 s_result_done, r), 0);
    mpk_out_release(&f);
    assert_false(r->done);
}

//  The network thread's part, until every result is in or limit_ms passed.
static void
s_loop_until_done(amux_t *mux, s_result_t *results, size_t n, int limit_ms)
{
    int64_t end = zclock_mono() + limit_ms;
    while (zclock_mono() < end) {
        size_t left = 0;
        for (size_t i = 0; i < n; i++)
            left += !results[i].done;
        if (!left)
            return;
        zmq_pollitem_t items[SLINK_POLL_ITEMS];
        long timeout = 50;
        int k = amux_poll_items(mux, items, &timeout);
        if (k > 0)
            assert_true(zmq_poll(items, k, timeout) >= 0 || zmq_errno() == EINTR);
        else
            zclock_sleep((int) timeout);
        amux_poll_done(mux, items, k);
    }
}

#define AMUX_WRITES 200

//  Writes queued together leave together (SPROTO_FRAMES_MAX to a message)
//  and each gets its own answer: a refused one too, amid writes that commit.
static void
test_amux_queued_writes_leave_together_each_answered(void **state)
{
    (void) state;
    s_srv_t s;
    s_start(&s);
    uint64_t head = fx_head(&s.n);
    amux_t *mux = amux_new(s.endpoint, WAIT_MS, NULL);
    assert_non_null(mux);
    static s_result_t results[AMUX_WRITES + 1];
    char name[32];
    for (int i = 0; i < AMUX_WRITES; i++) {
        snprintf(name, sizeof name, "a-%03d", i);
        s_queue_create(mux, name, &results[i]);
    }
    s_queue_create(mux, "a-007", &results[AMUX_WRITES]);      // a name taken just before
    assert_true(amux_busy(mux));
    s_loop_until_done(mux, results, AMUX_WRITES + 1, WAIT_MS);
    static pdb_id_t all[AMUX_WRITES];
    for (int i = 0; i < AMUX_WRITES; i++) {
        assert_true(results[i].done);
        assert_int_equal(results[i].rc, 0);
        all[i] = results[i].id;
    }
    assert_int_equal(results[AMUX_WRITES].rc, PDB_ECONFLICT);
    assert_non_null(strstr(results[AMUX_WRITES].why, "already"));
    qsort(all, AMUX_WRITES, sizeof all[0], s_id_cmp);
    for (size_t i = 1; i < AMUX_WRITES; i++)
        assert_true(memcmp(&all[i - 1], &all[i], sizeof all[0]) != 0);
    assert_int_equal(fx_head(&s.n), head + AMUX_WRITES);
    assert_false(amux_busy(mux));
    uint64_t requests, messages;
    amux_counts(mux, &requests, &messages);
    assert_int_equal(requests, AMUX_WRITES + 1);
    assert_int_equal(messages, (AMUX_WRITES + 1 + SPROTO_FRAMES_MAX - 1) / SPROTO_FRAMES_MAX);
    amux_destroy(&mux);
    assert_null(mux);
    s_stop(&s);
}

//  A storage that takes writes and never answers: each fails with
//  PDB_EUNAVAIL once its timeout is up; then a real storage on the same
//  socket answers the next.
static void
test_amux_silent_storage_times_out_then_recovers(void **state)
{
    (void) state;
    s_srv_t s;
    zsock_t *silent = s_open_silent(&s);
    amux_t *mux = amux_new(s.endpoint, SHORT_MS, NULL);
    assert_non_null(mux);
    s_result_t out[4];
    char name[32];
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "silent-%d", i);
        s_queue_create(mux, name, &out[i]);
    }
    s_loop_until_done(mux, out, 4, WAIT_MS);
    for (int i = 0; i < 4; i++) {
        assert_true(out[i].done);
        assert_int_equal(out[i].rc, PDB_EUNAVAIL);
        assert_non_null(strstr(out[i].why, "did not answer within 300 ms"));
        assert_true(out[i].took_ms >= SHORT_MS - 10);
        assert_true(out[i].took_ms < 2 * SHORT_MS);
    }
    zsock_destroy(&silent);
    s_serve_node(&s);
    s_result_t after = { .rc = PDB_EUNAVAIL };
    for (int i = 0; i < 50 && after.rc == PDB_EUNAVAIL; i++) {   // until the DEALER reconnects
        snprintf(name, sizeof name, "after-%d", i);
        s_queue_create(mux, name, &after);
        s_loop_until_done(mux, &after, 1, WAIT_MS);
    }
    assert_int_equal(after.rc, 0);
    amux_destroy(&mux);
    s_stop(&s);
}

//  A write that waited out its timeout for storage to come up fails when it
//  does, without being sent: its caller was told it failed, so storage
//  must never commit it.
static void
test_amux_write_past_its_timeout_is_never_sent(void **state)
{
    (void) state;
    s_srv_t s;
    s_open(&s);                      // the node, not served yet
    uint64_t head = fx_head(&s.n);
    amux_t *mux = amux_new(s.endpoint, SHORT_MS, NULL);
    assert_non_null(mux);
    s_result_t late;
    s_queue_create(mux, "late", &late);
    s_loop_until_done(mux, &late, 1, SHORT_MS + 200);
    assert_false(late.done);         // still waiting for storage to connect
    s_serve_node(&s);
    s_loop_until_done(mux, &late, 1, WAIT_MS);
    assert_true(late.done);
    assert_int_equal(late.rc, PDB_EUNAVAIL);
    assert_non_null(strstr(late.why, "not free within 300 ms"));
    assert_true(late.took_ms < SCLIENT_CONNECT_WAIT_MS);    // failed on connect, not at the wait's end
    s_result_t next;                 // the link is fine: the next write commits
    s_queue_create(mux, "next", &next);
    s_loop_until_done(mux, &next, 1, WAIT_MS);
    assert_int_equal(next.rc, 0);
    assert_int_equal(fx_head(&s.n), head + 1);
    amux_destroy(&mux);
    s_stop(&s);
}

//  No storage at all: writes wait for it SCLIENT_CONNECT_WAIT_MS, not their
//  whole timeout, and never block the thread meanwhile.
static void
test_amux_absent_storage_fails_after_the_connect_wait(void **state)
{
    (void) state;
    char dir[TESTKIT_DIR_MAX], endpoint[TESTKIT_DIR_MAX + 32];
    s_absent_endpoint(dir, endpoint, "amux_absent");
    amux_t *mux = amux_new(endpoint, WAIT_MS * 2, NULL);
    assert_non_null(mux);
    s_result_t out[2];
    s_queue_create(mux, "nowhere-0", &out[0]);
    s_queue_create(mux, "nowhere-1", &out[1]);
    zmq_pollitem_t items[SLINK_POLL_ITEMS];
    long timeout = WAIT_MS;
    int64_t before = zclock_mono();
    (void) amux_poll_items(mux, items, &timeout);
    assert_true(zclock_mono() - before < 100);       // it did not wait for storage
    assert_true(timeout <= SCLIENT_CONNECT_WAIT_MS);
    s_loop_until_done(mux, out, 2, WAIT_MS);
    for (int i = 0; i < 2; i++) {
        assert_true(out[i].done);
        assert_int_equal(out[i].rc, PDB_EUNAVAIL);
        assert_string_equal(out[i].why, "storage is not reachable");
        assert_true(out[i].took_ms >= SCLIENT_CONNECT_WAIT_MS - 10);
        assert_true(out[i].took_ms < WAIT_MS);
    }
    amux_destroy(&mux);
    testkit_rmdir(dir);
}

//  A storage that goes away with writes unanswered: they fail at once, well
//  before the timeout; writes still queued when the mux is destroyed hear
//  that the server is stopping.
static void
test_amux_storage_gone_fails_at_once(void **state)
{
    (void) state;
    s_srv_t s;
    zsock_t *doomed = s_open_silent(&s);
    amux_t *mux = amux_new(s.endpoint, WAIT_MS * 4, NULL);
    assert_non_null(mux);
    s_result_t out;
    s_queue_create(mux, "doomed", &out);
    zmq_pollitem_t items[SLINK_POLL_ITEMS];
    for (int i = 0; i < 100 && amux_busy(mux)
                            && !(zsock_events(doomed) & ZMQ_POLLIN); i++) {
        long timeout = 10;
        int k = amux_poll_items(mux, items, &timeout);
        if (k > 0)
            (void) zmq_poll(items, k, timeout);
        amux_poll_done(mux, items, k);
    }
    s_take_and_vanish(&doomed);                  // it arrived, and will not be answered
    s_loop_until_done(mux, &out, 1, WAIT_MS * 4);
    assert_true(out.done);
    assert_int_equal(out.rc, PDB_EUNAVAIL);
    assert_string_equal(out.why, "storage went away before answering");
    assert_true(out.took_ms < WAIT_MS * 4);
    s_result_t left;
    s_queue_create(mux, "never-sent", &left);
    amux_destroy(&mux);
    assert_true(left.done);
    assert_int_equal(left.rc, PDB_EUNAVAIL);
    assert_string_equal(left.why, "the server is stopping");
    fx_close(&s.n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smux_many_callers_each_get_their_answer),
        cmocka_unit_test(test_smux_create_returns_the_record),
        cmocka_unit_test(test_smux_silent_storage_times_out_then_recovers),
        cmocka_unit_test(test_smux_absent_storage_fails_fast),
        cmocka_unit_test(test_smux_storage_gone_fails_at_once),
        cmocka_unit_test(test_amux_queued_writes_leave_together_each_answered),
        cmocka_unit_test(test_amux_silent_storage_times_out_then_recovers),
        cmocka_unit_test(test_amux_write_past_its_timeout_is_never_sent),
        cmocka_unit_test(test_amux_absent_storage_fails_after_the_connect_wait),
        cmocka_unit_test(test_amux_storage_gone_fails_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
