/*  pulsedb status - GET /v1/status, printed as key/value lines. */
#include "cli.h"
#include "cmd.h"

#include <stdio.h>

static const char *
s_text(const json_t *object, const char *key, const char *fallback)
{
    const char *text = json_string_value(json_object_get(object, key));
    return text ? text : fallback;
}

//  One line per peer from /v1/sync/status; silent when sync has nothing to say.
static void
s_print_peers(cli_t *cli)
{
    client_reply_t reply;
    json_t *sync = NULL;
    if (cli_call(cli, "GET", "/v1/sync/status", NULL, &reply, &sync) != 0)
        return;
    size_t i;
    json_t *peer;
    json_array_foreach(json_object_get(sync, "peers"), i, peer) {
        json_t *lag = json_object_get(peer, "lag_changes");
        json_t *error = json_object_get(peer, "error");      // null once it works again
        printf("%-22s %s %s lag=%lld%s%s\n", i == 0 ? "sync peers" : "",
               s_text(peer, "name", "?"), s_text(peer, "state", "unknown"),
               json_is_integer(lag) ? (long long) json_integer_value(lag) : 0LL,
               json_string_length(error) ? " error=" : "",
               json_string_length(error) ? json_string_value(error) : "");
    }
    json_decref(sync);
    client_reply_release(&reply);
}

static const char s_help[] =
    "usage: pulsedb status [--url URL] [--json]\n"
    "Shows the node's instance id, version, WAL head and floor, entity counts, and\n"
    "one line per sync peer (pulsedb sync status has the details).\n"
    CLI_COMMON_HELP;

int
cmd_status(int argc, char **argv)
{
    if (cli_wants_help(argc, argv))
        return cli_help(s_help);
    static const args_opt_t opts[] = { CLI_COMMON_OPTS };
    cli_t cli;
    int rc = cli_begin(&cli, "status", argc, argv, opts);
    client_reply_t reply;
    json_t *status = NULL;
    if (rc == 0)
        rc = cli_get_bare(&cli, "status", "/v1/status", &reply, &status);
    if (rc == 0) {
        if (cli.json)
            cli_print_raw(&reply);
        else {
            printf("%-22s %s\n", "url", cli.url);
            cli_print_object(status);
            s_print_peers(&cli);
        }
        json_decref(status);
        client_reply_release(&reply);
    }
    cli_end(&cli);
    return rc;
}
