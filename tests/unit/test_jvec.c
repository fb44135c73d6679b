/*  test_jvec.c - the fast path for embeddings in request bodies (jvec.h)
    and the compact form beside it (b64.h, json_map's "embedding_b64"):
    every number read exactly as the general path reads it (strtod, then
    float32), arrays it cannot take left for the general path, the copy
    the general parser gets holding the body's other bytes unchanged, and
    base64 embeddings checked for alphabet, padding, length and finite values,
    the same whether their string was taken on the fast path or parsed.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "b64.h"
#include "bounds.h"
#include "err.h"
#include "json_map.h"
#include "jvec.h"
#include "mpk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  What the general path makes of one number's text: jansson's value, then
//  float32 (json_map_vec_from_json).
static float
s_general(const char *number)
{
    char text[128];
    snprintf(text, sizeof text, "[%s]", number);
    json_error_t error;
    json_t *array = json_loads(text, 0, &error);
    assert_non_null(array);
    float f;
    size_t n;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(json_map_vec_from_json(array, "embedding", &f, 1, &n, why), 0);
    json_decref(array);
    return f;
}

//  The body {"embedding": [number]} through jvec; true when it was taken.
static bool
s_fast(const char *number, float *out)
{
    char text[160];
    snprintf(text, sizeof text, "{\"embedding\": [%s]}", number);
    jvec_t v;
    assert_int_equal(jvec_extract(text, strlen(text), JVEC_BODY, 1, &v), 0);
    jvec_vec_t vec;
    bool taken = jvec_get(&v, 0, &vec);
    if (taken) {
        assert_int_equal(vec.n, 1);
        *out = vec.values[0];
    }
    jvec_release(&v);
    return taken;
}

static void
test_jvec_numbers_read_exactly_as_the_general_path(void **state)
{
    (void) state;
    const char *numbers[] = {
        "0", "-0", "0.0", "-0.0", "1", "-1", "0.5", "0.1", "0.3", "-0.7071", "3.14159",
        "1e3", "1E-3", "2.5e+10", "-7e-8", "123456789", "-987654321012345678",
        "0.12345678901234568", "0.30000000000000004", "-0.9999999999999999",
        "1.7976931348623157e38", "3.4028235e38", "-3.4028235e+38", "1.4e-45", "1e-50",
        "0.000001", "12345.678901234567", "9007199254740993", "0.1234567890123456789",
        "4.9406564584124654e-324", "0.00000000000000000000000000001", "1e22", "1e23",
    };
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        float fast;
        if (!s_fast(numbers[i], &fast))
            fail_msg("%s: not taken", numbers[i]);
        float general = s_general(numbers[i]);
        if (memcmp(&fast, &general, sizeof fast) != 0)
            fail_msg("%s: fast %.9g general %.9g", numbers[i], (double) fast, (double) general);
    }
    //  Shortest decimals of random doubles and of doubles of float32 values
    //  (17 significant digits: what most clients send).
    srand(5);
    for (int i = 0; i < 300000; i++) {
        char number[40];
        double x = ((double) rand() / RAND_MAX - 0.5) * pow(10, rand() % 24 - 12);
        snprintf(number, sizeof number, "%.17g", i % 2 ? x : (double) (float) x);
        float fast;
        assert_true(s_fast(number, &fast));
        float general = s_general(number);
        if (memcmp(&fast, &general, sizeof fast) != 0)
            fail_msg("%s: fast %.9g general %.9g", number, (double) fast, (double) general);
    }
    //  Random decimals of 1 to 17 digits and random exponents.
    srand(7);
    for (int i = 0; i < 200000; i++) {
        char number[64];
        int digits = 1 + rand() % 17;
        size_t n = 0;
        if (rand() % 2)
            number[n++] = '-';
        number[n++] = (char) ('0' + rand() % 10);
        number[n++] = '.';
        for (int d = 0; d < digits; d++)
            number[n++] = (char) ('0' + rand() % 10);
        if (rand() % 3 == 0)
            n += (size_t) snprintf(number + n, sizeof number - n, "e%d", rand() % 60 - 30);
        number[n] = '\0';
        float fast;
        assert_true(s_fast(number, &fast));
        float general = s_general(number);
        if (memcmp(&fast, &general, sizeof fast) != 0)
            fail_msg("%s: fast %.9g general %.9g", number, (double) fast, (double) general);
    }
}

//  What the general path refuses or judges itself stays in the text.
static void
test_jvec_leaves_what_it_cannot_take(void **state)
{
    (void) state;
    const char *arrays[] = {
        "[1, \"2\"]", "[1e39]", "[-1e39]", "[1e400]", "[01]", "[1.]", "[.5]", "[1,]", "[+1]",
        "[1 2]", "[null]", "[[1]]", "[1e]", "[12345678901234567890123]",
        "[1234567890123456789]",                       // over a signed 64-bit integer's digits
    };
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"content\": \"x\", \"embedding\": %s}", arrays[i]);
        jvec_t v;
        assert_int_equal(jvec_extract(text, strlen(text), JVEC_BODY, 1, &v), 0);
        jvec_vec_t vec;
        if (jvec_get(&v, 0, &vec))
            fail_msg("%s: taken", arrays[i]);
        assert_null(v.text);                 // nothing taken: the body is parsed as sent
        jvec_release(&v);
    }
    //  Over PDB_DIM_MAX values: left for the general path's "over the limit".
    size_t n = PDB_DIM_MAX + 1, len = 0;
    char *text = malloc(n * 2 + 32);
    len += (size_t) sprintf(text, "{\"embedding\": [");
    for (size_t i = 0; i < n; i++)
        len += (size_t) sprintf(text + len, "%s1", i ? "," : "");
    len += (size_t) sprintf(text + len, "]}");
    jvec_t v;
    jvec_vec_t vec;
    assert_int_equal(jvec_extract(text, len, JVEC_BODY, 1, &v), 0);
    assert_false(jvec_get(&v, 0, &vec));
    jvec_release(&v);
    free(text);
}

//  A taken array is "[]" in the copy; everything else keeps its bytes, and
//  only the named objects' own "embedding" members are taken.
static void
test_jvec_copies_the_body_without_taken_arrays(void **state)
{
    (void) state;
    char text[] = "{\"tags\": {\"embedding\": \"[1]\"}, \"type\": {\"kind\": \"fact\", "
                  "\"embedding\": [9]}, \"embedding\": [ 1.5 , -2, 3e1 ], \"content\": \"]\"}";
    const char want[] = "{\"tags\": {\"embedding\": \"[1]\"}, \"type\": {\"kind\": \"fact\", "
                        "\"embedding\": [9]}, \"embedding\": [], \"content\": \"]\"}";
    jvec_t v;
    assert_int_equal(jvec_extract(text, strlen(text), JVEC_BODY, 1, &v), 0);
    assert_string_equal(v.text, want);
    assert_int_equal(v.text_len, strlen(want));
    assert_non_null(strstr(text, "[ 1.5 , -2, 3e1 ]"));     // the body itself is not changed
    jvec_vec_t vec;
    assert_true(jvec_get(&v, 0, &vec));
    assert_int_equal(vec.n, 3);
    assert_true(vec.values[0] == 1.5f && vec.values[1] == -2.0f && vec.values[2] == 30.0f);
    jvec_release(&v);

    //  Items: each object of "experiences" by its index; a non-object item
    //  still counts; an item whose array cannot be taken keeps its text.
    char items[] = "{\"experiences\": [{\"embedding\": [1]}, 7, {\"a\": [2], \"embedding\": "
                   "[2, 3]}, {\"embedding\": [\"x\"]}, {\"embedding\": []}]}";
    assert_int_equal(jvec_extract(items, strlen(items), JVEC_ITEMS, 10, &v), 0);
    assert_true(jvec_get(&v, 0, &vec) && vec.n == 1 && vec.values[0] == 1.0f);
    assert_false(jvec_get(&v, 1, &vec));
    assert_true(jvec_get(&v, 2, &vec) && vec.n == 2 && vec.values[1] == 3.0f);
    assert_false(jvec_get(&v, 3, &vec));
    assert_true(jvec_get(&v, 4, &vec) && vec.n == 0);
    assert_false(jvec_get(&v, 5, &vec));
    assert_string_equal(v.text, "{\"experiences\": [{\"embedding\": []}, 7, {\"a\": [2], "
                        "\"embedding\": []}, {\"embedding\": [\"x\"]}, {\"embedding\": []}]}");
    jvec_release(&v);

    //  Past the object limit: left to the general path.
    char many[] = "{\"experiences\": [{\"embedding\": [1]}, {\"embedding\": [2]}]}";
    assert_int_equal(jvec_extract(many, strlen(many), JVEC_ITEMS, 1, &v), 0);
    assert_true(jvec_get(&v, 0, &vec));
    assert_false(jvec_get(&v, 1, &vec));
    assert_string_equal(v.text, "{\"experiences\": [{\"embedding\": []}, {\"embedding\": [2]}]}");
    jvec_release(&v);
}

//  A body that does not scan as JSON is not touched at all.
static void
test_jvec_broken_bodies_are_left_whole(void **state)
{
    (void) state;
    const char *bodies[] = {
        "{\"embedding\": [1, 2]", "{\"embedding\": [1, 2]} x", "{\"embedding\": [1], }",
        "{\"embedding\" [1]}", "[{\"embedding\": [1]}]",
        "{\"content\": \"unterminated, \"embedding\": [1]}",
        "{\"a\": {\"b\": [1}, \"embedding\": [1]}", "",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "%s", bodies[i]);
        jvec_t v;
        assert_int_equal(jvec_extract(text, strlen(text), JVEC_BODY, 1, &v), 0);
        jvec_vec_t vec;
        if (jvec_get(&v, 0, &vec) || v.text)
            fail_msg("body %zu taken", i);
        jvec_release(&v);
    }
    //  Nesting past the scanner's depth: left whole.
    char deep[200];
    size_t n = (size_t) sprintf(deep, "{\"x\": ");
    for (int i = 0; i < 40; i++)
        deep[n++] = '[';
    for (int i = 0; i < 40; i++)
        deep[n++] = ']';
    n += (size_t) sprintf(deep + n, ", \"embedding\": [1]}");
    jvec_t v;
    jvec_vec_t vec;
    assert_int_equal(jvec_extract(deep, n, JVEC_BODY, 1, &v), 0);
    assert_false(jvec_get(&v, 0, &vec));
    jvec_release(&v);
}

static void
test_b64_decodes_only_canonical_padded_text(void **state)
{
    (void) state;
    uint8_t out[16];
    size_t n;
    //  1.0f, 2.0f little-endian: 00 00 80 3f 00 00 00 40
    assert_int_equal(b64_decode("AACAPwAAAEA=", 12, out, &n), 0);
    assert_int_equal(n, 8);
    float two[2];
    memcpy(two, out, sizeof two);
    assert_true(two[0] == 1.0f && two[1] == 2.0f);
    assert_int_equal(b64_decode("AQ==", 4, out, &n), 0);
    assert_true(n == 1 && out[0] == 1);
    assert_int_equal(b64_decode("+/8=", 4, out, &n), 0);
    assert_true(n == 2 && out[0] == 0xfb && out[1] == 0xff);
    assert_int_equal(b64_decode("", 0, out, &n), 0);
    assert_int_equal(n, 0);
    const char *bad[] = {
        "AACAPwAAAEA",     // unpadded
        "AACAPwAAAEB=",    // a bit the padding drops is set
        "AR==", "A===", "=AAA", "AA=A", "AAA*", "AA\nA", "AAAAA", "AA-_",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (b64_decode(bad[i], strlen(bad[i]), out, &n) != -1)
            fail_msg("'%s' decoded", bad[i]);
}

//  json_map: "embedding_b64" makes the same field as the number array, and
//  is refused when it is not base64, has the wrong size or holds NaN/Inf.
static int
s_map(const char *text, uint32_t dim, mpk_out_t *packed, char *why)
{
    json_t *object = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(object);
    mpk_out_init(packed);
    int rc = json_map_from_json(ENT_EXPERIENCE, OP_CREATE, object, true, dim, packed, why);
    json_decref(object);
    return rc;
}

static void
test_json_map_embedding_b64(void **state)
{
    (void) state;
    char why[PDB_ERRMSG_MAX];
    mpk_out_t a, b;
    assert_int_equal(s_map("{\"content\": \"x\", \"embedding\": [1, 2]}", 2, &a, why), 0);
    assert_int_equal(s_map("{\"content\": \"x\", \"embedding_b64\": \"AACAPwAAAEA=\"}", 2, &b,
                           why), 0);
    assert_int_equal(a.buf.size, b.buf.size);
    assert_memory_equal(a.buf.data, b.buf.data, a.buf.size);
    mpk_out_release(&a);
    mpk_out_release(&b);
    const struct { const char *body; int rc; const char *why; } bad[] = {
        { "{\"content\": \"x\", \"embedding_b64\": \"AACAPwAAAEA\"}", PDB_EINVAL,
          "not valid base64" },
        { "{\"content\": \"x\", \"embedding_b64\": [1, 2]}", PDB_EINVAL, "base64 string" },
        //  4 bytes: one float where the collective has 2.
        { "{\"content\": \"x\", \"embedding_b64\": \"AACAPw==\"}", PDB_EINVAL, "holds 4 bytes" },
        //  6 bytes: not whole float32 values.
        { "{\"content\": \"x\", \"embedding_b64\": \"AACAPwAA\"}", PDB_EINVAL, "holds 6 bytes" },
        //  NaN (0x7fc00000) and +Inf (0x7f800000) after 1.0f.
        { "{\"content\": \"x\", \"embedding_b64\": \"AACAPwAAwH8=\"}", PDB_EINVAL,
          "NaN or infinite value at index 1" },
        { "{\"content\": \"x\", \"embedding_b64\": \"AACAPwAAgH8=\"}", PDB_EINVAL,
          "NaN or infinite value at index 1" },
        { "{\"content\": \"x\", \"embedding\": [1, 2], \"embedding_b64\": \"AACAPwAAAEA=\"}",
          PDB_EINVAL, "not both" },
        { "{\"content\": \"x\", \"content_b64\": \"AAAA\"}", PDB_EINVAL, "unknown field" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = s_map(bad[i].body, 2, &a, why);
        if (rc != bad[i].rc || !strstr(why, bad[i].why))
            fail_msg("case %zu: rc=%d why='%s'", i, rc, why);
        mpk_out_release(&a);
    }
}

//  "embedding_b64" strings of base64 characters are taken as spans of the
//  body and written "" in the copy; json_map then judges a taken span
//  exactly as it judges the JSON string: same field, same refusals.
static int
s_map_taken(const char *text, uint32_t dim, mpk_out_t *packed, char *why)
{
    jvec_t v;
    assert_int_equal(jvec_extract(text, strlen(text), JVEC_BODY, 1, &v), 0);
    jvec_b64_t b64;
    assert_true(jvec_get_b64(&v, 0, &b64));
    assert_non_null(v.text);
    json_t *object = json_loadb(v.text, v.text_len, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(object);
    assert_string_equal(json_string_value(json_object_get(object, "embedding_b64")), "");
    mpk_out_init(packed);
    int rc = json_map_convert(ENT_EXPERIENCE, object, true, dim, &v, 0, packed, why);
    json_decref(object);
    jvec_release(&v);
    return rc;
}

static void
test_jvec_takes_base64_strings_as_spans(void **state)
{
    (void) state;
    char text[] = "{\"content\": \"embedding_b64\", \"tags\": {\"embedding_b64\": \"AAAA\"}, "
                  "\"embedding_b64\" : \"AACAPwAAAEA=\", \"importance\": 0.5}";
    jvec_t v;
    assert_int_equal(jvec_extract(text, strlen(text), JVEC_BODY, 1, &v), 0);
    assert_string_equal(v.text, "{\"content\": \"embedding_b64\", \"tags\": {\"embedding_b64\": "
                        "\"AAAA\"}, \"embedding_b64\" : \"\", \"importance\": 0.5}");
    jvec_b64_t b64;
    jvec_vec_t vec;
    assert_true(jvec_get_b64(&v, 0, &b64));
    assert_false(jvec_get(&v, 0, &vec));
    assert_int_equal(b64.len, 12);
    assert_memory_equal(b64.text, "AACAPwAAAEA=", 12);
    assert_true(b64.text > text && b64.text < text + sizeof text);    // inside the body
    jvec_release(&v);

    //  Escapes, other characters, another type: left to the general path.
    const char *left[] = {
        "{\"embedding_b64\": \"AACAPw\\u0041AAEA=\"}", "{\"embedding_b64\": \"not base64!\"}",
        "{\"embedding_b64\": \"AACA\nPwAAAEA=\"}", "{\"embedding_b64\": 12}",
        "{\"embedding_b64\": \"AACAPwAAAEA=}",
    };
    for (size_t i = 0; i < sizeof left / sizeof left[0]; i++) {
        assert_int_equal(jvec_extract(left[i], strlen(left[i]), JVEC_BODY, 1, &v), 0);
        if (jvec_get_b64(&v, 0, &b64) || v.text)
            fail_msg("body %zu taken", i);
        jvec_release(&v);
    }

    //  Items: by index, both forms mixed.
    char items[] = "{\"experiences\": [{\"embedding_b64\": \"AACAPw==\"}, {\"embedding\": [1]}, "
                   "{\"embedding_b64\": \"AAAAQA==\"}]}";
    assert_int_equal(jvec_extract(items, strlen(items), JVEC_ITEMS, 3, &v), 0);
    assert_true(jvec_get_b64(&v, 0, &b64) && b64.len == 8 && memcmp(b64.text, "AACAPw==", 8) == 0);
    assert_false(jvec_get_b64(&v, 1, &b64));
    assert_true(jvec_get(&v, 1, &vec) && vec.n == 1);
    assert_true(jvec_get_b64(&v, 2, &b64) && memcmp(b64.text, "AAAAQA==", 8) == 0);
    assert_string_equal(v.text, "{\"experiences\": [{\"embedding_b64\": \"\"}, {\"embedding\": "
                        "[]}, {\"embedding_b64\": \"\"}]}");
    jvec_release(&v);

    //  Converted from the span: the very bytes and refusals of the general path.
    const char *bodies[] = {
        "{\"content\": \"x\", \"embedding_b64\": \"AACAPwAAAEA=\"}",
        "{\"content\": \"x\", \"embedding_b64\": \"AACAPwAAAEA\"}",
        "{\"content\": \"x\", \"embedding_b64\": \"AACAPw==\"}",
        "{\"content\": \"x\", \"embedding_b64\": \"AACAPwAA\"}",
        "{\"content\": \"x\", \"embedding_b64\": \"AACAPwAAwH8=\"}",
        "{\"content\": \"x\", \"embedding_b64\": \"\"}",
        "{\"content\": \"x\", \"embedding\": [1, 2], \"embedding_b64\": \"AACAPwAAAEA=\"}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        char why_general[PDB_ERRMSG_MAX] = "", why_taken[PDB_ERRMSG_MAX] = "";
        mpk_out_t general, taken;
        json_t *object = json_loads(bodies[i], JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(object);
        mpk_out_init(&general);
        int rc_general = json_map_convert(ENT_EXPERIENCE, object, true, 2, NULL, 0, &general,
                                          why_general);
        json_decref(object);
        int rc_taken = s_map_taken(bodies[i], 2, &taken, why_taken);
        if (rc_general != rc_taken || strcmp(why_general, why_taken) != 0)
            fail_msg("body %zu: general %d '%s', taken %d '%s'", i, rc_general, why_general,
                     rc_taken, why_taken);
        if (!rc_general && (general.buf.size != taken.buf.size
                            || memcmp(general.buf.data, taken.buf.data, general.buf.size) != 0))
            fail_msg("body %zu: the fields differ", i);
        mpk_out_release(&general);
        mpk_out_release(&taken);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jvec_numbers_read_exactly_as_the_general_path),
        cmocka_unit_test(test_jvec_leaves_what_it_cannot_take),
        cmocka_unit_test(test_jvec_copies_the_body_without_taken_arrays),
        cmocka_unit_test(test_jvec_broken_bodies_are_left_whole),
        cmocka_unit_test(test_b64_decodes_only_canonical_padded_text),
        cmocka_unit_test(test_json_map_embedding_b64),
        cmocka_unit_test(test_jvec_takes_base64_strings_as_spans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
