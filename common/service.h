/*  service.h - what the three service processes (pulsedb-storage,
    pulsedb-syncer, pulsedb-gateway) do alike: their exit codes, the
    --help check made before the configuration is read, and CZMQ's set-up.

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

//  Sets CZMQ up for a service: leaves SIGINT/SIGTERM to the service (CZMQ
//  would otherwise install its own handlers) and initialises CZMQ now, on
//  the main thread, because its lazy set-up on a first socket races when
//  several threads open their first sockets at once. Call it once, after
//  the configuration is loaded and before any thread or socket.
void service_czmq_init(void);

#endif
