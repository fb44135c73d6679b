/*  test_tokens.c - the token file (common/tokens.c) and the
    owner-only secret files it is read from (common/secret.c). */
#include "secret.h"
#include "tokens.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_TOKEN  "read-token-0123456789"
#define ADMIN_TOKEN "ADMIN_token.~+/=0123456789"

static void
test_tokens_parse_roles_labels_and_comments(void **state)
{
    (void) state;
    tokens_t *tokens = NULL;
    char why[PDB_ERRMSG_MAX];
    const char *text = "# comment\n\n  read " READ_TOKEN "  dashboard \r\n"
                       "admin\t" ADMIN_TOKEN "\n";
    assert_int_equal(tokens_parse(text, &tokens, why), 0);
    assert_int_equal(tokens_count(tokens), 2);
    const char *label = NULL;
    assert_int_equal(tokens_role(tokens, READ_TOKEN, strlen(READ_TOKEN), &label),
                     TOKEN_ROLE_READ);
    assert_string_equal(label, "dashboard");
    assert_int_equal(tokens_role(tokens, ADMIN_TOKEN, strlen(ADMIN_TOKEN), &label),
                     TOKEN_ROLE_ADMIN);
    assert_string_equal(label, "");
    //  Prefixes, extensions and empty guesses match nothing.
    assert_int_equal(tokens_role(tokens, READ_TOKEN, strlen(READ_TOKEN) - 1, NULL),
                     TOKEN_ROLE_NONE);
    assert_int_equal(tokens_role(tokens, READ_TOKEN "x", strlen(READ_TOKEN) + 1, NULL),
                     TOKEN_ROLE_NONE);
    assert_int_equal(tokens_role(tokens, "", 0, NULL), TOKEN_ROLE_NONE);
    tokens_destroy(&tokens);
    tokens_destroy(&tokens);
    assert_null(tokens);
}

static void
test_tokens_parse_refuses_bad_lines_naming_the_line(void **state)
{
    (void) state;
    static const struct { const char *text, *expect; } cases[] = {
        { "owner " READ_TOKEN "\n", "line 1 does not start with a role" },
        { "read short\n", "line 1 has a token shorter" },
        { "# c\nread " READ_TOKEN "\nwrite " READ_TOKEN "\n", "line 3 repeats a token" },
        { "read " READ_TOKEN " label extra\n", "line 1 has more than" },
        { "read read-token-with-\"quote\"-0123\n", "line 1 has a token with a character" },
        { "read " READ_TOKEN " "
          "a-label-that-is-far-too-long-to-be-a-label-0123456789012345678901234567\n",
          "label longer" },
        { "# only comments\n", "holds no token" },
        { "", "holds no token" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tokens_t *tokens = NULL;
        char why[PDB_ERRMSG_MAX] = "";
        assert_int_equal(tokens_parse(cases[i].text, &tokens, why), PDB_EINVAL);
        assert_null(tokens);
        if (!strstr(why, cases[i].expect))
            fail_msg("case %zu: '%s' lacks '%s'", i, why, cases[i].expect);
        assert_null(strstr(why, READ_TOKEN));       // never quotes a token
    }
}

static void
s_write(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static void
test_tokens_load_only_from_owner_only_files(void **state)
{
    (void) state;
    char path[] = "/tmp/test_tokens_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    tokens_t *tokens = NULL;
    char why[PDB_ERRMSG_MAX];
    s_write(path, "write " READ_TOKEN "\n", 0640);
    assert_int_equal(tokens_load(path, &tokens, why), PDB_EINVAL);
    assert_non_null(strstr(why, "chmod 600"));
    assert_null(tokens);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(tokens_load(path, &tokens, why), 0);
    assert_int_equal(tokens_role(tokens, READ_TOKEN, strlen(READ_TOKEN), NULL),
                     TOKEN_ROLE_WRITE);
    tokens_destroy(&tokens);
    unlink(path);
    assert_int_equal(tokens_load(path, &tokens, why), PDB_EINVAL);
    assert_non_null(strstr(why, "No such file"));
    assert_int_equal(tokens_load("/tmp", &tokens, why), PDB_EINVAL);
    assert_non_null(strstr(why, "not a regular file"));
}

static void
test_tokens_peer_lines_name_a_peer(void **state)
{
    (void) state;
    tokens_t *tokens = NULL;
    char why[PDB_ERRMSG_MAX];
    const char *text = "peer:beta " READ_TOKEN "\nadmin " ADMIN_TOKEN " ops\n";
    assert_int_equal(tokens_parse(text, &tokens, why), 0);
    const char *label = NULL;
    assert_int_equal(tokens_role(tokens, READ_TOKEN, strlen(READ_TOKEN), &label),
                     TOKEN_ROLE_PEER);
    assert_string_equal(label, "beta");
    assert_string_equal(tokens_peer(tokens, "beta"), READ_TOKEN);
    assert_null(tokens_peer(tokens, "gamma"));
    assert_null(tokens_peer(tokens, "ops"));
    tokens_destroy(&tokens);
    static const char *bad[] = {
        "peer: " READ_TOKEN "\n",
        "peer:be ta " READ_TOKEN "\n",
        "peer:beta/x " READ_TOKEN "\n",
        "peer:beta " READ_TOKEN "\npeer:beta " ADMIN_TOKEN "\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(tokens_parse(bad[i], &tokens, why), PDB_EINVAL);
}

static void
test_secret_equal_compares_whole_values(void **state)
{
    (void) state;
    assert_true(secret_equal("abc", 3, "abc", 3));
    assert_false(secret_equal("abd", 3, "abc", 3));
    assert_false(secret_equal("ab", 2, "abc", 3));
    assert_false(secret_equal("abcd", 4, "abc", 3));
    assert_false(secret_equal("ab\0", 3, "ab", 2));
    assert_true(secret_equal("", 0, "", 0));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_parse_roles_labels_and_comments),
        cmocka_unit_test(test_tokens_parse_refuses_bad_lines_naming_the_line),
        cmocka_unit_test(test_tokens_load_only_from_owner_only_files),
        cmocka_unit_test(test_tokens_peer_lines_name_a_peer),
        cmocka_unit_test(test_secret_equal_compares_whole_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
