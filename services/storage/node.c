#include "node.h"
#include "clock.h"
#include "err.h"
#include "log.h"
#include "store_db.h"
#include "vecstore.h"
#include "wal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define NODE_LOCK_FILE "storage.lock"

static int
s_lock(const char *dir, int *fd_out)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, NODE_LOCK_FILE) >= (int) sizeof path)
        return -ENAMETOOLONG;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    //  flock is released by the kernel when the process dies, so a crashed
    //  storage never leaves the folder locked.
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        close(fd);
        return err == EWOULDBLOCK ? PDB_ELOCKED : -err;
    }
    *fd_out = fd;
    return 0;
}

static int
s_meta_put(store_t *store, MDB_txn *txn, const char *name, const void *data, size_t len)
{
    MDB_val key = { strlen(name), (void *) name }, val = { len, (void *) data };
    return pdb_from_mdb(mdb_put(txn, store->meta, &key, &val, 0));
}

//  First start: a new instance id, schema version and clock.
static int
s_init_meta(node_t *self, MDB_txn *txn)
{
    int rc = pdb_id_new(&self->instance_id, clock_wall_ms());
    uint32_t schema = STORE_SCHEMA_VERSION;
    uint64_t zero = 0;
    if (!rc) rc = s_meta_put(self->store, txn, STORE_META_INSTANCE_ID, self->instance_id.b,
                             PDB_ID_LEN);
    if (!rc) rc = s_meta_put(self->store, txn, STORE_META_SCHEMA, &schema, sizeof schema);
    if (!rc) rc = s_meta_put(self->store, txn, STORE_META_HLC, &zero, sizeof zero);
    if (!rc) rc = wal_init(self->store, txn);
    return rc;
}

//  What tells this data file from a copy of it: inode number and birth
//  time. A backup restored with cp, rsync, tar or mdb_copy is a new file
//  even where the freed inode number is reused; a restart or a rename of
//  the folder keeps both.
typedef struct {
    uint64_t ino;
    int64_t born_sec;
    uint32_t born_nsec;
    uint32_t reserved;
} s_file_id_t;

static int
s_file_id(const char *data_dir, s_file_id_t *out)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/data.mdb", data_dir) >= (int) sizeof path)
        return -ENAMETOOLONG;
    struct statx sx;
    if (statx(AT_FDCWD, path, 0, STATX_INO | STATX_BTIME, &sx) != 0)
        return -errno;
    memset(out, 0, sizeof *out);
    out->ino = sx.stx_ino;
    if (sx.stx_mask & STATX_BTIME) {         // not every file system keeps it
        out->born_sec = sx.stx_btime.tv_sec;
        out->born_nsec = sx.stx_btime.tv_nsec;
    }
    return 0;
}

//  A node restored from a copy of its folder must not write as the
//  instance it was copied from: that instance went on writing after the
//  copy, so peers already hold its later sequence numbers and would take
//  the restored node's new writes for changes they have. A new instance id
//  makes peers treat it as a replaced node (docs/sync-protocol.md,
//  "Identity"); its vector still says what it holds of the old one.
static int
s_check_copied(node_t *self, MDB_txn *txn, bool fresh)
{
    s_file_id_t now;
    int rc = s_file_id(self->data_dir, &now);
    if (rc)
        return rc;
    s_file_id_t was;
    rc = store_meta_get(self->store, txn, STORE_META_DATA_FILE, &was, sizeof was);
    if (rc && rc != PDB_ENOTFOUND && rc != PDB_ECORRUPT)
        return rc;
    bool known = rc != PDB_ENOTFOUND;
    if (rc == 0 && memcmp(&was, &now, sizeof now) == 0)
        return 0;                            // the same file as last time
    if (known && !fresh) {
        char was[PDB_ID_STR_LEN + 1], is[PDB_ID_STR_LEN + 1];
        pdb_id_format(&self->instance_id, was);
        rc = pdb_id_new(&self->instance_id, clock_wall_ms());
        if (!rc)
            rc = s_meta_put(self->store, txn, STORE_META_INSTANCE_ID, self->instance_id.b,
                            PDB_ID_LEN);
        //  The index of own changes was the old instance's: its changes are
        //  a third origin's now, and the new one numbers from 1.
        if (!rc)
            rc = pdb_from_mdb(mdb_drop(txn, self->store->own_changes, 0));
        if (rc)
            return rc;
        pdb_id_format(&self->instance_id, is);
        log_w("storage", "data file is a copy (restored from a backup, or moved to another "
              "disk): new instance id was=%s now=%s; peers resync with it", was, is);
    }
    return s_meta_put(self->store, txn, STORE_META_DATA_FILE, &now, sizeof now);
}

static int
s_load_meta(node_t *self)
{
    MDB_txn *txn;
    int rc = pdb_from_mdb(mdb_txn_begin(self->store->env, NULL, 0, &txn));
    if (rc)
        return rc;
    store_meta_t meta;
    rc = store_meta_read(self->store, txn, &meta);
    bool fresh = rc == PDB_ENOTFOUND;
    if (fresh) {
        rc = s_init_meta(self, txn);
        if (!rc)
            rc = store_meta_read(self->store, txn, &meta);
    }
    //  Schema 1 is moved to 2 by vecstore_ensure, next in node_open.
    if (!rc && meta.schema_version != STORE_SCHEMA_VERSION
        && meta.schema_version != STORE_SCHEMA_EMBEDDINGS_DB) {
        log_e("storage", "unsupported schema version=%u expected=%u",
              meta.schema_version, STORE_SCHEMA_VERSION);
        rc = PDB_ECORRUPT;
    }
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    self->instance_id = meta.instance_id;
    self->hlc.last = meta.hlc;
    rc = s_check_copied(self, txn, fresh);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return pdb_from_mdb(mdb_txn_commit(txn));
}

int
node_open(const char *data_dir, uint64_t map_size, node_t **out)
{
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST)
        return -errno;
    node_t *self = calloc(1, sizeof *self);
    if (!self)
        return -ENOMEM;
    self->lock_fd = -1;
    self->data_dir = strdup(data_dir);
    int rc = self->data_dir ? s_lock(data_dir, &self->lock_fd) : -ENOMEM;
    if (!rc)
        rc = store_open(data_dir, false, map_size, &self->store);
    if (!rc)
        rc = s_load_meta(self);
    if (!rc)
        rc = vecstore_ensure(self->store);
    if (rc) {
        node_destroy(&self);
        return rc;
    }
    *out = self;
    return 0;
}

void
node_destroy(node_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    node_t *self = *self_p;
    store_destroy(&self->store);
    if (self->lock_fd >= 0)
        close(self->lock_fd);
    free(self->data_dir);
    free(self);
    *self_p = NULL;
}
