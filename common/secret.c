/*  secret.c - owner-only secret files and constant-time comparison.
*/
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *
s_stat_problem(const struct stat *st, bool owner_only)
{
    if (!S_ISREG(st->st_mode))
        return "is not a regular file";
    if (st->st_size > (off_t) SECRET_FILE_MAX)
        return "is larger than 1 MiB";
    if (owner_only && (st->st_mode & (S_IRWXG | S_IRWXO)))
        return "can be read or written by group or others (chmod 600 it)";
    return NULL;
}

int
secret_file_read(const char *path, char **text, char why[PDB_ERRMSG_MAX])
{
    return secret_file_read_mode(path, true, text, why);
}

int
secret_file_read_mode(const char *path, bool owner_only, char **text, char why[PDB_ERRMSG_MAX])
{
    *text = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    const char *problem = NULL;
    if (fd < 0 || fstat(fd, &st) != 0)
        problem = strerror(errno);
    else
        problem = s_stat_problem(&st, owner_only);
    char *buf = problem ? NULL : malloc((size_t) st.st_size + 1);
    if (!problem && !buf) {
        close(fd);
        return -ENOMEM;
    }
    if (!problem && read(fd, buf, (size_t) st.st_size) != (ssize_t) st.st_size)
        problem = "could not be read in full";
    if (fd >= 0)
        close(fd);
    if (problem) {
        free(buf);
        snprintf(why, PDB_ERRMSG_MAX, "%sfile %.200s %s", owner_only ? "secret " : "", path,
                 problem);
        return PDB_EINVAL;
    }
    buf[st.st_size] = '\0';
    *text = buf;
    return 0;
}

bool
secret_equal(const void *a, size_t a_len, const void *b, size_t b_len)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t diff = a_len != b_len;
    //  Walk all of b whatever a holds; a shorter a reads as zeros.
    for (size_t i = 0; i < b_len; i++)
        diff |= (uint8_t) ((i < a_len ? x[i] : 0) ^ y[i]);
    return diff == 0;
}
