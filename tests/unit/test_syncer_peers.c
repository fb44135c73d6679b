/*  test_syncer_peers.c - which peers the syncer runs (sync/peers plus the
    peers database rows with an address, re-read while running) and which
    of them hold the WAL floor for compaction (compact.h), against a real
    store written by the storage core.
*/
#include "compact.h"
#include "err.h"
#include "mpk.h"
#include "node.h"
#include "peers_cfg.h"
#include "prow.h"
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
#define DAY_MS (24ull * 3600 * 1000)
#define NOW_MS (1800000000000ull)
#define COLL_UUID "01900000-0000-7000-8000-000000000001"

typedef struct {
    char dir[TESTKIT_DIR_MAX];
    node_t *node;
} s_node_t;

//  A field of a row: a string when s is set, else a number.
typedef struct {
    const char *key, *s;
    uint64_t u;
} s_kv_t;

static void
s_put_row(s_node_t *n, const char *name, const s_kv_t *kv, size_t count)
{
    mpk_out_t out;
    mpk_out_init(&out);
    mpk_pack_map(&out.pk, count);
    for (size_t i = 0; i < count; i++) {
        mpk_pack_str(&out.pk, kv[i].key);
        if (kv[i].s)
            mpk_pack_str(&out.pk, kv[i].s);
        else
            mpk_pack_u64(&out.pk, kv[i].u);
    }
    assert_int_equal(mpk_out_status(&out), 0);
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(n->node->store->env, NULL, 0, &txn), 0);
    MDB_val key = { strlen(name), (void *) name }, val = { out.buf.size, out.buf.data };
    assert_int_equal(mdb_put(txn, n->node->store->peers, &key, &val, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mpk_out_release(&out);
}

static void
s_del_row(s_node_t *n, const char *name)
{
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(n->node->store->env, NULL, 0, &txn), 0);
    MDB_val key = { strlen(name), (void *) name };
    assert_int_equal(mdb_del(txn, n->node->store->peers, &key, NULL), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

#define ROW(n, name, ...) \
    s_put_row(n, name, (s_kv_t[]) { __VA_ARGS__ }, \
              sizeof (s_kv_t[]) { __VA_ARGS__ } / sizeof (s_kv_t))

static int
s_setup(void **state)
{
    s_node_t *n = calloc(1, sizeof *n);
    assert_non_null(n);
    testkit_mkdir(n->dir, "syncer_peers");
    assert_int_equal(node_open(n->dir, MAP_SIZE, &n->node), 0);
    assert_int_equal(mdb_env_set_flags(n->node->store->env, MDB_NOSYNC, 1), 0);
    //  A configured peer's status row, and database peers of every kind.
    ROW(n, "alpha", { "instance_id", "01900000-0000-7000-8000-0000000000aa", 0 },
        { "push_acked", NULL, 40 }, { "last_seen_ms", NULL, NOW_MS - 1000 });
    ROW(n, "beta", { "address", "tcp://b.lan:7700", 0 }, { "direction", "pull", 0 },
        { "collectives", COLL_UUID, 0 });
    ROW(n, "gamma", { "address", "tcp://g.lan:7700", 0 }, { "push_acked", NULL, 25 },
        { "last_seen_ms", NULL, NOW_MS - 8 * DAY_MS });
    ROW(n, "delta", { "address", "nope", 0 });
    ROW(n, "echo", { "address", "tcp://e.lan:7700", 0 }, { "push_acked", NULL, 3 });
    ROW(n, "in:01900000-0000-7000-8000-000000000001", { "pulled_through", NULL, 30 },
        { "last_seen_ms", NULL, NOW_MS - 5000 });
    ROW(n, "in:01900000-0000-7000-8000-000000000002", { "pulled_through", NULL, 5 },
        { "last_seen_ms", NULL, NOW_MS - 30 * DAY_MS });
    ROW(n, "removed", { "push_acked", NULL, 1 }, { "last_seen_ms", NULL, NOW_MS });
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

//  sync/peers: alpha (both), cfgonly (push, never reached), echo (pull).
static peerspec_t *
s_config(size_t *n)
{
    peerspec_t *peers = NULL;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(peerspec_list_parse("alpha=tcp://a.lan:7700 cfgonly=tcp://c.lan:7700,push "
                                     "echo=tcp://e2.lan:7700,pull", &peers, n, why), 0);
    return peers;
}

static void
test_peers_config_and_database_rows(void **state)
{
    s_node_t *n = *state;
    size_t config_n;
    peerspec_t *config = s_config(&config_n);
    peers_cfg_t p;
    assert_int_equal(peers_cfg_collect(n->node->store, config, config_n, &p), 0);
    const char *names[] = { "alpha", "cfgonly", "echo", "beta", "gamma" };
    assert_int_equal(p.n, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(p.items[i].spec.name, names[i]);
    assert_false(p.items[0].from_db);
    //  The configuration wins over a row of the same name.
    assert_string_equal(p.items[2].spec.address, "tcp://e2.lan:7700");
    assert_int_equal(p.items[2].spec.direction, PEERSPEC_PULL);
    const peers_cfg_entry_t *beta = peers_cfg_find(&p, "beta", 4);
    assert_non_null(beta);
    assert_true(beta->from_db);
    assert_string_equal(beta->spec.address, "tcp://b.lan:7700");
    assert_int_equal(beta->spec.direction, PEERSPEC_PULL);
    assert_int_equal(beta->spec.collectives_n, 1);
    assert_int_equal(beta->spec.collectives[0].b[15], 1);
    assert_int_equal(peers_cfg_find(&p, "gamma", 5)->spec.direction, PEERSPEC_BOTH);
    //  Rows without an address (status of configured or removed peers) and
    //  inbound rows are not peers to dial; a bad row is reported.
    assert_null(peers_cfg_find(&p, "removed", 7));
    assert_int_equal(p.problems_n, 2);
    assert_string_equal(p.problems[0].name, "delta");
    assert_non_null(strstr(p.problems[0].why, "tcp://"));
    assert_string_equal(p.problems[1].name, "echo");
    assert_non_null(strstr(p.problems[1].why, "configuration wins"));
    peers_cfg_release(&p);
    free(config);
}

static void
test_peers_database_changes_are_seen_on_reread(void **state)
{
    s_node_t *n = *state;
    peers_cfg_t p;
    assert_int_equal(peers_cfg_collect(n->node->store, NULL, 0, &p), 0);
    peers_cfg_entry_t before = *peers_cfg_find(&p, "gamma", 5);
    size_t count = p.n;
    peers_cfg_release(&p);
    //  `pulsedb peer add` of a new one, a changed one, and a removal.
    ROW(n, "zeta", { "address", "tcp://z.lan:1", 0 }, { "direction", "push", 0 });
    ROW(n, "gamma", { "address", "tcp://g.lan:7701", 0 });
    s_del_row(n, "beta");
    assert_int_equal(peers_cfg_collect(n->node->store, NULL, 0, &p), 0);
    assert_int_equal(p.n, count);
    assert_null(peers_cfg_find(&p, "beta", 4));
    assert_int_equal(peers_cfg_find(&p, "zeta", 4)->spec.direction, PEERSPEC_PUSH);
    const peers_cfg_entry_t *gamma = peers_cfg_find(&p, "gamma", 5);
    assert_false(peers_cfg_same(gamma, &before));
    assert_true(peers_cfg_same(gamma, gamma));
    peers_cfg_release(&p);
}

static void
test_compact_floor_rules(void **state)
{
    (void) state;
    size_t live = 99;
    //  No peer at all: nothing needs the WAL.
    assert_int_equal(compact_floor(NULL, 0, 100, NOW_MS, 7 * DAY_MS, NOW_MS, &live), 101);
    assert_int_equal(live, 0);
    compact_hold_t holds[] = {
        { 40, true, NOW_MS - 1000 },
        { 30, true, NOW_MS - 7 * DAY_MS },            // exactly at the expiry: still live
        { 5, true, NOW_MS - 7 * DAY_MS - 1 },         // expired
        { 250, true, NOW_MS },                        // ahead of our head (restored backup)
    };
    assert_int_equal(compact_floor(holds, 4, 100, NOW_MS, 7 * DAY_MS, NOW_MS, &live), 31);
    assert_int_equal(live, 3);
    assert_int_equal(compact_floor(&holds[3], 1, 100, NOW_MS, 7 * DAY_MS, NOW_MS, &live), 101);
    //  Never seen: counts from when the compactor started.
    compact_hold_t unseen = { 0, false, 0 };
    assert_int_equal(compact_floor(&unseen, 1, 100, NOW_MS, 7 * DAY_MS, NOW_MS - DAY_MS, &live),
                     1);
    assert_int_equal(live, 1);
    assert_int_equal(compact_floor(&unseen, 1, 100, NOW_MS, 7 * DAY_MS, NOW_MS - 8 * DAY_MS,
                                   &live), 101);
    assert_int_equal(live, 0);
}

static uint64_t
s_now(void *ctx)
{
    (void) ctx;
    return NOW_MS;
}

static void
test_compact_collects_the_holds_of_live_peers(void **state)
{
    s_node_t *n = *state;
    size_t config_n;
    peerspec_t *config = s_config(&config_n);
    senv_t env = { s_now, s_now, NULL, NULL };
    synctx_t ctx = { .store = n->node->store, .env = &env };
    compact_opts_t opts = { .ctx = &ctx, .config = config, .config_n = config_n,
                            .peer_expiry_ms = 7 * DAY_MS, .tombstone_ttl_ms = 14 * DAY_MS,
                            .started_wall_ms = NOW_MS - 1000 };
    //  Inbound rows hold only for instances that pushed here or are peers
    //  here: alpha's instance pulling (by its id), one that pushed, and one
    //  that only pulled under a made-up id (it holds nothing).
    ROW(n, "in:01900000-0000-7000-8000-0000000000aa", { "pulled_through", NULL, 35 },
        { "last_seen_ms", NULL, NOW_MS - 5000 });
    ROW(n, "in:01900000-0000-7000-8000-000000000001", { "pulled_through", NULL, 30 },
        { "last_seen_ms", NULL, NOW_MS - 5000 }, { "pushed", NULL, 1 });
    ROW(n, "in:01900000-0000-7000-8000-0000000000ff", { "pulled_through", NULL, 2 },
        { "last_seen_ms", NULL, NOW_MS - 5000 });
    compact_hold_t *holds = NULL;
    size_t count = 0;
    assert_int_equal(compact_collect(&opts, &holds, &count), 0);
    //  alpha (push_acked 40), gamma (25, expired), alpha pulling (35), the
    //  inbound row that pushed (30), cfgonly (no row yet: holds everything).
    //  beta and echo are pulled from only; "removed" is no peer any more;
    //  the inbound rows that never pushed and are no peer hold nothing.
    assert_int_equal(count, 5);
    size_t live;
    assert_int_equal(compact_floor(holds, count, 100, NOW_MS, opts.peer_expiry_ms,
                                   opts.started_wall_ms, &live), 1);
    assert_int_equal(live, 4);
    //  Once cfgonly has been unreachable past the expiry it lets go.
    assert_int_equal(compact_floor(holds, count, 100, NOW_MS, opts.peer_expiry_ms,
                                   NOW_MS - 8 * DAY_MS, &live), 31);
    assert_int_equal(live, 3);
    free(holds);
    free(config);
}

static void
test_prow_reads_rows_and_names_inbound_peers(void **state)
{
    s_node_t *n = *state;
    prow_t row;
    assert_int_equal(prow_read(n->node->store, NULL, "alpha", &row), 0);
    uint64_t v = 0;
    assert_true(prow_u64(&row, "push_acked", &v));
    assert_int_equal(v, 40);
    const char *s;
    size_t len;
    assert_true(prow_str(&row, "instance_id", &s, &len));
    assert_int_equal(len, 36);
    assert_false(prow_u64(&row, "instance_id", &v));
    assert_false(prow_str(&row, "nothing", &s, &len));
    prow_release(&row);
    assert_int_equal(prow_read(n->node->store, NULL, "nobody", &row), PDB_ENOTFOUND);
    prow_release(&row);
    pdb_id_t id;
    memset(id.b, 0xab, sizeof id.b);
    char name[PROW_INBOUND_NAME_MAX];
    prow_inbound_name(&id, name);
    assert_string_equal(name, "in:abababab-abab-abab-abab-abababababab");
}

static peerspec_t
s_filtered(const uint8_t *firsts, size_t n)
{
    peerspec_t spec = { .name = "f", .address = "tcp://127.0.0.1:1" };
    for (size_t i = 0; i < n; i++)
        memset(spec.collectives[i].b, firsts[i], PDB_ID_LEN);
    spec.collectives_n = n;
    return spec;
}

static void
test_peers_filter_record_is_sorted_and_spots_widening(void **state)
{
    (void) state;
    uint8_t key[PEERS_CFG_FILTER_MAX], other[PEERS_CFG_FILTER_MAX];
    size_t len, other_len;
    peerspec_t xy = s_filtered((const uint8_t[]) { 2, 1 }, 2);
    peerspec_t yx = s_filtered((const uint8_t[]) { 1, 2 }, 2);
    peers_cfg_filter_key(&xy, key, &len);
    peers_cfg_filter_key(&yx, other, &other_len);
    assert_int_equal(len, 2 * PDB_ID_LEN);
    assert_int_equal(other_len, len);
    assert_memory_equal(key, other, len);       // one set, one record
    assert_int_equal(key[0], 1);

    //  Same or narrower: the cursors hold.
    peerspec_t x = s_filtered((const uint8_t[]) { 2 }, 1);
    assert_true(peers_cfg_filter_within(&xy, key, len));
    assert_true(peers_cfg_filter_within(&x, key, len));
    //  Wider, other collectives, or no filter at all: they do not.
    peerspec_t xyz = s_filtered((const uint8_t[]) { 1, 2, 3 }, 3);
    peerspec_t z = s_filtered((const uint8_t[]) { 3 }, 1);
    peerspec_t all = s_filtered(NULL, 0);
    assert_false(peers_cfg_filter_within(&xyz, key, len));
    assert_false(peers_cfg_filter_within(&z, key, len));
    assert_false(peers_cfg_filter_within(&all, key, len));
    //  Built under no filter, anything is within; a record that is not a
    //  list of ids never is.
    peers_cfg_filter_key(&all, other, &other_len);
    assert_int_equal(other_len, 0);
    assert_true(peers_cfg_filter_within(&xyz, other, 0));
    assert_true(peers_cfg_filter_within(&all, other, 0));
    assert_false(peers_cfg_filter_within(&x, key, PDB_ID_LEN + 3));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_peers_config_and_database_rows, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_peers_database_changes_are_seen_on_reread, s_setup,
                                        s_teardown),
        cmocka_unit_test(test_compact_floor_rules),
        cmocka_unit_test_setup_teardown(test_compact_collects_the_holds_of_live_peers, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_prow_reads_rows_and_names_inbound_peers, s_setup,
                                        s_teardown),
        cmocka_unit_test(test_peers_filter_record_is_sorted_and_spots_widening),
    };
    return cmocka_run_group_tests_name("syncer_peers", tests, NULL, NULL);
}
