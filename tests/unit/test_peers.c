/*  test_peers.c - per-peer sync state in the peers database (peers.h) on
    real LMDB stores: "peer_set" merges fields into a peer's row, cursors
    never move backwards, rows are bounded while both cursors always fit,
    conflicts add up, "peer_del" forgets a peer; bad arguments and corrupt
    rows are refused with nothing written.
*/
#include "bounds.h"
#include "err.h"
#include "mpk.h"
#include "peers.h"
#include "sync_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Calls in their own write transaction, committed when they succeed

typedef int (*s_peers_fn)(store_t *store, MDB_txn *txn, const msgpack_object *args,
                          char why[PDB_ERRMSG_MAX]);

static int
s_call(fx_node_t *n, s_peers_fn fn, const mpk_out_t *args, char why[PDB_ERRMSG_MAX])
{
    assert_int_equal(mpk_out_status(args), 0);
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(args->buf.data, args->buf.size, &u), 0);
    why[0] = '\0';
    MDB_txn *txn = fx_write_begin(n);
    int rc = fn(fx_store(n), txn, &u.data, why);
    if (rc == 0)
        assert_int_equal(mdb_txn_commit(txn), 0);
    else
        mdb_txn_abort(txn);
    msgpack_unpacked_destroy(&u);
    return rc;
}

//  Starts peer_set args [name, {...n fields}]; the caller packs the fields.
static msgpack_packer *
s_set_begin(mpk_out_t *a, const char *name, uint32_t n)
{
    mpk_out_init(a);
    mpk_pack_array(&a->pk, 2);
    mpk_pack_str(&a->pk, name);
    mpk_pack_map(&a->pk, n);
    return &a->pk;
}

//  peer_set name {key: value} for one u64 field.
static int
s_set_u64(fx_node_t *n, const char *name, const char *key, uint64_t value)
{
    mpk_out_t a;
    fx_kv_u64(s_set_begin(&a, name, 1), key, value);
    char why[PDB_ERRMSG_MAX];
    int rc = s_call(n, peers_set, &a, why);
    mpk_out_release(&a);
    return rc;
}

//  peer_set name {prefix00: 0, prefix01: 1, ...} with `count` fields.
static int
s_set_many(fx_node_t *n, const char *name, const char *prefix, unsigned count,
           char why[PDB_ERRMSG_MAX])
{
    mpk_out_t a;
    msgpack_packer *pk = s_set_begin(&a, name, count);
    for (unsigned i = 0; i < count; i++) {
        char key[32];
        snprintf(key, sizeof key, "%s%02u", prefix, i);
        fx_kv_u64(pk, key, i);
    }
    int rc = s_call(n, peers_set, &a, why);
    mpk_out_release(&a);
    return rc;
}

static int
s_raise(fx_node_t *n, const char *name, uint64_t cursor)
{
    MDB_txn *txn = fx_write_begin(n);
    int rc = peers_raise_cursor(fx_store(n), txn, name, strlen(name), cursor);
    if (rc == 0)
        assert_int_equal(mdb_txn_commit(txn), 0);
    else
        mdb_txn_abort(txn);
    return rc;
}

static int
s_add_conflicts(fx_node_t *n, const char *name, uint64_t count)
{
    MDB_txn *txn = fx_write_begin(n);
    int rc = peers_add_conflicts(fx_store(n), txn, name, strlen(name), count);
    if (rc == 0)
        assert_int_equal(mdb_txn_commit(txn), 0);
    else
        mdb_txn_abort(txn);
    return rc;
}

//  --------------------------------------------------------------------------
//  Reading a row back

typedef struct {
    void *copy;
    msgpack_unpacked u;
    bool found;
} s_row_t;

static void
s_row(fx_node_t *n, const char *name, s_row_t *row)
{
    memset(row, 0, sizeof *row);
    MDB_txn *txn = fx_read_begin(n);
    MDB_val key = { strlen(name), (void *) name }, val;
    int rc = mdb_get(txn, fx_store(n)->peers, &key, &val);
    if (rc == 0) {
        row->copy = malloc(val.mv_size);
        assert_non_null(row->copy);
        memcpy(row->copy, val.mv_data, val.mv_size);
        assert_int_equal(mpk_parse(row->copy, val.mv_size, &row->u), 0);
        assert_int_equal(row->u.data.type, MSGPACK_OBJECT_MAP);
        row->found = true;
    }
    else
        assert_int_equal(rc, MDB_NOTFOUND);
    mdb_txn_abort(txn);
}

