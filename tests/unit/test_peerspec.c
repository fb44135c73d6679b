/*  test_peerspec.c - sync peer specs (sync/peers) and peers database fields. */
#include "peerspec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
test_peerspec_list_parse_good_lists(void **state)
{
    (void) state;
    peerspec_t *peers = NULL;
    size_t n = 99;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(peerspec_list_parse("", &peers, &n, why), 0);
    assert_int_equal(n, 0);
    assert_null(peers);
    assert_int_equal(peerspec_list_parse("  \n\t ", &peers, &n, why), 0);
    assert_int_equal(n, 0);
    const char *text =
        "alpha=tcp://10.0.0.1:7700\n"
        "  edge_3.b-x=tcp://edge3.lan:7701,pull,collectives="
        "01900000-0000-7000-8000-000000000001;01900000-0000-7000-8000-000000000002\t"
        "c=tcp://[::1]:7702,collectives=01900000-0000-7000-8000-00000000000A,push";
    assert_int_equal(peerspec_list_parse(text, &peers, &n, why), 0);
    assert_int_equal(n, 3);
    assert_string_equal(peers[0].name, "alpha");
    assert_string_equal(peers[0].address, "tcp://10.0.0.1:7700");
    assert_int_equal(peers[0].direction, PEERSPEC_BOTH);
    assert_int_equal(peers[0].collectives_n, 0);
    assert_string_equal(peers[1].name, "edge_3.b-x");
    assert_string_equal(peers[1].address, "tcp://edge3.lan:7701");
    assert_int_equal(peers[1].direction, PEERSPEC_PULL);
    assert_int_equal(peers[1].collectives_n, 2);
    assert_int_equal(peers[1].collectives[1].b[15], 2);
    assert_string_equal(peers[2].address, "tcp://[::1]:7702");
    assert_int_equal(peers[2].direction, PEERSPEC_PUSH);
    assert_int_equal(peers[2].collectives_n, 1);
    assert_int_equal(peers[2].collectives[0].b[15], 0x0a);
    assert_string_equal(peerspec_dir_name(peers[2].direction), "push");
    free(peers);
}

static void
test_peerspec_list_parse_bad_specs(void **state)
{
    (void) state;
    static const struct { const char *text, *expect; } cases[] = {
        { "alpha", "needs NAME=tcp://HOST:PORT" },
        { "=tcp://h:1", "name of 1..64" },
        { "in:x=tcp://h:1", "characters other than" },
        { "a b=tcp://h:1", "needs NAME=" },
        { "a=", "has no address" },
        { "a=tcp://h", "HOST:PORT" },
        { "a=tcp://h:0", "port outside" },
        { "a=tcp://h:*", "not *" },
        { "a=tcp://*:1", "not a name or address" },
        { "a=ipc:///x", "must start with tcp://" },
        { "a=http://h:80/sync", "has a path" },
        { "a=https://h", "HOST:PORT" },
        { "a=http://*:80", "not a name or address" },
        { "a=tcp://h:1,sideways", "not push, pull, both" },
        { "a=tcp://h:1,pull,push", "direction twice" },
        { "a=tcp://h:1,", "not push, pull, both" },
        { "a=tcp://h:1,collectives=", "empty collectives" },
        { "a=tcp://h:1,collectives=nope", "not a UUID" },
        { "a=tcp://h:1,collectives=01900000-0000-7000-8000-000000000001;", "not a UUID" },
        { "a=tcp://h:1,collectives=01900000-0000-7000-8000-000000000001;"
          "01900000-0000-7000-8000-000000000001", "collective twice" },
        { "a=tcp://h:1,collectives=01900000-0000-7000-8000-000000000001,"
          "collectives=01900000-0000-7000-8000-000000000002", "collectives twice" },
        { "a=tcp://h:1 a=tcp://h:2", "repeats a peer name" },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=tcp://h:1",
          "name of 1..64" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        peerspec_t *peers = (peerspec_t *) 1;
        size_t n = 99;
        char why[PDB_ERRMSG_MAX] = "";
        int rc = peerspec_list_parse(cases[i].text, &peers, &n, why);
        if (rc != PDB_EINVAL || !strstr(why, cases[i].expect) || peers || n != 0)
            fail_msg("case %zu '%s': rc=%d why='%s'", i, cases[i].text, rc, why);
    }
    //  65 peers is one too many.
    char text[65 * 16 + 1] = "";
    for (int i = 0; i < 65; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "p%02d=tcp://h:1 ", i);
    peerspec_t *peers = NULL;
    size_t n = 0;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(peerspec_list_parse(text, &peers, &n, why), PDB_EINVAL);
    assert_non_null(strstr(why, "one peer too many"));
}

