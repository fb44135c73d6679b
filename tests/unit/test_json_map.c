/*  test_json_map.c - the JSON form of entity fields (services/gateway/json_map),
    the JSON text writer it relies on (json_text), and the JSON form of sync
    peers (peer_json): POST bodies in, peers-database rows out.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "json_map.h"
#include "json_text.h"
#include "peer_json.h"
#include "bounds.h"
#include "err.h"
#include "mpk.h"

#include <math.h>
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
        ("{\"kind\":\"solution\",\"problem_ref\":\"0190c3e2-6a1b-7c00-8000-00000000abcd\","
         "\"approach\":\"pin it\",\"worked\":true}"),
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
    msgpack_object none = { .type = MSGPACK_OBJECT_MAP };
    json_text_t out = JSON_TEXT_INIT;
    bool first = true;
    assert_int_equal(json_map_write(ENT_EXPERIENCE, &none, bytes + 1, sizeof values, &out,
                                    &first), 0);
    char *text = json_text_take(&out, NULL);
    assert_string_equal(text, "\"embedding\":[0.1,-3.5]");
    free(text);
}

//  Reals are written in the shortest of 15, 16 or 17 digits that reads
//  back, with ".0" when that has no point; short decimals take a faster
//  way that must write exactly the same text.
static void
s_real_reference(double value, char *buf, size_t size)
{
    for (int precision = 15; precision <= 17; precision++) {
        snprintf(buf, size, "%.*g", precision, value);
        if (strtod(buf, NULL) == value)
            break;
    }
    if (!strpbrk(buf, ".eE"))
        strcat(buf, ".0");
}

static void
s_check_real(double value)
{
    char want[64];
    s_real_reference(value, want, sizeof want);
    json_text_t out = JSON_TEXT_INIT;
    json_text_put_real(&out, value);
    char *got = json_text_take(&out, NULL);
    if (strcmp(got, want) != 0)
        fail_msg("%.17g written as %s, expected %s", value, got, want);
    free(got);
}

static void
test_json_text_reals_are_shortest(void **state)
{
    (void) state;
    const double fixed[] = {
        0.5, 0.3, 0.7, 0.1, 0.25, 1.0, 3.0, -2.5, 0.0001, 0.00012, 1e-4,
        nextafter(1e-4, 0.0), 999999999.0, 999999999.5, 1e9, nextafter(1e9, 0.0),
        123456.789, 0.1 + 0.2, 1.0 / 3.0, 0.9396073608966501, 1e-7, 1e20, 5e-324,
        0.000123456, 12345678.123456, 2.0 / 3.0 * 1e6, -0.0, 0.0, 4503599627370497.0,
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        s_check_real(fixed[i]);
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double u = (double) (x >> 11) / 9007199254740992.0;      // [0, 1)
        s_check_real(u);                                           // 16-17 digits
        s_check_real((double) (x % 10000000) / 1e6);               // short decimals
        s_check_real((double) (x % 1000) / 1e3 - 0.5);
        s_check_real(json_text_f32((float) (u * 2.0 - 1.0)));     // embedding values
        s_check_real(ldexp(u, (int) (x % 80) - 40));               // any magnitude
    }
}

//  A stored record the API cannot show (a string that is not UTF-8, a
//  value of the wrong kind) is an error, and nothing of it is written.
static void
test_json_map_write_refuses_corrupt_records(void **state)
{
    (void) state;
    const char *bad[] = { "content\0\xff\xfe", "importance\0x" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        msgpack_sbuffer buf;
        msgpack_sbuffer_init(&buf);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 1);
        size_t name_len = strlen(bad[i]);
        msgpack_pack_str_with_body(&pk, bad[i], name_len);
        const char *value = bad[i] + name_len + 1;
        msgpack_pack_str_with_body(&pk, value, strlen(value));
        msgpack_unpacked u;
        assert_int_equal(mpk_parse(buf.data, buf.size, &u), 0);
        json_text_t out = JSON_TEXT_INIT;
        json_text_puts(&out, "{\"id\":1");
        bool first = false;
        assert_int_equal(json_map_write(ENT_EXPERIENCE, &u.data, NULL, 0, &out, &first),
                         PDB_ECORRUPT);
        char *text = json_text_take(&out, NULL);
        assert_string_equal(text, "{\"id\":1");
        free(text);
        msgpack_unpacked_destroy(&u);
        msgpack_sbuffer_destroy(&buf);
    }
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

//  The largest float32 is shown as 3.4028235e+38 (its shortest form), a
//  double just above FLT_MAX that still rounds to it: what the API shows,
//  a client must be able to write back. Past half a step above FLT_MAX a
//  number would round to infinity and is refused.
static void
test_json_map_reads_back_float32_max_as_shown(void **state)
{
    (void) state;
    s_round_trip(ENT_EXPERIENCE, "{\"content\":\"c\","
                 "\"embedding\":[3.4028235e+38,-3.4028235e+38,0.0,1.0]}");
    s_reject(ENT_EXPERIENCE, OP_CREATE, "{\"content\":\"c\",\"embedding\":[3.4028236e38,0,0,1]}",
             "float32");
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

//  --- peer_json ---------------------------------------------------------------------

#define COLL_A "0190c3e2-0000-7000-8000-000000000001"
#define COLL_B "0190c3e2-0000-7000-8000-000000000002"

static int
s_peer_parse(const char *text, peerspec_t *peer, char *why)
{
    //  JSON_ALLOW_NUL: the gateway's parser refuses \u0000 already; this
    //  checks the second line of defence.
    json_t *body = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    assert_non_null(body);
    int rc = peer_json_parse(body, peer, why);
    json_decref(body);
    return rc;
}

static void
test_peer_json_parses_a_post_body(void **state)
{
    (void) state;
    peerspec_t peer;
    char why[PDB_ERRMSG_MAX] = "";
    assert_int_equal(s_peer_parse("{\"name\":\"edge-3.eu_1\",\"address\":\"tcp://10.0.0.2:7700\","
                                  "\"direction\":\"push\",\"collectives\":[\"" COLL_A "\",\""
                                  COLL_B "\"]}", &peer, why), 0);
    assert_string_equal(peer.name, "edge-3.eu_1");
    assert_string_equal(peer.address, "tcp://10.0.0.2:7700");
    assert_int_equal(peer.direction, PEERSPEC_PUSH);
    assert_int_equal(peer.collectives_n, 2);
    char text[PDB_ID_STR_LEN + 1];
    pdb_id_format(&peer.collectives[1], text);
    assert_string_equal(text, COLL_B);
    //  Defaults: both ways, every collective; null counts as absent.
    assert_int_equal(s_peer_parse("{\"name\":\"b\",\"address\":\"tcp://[::1]:1\","
                                  "\"direction\":null,\"collectives\":null}", &peer, why), 0);
    assert_int_equal(peer.direction, PEERSPEC_BOTH);
    assert_int_equal(peer.collectives_n, 0);
}

static void
test_peer_json_rejects_bad_bodies(void **state)
{
    (void) state;
    static const struct {
        const char *body;
        int rc;
        const char *says;
    } cases[] = {
        { "{\"address\":\"tcp://h:1\"}", PDB_EINVAL, "'name' is required" },
        { "{\"name\":7,\"address\":\"tcp://h:1\"}", PDB_EINVAL, "'name' must be a string" },
        { "{\"name\":\"\",\"address\":\"tcp://h:1\"}", PDB_EINVAL, "'name' must be 1..128" },
        { "{\"name\":\"a b\",\"address\":\"tcp://h:1\"}", PDB_EINVAL, "'name'" },
        { "{\"name\":\"in:x\",\"address\":\"tcp://h:1\"}", PDB_EINVAL, "'name'" },
        { "{\"name\":\"caf\\u00e9\",\"address\":\"tcp://h:1\"}", PDB_EINVAL, "'name'" },
        { "{\"name\":\"b\"}", PDB_EINVAL, "'address' is required" },
        { "{\"name\":\"b\",\"address\":\"h:1\"}", PDB_EINVAL, "'address'" },
        { "{\"name\":\"b\",\"address\":\"tcp://h:70000\"}", PDB_EINVAL, "'address'" },
        { "{\"name\":\"b\",\"address\":\"tcp://h:*\"}", PDB_EINVAL, "'address'" },
        { "{\"name\":\"b\",\"address\":\"tcp://*:1\"}", PDB_EINVAL, "'address'" },
        { "{\"name\":\"b\",\"address\":\"http://h:1/x\"}", PDB_EINVAL, "'address'" },
        { "{\"name\":\"b\",\"address\":\"tcp://h:1\\u0000x\"}", PDB_EINVAL, "NUL" },
        { "{\"name\":\"b\",\"address\":\"tcp://h:1\",\"direction\":\"up\"}", PDB_EINVAL,
          "'direction' must be push, pull or both" },
        { "{\"name\":\"b\",\"address\":\"tcp://h:1\",\"direction\":1}", PDB_EINVAL,
          "'direction' must be a string" },
        { "{\"name\":\"b\",\"address\":\"tcp://h:1\",\"collectives\":\"" COLL_A "\"}",
          PDB_EINVAL, "'collectives' must be an array" },
        { "{\"name\":\"b\",\"address\":\"tcp://h:1\",\"collectives\":[\"x\"]}", PDB_EINVAL,
          "item 0 is not a collective id" },
        { "{\"name\":\"b\",\"address\":\"tcp://h:1\",\"collectives\":[\"" COLL_A "\",\""
          COLL_A "\"]}", PDB_EINVAL, "item 1 repeats" },
        { "{\"name\":\"b\",\"address\":\"tcp://h:1\",\"token\":\"x\"}", PDB_EINVAL,
          "unknown field 'token'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        peerspec_t peer;
        char why[PDB_ERRMSG_MAX] = "";
        int rc = s_peer_parse(cases[i].body, &peer, why);
        if (rc != cases[i].rc || !strstr(why, cases[i].says))
            fail_msg("case %zu: rc=%d why='%s', expected %d '%s'", i, rc, why, cases[i].rc,
                     cases[i].says);
        assert_string_equal(peer.name, "");    // nothing half-filled
    }
    json_t *body = json_array();
    char why[PDB_ERRMSG_MAX];
    peerspec_t peer;
    assert_int_equal(peer_json_parse(body, &peer, why), PDB_EINVAL);
    json_decref(body);
}

//  A body with n distinct collectives.
static json_t *
s_body_with_collectives(size_t n)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        char id[PDB_ID_STR_LEN + 1];
        snprintf(id, sizeof id, "0190c3e2-0000-7000-8000-%012x", (unsigned) (i + 1) & 0xfffu);
        json_array_append_new(list, json_string(id));
    }
    return json_pack("{s:s,s:s,s:o}", "name", "b", "address", "tcp://h:1", "collectives", list);
}

static void
test_peer_json_bounds_the_collective_filter(void **state)
{
    (void) state;
    peerspec_t peer;
    char why[PDB_ERRMSG_MAX];
    //  What fits in one row's string is accepted and packs under the limit.
    json_t *body = s_body_with_collectives(PEER_JSON_COLLECTIVES_STORED_MAX);
    assert_int_equal(peer_json_parse(body, &peer, why), 0);
    json_decref(body);
    mpk_out_t args;
    mpk_out_init(&args);
    assert_int_equal(peer_json_pack_set(&peer, &args), 0);
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(args.buf.data, args.buf.size, &u), 0);
    const char *list;
    size_t len;
    assert_int_equal(mpk_get_str(mpk_map_get(&u.data.via.array.ptr[1], "collectives"), &list,
                                 &len), 0);
    assert_true(len <= PDB_STR_MAX);
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&args);
    //  One more does not fit storage's string limit; past 256 is the protocol's.
    body = s_body_with_collectives(PEER_JSON_COLLECTIVES_STORED_MAX + 1);
    assert_int_equal(peer_json_parse(body, &peer, why), PDB_ETOOBIG);
    assert_non_null(strstr(why, "fit"));
    json_decref(body);
    body = s_body_with_collectives(PEER_JSON_COLLECTIVES_MAX + 1);
    assert_int_equal(peer_json_parse(body, &peer, why), PDB_ETOOBIG);
    assert_non_null(strstr(why, "at most 256"));
    json_decref(body);
}

static void
test_peer_json_packs_peer_set_args(void **state)
{
    (void) state;
    peerspec_t peer;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(s_peer_parse("{\"name\":\"beta\",\"address\":\"tcp://beta:7700\","
                                  "\"direction\":\"pull\",\"collectives\":[\""
                                  "0190C3E2-0000-7000-8000-000000000001\",\"" COLL_B "\"]}",
                                  &peer, why), 0);
    mpk_out_t args;
    mpk_out_init(&args);
    assert_int_equal(peer_json_pack_set(&peer, &args), 0);
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(args.buf.data, args.buf.size, &u), 0);
    assert_int_equal(u.data.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(u.data.via.array.size, 2);
    assert_true(mpk_is_str(&u.data.via.array.ptr[0], "beta"));
    const msgpack_object *map = &u.data.via.array.ptr[1];
    assert_int_equal(map->via.map.size, 4);
    assert_true(mpk_is_str(mpk_map_get(map, "address"), "tcp://beta:7700"));
    assert_true(mpk_is_str(mpk_map_get(map, "public_key"), ""));     // none given
    assert_true(mpk_is_str(mpk_map_get(map, "direction"), "pull"));
    //  Canonical (lower-case) ids, semicolon-separated, as the syncer reads them.
    assert_true(mpk_is_str(mpk_map_get(map, "collectives"), COLL_A ";" COLL_B));
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&args);
    //  No filter is written as "" so a re-added peer drops an old one.
    assert_int_equal(s_peer_parse("{\"name\":\"beta\",\"address\":\"tcp://beta:7700\"}", &peer,
                                  why), 0);
    mpk_out_init(&args);
    assert_int_equal(peer_json_pack_set(&peer, &args), 0);
    assert_int_equal(mpk_parse(args.buf.data, args.buf.size, &u), 0);
    assert_true(mpk_is_str(mpk_map_get(&u.data.via.array.ptr[1], "collectives"), ""));
    assert_true(mpk_is_str(mpk_map_get(&u.data.via.array.ptr[1], "direction"), "both"));
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&args);
}

static void
test_peer_json_held_back_counts_kept_entries(void **state)
{
    (void) state;
    assert_int_equal(peer_json_held_back(10, 1, 3), 7);     // 4..10 kept for it
    assert_int_equal(peer_json_held_back(10, 1, 10), 0);    // in step
    assert_int_equal(peer_json_held_back(10, 1, 12), 0);    // ahead (a restored node)
    assert_int_equal(peer_json_held_back(10, 6, 3), 5);     // 6..10: the rest is gone already
    assert_int_equal(peer_json_held_back(0, 1, 0), 0);      // empty WAL
    assert_int_equal(peer_json_held_back(5, 6, 0), 0);      // compacted to the head
}

//  One field of a hand-made peers-database row.
typedef struct {
    const char *key;
    char kind;              // 'u' u64, 's' str, 'b' bin16 filled with num, 'n' a negative int
    uint64_t num;
    const char *str;
} s_field_t;

static void
s_row_pack(mpk_out_t *out, const s_field_t *fields, size_t n)
{
    mpk_out_init(out);
    mpk_pack_map(&out->pk, n);
    for (size_t i = 0; i < n; i++) {
        mpk_pack_str(&out->pk, fields[i].key);
        if (fields[i].kind == 'u')
            mpk_pack_u64(&out->pk, fields[i].num);
        else if (fields[i].kind == 's')
            mpk_pack_str(&out->pk, fields[i].str);
        else if (fields[i].kind == 'n')
            mpk_pack_i64(&out->pk, -5);
        else {
            uint8_t id[PDB_ID_LEN];
            memset(id, (int) fields[i].num, sizeof id);
            mpk_pack_bin(&out->pk, id, sizeof id);
        }
    }
    assert_int_equal(mpk_out_status(out), 0);
}

#define NOW_MS 1700000001000ull

static void
test_peer_json_renders_a_syncer_row(void **state)
{
    (void) state;
    static const s_field_t fields[] = {
        { "address", 's', 0, "tcp://beta:7700" }, { "direction", 's', 0, "both" },
        { "collectives", 's', 0, COLL_A ";" COLL_B }, { "instance_id", 'b', 0xab, NULL },
        { "pull_cursor", 'u', 40, NULL }, { "push_acked", 'u', 35, NULL },
        { "conflicts", 'u', 1, NULL },
        { "state", 's', 0, "idle" },             // an older syncer's status: not shown
        { "lag_ms", 'u', 7, NULL }, { "last_error", 's', 0, "old" },
        { "something_new", 'u', 1, NULL },       // fields we do not know are left out
    };
    static const s_field_t status_fields[] = {
        { "state", 's', 0, "snapshot" }, { "lag_changes", 'u', 12, NULL },
        { "push_acked", 'u', 37, NULL },         // newer than the row's lazy copy
        { "pull_oldest_ms", 'u', NOW_MS - 250, NULL },
        { "push_oldest_ms", 'u', NOW_MS - 100, NULL },
        { "last_seen_ms", 'u', 1700000000000ull, NULL },
        { "error", 's', 0, "timed out" }, { "error_ms", 'u', 1700000000500ull, NULL },
        { "last_error", 's', 0, "timed out" }, { "last_error_ms", 'u', 1700000000500ull, NULL },
        { "failures", 'u', 2, NULL }, { "retries", 'u', 9, NULL },
        { "snapshot_done", 'u', 10, NULL }, { "snapshot_total", 'u', 40, NULL },
        { "snapshot_rate", 'u', 5, NULL }, { "peer_head", 'u', 90, NULL },
        { "last_success_ms", 'n', 0, NULL },     // a wrong type shows as null
    };
    mpk_out_t row, st;
    s_row_pack(&row, fields, sizeof fields / sizeof fields[0]);
    s_row_pack(&st, status_fields, sizeof status_fields / sizeof status_fields[0]);
    msgpack_unpacked u, su;
    assert_int_equal(mpk_parse(row.buf.data, row.buf.size, &u), 0);
    assert_int_equal(mpk_parse(st.buf.data, st.buf.size, &su), 0);
    peer_json_ctx_t ctx = { .wal_head = 100, .wal_floor = 1, .remote_pulls = true,
                            .pulled_through = 30, .status = &su.data, .now_ms = NOW_MS };
    json_t *peer = peer_json_outbound("beta", 4, NULL, &u.data, &ctx, 0);
    assert_non_null(peer);
    char *text = json_dumps(peer, JSON_SORT_KEYS | JSON_COMPACT);
    json_t *want = json_loads("{\"name\":\"beta\",\"defined_by\":\"api\","
        "\"address\":\"tcp://beta:7700\",\"direction\":\"both\",\"collectives\":[\"" COLL_A
        "\",\"" COLL_B "\"],\"public_key\":null,\"state\":\"snapshot\",\"instance_id\":"
        "\"abababab-abab-abab-abab-abababababab\",\"pull_cursor\":40,\"push_acked\":35,"
        "\"peer_head\":90,\"lag_changes\":63,\"pull_lag_changes\":12,\"push_lag_changes\":63,"
        "\"lag_ms\":250,\"pull_lag_ms\":250,\"push_lag_ms\":100,\"wal_held_back\":70,"
        "\"last_seen_ms\":1700000000000,\"last_success_ms\":null,\"error\":\"timed out\","
        "\"error_ms\":1700000000500,\"last_error\":\"timed out\","
        "\"last_error_ms\":1700000000500,\"failures\":2,\"retries\":9,"
        "\"conflicts\":1,\"snapshot\":{\"done\":10,\"total\":40,\"bytes\":null,\"rate\":5,"
        "\"eta_ms\":null}}", 0, NULL);
    assert_non_null(want);
    if (!json_equal(peer, want)) {
        char *w = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT);
        fail_msg("got  %s\nwant %s", text, w);
    }
    free(text);
    json_decref(want);
    json_decref(peer);
    //  The configuration view: the first six members only.
    peer = peer_json_outbound("beta", 4, NULL, &u.data, &ctx, PEER_JSON_CONFIG);
    assert_int_equal(json_object_size(peer), 6);
    json_decref(peer);
    //  Without the syncer's status: no state, no lag age, no error; the
    //  row's facts stay (and its last_seen_ms, compaction's copy).
    ctx.status = NULL;
    peer = peer_json_outbound("beta", 4, NULL, &u.data, &ctx, 0);
    static const char *const unknown[] = { "state", "lag_ms", "pull_lag_ms", "push_lag_ms",
                                           "error", "last_error", "failures", "snapshot" };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        assert_true(json_is_null(json_object_get(peer, unknown[i])));
    assert_int_equal(json_integer_value(json_object_get(peer, "push_acked")), 35);
    assert_int_equal(json_integer_value(json_object_get(peer, "push_lag_changes")), 65);
    json_decref(peer);
    msgpack_unpacked_destroy(&su);
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&st);
    mpk_out_release(&row);
}

static void
test_peer_json_error_is_current_only_while_failing(void **state)
{
    (void) state;
    //  Recovered: the error is history, with its time; the lag is 0.
    static const s_field_t recovered[] = {
        { "state", 's', 0, "idle" }, { "failures", 'u', 0, NULL },
        { "last_error", 's', 0, "push: peer went away" },
        { "last_error_ms", 'u', NOW_MS - 5000, NULL },
    };
    mpk_out_t st;
    s_row_pack(&st, recovered, 4);
    msgpack_unpacked su;
    assert_int_equal(mpk_parse(st.buf.data, st.buf.size, &su), 0);
    peer_json_ctx_t ctx = { .wal_head = 10, .wal_floor = 1, .status = &su.data,
                            .now_ms = NOW_MS };
    peerspec_t *config = NULL;
    size_t n = 0;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(peerspec_list_parse("beta=tcp://b:7700,pull", &config, &n, why), 0);
    json_t *peer = peer_json_outbound("beta", 4, config, NULL, &ctx, 0);
    assert_true(json_is_null(json_object_get(peer, "error")));
    assert_true(json_is_null(json_object_get(peer, "error_ms")));
    assert_string_equal(json_string_value(json_object_get(peer, "last_error")),
                        "push: peer went away");
    assert_int_equal(json_integer_value(json_object_get(peer, "last_error_ms")), NOW_MS - 5000);
    assert_int_equal(json_integer_value(json_object_get(peer, "lag_ms")), 0);
    assert_int_equal(json_integer_value(json_object_get(peer, "pull_lag_ms")), 0);
    assert_true(json_is_null(json_object_get(peer, "push_lag_ms")));    // it only pulls
    json_decref(peer);
    free(config);
    msgpack_unpacked_destroy(&su);
    mpk_out_release(&st);
}

//  lag_changes and wal_held_back of a row with the given direction.
static void
s_lag_of(const char *direction, bool remote_pulls, json_int_t *lag, json_int_t *held)
{
    const s_field_t fields[] = {
        { "address", 's', 0, "tcp://beta:7700" }, { "direction", 's', 0, direction },
        { "push_acked", 'u', 80, NULL },
    };
    const s_field_t status_fields[] = {
        { "state", 's', 0, "idle" }, { "lag_changes", 'u', 30, NULL },
    };
    mpk_out_t row, st;
    s_row_pack(&row, fields, 3);
    s_row_pack(&st, status_fields, 2);
    msgpack_unpacked u, su;
    assert_int_equal(mpk_parse(row.buf.data, row.buf.size, &u), 0);
    assert_int_equal(mpk_parse(st.buf.data, st.buf.size, &su), 0);
    peer_json_ctx_t ctx = { .wal_head = 100, .wal_floor = 1, .remote_pulls = remote_pulls,
                            .pulled_through = 50, .status = &su.data, .now_ms = NOW_MS };
    json_t *peer = peer_json_outbound("beta", 4, NULL, &u.data, &ctx, 0);
    assert_non_null(peer);
    *lag = json_integer_value(json_object_get(peer, "lag_changes"));
    *held = json_integer_value(json_object_get(peer, "wal_held_back"));
    json_decref(peer);
    msgpack_unpacked_destroy(&su);
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&st);
    mpk_out_release(&row);
}

static void
test_peer_json_lag_and_held_back_follow_the_direction(void **state)
{
    (void) state;
    json_int_t lag, held;
    s_lag_of("push", false, &lag, &held);        // our head 100 - push_acked 80
    assert_int_equal(lag, 20);
    assert_int_equal(held, 20);
    s_lag_of("pull", false, &lag, &held);        // the pull lag the syncer wrote
    assert_int_equal(lag, 30);
    assert_int_equal(held, 0);                   // we keep nothing for a peer we only pull from
    s_lag_of("pull", true, &lag, &held);         // ... unless it pulls from us (to 50)
    assert_int_equal(held, 50);
    s_lag_of("both", false, &lag, &held);        // the larger lag
    assert_int_equal(lag, 30);
    assert_int_equal(held, 20);
    s_lag_of("both", true, &lag, &held);         // the lower position holds
    assert_int_equal(held, 50);
}

static void
test_peer_json_renders_configured_and_status_only_peers(void **state)
{
    (void) state;
    peerspec_t *config = NULL;
    size_t n = 0;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(peerspec_list_parse("gamma=tcp://g:7700,pull,collectives=" COLL_A, &config, &n,
                                         why), 0);
    assert_int_equal(n, 1);
    peer_json_ctx_t ctx = { .wal_head = 10, .wal_floor = 1 };
    //  Configured, no row yet: configuration plus null status.
    json_t *peer = peer_json_outbound("ignored", 7, config, NULL, &ctx, 0);
    assert_non_null(peer);
    assert_string_equal(json_string_value(json_object_get(peer, "name")), "gamma");
    assert_string_equal(json_string_value(json_object_get(peer, "defined_by")), "config");
    assert_string_equal(json_string_value(json_object_get(peer, "direction")), "pull");
    assert_string_equal(json_string_value(json_array_get(json_object_get(peer, "collectives"),
                                                         0)), COLL_A);
    assert_true(json_is_null(json_object_get(peer, "state")));
    assert_true(json_is_null(json_object_get(peer, "lag_changes")));
    assert_true(json_is_null(json_object_get(peer, "snapshot")));
    assert_int_equal(json_integer_value(json_object_get(peer, "wal_held_back")), 0);
    json_decref(peer);
    free(config);
    //  A row with status only (its peer is configured elsewhere): no
    //  configuration shown, status as written, direction guessed from cursors.
    const s_field_t fields[] = { { "push_acked", 'u', 4, NULL } };
    const s_field_t status_fields[] = {
        { "state", 's', 0, "degraded" }, { "failures", 'u', 3, NULL },
        { "snapshot_done", 'u', 0, NULL }, { "snapshot_total", 'u', 0, NULL },
    };
    mpk_out_t row, st;
    s_row_pack(&row, fields, 1);
    s_row_pack(&st, status_fields, 4);
    msgpack_unpacked u, su;
    assert_int_equal(mpk_parse(row.buf.data, row.buf.size, &u), 0);
    assert_int_equal(mpk_parse(st.buf.data, st.buf.size, &su), 0);
    ctx.status = &su.data;
    peer = peer_json_outbound("old", 3, NULL, &u.data, &ctx, 0);
    assert_non_null(peer);
    assert_true(json_is_null(json_object_get(peer, "defined_by")));
    assert_true(json_is_null(json_object_get(peer, "address")));
    assert_true(json_is_null(json_object_get(peer, "collectives")));
    assert_int_equal(json_integer_value(json_object_get(peer, "lag_changes")), 6);
    assert_int_equal(json_integer_value(json_object_get(peer, "wal_held_back")), 6);
    assert_string_equal(json_string_value(json_object_get(peer, "state")), "degraded");
    assert_true(json_is_null(json_object_get(peer, "snapshot")));   // never ran one
    json_decref(peer);
    msgpack_unpacked_destroy(&su);
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&st);
    mpk_out_release(&row);
}

static void
test_peer_json_renders_inbound_rows(void **state)
{
    (void) state;
    const s_field_t fields[] = {
        { "instance_id", 'b', 0x11, NULL }, { "pulled_through", 'u', 7, NULL },
    };
    mpk_out_t row;
    s_row_pack(&row, fields, 2);
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(row.buf.data, row.buf.size, &u), 0);
    peer_json_ctx_t ctx = { .wal_head = 10, .wal_floor = 1 };
    json_t *in = peer_json_inbound(&u.data, "beta", &ctx);
    json_t *want = json_pack("{s:s,s:i,s:n,s:s,s:b,s:i,s:n,s:n,s:n}", "instance_id",
                             "11111111-1111-1111-1111-111111111111", "pulled_through", 7,
                             "last_seen_ms", "peer", "beta", "holds_wal", 1,
                             "wal_held_back", 3, "refused", "last_refused_ms",
                             "last_refusal");
    assert_true(json_equal(in, want));
    json_decref(want);
    json_decref(in);
    //  No outbound peer of that instance and no push: it holds nothing.
    in = peer_json_inbound(&u.data, NULL, &ctx);
    assert_true(json_is_null(json_object_get(in, "peer")));
    assert_true(json_is_false(json_object_get(in, "holds_wal")));
    assert_int_equal(json_integer_value(json_object_get(in, "wal_held_back")), 0);
    json_decref(in);
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&row);
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
        cmocka_unit_test(test_json_map_write_refuses_corrupt_records),
        cmocka_unit_test(test_json_text_reals_are_shortest),
        cmocka_unit_test(test_json_map_rejects_wrong_types),
        cmocka_unit_test(test_json_map_rejects_missing_required_fields),
        cmocka_unit_test(test_json_map_rejects_numbers_outside_float32),
        cmocka_unit_test(test_json_map_reads_back_float32_max_as_shown),
        cmocka_unit_test(test_json_map_rejects_units_outside_0_1),
        cmocka_unit_test(test_json_map_rejects_oversized_strings),
        cmocka_unit_test(test_json_map_rejects_invalid_uuids),
        cmocka_unit_test(test_json_map_rejects_client_managed_and_unknown_fields),
        cmocka_unit_test(test_json_map_rejects_wrong_dimension),
        cmocka_unit_test(test_json_map_rejects_non_objects),
        cmocka_unit_test(test_json_text_writes_shortest_reals),
        cmocka_unit_test(test_peer_json_parses_a_post_body),
        cmocka_unit_test(test_peer_json_rejects_bad_bodies),
        cmocka_unit_test(test_peer_json_bounds_the_collective_filter),
        cmocka_unit_test(test_peer_json_packs_peer_set_args),
        cmocka_unit_test(test_peer_json_held_back_counts_kept_entries),
        cmocka_unit_test(test_peer_json_renders_a_syncer_row),
        cmocka_unit_test(test_peer_json_error_is_current_only_while_failing),
        cmocka_unit_test(test_peer_json_lag_and_held_back_follow_the_direction),
        cmocka_unit_test(test_peer_json_renders_configured_and_status_only_peers),
        cmocka_unit_test(test_peer_json_renders_inbound_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
