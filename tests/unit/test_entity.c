/*  test_entity.c - the entity tables: every field kind's checks, every
    experience type variant, and the whole-change rules (unknown, duplicate,
    managed, immutable, required fields; empty updates; deletes).
*/
#include "entity.h"
#include "bounds.h"
#include "mpk.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DIM 3u

//  --------------------------------------------------------------------------
//  Helpers

//  Checks the value packed in o against one field of type; releases o.
static int
s_value(ent_type_t type, const char *field, mpk_out_t *o, uint32_t dim)
{
    assert_int_equal(mpk_out_status(o), 0);
    const field_spec_t *spec = entity_field(type, field, strlen(field));
    assert_non_null(spec);
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(o->buf.data, o->buf.size, &u), 0);
    char why[PDB_ERRMSG_MAX] = "";
    int rc = entity_check_value(spec, &u.data, dim, why);
    if (rc)
        assert_true(why[0] != '\0');        // every refusal says why
    msgpack_unpacked_destroy(&u);
    mpk_out_release(o);
    return rc;
}

//  Checks the field map packed in o as one change; releases o.
static int
s_fields(ent_type_t type, change_op_t op, bool from_client, uint32_t dim, mpk_out_t *o,
         char why[PDB_ERRMSG_MAX])
{
    assert_int_equal(mpk_out_status(o), 0);
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(o->buf.data, o->buf.size, &u), 0);
    why[0] = '\0';
    int rc = entity_check(type, op, &u.data, from_client, dim, why);
    if (rc)
        assert_true(why[0] != '\0');
    msgpack_unpacked_destroy(&u);
    mpk_out_release(o);
    return rc;
}

//  Runs PACK (statements using `pk`) and checks the value against a field.
#define CHECK_VALUE(want, type, field, dim, PACK)                              \
    do {                                                                       \
        mpk_out_t o_;                                                          \
        mpk_out_init(&o_);                                                     \
        msgpack_packer *pk = &o_.pk;                                           \
        PACK;                                                                  \
        assert_int_equal(s_value(type, field, &o_, dim), want);                \
    } while (0)

#define CHECK_FIELDS(want, type, op, client, dim, PACK)                        \
    do {                                                                       \
        mpk_out_t o_;                                                          \
        char why_[PDB_ERRMSG_MAX];                                             \
        mpk_out_init(&o_);                                                     \
        msgpack_packer *pk = &o_.pk;                                           \
        PACK;                                                                  \
        assert_int_equal(s_fields(type, op, client, dim, &o_, why_), want);    \
    } while (0)

static void
s_pack_vec(msgpack_packer *pk, uint32_t n, float fill)
{
    float *v = malloc(n * sizeof *v + 1);
    assert_non_null(v);
    for (uint32_t i = 0; i < n; i++)
        v[i] = fill + (float) i;
    mpk_pack_bin(pk, v, n * sizeof *v);
    free(v);
}

static void
s_pack_id_of(msgpack_packer *pk, uint8_t fill)
{
    pdb_id_t id;
    memset(id.b, fill, sizeof id.b);
    mpk_pack_id(pk, &id);
}

static void
s_pack_repeat(msgpack_packer *pk, char c, size_t n)
{
    char *text = malloc(n + 1);
    assert_non_null(text);
    memset(text, c, n);
    mpk_pack_strn(pk, text, n);
    free(text);
}

//  --- valid creates, field by field, so one can be left out ---------------

typedef void (*s_packer_fn)(msgpack_packer *pk);
typedef struct { const char *name; s_packer_fn pack; } s_field_t;

static void s_p_name(msgpack_packer *pk) { mpk_pack_str(pk, "knowledge"); }
static void s_p_owner(msgpack_packer *pk) { mpk_pack_str(pk, "team-a"); }
static void s_p_dim(msgpack_packer *pk) { mpk_pack_u64(pk, DIM); }
static void s_p_content(msgpack_packer *pk) { mpk_pack_str(pk, "use LMDB for \xe2\x82\xac"); }
static void s_p_vec(msgpack_packer *pk) { s_pack_vec(pk, DIM, 0.5f); }
static void s_p_half(msgpack_packer *pk) { mpk_pack_double(pk, 0.5); }
static void s_p_src(msgpack_packer *pk) { s_pack_id_of(pk, 0x11); }
static void s_p_dst(msgpack_packer *pk) { s_pack_id_of(pk, 0x22); }
static void s_p_rel_type(msgpack_packer *pk) { mpk_pack_str(pk, "supports"); }
static void s_p_ins_type(msgpack_packer *pk) { mpk_pack_str(pk, "synthesis"); }

static void
s_p_domain(msgpack_packer *pk)
{
    mpk_pack_array(pk, 2);
    mpk_pack_str(pk, "storage");
    mpk_pack_str(pk, "c");
}

static void
s_p_tags(msgpack_packer *pk)
{
    mpk_pack_map(pk, 1);
    mpk_pack_str(pk, "lang");
    mpk_pack_str(pk, "c11");
}

static void
s_p_exp_type(msgpack_packer *pk)
{
    mpk_pack_map(pk, 3);
    mpk_pack_str(pk, "kind");
    mpk_pack_str(pk, "difficulty");
    mpk_pack_str(pk, "description");
    mpk_pack_str(pk, "map size");
    mpk_pack_str(pk, "severity");
    mpk_pack_str(pk, "high");
}

static void
s_p_ids(msgpack_packer *pk)
{
    mpk_pack_array(pk, 2);
    s_pack_id_of(pk, 0x11);
    s_pack_id_of(pk, 0x22);
}

