#include "service.h"
#include "log.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>

#define S_REST_MAX 16                // arguments cfg_load hands back

const char service_exit_help[] =
    "Exit status: 0 stopped cleanly; 1 failed, restart after a backoff; 3 fatal\n"
    "(configuration refused, data folder locked, unsupported store): do not\n"
    "restart; 4 the store failed (write or fsync error, full disk): restart storage.\n"
    "`pulsedb up` restarts a child on 1, 4 or a signal and stops the node on 3.\n\n";

bool
service_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

//  Sets *given from the arguments cfg_load did not take; false, with the
//  first one it does not know in *unknown, when one is not a flag.
static bool
s_flags(char **argv, const int *rest, int rest_n, const char *const *flags, unsigned *given,
        const char **unknown)
{
    *given = 0;
    for (int i = 0; i < rest_n; i++) {
        const char *arg = argv[rest[i]];
        int f = 0;
        while (flags && f < SERVICE_FLAGS_MAX && flags[f] && strcmp(flags[f], arg) != 0)
            f++;
        if (!flags || f == SERVICE_FLAGS_MAX || !flags[f]) {
            *unknown = arg;
            return false;
        }
        *given |= 1u << f;
    }
    return true;
}

int
service_start(int argc, char **argv, const char *name, const char *usage,
              const char *const *flags, unsigned *given, cfg_t *cfg)
{
    if (service_wants_help(argc, argv)) {
        printf("%s%s%s", usage, service_exit_help, cfg_usage());
        return SERVICE_EXIT_OK;
    }
    int rest[S_REST_MAX], rest_n = 0;
    char why[PDB_ERRMSG_MAX] = "";
    if (cfg_load(cfg, argc, argv, rest, S_REST_MAX, &rest_n, why) != 0) {
        fprintf(stderr, "%s: %s\n", name, why);
        return SERVICE_EXIT_FATAL;
    }
    unsigned seen;
    const char *unknown = NULL;
    if (!s_flags(argv, rest, rest_n, flags, &seen, &unknown)) {
        fprintf(stderr, "%s: unknown option '%s' (see --help)\n", name, unknown);
        return SERVICE_EXIT_FATAL;
    }
    if (given)
        *given = seen;
    log_set_level(cfg->log_level);
    return SERVICE_GO_ON;
}

void
service_czmq_init(void)
{
    zsys_handler_set(NULL);
    zsys_init();
}
