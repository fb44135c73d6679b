/*  test_syncer_zap.c - the sync socket's ZAP handler over real CURVE
    sockets: a configured peer's key gets in and is named as User-Id; an
    unknown key, or none, does not get in, and the refusal is counted. */
#include "zap.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <czmq.h>
#include <string.h>

#define WAIT_MS 2000       // generous: a refused handshake shows as silence

typedef struct {
    zap_t *zap;
    zcert_t *server_cert;
    zsock_t *server;
    int port;
} s_fixture_t;

static int
s_setup(void **state)
{
    s_fixture_t *f = calloc(1, sizeof *f);
    f->zap = zap_new();
    assert_non_null(f->zap);
    f->server_cert = zcert_new();
    f->server = zsock_new(ZMQ_ROUTER);
    zcert_apply(f->server_cert, f->server);
    zsock_set_curve_server(f->server, 1);
    zsock_set_zap_domain(f->server, ZAP_DOMAIN);
    zsock_set_rcvtimeo(f->server, WAIT_MS);
    f->port = zsock_bind(f->server, "tcp://127.0.0.1:*");
    assert_true(f->port > 0);
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    s_fixture_t *f = *state;
    zsock_destroy(&f->server);
    zcert_destroy(&f->server_cert);
    zap_destroy(&f->zap);
    free(f);
    return 0;
}

//  A client with `cert` sends "hi"; returns the User-Id the server saw, or
//  NULL when nothing arrived (caller frees).
static char *
s_send_as(s_fixture_t *f, zcert_t *cert)
{
    zsock_t *client = zsock_new(ZMQ_DEALER);
    zsock_set_linger(client, 0);
    if (cert) {
        zcert_apply(cert, client);
        zsock_set_curve_serverkey(client, zcert_public_txt(f->server_cert));
    }
    assert_int_equal(zsock_connect(client, "tcp://127.0.0.1:%d", f->port), 0);
    assert_int_equal(zstr_send(client, "hi"), 0);
    char *user = NULL;
    zmsg_t *msg = zmsg_recv(f->server);
    if (msg) {
        zframe_t *body = zmsg_last(msg);
        const char *meta = zframe_meta(body, "User-Id");
        user = strdup(meta ? meta : "");
        zmsg_destroy(&msg);
    }
    zsock_destroy(&client);
    return user;
}

static void
test_zap_admits_configured_keys_and_names_the_peer(void **state)
{
    s_fixture_t *f = *state;
    zcert_t *beta = zcert_new(), *stranger = zcert_new();
    peerspec_t peers[2];
    memset(peers, 0, sizeof peers);
    snprintf(peers[0].name, sizeof peers[0].name, "beta");
    snprintf(peers[0].public_key, sizeof peers[0].public_key, "%s", zcert_public_txt(beta));
    snprintf(peers[1].name, sizeof peers[1].name, "keyless");
    assert_int_equal(zap_set_peers(f->zap, peers, 2), 0);

    char *user = s_send_as(f, beta);
    assert_non_null(user);
    assert_string_equal(user, "beta");
    free(user);

    zap_refusals_t r;
    zap_refusals(f->zap, &r);
    assert_int_equal(r.count, 0);
    assert_null(s_send_as(f, stranger));
    zap_refusals(f->zap, &r);
    assert_int_equal(r.count, 1);
    assert_string_equal(r.last_key, zcert_public_txt(stranger));
    assert_string_equal(r.last_address, "127.0.0.1");
    assert_true(r.last_ms > 0);

    //  Without CURVE at all the server refuses the handshake.
    assert_null(s_send_as(f, NULL));

    //  A peer removed from the configuration is refused from then on.
    assert_int_equal(zap_set_peers(f->zap, peers + 1, 1), 0);
    assert_null(s_send_as(f, beta));
    zap_refusals(f->zap, &r);
    assert_int_equal(r.count, 2);
    zcert_destroy(&beta);
    zcert_destroy(&stranger);
}

int
main(void)
{
    zsys_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_zap_admits_configured_keys_and_names_the_peer,
                                        s_setup, s_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    zsys_shutdown();
    return rc;
}
