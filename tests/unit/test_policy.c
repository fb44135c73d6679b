/*  test_policy.c - conflict-policy names and per-collective overrides. */
#include "policy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
test_policy_parse_gives_the_index_in_policy_names(void **state)
{
    (void) state;
    static const struct { const char *name; unsigned index; } good[] = {
        { "lww", 0 }, { "remote_wins", 1 }, { "local_wins", 2 },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        unsigned index = 99;
        assert_int_equal(policy_parse(good[i].name, strlen(good[i].name), &index), 0);
        assert_int_equal(index, good[i].index);
        assert_true(strlen(good[i].name) < POLICY_NAME_MAX);
    }
    //  The length counts: a prefix or a longer word is not a policy.
    static const char *bad[] = { "", "lw", "lwwx", "LWW", "remote", "local_wins " };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned index = 99;
        assert_int_equal(policy_parse(bad[i], strlen(bad[i]), &index), PDB_EINVAL);
        assert_int_equal(index, 99);
    }
    unsigned index = 99;
    assert_int_equal(policy_parse("lwwx", 3, &index), 0);
    assert_int_equal(index, 0);
}

static void
test_policy_overrides_parse_good_lists(void **state)
{
    (void) state;
    char why[PDB_ERRMSG_MAX];
    policy_override_t *list = NULL;
    size_t n = 99;
    const char *a = "0193a0b1-0000-7000-8000-000000000001";
    const char *b = "0193a0b1-0000-7000-8000-000000000002";
    char text[256];
    assert_int_equal(policy_overrides_parse("", &list, &n, why), 0);
    assert_int_equal(n, 0);
    free(list);
    assert_int_equal(policy_overrides_parse(" \t\n", &list, &n, why), 0);
    assert_int_equal(n, 0);
    free(list);
    snprintf(text, sizeof text, " %s=remote_wins\t%s=local_wins\n", a, b);
    assert_int_equal(policy_overrides_parse(text, &list, &n, why), 0);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].policy, 1);
    assert_int_equal(list[0].collective.b[15], 1);
    assert_int_equal(list[1].policy, 2);
    assert_int_equal(list[1].collective.b[15], 2);
    free(list);
}

static void
test_policy_overrides_parse_bad_lists(void **state)
{
    (void) state;
    char why[PDB_ERRMSG_MAX];
    static const struct { const char *text, *expect; } cases[] = {
        { "nonsense", "is not COLLECTIVE_UUID=" },
        { "0193a0b1=lww", "is not COLLECTIVE_UUID=" },
        { "0193a0b1-0000-7000-8000-000000000001=best", "is not COLLECTIVE_UUID=" },
        { "0193a0b1-0000-7000-8000-000000000001", "is not COLLECTIVE_UUID=" },
        { "0193a0b1-0000-7000-8000-000000000001=", "is not COLLECTIVE_UUID=" },
        { "=lww", "is not COLLECTIVE_UUID=" },
        { "0193a0b1-0000-7000-8000-000000000001=lww 0193a0b1-0000-7000-8000-000000000001"
          "=local_wins", "names a collective twice" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        policy_override_t *list = (policy_override_t *) 1;
        size_t n = 99;
        int rc = policy_overrides_parse(cases[i].text, &list, &n, why);
        if (rc != PDB_EINVAL || !strstr(why, cases[i].expect) || list || n != 0)
            fail_msg("case %zu '%s': rc=%d why='%s'", i, cases[i].text, rc, why);
    }
}

static void
test_policy_overrides_parse_refuses_one_too_many(void **state)
{
    (void) state;
    size_t cap = (POLICY_OVERRIDES_MAX + 1) * 50;
    char *text = malloc(cap);
    assert_non_null(text);
    text[0] = '\0';
    for (unsigned i = 0; i < POLICY_OVERRIDES_MAX; i++)
        snprintf(text + strlen(text), cap - strlen(text),
                 "0193a0b1-0000-7000-8000-%012x=lww ", i);
    assert_true(strlen(text) < POLICY_OVERRIDES_TEXT_MAX);
    char why[PDB_ERRMSG_MAX];
    policy_override_t *list = NULL;
    size_t n = 0;
    assert_int_equal(policy_overrides_parse(text, &list, &n, why), 0);
    assert_int_equal(n, POLICY_OVERRIDES_MAX);
    free(list);
    snprintf(text + strlen(text), cap - strlen(text), "0193a0b1-0000-7000-8000-ffffffffffff=lww");
    assert_int_equal(policy_overrides_parse(text, &list, &n, why), PDB_EINVAL);
    assert_non_null(strstr(why, "one override too many"));
    assert_null(list);
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_parse_gives_the_index_in_policy_names),
        cmocka_unit_test(test_policy_overrides_parse_good_lists),
        cmocka_unit_test(test_policy_overrides_parse_bad_lists),
        cmocka_unit_test(test_policy_overrides_parse_refuses_one_too_many),
    };
    return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
