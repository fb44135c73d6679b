/*  test_handlers.c - the storage socket's operations (handlers.h,
    protocol in common/sproto.h) on real LMDB stores: the request envelope
    and what it refuses, reads answered without a transaction, "write" and
    "reinforce" with their results, arguments refused before anything is
    written, every operation routed to its module, unknown operations.
*/
#include "err.h"
#include "handlers.h"
#include "mpk.h"
#include "sproto.h"
#include "sync_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  The envelope

//  Packs [version, id, op, args] with args an empty array.
static void
s_envelope(mpk_out_t *out, uint64_t version, const char *op)
{
    mpk_out_init(out);
    mpk_pack_array(&out->pk, 4);
    mpk_pack_u64(&out->pk, version);
    mpk_pack_u64(&out->pk, 42);
    mpk_pack_str(&out->pk, op);
    mpk_pack_array(&out->pk, 0);
    assert_int_equal(mpk_out_status(out), 0);
}

static void
test_handler_parse_reads_the_envelope(void **state)
{
    (void) state;
    mpk_out_t req;
    mpk_out_init(&req);
    mpk_pack_array(&req.pk, 2);
    mpk_pack_str(&req.pk, "edge");
    mpk_pack_u64(&req.pk, 7);
    mpk_out_t whole;
    mpk_out_init(&whole);
    sproto_pack_request(&whole.pk, 99, "peer_del", req.buf.data, req.buf.size);
    msgpack_unpacked u;
    handlers_request_t hr;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(handlers_parse(whole.buf.data, whole.buf.size, &u, &hr, why), 0);
    assert_int_equal(hr.request_id, 99);
    assert_int_equal(hr.op_len, 8);
    assert_memory_equal(hr.op, "peer_del", 8);
    assert_int_equal(hr.args->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(hr.args->via.array.size, 2);
    assert_true(mpk_is_str(&hr.args->via.array.ptr[0], "edge"));
    assert_false(handlers_is_read(&hr));
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&whole);
    mpk_out_release(&req);
}

//  Each refused envelope leaves nothing to free (a leak shows under ASan).
static void
test_handler_parse_refuses_bad_envelopes(void **state)
{
    (void) state;
    mpk_out_t cases[9];
    s_envelope(&cases[0], SPROTO_VERSION + 1, "ping");       // another version
    mpk_out_init(&cases[1]);
    mpk_pack_bin(&cases[1].pk, "\xc1", 1);                   // not an array
    for (int i = 2; i < 7; i++) {
        //  Four items, one of them of the wrong type; or three items.
        mpk_out_init(&cases[i]);
        mpk_pack_array(&cases[i].pk, i == 6 ? 3 : 4);
        if (i == 2) mpk_pack_str(&cases[i].pk, "1"); else mpk_pack_u64(&cases[i].pk, 1);
        if (i == 3) mpk_pack_nil(&cases[i].pk); else mpk_pack_u64(&cases[i].pk, 42);
        if (i == 4) mpk_pack_u64(&cases[i].pk, 1); else mpk_pack_str(&cases[i].pk, "ping");
        if (i == 5) mpk_pack_map(&cases[i].pk, 0);
        else if (i != 6) mpk_pack_array(&cases[i].pk, 0);
    }
    s_envelope(&cases[7], SPROTO_VERSION, "ping");
    mpk_pack_nil(&cases[7].pk);                               // a second value after it
    mpk_out_init(&cases[8]);
    const char *wants[] = {
        "protocol version 2 not supported", "[version, id, op, [args]]",
        "[version, id, op, [args]]", "[version, id, op, [args]]", "[version, id, op, [args]]",
        "[version, id, op, [args]]", "[version, id, op, [args]]",
        "not one well-formed MessagePack value", "not one well-formed MessagePack value",
    };
    for (size_t i = 0; i < 9; i++) {
        //  cases[8] is empty: zero bytes; the others as packed.
        const void *data = i == 8 ? "" : cases[i].buf.data;
        size_t len = i == 8 ? 0 : cases[i].buf.size;
        msgpack_unpacked u;
        handlers_request_t hr;
        char why[PDB_ERRMSG_MAX] = "";
        int rc = handlers_parse(data, len, &u, &hr, why);
        if (rc != PDB_EPROTO || !strstr(why, wants[i]))
            fail_msg("case %zu: rc=%d why='%s'", i, rc, why);
        mpk_out_release(&cases[i]);
    }
    const char *garbage = "\xc1\xc1\xc1";
    msgpack_unpacked u;
    handlers_request_t hr;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(handlers_parse(garbage, 3, &u, &hr, why), PDB_EPROTO);
}