static void
s_row_free(s_row_t *row)
{
    if (row->found)
        msgpack_unpacked_destroy(&row->u);
    free(row->copy);
}

static uint32_t
s_row_size(const s_row_t *row)
{
    assert_true(row->found);
    return row->u.data.via.map.size;
}

//  A u64 field of name's row (asserts the row and the field are there).
static uint64_t
s_field(fx_node_t *n, const char *name, const char *key)
{
    s_row_t row;
    s_row(n, name, &row);
    assert_true(row.found);
    const msgpack_object *v = mpk_map_get(&row.u.data, key);
    if (!v)
        fail_msg("peer %s has no field %s", name, key);
    uint64_t out = 0;
    assert_int_equal(mpk_get_u64(v, &out), 0);
    s_row_free(&row);
    return out;
}

//  Puts raw bytes as name's row, as a damaged file would hold them.
static void
s_put_raw(fx_node_t *n, const char *name, const void *data, size_t len)
{
    MDB_txn *txn = fx_write_begin(n);
    MDB_val key = { strlen(name), (void *) name }, val = { len, (void *) data };
    assert_int_equal(mdb_put(txn, fx_store(n)->peers, &key, &val, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

//  --------------------------------------------------------------------------

static void
test_peers_set_merges_fields_into_the_row(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    char why[PDB_ERRMSG_MAX];
    mpk_out_t a;
    msgpack_packer *pk = s_set_begin(&a, "edge-1", 2);
    mpk_pack_str(pk, "instance_id");
    mpk_pack_id(pk, fx_id(FX_ORG_B));
    fx_kv_u64(pk, "last_seen_ms", 5);
    assert_int_equal(s_call(&n, peers_set, &a, why), 0);
    mpk_out_release(&a);
    pk = s_set_begin(&a, "edge-1", 3);
    fx_kv_u64(pk, "last_seen_ms", 9);
    fx_kv_str(pk, "last_error", "timeout");
    mpk_pack_str(pk, "degraded");
    mpk_pack_nil(pk);
    assert_int_equal(s_call(&n, peers_set, &a, why), 0);
    mpk_out_release(&a);

    s_row_t row;
    s_row(&n, "edge-1", &row);
    assert_int_equal(s_row_size(&row), 4);
    pdb_id_t id;
    assert_int_equal(mpk_get_id(mpk_map_get(&row.u.data, "instance_id"), &id), 0);
    assert_memory_equal(id.b, fx_id(FX_ORG_B)->b, PDB_ID_LEN);
    assert_true(mpk_is_str(mpk_map_get(&row.u.data, "last_error"), "timeout"));
    assert_int_equal(mpk_map_get(&row.u.data, "degraded")->type, MSGPACK_OBJECT_NIL);
    s_row_free(&row);
    assert_int_equal(s_field(&n, "edge-1", "last_seen_ms"), 9);    // the later value
    //  Another peer's row is its own.
    assert_int_equal(s_set_u64(&n, "edge-2", "last_seen_ms", 1), 0);
    assert_int_equal(s_field(&n, "edge-1", "last_seen_ms"), 9);
    assert_int_equal(fx_entries(&n, fx_store(&n)->peers), 2);
    fx_close(&n);
}

static void
test_peers_cursors_never_move_backwards(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    assert_int_equal(s_set_u64(&n, "edge", "pull_cursor", 50), 0);
    assert_int_equal(s_set_u64(&n, "edge", "push_acked", 40), 0);
    assert_int_equal(s_set_u64(&n, "edge", "pull_cursor", 20), 0);
    assert_int_equal(s_set_u64(&n, "edge", "push_acked", 60), 0);
    assert_int_equal(s_field(&n, "edge", "pull_cursor"), 50);
    assert_int_equal(s_field(&n, "edge", "push_acked"), 60);
    assert_int_equal(s_set_u64(&n, "edge", "push_acked", 0), 0);
    assert_int_equal(s_field(&n, "edge", "push_acked"), 60);
    //  Other fields move both ways.
    assert_int_equal(s_set_u64(&n, "edge", "failures", 7), 0);
    assert_int_equal(s_set_u64(&n, "edge", "failures", 0), 0);
    assert_int_equal(s_field(&n, "edge", "failures"), 0);
    //  raise_cursor: only up; it makes the row of a peer not seen yet.
    assert_int_equal(s_raise(&n, "edge", 30), 0);
    assert_int_equal(s_field(&n, "edge", "pull_cursor"), 50);
    assert_int_equal(s_raise(&n, "edge", 70), 0);
    assert_int_equal(s_field(&n, "edge", "pull_cursor"), 70);
    assert_int_equal(s_raise(&n, "new", 3), 0);
    assert_int_equal(s_field(&n, "new", "pull_cursor"), 3);
    fx_close(&n);
}

//  A row holds PEERS_FIELDS_MAX fields, two of them kept for the cursors:
//  other fields past that are refused whole, never truncated, and the
//  cursors can still be added and raised.
static void
test_peers_row_is_bounded_but_cursors_always_fit(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(s_set_many(&n, "edge", "a", PEERS_FIELDS_MAX - 2, why), 0);
    assert_int_equal(s_set_many(&n, "edge", "b", 1, why), PDB_ETOOBIG);
    assert_non_null(strstr(why, "fields besides the cursors"));
    //  Fields already there can be rewritten.
    assert_int_equal(s_set_many(&n, "edge", "a", PEERS_FIELDS_MAX - 2, why), 0);
    assert_int_equal(s_set_u64(&n, "edge", "push_acked", 9), 0);
    assert_int_equal(s_raise(&n, "edge", 12), 0);
    s_row_t row;
    s_row(&n, "edge", &row);
    assert_int_equal(s_row_size(&row), PEERS_FIELDS_MAX);
    assert_null(mpk_map_get(&row.u.data, "b00"));
    s_row_free(&row);
    assert_int_equal(s_field(&n, "edge", "pull_cursor"), 12);
    assert_int_equal(s_field(&n, "edge", "push_acked"), 9);
    //  A full row refuses a new field through the conflicts count too.
    assert_int_equal(s_add_conflicts(&n, "edge", 1), PDB_ETOOBIG);
    fx_close(&n);
}

static void
test_peers_conflicts_add_up(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    assert_int_equal(s_add_conflicts(&n, "edge", 0), 0);      // nothing to count: no row
    assert_int_equal(fx_entries(&n, fx_store(&n)->peers), 0);
    assert_int_equal(s_add_conflicts(&n, "edge", 2), 0);
    assert_int_equal(s_add_conflicts(&n, "edge", 3), 0);
    assert_int_equal(s_field(&n, "edge", "conflicts"), 5);
    assert_int_equal(s_raise(&n, "edge", 8), 0);
    assert_int_equal(s_add_conflicts(&n, "edge", 1), 0);
    assert_int_equal(s_field(&n, "edge", "conflicts"), 6);
    assert_int_equal(s_field(&n, "edge", "pull_cursor"), 8);
    fx_close(&n);
}

static void
test_peers_name_is_1_to_128_bytes_of_utf8(void **state)
{
    (void) state;
    char name[PEERS_NAME_MAX + 2];
    memset(name, 'p', sizeof name);
    assert_false(peers_name_valid(name, 0));
    assert_true(peers_name_valid(name, 1));
    assert_true(peers_name_valid(name, PEERS_NAME_MAX));
    assert_false(peers_name_valid(name, PEERS_NAME_MAX + 1));
    assert_true(peers_name_valid("in:caf\xc3\xa9", 8));
    assert_false(peers_name_valid("p\xff", 2));
    assert_false(peers_name_valid("p\0q", 3));
}

//  One bad peer_set argument per case, each refused with nothing written.
typedef enum {
    BAD_SHORT, BAD_LONG, BAD_NAME_TYPE, BAD_NAME_EMPTY, BAD_NAME_LONG, BAD_NAME_UTF8,
    BAD_NOT_MAP, BAD_TOO_MANY, BAD_KEY_TYPE, BAD_KEY_EMPTY, BAD_KEY_LONG, BAD_VALUE_ARRAY,
    BAD_VALUE_FLOAT, BAD_VALUE_STR_LONG, BAD_CURSOR_STR, BAD_CURSOR_NEGATIVE, BAD_KEY_TWICE,
    BAD_COUNT
} s_bad_t;

static void
s_pack_bad(mpk_out_t *a, s_bad_t bad)
{
    mpk_out_init(a);
    msgpack_packer *pk = &a->pk;
    char text[PDB_STR_MAX + 2];
    memset(text, 'x', sizeof text);
    mpk_pack_array(pk, bad == BAD_SHORT ? 1 : bad == BAD_LONG ? 3 : 2);
    switch (bad) {
    case BAD_NAME_TYPE:  mpk_pack_u64(pk, 1); break;
    case BAD_NAME_EMPTY: mpk_pack_strn(pk, "", 0); break;
    case BAD_NAME_LONG:  mpk_pack_strn(pk, text, PEERS_NAME_MAX + 1); break;
    case BAD_NAME_UTF8:  mpk_pack_strn(pk, "e\xff", 2); break;
    default:             mpk_pack_str(pk, "edge"); break;
    }
    if (bad == BAD_SHORT)
        return;
    if (bad == BAD_NOT_MAP) {
        mpk_pack_array(pk, 0);
        return;
    }
    if (bad == BAD_TOO_MANY) {
        mpk_pack_map(pk, PEERS_FIELDS_MAX + 1);
        for (unsigned i = 0; i <= PEERS_FIELDS_MAX; i++) {
            char key[16];
            snprintf(key, sizeof key, "f%02u", i);
            fx_kv_u64(pk, key, i);
        }
        return;
    }
    mpk_pack_map(pk, bad == BAD_KEY_TWICE ? 2 : 1);
    switch (bad) {
    case BAD_KEY_TYPE:       mpk_pack_u64(pk, 1); mpk_pack_u64(pk, 1); break;
    case BAD_KEY_EMPTY:      mpk_pack_strn(pk, "", 0); mpk_pack_u64(pk, 1); break;
    case BAD_KEY_LONG:       mpk_pack_strn(pk, text, 65); mpk_pack_u64(pk, 1); break;
    case BAD_VALUE_ARRAY:    mpk_pack_str(pk, "list"); mpk_pack_array(pk, 0); break;
    case BAD_VALUE_FLOAT:    fx_kv_dbl(pk, "ratio", 0.5); break;
    case BAD_VALUE_STR_LONG: mpk_pack_str(pk, "last_error");
                             mpk_pack_strn(pk, text, PDB_STR_MAX + 1); break;
    case BAD_CURSOR_STR:     fx_kv_str(pk, "pull_cursor", "5"); break;
    case BAD_CURSOR_NEGATIVE:
        mpk_pack_str(pk, "push_acked");
        mpk_pack_i64(pk, -5);
        break;
    case BAD_KEY_TWICE:      fx_kv_u64(pk, "failures", 1); fx_kv_u64(pk, "failures", 2); break;
    default:                 fx_kv_u64(pk, "failures", 1); break;
    }
    if (bad == BAD_LONG)
        mpk_pack_nil(pk);
}

static void
test_peers_set_refuses_bad_arguments_and_writes_nothing(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    for (int bad = 0; bad < BAD_COUNT; bad++) {
        mpk_out_t a;
        s_pack_bad(&a, (s_bad_t) bad);
        char why[PDB_ERRMSG_MAX];
        int rc = s_call(&n, peers_set, &a, why);
        if (rc != PDB_EINVAL || why[0] == '\0')
            fail_msg("case %d: rc=%d why='%s'", bad, rc, why);
        mpk_out_release(&a);
    }
    assert_int_equal(fx_entries(&n, fx_store(&n)->peers), 0);
    //  The same call well-formed is taken.
    assert_int_equal(s_set_u64(&n, "edge", "failures", 1), 0);
    assert_int_equal(fx_entries(&n, fx_store(&n)->peers), 1);
    fx_close(&n);
}

//  A row that does not decode, or holds more fields than any row was ever
//  allowed, is corrupt: refused by every writer, left as it is.
static void
test_peers_corrupt_row_is_refused_and_left_alone(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    s_put_raw(&n, "garbled", "\xc1", 1);
    mpk_out_t big;
    mpk_out_init(&big);
    mpk_pack_map(&big.pk, 2 * PEERS_FIELDS_MAX + 1);
    for (unsigned i = 0; i <= 2 * PEERS_FIELDS_MAX; i++) {
        char key[16];
        snprintf(key, sizeof key, "f%02u", i);
        fx_kv_u64(&big.pk, key, i);
    }
    s_put_raw(&n, "huge", big.buf.data, big.buf.size);
    const char *names[] = { "garbled", "huge" };
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(s_set_u64(&n, names[i], "failures", 1), PDB_ECORRUPT);
        assert_int_equal(s_raise(&n, names[i], 5), PDB_ECORRUPT);
    }
    //  conflicts reads the row first: one that does not decode is refused there.
    assert_int_equal(s_add_conflicts(&n, "garbled", 1), PDB_ECORRUPT);
    assert_int_equal(s_add_conflicts(&n, "huge", 1), PDB_ECORRUPT);
    MDB_txn *txn = fx_read_begin(&n);
    MDB_val key = { 4, "huge" }, val;
    assert_int_equal(mdb_get(txn, fx_store(&n)->peers, &key, &val), 0);
    assert_int_equal(val.mv_size, big.buf.size);
    mdb_txn_abort(txn);
    mpk_out_release(&big);
    fx_close(&n);
}

//  --------------------------------------------------------------------------
//  peer_del, through the storage socket's handlers

static void
s_peer_set_cursor(fx_node_t *n, const char *peer, uint64_t cursor)
{
    mpk_out_t args;
    fx_kv_u64(s_set_begin(&args, peer, 1), "pull_cursor", cursor);
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(fx_handle(n, "peer_set", &args, NULL, NULL, why), 0);
    mpk_out_release(&args);
}

static int
s_peer_del(fx_node_t *n, const char *peer, size_t len)
{
    mpk_out_t args;
    mpk_out_init(&args);
    mpk_pack_array(&args.pk, 1);
    mpk_pack_strn(&args.pk, peer, len);
    char why[PDB_ERRMSG_MAX];
    int rc = fx_handle(n, "peer_del", &args, NULL, NULL, why);
    mpk_out_release(&args);
    return rc;
}

static void
test_peer_del_forgets_peer_and_its_cursors(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    s_peer_set_cursor(&n, "edge-1", 50);
    s_peer_set_cursor(&n, "edge-2", 70);
    assert_int_equal(fx_pull_cursor(&n, "edge-1"), 50);
    assert_int_equal(s_peer_del(&n, "edge-1", 6), 0);
    assert_int_equal(fx_pull_cursor(&n, "edge-1"), -1);
    assert_int_equal(fx_pull_cursor(&n, "edge-2"), 70);
    assert_int_equal(s_peer_del(&n, "edge-1", 6), 0);              // already gone
    assert_int_equal(s_peer_del(&n, "", 0), PDB_EINVAL);
    assert_int_equal(s_peer_del(&n, "e\xff", 2), PDB_EINVAL);
    //  A peer added again starts from nothing: its old cursor is gone.
    s_peer_set_cursor(&n, "edge-1", 5);
    assert_int_equal(fx_pull_cursor(&n, "edge-1"), 5);
    assert_int_equal(fx_entries(&n, fx_store(&n)->peers), 2);
    fx_close(&n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peers_set_merges_fields_into_the_row),
        cmocka_unit_test(test_peers_cursors_never_move_backwards),
        cmocka_unit_test(test_peers_row_is_bounded_but_cursors_always_fit),
        cmocka_unit_test(test_peers_conflicts_add_up),
        cmocka_unit_test(test_peers_name_is_1_to_128_bytes_of_utf8),
        cmocka_unit_test(test_peers_set_refuses_bad_arguments_and_writes_nothing),
        cmocka_unit_test(test_peers_corrupt_row_is_refused_and_left_alone),
        cmocka_unit_test(test_peer_del_forgets_peer_and_its_cursors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
