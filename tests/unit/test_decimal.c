/*  test_decimal.c - unsigned decimal numbers from outside text. */
#include "decimal.h"
#include "err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static void
test_decimal_parse_u64_takes_digits_only(void **state)
{
    (void) state;
    uint64_t v = 7;
    assert_int_equal(decimal_parse_u64("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(decimal_parse_u64("18446744073709551615", &v), 0);
    assert_true(v == UINT64_MAX);
    static const char *bad[] = { "", " 1", "1 ", "+1", "-1", "0x10", "1.5",
                                 "18446744073709551616", "99999999999999999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 7;
        assert_int_equal(decimal_parse_u64(bad[i], &v), PDB_EINVAL);
        assert_int_equal(v, 7);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decimal_parse_u64_takes_digits_only),
    };
    return cmocka_run_group_tests_name("decimal", tests, NULL, NULL);
}
