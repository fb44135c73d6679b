/*  test_endpoint.c - the shapes of endpoints and host names. */
#include "endpoint.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

static void
test_endpoint_problem_names_what_is_wrong(void **state)
{
    (void) state;
    static const struct { const char *value, *schemes, *expect; } cases[] = {
        { "tcp://h:1", "tcp://", NULL },
        { "tcp://*:7700", "tcp://", NULL },
        { "tcp://[::1]:65535", "tcp://", NULL },
        { "ipc:///run/x.sock", "tcp:// ipc://", NULL },
        { "ipc:///run/x.sock", "tcp://", "must start with tcp://" },
        { "http://h:1", "tcp:// ipc://", "must start with tcp:// or ipc://" },
        { "tcp://", "tcp://", "has no address after the scheme" },
        { "tcp://h :1", "tcp://", "contains white space" },
        { "ipc://a b", "tcp:// ipc://", "contains white space" },
        { "tcp://h", "tcp://", "needs HOST:PORT" },
        { "tcp://:1", "tcp://", "needs HOST:PORT" },
        { "tcp://h:0", "tcp://", "has a port outside 1..65535" },
        { "tcp://h:65536", "tcp://", "has a port outside 1..65535" },
        { "tcp://h:+1", "tcp://", "has a port outside 1..65535" },
        { "tcp://h:", "tcp://", "has a port outside 1..65535" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *problem = endpoint_problem(cases[i].value, cases[i].schemes);
        bool ok = cases[i].expect ? problem && strcmp(problem, cases[i].expect) == 0 : !problem;
        if (!ok)
            fail_msg("case %zu '%s': got '%s'", i, cases[i].value, problem ? problem : "(none)");
    }
}

static void
test_endpoint_host_valid_takes_names_and_literals(void **state)
{
    (void) state;
    static const char *good[] = { "localhost", "10.0.0.1", "::1", "fe80::1%eth0", "a_b-c.lan" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(endpoint_host_valid(good[i]));
    static const char *bad[] = { "", "a host", "h/x", "[::1]", "h\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(endpoint_host_valid(bad[i]));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoint_problem_names_what_is_wrong),
        cmocka_unit_test(test_endpoint_host_valid_takes_names_and_literals),
    };
    return cmocka_run_group_tests_name("endpoint", tests, NULL, NULL);
}