static const s_field_t s_collective[] = {
    { "name", s_p_name }, { "owner", s_p_owner }, { "embedding_dim", s_p_dim }, { NULL, NULL },
};
static const s_field_t s_experience[] = {
    { "content", s_p_content }, { "embedding", s_p_vec }, { "type", s_p_exp_type },
    { "importance", s_p_half }, { "domain", s_p_domain }, { "tags", s_p_tags }, { NULL, NULL },
};
static const s_field_t s_relation[] = {
    { "source", s_p_src }, { "target", s_p_dst }, { "type", s_p_rel_type },
    { "strength", s_p_half }, { NULL, NULL },
};
static const s_field_t s_insight[] = {
    { "content", s_p_content }, { "embedding", s_p_vec }, { "source_ids", s_p_ids },
    { "type", s_p_ins_type }, { "confidence", s_p_half }, { "domain", s_p_domain },
    { NULL, NULL },
};

static const s_field_t *
s_valid_of(ent_type_t type)
{
    switch (type) {
    case ENT_COLLECTIVE: return s_collective;
    case ENT_EXPERIENCE: return s_experience;
    case ENT_RELATION:   return s_relation;
    case ENT_INSIGHT:    return s_insight;
    }
    return NULL;
}

//  A valid client create of type, without the field named skip (may be NULL).
static void
s_pack_create(msgpack_packer *pk, ent_type_t type, const char *skip)
{
    const s_field_t *f = s_valid_of(type);
    size_t n = 0;
    for (size_t i = 0; f[i].name; i++)
        n += !skip || strcmp(f[i].name, skip) != 0;
    mpk_pack_map(pk, n);
    for (size_t i = 0; f[i].name; i++) {
        if (skip && strcmp(f[i].name, skip) == 0)
            continue;
        mpk_pack_str(pk, f[i].name);
        f[i].pack(pk);
    }
}

static const ent_type_t s_types[] = { ENT_COLLECTIVE, ENT_EXPERIENCE, ENT_RELATION, ENT_INSIGHT };

//  --------------------------------------------------------------------------
//  Field kinds

static void
test_entity_str_field_checks_type_bounds_and_utf8(void **state)
{
    (void) state;
    CHECK_VALUE(0, ENT_COLLECTIVE, "name", 0, mpk_pack_str(pk, "a"));
    CHECK_VALUE(0, ENT_COLLECTIVE, "name", 0, s_pack_repeat(pk, 'n', PDB_NAME_MAX));
    CHECK_VALUE(PDB_ETOOBIG, ENT_COLLECTIVE, "name", 0, s_pack_repeat(pk, 'n', PDB_NAME_MAX + 1));
    CHECK_VALUE(PDB_EINVAL, ENT_COLLECTIVE, "name", 0, mpk_pack_str(pk, ""));
    CHECK_VALUE(0, ENT_COLLECTIVE, "owner", 0, mpk_pack_str(pk, ""));   // optional: may be empty
    CHECK_VALUE(PDB_EINVAL, ENT_COLLECTIVE, "name", 0, mpk_pack_u64(pk, 7));
    CHECK_VALUE(PDB_EINVAL, ENT_COLLECTIVE, "name", 0, mpk_pack_bin(pk, "kb", 2));
    CHECK_VALUE(PDB_EINVAL, ENT_COLLECTIVE, "name", 0, mpk_pack_nil(pk));
    CHECK_VALUE(PDB_EINVAL, ENT_COLLECTIVE, "name", 0, mpk_pack_strn(pk, "k\xff", 2));
    CHECK_VALUE(PDB_EINVAL, ENT_COLLECTIVE, "name", 0, mpk_pack_strn(pk, "k\0b", 3));
    CHECK_VALUE(0, ENT_EXPERIENCE, "source_task", 0, s_pack_repeat(pk, 't', PDB_STR_MAX));
    CHECK_VALUE(PDB_ETOOBIG, ENT_EXPERIENCE, "source_task", 0,
                s_pack_repeat(pk, 't', PDB_STR_MAX + 1));
}

static void
test_entity_content_is_limited_to_64_kib(void **state)
{
    (void) state;
    CHECK_VALUE(0, ENT_EXPERIENCE, "content", 0, s_pack_repeat(pk, 'c', PDB_CONTENT_MAX));
    CHECK_VALUE(PDB_ETOOBIG, ENT_EXPERIENCE, "content", 0,
                s_pack_repeat(pk, 'c', PDB_CONTENT_MAX + 1));
    CHECK_VALUE(PDB_ETOOBIG, ENT_INSIGHT, "content", 0,
                s_pack_repeat(pk, 'c', PDB_CONTENT_MAX + 1));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "content", 0, mpk_pack_str(pk, ""));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "content", 0, mpk_pack_strn(pk, "\xc3\x28", 2));
}

static void
test_entity_utf8_validation_refuses_malformed_sequences(void **state)
{
    (void) state;
    static const char *good[] = {
        "plain", "h\xc3\xa9llo", "\xe2\x82\xac", "\xf0\x9d\x84\x9e", "\xf4\x8f\xbf\xbf",
        "\xed\x9f\xbf", "\xee\x80\x80", "",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(entity_utf8_valid(good[i], strlen(good[i])));
    static const char *bad[] = {
        "\xc0\x80",              // overlong NUL
        "\xc1\xbf",              // overlong
        "\xe0\x80\xaf",          // overlong 3-byte
        "\xf0\x80\x80\xaf",      // overlong 4-byte
        "\xed\xa0\x80",          // surrogate
        "\xf4\x90\x80\x80",      // past U+10FFFF
        "\xf5\x80\x80\x80",      // lead byte out of range
        "\xff",                  // never valid
        "\x80",                  // lone continuation
        "\xe2\x82",              // truncated
        "\xe2\x28\xa1",          // bad continuation
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(entity_utf8_valid(bad[i], strlen(bad[i])));
    assert_false(entity_utf8_valid("a\0b", 3));
}

static void
test_entity_unit_field_is_a_finite_number_in_0_1(void **state)
{
    (void) state;
    CHECK_VALUE(0, ENT_EXPERIENCE, "importance", 0, mpk_pack_double(pk, 0.0));
    CHECK_VALUE(0, ENT_EXPERIENCE, "importance", 0, mpk_pack_double(pk, 1.0));
    CHECK_VALUE(0, ENT_EXPERIENCE, "importance", 0, mpk_pack_double(pk, 0.25));
    CHECK_VALUE(0, ENT_EXPERIENCE, "importance", 0, mpk_pack_u64(pk, 1));
    CHECK_VALUE(0, ENT_EXPERIENCE, "confidence", 0, (void) msgpack_pack_float(pk, 0.5f));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "importance", 0, mpk_pack_double(pk, -0.001));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "importance", 0, mpk_pack_double(pk, 1.0001));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "importance", 0, mpk_pack_u64(pk, 2));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "importance", 0, mpk_pack_i64(pk, -1));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "importance", 0, mpk_pack_double(pk, NAN));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "importance", 0, mpk_pack_double(pk, INFINITY));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "importance", 0, mpk_pack_str(pk, "0.5"));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "importance", 0, mpk_pack_nil(pk));
    CHECK_VALUE(PDB_EINVAL, ENT_RELATION, "strength", 0, mpk_pack_double(pk, 2.0));
}

