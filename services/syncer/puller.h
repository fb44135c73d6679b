/*  puller.h - brings one peer's changes here.

    Each step long-polls the peer's WAL after our pull_cursor (read from the
    peer's row each time), sending our vector so the peer skips what we have
    (our own changes included: no echo) and our collective filter, and hands
    the page to storage "apply" with the peer's name and the page's
    next_cursor: changes and cursor commit together. An empty page whose
    cursor moved (everything filtered or known) still goes through apply,
    so the cursor keeps up. A new peer (our cursor 0, its head > 0) or a
    cursor below the peer's floor starts an initial sync (initsync.h).
*/
#ifndef PDB_SYNCER_PULLER_H
#define PDB_SYNCER_PULLER_H

#include "conn.h"
#include "initsync.h"

#include <stdint.h>

#define PULL_SLACK_MS 15000         // past the long poll: the peer's page read and the network
#define PULL_IDLE_MS 1000           // between pulls that came back empty early (no long poll)

typedef struct {
    conn_t conn;
    initsync_t snap;
    bool missing_warned;
} puller_t;

int puller_init(puller_t *self, const synctx_t *ctx, peer_t *peer, link_cancel_t *cancel,
                char why[PDB_ERRMSG_MAX]);
void puller_release(puller_t *self);

//  One page (saying hello first when due). *wait_ms gets 0 when the next
//  page should be asked for now, else how long to idle first. Returns 0,
//  -ECANCELED, or a failure code with why (the caller backs off).
int puller_step(puller_t *self, uint64_t *wait_ms, char why[PDB_ERRMSG_MAX]);

#endif
