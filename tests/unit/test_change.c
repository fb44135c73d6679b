/*  test_change.c - the change codec: what the WAL stores and peers send. */
#include "change.h"
#include "bounds.h"
#include "err.h"
#include "testkit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

//  Fields used by every change below: {"importance": 0.75}.
static const uint8_t s_fields[] = {
    0x81, 0xaa, 'i', 'm', 'p', 'o', 'r', 't', 'a', 'n', 'c', 'e',
    0xcb, 0x3f, 0xe8, 0, 0, 0, 0, 0, 0,
};

static change_t
s_change(void)
{
    change_t c = {
        .seq = 42,
        .origin = testkit_id(0xa1),
        .origin_seq = 7,
        .hlc = (1700000000000ull << 16) | 3,
        .entity = ENT_EXPERIENCE,
        .op = OP_UPDATE,
        .collective_id = testkit_id(0xc0),
        .entity_id = testkit_id(0xe1),
        .fields = s_fields,
        .fields_len = sizeof s_fields,
    };
    return c;
}

//  Packs c as a change would be, into a fresh buffer.
static void
s_pack(const change_t *c, mpk_out_t *out)
{
    mpk_out_init(out);
    change_pack(&out->pk, c);
    assert_int_equal(mpk_out_status(out), 0);
}

//  Packs the 9 elements with element `which` replaced by PACK'd value.
typedef void (*s_elem_fn)(msgpack_packer *pk);

static void
s_pack_with(const change_t *c, int which, s_elem_fn replace, mpk_out_t *out)
{
    mpk_out_init(out);
    msgpack_packer *pk = &out->pk;
    mpk_pack_array(pk, 9);
    for (int i = 0; i < 9; i++) {
        if (i == which) {
            replace(pk);
            continue;
        }
        switch (i) {
        case 0: mpk_pack_u64(pk, c->seq); break;
        case 1: mpk_pack_id(pk, &c->origin); break;
        case 2: mpk_pack_u64(pk, c->origin_seq); break;
        case 3: mpk_pack_u64(pk, c->hlc); break;
        case 4: mpk_pack_u64(pk, c->entity); break;
        case 5: mpk_pack_u64(pk, c->op); break;
        case 6: mpk_pack_id(pk, &c->collective_id); break;
        case 7: mpk_pack_id(pk, &c->entity_id); break;
        case 8: mpk_pack_bin(pk, c->fields, c->fields_len); break;
        }
    }
    assert_int_equal(mpk_out_status(out), 0);
}

static int
s_decode_with(int which, s_elem_fn replace)
{
    change_t c = s_change(), out;
    mpk_out_t o;
    s_pack_with(&c, which, replace, &o);
    int rc = change_decode(o.buf.data, o.buf.size, &out);
    mpk_out_release(&o);
    return rc;
}

static void s_zero(msgpack_packer *pk) { mpk_pack_u64(pk, 0); }
static void s_nil_id(msgpack_packer *pk) { pdb_id_t nil = { { 0 } }; mpk_pack_id(pk, &nil); }
static void s_short_id(msgpack_packer *pk) { mpk_pack_bin(pk, "0123456789abcde", 15); }
static void s_str(msgpack_packer *pk) { mpk_pack_str(pk, "7"); }
static void s_negative(msgpack_packer *pk) { mpk_pack_i64(pk, -1); }
static void s_five(msgpack_packer *pk) { mpk_pack_u64(pk, 5); }
static void s_four(msgpack_packer *pk) { mpk_pack_u64(pk, 4); }
//  2 if narrowed to int: must still be refused.
static void s_big(msgpack_packer *pk) { mpk_pack_u64(pk, (1ull << 32) | 2); }
static void s_fields_array(msgpack_packer *pk) { mpk_pack_bin(pk, "\x90", 1); }
static void s_fields_str(msgpack_packer *pk) { mpk_pack_bin(pk, "\xa1x", 2); }
static void s_fields_nil(msgpack_packer *pk) { mpk_pack_bin(pk, "\xc0", 1); }
static void s_fields_empty(msgpack_packer *pk) { mpk_pack_bin(pk, "", 0); }
static void s_fields_trailing(msgpack_packer *pk) { mpk_pack_bin(pk, "\x80\xc0", 2); }
static void s_fields_lying(msgpack_packer *pk) { mpk_pack_bin(pk, "\xdf\xff\xff\xff\xff\xc0", 6); }
static void s_fields_unpacked(msgpack_packer *pk) { mpk_pack_map(pk, 0); }
static void s_fields_ext(msgpack_packer *pk) { mpk_pack_bin(pk, "\x81\xa1x\xd4\x01\x00", 6); }

