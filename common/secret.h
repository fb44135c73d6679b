/*  secret.h - files that hold secrets (API tokens, keys): read only when no
    one but their owner can read them, and compared in constant time.

    A secret file that the group or others may read is refused: a token
    that other local users can read is not a secret, and failing loudly at
    start-up is the only moment the operator is sure to see it.
*/
#ifndef PDB_SECRET_H
#define PDB_SECRET_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>

#define SECRET_FILE_MAX (1u << 20)     // 1 MiB: thousands of tokens or keys

//  Reads the whole regular file at path (at most SECRET_FILE_MAX bytes),
//  NUL-terminated, into *text (caller frees with free()). Returns 0,
//  PDB_EINVAL with `why` naming the file and the problem (missing, not a
//  regular file, too large, readable by group or others), or -ENOMEM.
int secret_file_read(const char *path, char **text, char why[PDB_ERRMSG_MAX]);
//  The same for any file with owner_only false (a certificate, public).
int secret_file_read_mode(const char *path, bool owner_only, char **text,
                          char why[PDB_ERRMSG_MAX]);

//  True when a[0..a_len) equals b[0..b_len). Its time depends on b_len
//  only, never on where the bytes differ: pass the stored secret as b and
//  the caller's guess as a.
bool secret_equal(const void *a, size_t a_len, const void *b, size_t b_len);

#endif
