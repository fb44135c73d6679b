/*  test_smux.c - the gateway's multiplexed storage writes (smux.h) against
    a real storage server (server.h, on a thread) over real ZeroMQ sockets:
    many callers at once each get their own answer, refusals included, and
    every write is in the store once; a create's record comes back; and a
    storage that never answers, is not there or goes away fails each caller
    with 503's code within its bound, after which writes work again.
*/
#include "err.h"
#include "server.h"
#include "service.h"
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
    s_open(&s);
    zsock_t *silent = zsock_new_router(s.endpoint);
    assert_non_null(silent);
    smux_t *mux = smux_new(s.endpoint, SHORT_MS, NULL);
    assert_non_null(mux);
    s_timed_t out[4];
    s_write_four(mux, out);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(out[i].rc, PDB_EUNAVAIL);
        assert_non_null(strstr(out[i].why, "did not answer within 300 ms"));
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
    char dir[TESTKIT_DIR_MAX];
    testkit_mkdir(dir, "smux_absent");
    char endpoint[TESTKIT_DIR_MAX + 32];
    snprintf(endpoint, sizeof endpoint, "ipc://%s/%s", dir, SPROTO_SOCKET);
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
    s_open(&s);
    zsock_t *doomed = zsock_new_router(s.endpoint);
    assert_non_null(doomed);
    smux_t *mux = smux_new(s.endpoint, WAIT_MS * 4, NULL);
    assert_non_null(mux);
    s_timed_t out;
    pthread_t thread;
    out = (s_timed_t) { .mux = mux };
    assert_int_equal(pthread_create(&thread, NULL, s_write_timed, &out), 0);
    zmsg_t *request = zmsg_recv(doomed);          // it arrived, and will not be answered
    assert_non_null(request);
    zmsg_destroy(&request);
    zsock_destroy(&doomed);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(out.rc, PDB_EUNAVAIL);
    assert_string_equal(out.why, "storage went away before answering");
    assert_true(out.took_ms < WAIT_MS * 4);
    smux_destroy(&mux);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
