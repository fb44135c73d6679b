/*  test_syncer_retry.c - exponential backoff with full jitter: the caps grow
    by the multiplier up to the maximum, every delay lies in 0..cap, the
    jitter comes from the injected random source, and a success starts over.
*/
#include "retry.h"
#include "senv.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

//  A random source that replays values, then repeats the last one.
typedef struct {
    const uint64_t *values;
    size_t n, next;
} s_fake_t;

static uint64_t
s_fake_random(void *ctx)
{
    s_fake_t *f = ctx;
    uint64_t v = f->values[f->next < f->n ? f->next : f->n - 1];
    f->next++;
    return v;
}

static uint64_t
s_zero_ms(void *ctx)
{
    (void) ctx;
    return 0;
}

static senv_t
s_env(s_fake_t *fake)
{
    return (senv_t) { s_zero_ms, s_zero_ms, s_fake_random, fake };
}

static void
test_retry_caps_double_up_to_the_maximum(void **state)
{
    (void) state;
    uint64_t v = 0;
    s_fake_t fake = { &v, 1, 0 };
    senv_t env = s_env(&fake);
    retry_t r;
    retry_init(&r, 100, 30000, 200, &env);
    const uint64_t expect[] = { 0, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000,
                                30000 };
    for (unsigned i = 0; i < sizeof expect / sizeof expect[0]; i++)
        assert_int_equal(retry_cap_ms(&r, i), expect[i]);
    //  Far past the point where the cap is reached: no overflow, still the cap.
    assert_int_equal(retry_cap_ms(&r, 1000000), 30000);
}

static void
test_retry_other_multipliers(void **state)
{
    (void) state;
    uint64_t v = 0;
    s_fake_t fake = { &v, 1, 0 };
    senv_t env = s_env(&fake);
    retry_t r;
    retry_init(&r, 100, 1000, 150, &env);
    assert_int_equal(retry_cap_ms(&r, 1), 100);
    assert_int_equal(retry_cap_ms(&r, 2), 150);
    assert_int_equal(retry_cap_ms(&r, 3), 225);
    assert_int_equal(retry_cap_ms(&r, 7), 1000);
    //  x1: a constant cap.
    retry_init(&r, 250, 1000, 100, &env);
    assert_int_equal(retry_cap_ms(&r, 1), 250);
    assert_int_equal(retry_cap_ms(&r, 50), 250);
    //  A maximum below the initial delay is raised to it.
    retry_init(&r, 500, 10, 200, &env);
    assert_int_equal(retry_cap_ms(&r, 1), 500);
    assert_int_equal(retry_cap_ms(&r, 5), 500);
}

static void
test_retry_delay_is_full_jitter_within_the_cap(void **state)
{
    (void) state;
    //  Extreme and middle random values, failure after failure.
    const uint64_t values[] = { 0, UINT64_MAX, 12345, UINT64_MAX - 1, 99, 1ull << 63, 7, 400,
                                401, 30000, 30001, UINT64_MAX, 0 };
    s_fake_t fake = { values, sizeof values / sizeof values[0], 0 };
    senv_t env = s_env(&fake);
    retry_t r;
    retry_init(&r, 100, 30000, 200, &env);
    for (size_t i = 0; i < fake.n; i++) {
        uint64_t delay = retry_failed(&r);
        uint64_t cap = retry_cap_ms(&r, r.failures);
        assert_int_equal(r.failures, i + 1);
        assert_true(delay <= cap);
        //  Uniform over 0..cap: the random value modulo cap + 1.
        assert_int_equal(delay, values[i] % (cap + 1));
    }
}

static void
test_retry_lowest_and_highest_draws_reach_both_bounds(void **state)
{
    (void) state;
    uint64_t v = 0;
    s_fake_t fake = { &v, 1, 0 };
    senv_t env = s_env(&fake);
    retry_t r;
    retry_init(&r, 100, 30000, 200, &env);
    assert_int_equal(retry_failed(&r), 0);
    assert_int_equal(retry_failed(&r), 0);
    v = 200;                            // cap of the third failure is 400
    assert_int_equal(retry_failed(&r), 200);
    v = 400;
    assert_int_equal(retry_failed(&r), 400 % 801);
    v = 800;
    assert_int_equal(retry_failed(&r), 800);
}

static void
test_retry_reset_starts_from_the_initial_delay(void **state)
{
    (void) state;
    uint64_t v = UINT64_MAX;
    s_fake_t fake = { &v, 1, 0 };
    senv_t env = s_env(&fake);
    retry_t r;
    retry_init(&r, 100, 30000, 200, &env);
    for (int i = 0; i < 8; i++)
        (void) retry_failed(&r);
    assert_int_equal(r.failures, 8);
    retry_reset(&r);
    assert_int_equal(r.failures, 0);
    assert_true(retry_failed(&r) <= 100);
    assert_int_equal(r.failures, 1);
}

static void
test_retry_real_randomness_stays_in_bounds(void **state)
{
    (void) state;
    retry_t r;
    retry_init(&r, 100, 30000, 200, senv_system());
    uint64_t sum = 0;
    for (int i = 0; i < 2000; i++) {
        r.failures = 5;                 // cap 1600 for the 6th
        uint64_t delay = retry_failed(&r);
        assert_true(delay <= 3200);
        sum += delay;
    }
    //  Mean of U(0, 3200) is 1600; 2000 draws land well inside this.
    assert_true(sum / 2000 > 1200 && sum / 2000 < 2000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_caps_double_up_to_the_maximum),
        cmocka_unit_test(test_retry_other_multipliers),
        cmocka_unit_test(test_retry_delay_is_full_jitter_within_the_cap),
        cmocka_unit_test(test_retry_lowest_and_highest_draws_reach_both_bounds),
        cmocka_unit_test(test_retry_reset_starts_from_the_initial_delay),
        cmocka_unit_test(test_retry_real_randomness_stays_in_bounds),
    };
    return cmocka_run_group_tests_name("syncer_retry", tests, NULL, NULL);
}
