/*  faultfs.c - an LD_PRELOAD library that makes the store's disk fail on
    demand, for the fault-injection tests (tests/integration/test_faults.py).

    It acts only on file descriptors of a file named data.mdb (the LMDB
    environment), and only while the file named by PDB_FAULTFS holds the
    matching word; the test rewrites that file while the process runs. Words:
      fdatasync, fsync, msync  that call fails with EIO
      pwrite                   every pwrite/pwritev/writev fails (EIO, or
                               ENOSPC when "enospc" is there too): LMDB's
                               page writes at a commit
      meta                     only writes through an O_DSYNC descriptor fail:
                               LMDB's meta page, the last step of a commit,
                               after which LMDB answers MDB_PANIC until the
                               environment is opened again
      hold                     fdatasync waits until "hold" is gone; the file
                               PDB_FAULTFS.held exists while it waits, so a
                               test knows a commit is in progress
      nested                   mdb_txn_begin of a nested transaction fails
                               with ENOMEM
    Every fdatasync/fsync of data.mdb that reaches the disk appends one byte
    to PDB_FAULTFS.syncs, so a test can count them.

    Without PDB_FAULTFS everything passes straight through.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE          // RTLD_NEXT
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define FAULTFS_CONTROL_MAX 256      // bytes of the control file read
#define FAULTFS_PATH_MAX 4096
#define FAULTFS_HOLD_POLL_NS (5 * 1000 * 1000)    // 5 ms between looks at "hold"
#define FAULTFS_FILE "/data.mdb"

//  The control file's words now ("" when there is none).
static void
s_control(char out[FAULTFS_CONTROL_MAX])
{
    out[0] = '\0';
    const char *path = getenv("PDB_FAULTFS");
    if (!path)
        return;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, out, FAULTFS_CONTROL_MAX - 1);
    close(fd);
    out[n > 0 ? n : 0] = '\0';
}

static bool
s_has(const char *control, const char *word)
{
    size_t len = strlen(word);
    for (const char *p = strstr(control, word); p; p = strstr(p + 1, word)) {
        bool starts = p == control || p[-1] == ' ' || p[-1] == '\n' || p[-1] == ',';
        char end = p[len];
        if (starts && (end == '\0' || end == ' ' || end == '\n' || end == ','))
            return true;
    }
    return false;
}

static bool
s_is_store(int fd)
{
    char link[64], path[FAULTFS_PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return false;
    path[n] = '\0';
    size_t tail = strlen(FAULTFS_FILE);
    return (size_t) n >= tail && strcmp(path + n - tail, FAULTFS_FILE) == 0;
}

//  Sibling file of the control file: PDB_FAULTFS + suffix.
static void
s_sibling(const char *suffix, char out[FAULTFS_PATH_MAX])
{
    const char *path = getenv("PDB_FAULTFS");
    snprintf(out, FAULTFS_PATH_MAX, "%s%s", path ? path : "", suffix);
}

static void
s_count_sync(void)
{
    char path[FAULTFS_PATH_MAX];
    s_sibling(".syncs", path);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    ssize_t ignored = write(fd, "s", 1);
    (void) ignored;
    close(fd);
}

static void
s_hold(void)
{
    char control[FAULTFS_CONTROL_MAX], path[FAULTFS_PATH_MAX];
    s_control(control);
    if (!s_has(control, "hold"))
        return;
    s_sibling(".held", path);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0)
        close(fd);
    const struct timespec pause = { 0, FAULTFS_HOLD_POLL_NS };
    do {
        nanosleep(&pause, NULL);
        s_control(control);
    } while (s_has(control, "hold"));
    unlink(path);
}

//  Returns the errno a call named `word` on fd must fail with, or 0.
static int
s_fault(int fd, const char *word)
{
    if (!getenv("PDB_FAULTFS") || !s_is_store(fd))
        return 0;
    char control[FAULTFS_CONTROL_MAX];
    s_control(control);
    if (strcmp(word, "pwrite") == 0 && s_has(control, "meta")
        && (fcntl(fd, F_GETFL) & O_DSYNC) == O_DSYNC)
        return EIO;
    if (!s_has(control, word))
        return 0;
    return strcmp(word, "pwrite") == 0 && s_has(control, "enospc") ? ENOSPC : EIO;
}

#define S_REAL(name) ((__typeof__(&name)) dlsym(RTLD_NEXT, #name))

static int
s_sync(int fd, const char *word, int (*real)(int))
{
    bool store = getenv("PDB_FAULTFS") && s_is_store(fd);
    if (store && strcmp(word, "fdatasync") == 0)
        s_hold();
    int err = s_fault(fd, word);
    if (err) {
        errno = err;
        return -1;
    }
    int rc = real(fd);
    if (store && rc == 0)
        s_count_sync();
    return rc;
}

int
fdatasync(int fd)
{
    return s_sync(fd, "fdatasync", S_REAL(fdatasync));
}

int
fsync(int fd)
{
    return s_sync(fd, "fsync", S_REAL(fsync));
}

int
msync(void *addr, size_t length, int flags)
{
    //  No descriptor to look at: only the environment's map is msync'ed here.
    char control[FAULTFS_CONTROL_MAX];
    s_control(control);
    if (s_has(control, "msync")) {
        errno = EIO;
        return -1;
    }
    return S_REAL(msync)(addr, length, flags);
}

ssize_t
pwrite(int fd, const void *buf, size_t count, off_t offset)
{
    int err = s_fault(fd, "pwrite");
    if (err) {
        errno = err;
        return -1;
    }
    return S_REAL(pwrite)(fd, buf, count, offset);
}

ssize_t
pwrite64(int fd, const void *buf, size_t count, off_t offset)
{
    return pwrite(fd, buf, count, offset);
}

ssize_t
pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
    int err = s_fault(fd, "pwrite");
    if (err) {
        errno = err;
        return -1;
    }
    return S_REAL(pwritev)(fd, iov, iovcnt, offset);
}

ssize_t
writev(int fd, const struct iovec *iov, int iovcnt)
{
    int err = s_fault(fd, "pwrite");
    if (err) {
        errno = err;
        return -1;
    }
    return S_REAL(writev)(fd, iov, iovcnt);
}

int
mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn)
{
    if (parent && getenv("PDB_FAULTFS")) {
        char control[FAULTFS_CONTROL_MAX];
        s_control(control);
        if (s_has(control, "nested")) {
            //  LMDB leaves *txn unset when it fails; a poison value makes a
            //  caller that uses it anyway crash every time, not by chance.
            *txn = (MDB_txn *) (uintptr_t) 0x1;
            return ENOMEM;
        }
    }
    return S_REAL(mdb_txn_begin)(env, parent, flags, txn);
}
