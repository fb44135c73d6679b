/*  test_state.c - reading and checking an OP_STATE change's fields
    (state.h, format in common/snapshot.h): a whole entity or a tombstone is
    read with its versions; every malformed shape is refused with a reason
    and nothing read; the record passes the entity tables as a full create
    would, with the collective's embedding size.
*/
#include "bounds.h"
#include "err.h"
#include "mpk.h"
#include "state.h"
#include "sync_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

//  [hlc, origin]
static void
s_version(msgpack_packer *pk, uint64_t hlc, uint8_t origin)
{
    mpk_pack_array(pk, 2);
    mpk_pack_u64(pk, hlc);
    mpk_pack_id(pk, fx_id(origin));
}

//  A collective's whole record.
static void
s_coll_record(msgpack_packer *pk)
{
    mpk_pack_map(pk, 5);
    fx_kv_str(pk, "name", "kb");
    fx_kv_str(pk, "owner", "");
    fx_kv_u64(pk, "embedding_dim", FX_DIM1);
    fx_kv_u64(pk, "created_at", 100);
    fx_kv_u64(pk, "updated_at", 200);
}

//  A live collective: created by A at 100, renamed by B at 200.
static void
s_live(msgpack_packer *pk)
{
    mpk_pack_map(pk, 4);
    mpk_pack_str(pk, "record");
    s_coll_record(pk);
    mpk_pack_str(pk, "created");
    s_version(pk, FX_H(100), FX_ORG_A);
    mpk_pack_str(pk, "versions");
    mpk_pack_map(pk, 1);
    mpk_pack_str(pk, "name");
    s_version(pk, FX_H(200), FX_ORG_B);
    fx_kv_bool(pk, "tombstone", false);
}

//  A tombstone: C's delete at 300.
static void
s_tombstone(msgpack_packer *pk)
{
    mpk_pack_map(pk, 4);
    mpk_pack_str(pk, "record");
    mpk_pack_map(pk, 0);
    mpk_pack_str(pk, "created");
    s_version(pk, FX_H(300), FX_ORG_C);
    mpk_pack_str(pk, "versions");
    mpk_pack_map(pk, 0);
    fx_kv_bool(pk, "tombstone", true);
}

//  A live collective state whose versions map is the one entry field -> v,
//  v packed by `version` (NULL: [FX_H(200), B]).
static void
s_live_versions(msgpack_packer *pk, const char *field, void (*version)(msgpack_packer *))
{
    mpk_pack_map(pk, 4);
    mpk_pack_str(pk, "record");
    s_coll_record(pk);
    mpk_pack_str(pk, "created");
    s_version(pk, FX_H(100), FX_ORG_A);
    mpk_pack_str(pk, "versions");
    mpk_pack_map(pk, 1);
    mpk_pack_str(pk, field);
    if (version)
        version(pk);
    else
        s_version(pk, FX_H(200), FX_ORG_B);
    fx_kv_bool(pk, "tombstone", false);
}

//  Decodes what pack wrote and runs state_read on it for `type`.
typedef struct {
    int rc;
    state_t st;
    char why[PDB_ERRMSG_MAX];
    mpk_out_t buf;
    msgpack_unpacked u;
} s_read_t;

static void
s_read_with(s_read_t *r, ent_type_t type, void (*pack)(msgpack_packer *))
{
    memset(r, 0, sizeof *r);
    mpk_out_init(&r->buf);
    pack(&r->buf.pk);
    assert_int_equal(mpk_out_status(&r->buf), 0);
    assert_int_equal(mpk_parse(r->buf.buf.data, r->buf.buf.size, &r->u), 0);
    r->rc = state_read(type, &r->u.data, &r->st, r->why);
}

static void
s_read_free(s_read_t *r)
{
    msgpack_unpacked_destroy(&r->u);
    mpk_out_release(&r->buf);
}

