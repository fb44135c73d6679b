/*  snapshot_session.h - the server side of initial sync: a snapshot is
    served page by page from one LMDB read transaction held open for its
    session (MDB_NOTLS lets it outlive the call that opened it), so every
    page, the total, snapshot_seq (the WAL head) and the vector describe
    the same instant. A page token names the session; a session idle for
    SNAPSHOT_SESSION_IDLE_MS is dropped, and at most SNAPSHOT_SESSION_MAX
    run at once. A caller (source instance) has one session: starting
    another ends its first. With every slot taken, a new session takes the
    slot of one idle for SNAPSHOT_SESSION_EVICT_IDLE_MS, so sessions opened
    and left (made-up ids cost nothing) keep callers that read their pages
    out for seconds, not for the whole idle expiry.
*/
#ifndef PDB_SYNCER_SNAPSHOT_SESSION_H
#define PDB_SYNCER_SNAPSHOT_SESSION_H

#include "err.h"
#include "mpk.h"
#include "snapshot.h"
#include "store.h"
#include "vv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAPSHOT_SESSION_MAX 8               // each holds a read txn: old pages stay allocated
#define SNAPSHOT_SESSION_IDLE_MS 60000
#define SNAPSHOT_SESSION_EVICT_IDLE_MS 10000 // idle this long, a session yields its slot
                                             // when all are taken
#define SNAPSHOT_SESSION_TOKEN_LEN 32        // hex characters

typedef struct snapshot_session snapshot_session_t;
typedef struct snapshot_session_table snapshot_session_table_t;

snapshot_session_table_t *snapshot_session_table_new(store_t *store);
//  Ends every session (aborting its transaction) and frees the table.
void snapshot_session_table_destroy(snapshot_session_table_t **self_p);

//  Starts a session for source with a collective filter (copied), ending
//  source's earlier one. Returns 0 with *out, PDB_EFULL when
//  SNAPSHOT_SESSION_MAX are open and none is idle
//  SNAPSHOT_SESSION_EVICT_IDLE_MS, or a store error.
int snapshot_session_open(snapshot_session_table_t *self, const pdb_id_t *source,
                          const pdb_id_t *filter, size_t filter_n, uint64_t mono_ms,
                          snapshot_session_t **out);

//  The session with this token opened by source, or NULL.
snapshot_session_t *snapshot_session_find(snapshot_session_table_t *self, const char *token,
                                          size_t len, const pdb_id_t *source, uint64_t mono_ms);

//  Packs the next page (consecutive bins, see snapshot_page) into out.
int snapshot_session_page(snapshot_session_t *session, const pdb_id_t *self_id, size_t max_entities,
                          size_t max_bytes, mpk_out_t *out, size_t *count, bool *done);

void snapshot_session_close(snapshot_session_table_t *self, snapshot_session_t *session);
//  Drops sessions idle since before mono_ms - SNAPSHOT_SESSION_IDLE_MS.
void snapshot_session_expire(snapshot_session_table_t *self, uint64_t mono_ms);
size_t snapshot_session_count(const snapshot_session_table_t *self);

const char *snapshot_session_token(const snapshot_session_t *session);
uint64_t snapshot_session_total(const snapshot_session_t *session);
uint64_t snapshot_session_seq(const snapshot_session_t *session);
const vv_t *snapshot_session_vector(const snapshot_session_t *session);

#endif
