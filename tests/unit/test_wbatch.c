/*  test_wbatch.c - the storage side of the write path on real LMDB stores:
    "write_batch" (wbatch.h) through the storage socket's handler (many
    creates in one request and one transaction, ids in item order, WAL
    entries in the same order, a bad item or malformed arguments refusing
    the whole request with the item's index, nothing written), and "write"
    asked for the record it stored (sproto.h), which must be what a read
    finds.
*/
#include "bounds.h"
#include "err.h"
#include "handlers.h"
#include "mpk.h"
#include "sync_fixture.h"
#include "wbatch.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  An experience's fields {content, embedding of FX_DIM1 floats}, packed
//  into a standalone map and added to the args as a bin.
static void
s_item(msgpack_packer *args, const char *content, float base)
{
    mpk_out_t f;
    fx_fields_new(&f, 2);
    fx_kv_str(&f.pk, "content", content);
    float v[FX_DIM1] = { base, base + 1, base + 2 };
    mpk_pack_str(&f.pk, "embedding");
    mpk_pack_bin(&f.pk, v, sizeof v);
    assert_int_equal(mpk_out_status(&f), 0);
    mpk_pack_bin(args, f.buf.data, f.buf.size);
    mpk_out_release(&f);
}

//  [experience, coll, [n items]] with contents "item 0".."item n-1"; the
//  item at `bad` (when < n) has an importance out of range.
static void
s_args(mpk_out_t *args, const pdb_id_t *coll, uint32_t n, uint32_t bad)
{
    mpk_out_init(args);
    mpk_pack_array(&args->pk, 3);
    mpk_pack_u64(&args->pk, ENT_EXPERIENCE);
    mpk_pack_id(&args->pk, coll);
    mpk_pack_array(&args->pk, n);
    for (uint32_t i = 0; i < n; i++) {
        char content[32];
        snprintf(content, sizeof content, "item %u", i);
        if (i != bad) {
            s_item(&args->pk, content, (float) i);
            continue;
        }
        mpk_out_t f;
        fx_fields_new(&f, 3);
        fx_kv_str(&f.pk, "content", content);
        float v[FX_DIM1] = { 1, 2, 3 };
        mpk_pack_str(&f.pk, "embedding");
        mpk_pack_bin(&f.pk, v, sizeof v);
        fx_kv_dbl(&f.pk, "importance", 2.0);
        mpk_pack_bin(&args->pk, f.buf.data, f.buf.size);
        mpk_out_release(&f);
    }
    assert_int_equal(mpk_out_status(args), 0);
}

static void
test_wbatch_creates_every_item_in_order(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    pdb_id_t coll = fx_new_collective(&n, FX_WALL, "kb", FX_DIM1);
    uint64_t head = fx_head(&n);
    mpk_out_t args, result;
    s_args(&args, &coll, 50, UINT32_MAX);
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(fx_handle(&n, "write_batch", &args, &result, NULL, why), 0);
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(result.buf.data, result.buf.size, &u), 0);
    assert_int_equal(u.data.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(u.data.via.array.size, 2);
    const msgpack_object *ids = &u.data.via.array.ptr[0];
    assert_int_equal(ids->via.array.size, 50);
    uint64_t last;
    assert_int_equal(mpk_get_u64(&u.data.via.array.ptr[1], &last), 0);
    assert_int_equal(last, head + 50);
    //  Item i is the WAL's entry head + 1 + i, and its record holds item i's content.
    for (uint32_t i = 0; i < 50; i++) {
        pdb_id_t id;
        assert_int_equal(mpk_get_id(&ids->via.array.ptr[i], &id), 0);
        change_t got;
        void *copy = fx_wal_entry(&n, head + 1 + i, &got);
        assert_memory_equal(got.entity_id.b, id.b, PDB_ID_LEN);
        free(copy);
        fx_record_t r;
        fx_record_of(&n, &id, &r);
        char content[32];
        snprintf(content, sizeof content, "item %u", i);
        assert_true(fx_rec_str_is(&r, "content", content));
        assert_true(fx_rec_dbl(&r, "importance") == 0.5);     // defaults as for one write
        fx_record_free(&r);
    }
    assert_int_equal(fx_entries(&n, fx_store(&n)->experiences), 50);
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&result);
    mpk_out_release(&args);
    fx_close(&n);
}

static void
test_wbatch_bad_item_refuses_the_whole_batch(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    pdb_id_t coll = fx_new_collective(&n, FX_WALL, "kb", FX_DIM1);
    uint64_t head = fx_head(&n);
    mpk_out_t args;
    s_args(&args, &coll, 10, 7);
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(fx_handle(&n, "write_batch", &args, NULL, NULL, why), PDB_EINVAL);
    assert_true(strncmp(why, "item 7: ", 8) == 0);
    assert_non_null(strstr(why, "importance"));
    assert_int_equal(fx_head(&n), head);
    assert_int_equal(fx_entries(&n, fx_store(&n)->experiences), 0);
    mpk_out_release(&args);
    fx_close(&n);
}

static void
test_wbatch_unknown_collective_is_not_found(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    mpk_out_t args;
    s_args(&args, fx_id(FX_COLL), 3, UINT32_MAX);
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(fx_handle(&n, "write_batch", &args, NULL, NULL, why), PDB_ENOTFOUND);
    assert_true(strncmp(why, "item 0: ", 8) == 0);
    assert_int_equal(fx_head(&n), 0);
    mpk_out_release(&args);
    fx_close(&n);
}

