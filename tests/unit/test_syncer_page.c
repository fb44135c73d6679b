/*  test_syncer_page.c - what goes into a pull reply or a push batch (page.h)
    read from a real WAL written by the storage core: vector skipping (no
    echo), collective filters, count and byte bounds, a change too large to
    ever send, cursors below the floor; reading the envelope of what a page
    holds (change_decode); and safe_through from storage's apply results (ack.h).
*/
#include "ack.h"
#include "change.h"
#include "err.h"
#include "ingest.h"
#include "mpk.h"
#include "node.h"
#include "page.h"
#include "sproto.h"
#include "testkit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAP_SIZE (64ull << 20)
#define H(ms) ((uint64_t) (ms) << 16)

enum { ORG_A = 0xa1, ORG_B = 0xb2, ORG_C = 0xc3, COLL1 = 0x11, COLL2 = 0x12, COLL9 = 0x19 };

typedef struct {
    char dir[TESTKIT_DIR_MAX];
    node_t *node;
    ingest_t ing;
} s_node_t;

//  One remote change on a collective: a create (name, dim) or a rename.
static void
s_ingest(s_node_t *n, uint8_t origin, uint64_t oseq, uint64_t ms, change_op_t op, uint8_t coll,
         const char *name)
{
    mpk_out_t f;
    mpk_out_init(&f);
    mpk_pack_map(&f.pk, op == OP_CREATE ? 4 : 1);
    mpk_pack_str(&f.pk, "name");
    mpk_pack_str(&f.pk, name);
    if (op == OP_CREATE) {
        mpk_pack_str(&f.pk, "embedding_dim");
        mpk_pack_u64(&f.pk, 3);
        mpk_pack_str(&f.pk, "created_at");
        mpk_pack_u64(&f.pk, ms);
        mpk_pack_str(&f.pk, "updated_at");
        mpk_pack_u64(&f.pk, ms);
    }
    assert_int_equal(mpk_out_status(&f), 0);
    change_t c = { .origin = testkit_id(origin), .origin_seq = oseq, .hlc = H(ms),
                   .entity = ENT_COLLECTIVE, .op = op, .collective_id = testkit_id(coll),
                   .entity_id = testkit_id(coll), .fields = (const uint8_t *) f.buf.data,
                   .fields_len = f.buf.size };
    MDB_txn *txn;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(mdb_txn_begin(n->node->store->env, NULL, 0, &txn), 0);
    assert_int_equal(ingest_remote(&n->ing, txn, &c, why), SPROTO_APPLIED);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mpk_out_release(&f);
}

//  WAL: 1 A:1 create COLL1, 2 B:1 create COLL2, 3 A:2 rename COLL1,
//       4 B:2 rename COLL2, 5 C:1 rename COLL1, 6 A:3 rename COLL2.
static int
s_setup(void **state)
{
    s_node_t *n = calloc(1, sizeof *n);
    assert_non_null(n);
    testkit_mkdir(n->dir, "syncer_page");
    assert_int_equal(node_open(n->dir, MAP_SIZE, &n->node), 0);
    assert_int_equal(mdb_env_set_flags(n->node->store->env, MDB_NOSYNC, 1), 0);
    n->ing = (ingest_t) { .store = n->node->store, .self = n->node->instance_id,
                          .hlc = &n->node->hlc };
    s_ingest(n, ORG_A, 1, 1000, OP_CREATE, COLL1, "one");
    s_ingest(n, ORG_B, 1, 1001, OP_CREATE, COLL2, "two");
    s_ingest(n, ORG_A, 2, 1002, OP_UPDATE, COLL1, "one-a");
    s_ingest(n, ORG_B, 2, 1003, OP_UPDATE, COLL2, "two-b");
    s_ingest(n, ORG_C, 1, 1004, OP_UPDATE, COLL1, "one-c");
    s_ingest(n, ORG_A, 3, 1005, OP_UPDATE, COLL2, "two-a");
    *state = n;
    return 0;
}

