/*  snapshot_session.h - the server side of initial sync: a snapshot is
    served page by page from one LMDB read transaction held open for its
    session (MDB_NOTLS lets it outlive the call that opened it), so every
    page, the total, snapshot_seq (the WAL head) and the vector describe
    the same instant. A page token names the session; a session idle for
    SSESS_IDLE_MS is dropped, and at most SSESS_MAX run at once. A caller
    (source instance) has one session: starting another ends its first.
    With every slot taken, a new session takes the slot of one idle for
    SSESS_EVICT_IDLE_MS, so sessions opened and left (made-up ids cost
    nothing) keep callers that read their pages out for seconds, not for
    the whole idle expiry.
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

#define SSESS_MAX 8                  // each holds a read txn: old pages stay allocated
#define SSESS_IDLE_MS 60000
#define SSESS_EVICT_IDLE_MS 10000     // idle this long, a session yields its slot when all are taken
#define SSESS_TOKEN_LEN 32           // hex characters

typedef struct ssess ssess_t;
typedef struct ssess_table ssess_table_t;

ssess_table_t *ssess_table_new(store_t *store);
//  Ends every session (aborting its transaction) and frees the table.
void ssess_table_destroy(ssess_table_t **self_p);

//  Starts a session for source with a collective filter (copied), ending
//  source's earlier one. Returns 0 with *out, PDB_EFULL when SSESS_MAX are
//  open and none is idle SSESS_EVICT_IDLE_MS, or a store error.
int ssess_open(ssess_table_t *self, const pdb_id_t *source, const pdb_id_t *filter,
               size_t filter_n, uint64_t mono_ms, ssess_t **out);

//  The session with this token opened by source, or NULL.
ssess_t *ssess_find(ssess_table_t *self, const char *token, size_t len,
                    const pdb_id_t *source, uint64_t mono_ms);

//  Packs the next page (consecutive bins, see snapshot_page) into out.
int ssess_page(ssess_t *session, const pdb_id_t *self_id, size_t max_entities,
               size_t max_bytes, mpk_out_t *out, size_t *count, bool *done);

void ssess_close(ssess_table_t *self, ssess_t *session);
//  Drops sessions idle since before mono_ms - SSESS_IDLE_MS.
void ssess_expire(ssess_table_t *self, uint64_t mono_ms);
size_t ssess_count(const ssess_table_t *self);

const char *ssess_token(const ssess_t *session);
uint64_t ssess_total(const ssess_t *session);
uint64_t ssess_seq(const ssess_t *session);
const vv_t *ssess_vector(const ssess_t *session);

#endif
