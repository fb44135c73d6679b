#include "service.h"

#include <czmq.h>
#include <string.h>

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

void
service_czmq_init(void)
{
    zsys_handler_set(NULL);
    zsys_init();
}