static void
test_change_pack_then_decode_round_trips(void **state)
{
    (void) state;
    static const ent_type_t types[] = { ENT_COLLECTIVE, ENT_EXPERIENCE, ENT_RELATION, ENT_INSIGHT };
    static const change_op_t ops[] = { OP_CREATE, OP_UPDATE, OP_DELETE };
    for (size_t t = 0; t < 4; t++) {
        for (size_t o = 0; o < 3; o++) {
            change_t c = s_change(), back;
            c.entity = types[t];
            c.op = ops[o];
            if (c.entity == ENT_COLLECTIVE)
                c.collective_id = c.entity_id;
            mpk_out_t out;
            s_pack(&c, &out);
            memset(&back, 0, sizeof back);
            assert_int_equal(change_decode(out.buf.data, out.buf.size, &back), 0);
            assert_int_equal(back.seq, c.seq);
            assert_memory_equal(back.origin.b, c.origin.b, PDB_ID_LEN);
            assert_int_equal(back.origin_seq, c.origin_seq);
            assert_int_equal(back.hlc, c.hlc);
            assert_int_equal(back.entity, c.entity);
            assert_int_equal(back.op, c.op);
            assert_memory_equal(back.collective_id.b, c.collective_id.b, PDB_ID_LEN);
            assert_memory_equal(back.entity_id.b, c.entity_id.b, PDB_ID_LEN);
            assert_int_equal(back.fields_len, c.fields_len);
            assert_memory_equal(back.fields, c.fields, c.fields_len);
            //  The fields borrow the encoded bytes; no copy to free.
            assert_true(back.fields >= (const uint8_t *) out.buf.data
                        && back.fields + back.fields_len
                           <= (const uint8_t *) out.buf.data + out.buf.size);
            //  Packing the decoded change again gives the same bytes.
            mpk_out_t again;
            s_pack(&back, &again);
            assert_int_equal(again.buf.size, out.buf.size);
            assert_memory_equal(again.buf.data, out.buf.data, out.buf.size);
            mpk_out_release(&again);
            mpk_out_release(&out);
        }
    }
}

static void
test_change_decode_keeps_seq_zero_before_append(void **state)
{
    (void) state;
    change_t c = s_change(), back;
    c.seq = 0;
    mpk_out_t out;
    s_pack(&c, &out);
    assert_int_equal(change_decode(out.buf.data, out.buf.size, &back), 0);
    assert_int_equal(back.seq, 0);
    mpk_out_release(&out);
}

static void
test_change_decode_rejects_origin_seq_zero_and_hlc_zero(void **state)
{
    (void) state;
    assert_int_equal(s_decode_with(2, s_zero), PDB_EINVAL);
    assert_int_equal(s_decode_with(3, s_zero), PDB_EINVAL);
}

static void
test_change_decode_rejects_nil_or_malformed_ids(void **state)
{
    (void) state;
    for (int which = 1; which <= 7; which += (which == 1 ? 5 : 1)) {   // 1, 6, 7
        assert_int_equal(s_decode_with(which, s_nil_id), PDB_EINVAL);
        assert_int_equal(s_decode_with(which, s_short_id), PDB_EINVAL);
        assert_int_equal(s_decode_with(which, s_str), PDB_EINVAL);
    }
}

static void
test_change_decode_rejects_unknown_entity_or_op(void **state)
{
    (void) state;
    assert_int_equal(s_decode_with(4, s_zero), PDB_EINVAL);
    assert_int_equal(s_decode_with(4, s_five), PDB_EINVAL);
    assert_int_equal(s_decode_with(4, s_big), PDB_EINVAL);   // must not truncate to a valid int
    assert_int_equal(s_decode_with(4, s_negative), PDB_EINVAL);
    assert_int_equal(s_decode_with(5, s_zero), PDB_EINVAL);
    assert_int_equal(s_decode_with(5, s_four), 0);           // OP_STATE: sync's whole entities
    assert_int_equal(s_decode_with(5, s_five), PDB_EINVAL);
    assert_int_equal(s_decode_with(5, s_big), PDB_EINVAL);
    assert_int_equal(s_decode_with(5, s_str), PDB_EINVAL);
}

