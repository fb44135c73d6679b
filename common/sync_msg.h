/*  sync_msg.h - the sync protocol's messages (docs/sync-protocol.md): one
    MessagePack array [version, op, body] per message, the same bytes over
    ZeroMQ and HTTP. Decoding is bounded and all-or-nothing.
*/
#ifndef PDB_SYNC_MSG_H
#define PDB_SYNC_MSG_H

#include "err.h"
#include "id.h"
#include "mpk.h"
#include "vv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SYNC_PROTOCOL_VERSION 2u
#define SYNC_FILTER_MAX 256u          // collectives in a filter
#define SYNC_VECTOR_MAX 4096u         // origins in a version vector
#define SYNC_WAIT_MAX_MS 30000u       // longest long poll
#define SYNC_TOKEN_MAX 256u
//  The syncer's local socket in the data folder, on which the gateways
//  relay HTTP peers' requests (docs/sync-protocol.md, "Transports").
#define SYNC_RELAY_SOCKET "sync-relay.sock"

typedef enum {
    SYNC_HELLO = 1, SYNC_PUSH, SYNC_PULL, SYNC_SNAPSHOT,
    SYNC_HELLO_OK, SYNC_PUSH_OK, SYNC_PULL_OK, SYNC_SNAPSHOT_OK,
    SYNC_ERROR,
} sync_op_t;

//  Error codes carried by SYNC_ERROR.
typedef enum {
    SYNC_ERR_PROTOCOL_VERSION = 1, SYNC_ERR_UNAUTHORIZED, SYNC_ERR_CURSOR_BELOW_FLOOR,
    SYNC_ERR_TOO_LARGE, SYNC_ERR_BAD_REQUEST, SYNC_ERR_BUSY, SYNC_ERR_INTERNAL,
    SYNC_ERR_FORBIDDEN,            // authenticated, but not allowed that direction or collective
} sync_err_t;

typedef struct {
    const uint8_t *data;      // one encoded change, borrowed from the message
    size_t len;
} sync_blob_t;

//  Every field of every message; which are meaningful depends on `op`.
//  Arrays are owned by the message (sync_msg_release); blobs and strings
//  borrow the decoded buffer, which must outlive the message.
typedef struct {
    sync_op_t op;
    pdb_id_t from;                 // instance / source / responder
    bool has_target;
    pdb_id_t target;
    // hello / hello_ok
    uint32_t protocol;
    bool accepted;
    const char *reason; size_t reason_len;
    const char *token; size_t token_len;
    uint64_t max_batch_bytes;
    uint64_t head, floor;
    vv_entry_t *vector; size_t vector_n;   // sorted by origin
    bool has_vector;
    // push / pull / snapshot
    sync_blob_t *changes; size_t changes_n;
    uint64_t cursor, max_changes, max_bytes, wait_ms;
    pdb_id_t *collectives; size_t collectives_n;
    bool filtered;                 // push: the sender left out other collectives
    // replies
    uint64_t accepted_n, stale_n, missing_n, safe_through;
    uint64_t next_cursor;
    bool has_more, done;
    const char *page_token; size_t page_token_len;
    uint64_t total, snapshot_seq;
    // error
    sync_err_t error;
    const char *detail; size_t detail_len;
} sync_msg_t;

//  Packs msg (only the fields its op uses).
void sync_msg_pack(msgpack_packer *pk, const sync_msg_t *msg);

//  Decodes data into msg. Returns 0, or PDB_EPROTO (unknown version: the
//  caller answers protocol_version), PDB_ETOOBIG, PDB_EINVAL with `why`.
//  On failure msg holds nothing to release.
int sync_msg_decode(const void *data, size_t len, sync_msg_t *msg, char why[PDB_ERRMSG_MAX]);

void sync_msg_release(sync_msg_t *msg);

const char *sync_msg_op_name(sync_op_t op);
const char *sync_msg_err_name(sync_err_t code);

#endif
