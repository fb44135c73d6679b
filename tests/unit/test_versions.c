/*  test_versions.c - the versions record of an entity (versions.h, layout
    in common/store.h) on real LMDB stores: what versions_put writes reads
    back through the store's decoders, a tombstone replaces the live record,
    and the leading bytes stay where the fast scan (store_version_head)
    reads them in place.
*/
#include "err.h"
#include "mpk.h"
#include "sync_fixture.h"
#include "versions.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

//  versions_put in its own write transaction, committed.
static void
s_put(fx_node_t *n, uint8_t id, ent_type_t type, bool tombstone, uint8_t coll, uint64_t hlc,
      uint8_t origin, const mpk_out_t *field_versions)
{
    MDB_txn *txn = fx_write_begin(n);
    assert_int_equal(versions_put(fx_store(n), txn, fx_id(id), type, tombstone, fx_id(coll), hlc,
                                  fx_id(origin), field_versions ? field_versions->buf.data : NULL,
                                  field_versions ? field_versions->buf.size : 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

//  {field: [hlc, origin]}
static void
s_field_versions(mpk_out_t *out, const char *field, uint64_t hlc, uint8_t origin)
{
    mpk_out_init(out);
    mpk_pack_map(&out->pk, 1);
    mpk_pack_str(&out->pk, field);
    mpk_pack_array(&out->pk, 2);
    mpk_pack_u64(&out->pk, hlc);
    mpk_pack_id(&out->pk, fx_id(origin));
    assert_int_equal(mpk_out_status(out), 0);
}

static void
test_versions_put_reads_back_through_the_store(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    mpk_out_t fv;
    s_field_versions(&fv, "importance", FX_H(300), FX_ORG_B);
    s_put(&n, FX_E1, ENT_EXPERIENCE, false, FX_COLL, FX_H(200), FX_ORG_A, &fv);

    MDB_txn *txn = fx_read_begin(&n);
    store_version_t v;
    assert_int_equal(store_version_get(fx_store(&n), txn, fx_id(FX_E1), &v), 0);
    assert_int_equal(v.entity, ENT_EXPERIENCE);
    assert_false(v.tombstone);
    assert_memory_equal(v.collective_id.b, fx_id(FX_COLL)->b, PDB_ID_LEN);
    assert_int_equal(v.hlc, FX_H(200));
    assert_memory_equal(v.origin.b, fx_id(FX_ORG_A)->b, PDB_ID_LEN);
    assert_int_equal(v.field_versions_len, fv.buf.size);
    assert_memory_equal(v.field_versions, fv.buf.data, fv.buf.size);
    mdb_txn_abort(txn);
    //  Only that id has a record.
    assert_int_equal(fx_entries(&n, fx_store(&n)->versions), 1);
    assert_int_equal(fx_alive(&n, fx_id(FX_E2)), -1);
    mpk_out_release(&fv);
    fx_close(&n);
}

static void
test_versions_put_without_field_versions_stores_an_empty_map(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    s_put(&n, FX_COLL, ENT_COLLECTIVE, false, FX_COLL, FX_H(100), FX_ORG_A, NULL);
    MDB_txn *txn = fx_read_begin(&n);
    store_version_t v;
    assert_int_equal(store_version_get(fx_store(&n), txn, fx_id(FX_COLL), &v), 0);
    assert_int_equal(v.field_versions_len, 1);
    assert_int_equal(v.field_versions[0], 0x80);        // MessagePack {}
    mdb_txn_abort(txn);
    fx_close(&n);
}

//  A delete writes the tombstone over the live record: the delete's
//  version, no field versions, the same collective.
static void
test_versions_tombstone_replaces_the_live_record(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    mpk_out_t fv;
    s_field_versions(&fv, "confidence", FX_H(300), FX_ORG_B);
    s_put(&n, FX_E1, ENT_EXPERIENCE, false, FX_COLL, FX_H(200), FX_ORG_A, &fv);
    assert_int_equal(fx_alive(&n, fx_id(FX_E1)), 1);
    s_put(&n, FX_E1, ENT_EXPERIENCE, true, FX_COLL, FX_H(400), FX_ORG_C, NULL);
    assert_int_equal(fx_alive(&n, fx_id(FX_E1)), 0);
    MDB_txn *txn = fx_read_begin(&n);
    store_version_t v;
    assert_int_equal(store_version_get(fx_store(&n), txn, fx_id(FX_E1), &v), 0);
    assert_true(v.tombstone);
    assert_int_equal(v.hlc, FX_H(400));
    assert_memory_equal(v.origin.b, fx_id(FX_ORG_C)->b, PDB_ID_LEN);
    assert_memory_equal(v.collective_id.b, fx_id(FX_COLL)->b, PDB_ID_LEN);
    assert_int_equal(v.field_versions_len, 1);
    mdb_txn_abort(txn);
    assert_int_equal(fx_entries(&n, fx_store(&n)->versions), 1);
    mpk_out_release(&fv);
    fx_close(&n);
}

//  store_version_head reads type, tombstone flag and collective in place
//  from the first bytes: fixarray(6), a fixint type, a bool, bin8 of 16.
static void
test_versions_record_starts_as_the_fast_scan_reads_it(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    const ent_type_t types[] = { ENT_COLLECTIVE, ENT_EXPERIENCE, ENT_RELATION, ENT_INSIGHT };
    for (size_t i = 0; i < 4; i++)
        s_put(&n, (uint8_t) (0x60 + i), types[i], i % 2 == 1, FX_COLL2, UINT64_MAX, FX_ORG_A,
              NULL);
    MDB_txn *txn = fx_read_begin(&n);
    for (size_t i = 0; i < 4; i++) {
        MDB_val key = { PDB_ID_LEN, (void *) fx_id((uint8_t) (0x60 + i))->b }, val;
        assert_int_equal(mdb_get(txn, fx_store(&n)->versions, &key, &val), 0);
        const uint8_t *p = val.mv_data;
        assert_true(val.mv_size > 5 + PDB_ID_LEN);
        assert_int_equal(p[0], 0x96);
        assert_int_equal(p[1], types[i]);
        assert_int_equal(p[2], i % 2 == 1 ? 0xc3 : 0xc2);
        assert_int_equal(p[3], 0xc4);
        assert_int_equal(p[4], PDB_ID_LEN);
        assert_memory_equal(p + 5, fx_id(FX_COLL2)->b, PDB_ID_LEN);
        ent_type_t type;
        bool tombstone;
        pdb_id_t coll;
        assert_int_equal(store_version_head(&val, &type, &tombstone, &coll), 0);
        assert_int_equal(type, types[i]);
        assert_int_equal(tombstone, i % 2 == 1);
        assert_memory_equal(coll.b, fx_id(FX_COLL2)->b, PDB_ID_LEN);
        store_version_t v;
        assert_int_equal(store_version_decode(&val, &v), 0);
        assert_int_equal(v.hlc, UINT64_MAX);
    }
    mdb_txn_abort(txn);
    fx_close(&n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_versions_put_reads_back_through_the_store),
        cmocka_unit_test(test_versions_put_without_field_versions_stores_an_empty_map),
        cmocka_unit_test(test_versions_tombstone_replaces_the_live_record),
        cmocka_unit_test(test_versions_record_starts_as_the_fast_scan_reads_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