static void
test_change_decode_rejects_wrongly_typed_numbers(void **state)
{
    (void) state;
    assert_int_equal(s_decode_with(0, s_negative), PDB_EINVAL);
    assert_int_equal(s_decode_with(0, s_str), PDB_EINVAL);
    assert_int_equal(s_decode_with(2, s_negative), PDB_EINVAL);
    assert_int_equal(s_decode_with(3, s_str), PDB_EINVAL);
}

static void
test_change_decode_rejects_fields_that_are_not_one_map(void **state)
{
    (void) state;
    assert_int_equal(s_decode_with(8, s_fields_array), PDB_EINVAL);
    assert_int_equal(s_decode_with(8, s_fields_str), PDB_EINVAL);
    assert_int_equal(s_decode_with(8, s_fields_nil), PDB_EINVAL);
    assert_int_equal(s_decode_with(8, s_fields_empty), PDB_EINVAL);
    assert_int_equal(s_decode_with(8, s_fields_trailing), PDB_EINVAL);
    assert_int_equal(s_decode_with(8, s_fields_lying), PDB_EINVAL);
    assert_int_equal(s_decode_with(8, s_fields_ext), PDB_EINVAL);
    assert_int_equal(s_decode_with(8, s_fields_unpacked), PDB_EINVAL);   // a map, not a bin
}

static void
test_change_decode_rejects_fields_over_the_change_limit(void **state)
{
    (void) state;
    //  A well-formed map {"content": <str>} one byte over PDB_CHANGE_MAX.
    size_t len = PDB_CHANGE_MAX + 1;
    uint8_t *fields = malloc(len);
    assert_non_null(fields);
    static const uint8_t head[] = { 0x81, 0xa7, 'c', 'o', 'n', 't', 'e', 'n', 't', 0xdb };
    size_t body = len - sizeof head - 4;
    memcpy(fields, head, sizeof head);
    for (int i = 0; i < 4; i++)
        fields[sizeof head + (size_t) i] = (uint8_t) (body >> (24 - 8 * i));
    memset(fields + sizeof head + 4, 'c', body);
    assert_int_equal(mpk_check(fields, len), 0);
    change_t c = s_change(), back;
    c.fields = fields;
    c.fields_len = len;
    mpk_out_t out;
    s_pack(&c, &out);
    assert_int_equal(change_decode(out.buf.data, out.buf.size, &back), PDB_EINVAL);
    mpk_out_release(&out);
    //  At the limit it passes.
    c.fields_len = len - 1;
    fields[sizeof head + 3] = (uint8_t) (body - 1);
    fields[sizeof head + 2] = (uint8_t) ((body - 1) >> 8);
    fields[sizeof head + 1] = (uint8_t) ((body - 1) >> 16);
    s_pack(&c, &out);
    assert_int_equal(change_decode(out.buf.data, out.buf.size, &back), 0);
    mpk_out_release(&out);
    free(fields);
}

static void
test_change_decode_rejects_collective_change_whose_ids_differ(void **state)
{
    (void) state;
    change_t c = s_change(), back;
    c.entity = ENT_COLLECTIVE;
    c.op = OP_DELETE;
    c.fields = (const uint8_t *) "\x80";
    c.fields_len = 1;
    mpk_out_t out;
    s_pack(&c, &out);
    assert_int_equal(change_decode(out.buf.data, out.buf.size, &back), PDB_EINVAL);
    mpk_out_release(&out);
    c.collective_id = c.entity_id;
    s_pack(&c, &out);
    assert_int_equal(change_decode(out.buf.data, out.buf.size, &back), 0);
    mpk_out_release(&out);
}