static void
test_entity_vector_field_is_finite_float32_of_the_collective_dim(void **state)
{
    (void) state;
    CHECK_VALUE(0, ENT_EXPERIENCE, "embedding", DIM, s_pack_vec(pk, DIM, 0.1f));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "embedding", DIM, s_pack_vec(pk, DIM - 1, 0.1f));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "embedding", DIM, s_pack_vec(pk, DIM + 1, 0.1f));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "embedding", DIM, s_pack_vec(pk, 0, 0.1f));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "embedding", DIM, mpk_pack_bin(pk, "0123456789a", 11));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "embedding", DIM, mpk_pack_str(pk, "0123456789ab"));
    float nan_vec[DIM] = { 0.1f, NAN, 0.3f }, inf_vec[DIM] = { -INFINITY, 0.2f, 0.3f };
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "embedding", DIM,
                mpk_pack_bin(pk, nan_vec, sizeof nan_vec));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "embedding", DIM,
                mpk_pack_bin(pk, inf_vec, sizeof inf_vec));
    //  Without a collective dim (0), any size up to the limit.
    CHECK_VALUE(0, ENT_EXPERIENCE, "embedding", 0, s_pack_vec(pk, 17, 0.0f));
    CHECK_VALUE(0, ENT_EXPERIENCE, "embedding", 0, s_pack_vec(pk, PDB_DIM_MAX, 0.0f));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "embedding", 0, s_pack_vec(pk, PDB_DIM_MAX + 1, 0.0f));
    CHECK_VALUE(PDB_EINVAL, ENT_INSIGHT, "embedding", DIM, s_pack_vec(pk, DIM * 2, 0.1f));
}

static void
test_entity_string_list_is_bounded_strings(void **state)
{
    (void) state;
    CHECK_VALUE(0, ENT_EXPERIENCE, "domain", 0, mpk_pack_array(pk, 0));
    CHECK_VALUE(0, ENT_EXPERIENCE, "domain", 0,
                mpk_pack_array(pk, PDB_DOMAIN_MAX);
                for (unsigned i = 0; i < PDB_DOMAIN_MAX; i++) mpk_pack_str(pk, "d"));
    CHECK_VALUE(PDB_ETOOBIG, ENT_EXPERIENCE, "domain", 0,
                mpk_pack_array(pk, PDB_DOMAIN_MAX + 1);
                for (unsigned i = 0; i < PDB_DOMAIN_MAX + 1; i++) mpk_pack_str(pk, "d"));
    CHECK_VALUE(PDB_ETOOBIG, ENT_INSIGHT, "domain", 0,
                mpk_pack_array(pk, PDB_DOMAIN_MAX + 1);
                for (unsigned i = 0; i < PDB_DOMAIN_MAX + 1; i++) mpk_pack_str(pk, "d"));
    CHECK_VALUE(0, ENT_EXPERIENCE, "related_files", 0,
                mpk_pack_array(pk, PDB_DOMAIN_MAX + 1);
                for (unsigned i = 0; i < PDB_DOMAIN_MAX + 1; i++) mpk_pack_str(pk, "f.c"));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "domain", 0,
                mpk_pack_array(pk, 2); mpk_pack_str(pk, "a"); mpk_pack_u64(pk, 1));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "domain", 0,
                mpk_pack_array(pk, 1); mpk_pack_strn(pk, "\xed\xa0\x80", 3));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "domain", 0, mpk_pack_str(pk, "storage"));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "domain", 0, mpk_pack_map(pk, 0));
}

