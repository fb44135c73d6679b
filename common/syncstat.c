#include "syncstat.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYNCSTAT_PATH_MAX 4200

static int
s_path(const char *data_dir, const char *name, char *out, size_t len)
{
    int n = snprintf(out, len, "%s/%s", data_dir, name);
    return n < 0 || (size_t) n >= len ? -ENAMETOOLONG : 0;
}

static int
s_write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

int
syncstat_write(const char *data_dir, const void *data, size_t len)
{
    if (len > SYNCSTAT_MAX_BYTES)
        return PDB_ETOOBIG;
    char path[SYNCSTAT_PATH_MAX], tmp[SYNCSTAT_PATH_MAX], name[64];
    //  One temporary name per process: two writers never share a file.
    snprintf(name, sizeof name, ".%s.%ld.tmp", SYNCSTAT_FILE, (long) getpid());
    int rc = s_path(data_dir, SYNCSTAT_FILE, path, sizeof path);
    if (!rc)
        rc = s_path(data_dir, name, tmp, sizeof tmp);
    if (rc)
        return rc;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    //  No fsync, on purpose: the status is volatile (see the header).
    rc = s_write_all(fd, data, len);
    if (close(fd) != 0 && !rc)
        rc = -errno;
    if (!rc && rename(tmp, path) != 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
    return rc;
}

int
syncstat_read(const char *data_dir, void **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    char path[SYNCSTAT_PATH_MAX];
    int rc = s_path(data_dir, SYNCSTAT_FILE, path, sizeof path);
    if (rc)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? PDB_ENOTFOUND : -errno;
    struct stat st;
    rc = fstat(fd, &st) == 0 ? 0 : -errno;
    if (!rc && (st.st_size < 0 || (uint64_t) st.st_size > SYNCSTAT_MAX_BYTES))
        rc = PDB_ETOOBIG;
    size_t size = rc ? 0 : (size_t) st.st_size;
    unsigned char *buf = rc ? NULL : malloc(size ? size : 1);
    if (!rc && !buf)
        rc = -ENOMEM;
    size_t got = 0;
    while (!rc && got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            rc = n < 0 ? -errno : -EIO;     // shorter than fstat said: a torn file
        else
            got += (size_t) n;
    }
    close(fd);
    if (rc) {
        free(buf);
        return rc;
    }
    *data = buf;
    *len = size;
    return 0;
}

int
syncstat_remove(const char *data_dir)
{
    char path[SYNCSTAT_PATH_MAX];
    int rc = s_path(data_dir, SYNCSTAT_FILE, path, sizeof path);
    if (rc)
        return rc;
    return unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
}
