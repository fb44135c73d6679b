/*  test_hlc.c - hybrid logical clock: monotonic whatever the wall clock does. */
#include "hlc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define H(ms, counter) (((uint64_t) (ms) << HLC_COUNTER_BITS) | (uint64_t) (counter))
#define COUNTER_MAX ((1u << HLC_COUNTER_BITS) - 1)

static void
test_hlc_tick_takes_wall_time_with_zero_counter(void **state)
{
    (void) state;
    hlc_t clock = { 0 };
    assert_int_equal(hlc_tick(&clock, 1000), H(1000, 0));
    assert_int_equal(hlc_wall_ms(clock.last), 1000);
    //  The wall clock moving on resets the counter.
    assert_int_equal(hlc_tick(&clock, 1001), H(1001, 0));
}

static void
test_hlc_tick_in_same_millisecond_bumps_counter(void **state)
{
    (void) state;
    hlc_t clock = { 0 };
    assert_int_equal(hlc_tick(&clock, 1000), H(1000, 0));
    assert_int_equal(hlc_tick(&clock, 1000), H(1000, 1));
    assert_int_equal(hlc_tick(&clock, 1000), H(1000, 2));
}

static void
test_hlc_stays_monotonic_when_wall_clock_goes_backwards(void **state)
{
    (void) state;
    hlc_t clock = { 0 };
    uint64_t prev = hlc_tick(&clock, 5000);
    uint64_t walls[] = { 4000, 4999, 1, 0, 5000, 3000 };
    for (size_t i = 0; i < sizeof walls / sizeof walls[0]; i++) {
        uint64_t next = hlc_tick(&clock, walls[i]);
        assert_true(next > prev);
        assert_int_equal(hlc_wall_ms(next), 5000);
        prev = next;
    }
    assert_int_equal(prev, H(5000, 6));
    //  Real time catching up takes over again.
    assert_int_equal(hlc_tick(&clock, 6000), H(6000, 0));
}

static void
test_hlc_observe_of_remote_stamp_makes_next_tick_larger(void **state)
{
    (void) state;
    hlc_t clock = { 0 };
    (void) hlc_tick(&clock, 1000);
    uint64_t remote = H(9000, 42);         // a peer whose clock runs ahead
    hlc_observe(&clock, remote);
    uint64_t next = hlc_tick(&clock, 1001);
    assert_true(next > remote);
    assert_int_equal(next, H(9000, 43));
}

static void
test_hlc_observe_of_older_stamp_changes_nothing(void **state)
{
    (void) state;
    hlc_t clock = { 0 };
    uint64_t now = hlc_tick(&clock, 5000);
    hlc_observe(&clock, H(10, 3));
    assert_int_equal(clock.last, now);
    assert_int_equal(hlc_tick(&clock, 5000), H(5000, 1));
}

static void
test_hlc_counter_overflow_carries_into_milliseconds(void **state)
{
    (void) state;
    hlc_t clock = { 0 };
    hlc_observe(&clock, H(1000, COUNTER_MAX));
    uint64_t next = hlc_tick(&clock, 1000);
    assert_int_equal(next, H(1001, 0));
    assert_true(next > H(1000, COUNTER_MAX));
    assert_int_equal(hlc_wall_ms(next), 1001);
    //  A full counter's worth of ticks in one (stuck) millisecond carries too.
    hlc_t stuck = { 0 };
    uint64_t prev = hlc_tick(&stuck, 7);
    for (uint32_t i = 0; i < COUNTER_MAX + 10u; i++) {
        uint64_t t = hlc_tick(&stuck, 7);
        assert_true(t > prev);
        prev = t;
    }
    assert_int_equal(hlc_wall_ms(prev), 8);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hlc_tick_takes_wall_time_with_zero_counter),
        cmocka_unit_test(test_hlc_tick_in_same_millisecond_bumps_counter),
        cmocka_unit_test(test_hlc_stays_monotonic_when_wall_clock_goes_backwards),
        cmocka_unit_test(test_hlc_observe_of_remote_stamp_makes_next_tick_larger),
        cmocka_unit_test(test_hlc_observe_of_older_stamp_changes_nothing),
        cmocka_unit_test(test_hlc_counter_overflow_carries_into_milliseconds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