static void
test_entity_string_map_is_bounded_unique_string_pairs(void **state)
{
    (void) state;
    CHECK_VALUE(0, ENT_EXPERIENCE, "tags", 0, mpk_pack_map(pk, 0));
    CHECK_VALUE(0, ENT_EXPERIENCE, "tags", 0,
                mpk_pack_map(pk, 2); mpk_pack_str(pk, "a"); mpk_pack_str(pk, "");
                mpk_pack_str(pk, "b"); mpk_pack_str(pk, "2"));
    char key[8];
    CHECK_VALUE(0, ENT_EXPERIENCE, "tags", 0,
                mpk_pack_map(pk, PDB_MAP_MAX);
                for (unsigned i = 0; i < PDB_MAP_MAX; i++) {
                    snprintf(key, sizeof key, "k%u", i);
                    mpk_pack_str(pk, key);
                    mpk_pack_str(pk, "v");
                });
    CHECK_VALUE(PDB_ETOOBIG, ENT_EXPERIENCE, "tags", 0,
                mpk_pack_map(pk, PDB_MAP_MAX + 1);
                for (unsigned i = 0; i < PDB_MAP_MAX + 1; i++) {
                    snprintf(key, sizeof key, "k%u", i);
                    mpk_pack_str(pk, key);
                    mpk_pack_str(pk, "v");
                });
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "tags", 0,
                mpk_pack_map(pk, 2); mpk_pack_str(pk, "a"); mpk_pack_str(pk, "1");
                mpk_pack_str(pk, "a"); mpk_pack_str(pk, "2"));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "tags", 0,
                mpk_pack_map(pk, 1); mpk_pack_str(pk, ""); mpk_pack_str(pk, "v"));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "tags", 0,
                mpk_pack_map(pk, 1); mpk_pack_str(pk, "a"); mpk_pack_u64(pk, 1));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "tags", 0,
                mpk_pack_map(pk, 1); mpk_pack_u64(pk, 1); mpk_pack_str(pk, "v"));
    CHECK_VALUE(PDB_ETOOBIG, ENT_EXPERIENCE, "tags", 0,
                mpk_pack_map(pk, 1); s_pack_repeat(pk, 'k', PDB_NAME_MAX + 1);
                mpk_pack_str(pk, "v"));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "tags", 0, mpk_pack_array(pk, 0));
    CHECK_VALUE(PDB_EINVAL, ENT_RELATION, "metadata", 0,
                mpk_pack_map(pk, 1); mpk_pack_str(pk, "k"); mpk_pack_nil(pk));
}

static void
test_entity_counter_maps_instance_ids_to_counts(void **state)
{
    (void) state;
    CHECK_VALUE(0, ENT_EXPERIENCE, "applications", 0, mpk_pack_map(pk, 0));
    CHECK_VALUE(0, ENT_EXPERIENCE, "applications", 0,
                mpk_pack_map(pk, 2); s_pack_id_of(pk, 1); mpk_pack_u64(pk, 3);
                s_pack_id_of(pk, 2); mpk_pack_u64(pk, 0));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "applications", 0,
                mpk_pack_map(pk, 1); mpk_pack_str(pk, "node"); mpk_pack_u64(pk, 1));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "applications", 0,
                mpk_pack_map(pk, 1); mpk_pack_bin(pk, "0123456789abcde", 15);
                mpk_pack_u64(pk, 1));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "applications", 0,
                mpk_pack_map(pk, 1); s_pack_id_of(pk, 1); mpk_pack_i64(pk, -1));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "applications", 0,
                mpk_pack_map(pk, 1); s_pack_id_of(pk, 1); mpk_pack_double(pk, 1.0));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "applications", 0,
                mpk_pack_map(pk, 2); s_pack_id_of(pk, 1); mpk_pack_u64(pk, 1);
                s_pack_id_of(pk, 1); mpk_pack_u64(pk, 2));
    pdb_id_t id = { { 0 } };
    CHECK_VALUE(PDB_ETOOBIG, ENT_EXPERIENCE, "applications", 0,
                mpk_pack_map(pk, PDB_COUNTER_MAX + 1);
                for (unsigned i = 0; i <= PDB_COUNTER_MAX; i++) {
                    id.b[0] = (uint8_t) i;
                    id.b[1] = (uint8_t) (i >> 8);
                    mpk_pack_id(pk, &id);
                    mpk_pack_u64(pk, 1);
                });
}

static void
test_entity_id_and_id_list_fields_hold_16_byte_ids(void **state)
{
    (void) state;
    CHECK_VALUE(0, ENT_RELATION, "source", 0, s_pack_id_of(pk, 0x42));
    CHECK_VALUE(PDB_EINVAL, ENT_RELATION, "source", 0, mpk_pack_bin(pk, "short", 5));
    CHECK_VALUE(PDB_EINVAL, ENT_RELATION, "target", 0,
                mpk_pack_str(pk, "018f3a2b-7c4d-7e5f-8a6b-9c0d1e2f3a4b"));
    CHECK_VALUE(0, ENT_INSIGHT, "source_ids", 0, s_p_ids(pk));
    CHECK_VALUE(0, ENT_INSIGHT, "source_ids", 0, mpk_pack_array(pk, 0));
    CHECK_VALUE(PDB_EINVAL, ENT_INSIGHT, "source_ids", 0,
                mpk_pack_array(pk, 1); mpk_pack_str(pk, "x"));
    CHECK_VALUE(PDB_EINVAL, ENT_INSIGHT, "source_ids", 0, s_pack_id_of(pk, 1));
    CHECK_VALUE(PDB_EINVAL, ENT_INSIGHT, "source_ids", 0,
                mpk_pack_array(pk, PDB_LIST_MAX + 1);
                for (unsigned i = 0; i <= PDB_LIST_MAX; i++) s_pack_id_of(pk, 1));
}

