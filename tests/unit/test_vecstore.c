/*  test_vecstore.c - the search layout (common/vecblock, storage's
    vecstore) on real LMDB stores, written through storage's own write path
    (local_write), and exact search over it (gateway's search_collective)
    against the same search over the embeddings database, which is what a
    folder without the layout uses: both must return the same hits, in the
    same order, with the same scores.
*/
#include "local.h"
#include "node.h"
#include "search.h"
#include "vecblock.h"
#include "vecstore.h"
#include "bounds.h"
#include "err.h"
#include "testkit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAP_SIZE (256ull << 20)
#define WALL 1700000000000ull
#define LIVE_MAX 2000

typedef struct {
    char dir[TESTKIT_DIR_MAX];
    node_t *node;
    ingest_t ing;
    uint64_t wall;
} s_node_t;

static void
s_open(s_node_t *n, const char *dir)
{
    if (dir != n->dir) {
        memset(n, 0, sizeof *n);
        testkit_mkdir(n->dir, "vecstore");
    }
    assert_int_equal(node_open(n->dir, MAP_SIZE, &n->node), 0);
    assert_int_equal(mdb_env_set_flags(n->node->store->env, MDB_NOSYNC, 1), 0);
    n->ing.store = n->node->store;
    n->ing.self = n->node->instance_id;
    n->ing.hlc = &n->node->hlc;
    if (!n->wall)
        n->wall = WALL;
}

static void
s_close(s_node_t *n, bool remove)
{
    node_destroy(&n->node);
    if (remove)
        testkit_rmdir(n->dir);
}

static store_t *
s_store(s_node_t *n)
{
    return n->node->store;
}

//  Deterministic pseudo-random numbers: tests must not flake.
static uint64_t
s_next(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return *state >> 33;
}

static float
s_rand(uint64_t *state)
{
    return (float) ((double) s_next(state) / (double) (1ull << 31) * 2.0 - 1.0);
}

//  --------------------------------------------------------------------------
//  Writes through local_write, each in its own committed transaction

static int
s_write(s_node_t *n, ent_type_t entity, change_op_t op, const pdb_id_t *coll,
        const pdb_id_t *id, mpk_out_t *f, pdb_id_t *id_out)
{
    assert_int_equal(mpk_out_status(f), 0);
    local_write_t w = { entity, op, coll, id, f->buf.data, f->buf.size };
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(s_store(n)->env, NULL, 0, &txn), 0);
    char why[PDB_ERRMSG_MAX];
    uint64_t seq;
    pdb_id_t made;
    int rc = local_write(&n->ing, txn, &w, n->wall++, &made, &seq, why);
    if (rc == 0)
        assert_int_equal(mdb_txn_commit(txn), 0);
    else
        mdb_txn_abort(txn);
    mpk_out_release(f);
    if (id_out)
        *id_out = made;
    return rc;
}

static pdb_id_t
s_collective(s_node_t *n, const char *name, uint32_t dim)
{
    mpk_out_t f;
    mpk_out_init(&f);
    mpk_pack_map(&f.pk, 2);
    mpk_pack_str(&f.pk, "name");
    mpk_pack_str(&f.pk, name);
    mpk_pack_str(&f.pk, "embedding_dim");
    mpk_pack_u64(&f.pk, dim);
    pdb_id_t id;
    assert_int_equal(s_write(n, ENT_COLLECTIVE, OP_CREATE, NULL, NULL, &f, &id), 0);
    return id;
}

//  An experience with the given embedding, importance and domain.
static pdb_id_t
s_experience(s_node_t *n, const pdb_id_t *coll, const float *v, uint32_t dim,
             double importance, const char *domain)
{
    mpk_out_t f;
    mpk_out_init(&f);
    mpk_pack_map(&f.pk, 4);
    mpk_pack_str(&f.pk, "content");
    mpk_pack_str(&f.pk, "an experience");
    mpk_pack_str(&f.pk, "embedding");
    mpk_pack_bin(&f.pk, v, dim * sizeof(float));
    mpk_pack_str(&f.pk, "importance");
    mpk_pack_double(&f.pk, importance);
    mpk_pack_str(&f.pk, "domain");
    mpk_pack_array(&f.pk, 1);
    mpk_pack_str(&f.pk, domain);
    pdb_id_t id;
    assert_int_equal(s_write(n, ENT_EXPERIENCE, OP_CREATE, coll, NULL, &f, &id), 0);
    return id;
}

