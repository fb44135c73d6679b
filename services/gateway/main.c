/*  pulsedb-gateway - the HTTP API of one PulseDB-C node.

    pulsedb-gateway --data DIR [--host H] [--port P] [--storage EP] ...
    Exit status (common/service.h): 0 after a clean stop, 1 when it cannot
    start or serving failed, 3 for bad options or configuration.
*/
#include "cfg.h"
#include "gateway.h"
#include "log.h"
#include "service.h"

#include <stdio.h>

#define MAIN_REST_MAX 16

static const char s_usage[] =
    "usage: pulsedb-gateway [options]\n\n"
    "The node's HTTP API: reads from the store's memory map, writes through\n"
    "storage.\n\n";

int
main(int argc, char **argv)
{
    if (service_wants_help(argc, argv)) {
        printf("%s%s%s", s_usage, service_exit_help, cfg_usage());
        return SERVICE_EXIT_OK;
    }
    cfg_t cfg;
    int rest[MAIN_REST_MAX], rest_n = 0;
    char why[PDB_ERRMSG_MAX] = "";
    if (cfg_load(&cfg, argc, argv, rest, MAIN_REST_MAX, &rest_n, why) != 0) {
        fprintf(stderr, "pulsedb-gateway: %s\n", why);
        return SERVICE_EXIT_FATAL;
    }
    if (rest_n > 0) {
        fprintf(stderr, "pulsedb-gateway: unknown option '%s' (see --help)\n", argv[rest[0]]);
        return SERVICE_EXIT_FATAL;
    }
    log_set_level(cfg.log_level);
    if (cfg_exposure_check(&cfg, CFG_EXPOSE_HTTP, why) != 0) {
        log_e("gateway", "refusing to start: %s", why);
        return SERVICE_EXIT_FATAL;
    }
    service_czmq_init();
    bool refused;
    gateway_t *gateway = gateway_new(&cfg, &refused);
    if (!gateway)
        return refused ? SERVICE_EXIT_FATAL : SERVICE_EXIT_FAIL;
    int rc = gateway_run(gateway);
    gateway_destroy(&gateway);
    return rc ? SERVICE_EXIT_FAIL : SERVICE_EXIT_OK;
}