static void
test_entity_enum_bool_and_integer_fields(void **state)
{
    (void) state;
    static const char *relation_types[] = {
        "supports", "contradicts", "elaborates", "supersedes", "implies", "related_to",
    };
    for (size_t i = 0; i < 6; i++)
        CHECK_VALUE(0, ENT_RELATION, "type", 0, mpk_pack_str(pk, relation_types[i]));
    static const char *insight_types[] = { "pattern", "synthesis", "abstraction", "correlation" };
    for (size_t i = 0; i < 4; i++)
        CHECK_VALUE(0, ENT_INSIGHT, "type", 0, mpk_pack_str(pk, insight_types[i]));
    CHECK_VALUE(PDB_EINVAL, ENT_RELATION, "type", 0, mpk_pack_str(pk, "Supports"));
    CHECK_VALUE(PDB_EINVAL, ENT_RELATION, "type", 0, mpk_pack_str(pk, "pattern"));
    CHECK_VALUE(PDB_EINVAL, ENT_INSIGHT, "type", 0, mpk_pack_u64(pk, 0));

    CHECK_VALUE(0, ENT_EXPERIENCE, "archived", 0, mpk_pack_bool(pk, true));
    CHECK_VALUE(0, ENT_EXPERIENCE, "archived", 0, mpk_pack_bool(pk, false));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "archived", 0, mpk_pack_u64(pk, 1));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "archived", 0, mpk_pack_nil(pk));

    CHECK_VALUE(0, ENT_COLLECTIVE, "embedding_dim", 0, mpk_pack_u64(pk, 1));
    CHECK_VALUE(0, ENT_COLLECTIVE, "embedding_dim", 0, mpk_pack_u64(pk, PDB_DIM_MAX));
    CHECK_VALUE(PDB_EINVAL, ENT_COLLECTIVE, "embedding_dim", 0, mpk_pack_u64(pk, 0));
    CHECK_VALUE(PDB_EINVAL, ENT_COLLECTIVE, "embedding_dim", 0, mpk_pack_u64(pk, PDB_DIM_MAX + 1));
    CHECK_VALUE(PDB_EINVAL, ENT_COLLECTIVE, "embedding_dim", 0, mpk_pack_i64(pk, -3));
    CHECK_VALUE(PDB_EINVAL, ENT_COLLECTIVE, "embedding_dim", 0, mpk_pack_double(pk, 3.0));
    CHECK_VALUE(PDB_EINVAL, ENT_COLLECTIVE, "embedding_dim", 0, mpk_pack_str(pk, "3"));
    CHECK_VALUE(0, ENT_EXPERIENCE, "last_reinforced", 0, mpk_pack_u64(pk, UINT64_MAX));
}

//  --------------------------------------------------------------------------
//  Experience type variants

//  A valid value for one variant field type.
static void
s_pack_variant_value(msgpack_packer *pk, char type)
{
    switch (type) {
    case 'S': mpk_pack_str(pk, "text"); break;
    case 'U': mpk_pack_double(pk, 0.75); break;
    case 'B': mpk_pack_bool(pk, true); break;
    case 'I': s_pack_id_of(pk, 0x33); break;
    case 'V': mpk_pack_str(pk, "critical"); break;
    default:  fail_msg("unknown variant field type %c", type);
    }
}

//  A wrong value for one variant field type.
static void
s_pack_variant_wrong(msgpack_packer *pk, char type)
{
    switch (type) {
    case 'S': mpk_pack_u64(pk, 1); break;
    case 'U': mpk_pack_double(pk, 1.5); break;
    case 'B': mpk_pack_str(pk, "yes"); break;
    case 'I': mpk_pack_bin(pk, "0123", 4); break;
    case 'V': mpk_pack_str(pk, "severe"); break;
    default:  fail_msg("unknown variant field type %c", type);
    }
}

static size_t
s_variant_field_count(const variant_spec_t *v)
{
    size_t n = 0;
    while (n < VARIANT_FIELDS_MAX && v->fields[n].name)
        n++;
    return n;
}

//  The variant with every field valid, except field `wrong` (-1: none).
static void
s_pack_variant(msgpack_packer *pk, const variant_spec_t *v, int wrong)
{
    size_t n = s_variant_field_count(v);
    mpk_pack_map(pk, n + 1);
    mpk_pack_str(pk, "kind");
    mpk_pack_str(pk, v->kind);
    for (size_t f = 0; f < n; f++) {
        mpk_pack_str(pk, v->fields[f].name);
        if ((int) f == wrong)
            s_pack_variant_wrong(pk, v->fields[f].type);
        else
            s_pack_variant_value(pk, v->fields[f].type);
    }
}

static void
test_entity_has_every_experience_type_variant(void **state)
{
    (void) state;
    static const char *kinds[] = {
        "generic", "difficulty", "solution", "error_pattern", "success_pattern",
        "user_preference", "architectural_decision", "tech_insight", "fact",
    };
    assert_int_equal(entity_variant_count, sizeof kinds / sizeof kinds[0]);
    for (size_t i = 0; i < entity_variant_count; i++)
        assert_string_equal(entity_variants[i].kind, kinds[i]);
}

static void
test_entity_accepts_every_variant_and_refuses_each_wrong_field(void **state)
{
    (void) state;
    for (size_t i = 0; i < entity_variant_count; i++) {
        const variant_spec_t *v = &entity_variants[i];
        CHECK_VALUE(0, ENT_EXPERIENCE, "type", 0, s_pack_variant(pk, v, -1));
        //  Fields may be left out; "kind" alone is enough.
        CHECK_VALUE(0, ENT_EXPERIENCE, "type", 0,
                    mpk_pack_map(pk, 1); mpk_pack_str(pk, "kind"); mpk_pack_str(pk, v->kind));
        for (size_t f = 0; f < s_variant_field_count(v); f++)
            CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "type", 0, s_pack_variant(pk, v, (int) f));
        //  The same variant as a whole experience create.
        CHECK_FIELDS(0, ENT_EXPERIENCE, OP_CREATE, true, DIM,
                     mpk_pack_map(pk, 3);
                     mpk_pack_str(pk, "content"); s_p_content(pk);
                     mpk_pack_str(pk, "embedding"); s_p_vec(pk);
                     mpk_pack_str(pk, "type"); s_pack_variant(pk, v, -1));
    }
}

static void
test_entity_variant_severity_and_problem_ref_values(void **state)
{
    (void) state;
    for (const char *const *s = entity_severities; *s; s++)
        CHECK_VALUE(0, ENT_EXPERIENCE, "type", 0,
                    mpk_pack_map(pk, 2); mpk_pack_str(pk, "kind"); mpk_pack_str(pk, "difficulty");
                    mpk_pack_str(pk, "severity"); mpk_pack_str(pk, *s));
    CHECK_VALUE(0, ENT_EXPERIENCE, "type", 0,
                mpk_pack_map(pk, 2); mpk_pack_str(pk, "kind"); mpk_pack_str(pk, "solution");
                mpk_pack_str(pk, "problem_ref"); mpk_pack_nil(pk));
}