static pdb_id_t
s_random_experience(s_node_t *n, const pdb_id_t *coll, uint32_t dim, uint64_t *seed)
{
    float v[PDB_DIM_MAX];
    for (uint32_t i = 0; i < dim; i++)
        v[i] = s_rand(seed);
    return s_experience(n, coll, v, dim, 0.5, "general");
}

static void
s_delete(s_node_t *n, ent_type_t entity, const pdb_id_t *coll, const pdb_id_t *id)
{
    mpk_out_t f;
    mpk_out_init(&f);
    mpk_pack_map(&f.pk, 0);
    assert_int_equal(s_write(n, entity, OP_DELETE, coll, id, &f, NULL), 0);
}

static void
s_set_archived(s_node_t *n, const pdb_id_t *coll, const pdb_id_t *id, bool archived)
{
    mpk_out_t f;
    mpk_out_init(&f);
    mpk_pack_map(&f.pk, 1);
    mpk_pack_str(&f.pk, "archived");
    mpk_pack_bool(&f.pk, archived);
    assert_int_equal(s_write(n, ENT_EXPERIENCE, OP_UPDATE, coll, id, &f, NULL), 0);
}

//  --------------------------------------------------------------------------
//  The layout's invariants

static size_t
s_count_prefix(MDB_txn *txn, MDB_dbi dbi, const pdb_id_t *coll)
{
    MDB_cursor *cur;
    assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
    MDB_val key = { PDB_ID_LEN, (void *) coll->b }, val;
    size_t n = 0;
    for (int rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
         rc == 0 && key.mv_size >= PDB_ID_LEN && memcmp(key.mv_data, coll->b, PDB_ID_LEN) == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
        n++;
    mdb_cursor_close(cur);
    return n;
}

//  Every live slot is an embedding of the collective, byte for byte, found
//  through its slot entry; counts agree; a block is marked free exactly
//  when it has a cleared slot. Returns the live count.
static uint64_t
s_check_layout(s_node_t *n, const pdb_id_t *coll)
{
    store_t *st = s_store(n);
    MDB_txn *txn;
    assert_int_equal(store_read_begin(st, &txn), 0);
    assert_true(vecblock_ready(st, txn));
    //  Every experience has an embedding, in a slot, and no other copy.
    size_t embeddings = s_count_prefix(txn, st->experiences, coll);
    assert_int_equal(s_count_prefix(txn, st->embeddings, coll), 0);
    vecblock_head_t head;
    int rc = vecblock_head_get(st, txn, coll, &head);
    if (rc == PDB_ENOTFOUND) {
        assert_int_equal(embeddings, 0);
        assert_int_equal(s_count_prefix(txn, st->vec_blocks, coll), 0);
        assert_int_equal(s_count_prefix(txn, st->vec_slots, coll), 0);
        assert_int_equal(s_count_prefix(txn, st->vec_free, coll), 0);
        mdb_txn_abort(txn);
        return 0;
    }
    assert_int_equal(rc, 0);
    vecblock_iter_t it;
    assert_int_equal(vecblock_iter_open(st, txn, coll, &it), 0);
    vecblock_t b;
    uint64_t live = 0;
    size_t marked = 0;
    while ((rc = vecblock_iter_next(&it, &b)) == 0) {
        assert_true(b.number < head.next_block);
        assert_int_equal(b.dim, head.dim);
        assert_true(b.count > 0);
        uint32_t in_block = 0;
        for (uint32_t i = 0; i < b.count; i++) {
            const uint8_t *id = vecblock_slot_id(&b, i);
            if (!id)
                continue;
            in_block++;
            pdb_id_t eid;
            memcpy(eid.b, id, PDB_ID_LEN);
            MDB_val vec, loc;
            assert_int_equal(store_embedding_get(st, txn, coll, &eid, &vec), 0);
            assert_int_equal(vec.mv_size, head.dim * sizeof(float));
            assert_memory_equal(vecblock_slot_vector(&b, i), vec.mv_data, vec.mv_size);
            uint8_t pair[STORE_KEY_PAIR_LEN];
            store_key_pair(pair, coll, &eid);
            MDB_val key = { sizeof pair, pair };
            assert_int_equal(mdb_get(txn, st->vec_slots, &key, &loc), 0);
            uint32_t where[2];
            memcpy(where, loc.mv_data, sizeof where);
            assert_int_equal(where[0], b.number);
            assert_int_equal(where[1], i);
        }
        assert_int_equal(in_block, b.live);
        assert_true(vecblock_slot_id(&b, b.count - 1) != NULL);   // no cleared tail
        uint8_t kbuf[VECBLOCK_KEY_LEN];
        vecblock_key(kbuf, coll, b.number);
        MDB_val key = { sizeof kbuf, kbuf }, none;
        bool is_marked = mdb_get(txn, st->vec_free, &key, &none) == 0;
        assert_int_equal(is_marked, b.live < b.count);
        marked += is_marked;
        live += b.live;
    }
    assert_int_equal(rc, PDB_ENOTFOUND);
    vecblock_iter_close(&it);
    assert_int_equal(live, head.live);
    assert_int_equal(live, embeddings);
    assert_int_equal(s_count_prefix(txn, st->vec_slots, coll), embeddings);
    assert_int_equal(s_count_prefix(txn, st->vec_free, coll), marked);
    mdb_txn_abort(txn);
    return live;
}

//  --------------------------------------------------------------------------
//  Search over the layout against search over the embeddings

static void
s_search(s_node_t *n, const pdb_id_t *coll, json_t *body, bool blocks, search_heap_t *heap)
{
    store_t *st = s_store(n);
    MDB_txn *txn;
    assert_int_equal(store_read_begin(st, &txn), 0);
    uint32_t dim;
    assert_int_equal(store_collective_dim(st, txn, coll, &dim), 0);
    search_query_t q;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(search_query_parse(body, dim, &q, why), 0);
    assert_int_equal(search_heap_init(heap, q.k), 0);
    if (blocks)
        assert_int_equal(search_collective(st, txn, coll, &q, heap), 0);
    else {                          // as a folder without blocks is searched
        assert_int_equal(search_collective_each(st, txn, coll, &q, heap), 0);
        search_heap_sort(heap);
    }
    search_query_release(&q);
    mdb_txn_abort(txn);
}

static json_t *
s_query(uint32_t dim, uint64_t *seed, size_t k)
{
    json_t *vec = json_array();
    for (uint32_t i = 0; i < dim; i++)
        json_array_append_new(vec, json_real(s_rand(seed)));
    return json_pack("{s:o,s:I}", "embedding", vec, "k", (json_int_t) k);
}

//  Both scans, hit for hit. Returns how many hits there were.
static size_t
s_assert_same_results(s_node_t *n, const pdb_id_t *coll, json_t *body)
{
    search_heap_t a, b;
    s_search(n, coll, body, true, &a);
    s_search(n, coll, body, false, &b);
    assert_int_equal(a.n, b.n);
    for (size_t i = 0; i < a.n; i++) {
        assert_memory_equal(a.hits[i].id.b, b.hits[i].id.b, PDB_ID_LEN);
        assert_true(a.hits[i].score == b.hits[i].score);
    }
    size_t hits = a.n;
    search_heap_release(&a);
    search_heap_release(&b);
    return hits;
}

static void
s_assert_same_random(s_node_t *n, const pdb_id_t *coll, uint32_t dim, uint64_t *seed,
                     size_t queries)
{
    for (size_t i = 0; i < queries; i++) {
        json_t *body = s_query(dim, seed, 1 + s_next(seed) % 30);
        s_assert_same_results(n, coll, body);
        json_decref(body);
    }
}

//  --------------------------------------------------------------------------

typedef struct {
    pdb_id_t ids[LIVE_MAX];
    size_t n;
} s_live_t;

static void
s_take(s_live_t *live, size_t i)
{
    live->ids[i] = live->ids[--live->n];
}

//  Creates and deletes in random order over collectives of several sizes
//  (1000 dimensions: 8 slots a block, so many blocks): after every round
//  the layout holds exactly the live embeddings and search agrees.
static void
test_vecstore_follows_creates_and_deletes(void **state)
{
    (void) state;
    s_node_t n;
    s_open(&n, NULL);
    static const uint32_t dims[] = { 5, 1000 };
    uint64_t seed = 99;
    for (size_t d = 0; d < 2; d++) {
        char name[16];
        snprintf(name, sizeof name, "c%zu", d);
        pdb_id_t coll = s_collective(&n, name, dims[d]);
        static s_live_t live;
        live.n = 0;
        for (int round = 0; round < 6; round++) {
            //  Grow, then shrink harder than it grew, then grow into the holes.
            size_t ops = round % 2 ? 90 : 120;
            for (size_t i = 0; i < ops; i++) {
                bool add = round % 2 == 0 ? s_next(&seed) % 4 != 0 : s_next(&seed) % 4 == 0;
                if (add || live.n == 0)
                    live.ids[live.n++] = s_random_experience(&n, &coll, dims[d], &seed);
                else {
                    size_t victim = s_next(&seed) % live.n;
                    s_delete(&n, ENT_EXPERIENCE, &coll, &live.ids[victim]);
                    s_take(&live, victim);
                }
            }
            assert_int_equal(s_check_layout(&n, &coll), live.n);
            s_assert_same_random(&n, &coll, dims[d], &seed, 5);
        }
        //  Emptied one by one: nothing of the collective stays in the layout.
        while (live.n) {
            s_delete(&n, ENT_EXPERIENCE, &coll, &live.ids[live.n - 1]);
            live.n--;
        }
        assert_int_equal(s_check_layout(&n, &coll), 0);
    }
    s_close(&n, true);
}

//  A deleted collective takes its blocks, slots and free marks with it;
//  a collective beside it keeps everything.
static void
test_vecstore_collective_delete_drops_its_layout(void **state)
{
    (void) state;
    s_node_t n;
    s_open(&n, NULL);
    uint64_t seed = 5;
    pdb_id_t gone = s_collective(&n, "gone", 16), kept = s_collective(&n, "kept", 16);
    pdb_id_t first = s_random_experience(&n, &gone, 16, &seed);
    for (int i = 0; i < 600; i++) {
        s_random_experience(&n, &gone, 16, &seed);
        s_random_experience(&n, &kept, 16, &seed);
    }
    s_delete(&n, ENT_EXPERIENCE, &gone, &first);          // leaves a free mark
    assert_int_equal(s_check_layout(&n, &gone), 600);
    s_delete(&n, ENT_COLLECTIVE, &gone, &gone);
    MDB_txn *txn;
    assert_int_equal(store_read_begin(s_store(&n), &txn), 0);
    assert_int_equal(s_count_prefix(txn, s_store(&n)->vec_blocks, &gone), 0);
    assert_int_equal(s_count_prefix(txn, s_store(&n)->vec_slots, &gone), 0);
    assert_int_equal(s_count_prefix(txn, s_store(&n)->vec_free, &gone), 0);
    mdb_txn_abort(txn);
    assert_int_equal(s_check_layout(&n, &kept), 600);
    s_assert_same_random(&n, &kept, 16, &seed, 5);
    s_close(&n, true);
}

//  Storage rolls back one request's child transaction when it fails: the
//  layout must roll back with it (vecstore keeps nothing in memory).
static void
test_vecstore_rolls_back_with_the_transaction(void **state)
{
    (void) state;
    s_node_t n;
    s_open(&n, NULL);
    uint64_t seed = 17;
    pdb_id_t coll = s_collective(&n, "c", 8);
    pdb_id_t kept = s_random_experience(&n, &coll, 8, &seed);
    MDB_txn *parent, *child;
    assert_int_equal(mdb_txn_begin(s_store(&n)->env, NULL, 0, &parent), 0);
    assert_int_equal(mdb_txn_begin(s_store(&n)->env, parent, 0, &child), 0);
    float v[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    pdb_id_t extra = testkit_id(0x77);
    assert_int_equal(vecstore_add(s_store(&n), child, &coll, &extra, v, sizeof v), 0);
    assert_int_equal(vecstore_remove(s_store(&n), child, &coll, &kept), 0);
    mdb_txn_abort(child);
    assert_int_equal(mdb_txn_commit(parent), 0);
    assert_int_equal(s_check_layout(&n, &coll), 1);
    //  A vector of another size is refused, and a second add is a no-op.
    assert_int_equal(mdb_txn_begin(s_store(&n)->env, NULL, 0, &parent), 0);
    assert_int_equal(vecstore_add(s_store(&n), parent, &coll, &extra, v, 4 * sizeof(float)),
                     PDB_EINVAL);
    MDB_val vec;
    assert_int_equal(store_embedding_get(s_store(&n), parent, &coll, &kept, &vec), 0);
    assert_int_equal(vecstore_add(s_store(&n), parent, &coll, &kept, vec.mv_data, vec.mv_size),
                     0);
    assert_int_equal(mdb_txn_commit(parent), 0);
    assert_int_equal(s_check_layout(&n, &coll), 1);
    s_close(&n, true);
}

//  Makes the folder as an older build left it: schema 1, every embedding
//  in the embeddings database (copied from its slot), and either blocks
//  beside it (marker VECBLOCK_LAYOUT_BESIDE) or, from before blocks
//  existed, no layout databases and no marker.
static void
s_make_old_folder(s_node_t *n, bool with_blocks)
{
    store_t *st = s_store(n);
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    store_iter_t it;
    int rc = store_records(st, txn, ENT_EXPERIENCE, NULL, &it);
    pdb_id_t c, id;
    MDB_val record, vec;
    while (rc == 0 && (rc = store_next(&it, &c, &id, &record)) == 0) {
        assert_int_equal(store_embedding_get(st, txn, &c, &id, &vec), 0);
        uint8_t pair[STORE_KEY_PAIR_LEN];
        store_key_pair(pair, &c, &id);
        MDB_val key = { sizeof pair, pair };
        assert_int_equal(mdb_put(txn, st->embeddings, &key, &vec, 0), 0);
    }
    assert_int_equal(rc, PDB_ENOTFOUND);
    store_iter_close(&it);
    MDB_val key = { sizeof VECBLOCK_META_KEY - 1, (void *) VECBLOCK_META_KEY };
    uint32_t beside = VECBLOCK_LAYOUT_BESIDE, schema = STORE_SCHEMA_EMBEDDINGS_DB;
    MDB_val val = { sizeof beside, &beside };
    if (with_blocks)
        assert_int_equal(mdb_put(txn, st->meta, &key, &val, 0), 0);
    else {
        assert_int_equal(mdb_drop(txn, st->vec_blocks, 1), 0);
        assert_int_equal(mdb_drop(txn, st->vec_slots, 1), 0);
        assert_int_equal(mdb_drop(txn, st->vec_free, 1), 0);
        assert_int_equal(mdb_del(txn, st->meta, &key, NULL), 0);
    }
    MDB_val skey = { sizeof STORE_META_SCHEMA - 1, (void *) STORE_META_SCHEMA };
    MDB_val sval = { sizeof schema, &schema };
    assert_int_equal(mdb_put(txn, st->meta, &skey, &sval, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

//  After storage's start: schema 2, the blocks marked as the only copy,
//  the embeddings database empty.
static void
s_assert_moved(s_node_t *n)
{
    store_t *st = s_store(n);
    MDB_txn *txn;
    assert_int_equal(store_read_begin(st, &txn), 0);
    uint32_t layout;
    assert_int_equal(vecblock_layout(st, txn, &layout), 0);
    assert_int_equal(layout, VECBLOCK_LAYOUT);
    store_meta_t meta;
    assert_int_equal(store_meta_read(st, txn, &meta), 0);
    assert_int_equal(meta.schema_version, STORE_SCHEMA_VERSION);
    MDB_stat ms;
    assert_int_equal(mdb_stat(txn, st->embeddings, &ms), 0);
    assert_int_equal(ms.ms_entries, 0);
    mdb_txn_abort(txn);
}

//  After a folder was moved: search returns what it returned before (k
//  hits, the same ids in the same order), and both scans agree. Releases
//  before and body.
static void
s_assert_search_unchanged(s_node_t *n, const pdb_id_t *coll, json_t *body,
                          search_heap_t *before, size_t k)
{
    search_heap_t after;
    s_search(n, coll, body, true, &after);
    assert_int_equal(after.n, k);
    assert_int_equal(before->n, after.n);
    for (size_t i = 0; i < after.n; i++)
        assert_memory_equal(before->hits[i].id.b, after.hits[i].id.b, PDB_ID_LEN);
    s_assert_same_results(n, coll, body);
    search_heap_release(before);
    search_heap_release(&after);
    json_decref(body);
}

//  A folder without the layout: readers open it and read the embeddings
//  database; storage's next start builds the layout (over several build
//  transactions) and empties that database, after which search finds what
//  it found before and both scans agree.
static void
test_vecstore_builds_the_layout_of_an_old_folder(void **state)
{
    (void) state;
    s_node_t n;
    s_open(&n, NULL);
    uint64_t seed = 23;
    pdb_id_t coll = s_collective(&n, "c", 4), other = s_collective(&n, "o", 3);
    static s_live_t live;
    live.n = 0;
    for (int i = 0; i < 1500; i++)
        live.ids[live.n++] = s_random_experience(&n, &coll, 4, &seed);
    for (int i = 0; i < 300; i++) {
        size_t victim = s_next(&seed) % live.n;
        s_delete(&n, ENT_EXPERIENCE, &coll, &live.ids[victim]);
        s_take(&live, victim);
    }
    for (int i = 0; i < 5000; i++)          // more than one build transaction
        s_random_experience(&n, &other, 3, &seed);
    json_t *body = s_query(4, &seed, 20);
    search_heap_t before;
    s_search(&n, &coll, body, true, &before);
    MDB_txn *txn;
    MDB_val vec;
    assert_int_equal(store_read_begin(s_store(&n), &txn), 0);
    assert_int_equal(store_embedding_get(s_store(&n), txn, &coll, &live.ids[0], &vec), 0);
    float first[4];
    assert_int_equal(vec.mv_size, sizeof first);
    memcpy(first, vec.mv_data, sizeof first);
    mdb_txn_abort(txn);
    s_make_old_folder(&n, false);

    //  A reader of the old folder: no layout databases, the embedding read
    //  from its database.
    store_t *reader;
    assert_int_equal(store_open(n.dir, true, 0, &reader), 0);
    assert_false(reader->vec_dbs);
    assert_int_equal(store_read_begin(reader, &txn), 0);
    assert_false(vecblock_ready(reader, txn));
    assert_int_equal(store_embedding_get(reader, txn, &coll, &live.ids[0], &vec), 0);
    assert_int_equal(vec.mv_size, sizeof first);
    assert_memory_equal(vec.mv_data, first, sizeof first);
    mdb_txn_abort(txn);
    store_destroy(&reader);

    s_close(&n, false);
    s_open(&n, n.dir);
    s_assert_moved(&n);
    assert_int_equal(s_check_layout(&n, &coll), live.n);
    assert_int_equal(s_check_layout(&n, &other), 5000);
    s_assert_search_unchanged(&n, &coll, body, &before, 20);
    s_close(&n, true);
}

//  A folder whose blocks repeat the embeddings database (schema 1): storage's
//  next start empties the database without a build, every embedding reads
//  the same, and writes after it keep to the blocks.
static void
test_vecstore_moves_a_schema_1_folder(void **state)
{
    (void) state;
    s_node_t n;
    s_open(&n, NULL);
    uint64_t seed = 29;
    pdb_id_t coll = s_collective(&n, "c", 5);
    static s_live_t live;
    live.n = 0;
    for (int i = 0; i < 200; i++)
        live.ids[live.n++] = s_random_experience(&n, &coll, 5, &seed);
    json_t *body = s_query(5, &seed, 10);
    search_heap_t before;
    s_search(&n, &coll, body, true, &before);
    s_make_old_folder(&n, true);
    static float was[200][5];
    MDB_txn *txn;
    MDB_val vec;
    assert_int_equal(store_read_begin(s_store(&n), &txn), 0);
    for (size_t i = 0; i < live.n; i++) {
        assert_int_equal(store_embedding_get(s_store(&n), txn, &coll, &live.ids[i], &vec), 0);
        assert_int_equal(vec.mv_size, sizeof was[i]);
        memcpy(was[i], vec.mv_data, sizeof was[i]);
    }
    mdb_txn_abort(txn);

    s_close(&n, false);
    s_open(&n, n.dir);
    s_assert_moved(&n);
    assert_int_equal(store_read_begin(s_store(&n), &txn), 0);
    for (size_t i = 0; i < live.n; i++) {
        assert_int_equal(store_embedding_get(s_store(&n), txn, &coll, &live.ids[i], &vec), 0);
        assert_int_equal(vec.mv_size, sizeof was[i]);
        assert_memory_equal(vec.mv_data, was[i], sizeof was[i]);
    }
    mdb_txn_abort(txn);
    s_assert_search_unchanged(&n, &coll, body, &before, 10);
    for (int i = 0; i < 50; i++)
        live.ids[live.n++] = s_random_experience(&n, &coll, 5, &seed);
    assert_int_equal(s_check_layout(&n, &coll), live.n);
    s_close(&n, true);
}

//  A folder of a later schema than this build knows is refused, untouched.
static void
test_storage_refuses_a_later_schema(void **state)
{
    (void) state;
    s_node_t n;
    s_open(&n, NULL);
    pdb_id_t coll = s_collective(&n, "c", 4);
    uint64_t seed = 31;
    pdb_id_t id = s_random_experience(&n, &coll, 4, &seed);
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(s_store(&n)->env, NULL, 0, &txn), 0);
    uint32_t later = STORE_SCHEMA_VERSION + 1;
    MDB_val key = { sizeof STORE_META_SCHEMA - 1, (void *) STORE_META_SCHEMA };
    MDB_val val = { sizeof later, &later };
    assert_int_equal(mdb_put(txn, s_store(&n)->meta, &key, &val, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    s_close(&n, false);
    node_t *node = NULL;
    assert_int_equal(node_open(n.dir, MAP_SIZE, &node), PDB_ECORRUPT);
    assert_null(node);
    store_t *reader;
    assert_int_equal(store_open(n.dir, true, 0, &reader), 0);
    assert_int_equal(store_read_begin(reader, &txn), 0);
    store_meta_t meta;
    assert_int_equal(store_meta_read(reader, txn, &meta), 0);
    assert_int_equal(meta.schema_version, later);
    MDB_val vec;
    assert_int_equal(store_embedding_get(reader, txn, &coll, &id, &vec), 0);
    mdb_txn_abort(txn);
    store_destroy(&reader);
    testkit_rmdir(n.dir);
}

//  Filters that few experiences pass, and archived ones, over many that
//  score higher: every match is found, and nothing else.
static void
test_search_filters_with_few_matches(void **state)
{
    (void) state;
    s_node_t n;
    s_open(&n, NULL);
    pdb_id_t coll = s_collective(&n, "c", 4);
    float close[4] = { 1, 0, 0, 0 }, far[4] = { 0, 1, 0, 0 };
    for (int i = 0; i < 400; i++)
        s_experience(&n, &coll, close, 4, 0.5, "common");
    pdb_id_t rare[3];
    for (int i = 0; i < 3; i++)
        rare[i] = s_experience(&n, &coll, far, 4, 0.9, "rare");
    s_set_archived(&n, &coll, &rare[2], true);
    json_t *q = json_pack("{s:[f,f,f,f],s:i,s:s}", "embedding", 1.0, 0.0, 0.0, 0.0, "k", 10,
                          "domain", "rare");
    assert_int_equal(s_assert_same_results(&n, &coll, q), 2);   // the archived one is out
    json_object_set_new(q, "include_archived", json_true());
    assert_int_equal(s_assert_same_results(&n, &coll, q), 3);
    json_decref(q);
    q = json_pack("{s:[f,f,f,f],s:i,s:f}", "embedding", 1.0, 0.0, 0.0, 0.0, "k", 10,
                  "min_importance", 0.8);
    search_heap_t heap;
    s_search(&n, &coll, q, true, &heap);
    assert_int_equal(heap.n, 2);
    for (size_t i = 0; i < heap.n; i++)
        assert_true(memcmp(heap.hits[i].id.b, rare[0].b, PDB_ID_LEN) == 0
                    || memcmp(heap.hits[i].id.b, rare[1].b, PDB_ID_LEN) == 0);
    search_heap_release(&heap);
    assert_int_equal(s_assert_same_results(&n, &coll, q), 2);
    json_decref(q);
    //  A filter nothing passes: no candidate at all, no result.
    q = json_pack("{s:[f,f,f,f],s:i,s:s}", "embedding", 1.0, 0.0, 0.0, 0.0, "k", 10,
                  "domain", "nowhere");
    assert_int_equal(s_assert_same_results(&n, &coll, q), 0);
    json_decref(q);
    //  Unarchived again, and the close ones deleted: the far ones rank first.
    s_set_archived(&n, &coll, &rare[2], false);
    q = json_pack("{s:[f,f,f,f],s:i,s:s}", "embedding", 0.0, 1.0, 0.0, 0.0, "k", 5,
                  "domain", "rare");
    assert_int_equal(s_assert_same_results(&n, &coll, q), 3);
    json_decref(q);
    s_close(&n, true);
}

//  The codes' promise (vecblock.h): for any query, the cosine lies within
//  the error bound of scale * (q . c) / |q|, c being the unbiased codes.
static void
test_vecblock_quantize_bounds_the_cosine(void **state)
{
    (void) state;
    static const uint32_t dims[] = { 1, 3, 17, 384, PDB_DIM_MAX };
    static const float mags[] = { 1.0f, 3e38f, 1e-30f, 1e-44f };
    uint64_t seed = 31;
    float *v = malloc(PDB_DIM_MAX * sizeof *v), *q = malloc(PDB_DIM_MAX * sizeof *q);
    uint8_t *codes = malloc(PDB_DIM_MAX);
    assert_non_null(v);
    assert_non_null(q);
    assert_non_null(codes);
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        for (int trial = 0; trial < 40; trial++) {
            uint32_t dim = dims[d];
            float mag = mags[trial % 4];
            for (uint32_t i = 0; i < dim; i++) {
                //  Some vectors have one large component and tiny others.
                v[i] = s_rand(&seed) * mag * (trial % 5 == 0 && i ? 1e-6f : 1.0f);
                q[i] = s_rand(&seed);
            }
            float scale, error;
            vecblock_quantize(v, dim, codes, &scale, &error);
            assert_true(error >= 0.0f && scale >= 0.0f);
            double dot = 0.0, vn = 0.0, qn = 0.0, qc = 0.0;
            for (uint32_t i = 0; i < dim; i++) {
                dot += (double) q[i] * v[i];
                vn += (double) v[i] * v[i];
                qn += (double) q[i] * q[i];
                qc += (double) q[i] * ((int) codes[i] - VECBLOCK_CODE_BIAS);
            }
            if (!(vn > 0.0))
                continue;                  // underflowed to zero: scores 0 either way
            double cosine = dot / sqrt(vn) / sqrt(qn);
            double estimate = scale * qc / sqrt(qn);
            assert_true(fabs(cosine - estimate) <= error + 1e-12);
            assert_true(error < 0.05);     // tight enough to prune
        }
    }
    float zero[4] = { 0 };
    float scale, error;
    vecblock_quantize(zero, 4, codes, &scale, &error);
    assert_true(scale == 0.0f && error == 0.0f);
    free(v);
    free(q);
    free(codes);
}

//  Data that makes the first pass's bounds overlap a lot: near-duplicates,
//  exact duplicates and scaled copies (equal scores, ordered by id), tiny
//  and huge vectors. The two-pass scan still returns exactly what
//  scoring every vector does, for small and large k.
static void
test_search_exact_on_clustered_and_extreme_vectors(void **state)
{
    (void) state;
    s_node_t n;
    s_open(&n, NULL);
    enum { D = 64 };
    pdb_id_t coll = s_collective(&n, "c", D);
    uint64_t seed = 41;
    float base[D], v[D];
    for (int i = 0; i < D; i++)
        base[i] = s_rand(&seed);
    for (int e = 0; e < 700; e++) {
        float noise = e < 400 ? 1e-3f : e < 500 ? 0.0f : 0.2f;
        float mag = e % 7 == 0 ? 1e30f : e % 11 == 0 ? 1e-30f : (float) (1 + e % 3);
        for (int i = 0; i < D; i++)
            v[i] = (base[i] + noise * s_rand(&seed)) * mag;
        s_experience(&n, &coll, v, D, 0.5, "general");
    }
    memset(v, 0, sizeof v);
    v[3] = 1.0f;
    s_experience(&n, &coll, v, D, 0.5, "general");
    static const size_t ks[] = { 1, 10, 100, 1000 };
    for (size_t k = 0; k < 4; k++) {
        for (int which = 0; which < 4; which++) {
            json_t *vec = json_array();
            for (int i = 0; i < D; i++) {
                double x = which == 0 ? base[i] : which == 1 ? -base[i]
                         : which == 2 ? base[i] + 0.01 * s_rand(&seed) : s_rand(&seed);
                json_array_append_new(vec, json_real(x));
            }
            json_t *body = json_pack("{s:o,s:I}", "embedding", vec, "k", (json_int_t) ks[k]);
            size_t hits = s_assert_same_results(&n, &coll, body);
            assert_int_equal(hits, ks[k] < 701 ? ks[k] : 701);
            json_decref(body);
        }
    }
    s_close(&n, true);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vecstore_follows_creates_and_deletes),
        cmocka_unit_test(test_vecstore_collective_delete_drops_its_layout),
        cmocka_unit_test(test_vecstore_rolls_back_with_the_transaction),
        cmocka_unit_test(test_vecstore_builds_the_layout_of_an_old_folder),
        cmocka_unit_test(test_vecstore_moves_a_schema_1_folder),
        cmocka_unit_test(test_storage_refuses_a_later_schema),
        cmocka_unit_test(test_search_filters_with_few_matches),
        cmocka_unit_test(test_vecblock_quantize_bounds_the_cosine),
        cmocka_unit_test(test_search_exact_on_clustered_and_extreme_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
