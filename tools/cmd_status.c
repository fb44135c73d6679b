/*  pulsedb status - GET /v1/status, printed as key/value lines. */
#include "cli.h"
#include "cmd.h"

#include <stdio.h>

static const char s_help[] =
    "usage: pulsedb status [--url URL] [--json]\n"
    "Shows the node's instance id, version, WAL head and floor, and entity counts.\n"
    CLI_COMMON_HELP;

int
cmd_status(int argc, char **argv)
{
    if (cli_wants_help(argc, argv))
        return cli_help(s_help);
    static const args_opt_t opts[] = { CLI_COMMON_OPTS };
    cli_t cli;
    int rc = cli_begin(&cli, "status", argc, argv, opts);
    const char *flag, *value;
    while (rc == 0 && (rc = cli_next(&cli, &flag, &value)) == 1)
        rc = cli_usage_error(&cli, "status takes no arguments");
    client_reply_t reply;
    json_t *status = NULL;
    if (rc == 0)
        rc = cli_call(&cli, "GET", "/v1/status", NULL, &reply, &status);
    if (rc == 0) {
        if (cli.json)
            cli_print_raw(&reply);
        else {
            printf("%-22s %s\n", "url", cli.url);
            cli_print_object(status);
        }
        json_decref(status);
        client_reply_release(&reply);
    }
    cli_end(&cli);
    return rc;
}
