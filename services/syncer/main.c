/*  pulsedb-syncer - keeps a node in step with its peers: serves them on
    sync/bind, pushes to and pulls from every configured peer, compacts the
    WAL. `--once` runs one push and pull with every peer and exits.

    Exit status (common/service.h): 0 after a clean stop (--once: every peer
    succeeded), 1 when running failed (--once: a peer failed), 3 for a fatal
    start-up error a restart cannot fix (bad configuration).
*/
#include "cfg.h"
#include "nodekey.h"
#include "log.h"
#include "once.h"
#include "service.h"
#include "syncer.h"
#include "stopsig.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char s_usage[] =
    "usage: pulsedb-syncer [--once] [options]\n\n"
    "Syncs this node with its peers (sync/peers and `pulsedb peer add`), serves\n"
    "peers on sync/bind and compacts the WAL. --once runs one push and pull with\n"
    "every peer, prints a summary line per peer and exits (1 if a peer failed).\n\n";

int
main(int argc, char **argv)
{
    static const char *const flags[] = { "--once", NULL };
    cfg_t cfg;
    unsigned given;
    int start = service_start(argc, argv, "pulsedb-syncer", s_usage, flags, &given, &cfg);
    if (start != SERVICE_GO_ON)
        return start;
    bool once = given & 1u;
    char why[PDB_ERRMSG_MAX];
    if (cfg_exposure_check(&cfg, nodekey_exists(cfg.data_dir) ? 0 : CFG_EXPOSE_SYNC, why) != 0) {
        log_e("syncer", "refusing to start: %s", why);
        return SERVICE_EXIT_FATAL;
    }
    service_czmq_init();
    volatile sig_atomic_t *stop = stopsig_install();
    int rc = once ? once_run(&cfg, stop) : syncer_daemon(&cfg, stop);
    if (!once)
        log_i("syncer", "stopped rc=%d", rc);
    zsys_shutdown();
    return rc;
}