static void
test_entity_variant_refuses_unknown_kind_field_and_shape(void **state)
{
    (void) state;
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "type", 0,
                mpk_pack_map(pk, 1); mpk_pack_str(pk, "kind"); mpk_pack_str(pk, "rumour"));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "type", 0,
                mpk_pack_map(pk, 1); mpk_pack_str(pk, "category"); mpk_pack_str(pk, "x"));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "type", 0,
                mpk_pack_map(pk, 1); mpk_pack_str(pk, "kind"); mpk_pack_u64(pk, 1));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "type", 0, mpk_pack_str(pk, "generic"));
    //  A field of another variant.
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "type", 0,
                mpk_pack_map(pk, 2); mpk_pack_str(pk, "kind"); mpk_pack_str(pk, "generic");
                mpk_pack_str(pk, "fix"); mpk_pack_str(pk, "x"));
    CHECK_VALUE(PDB_EINVAL, ENT_EXPERIENCE, "type", 0,
                mpk_pack_map(pk, 3); mpk_pack_str(pk, "kind"); mpk_pack_str(pk, "generic");
                mpk_pack_str(pk, "category"); mpk_pack_str(pk, "a");
                mpk_pack_str(pk, "category"); mpk_pack_str(pk, "b"));
}

//  --------------------------------------------------------------------------
//  Whole changes

static void
test_entity_valid_creates_pass_for_every_type(void **state)
{
    (void) state;
    for (size_t t = 0; t < 4; t++) {
        CHECK_FIELDS(0, s_types[t], OP_CREATE, true, DIM, s_pack_create(pk, s_types[t], NULL));
        CHECK_FIELDS(0, s_types[t], OP_CREATE, false, DIM, s_pack_create(pk, s_types[t], NULL));
    }
}

//  The experience create of s_pack_create with an embedding of DIM copies
//  of `fill` (signed zeros included).
static void
s_pack_exp_filled(msgpack_packer *pk, float fill)
{
    const s_field_t *f = s_valid_of(ENT_EXPERIENCE);
    size_t n = 0;
    while (f[n].name)
        n++;
    mpk_pack_map(pk, n);
    for (size_t i = 0; i < n; i++) {
        mpk_pack_str(pk, f[i].name);
        if (strcmp(f[i].name, "embedding") != 0) {
            f[i].pack(pk);
            continue;
        }
        float v[DIM];
        for (size_t j = 0; j < DIM; j++)
            v[j] = fill;
        mpk_pack_bin(pk, v, sizeof v);
    }
}

//  A new write with an all-zero embedding is refused (it has no direction,
//  no search can find it); the same create arriving from a peer is kept,
//  since a node that already stored it must still converge with this one.
static void
test_entity_zero_embedding_refused_from_client_kept_from_peer(void **state)
{
    (void) state;
    CHECK_FIELDS(PDB_EINVAL, ENT_EXPERIENCE, OP_CREATE, true, DIM, s_pack_exp_filled(pk, 0.0f));
    CHECK_FIELDS(PDB_EINVAL, ENT_EXPERIENCE, OP_CREATE, true, DIM, s_pack_exp_filled(pk, -0.0f));
    CHECK_FIELDS(0, ENT_EXPERIENCE, OP_CREATE, false, DIM, s_pack_exp_filled(pk, 0.0f));
    CHECK_FIELDS(0, ENT_EXPERIENCE, OP_CREATE, true, DIM, s_pack_exp_filled(pk, 1e-45f));
    CHECK_FIELDS(0, ENT_EXPERIENCE, OP_CREATE, true, DIM, s_pack_exp_filled(pk, 3e38f));
}

static void
test_entity_create_missing_a_required_field_is_refused(void **state)
{
    (void) state;
    for (size_t t = 0; t < 4; t++) {
        size_t count;
        const field_spec_t *spec = entity_spec(s_types[t], &count);
        assert_non_null(spec);
        for (size_t i = 0; i < count; i++) {
            if (!(spec[i].flags & FIELD_REQUIRED))
                continue;
            mpk_out_t o;
            char why[PDB_ERRMSG_MAX];
            mpk_out_init(&o);
            s_pack_create(&o.pk, s_types[t], spec[i].name);
            assert_int_equal(s_fields(s_types[t], OP_CREATE, true, DIM, &o, why), PDB_EINVAL);
            assert_non_null(strstr(why, spec[i].name));
        }
    }
}

static void
test_entity_unknown_field_is_refused(void **state)
{
    (void) state;
    CHECK_FIELDS(PDB_EINVAL, ENT_EXPERIENCE, OP_UPDATE, true, DIM,
                 mpk_pack_map(pk, 1); mpk_pack_str(pk, "colour"); mpk_pack_str(pk, "red"));
    CHECK_FIELDS(PDB_EINVAL, ENT_EXPERIENCE, OP_UPDATE, false, DIM,
                 mpk_pack_map(pk, 1); mpk_pack_str(pk, "colour"); mpk_pack_str(pk, "red"));
    //  A field of another entity type.
    CHECK_FIELDS(PDB_EINVAL, ENT_COLLECTIVE, OP_UPDATE, true, 0,
                 mpk_pack_map(pk, 1); mpk_pack_str(pk, "importance"); mpk_pack_double(pk, 0.5));
    CHECK_FIELDS(PDB_EINVAL, ENT_EXPERIENCE, OP_UPDATE, true, DIM,
                 mpk_pack_map(pk, 1); mpk_pack_u64(pk, 1); mpk_pack_double(pk, 0.5));
    char why[PDB_ERRMSG_MAX];
    mpk_out_t o;
    mpk_out_init(&o);
    mpk_pack_map(&o.pk, 1);
    s_pack_repeat(&o.pk, 'x', 500);     // the message quotes a bounded part of the name
    mpk_pack_nil(&o.pk);
    assert_int_equal(s_fields(ENT_EXPERIENCE, OP_UPDATE, true, DIM, &o, why), PDB_EINVAL);
}

