/*  pulsedb-storage - the only writer of a node's LMDB environment.

    Exit status (common/service.h): 0 after a clean stop, 1 when serving
    failed, 3 for a fatal start-up error a restart cannot fix (bad
    configuration, data folder locked by another storage process, a store of
    another schema), 4 when the store failed (a write or fsync error, MDB_PANIC):
    the supervisor restarts storage, which opens the environment afresh.
*/
#include "annsvc.h"
#include "cfg.h"
#include "nodekey.h"
#include "log.h"
#include "node.h"
#include "server.h"
#include "service.h"
#include "stopsig.h"

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char s_usage[] =
    "usage: pulsedb-storage [options]\n\n"
    "The only writer of the node's store (DATA/data.mdb): serves writes on\n"
    "ipc://DATA/storage.sock and group-commits them.\n\n";

//  Why the store did not open: faults of the disk or of memory may be gone
//  after a restart; anything else (a folder that cannot be made, another
//  storage holding the lock, a corrupt file or another schema) stays.
static int
s_open_exit_code(int rc)
{
    switch (rc) {
    case -EIO: case -ENOSPC: case -EDQUOT: case -ENOMEM: case -EAGAIN: case -EINTR:
    case PDB_ESTORE:
        return SERVICE_EXIT_STORE;
    default:
        return SERVICE_EXIT_FATAL;
    }
}

//  The node's conflict policy and its per-collective overrides (cfg has
//  checked their syntax already). Returns 0, or -1 with the reason logged.
static int
s_load_policies(const cfg_t *cfg, merge_policy_t *policy, apply_override_t **overrides,
                size_t *n)
{
    char why[PDB_ERRMSG_MAX];
    policy_override_t *list = NULL;
    if (apply_policy_parse(cfg->sync_policy, policy) != 0
        || policy_overrides_parse(cfg->sync_collective_policies, &list, n, why) != 0) {
        log_e("storage", "bad sync/policy or sync/collective_policies");
        return -1;
    }
    *overrides = calloc(*n ? *n : 1, sizeof **overrides);
    if (!*overrides) {
        free(list);
        return -1;
    }
    for (size_t i = 0; i < *n; i++)
        (*overrides)[i] = (apply_override_t) { list[i].collective,
                                               (merge_policy_t) list[i].policy };
    free(list);
    return 0;
}

int
main(int argc, char **argv)
{
    cfg_t cfg;
    int start = service_start(argc, argv, "pulsedb-storage", s_usage, NULL, NULL, &cfg);
    if (start != SERVICE_GO_ON)
        return start;
    char why[PDB_ERRMSG_MAX];
    //  With a key pair storage/tcp is CURVE (server.h); without, loopback only.
    if (cfg_exposure_check(&cfg, nodekey_exists(cfg.data_dir) ? 0 : CFG_EXPOSE_STORAGE,
                           why) != 0) {
        log_e("storage", "refusing to start: %s", why);
        return SERVICE_EXIT_FATAL;
    }
    service_czmq_init();
    volatile sig_atomic_t *stop = stopsig_install();

    node_t *node = NULL;
    int rc = node_open(cfg.data_dir, cfg.map_size_mb << 20, &node);
    if (rc) {
        log_e("storage", "cannot open data=%s rc=%d (%s)", cfg.data_dir, rc, pdb_strerror(rc));
        zsys_shutdown();
        return s_open_exit_code(rc);
    }
    merge_policy_t policy = POLICY_LWW;
    apply_override_t *overrides = NULL;
    size_t overrides_n = 0;
    if (s_load_policies(&cfg, &policy, &overrides, &overrides_n) != 0) {
        node_destroy(&node);
        zsys_shutdown();
        return SERVICE_EXIT_FATAL;
    }
    zcert_t *cert = NULL;
    if (cfg.storage_tcp[0] && nodekey_load(cfg.data_dir, &cert, why) == PDB_EINVAL) {
        log_e("storage", "cannot load the node's key pair: %s", why);
        free(overrides);
        node_destroy(&node);
        zsys_shutdown();
        return SERVICE_EXIT_FATAL;
    }
    server_opts_t opts = {
        .tcp_endpoint = cfg.storage_tcp,
        .cert = cert,
        .max_requests = cfg.commit_max_requests,
        .max_bytes = (size_t) cfg.commit_max_kb << 10,
        .policy = policy,
        .overrides = overrides,
        .overrides_n = overrides_n,
    };
    server_t *server = server_new(node, &opts);
    if (!server) {
        zcert_destroy(&cert);
        free(overrides);
        node_destroy(&node);
        zsys_shutdown();
        return SERVICE_EXIT_FATAL;
    }
    //  Approximate search runs beside the writer, on its own socket and thread.
    annsvc_t *search = annsvc_new(node, cfg.ann_threshold, cfg.ann_ef);
    if (!search) {
        server_destroy(&server);
        zcert_destroy(&cert);
        free(overrides);
        node_destroy(&node);
        zsys_shutdown();
        return SERVICE_EXIT_FAIL;
    }
    char id[PDB_ID_STR_LEN + 1];
    pdb_id_format(&node->instance_id, id);
    log_i("storage", "started data=%s instance=%s pid=%d", cfg.data_dir, id, (int) getpid());
    int code = server_run(server, stop);
    annsvc_destroy(&search);
    server_destroy(&server);
    zcert_destroy(&cert);
    free(overrides);
    node_destroy(&node);
    log_i("storage", "stopped exit=%d", code);
    zsys_shutdown();
    return code;
}
