/*  test_mpk.c - MessagePack helpers: the bounded structural check that runs
    before anything is decoded, canonical packing, lookups and equality.
*/
#include "mpk.h"
#include "bounds.h"
#include "err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N_OF(a) (sizeof (a) / sizeof (a)[0])

//  One value of every kind we produce, nested: the valid reference input.
static void
s_pack_sample(mpk_out_t *o)
{
    msgpack_packer *pk = &o->pk;
    pdb_id_t id;
    memset(id.b, 0xab, sizeof id.b);
    mpk_pack_map(pk, 7);
    mpk_pack_str(pk, "str");      mpk_pack_str(pk, "h\xc3\xa9llo");
    mpk_pack_str(pk, "id");       mpk_pack_id(pk, &id);
    mpk_pack_str(pk, "u64");      mpk_pack_u64(pk, UINT64_MAX);
    mpk_pack_str(pk, "i64");      mpk_pack_i64(pk, INT64_MIN);
    mpk_pack_str(pk, "double");   mpk_pack_double(pk, 0.25);
    mpk_pack_str(pk, "list");
    mpk_pack_array(pk, 4);
    mpk_pack_nil(pk);
    mpk_pack_bool(pk, true);
    mpk_pack_bool(pk, false);
    mpk_pack_map(pk, 1);
    mpk_pack_str(pk, "deep");
    mpk_pack_array(pk, 0);
    mpk_pack_str(pk, "bin");      mpk_pack_bin(pk, "\x00\x01\x02", 3);
    assert_int_equal(mpk_out_status(o), 0);
}

//  A missing map member reads as a type error, never a crash: callers
//  write mpk_get_x(mpk_map_get(map, key), &v).
static void
test_mpk_getters_refuse_null(void **state)
{
    (void) state;
    pdb_id_t id;
    uint64_t u;
    int64_t i;
    double d;
    const char *str;
    const void *bin;
    size_t len;
    assert_int_equal(mpk_get_id(NULL, &id), PDB_EINVAL);
    assert_int_equal(mpk_get_u64(NULL, &u), PDB_EINVAL);
    assert_int_equal(mpk_get_i64(NULL, &i), PDB_EINVAL);
    assert_int_equal(mpk_get_double(NULL, &d), PDB_EINVAL);
    assert_int_equal(mpk_get_str(NULL, &str, &len), PDB_EINVAL);
    assert_int_equal(mpk_get_bin(NULL, &bin, &len), PDB_EINVAL);
}

static void
test_mpk_check_accepts_valid_values(void **state)
{
    (void) state;
    mpk_out_t o;
    mpk_out_init(&o);
    s_pack_sample(&o);
    assert_int_equal(mpk_check(o.buf.data, o.buf.size), 0);
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(o.buf.data, o.buf.size, &u), 0);
    uint64_t u64;
    int64_t i64;
    double d;
    pdb_id_t id;
    const char *s;
    size_t len;
    assert_int_equal(mpk_get_u64(mpk_map_get(&u.data, "u64"), &u64), 0);
    assert_true(u64 == UINT64_MAX);
    assert_int_equal(mpk_get_i64(mpk_map_get(&u.data, "i64"), &i64), 0);
    assert_true(i64 == INT64_MIN);
    assert_int_equal(mpk_get_double(mpk_map_get(&u.data, "double"), &d), 0);
    assert_true(d == 0.25);
    assert_int_equal(mpk_get_id(mpk_map_get(&u.data, "id"), &id), 0);
    assert_int_equal(id.b[0], 0xab);
    assert_int_equal(mpk_get_str(mpk_map_get(&u.data, "str"), &s, &len), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(s, "h\xc3\xa9llo", 6);
    assert_true(mpk_is_str(mpk_map_get(&u.data, "str"), "h\xc3\xa9llo"));
    assert_null(mpk_map_get(&u.data, "absent"));
    msgpack_unpacked_destroy(&u);

    //  Scalars on their own, each wide form included.
    static const uint8_t scalars[][10] = {
        { 1, 0xc0 }, { 1, 0x7f }, { 1, 0xe0 }, { 2, 0xcc, 0xff }, { 3, 0xcd, 1, 2 },
        { 5, 0xce, 1, 2, 3, 4 }, { 9, 0xcf, 1, 2, 3, 4, 5, 6, 7, 8 }, { 2, 0xd0, 0x80 },
        { 5, 0xca, 0x3f, 0x80, 0, 0 }, { 1, 0xa0 }, { 3, 0xd9, 1, 'x' },
        { 4, 0xda, 0, 1, 'x' }, { 6, 0xdb, 0, 0, 0, 1, 'x' }, { 2, 0xc4, 0 },
        { 3, 0xdc, 0, 0 }, { 5, 0xdd, 0, 0, 0, 0 }, { 3, 0xde, 0, 0 }, { 5, 0xdf, 0, 0, 0, 0 },
    };
    for (size_t i = 0; i < N_OF(scalars); i++)
        assert_int_equal(mpk_check(scalars[i] + 1, scalars[i][0]), 0);
    mpk_out_release(&o);
}

