/*  test_node.c - opening a data folder: lock, instance id, schema, clock. */
#include "node.h"
#include "err.h"
#include "ingest.h"
#include "testkit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAP_SIZE (64ull << 20)

typedef struct {
    char root[TESTKIT_DIR_MAX];
    char dir[96];        // root/data: made by node_open
} s_fixture_t;

static int
s_setup(void **state)
{
    s_fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    testkit_mkdir(f->root, "node");
    snprintf(f->dir, sizeof f->dir, "%s/data", f->root);
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    s_fixture_t *f = *state;
    testkit_rmdir(f->dir);
    testkit_rmdir(f->root);
    free(f);
    return 0;
}

static store_meta_t
s_meta(node_t *node)
{
    store_meta_t m;
    MDB_txn *txn;
    assert_int_equal(store_read_begin(node->store, &txn), 0);
    assert_int_equal(store_meta_read(node->store, txn, &m), 0);
    mdb_txn_abort(txn);
    return m;
}

static void
s_meta_put(node_t *node, const char *name, const void *data, size_t len)
{
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(node->store->env, NULL, 0, &txn), 0);
    MDB_val key = { strlen(name), (void *) name }, val = { len, (void *) data };
    assert_int_equal(mdb_put(txn, node->store->meta, &key, &val, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

//  --------------------------------------------------------------------------

static void
test_node_open_creates_folder_and_instance_id(void **state)
{
    s_fixture_t *f = *state;
    node_t *node = NULL;
    assert_int_equal(node_open(f->dir, MAP_SIZE, &node), 0);
    assert_non_null(node);
    assert_int_equal(access(f->dir, F_OK), 0);
    assert_false(pdb_id_is_nil(&node->instance_id));
    assert_int_equal(node->instance_id.b[6] >> 4, 7);    // a UUIDv7
    store_meta_t m = s_meta(node);
    assert_memory_equal(m.instance_id.b, node->instance_id.b, PDB_ID_LEN);
    assert_int_equal(m.schema_version, STORE_SCHEMA_VERSION);
    assert_int_equal(m.wal_head, 0);
    assert_int_equal(m.wal_floor, 1);
    assert_int_equal(node->hlc.last, 0);
    node_destroy(&node);
    assert_null(node);
    node_destroy(&node);                 // second destroy is a no-op
    node_destroy(NULL);
}

static void
test_node_reopen_keeps_instance_id_and_schema(void **state)
{
    s_fixture_t *f = *state;
    node_t *node;
    assert_int_equal(node_open(f->dir, MAP_SIZE, &node), 0);
    pdb_id_t first = node->instance_id;
    node_destroy(&node);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(node_open(f->dir, MAP_SIZE, &node), 0);
        assert_memory_equal(node->instance_id.b, first.b, PDB_ID_LEN);
        assert_int_equal(s_meta(node).schema_version, STORE_SCHEMA_VERSION);
        node_destroy(&node);
    }
}

static void
test_node_two_folders_get_different_instance_ids(void **state)
{
    s_fixture_t *f = *state;
    char other[128];
    snprintf(other, sizeof other, "%s/other", f->root);
    node_t *a, *b;
    assert_int_equal(node_open(f->dir, MAP_SIZE, &a), 0);
    assert_int_equal(node_open(other, MAP_SIZE, &b), 0);
    assert_int_not_equal(pdb_id_cmp(&a->instance_id, &b->instance_id), 0);
    node_destroy(&a);
    node_destroy(&b);
    testkit_rmdir(other);
}

static void
test_node_second_open_of_same_folder_is_locked(void **state)
{
    s_fixture_t *f = *state;
    node_t *first, *second = NULL;
    assert_int_equal(node_open(f->dir, MAP_SIZE, &first), 0);
    //  flock belongs to the open file description: a second open of the
    //  lock file conflicts even inside one process.
    assert_int_equal(node_open(f->dir, MAP_SIZE, &second), PDB_ELOCKED);
    assert_null(second);
    //  The first is unharmed.
    assert_int_equal(s_meta(first).schema_version, STORE_SCHEMA_VERSION);
    node_destroy(&first);
    //  Released on close: the folder opens again.
    assert_int_equal(node_open(f->dir, MAP_SIZE, &second), 0);
    node_destroy(&second);
}

static void
test_node_open_is_locked_out_by_another_holder_of_the_lock(void **state)
{
    s_fixture_t *f = *state;
    node_t *node;
    assert_int_equal(node_open(f->dir, MAP_SIZE, &node), 0);
    node_destroy(&node);
    char path[160];
    snprintf(path, sizeof path, "%s/storage.lock", f->dir);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    assert_int_equal(node_open(f->dir, MAP_SIZE, &node), PDB_ELOCKED);
    close(fd);
    assert_int_equal(node_open(f->dir, MAP_SIZE, &node), 0);
    node_destroy(&node);
}

static void
test_node_refuses_unknown_schema_version(void **state)
{
    s_fixture_t *f = *state;
    node_t *node;
    assert_int_equal(node_open(f->dir, MAP_SIZE, &node), 0);
    uint32_t future = STORE_SCHEMA_VERSION + 1;
    s_meta_put(node, "schema_version", &future, sizeof future);
    node_destroy(&node);
    assert_int_equal(node_open(f->dir, MAP_SIZE, &node), PDB_ECORRUPT);
    assert_null(node);
    //  The failed open released the lock and the environment.
    assert_int_equal(node_open(f->dir, MAP_SIZE, &node), PDB_ECORRUPT);
}

static void
test_node_reopen_restores_clock_high_water(void **state)
{
    s_fixture_t *f = *state;
    node_t *node;
    assert_int_equal(node_open(f->dir, MAP_SIZE, &node), 0);
    node->hlc.last = (1700000000123ull << 16) | 5;
    ingest_t ingest = { .store = node->store, .self = node->instance_id, .hlc = &node->hlc };
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(node->store->env, NULL, 0, &txn), 0);
    assert_int_equal(ingest_save_clock(&ingest, txn), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    node_destroy(&node);
    assert_int_equal(node_open(f->dir, MAP_SIZE, &node), 0);
    assert_true(node->hlc.last == ((1700000000123ull << 16) | 5));
    //  So a stamp issued after a restart with a slow wall clock still wins.
    assert_true(hlc_tick(&node->hlc, 1) > ((1700000000123ull << 16) | 5));
    node_destroy(&node);
}

static void
test_node_open_fails_on_a_file_path(void **state)
{
    s_fixture_t *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/plainfile", f->root);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    node_t *node = NULL;
    //  The lock file cannot be made under a file.
    assert_int_equal(node_open(path, MAP_SIZE, &node), -ENOTDIR);
    assert_null(node);
    unlink(path);
}

//  (LMDB forbids opening one environment twice in a process, so the reader
//  opens after the node has closed.)
static void
test_store_readonly_open_sees_what_node_wrote(void **state)
{
    s_fixture_t *f = *state;
    store_t *reader = NULL;
    assert_int_equal(mkdir(f->dir, 0750), 0);
    assert_true(store_open(f->dir, true, 0, &reader) < 0);     // nothing there yet
    assert_null(reader);
    node_t *node;
    assert_int_equal(node_open(f->dir, MAP_SIZE, &node), 0);
    pdb_id_t id = node->instance_id;
    node_destroy(&node);
    assert_int_equal(store_open(f->dir, true, 0, &reader), 0);
    store_meta_t m;
    MDB_txn *txn;
    assert_int_equal(store_read_begin(reader, &txn), 0);
    assert_int_equal(store_meta_read(reader, txn, &m), 0);
    mdb_txn_abort(txn);
    assert_memory_equal(m.instance_id.b, id.b, PDB_ID_LEN);
    store_destroy(&reader);
    assert_null(reader);
    store_destroy(&reader);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_node_open_creates_folder_and_instance_id,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_node_reopen_keeps_instance_id_and_schema,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_node_two_folders_get_different_instance_ids,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_node_second_open_of_same_folder_is_locked,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_node_open_is_locked_out_by_another_holder_of_the_lock,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_node_refuses_unknown_schema_version,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_node_reopen_restores_clock_high_water,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_node_open_fails_on_a_file_path,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_store_readonly_open_sees_what_node_wrote,
                                        s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
