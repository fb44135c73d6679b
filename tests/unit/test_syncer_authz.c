/*  test_syncer_authz.c - what the serving node lets each peer do. */
#include "authz.h"
#include "testkit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

static authz_t *
s_authz(void)
{
    peerspec_t peers[3];
    memset(peers, 0, sizeof peers);
    snprintf(peers[0].name, sizeof peers[0].name, "both-all");
    snprintf(peers[1].name, sizeof peers[1].name, "we-push");
    peers[1].direction = PEERSPEC_PUSH;
    snprintf(peers[2].name, sizeof peers[2].name, "we-pull-x");
    peers[2].direction = PEERSPEC_PULL;
    peers[2].collectives_n = 1;
    peers[2].collectives[0] = testkit_id(0x11);
    authz_t *a = authz_new();
    assert_non_null(a);
    assert_int_equal(authz_set_peers(a, peers, 3), 0);
    return a;
}

static void
test_authz_directions(void **state)
{
    (void) state;
    authz_t *a = s_authz();
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(authz_read(a, "both-all", NULL, 0, why), AUTHZ_OK);
    assert_int_equal(authz_push(a, "both-all", why), AUTHZ_OK);
    //  We only push to it: it may read from us, not write.
    assert_int_equal(authz_read(a, "we-push", NULL, 0, why), AUTHZ_OK);
    assert_int_equal(authz_push(a, "we-push", why), AUTHZ_FORBIDDEN);
    assert_non_null(strstr(why, "not push"));
    //  We only pull from it: it may write to us, not read.
    pdb_id_t x = testkit_id(0x11);
    assert_int_equal(authz_push(a, "we-pull-x", why), AUTHZ_OK);
    assert_int_equal(authz_read(a, "we-pull-x", &x, 1, why), AUTHZ_FORBIDDEN);
    assert_int_equal(authz_read(a, "stranger", NULL, 0, why), AUTHZ_UNAUTHORIZED);
    assert_int_equal(authz_push(a, "stranger", why), AUTHZ_UNAUTHORIZED);
    authz_destroy(&a);
    authz_destroy(&a);
}

static void
test_authz_collectives(void **state)
{
    (void) state;
    authz_t *a = s_authz();
    char why[PDB_ERRMSG_MAX];
    pdb_id_t x = testkit_id(0x11), y = testkit_id(0x22);
    assert_int_equal(authz_push_collective(a, "we-pull-x", &x, why), AUTHZ_OK);
    assert_int_equal(authz_push_collective(a, "we-pull-x", &y, why), AUTHZ_FORBIDDEN);
    assert_non_null(strstr(why, "refused whole"));
    assert_int_equal(authz_push_collective(a, "both-all", &y, why), AUTHZ_OK);
    //  What a limited peer pushes is partial, whatever its push says.
    assert_true(authz_limited(a, "we-pull-x"));
    assert_false(authz_limited(a, "both-all"));
    assert_false(authz_limited(a, "stranger"));
    //  A limited reader must ask with a filter inside its collectives.
    peerspec_t limited;
    memset(&limited, 0, sizeof limited);
    snprintf(limited.name, sizeof limited.name, "reader-x");
    limited.collectives_n = 1;
    limited.collectives[0] = x;
    assert_int_equal(authz_set_peers(a, &limited, 1), 0);
    assert_int_equal(authz_read(a, "reader-x", &x, 1, why), AUTHZ_OK);
    assert_int_equal(authz_read(a, "reader-x", NULL, 0, why), AUTHZ_FORBIDDEN);
    pdb_id_t both[2] = { x, y };
    assert_int_equal(authz_read(a, "reader-x", both, 2, why), AUTHZ_FORBIDDEN);
    //  Peers replaced: the earlier ones are gone.
    assert_int_equal(authz_push(a, "both-all", why), AUTHZ_UNAUTHORIZED);
    authz_destroy(&a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_authz_directions),
        cmocka_unit_test(test_authz_collectives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