static int
s_teardown(void **state)
{
    s_node_t *n = *state;
    node_destroy(&n->node);
    testkit_rmdir(n->dir);
    free(n);
    return 0;
}

//  Builds a page in its own txn; seqs (up to 16) and the code come back.
typedef struct {
    int rc;
    size_t n;
    uint64_t seqs[16];
    size_t bytes;
    page_t page;
} s_result_t;

static s_result_t
s_page(s_node_t *n, const page_req_t *req)
{
    s_result_t r;
    memset(&r, 0, sizeof r);
    MDB_txn *txn;
    assert_int_equal(store_read_begin(n->node->store, &txn), 0);
    r.rc = page_build(n->node->store, txn, req, &r.page);
    for (size_t i = 0; i < r.page.n && i < 16; i++) {
        change_t h;
        assert_int_equal(change_decode(r.page.changes[i].data, r.page.changes[i].len, &h), 0);
        r.seqs[i] = h.seq;
    }
    r.n = r.page.n;
    r.bytes = r.page.bytes;
    page_release(&r.page);
    assert_null(r.page.changes);
    mdb_txn_abort(txn);
    return r;
}

static page_req_t
s_req(uint64_t cursor)
{
    return (page_req_t) { .cursor = cursor, .max_changes = 100, .max_bytes = 1u << 20 };
}

//  The size of WAL entry seq.
static size_t
s_entry_len(s_node_t *n, uint64_t seq)
{
    change_t c;
    size_t len;
    free(testkit_wal_entry(n->node->store, seq, &c, &len));
    return len;
}

static void
s_assert_seqs(const s_result_t *r, const uint64_t *want, size_t n)
{
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->n, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(r->seqs[i], want[i]);
}

static void
test_page_whole_wal_from_zero(void **state)
{
    s_node_t *n = *state;
    page_req_t req = s_req(0);
    s_result_t r = s_page(n, &req);
    s_assert_seqs(&r, (uint64_t[]) { 1, 2, 3, 4, 5, 6 }, 6);
    assert_int_equal(r.page.next_cursor, 6);
    assert_false(r.page.has_more);
    assert_int_equal(r.page.head, 6);
    assert_int_equal(r.page.floor, 1);
    size_t bytes = 0;
    for (uint64_t s = 1; s <= 6; s++)
        bytes += s_entry_len(n, s) + PAGE_BLOB_OVERHEAD;
    assert_int_equal(r.bytes, bytes);
}

//  The receiver lacks A:1 and the page starts after it (a snapshot taken
//  here, or compaction): A:2 and A:3 would skip A:1 at the receiver, which
//  holds back such whole copies, so they go re-encoded as partial copies;
//  B's continue its sequence and go as they are. Once the receiver has A:1
//  they go whole again.
static void
test_page_sends_a_jump_as_a_partial_copy(void **state)
{
    s_node_t *n = *state;
    page_req_t req = s_req(1);
    pdb_id_t a = testkit_id(ORG_A);
    MDB_txn *txn;
    assert_int_equal(store_read_begin(n->node->store, &txn), 0);
    page_t page;
    assert_int_equal(page_build(n->node->store, txn, &req, &page), 0);
    assert_int_equal(page.n, 5);
    size_t bytes = 0;
    for (size_t i = 0; i < page.n; i++) {
        uint64_t seq = i + 2;
        change_t got, stored;
        size_t len;
        void *copy = testkit_wal_entry(n->node->store, seq, &stored, &len);
        assert_int_equal(change_decode(page.changes[i].data, page.changes[i].len, &got), 0);
        bool from_a = pdb_id_cmp(&stored.origin, &a) == 0;
        assert_memory_equal(got.origin.b, stored.origin.b, PDB_ID_LEN);
        assert_int_equal(got.partial, from_a);
        assert_int_equal(got.seq, seq);
        assert_int_equal(got.origin_seq, stored.origin_seq);
        assert_int_equal(got.hlc, stored.hlc);
        assert_int_equal(got.fields_len, stored.fields_len);
        assert_memory_equal(got.fields, stored.fields, stored.fields_len);
        if (!from_a)
            assert_int_equal(page.changes[i].len, len);   // the entry itself
        bytes += page.changes[i].len + PAGE_BLOB_OVERHEAD;
        free(copy);
    }
    assert_int_equal(page.bytes, bytes);
    assert_int_equal(page.owned_n, 2);
    page_release(&page);
    assert_int_equal(page.owned_n, 0);
    //  With A:1 known, every copy is whole.
    vv_t vector = { 0 };
    assert_int_equal(vv_raise(&vector, &a, 1), 0);
    req.vector = &vector;
    assert_int_equal(page_build(n->node->store, txn, &req, &page), 0);
    assert_int_equal(page.n, 5);
    assert_int_equal(page.owned_n, 0);
    for (size_t i = 0; i < page.n; i++) {
        change_t got;
        assert_int_equal(change_decode(page.changes[i].data, page.changes[i].len, &got), 0);
        assert_false(got.partial);
    }
    page_release(&page);
    //  Over a filtered link everything is partial at the receiver already:
    //  nothing is re-encoded.
    pdb_id_t c1 = testkit_id(COLL1);
    req.vector = NULL;
    req.filter = &c1;
    req.filter_n = 1;
    assert_int_equal(page_build(n->node->store, txn, &req, &page), 0);
    assert_int_equal(page.owned_n, 0);
    page_release(&page);
    vv_release(&vector);
    mdb_txn_abort(txn);
}