static void
test_entity_duplicate_key_is_refused(void **state)
{
    (void) state;
    CHECK_FIELDS(PDB_EINVAL, ENT_EXPERIENCE, OP_UPDATE, true, DIM,
                 mpk_pack_map(pk, 2);
                 mpk_pack_str(pk, "importance"); mpk_pack_double(pk, 0.1);
                 mpk_pack_str(pk, "importance"); mpk_pack_double(pk, 0.9));
    CHECK_FIELDS(PDB_EINVAL, ENT_COLLECTIVE, OP_CREATE, true, 0,
                 mpk_pack_map(pk, 3);
                 mpk_pack_str(pk, "name"); mpk_pack_str(pk, "a");
                 mpk_pack_str(pk, "embedding_dim"); mpk_pack_u64(pk, 3);
                 mpk_pack_str(pk, "name"); mpk_pack_str(pk, "b"));
}

static void
test_entity_managed_field_only_from_a_peer(void **state)
{
    (void) state;
    static const struct { ent_type_t type; const char *field; } managed[] = {
        { ENT_COLLECTIVE, "created_at" }, { ENT_COLLECTIVE, "updated_at" },
        { ENT_EXPERIENCE, "created_at" }, { ENT_EXPERIENCE, "last_reinforced" },
        { ENT_RELATION, "created_at" }, { ENT_INSIGHT, "updated_at" },
    };
    for (size_t i = 0; i < sizeof managed / sizeof managed[0]; i++) {
        //  A valid create plus the managed field.
        for (int client = 0; client < 2; client++) {
            mpk_out_t o;
            char why[PDB_ERRMSG_MAX];
            mpk_out_init(&o);
            const s_field_t *f = s_valid_of(managed[i].type);
            size_t n = 0;
            while (f[n].name)
                n++;
            mpk_pack_map(&o.pk, n + 1);
            for (size_t k = 0; k < n; k++) {
                mpk_pack_str(&o.pk, f[k].name);
                f[k].pack(&o.pk);
            }
            mpk_pack_str(&o.pk, managed[i].field);
            mpk_pack_u64(&o.pk, 1700000000000ull);
            int want = client ? PDB_EINVAL : 0;
            assert_int_equal(s_fields(managed[i].type, OP_CREATE, client, DIM, &o, why), want);
        }
    }
    CHECK_FIELDS(PDB_EINVAL, ENT_EXPERIENCE, OP_UPDATE, true, DIM,
                 mpk_pack_map(pk, 1); mpk_pack_str(pk, "applications");
                 mpk_pack_map(pk, 1); s_pack_id_of(pk, 1); mpk_pack_u64(pk, 1));
    CHECK_FIELDS(0, ENT_EXPERIENCE, OP_UPDATE, false, DIM,
                 mpk_pack_map(pk, 2); mpk_pack_str(pk, "applications");
                 mpk_pack_map(pk, 1); s_pack_id_of(pk, 1); mpk_pack_u64(pk, 1);
                 mpk_pack_str(pk, "last_reinforced"); mpk_pack_u64(pk, 5));
}

