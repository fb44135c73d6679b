/*  conn.h - one direction's session with a peer: its link, its storage
    client, the peer's hello, and the identity rules of the protocol.

    Hello names the instance the peer's row is bound to (its "target"); the
    reply names the responder. First contact binds the row to it. A
    different responder means the peer was replaced (restored backup, wiped
    folder): nothing is applied from it, the row is reset (cursors from
    zero) and re-bound, and the sibling direction notices through the
    peer's generation and says hello again. A second identity change within
    one cycle (before any exchange succeeded) is an error, not a loop.
    The row also records the collective filter its cursors were built
    under; a peer whose filter was widened or removed since gets its row
    reset the same way at hello (the cursors never covered the rest).
*/
#ifndef PDB_SYNCER_CONN_H
#define PDB_SYNCER_CONN_H

#include "link.h"
#include "peer.h"
#include "sclient.h"
#include "synctx.h"
#include "vv.h"

#include <stdbool.h>
#include <stdint.h>

#define CONN_HELLO_TIMEOUT_MS 10000
#define CONN_REHELLO_MS 30000        // a fresh hello refreshes the peer's vector and limits
//  Room for the push envelope (ids, keys, array headers) next to the changes.
#define CONN_ENVELOPE_BYTES 4096u

typedef struct {
    const synctx_t *ctx;
    peer_t *peer;                    // borrowed
    peer_dir_t dir;
    link_t *link;
    sclient_t *storage;
    link_cancel_t *cancel;           // borrowed
    bool ready;                      // hello done for the current generation
    unsigned generation;
    unsigned ident_changes;          // identity changes since the last good exchange
    uint64_t hello_mono_ms;
    // from the last hello
    pdb_id_t responder;
    uint64_t head, floor, max_batch_bytes;
    vv_t vector;                     // owned
    bool peer_has_news;              // its vector holds changes ours lacks
    bool self_empty;                 // this node had applied and written nothing
    bool rollback_warned;            // it holds more of our own changes than we do
} conn_t;

//  Connects. Returns 0 or PDB_EUNAVAIL / -ENOMEM (why filled).
int conn_init(conn_t *self, const synctx_t *ctx, peer_t *peer, peer_dir_t dir,
              link_cancel_t *cancel, char why[PDB_ERRMSG_MAX]);
void conn_release(conn_t *self);

//  True when a hello is due: never done, the sibling reset the identity,
//  or the last one is older than CONN_REHELLO_MS.
bool conn_needs_hello(const conn_t *self);

//  Runs hello and the identity rules. Returns 0, or a code with why.
int conn_hello(conn_t *self, char why[PDB_ERRMSG_MAX]);

//  Sends req and expects a reply of op `expect` from the bound responder.
//  Returns 0 with *reply filled (release it), or a code with why. An error
//  reply returns PDB_EPROTO with *remote set to its code (0 otherwise); a
//  reply from another responder returns PDB_ECONFLICT and forces a hello.
int conn_request(conn_t *self, const sync_msg_t *req, int timeout_ms, sync_op_t expect,
                 link_reply_t *reply, sync_err_t *remote, char why[PDB_ERRMSG_MAX]);

//  conn_request in two halves (link_send, link_receive): conn_send sends
//  req; conn_receive waits for its reply (op: the request's operation) and
//  checks it as conn_request does. conn_abandon drops a request in flight.
int conn_send(conn_t *self, const sync_msg_t *req, char why[PDB_ERRMSG_MAX]);
int conn_receive(conn_t *self, sync_op_t op, int timeout_ms, sync_op_t expect,
                 link_reply_t *reply, sync_err_t *remote, char why[PDB_ERRMSG_MAX]);
void conn_abandon(conn_t *self);

//  A good exchange: the cycle of identity changes starts over.
void conn_exchange_ok(conn_t *self);

//  Reads a number field of the peer's row (a cursor, a mark; 0 when absent).
int conn_row_u64(conn_t *self, const char *field, uint64_t *out);

#endif