static void
test_page_skips_what_the_vector_covers(void **state)
{
    s_node_t *n = *state;
    //  The receiver has A up to 2 and C up to 5: seqs 1, 3 and 5 are echoes.
    vv_t vector = { 0 };
    pdb_id_t a = testkit_id(ORG_A), c = testkit_id(ORG_C);
    assert_int_equal(vv_raise(&vector, &a, 2), 0);
    assert_int_equal(vv_raise(&vector, &c, 5), 0);
    page_req_t req = s_req(0);
    req.vector = &vector;
    s_result_t r = s_page(n, &req);
    s_assert_seqs(&r, (uint64_t[]) { 2, 4, 6 }, 3);
    assert_int_equal(r.page.next_cursor, 6);
    //  Covering everything: an empty page whose cursor still advances.
    pdb_id_t b = testkit_id(ORG_B);
    assert_int_equal(vv_raise(&vector, &a, 3), 0);
    assert_int_equal(vv_raise(&vector, &b, 2), 0);
    r = s_page(n, &req);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.page.next_cursor, 6);
    assert_false(r.page.has_more);
    vv_release(&vector);
}

static void
test_vector_dominates(void **state)
{
    (void) state;
    vv_t mine = { 0 }, theirs = { 0 };
    pdb_id_t a = testkit_id(ORG_A), b = testkit_id(ORG_B);
    assert_true(vv_dominates(&mine, &theirs));          // both empty
    assert_int_equal(vv_raise(&theirs, &a, 3), 0);
    assert_false(vv_dominates(&mine, &theirs));         // an origin we never saw
    assert_int_equal(vv_raise(&mine, &a, 2), 0);
    assert_false(vv_dominates(&mine, &theirs));         // behind on it
    assert_int_equal(vv_raise(&mine, &a, 3), 0);
    assert_int_equal(vv_raise(&mine, &b, 1), 0);
    assert_true(vv_dominates(&mine, &theirs));          // equal, plus one they lack
    assert_false(vv_dominates(&theirs, &mine));
    vv_release(&mine);
    vv_release(&theirs);
}