static void
test_mpk_check_rejects_every_truncation(void **state)
{
    (void) state;
    mpk_out_t o;
    mpk_out_init(&o);
    s_pack_sample(&o);
    assert_int_equal(mpk_check(o.buf.data, 0), PDB_EINVAL);
    for (size_t len = 1; len < o.buf.size; len++) {
        //  A copy of exactly len bytes, so ASan catches any read past it.
        uint8_t *cut = malloc(len);
        assert_non_null(cut);
        memcpy(cut, o.buf.data, len);
        assert_int_equal(mpk_check(cut, len), PDB_EINVAL);
        msgpack_unpacked u;
        assert_int_equal(mpk_parse(cut, len, &u), PDB_EINVAL);
        free(cut);
    }
    mpk_out_release(&o);
}

static void
test_mpk_check_rejects_trailing_bytes(void **state)
{
    (void) state;
    mpk_out_t o;
    mpk_out_init(&o);
    s_pack_sample(&o);
    mpk_pack_nil(&o.pk);                  // a second object after the first
    assert_int_equal(mpk_check(o.buf.data, o.buf.size), PDB_EINVAL);
    static const uint8_t two_ints[] = { 0x01, 0x02 };
    assert_int_equal(mpk_check(two_ints, sizeof two_ints), PDB_EINVAL);
    mpk_out_release(&o);
}

static void
test_mpk_check_rejects_lying_lengths(void **state)
{
    (void) state;
    static const struct { size_t len; uint8_t bytes[12]; } lies[] = {
        { 8, { 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0, 0xc0 } },   // array32 of 4G, 3 items
        { 6, { 0xdc, 0xff, 0xff, 0xc0, 0xc0, 0xc0 } },               // array16
        { 3, { 0x93, 0xc0, 0xc0 } },                                 // fixarray 3, 2 items
        { 9, { 0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0, 0xc0, 0xc0 } }, // map32
        { 5, { 0xde, 0x00, 0x02, 0xc0, 0xc0 } },                     // map16 of 2, 1 pair
        { 2, { 0x81, 0xc0 } },                                       // fixmap, no value
        { 8, { 0xdb, 0xff, 0xff, 0xff, 0xff, 'a', 'b', 'c' } },      // str32
        { 5, { 0xda, 0x00, 0x10, 'a', 'b' } },                       // str16
        { 4, { 0xd9, 0x05, 'a', 'b' } },                             // str8
        { 3, { 0xa5, 'a', 'b' } },                                   // fixstr
        { 8, { 0xc6, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3 } },            // bin32
        { 3, { 0xc4, 0x02, 1 } },                                    // bin8
        { 4, { 0xcb, 0, 0, 0 } },                                    // float64 short
        { 2, { 0xce, 0 } },                                          // uint32 short
        { 1, { 0xdd } },                                             // no count at all
    };
    for (size_t i = 0; i < N_OF(lies); i++) {
        uint8_t *copy = malloc(lies[i].len);
        assert_non_null(copy);
        memcpy(copy, lies[i].bytes, lies[i].len);
        assert_int_equal(mpk_check(copy, lies[i].len), PDB_EINVAL);
        free(copy);
    }
}