static void
test_change_decode_rejects_wrong_shape_and_garbage(void **state)
{
    (void) state;
    change_t back;
    //  Eight elements, ten elements, a map.
    change_t c = s_change();
    mpk_out_t out;
    s_pack(&c, &out);
    uint8_t *bytes = malloc(out.buf.size + 1);
    assert_non_null(bytes);
    memcpy(bytes, out.buf.data, out.buf.size);
    bytes[0] = 0x98;
    assert_int_equal(change_decode(bytes, out.buf.size, &back), PDB_EINVAL);
    bytes[0] = 0x9a;
    bytes[out.buf.size] = 0xc0;
    assert_int_equal(change_decode(bytes, out.buf.size + 1, &back), PDB_EINVAL);
    bytes[0] = 0x89;
    assert_int_equal(change_decode(bytes, out.buf.size, &back), PDB_EINVAL);
    //  Every truncation, and a trailing byte.
    bytes[0] = 0x99;
    for (size_t len = 0; len < out.buf.size; len++) {
        uint8_t *cut = malloc(len + 1);
        assert_non_null(cut);
        memcpy(cut, bytes, len);
        assert_int_equal(change_decode(cut, len, &back), PDB_EINVAL);
        free(cut);
    }
    assert_int_equal(change_decode(bytes, out.buf.size, &back), 0);
    assert_int_equal(change_decode(bytes, out.buf.size + 1, &back), PDB_EINVAL);
    free(bytes);
    mpk_out_release(&out);

    //  Pseudo-random garbage never decodes into a change (and never crashes).
    uint32_t x = 2463534242u;
    uint8_t noise[64];
    for (int round = 0; round < 2000; round++) {
        size_t len = 1 + (size_t) round % sizeof noise;
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            noise[i] = (uint8_t) x;
        }
        assert_int_equal(change_decode(noise, len, &back), PDB_EINVAL);
    }
    static const char text[] = "not messagepack at all";
    assert_int_equal(change_decode(text, sizeof text - 1, &back), PDB_EINVAL);
}

//  The partial mark is a tenth element, present only on partial copies:
//  whole copies stay the 9-item form older records have.
static void
test_change_partial_mark_round_trips_and_whole_copies_stay_nine_items(void **state)
{
    (void) state;
    change_t c = s_change(), back;
    mpk_out_t whole, part;
    s_pack(&c, &whole);
    c.partial = true;
    s_pack(&c, &part);
    assert_int_equal(((const uint8_t *) whole.buf.data)[0], 0x99);
    assert_int_equal(((const uint8_t *) part.buf.data)[0], 0x9a);
    assert_int_equal(part.buf.size, whole.buf.size + 1);
    assert_memory_equal((const uint8_t *) part.buf.data + 1, (const uint8_t *) whole.buf.data + 1,
                        whole.buf.size - 1);
    assert_int_equal(((const uint8_t *) part.buf.data)[part.buf.size - 1], 0xc3);
    back.partial = true;
    assert_int_equal(change_decode(whole.buf.data, whole.buf.size, &back), 0);
    assert_false(back.partial);
    assert_int_equal(change_decode(part.buf.data, part.buf.size, &back), 0);
    assert_true(back.partial);
    assert_int_equal(back.origin_seq, c.origin_seq);
    assert_int_equal(back.fields_len, c.fields_len);

    //  An explicit false reads as a whole copy; anything but a boolean, or an
    //  eleventh item, is refused.
    uint8_t *bytes = malloc(part.buf.size + 1);
    assert_non_null(bytes);
    memcpy(bytes, part.buf.data, part.buf.size);
    bytes[part.buf.size - 1] = 0xc2;
    assert_int_equal(change_decode(bytes, part.buf.size, &back), 0);
    assert_false(back.partial);
    static const uint8_t not_bool[] = { 0x01, 0xc0, 0xa1 };
    for (size_t i = 0; i < sizeof not_bool; i++) {
        bytes[part.buf.size - 1] = not_bool[i];
        assert_int_equal(change_decode(bytes, part.buf.size, &back), PDB_EINVAL);
    }
    bytes[0] = 0x9b;
    bytes[part.buf.size - 1] = 0xc3;
    bytes[part.buf.size] = 0xc3;
    assert_int_equal(change_decode(bytes, part.buf.size + 1, &back), PDB_EINVAL);
    free(bytes);
    mpk_out_release(&whole);
    mpk_out_release(&part);
}