static void
test_page_collective_filter(void **state)
{
    s_node_t *n = *state;
    pdb_id_t filter[2] = { testkit_id(COLL9), testkit_id(COLL2) };
    page_req_t req = s_req(0);
    req.filter = filter;
    req.filter_n = 2;
    s_result_t r = s_page(n, &req);
    s_assert_seqs(&r, (uint64_t[]) { 2, 4, 6 }, 3);
    assert_int_equal(r.page.next_cursor, 6);
    //  Nothing matches: the cursor still moves past everything examined.
    req.filter_n = 1;
    r = s_page(n, &req);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.page.next_cursor, 6);
    //  From the middle.
    req = s_req(3);
    req.filter = &filter[1];
    req.filter_n = 1;
    r = s_page(n, &req);
    s_assert_seqs(&r, (uint64_t[]) { 4, 6 }, 2);
}

static void
test_page_count_bound(void **state)
{
    s_node_t *n = *state;
    page_req_t req = s_req(0);
    req.max_changes = 2;
    s_result_t r = s_page(n, &req);
    s_assert_seqs(&r, (uint64_t[]) { 1, 2 }, 2);
    assert_int_equal(r.page.next_cursor, 2);
    assert_true(r.page.has_more);
    req.cursor = r.page.next_cursor;
    r = s_page(n, &req);
    s_assert_seqs(&r, (uint64_t[]) { 3, 4 }, 2);
    req.cursor = 4;
    r = s_page(n, &req);
    s_assert_seqs(&r, (uint64_t[]) { 5, 6 }, 2);
    //  Exactly at the end: nothing after it, so no more.
    assert_false(r.page.has_more);
    //  Filtered changes do not count against the bound.
    pdb_id_t filter = testkit_id(COLL2);
    req = s_req(0);
    req.max_changes = 2;
    req.filter = &filter;
    req.filter_n = 1;
    r = s_page(n, &req);
    s_assert_seqs(&r, (uint64_t[]) { 2, 4 }, 2);
    //  5 was examined (and filtered out) before 6 found the page full.
    assert_int_equal(r.page.next_cursor, 5);
    assert_true(r.page.has_more);
}

static void
test_page_byte_bound(void **state)
{
    s_node_t *n = *state;
    size_t one = s_entry_len(n, 1) + PAGE_BLOB_OVERHEAD;
    size_t two = s_entry_len(n, 2) + PAGE_BLOB_OVERHEAD;
    page_req_t req = s_req(0);
    req.max_bytes = one + two - 1;
    s_result_t r = s_page(n, &req);
    s_assert_seqs(&r, (uint64_t[]) { 1 }, 1);
    assert_int_equal(r.page.next_cursor, 1);
    assert_true(r.page.has_more);
    assert_true(r.bytes <= req.max_bytes);
    req.max_bytes = one + two;
    r = s_page(n, &req);
    s_assert_seqs(&r, (uint64_t[]) { 1, 2 }, 2);
    assert_int_equal(r.bytes, one + two);
}

static void
test_page_change_too_large_is_an_error_never_skipped(void **state)
{
    s_node_t *n = *state;
    page_req_t req = s_req(0);
    req.max_bytes = s_entry_len(n, 1) + PAGE_BLOB_OVERHEAD - 1;
    s_result_t r = s_page(n, &req);
    assert_int_equal(r.rc, PDB_ETOOBIG);
    assert_int_equal(r.page.big_seq, 1);
    assert_int_equal(r.page.big_len, s_entry_len(n, 1));
    assert_int_equal(r.n, 0);
    //  The first change to send is what counts: skipped ones do not.
    vv_t vector = { 0 };
    pdb_id_t a = testkit_id(ORG_A);
    assert_int_equal(vv_raise(&vector, &a, 1), 0);
    req.vector = &vector;
    req.max_bytes = 8;
    r = s_page(n, &req);
    assert_int_equal(r.rc, PDB_ETOOBIG);
    assert_int_equal(r.page.big_seq, 2);
    vv_release(&vector);
}

static void
test_page_cursor_past_head_is_empty(void **state)
{
    s_node_t *n = *state;
    page_req_t req = s_req(6);
    s_result_t r = s_page(n, &req);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.page.next_cursor, 6);
    assert_false(r.page.has_more);
    req.cursor = 100;
    r = s_page(n, &req);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.page.next_cursor, 100);
    req.cursor = UINT64_MAX;
    r = s_page(n, &req);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 0);
}