static void
test_entity_immutable_field_in_update_is_refused(void **state)
{
    (void) state;
    static const struct { ent_type_t type; const char *field; s_packer_fn pack; } fixed[] = {
        { ENT_EXPERIENCE, "content", s_p_content }, { ENT_EXPERIENCE, "embedding", s_p_vec },
        { ENT_EXPERIENCE, "type", s_p_exp_type }, { ENT_COLLECTIVE, "embedding_dim", s_p_dim },
        { ENT_RELATION, "strength", s_p_half }, { ENT_RELATION, "source", s_p_src },
        { ENT_INSIGHT, "confidence", s_p_half }, { ENT_INSIGHT, "content", s_p_content },
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        for (int client = 0; client < 2; client++)
            CHECK_FIELDS(PDB_EINVAL, fixed[i].type, OP_UPDATE, client, DIM,
                         mpk_pack_map(pk, 1); mpk_pack_str(pk, fixed[i].field);
                         fixed[i].pack(pk));
    //  Mutable fields pass.
    CHECK_FIELDS(0, ENT_EXPERIENCE, OP_UPDATE, true, DIM,
                 mpk_pack_map(pk, 5);
                 mpk_pack_str(pk, "importance"); mpk_pack_double(pk, 0.9);
                 mpk_pack_str(pk, "confidence"); mpk_pack_double(pk, 0.1);
                 mpk_pack_str(pk, "domain"); s_p_domain(pk);
                 mpk_pack_str(pk, "tags"); s_p_tags(pk);
                 mpk_pack_str(pk, "archived"); mpk_pack_bool(pk, true));
    CHECK_FIELDS(0, ENT_COLLECTIVE, OP_UPDATE, true, 0,
                 mpk_pack_map(pk, 2); mpk_pack_str(pk, "name"); mpk_pack_str(pk, "new");
                 mpk_pack_str(pk, "owner"); mpk_pack_str(pk, "bob"));
}

static void
test_entity_empty_update_is_refused(void **state)
{
    (void) state;
    for (size_t t = 0; t < 4; t++)
        CHECK_FIELDS(PDB_EINVAL, s_types[t], OP_UPDATE, false, DIM, mpk_pack_map(pk, 0));
}

static void
test_entity_delete_carries_no_fields(void **state)
{
    (void) state;
    for (size_t t = 0; t < 4; t++) {
        CHECK_FIELDS(0, s_types[t], OP_DELETE, true, DIM, mpk_pack_map(pk, 0));
        CHECK_FIELDS(PDB_EINVAL, s_types[t], OP_DELETE, true, DIM,
                     s_pack_create(pk, s_types[t], NULL));
    }
    CHECK_FIELDS(PDB_EINVAL, ENT_EXPERIENCE, OP_DELETE, false, DIM,
                 mpk_pack_map(pk, 1); mpk_pack_str(pk, "archived"); mpk_pack_bool(pk, true));
}

static void
test_entity_fields_must_be_a_map_and_type_op_known(void **state)
{
    (void) state;
    CHECK_FIELDS(PDB_EINVAL, ENT_EXPERIENCE, OP_UPDATE, true, DIM, mpk_pack_array(pk, 0));
    CHECK_FIELDS(PDB_EINVAL, ENT_EXPERIENCE, OP_CREATE, true, DIM, mpk_pack_nil(pk));
    CHECK_FIELDS(PDB_EINVAL, (ent_type_t) 0, OP_DELETE, true, DIM, mpk_pack_map(pk, 0));
    CHECK_FIELDS(PDB_EINVAL, (ent_type_t) 5, OP_DELETE, true, DIM, mpk_pack_map(pk, 0));
    CHECK_FIELDS(PDB_EINVAL, ENT_EXPERIENCE, (change_op_t) 0, true, DIM, mpk_pack_map(pk, 0));
    CHECK_FIELDS(PDB_EINVAL, ENT_EXPERIENCE, (change_op_t) 4, true, DIM, mpk_pack_map(pk, 0));
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(entity_check(ENT_EXPERIENCE, OP_DELETE, NULL, true, 0, why), PDB_EINVAL);
}

static void
test_entity_create_with_wrong_dim_or_bad_value_is_refused(void **state)
{
    (void) state;
    CHECK_FIELDS(PDB_EINVAL, ENT_EXPERIENCE, OP_CREATE, true, DIM + 1,
                 s_pack_create(pk, ENT_EXPERIENCE, NULL));
    CHECK_FIELDS(PDB_EINVAL, ENT_INSIGHT, OP_CREATE, true, DIM + 1,
                 s_pack_create(pk, ENT_INSIGHT, NULL));
    CHECK_FIELDS(PDB_ETOOBIG, ENT_EXPERIENCE, OP_CREATE, true, DIM,
                 mpk_pack_map(pk, 2);
                 mpk_pack_str(pk, "content"); s_pack_repeat(pk, 'c', PDB_CONTENT_MAX + 1);
                 mpk_pack_str(pk, "embedding"); s_p_vec(pk));
}

static void
test_entity_tables_name_types_and_lookup_fields(void **state)
{
    (void) state;
    assert_string_equal(entity_type_name(ENT_COLLECTIVE), "collective");
    assert_string_equal(entity_type_name(ENT_EXPERIENCE), "experience");
    assert_string_equal(entity_type_name(ENT_RELATION), "relation");
    assert_string_equal(entity_type_name(ENT_INSIGHT), "insight");
    assert_null(entity_type_name((ent_type_t) 9));
    assert_false(entity_type_valid(0));
    assert_true(entity_type_valid(4));
    assert_false(entity_type_valid(5));
    assert_false(entity_op_valid(0));
    assert_true(entity_op_valid(3));
    assert_false(entity_op_valid(4));
    assert_null(entity_field(ENT_EXPERIENCE, "content_", 8));
    assert_null(entity_field(ENT_EXPERIENCE, "conten", 6));
    const field_spec_t *f = entity_field(ENT_EXPERIENCE, "applications", 12);
    assert_non_null(f);
    assert_int_equal(f->merge, MERGE_COUNTER);
    assert_int_equal(entity_field(ENT_EXPERIENCE, "last_reinforced", 15)->merge, MERGE_MAX);
    assert_int_equal(entity_field(ENT_EXPERIENCE, "importance", 10)->merge, MERGE_LWW);
    assert_int_equal(entity_field(ENT_EXPERIENCE, "content", 7)->merge, MERGE_IMMUTABLE);
    size_t count;
    assert_null(entity_spec((ent_type_t) 0, &count));
    assert_int_equal(count, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entity_str_field_checks_type_bounds_and_utf8),
        cmocka_unit_test(test_entity_content_is_limited_to_64_kib),
        cmocka_unit_test(test_entity_utf8_validation_refuses_malformed_sequences),
        cmocka_unit_test(test_entity_unit_field_is_a_finite_number_in_0_1),
        cmocka_unit_test(test_entity_vector_field_is_finite_float32_of_the_collective_dim),
        cmocka_unit_test(test_entity_zero_embedding_refused_from_client_kept_from_peer),
        cmocka_unit_test(test_entity_string_list_is_bounded_strings),
        cmocka_unit_test(test_entity_string_map_is_bounded_unique_string_pairs),
        cmocka_unit_test(test_entity_counter_maps_instance_ids_to_counts),
        cmocka_unit_test(test_entity_id_and_id_list_fields_hold_16_byte_ids),
        cmocka_unit_test(test_entity_enum_bool_and_integer_fields),
        cmocka_unit_test(test_entity_has_every_experience_type_variant),
        cmocka_unit_test(test_entity_accepts_every_variant_and_refuses_each_wrong_field),
        cmocka_unit_test(test_entity_variant_severity_and_problem_ref_values),
        cmocka_unit_test(test_entity_variant_refuses_unknown_kind_field_and_shape),
        cmocka_unit_test(test_entity_valid_creates_pass_for_every_type),
        cmocka_unit_test(test_entity_create_missing_a_required_field_is_refused),
        cmocka_unit_test(test_entity_unknown_field_is_refused),
        cmocka_unit_test(test_entity_duplicate_key_is_refused),
        cmocka_unit_test(test_entity_managed_field_only_from_a_peer),
        cmocka_unit_test(test_entity_immutable_field_in_update_is_refused),
        cmocka_unit_test(test_entity_empty_update_is_refused),
        cmocka_unit_test(test_entity_delete_carries_no_fields),
        cmocka_unit_test(test_entity_fields_must_be_a_map_and_type_op_known),
        cmocka_unit_test(test_entity_create_with_wrong_dim_or_bad_value_is_refused),
        cmocka_unit_test(test_entity_tables_name_types_and_lookup_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