static void
test_peerspec_from_fields(void **state)
{
    (void) state;
    peerspec_t p;
    char why[PDB_ERRMSG_MAX];
    const char *coll = "01900000-0000-7000-8000-000000000001;01900000-0000-7000-8000-000000000002";
    assert_int_equal(peerspec_from_fields(&p, "lab box", 7, "tcp://h:9", 9, "pull", 4, coll,
                                          strlen(coll), why), 0);
    assert_string_equal(p.name, "lab box");
    assert_string_equal(p.address, "tcp://h:9");
    assert_int_equal(p.direction, PEERSPEC_PULL);
    assert_int_equal(p.collectives_n, 2);
    assert_int_equal(peerspec_from_fields(&p, "x", 1, "tcp://h:9", 9, NULL, 0, "", 0, why), 0);
    assert_int_equal(p.direction, PEERSPEC_BOTH);
    assert_int_equal(p.collectives_n, 0);
    assert_int_equal(peerspec_from_fields(&p, "in:abc", 6, "tcp://h:9", 9, NULL, 0, NULL, 0,
                                          why), PDB_EINVAL);
    assert_non_null(strstr(why, "inbound"));
    assert_int_equal(peerspec_from_fields(&p, "x", 1, "tcp://h", 7, NULL, 0, NULL, 0, why),
                     PDB_EINVAL);
    assert_non_null(strstr(why, "peer 'x'"));
    assert_int_equal(peerspec_from_fields(&p, "x", 1, "tcp://h:9", 9, "up", 2, NULL, 0, why),
                     PDB_EINVAL);
    assert_int_equal(peerspec_from_fields(&p, "x", 1, "tcp://h:9", 9, NULL, 0, "zz", 2, why),
                     PDB_EINVAL);
    assert_int_equal(peerspec_from_fields(&p, "", 0, "tcp://h:9", 9, NULL, 0, NULL, 0, why),
                     PDB_EINVAL);
}

static void
test_peerspec_takes_a_curve_key(void **state)
{
    (void) state;
    const char *key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    char text[256], why[PDB_ERRMSG_MAX];
    peerspec_t *peers = NULL;
    size_t n = 0;
    snprintf(text, sizeof text, "beta=tcp://h:7700,pull,key=%s gamma=tcp://g:7700", key);
    assert_int_equal(peerspec_list_parse(text, &peers, &n, why), 0);
    assert_int_equal(n, 2);
    assert_string_equal(peers[0].public_key, key);
    assert_int_equal(peers[0].direction, PEERSPEC_PULL);
    assert_string_equal(peers[1].public_key, "");
    free(peers);
    static const char *bad[] = {
        "beta=tcp://h:7700,key=short",
        "beta=tcp://h:7700,key=",
        "beta=tcp://h:7700,key=rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7,key=rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
        "beta=tcp://h:7700,key=rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(peerspec_list_parse(bad[i], &peers, &n, why), PDB_EINVAL);
        assert_non_null(strstr(why, "key"));
    }
    peerspec_t peer;
    memset(&peer, 0, sizeof peer);
    assert_int_equal(peerspec_set_key(&peer, key, strlen(key), why), 0);
    assert_string_equal(peer.public_key, key);
    assert_int_equal(peerspec_set_key(&peer, key, 39, why), PDB_EINVAL);
    assert_int_equal(peerspec_set_key(&peer, "", 0, why), 0);
    assert_string_equal(peer.public_key, "");
}

static void
test_peerspec_takes_http_addresses(void **state)
{
    (void) state;
    char why[PDB_ERRMSG_MAX];
    peerspec_t *peers = NULL;
    size_t n = 0;
    assert_int_equal(peerspec_list_parse("b=http://10.0.0.2:7070,pull c=https://[::1]:443", &peers,
                                     &n, why), 0);
    assert_int_equal(n, 2);
    assert_string_equal(peers[0].address, "http://10.0.0.2:7070");
    assert_string_equal(peers[1].address, "https://[::1]:443");
    free(peers);
}

static void
test_peerspec_name_valid_and_dir_names(void **state)
{
    (void) state;
    assert_true(peerspec_name_valid("edge_3.b-X9", 11, PEERSPEC_LIST_NAME_MAX));
    assert_false(peerspec_name_valid("", 0, PEERSPEC_LIST_NAME_MAX));
    assert_false(peerspec_name_valid("a b", 3, PEERSPEC_LIST_NAME_MAX));
    assert_false(peerspec_name_valid("in:x", 4, PEERSPEC_LIST_NAME_MAX));
    assert_false(peerspec_name_valid("abc", 3, 2));
    assert_string_equal(peerspec_dir_name(PEERSPEC_BOTH), "both");
    assert_string_equal(peerspec_dir_name(PEERSPEC_PUSH), "push");
    assert_string_equal(peerspec_dir_name(PEERSPEC_PULL), "pull");
    //  A row's name may be longer than a list's, up to PEERSPEC_NAME_MAX bytes.
    char name[PEERSPEC_NAME_MAX + 2];
    memset(name, 'n', sizeof name);
    peerspec_t p;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(peerspec_from_fields(&p, name, PEERSPEC_NAME_MAX, "tcp://h:9", 9, NULL, 0,
                                          NULL, 0, why), 0);
    assert_int_equal(strlen(p.name), PEERSPEC_NAME_MAX);
    assert_int_equal(peerspec_from_fields(&p, name, PEERSPEC_NAME_MAX + 1, "tcp://h:9", 9, NULL,
                                          0, NULL, 0, why), PDB_EINVAL);
    assert_int_equal(peerspec_from_fields(&p, "a\0b", 3, "tcp://h:9", 9, NULL, 0, NULL, 0, why),
                     PDB_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peerspec_list_parse_good_lists),
        cmocka_unit_test(test_peerspec_list_parse_bad_specs),
        cmocka_unit_test(test_peerspec_from_fields),
        cmocka_unit_test(test_peerspec_takes_a_curve_key),
        cmocka_unit_test(test_peerspec_takes_http_addresses),
        cmocka_unit_test(test_peerspec_name_valid_and_dir_names),
    };
    return cmocka_run_group_tests_name("peerspec", tests, NULL, NULL);
}