//  Deletes the WAL entries from `from` (the first still there) to below
//  `below`, as compaction does.
static void
s_compact(s_node_t *n, uint64_t from, uint64_t below)
{
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(n->node->store->env, NULL, 0, &txn), 0);
    for (uint64_t s = from; s < below; s++) {
        uint8_t k[8];
        store_key_seq(k, s);
        MDB_val key = { 8, k };
        assert_int_equal(mdb_del(txn, n->node->store->wal, &key, NULL), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
}

static void
test_page_cursor_below_floor(void **state)
{
    s_node_t *n = *state;
    s_compact(n, 1, 3);
    page_req_t req = s_req(0);
    s_result_t r = s_page(n, &req);
    assert_int_equal(r.rc, PDB_ENOTFOUND);
    assert_int_equal(r.page.floor, 3);
    req.cursor = 1;
    assert_int_equal(s_page(n, &req).rc, PDB_ENOTFOUND);
    //  cursor + 1 == floor: nothing is missing.
    req.cursor = 2;
    r = s_page(n, &req);
    s_assert_seqs(&r, (uint64_t[]) { 3, 4, 5, 6 }, 4);
    //  An emptied WAL keeps its head: the floor is head + 1.
    s_compact(n, 3, 7);
    req.cursor = 5;
    r = s_page(n, &req);
    assert_int_equal(r.rc, PDB_ENOTFOUND);
    assert_int_equal(r.page.floor, 7);
    req.cursor = 6;
    r = s_page(n, &req);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.page.head, 6);
}

static void
test_change_decode_reads_the_envelope(void **state)
{
    s_node_t *n = *state;
    MDB_txn *txn;
    assert_int_equal(store_read_begin(n->node->store, &txn), 0);
    uint8_t k[8];
    store_key_seq(k, 6);
    MDB_val key = { 8, k }, val;
    assert_int_equal(mdb_get(txn, n->node->store->wal, &key, &val), 0);
    change_t h;
    assert_int_equal(change_decode(val.mv_data, val.mv_size, &h), 0);
    assert_int_equal(h.seq, 6);
    assert_int_equal(h.origin_seq, 3);
    pdb_id_t a = testkit_id(ORG_A), c2 = testkit_id(COLL2);
    assert_memory_equal(h.origin.b, a.b, PDB_ID_LEN);
    assert_memory_equal(h.collective_id.b, c2.b, PDB_ID_LEN);
    //  Every truncation is refused (change_decode refuses them too), and so
    //  is a wrong shape.
    for (size_t len = 0; len < val.mv_size; len++)
        assert_int_equal(change_decode(val.mv_data, len, &h), PDB_EINVAL);
    uint8_t copy[512];
    assert_true(val.mv_size <= sizeof copy);
    memcpy(copy, val.mv_data, val.mv_size);
    copy[0] = 0x98;                             // 8 items
    assert_int_equal(change_decode(copy, val.mv_size, &h), PDB_EINVAL);
    mdb_txn_abort(txn);
    //  origin_seq 0 is never valid.
    mpk_out_t out;
    mpk_out_init(&out);
    change_t c = { .seq = 1, .origin = a, .origin_seq = 0, .hlc = 1, .entity = ENT_COLLECTIVE,
                   .op = OP_DELETE, .collective_id = a, .entity_id = a,
                   .fields = (const uint8_t *) "\x80", .fields_len = 1 };
    change_pack(&out.pk, &c);
    assert_int_equal(change_decode(out.buf.data, out.buf.size, &h), PDB_EINVAL);
    mpk_out_release(&out);
    assert_int_equal(change_decode("garbage", 7, &h), PDB_EINVAL);

    //  The partial mark is read through entity_id and fields; a whole copy
    //  reads as not partial. Every truncation of a marked copy is refused.
    c.origin_seq = 9;
    for (int mark = 0; mark < 2; mark++) {
        c.partial = mark;
        mpk_out_init(&out);
        change_pack(&out.pk, &c);
        assert_int_equal(change_decode(out.buf.data, out.buf.size, &h), 0);
        assert_int_equal(h.partial, (bool) mark);
        assert_int_equal(h.origin_seq, 9);
        if (mark) {
            for (size_t len = 0; len < out.buf.size; len++)
                assert_int_equal(change_decode(out.buf.data, len, &h), PDB_EINVAL);
            ((uint8_t *) out.buf.data)[out.buf.size - 1] = 0xc0;    // not a boolean
            assert_int_equal(change_decode(out.buf.data, out.buf.size, &h), PDB_EINVAL);
        }
        mpk_out_release(&out);
    }
}

