/*  super.h - a process supervisor: starts children in stages, restarts one
    that dies with backoff (common/backoff.h), stops them all in reverse
    stage order on request.

    Signals are taken synchronously: super_new blocks SIGCHLD, SIGINT,
    SIGTERM and SIGHUP, and super_poll waits for them with sigtimedwait, so
    there are no signal handlers and no races with them. Children get the
    original signal mask, their own process group (a terminal's Ctrl-C
    reaches only the supervisor, which then stops them in order), stdin from
    /dev/null, and SIGTERM if the supervisor dies (PR_SET_PDEATHSIG).
    Single-threaded use only.
*/
#ifndef PDB_SUPER_H
#define PDB_SUPER_H

#include "backoff.h"
#include "service.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

//  Children follow the services' exit codes (common/service.h): one that
//  exits SERVICE_EXIT_FATAL (bad configuration, data folder locked by
//  another storage process) is not restarted and stops the node; any other
//  exit or signal, SERVICE_EXIT_STORE included, is restarted with backoff.
#define SUPER_CHILDREN_MAX 80          // 64 gateways plus storage, syncer, spares
#define SUPER_NAME_MAX 32
#define SUPER_RESTART_INITIAL_MS 100u  // first restart: quick, most crashes are one-offs
#define SUPER_RESTART_MAX_MS 10000u    // 10 s: a crash loop costs little, recovery stays fast
#define SUPER_HEALTHY_MS 30000u        // 30 s up counts as healthy: forget earlier crashes

//  A child's restart schedule: SUPER_RESTART_INITIAL_MS doubling to
//  SUPER_RESTART_MAX_MS.
void super_backoff_init(backoff_t *backoff);

//  A child exited after running ran_ms: how long to wait before restarting
//  it (the schedule starts over after SUPER_HEALTHY_MS of running).
uint64_t super_restart_delay(backoff_t *backoff, uint64_t ran_ms);

typedef enum {
    SUPER_RUNNING = 0,
    SUPER_STOPPING,     // SIGINT, SIGTERM or SIGHUP arrived
    SUPER_FATAL,        // a child exited with SERVICE_EXIT_FATAL
} super_state_t;

typedef struct super super_t;

//  NULL on failure (reason logged). Caller frees with super_destroy.
super_t *super_new(void);
//  Stops children still running (super_stop with the default grace),
//  restores the signal mask and frees everything.
void super_destroy(super_t **self_p);

//  Registers a child (not started). argv is NULL-terminated, argv[0] the
//  program's path; it is copied. Returns 0, -ENOMEM or -E2BIG (too many).
int super_add(super_t *self, const char *name, char *const argv[], int stage);

//  Starts every registered child of stage. Returns 0 or -errno of fork.
int super_start(super_t *self, int stage);

//  Waits up to timeout_ms for a signal or a due restart and handles it:
//  reaps exited children (logging each), schedules and performs restarts.
//  Returns the supervisor's state.
super_state_t super_poll(super_t *self, int timeout_ms);

//  Stops every child, highest stage first: SIGTERM, then SIGKILL for those
//  still running after grace_ms. A second SIGINT/SIGTERM skips the wait.
void super_stop(super_t *self, int grace_ms);

size_t super_count(const super_t *self);
const char *super_name(const super_t *self, size_t i);
//  The child's pid, 0 while it is not running.
pid_t super_pid(const super_t *self, size_t i);
//  The child that exited fatally, or NULL.
const char *super_fatal_child(const super_t *self);

#endif
