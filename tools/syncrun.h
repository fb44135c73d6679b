/*  syncrun.h - `pulsedb sync once`: runs pulsedb-syncer --once as a child
    and shows its progress lines (services/syncer/once.c) with progress.h,
    a bar per peer, direction and stage on a terminal (stderr), plain lines
    otherwise. Everything else the child writes is passed on unchanged, to
    the same stream, without garbling the bar.
*/
#ifndef PDB_SYNCRUN_H
#define PDB_SYNCRUN_H

#include "cfg.h"

#include <stdbool.h>
#include <stdint.h>

#define SYNCRUN_PREFIX "sync once progress "
#define SYNCRUN_NAME_MAX PEERSPEC_NAME_MAX   // bytes of a peer name
#define SYNCRUN_LINE_MAX 4096        // a longer child line is passed on in pieces

//  One progress line of the syncer.
typedef struct {
    char peer[SYNCRUN_NAME_MAX + 1];
    char direction[8];               // push, pull
    char stage[16];                  // changes, snapshot
    uint64_t done, total;
} syncrun_event_t;

//  Parses "sync once progress peer=NAME direction=D stage=S done=N total=N".
//  Returns false for any other line (which is then passed on as is).
bool syncrun_parse(const char *line, syncrun_event_t *out);

//  Runs argv (argv[0] the syncer's path) with its standard output and
//  error read here, until it exits. SIGINT and SIGTERM are passed on to it.
//  Returns its exit code, CLI_EXIT_FAIL if it could not run or was killed.
int syncrun_exec(char *const argv[]);

#endif
