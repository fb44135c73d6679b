/*  pulsedb-storage - the only writer of a node's LMDB environment.

    Exit status: 0 after a clean stop, 1 when serving failed, 3 for a fatal
    start-up error a restart cannot fix (bad configuration, data folder
    locked by another storage process).
*/
#include "cfg.h"
#include "log.h"
#include "node.h"
#include "server.h"
#include "stopsig.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_FATAL 3

//  The node's conflict policy and its per-collective overrides (cfg has
//  checked their syntax already). Returns 0, or -1 with the reason logged.
static int
s_load_policies(const cfg_t *cfg, merge_policy_t *policy, apply_override_t **overrides,
                size_t *n)
{
    char why[PDB_ERRMSG_MAX];
    cfg_collective_policy_t *list = NULL;
    if (apply_policy_parse(cfg->sync_policy, policy) != 0
        || cfg_policies_parse(cfg->sync_collective_policies, &list, n, why) != 0) {
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
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: pulsedb-storage [options]\n\n%s", cfg_usage());
            return 0;
        }
    }
    cfg_t cfg;
    int rest[8], rest_n = 0;
    char why[PDB_ERRMSG_MAX];
    if (cfg_load(&cfg, argc, argv, rest, 8, &rest_n, why) != 0 || rest_n > 0) {
        fprintf(stderr, "pulsedb-storage: %s\n", rest_n > 0 ? "unknown option" : why);
        if (rest_n > 0)
            fprintf(stderr, "pulsedb-storage: unknown option '%s'\n", argv[rest[0]]);
        return EXIT_FATAL;
    }
    log_set_level(cfg.log_level);
    if (cfg_exposure_check(&cfg, CFG_EXPOSE_STORAGE, why) != 0) {
        log_e("storage", "refusing to start: %s", why);
        return EXIT_FATAL;
    }
    zsys_handler_set(NULL);           // our handler, not CZMQ's, owns SIGINT/SIGTERM
    //  Set CZMQ up now, on one thread: its lazy set-up on the first socket
    //  races when several threads open their first sockets at once.
    zsys_init();
    volatile sig_atomic_t *stop = stopsig_install();

    node_t *node = NULL;
    int rc = node_open(cfg.data_dir, cfg.map_size_mb << 20, &node);
    if (rc) {
        log_e("storage", "cannot open data=%s rc=%d (%s)", cfg.data_dir, rc, pdb_strerror(rc));
        return EXIT_FATAL;
    }
    merge_policy_t policy = POLICY_LWW;
    apply_override_t *overrides = NULL;
    size_t overrides_n = 0;
    if (s_load_policies(&cfg, &policy, &overrides, &overrides_n) != 0) {
        node_destroy(&node);
        return EXIT_FATAL;
    }
    server_opts_t opts = {
        .tcp_endpoint = cfg.storage_tcp,
        .max_requests = cfg.commit_max_requests,
        .max_bytes = (size_t) cfg.commit_max_kb << 10,
        .policy = policy,
        .overrides = overrides,
        .overrides_n = overrides_n,
    };
    server_t *server = server_new(node, &opts);
    if (!server) {
        free(overrides);
        node_destroy(&node);
        return EXIT_FATAL;
    }
    char id[PDB_ID_STR_LEN + 1];
    pdb_id_format(&node->instance_id, id);
    log_i("storage", "started data=%s instance=%s pid=%d", cfg.data_dir, id, (int) getpid());
    rc = server_run(server, stop);
    server_destroy(&server);
    free(overrides);
    node_destroy(&node);
    log_i("storage", "stopped rc=%d", rc);
    zsys_shutdown();
    return rc ? 1 : 0;
}
