#include "testkit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
testkit_mkdir(char dir[TESTKIT_DIR_MAX], const char *tag)
{
    int n = snprintf(dir, TESTKIT_DIR_MAX, "/tmp/pdb_test_%s_XXXXXX", tag);
    assert_true(n > 0 && n < TESTKIT_DIR_MAX);
    assert_non_null(mkdtemp(dir));
}

void
testkit_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

pdb_id_t
testkit_id(uint8_t fill)
{
    pdb_id_t id;
    memset(id.b, fill, sizeof id.b);
    return id;
}

void *
testkit_wal_entry(store_t *store, uint64_t seq, change_t *out, size_t *len)
{
    MDB_txn *txn;
    assert_int_equal(store_read_begin(store, &txn), 0);
    uint8_t k[8];
    store_key_seq(k, seq);
    MDB_val key = { sizeof k, k }, val;
    assert_int_equal(mdb_get(txn, store->wal, &key, &val), 0);
    void *copy = malloc(val.mv_size);
    assert_non_null(copy);
    memcpy(copy, val.mv_data, val.mv_size);
    mdb_txn_abort(txn);
    assert_int_equal(change_decode(copy, val.mv_size, out), 0);
    if (len)
        *len = val.mv_size;
    return copy;
}
