/*  syncer.h - the syncer process: start-up shared by both modes, the
    daemon (serve peers, run every peer, compact), and --once.
*/
#ifndef PDB_SYNCER_SYNCER_H
#define PDB_SYNCER_SYNCER_H

#include "cfg.h"
#include "service.h"
#include "store.h"
#include "synctx.h"

#include <signal.h>
#include <stddef.h>

//  The services' exit codes (common/service.h).
#define SYNCER_EXIT_OK SERVICE_EXIT_OK
#define SYNCER_EXIT_FAIL SERVICE_EXIT_FAIL      // restartable (or a peer failed in --once)
#define SYNCER_EXIT_FATAL SERVICE_EXIT_FATAL    // bad configuration: a restart cannot help

typedef struct {
    store_t *store;                  // read-only, owned
    synctx_t ctx;
    peerspec_t *peers;               // sync/peers, owned (free())
    size_t peers_n;
    zcert_t *cert;                   // nodekey: CURVE key pair, owned; NULL without one
    tokens_t *tokens;                // gateway/api_tokens, owned; NULL without one
} syncer_base_t;

//  Checks what the configuration asks for, waits for storage to create the
//  store (until *stop), and fills base. Returns 0, SYNCER_EXIT_FATAL or
//  SYNCER_EXIT_FAIL (having logged why; also when stopped while waiting).
int syncer_base_open(const cfg_t *cfg, volatile sig_atomic_t *stop, syncer_base_t *base);
void syncer_base_close(syncer_base_t *base);

//  Runs the daemon until *stop. Returns an exit code.
int syncer_daemon(const cfg_t *cfg, volatile sig_atomic_t *stop);

#endif
