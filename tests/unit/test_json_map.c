/*  test_json_map.c - the JSON form of entity fields (services/gateway/json_map)
    and the JSON text writer it relies on (json_text).
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "json_map.h"
#include "json_text.h"
#include "bounds.h"
#include "err.h"
#include "mpk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIM 4

//  Converts text (a JSON object of fields) for `type` and returns the rc;
//  on success *packed holds the map (caller releases).
static int
s_convert(ent_type_t type, change_op_t op, const char *text, bool from_client, uint32_t dim,
          mpk_out_t *packed, char *why)
{
    json_error_t error;
    json_t *object = json_loads(text, JSON_REJECT_DUPLICATES, &error);
    if (!object)
        fail_msg("test JSON does not parse: %s: %s", error.text, text);
    mpk_out_init(packed);
    int rc = json_map_from_json(type, op, object, from_client, dim, packed, why);
    json_decref(object);
    return rc;
}

static int
s_reject(ent_type_t type, change_op_t op, const char *text, const char *expect_in_why)
{
    char why[PDB_ERRMSG_MAX] = "";
    mpk_out_t packed;
    int rc = s_convert(type, op, text, true, DIM, &packed, why);
    mpk_out_release(&packed);
    if (rc == 0)
        fail_msg("accepted: %s", text);
    if (expect_in_why && !strstr(why, expect_in_why))
        fail_msg("message '%s' lacks '%s' for %s", why, expect_in_why, text);
    return rc;
}

//  JSON -> MessagePack -> JSON must give back exactly the input.
static void
s_round_trip(ent_type_t type, const char *text)
{
    char why[PDB_ERRMSG_MAX] = "";
    mpk_out_t packed;
    int rc = s_convert(type, OP_CREATE, text, false, DIM, &packed, why);
    if (rc)
        fail_msg("rejected (%d: %s): %s", rc, why, text);
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(packed.buf.data, packed.buf.size, &u), 0);
    json_t *back = json_object();
    assert_int_equal(json_map_to_json(type, &u.data, NULL, 0, back), 0);
    json_t *expected = json_loads(text, 0, NULL);
    if (!json_equal(expected, back)) {
        char *got = json_text_dump(back, NULL);
        fail_msg("round trip differs:\n  in:  %s\n  out: %s", text, got);
    }
    json_decref(expected);
    json_decref(back);
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&packed);
}

//  --------------------------------------------------------------------------
//  Round trips

static void
test_json_map_round_trips_collective(void **state)
{
    (void) state;
    s_round_trip(ENT_COLLECTIVE, "{\"name\":\"team-notes\",\"owner\":\"ada\","
                 "\"embedding_dim\":4,\"created_at\":1700000000000,\"updated_at\":1700000000001}");
    s_round_trip(ENT_COLLECTIVE, "{\"name\":\"ü-名前\",\"embedding_dim\":4096}");
}

#define EXP_COMMON                                                                     \
    "\"content\":\"retry with backoff\",\"embedding\":[0.1,-2.5,3.0,1e-07],"          \
    "\"importance\":0.75,\"confidence\":0.3,\"applications\":5,"                     \
    "\"applications_by_instance\":{\"0190c3e2-6a1b-7c00-8000-000000000001\":2,"      \
    "\"0190c3e2-6a1b-7c00-8000-000000000002\":3},"                                    \
    "\"domain\":[\"net\",\"rust\"],\"tags\":{\"lang\":\"c\",\"team\":\"core\"},"     \
    "\"related_files\":[\"src/a.c\"],\"source_agent\":\"agent-7\","                  \
    "\"source_task\":\"T-1\",\"created_at\":1700000000000,"                          \
    "\"last_reinforced\":1700000000500,\"archived\":false"

static void
test_json_map_round_trips_every_experience_variant(void **state)
{
    (void) state;
    static const char *const variants[] = {
        "{\"kind\":\"generic\",\"category\":\"\"}",
        "{\"kind\":\"difficulty\",\"description\":\"flaky\",\"severity\":\"critical\"}",
        "{\"kind\":\"solution\",\"problem_ref\":\"0190c3e2-6a1b-7c00-8000-00000000abcd\","
        "\"approach\":\"pin it\",\"worked\":true}",
        "{\"kind\":\"solution\",\"problem_ref\":null,\"approach\":\"\",\"worked\":false}",
        "{\"kind\":\"error_pattern\",\"signature\":\"E42\",\"fix\":\"f\",\"prevention\":\"p\"}",
        "{\"kind\":\"success_pattern\",\"task_type\":\"t\",\"approach\":\"a\",\"quality\":0.9}",
        "{\"kind\":\"user_preference\",\"category\":\"c\",\"preference\":\"tabs\",\"strength\":0.25}",
        "{\"kind\":\"architectural_decision\",\"decision\":\"lmdb\",\"rationale\":\"mmap\"}",
        "{\"kind\":\"tech_insight\",\"technology\":\"zmq\",\"insight\":\"hwm\"}",
        "{\"kind\":\"fact\",\"statement\":\"water is wet\",\"source\":\"obs\"}",
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        char text[2048];
        snprintf(text, sizeof text, "{" EXP_COMMON ",\"type\":%s}", variants[i]);
        s_round_trip(ENT_EXPERIENCE, text);
    }
    //  The minimal create a client sends.
    s_round_trip(ENT_EXPERIENCE, "{\"content\":\"x\",\"embedding\":[1.0,0.0,0.0,0.0]}");
}

static void
test_json_map_round_trips_relation_and_insight(void **state)
{
    (void) state;
    s_round_trip(ENT_RELATION, "{\"source\":\"0190c3e2-6a1b-7c00-8000-000000000001\","
                 "\"target\":\"0190c3e2-6a1b-7c00-8000-000000000002\",\"type\":\"supersedes\","
                 "\"strength\":0.5,\"metadata\":{\"why\":\"newer\"},\"created_at\":1}");
    s_round_trip(ENT_INSIGHT, "{\"content\":\"pattern\",\"embedding\":[0.5,0.25,-0.125,8.0],"
                 "\"source_ids\":[\"0190c3e2-6a1b-7c00-8000-000000000001\"],"
                 "\"type\":\"synthesis\",\"confidence\":0.6,\"domain\":[\"ops\"],"
                 "\"created_at\":5,\"updated_at\":6}");
}

static void
test_json_map_packs_maps_canonically(void **state)
{
    (void) state;
    char why[PDB_ERRMSG_MAX];
    mpk_out_t a, b;
    assert_int_equal(s_convert(ENT_EXPERIENCE, OP_UPDATE, "{\"tags\":{\"b\":\"1\",\"a\":\"2\"},"
                               "\"importance\":1}", true, 0, &a, why), 0);
    assert_int_equal(s_convert(ENT_EXPERIENCE, OP_UPDATE, "{\"importance\":1.0,"
                               "\"tags\":{\"a\":\"2\",\"b\":\"1\"}}", true, 0, &b, why), 0);
    //  Same contents, other member order and an integer unit: same bytes.
    assert_int_equal(a.buf.size, b.buf.size);
    assert_memory_equal(a.buf.data, b.buf.data, a.buf.size);
    mpk_out_release(&a);
    mpk_out_release(&b);
}

static void
test_json_map_vec_survives_unaligned_bytes(void **state)
{
    (void) state;
    uint8_t bytes[1 + 2 * sizeof(float)];
    float values[2] = { 0.1f, -3.5f };
    memcpy(bytes + 1, values, sizeof values);       // deliberately misaligned
    json_t *array = json_map_vec_to_json(bytes + 1, sizeof values);
    char *text = json_text_dump(array, NULL);
    assert_string_equal(text, "[0.1,-3.5]");
    free(text);
    json_decref(array);
}

//  --------------------------------------------------------------------------
//  Rejections

static void
test_json_map_rejects_wrong_types(void **state)
{
    (void) state;
    s_reject(ENT_COLLECTIVE, OP_CREATE, "{\"name\":5,\"embedding_dim\":4}", "'name'");
    s_reject(ENT_COLLECTIVE, OP_CREATE, "{\"name\":\"n\",\"embedding_dim\":\"4\"}", "integer");
    s_reject(ENT_COLLECTIVE, OP_CREATE, "{\"name\":\"n\",\"embedding_dim\":4.0}", "integer");
    s_reject(ENT_COLLECTIVE, OP_CREATE, "{\"name\":\"n\",\"embedding_dim\":-4}", "integer");
    s_reject(ENT_COLLECTIVE, OP_CREATE, "{\"name\":null,\"embedding_dim\":4}", "'name'");
    s_reject(ENT_EXPERIENCE, OP_UPDATE, "{\"importance\":\"high\"}", "'importance'");
    s_reject(ENT_EXPERIENCE, OP_UPDATE, "{\"archived\":\"yes\"}", "'archived'");
    s_reject(ENT_EXPERIENCE, OP_UPDATE, "{\"tags\":{\"a\":1}}", "'tags'");
    s_reject(ENT_EXPERIENCE, OP_UPDATE, "{\"tags\":[\"a\"]}", "'tags'");
    s_reject(ENT_EXPERIENCE, OP_UPDATE, "{\"domain\":[1]}", "'domain'");
    s_reject(ENT_EXPERIENCE, OP_UPDATE, "{\"domain\":\"net\"}", "'domain'");
    s_reject(ENT_EXPERIENCE, OP_CREATE, "{\"content\":\"c\",\"embedding\":[1,\"x\",3,4]}",
             "'embedding'");
    s_reject(ENT_EXPERIENCE, OP_CREATE, "{\"content\":\"c\",\"embedding\":\"1,2,3,4\"}",
             "'embedding'");
    s_reject(ENT_EXPERIENCE, OP_CREATE, "{\"content\":\"c\",\"embedding\":[1,2,3,4],"
             "\"type\":\"generic\"}", "'type'");
    s_reject(ENT_EXPERIENCE, OP_CREATE, "{\"content\":\"c\",\"embedding\":[1,2,3,4],"
             "\"type\":{\"kind\":\"solution\",\"worked\":\"yes\"}}", "worked");
}

static void
test_json_map_rejects_missing_required_fields(void **state)
{
    (void) state;
    s_reject(ENT_COLLECTIVE, OP_CREATE, "{\"embedding_dim\":4}", "'name' is required");
    s_reject(ENT_COLLECTIVE, OP_CREATE, "{\"name\":\"n\"}", "'embedding_dim' is required");
    s_reject(ENT_EXPERIENCE, OP_CREATE, "{\"content\":\"c\"}", "'embedding' is required");
    s_reject(ENT_RELATION, OP_CREATE, "{\"source\":\"0190c3e2-6a1b-7c00-8000-000000000001\","
             "\"target\":\"0190c3e2-6a1b-7c00-8000-000000000002\"}", "'type' is required");
    s_reject(ENT_INSIGHT, OP_CREATE, "{\"content\":\"c\",\"embedding\":[1,2,3,4]}",
             "'type' is required");
    s_reject(ENT_EXPERIENCE, OP_UPDATE, "{}", "at least one");
}

static void
test_json_map_rejects_numbers_outside_float32(void **state)
{
    (void) state;
    s_reject(ENT_EXPERIENCE, OP_CREATE, "{\"content\":\"c\",\"embedding\":[1,2,3,1e39]}",
             "float32");
    s_reject(ENT_EXPERIENCE, OP_CREATE, "{\"content\":\"c\",\"embedding\":[-3.5e38,2,3,4]}",
             "float32");
    //  NaN and Infinity are not JSON: the parser refuses them first.
    assert_null(json_loads("{\"embedding\":[NaN]}", 0, NULL));
    assert_null(json_loads("{\"embedding\":[1e999]}", 0, NULL));
    //  The largest float32 itself is fine.
    char why[PDB_ERRMSG_MAX];
    mpk_out_t packed;
    assert_int_equal(s_convert(ENT_EXPERIENCE, OP_CREATE, "{\"content\":\"c\","
                               "\"embedding\":[3.4028234e38,0,0,1]}", true, DIM, &packed, why), 0);
    mpk_out_release(&packed);
}

static void
test_json_map_rejects_units_outside_0_1(void **state)
{
    (void) state;
    s_reject(ENT_EXPERIENCE, OP_UPDATE, "{\"importance\":1.5}", "between 0 and 1");
    s_reject(ENT_EXPERIENCE, OP_UPDATE, "{\"confidence\":-0.01}", "between 0 and 1");
    s_reject(ENT_RELATION, OP_CREATE, "{\"source\":\"0190c3e2-6a1b-7c00-8000-000000000001\","
             "\"target\":\"0190c3e2-6a1b-7c00-8000-000000000002\",\"type\":\"implies\","
             "\"strength\":2}", "between 0 and 1");
    s_reject(ENT_EXPERIENCE, OP_CREATE, "{\"content\":\"c\",\"embedding\":[1,2,3,4],"
             "\"type\":{\"kind\":\"success_pattern\",\"quality\":1.01}}", "between 0 and 1");
}

static void
test_json_map_rejects_oversized_strings(void **state)
{
    (void) state;
    size_t big = PDB_CONTENT_MAX + 1;
    char *text = malloc(big + 64);
    int n = snprintf(text, big + 64, "{\"content\":\"");
    memset(text + n, 'a', big);
    snprintf(text + n + big, 64, "\",\"embedding\":[1,2,3,4]}");
    assert_int_equal(s_reject(ENT_EXPERIENCE, OP_CREATE, text, "over the limit"), PDB_ETOOBIG);
    free(text);
    char name[PDB_NAME_MAX + 64];
    n = snprintf(name, sizeof name, "{\"embedding_dim\":4,\"name\":\"");
    memset(name + n, 'n', PDB_NAME_MAX + 1);
    snprintf(name + n + PDB_NAME_MAX + 1, sizeof name - (size_t) n - PDB_NAME_MAX - 1, "\"}");
    assert_int_equal(s_reject(ENT_COLLECTIVE, OP_CREATE, name, "'name'"), PDB_ETOOBIG);
    s_reject(ENT_COLLECTIVE, OP_CREATE, "{\"name\":\"\",\"embedding_dim\":4}", "empty");
}

static void
test_json_map_rejects_invalid_uuids(void **state)
{
    (void) state;
    s_reject(ENT_RELATION, OP_CREATE, "{\"source\":\"not-a-uuid\","
             "\"target\":\"0190c3e2-6a1b-7c00-8000-000000000002\",\"type\":\"implies\"}",
             "'source'");
    s_reject(ENT_RELATION, OP_CREATE, "{\"source\":\"0190c3e2-6a1b-7c00-8000-00000000000g\","
             "\"target\":\"0190c3e2-6a1b-7c00-8000-000000000002\",\"type\":\"implies\"}",
             "'source'");
    s_reject(ENT_INSIGHT, OP_CREATE, "{\"content\":\"c\",\"embedding\":[1,2,3,4],"
             "\"type\":\"pattern\",\"source_ids\":[\"0190c3e26a1b7c008000000000000001\"]}",
             "'source_ids'");
    s_reject(ENT_EXPERIENCE, OP_CREATE, "{\"content\":\"c\",\"embedding\":[1,2,3,4],"
             "\"type\":{\"kind\":\"solution\",\"problem_ref\":\"abc\"}}", "problem_ref");
}

static void
test_json_map_rejects_client_managed_and_unknown_fields(void **state)
{
    (void) state;
    s_reject(ENT_COLLECTIVE, OP_CREATE, "{\"name\":\"n\",\"embedding_dim\":4,"
             "\"created_at\":1}", "set by the server");
    s_reject(ENT_EXPERIENCE, OP_UPDATE, "{\"applications\":3}", "set by the server");
    s_reject(ENT_EXPERIENCE, OP_UPDATE, "{\"applications_by_instance\":{}}", "set by the server");
    s_reject(ENT_EXPERIENCE, OP_UPDATE, "{\"colour\":\"red\"}", "unknown field 'colour'");
    s_reject(ENT_EXPERIENCE, OP_UPDATE, "{\"content\":\"new\"}", "cannot change");
    s_reject(ENT_EXPERIENCE, OP_CREATE, "{\"content\":\"c\",\"embedding\":[1,2,3,4],"
             "\"type\":{\"kind\":\"poem\"}}", "unknown kind");
    s_reject(ENT_EXPERIENCE, OP_CREATE, "{\"content\":\"c\",\"embedding\":[1,2,3,4],"
             "\"type\":{\"kind\":\"fact\",\"rhyme\":\"x\"}}", "no field 'rhyme'");
    s_reject(ENT_EXPERIENCE, OP_CREATE, "{\"content\":\"c\",\"embedding\":[1,2,3,4],"
             "\"type\":{\"kind\":\"difficulty\",\"severity\":\"meh\"}}", "severity");
    s_reject(ENT_RELATION, OP_CREATE, "{\"source\":\"0190c3e2-6a1b-7c00-8000-000000000001\","
             "\"target\":\"0190c3e2-6a1b-7c00-8000-000000000002\",\"type\":\"loves\"}",
             "'type'");
}

static void
test_json_map_rejects_wrong_dimension(void **state)
{
    (void) state;
    s_reject(ENT_EXPERIENCE, OP_CREATE, "{\"content\":\"c\",\"embedding\":[1,2,3]}",
             "3 dimensions, the collective has 4");
    s_reject(ENT_EXPERIENCE, OP_CREATE, "{\"content\":\"c\",\"embedding\":[]}", "dimensions");
}

static void
test_json_map_rejects_non_objects(void **state)
{
    (void) state;
    char why[PDB_ERRMSG_MAX];
    mpk_out_t packed;
    assert_int_equal(s_convert(ENT_COLLECTIVE, OP_CREATE, "[1,2]", true, 0, &packed, why),
                     PDB_EINVAL);
    mpk_out_release(&packed);
}

//  --------------------------------------------------------------------------
//  JSON text

static void
test_json_text_writes_shortest_reals(void **state)
{
    (void) state;
    json_t *v = json_pack("[f,f,f,f,f,I,s]", 0.1, 1.0, json_text_f32(0.1f), 1e-7, -2.5e300,
                          (json_int_t) -42, "q\"\\\n\x01");
    char *text = json_text_dump(v, NULL);
    assert_string_equal(text, "[0.1,1.0,0.1,1e-07,-2.5e+300,-42,\"q\\\"\\\\\\n\\u0001\"]");
    //  Every real reads back exactly.
    json_t *back = json_loads(text, 0, NULL);
    assert_true(json_equal(v, back));
    json_decref(back);
    free(text);
    json_decref(v);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_map_round_trips_collective),
        cmocka_unit_test(test_json_map_round_trips_every_experience_variant),
        cmocka_unit_test(test_json_map_round_trips_relation_and_insight),
        cmocka_unit_test(test_json_map_packs_maps_canonically),
        cmocka_unit_test(test_json_map_vec_survives_unaligned_bytes),
        cmocka_unit_test(test_json_map_rejects_wrong_types),
        cmocka_unit_test(test_json_map_rejects_missing_required_fields),
        cmocka_unit_test(test_json_map_rejects_numbers_outside_float32),
        cmocka_unit_test(test_json_map_rejects_units_outside_0_1),
        cmocka_unit_test(test_json_map_rejects_oversized_strings),
        cmocka_unit_test(test_json_map_rejects_invalid_uuids),
        cmocka_unit_test(test_json_map_rejects_client_managed_and_unknown_fields),
        cmocka_unit_test(test_json_map_rejects_wrong_dimension),
        cmocka_unit_test(test_json_map_rejects_non_objects),
        cmocka_unit_test(test_json_text_writes_shortest_reals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
