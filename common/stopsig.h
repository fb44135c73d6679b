/*  stopsig.h - SIGINT and SIGTERM ask a service to stop: the handler only
    sets a flag, which the service's loop polls and ends on.
*/
#ifndef PDB_STOPSIG_H
#define PDB_STOPSIG_H

#include <signal.h>

//  Installs the handlers; returns the flag they set (0 until a signal).
volatile sig_atomic_t *stopsig_install(void);

#endif
