/*  once.h - `pulsedb-syncer --once` (what `pulsedb sync once` runs): for
    every peer, push until nothing more moves, then pull (no long poll)
    until nothing more moves, initial sync included. A failing step is
    retried ONCE_ATTEMPTS times with backoff, then the peer counts as
    failed and the next one runs. It binds no socket, so it can run next
    to a running syncer; both only move cursors forward.

    Standard output gets, after every step that moved something, a line
    `pulsedb sync once` draws as a progress bar:
        sync once progress peer=NAME direction=push|pull stage=changes|snapshot done=N total=N
    (changes: sent or received so far, total adding what the other side
    still lacks; snapshot: entities installed of the snapshot's), and one
    summary line per peer at its end.
*/
#ifndef PDB_SYNCER_ONCE_H
#define PDB_SYNCER_ONCE_H

#include "cfg.h"

#include <signal.h>

#define ONCE_ATTEMPTS 3

//  One push and one pull with every peer, to completion; a summary line
//  per peer on stdout. Returns 0 when every peer succeeded, else 1 (3 for
//  a bad configuration).
int once_run(const cfg_t *cfg, volatile sig_atomic_t *stop);

#endif
