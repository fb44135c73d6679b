/*  smux.h - the gateway's writes to storage, multiplexed: every worker's
    write goes through one DEALER, and the writes that arrive while storage
    works on the last message leave together as the next one (sproto.h: up
    to SPROTO_FRAMES_MAX requests per message, answered in one). Storage
    then takes a burst of writes as one message instead of one per worker,
    and neither process moves each write across threads and sockets on its
    own: at 64 clients that was most of what a write cost beyond its work.

    There is no thread: the caller whose turn it is sends and receives for
    all and passes the turn on when its own reply is in. Callers block until
    their reply, their timeout (from the call) or a lost storage, as with
    sclient; the calls are thread-safe. Codes and `why` as sclient's.
*/
#ifndef GW_SMUX_H
#define GW_SMUX_H

#include "sclient.h"

typedef struct smux smux_t;

//  Connects to storage at endpoint (CURVE with cert when not NULL:
//  borrowed, must outlive the mux). timeout_ms bounds each call. NULL on failure (reason logged).
smux_t *smux_new(const char *endpoint, int timeout_ms, zcert_t *cert);
//  Only once no call is running.
void smux_destroy(smux_t **self_p);

//  Requests sent to storage so far, and the messages that carried them
//  (fewer when requests arrive together). Thread-safe.
void smux_counts(smux_t *self, uint64_t *requests, uint64_t *messages);

//  As sclient_write.
int smux_write(smux_t *self, ent_type_t entity, change_op_t op, const pdb_id_t *collective_id,
               const pdb_id_t *entity_id, const void *fields, size_t fields_len,
               pdb_id_t *id_out, uint64_t *seq_out, char why[PDB_ERRMSG_MAX]);
//  A create ("write" asking for the record) that also hands back what
//  storage stored: the record, a packed field map without the embedding (a
//  read of the entity would show the same), in *record (caller frees with
//  free()), so the caller need not read it back.
int smux_create(smux_t *self, ent_type_t entity, const pdb_id_t *collective_id,
                const void *fields, size_t fields_len, pdb_id_t *id_out, void **record,
                size_t *record_len, char why[PDB_ERRMSG_MAX]);
//  "reinforce": *seq_out (may be NULL) the WAL sequence.
int smux_reinforce(smux_t *self, const pdb_id_t *experience_id, uint64_t *seq_out,
                   char why[PDB_ERRMSG_MAX]);
//  Any other request (a read such as "stats"): op with args (a packed
//  array; released), then read(result, arg) on storage's result while its
//  reply is held. Returns 0, storage's code (why says more), PDB_EUNAVAIL,
//  or what read returns.
typedef int smux_read_fn(const msgpack_object *result, void *arg);
int smux_call(smux_t *self, const char *op, mpk_out_t *args, smux_read_fn *read, void *arg,
              char why[PDB_ERRMSG_MAX]);

#endif