//  --------------------------------------------------------------------------
//  Reads

//  Runs a read the way the server does: parsed, without a transaction.
static int
s_read(fx_node_t *n, const char *op, storage_stats_t *stats, mpk_out_t *out)
{
    mpk_out_t req;
    s_envelope(&req, SPROTO_VERSION, op);
    msgpack_unpacked u;
    handlers_request_t hr;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(handlers_parse(req.buf.data, req.buf.size, &u, &hr, why), 0);
    assert_true(handlers_is_read(&hr));
    handlers_ctx_t ctx = { n->ing, stats, 1 };
    mpk_out_init(out);
    int rc = handlers_run(&ctx, NULL, &hr, out, why);
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&req);
    return rc;
}

static uint64_t
s_counter(const msgpack_object *map, const char *name)
{
    uint64_t v;
    const msgpack_object *o = mpk_map_get(map, name);
    if (!o)
        fail_msg("stats has no %s", name);
    assert_int_equal(mpk_get_u64(o, &v), 0);
    return v;
}

static void
test_handler_ping_and_stats_are_reads(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    fx_new_collective(&n, FX_WALL, "kb", FX_DIM1);
    fx_new_collective(&n, FX_WALL, "notes", FX_DIM1);
    storage_stats_t stats = { .requests = 7, .group_max = 5, .failed = 1, .conflicts = 2 };
    //  Three commits: at a bound exactly, just past it, and past the last.
    storage_stats_commit(&stats, 4, 100, 250);
    storage_stats_commit(&stats, 2, 50, 251);
    storage_stats_commit(&stats, 1, 10, 20000000);
    mpk_out_t out;
    assert_int_equal(s_read(&n, "ping", &stats, &out), 0);
    assert_int_equal(out.buf.size, 0);                    // nil: the server packs it
    mpk_out_release(&out);

    assert_int_equal(s_read(&n, "stats", &stats, &out), 0);
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(out.buf.data, out.buf.size, &u), 0);
    assert_int_equal(u.data.type, MSGPACK_OBJECT_MAP);
    assert_int_equal(u.data.via.map.size, 18);
    pdb_id_t id;
    assert_int_equal(mpk_get_id(mpk_map_get(&u.data, "instance_id"), &id), 0);
    assert_memory_equal(id.b, n.node->instance_id.b, PDB_ID_LEN);
    assert_int_equal(s_counter(&u.data, "wal_head"), 2);
    assert_int_equal(s_counter(&u.data, "wal_floor"), 1);
    assert_int_equal(s_counter(&u.data, "requests"), 7);
    assert_int_equal(s_counter(&u.data, "commits"), 3);
    assert_int_equal(s_counter(&u.data, "group_max"), 5);
    assert_int_equal(s_counter(&u.data, "failed"), 1);
    assert_int_equal(s_counter(&u.data, "conflicts"), 2);
    assert_int_equal(s_counter(&u.data, "applied"), 0);
    assert_int_equal(s_counter(&u.data, "writes"), 7);
    assert_int_equal(s_counter(&u.data, "run_us"), 160);
    assert_int_equal(s_counter(&u.data, "commit_us"), 20000501);
    //  [bound µs or nil, commits] per bucket: 250 µs holds the first, 500 µs
    //  the second, the unbounded last one the third.
    const msgpack_object *buckets = mpk_map_get(&u.data, "commit_buckets");
    assert_non_null(buckets);
    assert_int_equal(buckets->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(buckets->via.array.size, STORAGE_COMMIT_BOUNDS + 1);
    uint64_t expect[STORAGE_COMMIT_BOUNDS + 1] = { [0] = 1, [1] = 1, [STORAGE_COMMIT_BOUNDS] = 1 };
    for (uint32_t i = 0; i < buckets->via.array.size; i++) {
        const msgpack_object *pair = &buckets->via.array.ptr[i];
        assert_int_equal(pair->via.array.size, 2);
        uint64_t bound, count;
        if (i < STORAGE_COMMIT_BOUNDS) {
            assert_int_equal(mpk_get_u64(&pair->via.array.ptr[0], &bound), 0);
            assert_int_equal(bound, storage_commit_bound_us(i));
        }
        else
            assert_int_equal(pair->via.array.ptr[0].type, MSGPACK_OBJECT_NIL);
        assert_int_equal(mpk_get_u64(&pair->via.array.ptr[1], &count), 0);
        assert_int_equal(count, expect[i]);
    }
    assert_int_equal(storage_commit_bound_us(0), 250);
    assert_int_equal(storage_commit_bound_us(1), 500);
    msgpack_unpacked_destroy(&u);
    mpk_out_release(&out);
    fx_close(&n);
}

