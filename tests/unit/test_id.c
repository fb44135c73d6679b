/*  test_id.c - UUIDv7 ids: layout, canonical text form, ordering, parsing. */
#include "id.h"
#include "err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#define WALL_MS 0x0123456789abull   // any 48-bit time

static void
test_id_new_puts_time_version_and_variant(void **state)
{
    (void) state;
    for (int round = 0; round < 64; round++) {
        pdb_id_t id;
        assert_int_equal(pdb_id_new(&id, WALL_MS), 0);
        static const uint8_t time_be[6] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab };
        assert_memory_equal(id.b, time_be, 6);
        assert_int_equal(id.b[6] >> 4, 7);              // version 7
        assert_int_equal(id.b[8] >> 6, 2);              // RFC 4122 variant 10xx
        assert_false(pdb_id_is_nil(&id));
    }
}

static void
test_id_new_differs_within_one_millisecond(void **state)
{
    (void) state;
    pdb_id_t a, b;
    assert_int_equal(pdb_id_new(&a, WALL_MS), 0);
    assert_int_equal(pdb_id_new(&b, WALL_MS), 0);
    assert_int_not_equal(pdb_id_cmp(&a, &b), 0);
}

static void
test_id_format_then_parse_round_trips(void **state)
{
    (void) state;
    for (int round = 0; round < 64; round++) {
        pdb_id_t id, back;
        char text[PDB_ID_STR_LEN + 1];
        assert_int_equal(pdb_id_new(&id, WALL_MS + (uint64_t) round), 0);
        pdb_id_format(&id, text);
        assert_int_equal(strlen(text), PDB_ID_STR_LEN);
        assert_int_equal(text[8], '-');
        assert_int_equal(text[13], '-');
        assert_int_equal(text[14], '7');                // version digit
        assert_int_equal(text[18], '-');
        assert_int_equal(text[23], '-');
        assert_int_equal(pdb_id_parse(text, strlen(text), &back), 0);
        assert_memory_equal(id.b, back.b, PDB_ID_LEN);
    }
}

static void
test_id_format_is_lower_case_canonical(void **state)
{
    (void) state;
    pdb_id_t id;
    for (int i = 0; i < PDB_ID_LEN; i++)
        id.b[i] = (uint8_t) (0xf0 + i);
    char text[PDB_ID_STR_LEN + 1];
    pdb_id_format(&id, text);
    assert_string_equal(text, "f0f1f2f3-f4f5-f6f7-f8f9-fafbfcfdfeff");
}

static void
test_id_parse_accepts_upper_case(void **state)
{
    (void) state;
    pdb_id_t lower, upper;
    const char *l = "018f3a2b-7c4d-7e5f-8a6b-9c0d1e2f3a4b";
    const char *u = "018F3A2B-7C4D-7E5F-8A6B-9C0D1E2F3A4B";
    assert_int_equal(pdb_id_parse(l, strlen(l), &lower), 0);
    assert_int_equal(pdb_id_parse(u, strlen(u), &upper), 0);
    assert_memory_equal(lower.b, upper.b, PDB_ID_LEN);
    assert_int_equal(lower.b[0], 0x01);
    assert_int_equal(lower.b[15], 0x4b);
}

static void
test_id_later_time_sorts_after_as_bytes_and_text(void **state)
{
    (void) state;
    uint64_t times[] = { 1, 255, 256, 1700000000000ull, 1700000000001ull, 0xffffffffffffull };
    for (size_t i = 1; i < sizeof times / sizeof times[0]; i++) {
        pdb_id_t a, b;
        char ta[PDB_ID_STR_LEN + 1], tb[PDB_ID_STR_LEN + 1];
        assert_int_equal(pdb_id_new(&a, times[i - 1]), 0);
        assert_int_equal(pdb_id_new(&b, times[i]), 0);
        assert_true(pdb_id_cmp(&a, &b) < 0);
        pdb_id_format(&a, ta);
        pdb_id_format(&b, tb);
        assert_true(strcmp(ta, tb) < 0);
    }
}