//  depth containers nested, innermost empty: arrays or single-entry maps.
static size_t
s_nest(uint8_t *buf, unsigned depth, bool maps)
{
    size_t n = 0;
    for (unsigned i = 0; i + 1 < depth; i++) {
        buf[n++] = maps ? 0x81 : 0x91;
        if (maps)
            buf[n++] = 0x00;              // key 0, value: the next level
    }
    buf[n++] = maps ? 0x80 : 0x90;
    return n;
}

static void
test_mpk_check_limits_nesting_depth(void **state)
{
    (void) state;
    uint8_t buf[64];
    for (int maps = 0; maps < 2; maps++) {
        size_t n = s_nest(buf, PDB_MPK_DEPTH_MAX, maps);
        assert_int_equal(mpk_check(buf, n), 0);
        n = s_nest(buf, PDB_MPK_DEPTH_MAX + 1, maps);
        assert_int_equal(mpk_check(buf, n), PDB_EINVAL);
        n = s_nest(buf, 20, maps);
        assert_int_equal(mpk_check(buf, n), PDB_EINVAL);
    }
}

static void
test_mpk_check_rejects_ext_types_and_reserved_byte(void **state)
{
    (void) state;
    static const struct { size_t len; uint8_t bytes[8]; } bad[] = {
        { 3, { 0xd4, 0x01, 0x00 } },                 // fixext1
        { 4, { 0xd5, 0x01, 0x00, 0x00 } },           // fixext2
        { 6, { 0xd6, 0x01, 0, 0, 0, 0 } },           // fixext4
        { 4, { 0xc7, 0x01, 0x01, 0x00 } },           // ext8
        { 5, { 0xc8, 0x00, 0x01, 0x01, 0x00 } },     // ext16
        { 1, { 0xc1 } },                             // never used
        { 3, { 0x91, 0xd4, 0x01 } },                 // ext inside an array
    };
    for (size_t i = 0; i < N_OF(bad); i++)
        assert_int_equal(mpk_check(bad[i].bytes, bad[i].len), PDB_EINVAL);
}

static void
test_mpk_check_limits_object_count(void **state)
{
    (void) state;
    //  An array of PDB_MPK_OBJECTS_MAX nils is that many objects plus one.
    size_t items = PDB_MPK_OBJECTS_MAX;
    uint8_t *buf = malloc(5 + items);
    assert_non_null(buf);
    buf[0] = 0xdd;
    for (int i = 0; i < 4; i++)
        buf[1 + i] = (uint8_t) ((items - 1) >> (24 - 8 * i));
    memset(buf + 5, 0xc0, items);
    assert_int_equal(mpk_check(buf, 5 + items - 1), 0);     // exactly the limit
    for (int i = 0; i < 4; i++)
        buf[1 + i] = (uint8_t) (items >> (24 - 8 * i));
    assert_int_equal(mpk_check(buf, 5 + items), PDB_EINVAL);
    free(buf);
}

static void
test_mpk_check_rejects_input_over_message_limit(void **state)
{
    (void) state;
    //  A bin32 that would be well formed, but is longer than any frame.
    size_t len = (size_t) PDB_MSG_MAX + 1;
    uint8_t *buf = calloc(1, len);
    assert_non_null(buf);
    size_t body = len - 5;
    buf[0] = 0xc6;
    for (int i = 0; i < 4; i++)
        buf[1 + i] = (uint8_t) (body >> (24 - 8 * i));
    assert_int_equal(mpk_check(buf, len), PDB_EINVAL);
    free(buf);
}

//  Canonical bytes of obj.
static void
s_canonical(const msgpack_object *obj, mpk_out_t *out)
{
    mpk_out_init(out);
    mpk_pack_canonical(&out->pk, obj);
    assert_int_equal(mpk_out_status(out), 0);
}