static void
test_state_read_takes_a_live_entity_with_its_versions(void **state)
{
    (void) state;
    s_read_t r;
    s_read_with(&r, ENT_COLLECTIVE, s_live);
    assert_int_equal(r.rc, 0);
    assert_false(r.st.tombstone);
    assert_int_equal(r.st.hlc, FX_H(100));
    assert_memory_equal(r.st.origin.b, fx_id(FX_ORG_A)->b, PDB_ID_LEN);
    assert_int_equal(r.st.record->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(r.st.record->via.map.size, 5);
    assert_int_equal(r.st.versions->via.map.size, 1);
    assert_int_equal(r.st.max_hlc, FX_H(200));            // the rename's stamp
    assert_int_equal(state_check(ENT_COLLECTIVE, &r.st, 0, r.why), 0);
    s_read_free(&r);
}

static void
test_state_read_takes_a_tombstone(void **state)
{
    (void) state;
    s_read_t r;
    s_read_with(&r, ENT_EXPERIENCE, s_tombstone);
    assert_int_equal(r.rc, 0);
    assert_true(r.st.tombstone);
    assert_int_equal(r.st.hlc, FX_H(300));
    assert_memory_equal(r.st.origin.b, fx_id(FX_ORG_C)->b, PDB_ID_LEN);
    assert_int_equal(r.st.max_hlc, FX_H(300));
    //  A tombstone has no record to check, whatever the collective's size.
    assert_int_equal(state_check(ENT_EXPERIENCE, &r.st, 7, r.why), 0);
    s_read_free(&r);
}

//  --------------------------------------------------------------------------
//  Shapes refused: one packer per case

static void
s_not_a_map(msgpack_packer *pk)
{
    mpk_pack_array(pk, 0);
}

static void
s_three_keys(msgpack_packer *pk)
{
    mpk_pack_map(pk, 3);
    mpk_pack_str(pk, "record");
    s_coll_record(pk);
    mpk_pack_str(pk, "created");
    s_version(pk, FX_H(100), FX_ORG_A);
    fx_kv_bool(pk, "tombstone", false);
}

static void
s_five_keys(msgpack_packer *pk)
{
    mpk_pack_map(pk, 5);
    mpk_pack_str(pk, "record");
    s_coll_record(pk);
    mpk_pack_str(pk, "created");
    s_version(pk, FX_H(100), FX_ORG_A);
    mpk_pack_str(pk, "versions");
    mpk_pack_map(pk, 0);
    fx_kv_bool(pk, "tombstone", false);
    fx_kv_u64(pk, "extra", 1);
}

static void
s_unknown_key(msgpack_packer *pk)
{
    mpk_pack_map(pk, 4);
    mpk_pack_str(pk, "record");
    s_coll_record(pk);
    mpk_pack_str(pk, "created");
    s_version(pk, FX_H(100), FX_ORG_A);
    mpk_pack_str(pk, "versions");
    mpk_pack_map(pk, 0);
    fx_kv_bool(pk, "deleted", false);
}

static void
s_key_twice(msgpack_packer *pk)
{
    mpk_pack_map(pk, 4);
    mpk_pack_str(pk, "record");
    s_coll_record(pk);
    mpk_pack_str(pk, "record");
    s_coll_record(pk);
    mpk_pack_str(pk, "created");
    s_version(pk, FX_H(100), FX_ORG_A);
    fx_kv_bool(pk, "tombstone", false);
}

static void
s_tombstone_not_bool(msgpack_packer *pk)
{
    mpk_pack_map(pk, 4);
    mpk_pack_str(pk, "record");
    mpk_pack_map(pk, 0);
    mpk_pack_str(pk, "created");
    s_version(pk, FX_H(300), FX_ORG_C);
    mpk_pack_str(pk, "versions");
    mpk_pack_map(pk, 0);
    fx_kv_u64(pk, "tombstone", 1);
}

//  A state whose "created" is packed by `created`.
static void
s_with_created(msgpack_packer *pk, void (*created)(msgpack_packer *))
{
    mpk_pack_map(pk, 4);
    mpk_pack_str(pk, "record");
    s_coll_record(pk);
    mpk_pack_str(pk, "created");
    created(pk);
    mpk_pack_str(pk, "versions");
    mpk_pack_map(pk, 0);
    fx_kv_bool(pk, "tombstone", false);
}

static void s_zero_stamp(msgpack_packer *pk) { s_version(pk, 0, FX_ORG_A); }
static void s_nil_origin(msgpack_packer *pk) { s_version(pk, FX_H(100), 0x00); }
static void s_bare_stamp(msgpack_packer *pk) { mpk_pack_u64(pk, FX_H(100)); }
static void s_short_version(msgpack_packer *pk)
{
    mpk_pack_array(pk, 1);
    mpk_pack_u64(pk, FX_H(200));
}

static void s_created_zero_stamp(msgpack_packer *pk) { s_with_created(pk, s_zero_stamp); }
static void s_created_nil_origin(msgpack_packer *pk) { s_with_created(pk, s_nil_origin); }
static void s_created_not_array(msgpack_packer *pk) { s_with_created(pk, s_bare_stamp); }

static void
s_record_not_map(msgpack_packer *pk)
{
    mpk_pack_map(pk, 4);
    mpk_pack_str(pk, "record");
    mpk_pack_str(pk, "kb");
    mpk_pack_str(pk, "created");
    s_version(pk, FX_H(100), FX_ORG_A);
    mpk_pack_str(pk, "versions");
    mpk_pack_map(pk, 0);
    fx_kv_bool(pk, "tombstone", false);
}

static void
s_versions_not_map(msgpack_packer *pk)
{
    mpk_pack_map(pk, 4);
    mpk_pack_str(pk, "record");
    s_coll_record(pk);
    mpk_pack_str(pk, "created");
    s_version(pk, FX_H(100), FX_ORG_A);
    mpk_pack_str(pk, "versions");
    mpk_pack_array(pk, 0);
    fx_kv_bool(pk, "tombstone", false);
}

static void
s_tombstone_with_record(msgpack_packer *pk)
{
    mpk_pack_map(pk, 4);
    mpk_pack_str(pk, "record");
    s_coll_record(pk);
    mpk_pack_str(pk, "created");
    s_version(pk, FX_H(300), FX_ORG_C);
    mpk_pack_str(pk, "versions");
    mpk_pack_map(pk, 0);
    fx_kv_bool(pk, "tombstone", true);
}

static void
s_tombstone_with_versions(msgpack_packer *pk)
{
    mpk_pack_map(pk, 4);
    mpk_pack_str(pk, "record");
    mpk_pack_map(pk, 0);
    mpk_pack_str(pk, "created");
    s_version(pk, FX_H(300), FX_ORG_C);
    mpk_pack_str(pk, "versions");
    mpk_pack_map(pk, 1);
    mpk_pack_str(pk, "name");
    s_version(pk, FX_H(400), FX_ORG_C);
    fx_kv_bool(pk, "tombstone", true);
}

static void s_immutable_field(msgpack_packer *pk) { s_live_versions(pk, "embedding_dim", NULL); }
static void s_maximum_field(msgpack_packer *pk) { s_live_versions(pk, "updated_at", NULL); }
static void s_unknown_field(msgpack_packer *pk) { s_live_versions(pk, "colour", NULL); }
static void s_bad_version(msgpack_packer *pk) { s_live_versions(pk, "name", s_short_version); }
//  The create's own version, and one at its stamp from a smaller origin.
static void s_at_create(msgpack_packer *pk) { s_version(pk, FX_H(100), FX_ORG_A); }
static void s_tie_below(msgpack_packer *pk) { s_version(pk, FX_H(100), 0x01); }
static void s_version_at_create(msgpack_packer *pk) { s_live_versions(pk, "name", s_at_create); }
static void s_version_tie_below(msgpack_packer *pk) { s_live_versions(pk, "name", s_tie_below); }

static void
s_field_twice(msgpack_packer *pk)
{
    mpk_pack_map(pk, 4);
    mpk_pack_str(pk, "record");
    s_coll_record(pk);
    mpk_pack_str(pk, "created");
    s_version(pk, FX_H(100), FX_ORG_A);
    mpk_pack_str(pk, "versions");
    mpk_pack_map(pk, 2);
    mpk_pack_str(pk, "name");
    s_version(pk, FX_H(200), FX_ORG_B);
    mpk_pack_str(pk, "name");
    s_version(pk, FX_H(250), FX_ORG_C);
    fx_kv_bool(pk, "tombstone", false);
}

static void
s_field_not_a_name(msgpack_packer *pk)
{
    mpk_pack_map(pk, 4);
    mpk_pack_str(pk, "record");
    s_coll_record(pk);
    mpk_pack_str(pk, "created");
    s_version(pk, FX_H(100), FX_ORG_A);
    mpk_pack_str(pk, "versions");
    mpk_pack_map(pk, 1);
    mpk_pack_u64(pk, 1);
    s_version(pk, FX_H(200), FX_ORG_B);
    fx_kv_bool(pk, "tombstone", false);
}

static void
test_state_read_refuses_every_malformed_shape(void **state)
{
    (void) state;
    const struct {
        const char *what;
        void (*pack)(msgpack_packer *);
        const char *why;            // a part of the reason given
    } cases[] = {
        { "not a map", s_not_a_map, "exactly record, created, versions and tombstone" },
        { "three keys", s_three_keys, "exactly record, created" },
        { "five keys", s_five_keys, "exactly record, created" },
        { "unknown key", s_unknown_key, "exactly record, created" },
        { "key twice", s_key_twice, "exactly record, created" },
        { "tombstone not bool", s_tombstone_not_bool, "'tombstone' must be true or false" },
        { "created stamp 0", s_created_zero_stamp, "'created' must be [stamp, instance id]" },
        { "created nil origin", s_created_nil_origin, "'created' must be" },
        { "created not array", s_created_not_array, "'created' must be" },
        { "record not map", s_record_not_map, "'record' and 'versions' must be maps" },
        { "versions not map", s_versions_not_map, "'record' and 'versions' must be maps" },
        { "tombstone with record", s_tombstone_with_record, "no record and no versions" },
        { "tombstone with versions", s_tombstone_with_versions, "no record and no versions" },
        { "immutable field", s_immutable_field, "no version of its own" },
        { "maximum field", s_maximum_field, "no version of its own" },
        { "unknown field", s_unknown_field, "no version of its own" },
        { "field not a name", s_field_not_a_name, "no version of its own" },
        { "field twice", s_field_twice, "field 'name' twice" },
        { "bad version", s_bad_version, "version of 'name' must be [stamp, instance id]" },
        { "version at create", s_version_at_create, "'name' is not above the create's" },
        { "version tie below", s_version_tie_below, "'name' is not above the create's" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_read_t r;
        s_read_with(&r, ENT_COLLECTIVE, cases[i].pack);
        if (r.rc != PDB_EINVAL || !strstr(r.why, cases[i].why))
            fail_msg("%s: rc=%d why='%s'", cases[i].what, r.rc, r.why);
        s_read_free(&r);
    }
}

//  --------------------------------------------------------------------------
//  state_check: the record as a full create

//  A live experience state whose record is {content, embedding of n floats}
//  plus, when `extra` is set, that u64 field.
static void
s_experience(mpk_out_t *out, uint32_t n, const char *extra, size_t content_len)
{
    mpk_out_init(out);
    msgpack_packer *pk = &out->pk;
    mpk_pack_map(pk, 4);
    mpk_pack_str(pk, "record");
    mpk_pack_map(pk, extra ? 3 : 2);
    mpk_pack_str(pk, "content");
    char *text = malloc(content_len + 1);
    assert_non_null(text);
    memset(text, 'x', content_len + 1);
    mpk_pack_strn(pk, text, content_len);
    free(text);
    float v[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    assert_true(n <= 8);
    mpk_pack_str(pk, "embedding");
    mpk_pack_bin(pk, v, n * sizeof(float));
    if (extra)
        fx_kv_u64(pk, extra, 5);
    mpk_pack_str(pk, "created");
    s_version(pk, FX_H(100), FX_ORG_A);
    mpk_pack_str(pk, "versions");
    mpk_pack_map(pk, 0);
    fx_kv_bool(pk, "tombstone", false);
    assert_int_equal(mpk_out_status(out), 0);
}

//  state_read then state_check of an experience state with dim.
static int
s_check(const mpk_out_t *packed, uint32_t dim, char why[PDB_ERRMSG_MAX])
{
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(packed->buf.data, packed->buf.size, &u), 0);
    state_t st;
    assert_int_equal(state_read(ENT_EXPERIENCE, &u.data, &st, why), 0);
    int rc = state_check(ENT_EXPERIENCE, &st, dim, why);
    msgpack_unpacked_destroy(&u);
    return rc;
}

static void
test_state_check_holds_the_record_to_a_full_create(void **state)
{
    (void) state;
    char why[PDB_ERRMSG_MAX];
    mpk_out_t p;
    s_experience(&p, 3, NULL, 10);
    assert_int_equal(s_check(&p, 3, why), 0);
    assert_int_equal(s_check(&p, 0, why), 0);              // size not known: any
    assert_int_equal(s_check(&p, 4, why), PDB_EINVAL);     // the collective's size differs
    assert_non_null(strstr(why, "embedding"));
    mpk_out_release(&p);
    //  Managed fields are allowed (a state carries them), unknown ones not.
    s_experience(&p, 3, "last_reinforced", 10);
    assert_int_equal(s_check(&p, 3, why), 0);
    mpk_out_release(&p);
    s_experience(&p, 3, "colour", 10);
    assert_int_equal(s_check(&p, 3, why), PDB_EINVAL);
    assert_non_null(strstr(why, "colour"));
    mpk_out_release(&p);
    //  Content below its minimum, and over its bound.
    s_experience(&p, 3, NULL, 0);
    assert_int_equal(s_check(&p, 3, why), PDB_EINVAL);
    mpk_out_release(&p);
    s_experience(&p, 3, NULL, PDB_CONTENT_MAX + 1);
    assert_int_equal(s_check(&p, 3, why), PDB_ETOOBIG);
    mpk_out_release(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_read_takes_a_live_entity_with_its_versions),
        cmocka_unit_test(test_state_read_takes_a_tombstone),
        cmocka_unit_test(test_state_read_refuses_every_malformed_shape),
        cmocka_unit_test(test_state_check_holds_the_record_to_a_full_create),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
