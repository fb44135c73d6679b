/*  server.h - storage's sockets and its group commit loop.

    ROUTER on ipc://DATA/storage.sock (and tcp when configured) takes
    requests; PUB on ipc://DATA/storage-events.sock announces "wal <seq>"
    after each commit that advanced the log. Every request waiting on the
    socket (up to a count and a byte bound) goes into one write transaction
    and one fsync; each request runs in its own nested transaction, so one
    that fails is rolled back alone. Replies leave only after the commit is
    durable; when the commit fails, every write of the group is answered
    with an error, and when the store itself failed the server stops
    (server_run) so that a restart opens the environment afresh.
*/
#ifndef PDB_SERVER_H
#define PDB_SERVER_H

#include "apply.h"
#include "node.h"
#include "nodekey.h"

#include <czmq.h>
#include <signal.h>
#include <stddef.h>

#define SERVER_CLIENTS_DIR NODEKEY_CLIENTS_DIR    // public certs admitted on storage/tcp

typedef struct {
    const char *tcp_endpoint;       // extra endpoint, or "" / NULL for ipc only
    zcert_t *cert;                  // the node's key pair: CURVE on tcp (borrowed), or NULL
    unsigned max_requests;          // requests in one group commit
    size_t max_bytes;               // request bytes in one group commit
    merge_policy_t policy;          // how peers' writes meet this node's
    const apply_override_t *overrides;   // per-collective policies (borrowed)
    size_t overrides_n;
} server_opts_t;

typedef struct server server_t;

//  "ipc://" + the real path of dir + "/" + name into out, with a stale
//  socket of a crashed storage removed (the caller holds the folder's
//  lock). Returns 0, -ENAMETOOLONG (beyond a Unix socket path) or -errno.
int server_ipc_endpoint(const char *dir, const char *name, char *out, size_t len);

//  Binds the sockets. NULL on failure (reason logged). Caller frees with
//  server_destroy; the node must outlive the server.
server_t *server_new(node_t *node, const server_opts_t *opts);
void server_destroy(server_t **self_p);

//  Serves until *stop becomes non-zero, or until the store fails (a write
//  or fsync error at a commit, MDB_PANIC): then every write of that group
//  has been answered with an error and the environment cannot be trusted,
//  so the process must exit and be restarted. Returns the process's exit
//  code (common/service.h): SERVICE_EXIT_OK after a stop, SERVICE_EXIT_STORE
//  after a store fault, SERVICE_EXIT_FAIL when the socket failed.
int server_run(server_t *self, volatile sig_atomic_t *stop);

#endif