static void
test_mpk_canonical_sorts_map_keys_by_bytes(void **state)
{
    (void) state;
    mpk_out_t a, b;
    mpk_out_init(&a);
    mpk_pack_map(&a.pk, 4);
    mpk_pack_str(&a.pk, "zeta");   mpk_pack_u64(&a.pk, 1);
    mpk_pack_str(&a.pk, "ab");     mpk_pack_u64(&a.pk, 2);
    mpk_pack_str(&a.pk, "a");      mpk_pack_u64(&a.pk, 3);
    mpk_pack_str(&a.pk, "nested");
    mpk_pack_array(&a.pk, 1);
    mpk_pack_map(&a.pk, 2);
    mpk_pack_str(&a.pk, "y");      mpk_pack_nil(&a.pk);
    mpk_pack_str(&a.pk, "x");      mpk_pack_nil(&a.pk);
    mpk_out_init(&b);
    mpk_pack_map(&b.pk, 4);
    mpk_pack_str(&b.pk, "a");      mpk_pack_u64(&b.pk, 3);
    mpk_pack_str(&b.pk, "ab");     mpk_pack_u64(&b.pk, 2);
    mpk_pack_str(&b.pk, "nested");
    mpk_pack_array(&b.pk, 1);
    mpk_pack_map(&b.pk, 2);
    mpk_pack_str(&b.pk, "x");      mpk_pack_nil(&b.pk);
    mpk_pack_str(&b.pk, "y");      mpk_pack_nil(&b.pk);
    mpk_pack_str(&b.pk, "zeta");   mpk_pack_u64(&b.pk, 1);

    msgpack_unpacked u;
    assert_int_equal(mpk_parse(a.buf.data, a.buf.size, &u), 0);
    mpk_out_t c;
    s_canonical(&u.data, &c);
    assert_int_equal(c.buf.size, b.buf.size);
    assert_memory_equal(c.buf.data, b.buf.data, b.buf.size);
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&a);
    mpk_out_release(&b);
    mpk_out_release(&c);
}

//  Maps keyed by bin (the applications counter: instance id -> count) must
//  come out in one order too, whatever order their entries arrived in.
static void
test_mpk_canonical_sorts_bin_keys_by_bytes(void **state)
{
    (void) state;
    pdb_id_t ids[3];
    for (int i = 0; i < 3; i++)
        memset(ids[i].b, 0x30 + 0x10 * i, PDB_ID_LEN);
    static const int orders[2][3] = { { 2, 0, 1 }, { 0, 1, 2 } };
    mpk_out_t canon[2];
    for (int k = 0; k < 2; k++) {
        mpk_out_t o;
        mpk_out_init(&o);
        mpk_pack_map(&o.pk, 3);
        for (int i = 0; i < 3; i++) {
            mpk_pack_id(&o.pk, &ids[orders[k][i]]);
            mpk_pack_u64(&o.pk, (uint64_t) orders[k][i] + 1);
        }
        msgpack_unpacked u;
        assert_int_equal(mpk_parse(o.buf.data, o.buf.size, &u), 0);
        s_canonical(&u.data, &canon[k]);
        msgpack_unpacked_destroy(&u);
        mpk_out_release(&o);
    }
    assert_int_equal(canon[0].buf.size, canon[1].buf.size);
    assert_memory_equal(canon[0].buf.data, canon[1].buf.data, canon[1].buf.size);
    mpk_out_release(&canon[0]);
    mpk_out_release(&canon[1]);
}

static void
test_mpk_canonical_packs_float32_as_float64(void **state)
{
    (void) state;
    mpk_out_t o;
    mpk_out_init(&o);
    mpk_pack_array(&o.pk, 2);
    (void) msgpack_pack_float(&o.pk, 1.5f);
    mpk_pack_double(&o.pk, 1.5);
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(o.buf.data, o.buf.size, &u), 0);
    assert_int_equal(u.data.via.array.ptr[0].type, MSGPACK_OBJECT_FLOAT32);
    mpk_out_t c;
    s_canonical(&u.data, &c);
    static const uint8_t want[] = {
        0x92, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0,
    };
    assert_int_equal(c.buf.size, sizeof want);
    assert_memory_equal(c.buf.data, want, sizeof want);
    assert_true(mpk_equal(&u.data.via.array.ptr[0], &u.data.via.array.ptr[1]));
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&o);
    mpk_out_release(&c);
}

