/*  serve.h - the sync server: a ROUTER on sync/bind answering hello, push,
    pull and snapshot (docs/sync-protocol.md) on the main thread.

    hello     instance id, WAL head/floor, vector, max_batch_bytes.
    push      checked (target is this node, seqs strictly increase), handed
              to storage "apply" with no peer cursor, without waiting: the
              loop goes on serving others while storage applies and fsyncs,
              and the reply, sent when storage answers (serve_on_storage),
              counts accepted/stale/missing and says safe_through (ack.h).
    pull      a page of the WAL (page.h) after the caller's cursor, skipping
              what its vector covers and what its filter excludes; when
              nothing is new and wait_ms > 0 the request is parked, not
              blocking anyone, and answered on the next "wal" event that
              brings something, or empty when the wait ends.
    snapshot  pages of one consistent read transaction per session
              (snapshot_session.h).
    Every pull and snapshot records the caller's position (inbound.h).
    Bad input gets an error reply (bad_request, protocol_version, too_large,
    cursor_below_floor, busy, internal) and changes nothing.
*/
#ifndef PDB_SYNCER_SERVE_H
#define PDB_SYNCER_SERVE_H

#include "bounds.h"
#include "sclient.h"
#include "synctx.h"
#include "cfg.h"

#include <czmq.h>
#include <stdint.h>

#define SERVE_MAX_BATCH_BYTES (PDB_MSG_MAX - (64u << 10))  // our push limit: a frame, less the envelope
#define SERVE_PARKED_MAX 1024      // long polls held at once; more are answered at once
#define SERVE_BURST 256            // requests handled per wake-up before timers run
#define SERVE_PUSHES_MAX 64        // pushes waiting for storage at once; more are told "busy"
//  How long a push waits for storage before its sender is told "busy":
//  under the sender's own PUSH_TIMEOUT_MS (60 s), so it hears why.
#define SERVE_APPLY_TIMEOUT_MS 30000

typedef struct serve serve_t;

//  Binds `bind` (sync/bind; "" for none) for ZeroMQ peers, as a CURVE
//  server when ctx has a key pair, and `relay` (ipc://DATA/sync-relay.sock,
//  owner-only) for the gateways' HTTP peers, having read the peers
//  (serve_peers; config is the configuration's). ctx and storage (the main
//  thread's client) are borrowed and must outlive the server. NULL on
//  failure, reason logged.
serve_t *serve_new(const synctx_t *ctx, sclient_t *storage, const char *bind,
                   const char *relay, const peerspec_t *config, size_t config_n);
//  Answers parked pulls (empty) and waiting pushes (busy), ends snapshot
//  sessions, writes pending inbound rows, closes the socket.
void serve_destroy(serve_t **self_p);

//  The two sockets to poll, and what to call when one is readable.
zsock_t *serve_socket(serve_t *self);
zsock_t *serve_relay_socket(serve_t *self);
void serve_handle(serve_t *self, zsock_t *which);

//  Re-reads the peers (configuration and database) that authenticated
//  callers are held to and, with CURVE, whose keys are admitted. Returns 0
//  or a store error / -ENOMEM (the previous peers stay).
int serve_peers(serve_t *self, const peerspec_t *config, size_t config_n);

//  Connections refused for an unknown key since start (CURVE only).
void serve_refusals(serve_t *self, uint64_t *count, uint64_t *last_ms, char *last_key,
                    size_t key_len, char *last_address, size_t address_len);

//  The socket on which storage answers pushes, and what to call when it is
//  readable: the answered pushes get their replies.
zsock_t *serve_storage_socket(serve_t *self);
void serve_on_storage(serve_t *self);

//  Storage appended to the WAL: parked pulls look again.
void serve_on_wal(serve_t *self);

//  Timers: parked pulls whose wait ended, pushes storage did not answer in
//  time, idle snapshot sessions, inbound rows. Returns milliseconds until
//  the next deadline (or 1000).
uint64_t serve_tick(serve_t *self);

#endif