//  Over the limit, empty, a non-bin item, a collective create, bad shapes:
//  refused before anything is written.
static void
test_wbatch_refuses_malformed_arguments(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    pdb_id_t coll = fx_new_collective(&n, FX_WALL, "kb", FX_DIM1);
    uint64_t head = fx_head(&n);
    char why[PDB_ERRMSG_MAX];
    mpk_out_t args;
    s_args(&args, &coll, PDB_WRITE_BATCH_MAX + 1, UINT32_MAX);
    assert_int_equal(fx_handle(&n, "write_batch", &args, NULL, NULL, why), PDB_ETOOBIG);
    assert_non_null(strstr(why, "over the limit"));
    mpk_out_release(&args);

    s_args(&args, &coll, 0, UINT32_MAX);
    assert_int_equal(fx_handle(&n, "write_batch", &args, NULL, NULL, why), PDB_EINVAL);
    mpk_out_release(&args);

    mpk_out_init(&args);
    mpk_pack_array(&args.pk, 3);
    mpk_pack_u64(&args.pk, ENT_EXPERIENCE);
    mpk_pack_id(&args.pk, &coll);
    mpk_pack_array(&args.pk, 2);
    s_item(&args.pk, "fine", 1);
    mpk_pack_str(&args.pk, "not a bin");
    assert_int_equal(fx_handle(&n, "write_batch", &args, NULL, NULL, why), PDB_EINVAL);
    assert_true(strncmp(why, "item 1: ", 8) == 0);
    mpk_out_release(&args);

    const uint64_t entities[] = { ENT_COLLECTIVE, 9 };
    for (size_t i = 0; i < 2; i++) {
        mpk_out_init(&args);
        mpk_pack_array(&args.pk, 3);
        mpk_pack_u64(&args.pk, entities[i]);
        mpk_pack_id(&args.pk, &coll);
        mpk_pack_array(&args.pk, 1);
        s_item(&args.pk, "x", 1);
        assert_int_equal(fx_handle(&n, "write_batch", &args, NULL, NULL, why), PDB_EINVAL);
        mpk_out_release(&args);
    }
    mpk_out_init(&args);
    mpk_pack_array(&args.pk, 2);
    mpk_pack_u64(&args.pk, ENT_EXPERIENCE);
    mpk_pack_id(&args.pk, &coll);
    assert_int_equal(fx_handle(&n, "write_batch", &args, NULL, NULL, why), PDB_EINVAL);
    mpk_out_release(&args);
    assert_int_equal(fx_head(&n), head);
    fx_close(&n);
}

//  "write" with record=true answers [id, seq, bin(record)]: the record as
//  stored, byte for byte, without the embedding.
static void
test_write_with_record_answers_the_stored_record(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    pdb_id_t coll = fx_new_collective(&n, FX_WALL, "kb", FX_DIM1);
    mpk_out_t args, result;
    mpk_out_init(&args);
    mpk_pack_array(&args.pk, 6);
    mpk_pack_u64(&args.pk, ENT_EXPERIENCE);
    mpk_pack_u64(&args.pk, OP_CREATE);
    mpk_pack_id(&args.pk, &coll);
    mpk_pack_nil(&args.pk);
    s_item(&args.pk, "with record", 1);
    mpk_pack_bool(&args.pk, true);
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(fx_handle(&n, "write", &args, &result, NULL, why), 0);
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(result.buf.data, result.buf.size, &u), 0);
    assert_int_equal(u.data.via.array.size, 3);
    pdb_id_t id;
    const void *record;
    size_t record_len;
    assert_int_equal(mpk_get_id(&u.data.via.array.ptr[0], &id), 0);
    assert_int_equal(mpk_get_bin(&u.data.via.array.ptr[2], &record, &record_len), 0);
    MDB_txn *txn = fx_read_begin(&n);
    MDB_val stored;
    assert_int_equal(store_record_get(fx_store(&n), txn, &id, NULL, NULL, &stored), 0);
    assert_int_equal(stored.mv_size, record_len);
    assert_memory_equal(stored.mv_data, record, record_len);
    mdb_txn_abort(txn);
    fx_record_t r;
    fx_record_of(&n, &id, &r);
    assert_null(mpk_map_get(r.map, "embedding"));
    assert_true(fx_rec_str_is(&r, "content", "with record"));
    fx_record_free(&r);
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&result);
    //  Without the flag (or false): [id, seq] as before.
    mpk_out_release(&args);
    mpk_out_init(&args);
    mpk_pack_array(&args.pk, 6);
    mpk_pack_u64(&args.pk, ENT_EXPERIENCE);
    mpk_pack_u64(&args.pk, OP_CREATE);
    mpk_pack_id(&args.pk, &coll);
    mpk_pack_nil(&args.pk);
    s_item(&args.pk, "without", 1);
    mpk_pack_bool(&args.pk, false);
    assert_int_equal(fx_handle(&n, "write", &args, &result, NULL, why), 0);
    assert_int_equal(mpk_parse(result.buf.data, result.buf.size, &u), 0);
    assert_int_equal(u.data.via.array.size, 2);
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&result);
    mpk_out_release(&args);
    fx_close(&n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wbatch_creates_every_item_in_order),
        cmocka_unit_test(test_wbatch_bad_item_refuses_the_whole_batch),
        cmocka_unit_test(test_wbatch_unknown_collective_is_not_found),
        cmocka_unit_test(test_wbatch_refuses_malformed_arguments),
        cmocka_unit_test(test_write_with_record_answers_the_stored_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