static void
test_id_parse_rejects_wrong_length(void **state)
{
    (void) state;
    pdb_id_t id;
    const char *good = "018f3a2b-7c4d-7e5f-8a6b-9c0d1e2f3a4b";
    assert_int_equal(pdb_id_parse(good, 35, &id), PDB_EINVAL);
    assert_int_equal(pdb_id_parse("", 0, &id), PDB_EINVAL);
    const char *longer = "018f3a2b-7c4d-7e5f-8a6b-9c0d1e2f3a4b0";
    assert_int_equal(pdb_id_parse(longer, strlen(longer), &id), PDB_EINVAL);
    const char *no_dashes = "018f3a2b7c4d7e5f8a6b9c0d1e2f3a4b";
    assert_int_equal(pdb_id_parse(no_dashes, strlen(no_dashes), &id), PDB_EINVAL);
}

static void
test_id_parse_rejects_bad_hex(void **state)
{
    (void) state;
    const char *bad[] = {
        "018f3a2g-7c4d-7e5f-8a6b-9c0d1e2f3a4b",
        "018f3a2b-7c4d-7e5f-8a6b-9c0d1e2f3a4z",
        "018f3a2b-7c4d-7e5f-8a6b-9c0d1e2f3a4 ",
        "+18f3a2b-7c4d-7e5f-8a6b-9c0d1e2f3a4b",
        "018f3a2b-7c4d-7e5f-8a6b-9c0d1e2f3a\xc3\xa9",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pdb_id_t id;
        memset(&id, 0x55, sizeof id);
        assert_int_equal(pdb_id_parse(bad[i], strlen(bad[i]), &id), PDB_EINVAL);
        //  All-or-nothing: the output is untouched on failure.
        for (int b = 0; b < PDB_ID_LEN; b++)
            assert_int_equal(id.b[b], 0x55);
    }
}

static void
test_id_parse_rejects_misplaced_dashes(void **state)
{
    (void) state;
    const char *bad[] = {
        "018f3a2-b7c4d-7e5f-8a6b-9c0d1e2f3a4b",
        "018f3a2b7-c4d-7e5f-8a6b-9c0d1e2f3a4b",
        "018f3a2b-7c4d7-e5f-8a6b-9c0d1e2f3a4b",
        "018f3a2b-7c4d-7e5f8-a6b-9c0d1e2f3a4b",
        "018f3a2b-7c4d-7e5f-8a6b9-c0d1e2f3a4b",
        "018f3a2b_7c4d_7e5f_8a6b_9c0d1e2f3a4b",
        "-018f3a2b7c4d-7e5f-8a6b-9c0d1e2f3a4b",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pdb_id_t id;
        assert_int_equal(strlen(bad[i]), PDB_ID_STR_LEN);
        assert_int_equal(pdb_id_parse(bad[i], strlen(bad[i]), &id), PDB_EINVAL);
    }
}

static void
test_id_nil_is_all_zero(void **state)
{
    (void) state;
    pdb_id_t nil = { { 0 } }, one = { { 0 } };
    one.b[15] = 1;
    assert_true(pdb_id_is_nil(&nil));
    assert_false(pdb_id_is_nil(&one));
    assert_true(pdb_id_cmp(&nil, &one) < 0);
    assert_int_equal(pdb_id_cmp(&one, &one), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_new_puts_time_version_and_variant),
        cmocka_unit_test(test_id_new_differs_within_one_millisecond),
        cmocka_unit_test(test_id_format_then_parse_round_trips),
        cmocka_unit_test(test_id_format_is_lower_case_canonical),
        cmocka_unit_test(test_id_parse_accepts_upper_case),
        cmocka_unit_test(test_id_later_time_sorts_after_as_bytes_and_text),
        cmocka_unit_test(test_id_parse_rejects_wrong_length),
        cmocka_unit_test(test_id_parse_rejects_bad_hex),
        cmocka_unit_test(test_id_parse_rejects_misplaced_dashes),
        cmocka_unit_test(test_id_nil_is_all_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
