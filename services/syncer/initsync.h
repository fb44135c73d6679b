/*  initsync.h - initial sync from one peer: its snapshot, page by page,
    into storage "install". Used for a new peer (our cursor 0, its head > 0)
    and for one whose WAL floor passed our cursor. The last page installs
    with done=true, which sets our pull cursor to the snapshot's seq and
    raises our vector to the snapshot's, in one commit; pulling then goes on
    from there. Progress (entities done/total, bytes, rate, ETA) is logged
    one line per page and kept in the peer's status.
*/
#ifndef PDB_SYNCER_INITSYNC_H
#define PDB_SYNCER_INITSYNC_H

#include "conn.h"

#include <stdbool.h>
#include <stdint.h>

#define INITSYNC_TIMEOUT_MS 120000  // a first page counts the whole store
#define INITSYNC_TOKEN_MAX 64
//  Pages are fetched ahead within one call for at most this long; between
//  calls nothing is in flight, so the caller may say hello or stop.
#define INITSYNC_BURST_MS 1000

typedef struct {
    bool active;
    char token[INITSYNC_TOKEN_MAX + 1];    // "" before the first page
    uint64_t snapshot_seq;
    uint64_t done, total, bytes;
    uint64_t started_mono_ms;
} initsync_t;

//  Starts (or restarts) an initial sync.
void initsync_begin(initsync_t *self, uint64_t mono_ms);

//  Fetches and installs pages for up to INITSYNC_BURST_MS, asking for each
//  next page before installing the one in hand, so that the peer builds it
//  meanwhile. *finished is set after the last one. Returns 0, -ECANCELED,
//  or a failure code with why (the session starts over on the next call).
int initsync_page(initsync_t *self, conn_t *conn, bool *finished, char why[PDB_ERRMSG_MAX]);

#endif
