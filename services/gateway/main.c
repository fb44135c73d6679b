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

static const char s_usage[] =
    "usage: pulsedb-gateway [options]\n\n"
    "The node's HTTP API: reads from the store's memory map, writes through\n"
    "storage.\n\n";

int
main(int argc, char **argv)
{
    cfg_t cfg;
    int start = service_start(argc, argv, "pulsedb-gateway", s_usage, NULL, NULL, &cfg);
    if (start != SERVICE_GO_ON)
        return start;
    char why[PDB_ERRMSG_MAX] = "";
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
