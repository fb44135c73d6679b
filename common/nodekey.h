/*  nodekey.h - a node's CURVE key pair for ZeroMQ sync, kept in its data
    folder, and peers' public keys.

    `pulsedb keygen` writes DATA/NODEKEY_FILE (the public certificate) and
    DATA/NODEKEY_FILE_secret (the secret one, owner-only) in CZMQ's zcert
    format. With a key pair, the syncer's sync socket is a CURVE server that
    admits only the public keys of configured peers, and it connects to
    peers with CURVE; without one, sync takes no credentials.

    storage/tcp, with a key pair, is CURVE too and admits the public
    certificates in DATA/storage-clients/ (keygen puts the node's own there):
    a gateway on another host connects with a copy of the node's key pair in
    its own data folder.

    Public keys travel as 40-character Z85 text; a public key is no secret.
*/
#ifndef PDB_NODEKEY_H
#define PDB_NODEKEY_H

#include "err.h"

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

#define NODEKEY_FILE "node.cert"
#define NODEKEY_CLIENTS_DIR "storage-clients"   // public certs storage/tcp admits
#define NODEKEY_TEXT_LEN 40          // Z85 of a 32-byte key

//  True when text (len bytes) is a Z85-encoded 32-byte key.
bool nodekey_text_valid(const char *text, size_t len);

//  True when DATA holds a secret key file (whatever its state).
bool nodekey_exists(const char *data_dir);

//  Makes a new key pair in data_dir (created if missing). Refuses to
//  replace an existing pair unless `force`: peers know the old public key.
//  Writes the public key's Z85 text into public_txt. Returns 0,
//  PDB_ECONFLICT when a pair exists, or a negative code with `why`.
int nodekey_generate(const char *data_dir, bool force,
                     char public_txt[NODEKEY_TEXT_LEN + 1], char why[PDB_ERRMSG_MAX]);

//  Loads the key pair. Returns 0 with *cert (caller frees with
//  zcert_destroy), PDB_ENOTFOUND when there is none, or PDB_EINVAL with
//  `why` (the secret file is readable by group or others, unreadable, or
//  not a key pair).
int nodekey_load(const char *data_dir, zcert_t **cert, char why[PDB_ERRMSG_MAX]);

#endif