//  Appends to n's WAL a rename of COLL1 by origin ORG_C (origin_seq oseq)
//  that names `source` as its snapshot source (nil: none).
static void
s_ingest_sourced(s_node_t *n, uint64_t oseq, uint8_t source)
{
    change_t c = { .origin = testkit_id(ORG_C), .origin_seq = oseq, .hlc = H(2000 + oseq),
                   .entity = ENT_COLLECTIVE, .op = OP_UPDATE, .collective_id = testkit_id(COLL1),
                   .entity_id = testkit_id(COLL1), .fields = (const uint8_t *) "\x81\xa4name\xa1x",
                   .fields_len = 8 };
    if (source)
        c.source = testkit_id(source);
    MDB_txn *txn;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(mdb_txn_begin(n->node->store->env, NULL, 0, &txn), 0);
    assert_int_equal(ingest_remote(&n->ing, txn, &c, why), SPROTO_APPLIED);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

//  A state installed from the receiver's own snapshot is never sent back to
//  it, but still goes to everyone else; the cursor passes it either way.
static void
test_page_skips_states_sourced_from_the_receiver(void **state)
{
    s_node_t *n = *state;
    s_ingest_sourced(n, 2, ORG_A);              // seq 7, from A's snapshot
    s_ingest_sourced(n, 3, 0);                  // seq 8, unmarked
    s_ingest_sourced(n, 4, ORG_B);              // seq 9, from B's snapshot
    pdb_id_t a = testkit_id(ORG_A), b = testkit_id(ORG_B), c = testkit_id(ORG_C);
    page_req_t req = s_req(6);
    s_result_t r = s_page(n, &req);
    s_assert_seqs(&r, (uint64_t[]) { 7, 8, 9 }, 3);
    req.receiver = &c;
    r = s_page(n, &req);
    s_assert_seqs(&r, (uint64_t[]) { 7, 8, 9 }, 3);
    req.receiver = &a;
    r = s_page(n, &req);
    s_assert_seqs(&r, (uint64_t[]) { 8, 9 }, 2);
    assert_int_equal(r.page.next_cursor, 9);
    req.receiver = &b;
    r = s_page(n, &req);
    s_assert_seqs(&r, (uint64_t[]) { 7, 8 }, 2);
    assert_int_equal(r.page.next_cursor, 9);
    //  Nothing left to send but A's own states: an empty page that advances.
    req = s_req(8);
    req.receiver = &b;
    r = s_page(n, &req);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.page.next_cursor, 9);
    assert_false(r.page.has_more);

    //  The envelope reader sees the mark; truncations of it are refused.
    MDB_txn *txn;
    assert_int_equal(store_read_begin(n->node->store, &txn), 0);
    uint8_t k[8];
    store_key_seq(k, 7);
    MDB_val key = { 8, k }, val;
    assert_int_equal(mdb_get(txn, n->node->store->wal, &key, &val), 0);
    change_t h;
    assert_int_equal(change_decode(val.mv_data, val.mv_size, &h), 0);
    assert_int_equal(pdb_id_cmp(&h.source, &a), 0);
    assert_false(h.partial);
    assert_int_equal(h.seq, 7);
    for (size_t len = 0; len < val.mv_size; len++)
        assert_int_equal(change_decode(val.mv_data, len, &h), PDB_EINVAL);
    uint8_t copy[512];
    assert_true(val.mv_size <= sizeof copy);
    memcpy(copy, val.mv_data, val.mv_size);
    memset(copy + val.mv_size - PDB_ID_LEN, 0, PDB_ID_LEN);  // a nil source
    assert_int_equal(change_decode(copy, val.mv_size, &h), PDB_EINVAL);
    store_key_seq(k, 8);
    assert_int_equal(mdb_get(txn, n->node->store->wal, &key, &val), 0);
    assert_int_equal(change_decode(val.mv_data, val.mv_size, &h), 0);
    assert_true(pdb_id_is_nil(&h.source));
    mdb_txn_abort(txn);
}

