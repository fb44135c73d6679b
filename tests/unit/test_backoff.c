/*  test_backoff.c - exponential backoff: the caps grow by the multiplier up
    to the maximum, a delay without jitter is the cap, a jittered one lies
    in 0..cap and comes from the random value passed in, and a success
    starts over.
*/
#include "backoff.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

static void
test_backoff_caps_double_up_to_the_maximum(void **state)
{
    (void) state;
    backoff_t r;
    backoff_init(&r, 100, 30000, 200);
    const uint64_t expect[] = { 0, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000,
                                30000 };
    for (unsigned i = 0; i < sizeof expect / sizeof expect[0]; i++)
        assert_int_equal(backoff_cap_ms(&r, i), expect[i]);
    //  Far past the point where the cap is reached: no overflow, still the cap.
    assert_int_equal(backoff_cap_ms(&r, 1000000), 30000);
}

static void
test_backoff_other_multipliers(void **state)
{
    (void) state;
    backoff_t r;
    backoff_init(&r, 100, 1000, 150);
    assert_int_equal(backoff_cap_ms(&r, 1), 100);
    assert_int_equal(backoff_cap_ms(&r, 2), 150);
    assert_int_equal(backoff_cap_ms(&r, 3), 225);
    assert_int_equal(backoff_cap_ms(&r, 7), 1000);
    //  x1: a constant cap.
    backoff_init(&r, 250, 1000, 100);
    assert_int_equal(backoff_cap_ms(&r, 1), 250);
    assert_int_equal(backoff_cap_ms(&r, 50), 250);
    //  A maximum below the initial delay is raised to it.
    backoff_init(&r, 500, 10, 200);
    assert_int_equal(backoff_cap_ms(&r, 1), 500);
    assert_int_equal(backoff_cap_ms(&r, 5), 500);
}

static void
test_backoff_delay_is_full_jitter_within_the_cap(void **state)
{
    (void) state;
    //  Extreme and middle random values, failure after failure.
    const uint64_t values[] = { 0, UINT64_MAX, 12345, UINT64_MAX - 1, 99, 1ull << 63, 7, 400,
                                401, 30000, 30001, UINT64_MAX, 0 };
    backoff_t r;
    backoff_init(&r, 100, 30000, 200);
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        uint64_t delay = backoff_failed_jitter(&r, values[i]);
        uint64_t cap = backoff_cap_ms(&r, r.failures);
        assert_int_equal(r.failures, i + 1);
        assert_true(delay <= cap);
        //  Uniform over 0..cap: the random value modulo cap + 1.
        assert_int_equal(delay, values[i] % (cap + 1));
    }
}

static void
test_backoff_lowest_and_highest_draws_reach_both_bounds(void **state)
{
    (void) state;
    backoff_t r;
    backoff_init(&r, 100, 30000, 200);
    assert_int_equal(backoff_failed_jitter(&r, 0), 0);
    assert_int_equal(backoff_failed_jitter(&r, 0), 0);
    //  The cap of the third failure is 400.
    assert_int_equal(backoff_failed_jitter(&r, 200), 200);
    assert_int_equal(backoff_failed_jitter(&r, 400), 400 % 801);
    assert_int_equal(backoff_failed_jitter(&r, 800), 800);
}

static void
test_backoff_reset_starts_from_the_initial_delay(void **state)
{
    (void) state;
    backoff_t r;
    backoff_init(&r, 100, 30000, 200);
    for (int i = 0; i < 8; i++)
        (void) backoff_failed_jitter(&r, UINT64_MAX);
    assert_int_equal(r.failures, 8);
    backoff_reset(&r);
    assert_int_equal(r.failures, 0);
    assert_true(backoff_failed_jitter(&r, UINT64_MAX) <= 100);
    assert_int_equal(r.failures, 1);
    //  Without jitter the delay is the cap itself.
    backoff_reset(&r);
    assert_int_equal(backoff_failed(&r), 100);
    assert_int_equal(backoff_failed(&r), 200);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_caps_double_up_to_the_maximum),
        cmocka_unit_test(test_backoff_other_multipliers),
        cmocka_unit_test(test_backoff_delay_is_full_jitter_within_the_cap),
        cmocka_unit_test(test_backoff_lowest_and_highest_draws_reach_both_bounds),
        cmocka_unit_test(test_backoff_reset_starts_from_the_initial_delay),
    };
    return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