static void
test_mpk_equal_ignores_key_order_but_not_values(void **state)
{
    (void) state;
    mpk_out_t o;
    mpk_out_init(&o);
    mpk_pack_array(&o.pk, 4);
    mpk_pack_map(&o.pk, 2);
    mpk_pack_str(&o.pk, "a"); mpk_pack_u64(&o.pk, 1);
    mpk_pack_str(&o.pk, "b"); mpk_pack_str(&o.pk, "x");
    mpk_pack_map(&o.pk, 2);
    mpk_pack_str(&o.pk, "b"); mpk_pack_str(&o.pk, "x");
    mpk_pack_str(&o.pk, "a"); mpk_pack_u64(&o.pk, 1);
    mpk_pack_map(&o.pk, 2);
    mpk_pack_str(&o.pk, "b"); mpk_pack_str(&o.pk, "y");
    mpk_pack_str(&o.pk, "a"); mpk_pack_u64(&o.pk, 1);
    mpk_pack_bin(&o.pk, "x", 1);          // same byte as the str "x", other type
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(o.buf.data, o.buf.size, &u), 0);
    const msgpack_object *v = u.data.via.array.ptr;
    assert_true(mpk_equal(&v[0], &v[1]));
    assert_false(mpk_equal(&v[0], &v[2]));
    assert_false(mpk_equal(&v[0], &v[3]));
    const msgpack_object *str_x = mpk_map_get(&v[0], "b");
    assert_false(mpk_equal(str_x, &v[3]));
    assert_true(mpk_equal(str_x, str_x));
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&o);
}

//  Keys of every kind, including look-alikes (same bytes in a str and a
//  bin, a prefix, the empty str and bin, ints, a float and a map): the
//  allocation-free key comparison must agree with mpk_equal on every pair.
static void
test_mpk_key_equal_agrees_with_mpk_equal(void **state)
{
    (void) state;
    mpk_out_t o;
    mpk_out_init(&o);
    mpk_pack_array(&o.pk, 16);
    mpk_pack_str(&o.pk, "content");
    mpk_pack_str(&o.pk, "content");
    mpk_pack_str(&o.pk, "conten");
    mpk_pack_str(&o.pk, "contenT");
    mpk_pack_bin(&o.pk, "content", 7);
    mpk_pack_bin(&o.pk, "content", 7);
    mpk_pack_str(&o.pk, "");
    mpk_pack_bin(&o.pk, "", 0);
    mpk_pack_u64(&o.pk, 7);
    mpk_pack_i64(&o.pk, 7);
    mpk_pack_u64(&o.pk, 8);
    mpk_pack_nil(&o.pk);
    (void) msgpack_pack_float(&o.pk, 7.0f);
    mpk_pack_double(&o.pk, 7.0);
    mpk_pack_map(&o.pk, 1);
    mpk_pack_str(&o.pk, "k"); mpk_pack_u64(&o.pk, 1);
    mpk_pack_str(&o.pk, "a long key of more than thirty-one bytes, so str8");
    assert_int_equal(mpk_out_status(&o), 0);
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(o.buf.data, o.buf.size, &u), 0);
    const msgpack_object *v = u.data.via.array.ptr;
    uint32_t n = u.data.via.array.size;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < n; j++)
            assert_int_equal(mpk_key_equal(&v[i], &v[j]), mpk_equal(&v[i], &v[j]));
    assert_true(mpk_key_equal(&v[0], &v[1]));      // equal strs
    assert_false(mpk_key_equal(&v[0], &v[2]));     // a prefix
    assert_false(mpk_key_equal(&v[0], &v[3]));     // same size, other bytes
    assert_false(mpk_key_equal(&v[0], &v[4]));     // same bytes, a bin
    assert_true(mpk_key_equal(&v[4], &v[5]));      // equal bins
    assert_true(mpk_key_equal(&v[6], &v[6]));      // empty str
    assert_false(mpk_key_equal(&v[6], &v[7]));     // empty str, empty bin
    assert_false(mpk_key_equal(&v[8], &v[0]));     // int, str
    assert_true(mpk_key_equal(&v[8], &v[9]));      // other types: mpk_equal
    assert_false(mpk_key_equal(&v[8], &v[10]));
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&o);
}