//  --------------------------------------------------------------------------
//  Writes

//  The [id, seq] result of a write or reinforce.
static void
s_id_seq(const mpk_out_t *out, pdb_id_t *id, uint64_t *seq)
{
    msgpack_unpacked u;
    assert_int_equal(mpk_parse(out->buf.data, out->buf.size, &u), 0);
    assert_int_equal(u.data.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(u.data.via.array.size, 2);
    assert_int_equal(mpk_get_id(&u.data.via.array.ptr[0], id), 0);
    assert_int_equal(mpk_get_u64(&u.data.via.array.ptr[1], seq), 0);
    msgpack_unpacked_destroy(&u);
}

//  "write" [entity, op, collective|nil, id|nil, bin(fields)].
static int
s_write(fx_node_t *n, uint64_t entity, uint64_t op, const pdb_id_t *coll, const pdb_id_t *id,
        const mpk_out_t *fields, pdb_id_t *id_out, uint64_t *seq_out, char why[PDB_ERRMSG_MAX])
{
    mpk_out_t args;
    mpk_out_init(&args);
    mpk_pack_array(&args.pk, 5);
    mpk_pack_u64(&args.pk, entity);
    mpk_pack_u64(&args.pk, op);
    if (coll) mpk_pack_id(&args.pk, coll); else mpk_pack_nil(&args.pk);
    if (id) mpk_pack_id(&args.pk, id); else mpk_pack_nil(&args.pk);
    mpk_pack_bin(&args.pk, fields->buf.data, fields->buf.size);
    mpk_out_t out;
    int rc = fx_handle(n, "write", &args, &out, NULL, why);
    if (rc == 0)
        s_id_seq(&out, id_out, seq_out);
    mpk_out_release(&out);
    mpk_out_release(&args);
    return rc;
}

static void
test_handler_write_answers_the_id_and_seq(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    char why[PDB_ERRMSG_MAX];
    mpk_out_t f;
    fx_fields_new(&f, 2);
    fx_kv_str(&f.pk, "name", "kb");
    fx_kv_u64(&f.pk, "embedding_dim", FX_DIM1);
    pdb_id_t coll;
    uint64_t seq;
    assert_int_equal(s_write(&n, ENT_COLLECTIVE, OP_CREATE, NULL, NULL, &f, &coll, &seq, why),
                     0);
    mpk_out_release(&f);
    assert_int_equal(seq, 1);
    fx_record_t r;
    fx_record_of(&n, &coll, &r);
    assert_true(fx_rec_str_is(&r, "name", "kb"));
    fx_record_free(&r);
    //  An update names the entity and leaves the collective out.
    fx_fields_new(&f, 1);
    fx_kv_str(&f.pk, "owner", "ann");
    pdb_id_t same;
    assert_int_equal(s_write(&n, ENT_COLLECTIVE, OP_UPDATE, NULL, &coll, &f, &same, &seq, why),
                     0);
    mpk_out_release(&f);
    assert_memory_equal(same.b, coll.b, PDB_ID_LEN);
    assert_int_equal(seq, 2);
    //  What local_write refuses comes back with its code and reason.
    fx_fields_new(&f, 2);
    fx_kv_str(&f.pk, "name", "kb");
    fx_kv_u64(&f.pk, "embedding_dim", FX_DIM1);
    assert_int_equal(s_write(&n, ENT_COLLECTIVE, OP_CREATE, NULL, NULL, &f, &same, &seq, why),
                     PDB_ECONFLICT);
    assert_non_null(strstr(why, "kb"));
    mpk_out_release(&f);
    assert_int_equal(fx_head(&n), 2);
    fx_close(&n);
}

static void
test_handler_write_refuses_bad_arguments(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    pdb_id_t coll = fx_new_collective(&n, FX_WALL, "kb", FX_DIM1);
    uint64_t head = fx_head(&n);
    mpk_out_t f;
    fx_fields_new(&f, 1);
    fx_kv_str(&f.pk, "owner", "ann");
    char why[PDB_ERRMSG_MAX];
    pdb_id_t id;
    uint64_t seq;
    //  Entity and op out of range (OP_STATE too: only sync carries states).
    const uint64_t bad[][2] = {
        { 99, OP_UPDATE }, { 1ull << 32, OP_UPDATE }, { ENT_COLLECTIVE, 99 },
        { ENT_COLLECTIVE, OP_STATE }, { ENT_COLLECTIVE, (1ull << 32) + OP_UPDATE },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(s_write(&n, bad[i][0], bad[i][1], NULL, &coll, &f, &id, &seq, why),
                         PDB_EINVAL);
        assert_non_null(strstr(why, "write takes [entity, op"));
    }
    //  Arguments of the wrong count or type.
    for (int shape = 0; shape < 4; shape++) {
        mpk_out_t args;
        mpk_out_init(&args);
        mpk_pack_array(&args.pk, shape == 0 ? 4 : 5);
        mpk_pack_u64(&args.pk, ENT_COLLECTIVE);
        mpk_pack_u64(&args.pk, OP_UPDATE);
        if (shape == 1) mpk_pack_str(&args.pk, "kb"); else mpk_pack_nil(&args.pk);
        if (shape == 2) mpk_pack_bin(&args.pk, "short", 5); else mpk_pack_id(&args.pk, &coll);
        if (shape == 3)
            mpk_pack_str(&args.pk, "not bin");
        else if (shape != 0)
            mpk_pack_bin(&args.pk, f.buf.data, f.buf.size);
        assert_int_equal(fx_handle(&n, "write", &args, NULL, NULL, why), PDB_EINVAL);
        assert_non_null(strstr(why, "write takes [entity, op"));
        mpk_out_release(&args);
    }
    mpk_out_release(&f);
    assert_int_equal(fx_head(&n), head);
    fx_close(&n);
}

static void
test_handler_reinforce_answers_the_id_and_seq(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    pdb_id_t coll = fx_new_collective(&n, FX_WALL, "kb", FX_DIM1);
    pdb_id_t exp = fx_new_experience(&n, FX_WALL, &coll, FX_DIM1, 1.0f);
    mpk_out_t args, out;
    mpk_out_init(&args);
    mpk_pack_array(&args.pk, 1);
    mpk_pack_id(&args.pk, &exp);
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(fx_handle(&n, "reinforce", &args, &out, NULL, why), 0);
    pdb_id_t id;
    uint64_t seq;
    s_id_seq(&out, &id, &seq);
    assert_memory_equal(id.b, exp.b, PDB_ID_LEN);
    assert_int_equal(seq, 3);
    assert_int_equal(fx_count_of(&n, &exp, &n.node->instance_id), 1);
    mpk_out_release(&out);
    mpk_out_release(&args);
    //  Not an id, two ids, and an id that is not an experience.
    for (int shape = 0; shape < 3; shape++) {
        mpk_out_init(&args);
        mpk_pack_array(&args.pk, shape == 1 ? 2 : 1);
        if (shape == 0)
            mpk_pack_str(&args.pk, "exp");
        else
            mpk_pack_id(&args.pk, shape == 2 ? &coll : &exp);
        if (shape == 1)
            mpk_pack_id(&args.pk, &exp);
        assert_int_equal(fx_handle(&n, "reinforce", &args, NULL, NULL, why),
                         shape == 2 ? PDB_ENOTFOUND : PDB_EINVAL);
        mpk_out_release(&args);
    }
    assert_int_equal(fx_head(&n), 3);
    fx_close(&n);
}

//  --------------------------------------------------------------------------
//  Routing

//  Every operation reaches its own module: empty arguments get that
//  module's own refusal, so a mix-up between two operations shows.
static void
test_handler_routes_each_operation_to_its_module(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    const struct { const char *op; int rc; const char *why; } cases[] = {
        { "write", PDB_EINVAL, "write takes" },
        { "reinforce", PDB_EINVAL, "reinforce takes" },
        { "apply", PDB_EINVAL, "apply takes" },
        { "peer_set", PDB_EINVAL, "peer_set takes" },
        { "peer_del", PDB_EINVAL, "peer_del takes" },
        { "install", PDB_EINVAL, "install takes" },
        { "compact", PDB_EINVAL, "compact takes" },
        { "purge", PDB_EINVAL, "purge takes" },
    };
    mpk_out_t empty;
    mpk_out_init(&empty);
    mpk_pack_array(&empty.pk, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char why[PDB_ERRMSG_MAX] = "";
        int rc = fx_handle(&n, cases[i].op, &empty, NULL, NULL, why);
        if (rc != cases[i].rc || strncmp(why, cases[i].why, strlen(cases[i].why)) != 0)
            fail_msg("%s: rc=%d why='%s'", cases[i].op, rc, why);
    }
    mpk_out_release(&empty);
    assert_int_equal(fx_head(&n), 0);
    assert_int_equal(fx_entries(&n, fx_store(&n)->peers), 0);
    fx_close(&n);
}

static void
test_handler_unknown_operation_is_a_protocol_error(void **state)
{
    (void) state;
    fx_node_t n;
    fx_open(&n);
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(fx_handle(&n, "drop", NULL, NULL, NULL, why), PDB_EPROTO);
    assert_string_equal(why, "unknown operation 'drop'");
    //  A prefix of a known name is not that name.
    assert_int_equal(fx_handle(&n, "pin", NULL, NULL, NULL, why), PDB_EPROTO);
    assert_int_equal(fx_handle(&n, "pingpong", NULL, NULL, NULL, why), PDB_EPROTO);
    //  A long name is quoted only in part.
    char op[48];
    memset(op, 'z', sizeof op - 1);
    op[sizeof op - 1] = '\0';
    assert_int_equal(fx_handle(&n, op, NULL, NULL, NULL, why), PDB_EPROTO);
    char want[64];
    snprintf(want, sizeof want, "unknown operation '%.32s'", op);
    assert_string_equal(why, want);
    fx_close(&n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handler_parse_reads_the_envelope),
        cmocka_unit_test(test_handler_parse_refuses_bad_envelopes),
        cmocka_unit_test(test_handler_ping_and_stats_are_reads),
        cmocka_unit_test(test_handler_write_answers_the_id_and_seq),
        cmocka_unit_test(test_handler_write_refuses_bad_arguments),
        cmocka_unit_test(test_handler_reinforce_answers_the_id_and_seq),
        cmocka_unit_test(test_handler_routes_each_operation_to_its_module),
        cmocka_unit_test(test_handler_unknown_operation_is_a_protocol_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
