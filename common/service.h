/*  service.h - what the three service processes (pulsedb-storage,
    pulsedb-syncer, pulsedb-gateway) do alike: their exit codes, the
    start (--help, then the configuration), and CZMQ's set-up.

    Exit codes, one convention for every service and for `pulsedb up`, which
    decides from them whether to restart a child:
      0  stopped cleanly (SIGINT/SIGTERM), or --help.
      1  failed while starting or running (storage not reachable, a port in
         use, a socket error): restart after a backoff.
      3  fatal: the command line or configuration is refused, the data folder
         is locked by another storage process, or the store is of an
         unsupported schema. A restart cannot help: `pulsedb up` stops the node.
      4  storage only: the store failed (a write or fsync error, a full disk,
         LMDB's MDB_PANIC). Every write whose commit failed was answered with
         an error; restarting opens the environment afresh, so `pulsedb up`
         restarts storage after a backoff.
    2 is left out: it is the `pulsedb` command's usage error.
*/
#ifndef PDB_SERVICE_H
#define PDB_SERVICE_H

#include "cfg.h"

#include <stdbool.h>

#define SERVICE_EXIT_OK 0
#define SERVICE_EXIT_FAIL 1
#define SERVICE_EXIT_FATAL 3
#define SERVICE_EXIT_STORE 4

//  The exit codes above as a paragraph for each service's --help.
extern const char service_exit_help[];

//  True when argv asks for help (-h or --help before any "--"). Checked
//  before the configuration is loaded, so help works with a bad config file
//  or environment variable.
bool service_wants_help(int argc, char **argv);

#define SERVICE_GO_ON (-1)
#define SERVICE_FLAGS_MAX 8          // a service's own arguments (--once, ...)

//  A service's start: --help prints usage, the exit codes and the options
//  (SERVICE_EXIT_OK); else the configuration is loaded into cfg, and its
//  refusal, or an argument that is neither an option nor one of `flags`
//  (NULL-terminated, at most SERVICE_FLAGS_MAX; NULL for none), is one
//  line "NAME: ..." on stderr (SERVICE_EXIT_FATAL); else the log level is
//  set, bit i of *given (may be NULL) tells whether flags[i] was given,
//  and it returns SERVICE_GO_ON.
int service_start(int argc, char **argv, const char *name, const char *usage,
                  const char *const *flags, unsigned *given, cfg_t *cfg);

//  Sets CZMQ up for a service: leaves SIGINT/SIGTERM to the service (CZMQ
//  would otherwise install its own handlers) and initialises CZMQ now, on
//  the main thread, because its lazy set-up on a first socket races when
//  several threads open their first sockets at once. Call it once, after
//  the configuration is loaded and before any thread or socket.
void service_czmq_init(void);

#endif