//  Appends raw bytes: encodings change_pack never writes but a peer may.
static void
s_raw(mpk_out_t *out, const char *bytes, size_t len)
{
    assert_int_equal(msgpack_sbuffer_write(&out->buf, bytes, len), 0);
}

//  change_decode's answer on c's encoding plus `extra` bytes.
static int
s_decode(const change_t *c, const char *extra, size_t extra_len)
{
    mpk_out_t out;
    mpk_out_init(&out);
    change_pack(&out.pk, c);
    s_raw(&out, extra, extra_len);
    change_t full;
    int rc = change_decode(out.buf.data, out.buf.size, &full);
    mpk_out_release(&out);
    return rc;
}

//  A peer's encoder may write an id as a bin16 or a count as an int8;
//  msgpack-c reads those, so does change_decode (the syncer routes by it,
//  storage applies by it). A change storage would refuse (a zero stamp, an
//  unknown type, trailing bytes) is refused up front.
static void
test_change_decode_reads_every_form_msgpack_c_reads(void **state)
{
    (void) state;
    pdb_id_t a = testkit_id(ORG_A);
    mpk_out_t out;
    mpk_out_init(&out);
    s_raw(&out, "\xdc\x00\x09" "\xd0\x06", 5);              // array16 of 9; seq 6 as int8
    s_raw(&out, "\xc5\x00\x10", 3);                          // origin as bin16
    s_raw(&out, (const char *) a.b, PDB_ID_LEN);
    s_raw(&out, "\xd1\x00\x09" "\xd3\0\0\0\0\0\0\0\x01", 12);   // origin_seq 9, hlc 1
    s_raw(&out, "\xcd\x00\x01" "\xd2\0\0\0\x03", 8);       // collective, delete
    s_raw(&out, "\xc6\0\0\0\x10", 5);                       // collective as bin32
    s_raw(&out, (const char *) a.b, PDB_ID_LEN);
    s_raw(&out, "\xc4\x10", 2);
    s_raw(&out, (const char *) a.b, PDB_ID_LEN);
    s_raw(&out, "\xc5\x00\x01\x80", 4);                      // fields {} as bin16
    change_t h;
    assert_int_equal(change_decode(out.buf.data, out.buf.size, &h), 0);
    assert_int_equal(h.seq, 6);
    assert_int_equal(h.origin_seq, 9);
    assert_int_equal(pdb_id_cmp(&h.origin, &a), 0);
    assert_int_equal(pdb_id_cmp(&h.collective_id, &a), 0);
    mpk_out_release(&out);

    change_t c = { .seq = 1, .origin = a, .origin_seq = 9, .hlc = 1, .entity = ENT_COLLECTIVE,
                   .op = OP_DELETE, .collective_id = a, .entity_id = a,
                   .fields = (const uint8_t *) "\x80", .fields_len = 1 };
    assert_int_equal(s_decode(&c, "", 0), 0);
    assert_int_equal(s_decode(&c, "\xc0", 1), PDB_EINVAL);               // trailing bytes
    change_t bad = c;
    bad.hlc = 0;
    assert_int_equal(s_decode(&bad, "", 0), PDB_EINVAL);
    bad = c;
    bad.entity = (ent_type_t) 9;
    assert_int_equal(s_decode(&bad, "", 0), PDB_EINVAL);
    bad = c;
    bad.op = (change_op_t) 7;
    assert_int_equal(s_decode(&bad, "", 0), PDB_EINVAL);
    bad = c;
    bad.entity_id = testkit_id(COLL1);                // a collective names itself twice
    assert_int_equal(s_decode(&bad, "", 0), PDB_EINVAL);
    bad.entity = ENT_EXPERIENCE;
    assert_int_equal(s_decode(&bad, "", 0), 0);
    bad.entity_id = (pdb_id_t) { { 0 } };
    assert_int_equal(s_decode(&bad, "", 0), PDB_EINVAL);
    bad = c;
    bad.fields = (const uint8_t *) "\x01";            // not a map
    assert_int_equal(s_decode(&bad, "", 0), PDB_EINVAL);
    bad.fields = (const uint8_t *) "\x81\xa1";        // a map cut short
    bad.fields_len = 2;
    assert_int_equal(s_decode(&bad, "", 0), PDB_EINVAL);
}

