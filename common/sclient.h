/*  sclient.h - a client of the storage socket: one DEALER, one request in
    flight at a time. Not thread-safe: give each thread its own (or a pool).
*/
#ifndef PDB_SCLIENT_H
#define PDB_SCLIENT_H

#include "entity.h"
#include "err.h"
#include "id.h"
#include "mpk.h"

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sclient sclient_t;

#define SCLIENT_TIMEOUT_MS_DEFAULT 10000   // a group commit plus fsync, with slack
#define SCLIENT_CONNECT_WAIT_MS 1000       // how long a request waits for a connected storage

//  Connects to storage at endpoint ("ipc://DIR/storage.sock" or tcp://).
//  NULL on failure (reason logged). Caller frees with sclient_destroy.
sclient_t *sclient_new(const char *endpoint, int timeout_ms);
//  The same over CURVE with the node's key pair (borrowed; it must outlive
//  the client), for storage/tcp on another host (nodekey.h). NULL cert:
//  as sclient_new.
sclient_t *sclient_new_keyed(const char *endpoint, int timeout_ms, zcert_t *cert);
void sclient_destroy(sclient_t **self_p);

//  Sends op with its args (a packed MessagePack array, or NULL) and waits for
//  the reply. On rc 0, *result/*result_len hold the packed result (caller
//  frees *result with free(); NULL for nil). On failure returns storage's
//  code with `why` holding its message, or PDB_EUNAVAIL on timeout.
int sclient_call(sclient_t *self, const char *op, const void *args, size_t args_len,
                 void **result, size_t *result_len, char why[PDB_ERRMSG_MAX]);

//  Asynchronous use, for a caller that must keep serving others while
//  storage works (a client used this way is never given to sclient_call,
//  which drops replies it did not ask for):
//  sclient_send sends op without waiting; *request_id names its reply. It
//  never blocks: with no storage connected it returns PDB_EUNAVAIL at once.
int sclient_send(sclient_t *self, const char *op, const void *args, size_t args_len,
                 uint64_t *request_id, char why[PDB_ERRMSG_MAX]);
//  Takes one reply waiting on the socket, without blocking: *request_id,
//  *reply_rc (storage's code, `why` its message) and, on *reply_rc 0, the
//  packed result as sclient_call gives it (caller frees; NULL for nil).
//  Returns 0, -EAGAIN when no reply is waiting, or PDB_EPROTO for a reply
//  that does not decode (dropped).
int sclient_recv(sclient_t *self, uint64_t *request_id, int *reply_rc, void **result,
                 size_t *result_len, char why[PDB_ERRMSG_MAX]);
//  The socket to poll for replies (readable: sclient_recv has one).
zsock_t *sclient_socket(sclient_t *self);
//  True when storage went away since the last call (never blocks): the
//  requests it had not answered are lost with the connection and will get
//  no reply.
bool sclient_lost(sclient_t *self);

//  Convenience for "write": fields is a packed map. id_out gets the entity
//  id (new for creates); seq_out the WAL sequence. Either may be NULL.
int sclient_write(sclient_t *self, ent_type_t entity, change_op_t op,
                  const pdb_id_t *collective_id, const pdb_id_t *entity_id,
                  const void *fields, size_t fields_len,
                  pdb_id_t *id_out, uint64_t *seq_out, char why[PDB_ERRMSG_MAX]);

//  The parts of a call, for a caller that carries requests its own way (the
//  gateway's smux.h):
//  A DEALER connected to storage as every client's is (ZMQ_IMMEDIATE: a
//  request is queued only to a live storage; no linger). NULL on failure.
zsock_t *sclient_connect(const char *endpoint, zcert_t *cert);
//  The args of a "write" (record: a create asking for its record back) and
//  of a "reinforce", into args (initialised by the caller).
void sclient_pack_write(mpk_out_t *args, ent_type_t entity, change_op_t op,
                        const pdb_id_t *collective_id, const pdb_id_t *entity_id,
                        const void *fields, size_t fields_len, bool record);
void sclient_pack_reinforce(mpk_out_t *args, const pdb_id_t *experience_id);
//  The result of a "write" or "reinforce" from its decoded reply
//  [request_id, rc, message, result]: ids as sclient_write gives them, and
//  with record not NULL (a create that asked for it) the record too, a copy
//  (caller frees).
int sclient_read_id_seq(const msgpack_object *reply, pdb_id_t *id_out, uint64_t *seq_out,
                        void **record, size_t *record_len, char why[PDB_ERRMSG_MAX]);
//  Storage's code and message (into why) of a decoded reply; *result
//  points to its result (inside reply) when the code is 0.
int sclient_read_reply(const msgpack_object *reply, const msgpack_object **result,
                       char why[PDB_ERRMSG_MAX]);

#endif