static void
test_mpk_getters_reject_other_types_and_ranges(void **state)
{
    (void) state;
    mpk_out_t o;
    mpk_out_init(&o);
    mpk_pack_array(&o.pk, 6);
    mpk_pack_i64(&o.pk, -1);
    mpk_pack_u64(&o.pk, UINT64_MAX);
    mpk_pack_double(&o.pk, NAN);
    mpk_pack_bin(&o.pk, "short", 5);
    mpk_pack_str(&o.pk, "s");
    mpk_pack_double(&o.pk, INFINITY);
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(o.buf.data, o.buf.size, &u), 0);
    const msgpack_object *v = u.data.via.array.ptr;
    uint64_t u64;
    int64_t i64;
    double d;
    pdb_id_t id;
    const char *s;
    const void *bin;
    size_t len;
    assert_int_equal(mpk_get_u64(&v[0], &u64), PDB_EINVAL);      // negative
    assert_int_equal(mpk_get_i64(&v[0], &i64), 0);
    assert_true(i64 == -1);
    assert_int_equal(mpk_get_i64(&v[1], &i64), PDB_EINVAL);      // over INT64_MAX
    assert_int_equal(mpk_get_double(&v[2], &d), PDB_EINVAL);     // NaN
    assert_int_equal(mpk_get_double(&v[5], &d), PDB_EINVAL);     // infinity
    assert_int_equal(mpk_get_double(&v[0], &d), 0);              // integers widen
    assert_true(d == -1.0);
    assert_int_equal(mpk_get_id(&v[3], &id), PDB_EINVAL);        // 5-byte bin
    assert_int_equal(mpk_get_id(&v[4], &id), PDB_EINVAL);        // str
    assert_int_equal(mpk_get_str(&v[3], &s, &len), PDB_EINVAL);
    assert_int_equal(mpk_get_bin(&v[4], &bin, &len), PDB_EINVAL);
    assert_int_equal(mpk_get_bin(&v[3], &bin, &len), 0);
    assert_int_equal(len, 5);
    assert_null(mpk_map_get(&u.data, "a"));                      // not a map
    assert_null(mpk_map_get(NULL, "a"));
    assert_false(mpk_is_str(&v[3], "short"));
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&o);
}

static void
test_mpk_out_release_twice_is_safe(void **state)
{
    (void) state;
    mpk_out_t o;
    mpk_out_init(&o);
    mpk_pack_str(&o.pk, "x");
    mpk_out_release(&o);
    mpk_out_release(&o);
    assert_null(o.buf.data);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mpk_getters_refuse_null),
        cmocka_unit_test(test_mpk_check_accepts_valid_values),
        cmocka_unit_test(test_mpk_check_rejects_every_truncation),
        cmocka_unit_test(test_mpk_check_rejects_trailing_bytes),
        cmocka_unit_test(test_mpk_check_rejects_lying_lengths),
        cmocka_unit_test(test_mpk_check_limits_nesting_depth),
        cmocka_unit_test(test_mpk_check_rejects_ext_types_and_reserved_byte),
        cmocka_unit_test(test_mpk_check_limits_object_count),
        cmocka_unit_test(test_mpk_check_rejects_input_over_message_limit),
        cmocka_unit_test(test_mpk_canonical_sorts_map_keys_by_bytes),
        cmocka_unit_test(test_mpk_canonical_sorts_bin_keys_by_bytes),
        cmocka_unit_test(test_mpk_canonical_packs_float32_as_float64),
        cmocka_unit_test(test_mpk_equal_ignores_key_order_but_not_values),
        cmocka_unit_test(test_mpk_key_equal_agrees_with_mpk_equal),
        cmocka_unit_test(test_mpk_getters_reject_other_types_and_ranges),
        cmocka_unit_test(test_mpk_out_release_twice_is_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