static void
test_ack_safe_through(void **state)
{
    (void) state;
    ack_t a;
    uint64_t seqs[] = { 10, 12, 15, 20 };
    //  Everything applied or known: safe through the last.
    ack_summarize(seqs, (int[]) { SPROTO_APPLIED, SPROTO_KNOWN, SPROTO_APPLIED, SPROTO_KNOWN },
                  4, &a);
    assert_int_equal(a.accepted, 2);
    assert_int_equal(a.stale, 2);
    assert_int_equal(a.missing, 0);
    assert_int_equal(a.safe_through, 20);
    //  Held back at the third: safe through the second.
    ack_summarize(seqs, (int[]) { SPROTO_APPLIED, SPROTO_KNOWN, PDB_EMISSINGDEP,
                                  PDB_EMISSINGDEP }, 4, &a);
    assert_int_equal(a.safe_through, 12);
    assert_int_equal(a.missing, 2);
    //  Held back at the first: nothing of the batch is safe.
    ack_summarize(seqs, (int[]) { PDB_EMISSINGDEP, PDB_EMISSINGDEP, PDB_EMISSINGDEP,
                                  PDB_EMISSINGDEP }, 4, &a);
    assert_int_equal(a.safe_through, 9);
    assert_int_equal(a.accepted + a.stale, 0);
    //  A result after a held one never counts as safe.
    ack_summarize(seqs, (int[]) { SPROTO_APPLIED, PDB_EMISSINGDEP, SPROTO_APPLIED,
                                  SPROTO_APPLIED }, 4, &a);
    assert_int_equal(a.safe_through, 10);
    assert_int_equal(a.accepted, 3);
    assert_int_equal(a.missing, 1);
    //  Any other refusal holds back like a missing dependency.
    ack_summarize(seqs, (int[]) { SPROTO_APPLIED, PDB_EINVAL, SPROTO_APPLIED, SPROTO_APPLIED },
                  4, &a);
    assert_int_equal(a.safe_through, 10);
    ack_summarize(NULL, NULL, 0, &a);
    assert_int_equal(a.safe_through, 0);
    assert_int_equal(a.accepted + a.stale + a.missing, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_page_whole_wal_from_zero, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_page_skips_what_the_vector_covers, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_page_sends_a_jump_as_a_partial_copy, s_setup,
                                        s_teardown),
        cmocka_unit_test(test_vector_dominates),
        cmocka_unit_test_setup_teardown(test_page_collective_filter, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_page_count_bound, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_page_byte_bound, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_page_change_too_large_is_an_error_never_skipped,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_page_cursor_past_head_is_empty, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_page_cursor_below_floor, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_change_decode_reads_the_envelope, s_setup, s_teardown),
        cmocka_unit_test(test_change_decode_reads_every_form_msgpack_c_reads),
        cmocka_unit_test_setup_teardown(test_page_skips_states_sourced_from_the_receiver,
                                        s_setup, s_teardown),
        cmocka_unit_test(test_ack_safe_through),
    };
    return cmocka_run_group_tests_name("syncer_page", tests, NULL, NULL);
}