//  The source mark is an eleventh element after the partial mark (which it
//  then always carries, false or true); only a non-nil 16-byte id reads.
static void
test_change_source_mark_round_trips_after_the_partial_mark(void **state)
{
    (void) state;
    change_t c = s_change(), back;
    mpk_out_t whole, sourced;
    s_pack(&c, &whole);
    c.source = testkit_id(0x5e);
    s_pack(&c, &sourced);
    const uint8_t *b = (const uint8_t *) sourced.buf.data;
    assert_int_equal(b[0], 0x9b);
    assert_int_equal(sourced.buf.size, whole.buf.size + 1 + 2 + PDB_ID_LEN);
    assert_memory_equal(b + 1, (const uint8_t *) whole.buf.data + 1, whole.buf.size - 1);
    assert_int_equal(b[whole.buf.size], 0xc2);              // not partial
    assert_int_equal(change_decode(sourced.buf.data, sourced.buf.size, &back), 0);
    assert_false(back.partial);
    assert_int_equal(pdb_id_cmp(&back.source, &c.source), 0);
    assert_int_equal(change_decode(whole.buf.data, whole.buf.size, &back), 0);
    assert_true(pdb_id_is_nil(&back.source));
    c.partial = true;
    mpk_out_t both;
    s_pack(&c, &both);
    assert_int_equal(change_decode(both.buf.data, both.buf.size, &back), 0);
    assert_true(back.partial);
    assert_int_equal(pdb_id_cmp(&back.source, &c.source), 0);

    //  Refused: a nil source, a source that is not 16 bytes of bin, a tenth
    //  item that is not a boolean, and a twelfth item.
    size_t len = sourced.buf.size;
    uint8_t *bytes = malloc(len + 1);
    assert_non_null(bytes);
    memcpy(bytes, sourced.buf.data, len);
    memset(bytes + len - PDB_ID_LEN, 0, PDB_ID_LEN);
    assert_int_equal(change_decode(bytes, len, &back), PDB_EINVAL);
    memcpy(bytes, sourced.buf.data, len);
    bytes[len - PDB_ID_LEN - 1] = PDB_ID_LEN - 1;
    assert_int_equal(change_decode(bytes, len - 1, &back), PDB_EINVAL);
    memcpy(bytes, sourced.buf.data, len);
    bytes[len - PDB_ID_LEN - 2] = 0xa1;                     // str, not bin
    bytes[len - PDB_ID_LEN - 1] = 0x00;
    assert_int_equal(change_decode(bytes, len - PDB_ID_LEN + 1, &back), PDB_EINVAL);
    memcpy(bytes, sourced.buf.data, len);
    bytes[whole.buf.size] = 0xc0;
    assert_int_equal(change_decode(bytes, len, &back), PDB_EINVAL);
    memcpy(bytes, sourced.buf.data, len);
    bytes[0] = 0x9c;
    bytes[len] = 0xc3;
    assert_int_equal(change_decode(bytes, len + 1, &back), PDB_EINVAL);
    free(bytes);
    mpk_out_release(&whole);
    mpk_out_release(&sourced);
    mpk_out_release(&both);
}

static void
test_change_version_cmp_orders_by_hlc_then_origin(void **state)
{
    (void) state;
    pdb_id_t a = testkit_id(0x0a), b = testkit_id(0x0b);
    assert_true(change_version_cmp(1, &b, 2, &a) < 0);
    assert_true(change_version_cmp(2, &a, 1, &b) > 0);
    assert_true(change_version_cmp(5, &a, 5, &b) < 0);
    assert_true(change_version_cmp(5, &b, 5, &a) > 0);
    assert_int_equal(change_version_cmp(5, &a, 5, &a), 0);
    assert_true(change_version_cmp(UINT64_MAX, &a, 1, &b) > 0);   // no overflow tricks
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_change_pack_then_decode_round_trips),
        cmocka_unit_test(test_change_decode_keeps_seq_zero_before_append),
        cmocka_unit_test(test_change_decode_rejects_origin_seq_zero_and_hlc_zero),
        cmocka_unit_test(test_change_decode_rejects_nil_or_malformed_ids),
        cmocka_unit_test(test_change_decode_rejects_unknown_entity_or_op),
        cmocka_unit_test(test_change_decode_rejects_wrongly_typed_numbers),
        cmocka_unit_test(test_change_decode_rejects_fields_that_are_not_one_map),
        cmocka_unit_test(test_change_decode_rejects_fields_over_the_change_limit),
        cmocka_unit_test(test_change_decode_rejects_collective_change_whose_ids_differ),
        cmocka_unit_test(test_change_decode_rejects_wrong_shape_and_garbage),
        cmocka_unit_test(test_change_partial_mark_round_trips_and_whole_copies_stay_nine_items),
        cmocka_unit_test(test_change_source_mark_round_trips_after_the_partial_mark),
        cmocka_unit_test(test_change_version_cmp_orders_by_hlc_then_origin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
