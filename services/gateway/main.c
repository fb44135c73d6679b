/*  pulsedb-gateway - the HTTP API of one PulseDB-C node.

    pulsedb-gateway --data DIR [--host H] [--port P] [--storage EP] ...
    Exit status: 0 after a clean stop, 1 when it cannot start, 2 for bad
    options.
*/
#include "cfg.h"
#include "gateway.h"
#include "log.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MAIN_REST_MAX 16

static bool
s_wants_help(char **argv, const int *rest, int rest_n)
{
    for (int i = 0; i < rest_n; i++)
        if (strcmp(argv[rest[i]], "--help") == 0 || strcmp(argv[rest[i]], "-h") == 0)
            return true;
    return false;
}

int
main(int argc, char **argv)
{
    cfg_t cfg;
    int rest[MAIN_REST_MAX], rest_n = 0;
    char why[PDB_ERRMSG_MAX] = "";
    if (cfg_load(&cfg, argc, argv, rest, MAIN_REST_MAX, &rest_n, why) != 0) {
        fprintf(stderr, "pulsedb-gateway: %s\n", why);
        return 2;
    }
    if (s_wants_help(argv, rest, rest_n)) {
        printf("usage: pulsedb-gateway [options]\n%s", cfg_usage());
        return 0;
    }
    if (rest_n > 0) {
        fprintf(stderr, "pulsedb-gateway: unknown option '%s' (see --help)\n", argv[rest[0]]);
        return 2;
    }
    log_set_level(cfg.log_level);
    if (cfg_exposure_check(&cfg, CFG_EXPOSE_HTTP, why) != 0) {
        log_e("gateway", "refusing to start: %s", why);
        return 2;
    }
    gateway_t *gateway = gateway_new(&cfg);
    if (!gateway)
        return 1;
    int rc = gateway_run(gateway);
    gateway_destroy(&gateway);
    return rc ? 1 : 0;
}
