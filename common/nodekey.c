/*  nodekey.c - the node's CURVE key pair files and Z85 key checks.
*/
#include "nodekey.h"
#include "secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NODEKEY_PATH_MAX 4096

bool
nodekey_text_valid(const char *text, size_t len)
{
    if (len != NODEKEY_TEXT_LEN)
        return false;
    char z85[NODEKEY_TEXT_LEN + 1];
    uint8_t key[32];
    memcpy(z85, text, len);
    z85[len] = '\0';
    //  zmq_z85_decode checks the alphabet; every 5 characters make 4 bytes.
    return zmq_z85_decode(key, z85) != NULL;
}

static int
s_paths(const char *data_dir, char *pub, char *sec)
{
    int n = snprintf(pub, NODEKEY_PATH_MAX, "%s/%s", data_dir, NODEKEY_FILE);
    int m = snprintf(sec, NODEKEY_PATH_MAX, "%s/%s_secret", data_dir, NODEKEY_FILE);
    return n < 0 || m < 0 || n >= NODEKEY_PATH_MAX || m >= NODEKEY_PATH_MAX ? -ENAMETOOLONG : 0;
}

bool
nodekey_exists(const char *data_dir)
{
    char pub[NODEKEY_PATH_MAX], sec[NODEKEY_PATH_MAX];
    return s_paths(data_dir, pub, sec) == 0 && access(sec, F_OK) == 0;
}

int
nodekey_generate(const char *data_dir, bool force, char public_txt[NODEKEY_TEXT_LEN + 1],
                 char why[PDB_ERRMSG_MAX])
{
    char pub[NODEKEY_PATH_MAX], sec[NODEKEY_PATH_MAX];
    if (s_paths(data_dir, pub, sec)) {
        snprintf(why, PDB_ERRMSG_MAX, "data folder path too long");
        return -ENAMETOOLONG;
    }
    if (!force && access(sec, F_OK) == 0) {
        snprintf(why, PDB_ERRMSG_MAX, "%.120s already holds a key pair (peers know its "
                 "public key; --force replaces it)", data_dir);
        return PDB_ECONFLICT;
    }
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(why, PDB_ERRMSG_MAX, "cannot create %.120s: %s", data_dir, strerror(errno));
        return -errno;
    }
    zcert_t *cert = zcert_new();
    if (!cert)
        return -ENOMEM;
    //  The secret file must never exist readable by others, not even for a moment.
    mode_t old = umask(077);
    unlink(sec);
    int rc = zcert_save(cert, pub);
    umask(old);
    if (rc == 0 && chmod(pub, 0644) != 0)
        rc = -1;
    //  The node's own processes on other hosts use a copy of its key pair:
    //  storage admits it on storage/tcp (services/storage/server.h).
    char clients[NODEKEY_PATH_MAX];
    snprintf(clients, sizeof clients, "%s/%s", data_dir, NODEKEY_CLIENTS_DIR);
    if (rc == 0 && mkdir(clients, 0700) != 0 && errno != EEXIST)
        rc = -1;
    if (rc == 0) {
        strncat(clients, "/" NODEKEY_FILE, sizeof clients - strlen(clients) - 1);
        rc = zcert_save_public(cert, clients);
    }
    if (rc == 0)
        snprintf(public_txt, NODEKEY_TEXT_LEN + 1, "%s", zcert_public_txt(cert));
    else
        snprintf(why, PDB_ERRMSG_MAX, "cannot write %.120s: %s", pub, strerror(errno));
    zcert_destroy(&cert);
    return rc == 0 ? 0 : -EIO;
}

int
nodekey_load(const char *data_dir, zcert_t **cert, char why[PDB_ERRMSG_MAX])
{
    *cert = NULL;
    char pub[NODEKEY_PATH_MAX], sec[NODEKEY_PATH_MAX];
    if (s_paths(data_dir, pub, sec) || access(sec, F_OK) != 0)
        return PDB_ENOTFOUND;
    //  Checks ownership and mode the same way as every secret file.
    char *text = NULL;
    int rc = secret_file_read(sec, &text, why);
    if (text) {
        memset(text, 0, strlen(text));
        free(text);
    }
    if (rc)
        return rc == -ENOMEM ? rc : PDB_EINVAL;
    *cert = zcert_load(pub);
    if (!*cert || !zcert_secret_txt(*cert) || strlen(zcert_secret_txt(*cert)) != NODEKEY_TEXT_LEN
        || strspn(zcert_secret_txt(*cert), "0") == NODEKEY_TEXT_LEN) {
        zcert_destroy(cert);
        snprintf(why, PDB_ERRMSG_MAX, "%.120s is not a CURVE key pair (make one with "
                 "pulsedb keygen)", sec);
        return PDB_EINVAL;
    }
    return 0;
}
