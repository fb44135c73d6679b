/*  pulsedb - the PulseDB-C command: starts a node (`up`) and talks to its
    gateway over HTTP JSON (status, collectives, experiences, search,
    import, sync peers and status). main only picks the subcommand; each lives in its own file.
*/
#include "cli.h"
#include "cmd.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;   // NULL: not listed (a tool for the project's own docs)
} s_commands[] = {
    { "up", cmd_up, "start a node on a data folder and supervise it" },
    { "status", cmd_status, "show the node's status" },
    { "collective", cmd_collective, "create or list collectives" },
    { "put", cmd_put, "add one experience to a collective" },
    { "get", cmd_get, "show one experience" },
    { "search", cmd_search, "find the experiences nearest to an embedding" },
    { "import", cmd_import, "add experiences from a JSONL file" },
    { "peer", cmd_peer, "add, list or remove sync peers" },
    { "sync", cmd_sync, "show sync status, or sync once with every peer" },
    { "keygen", cmd_keygen, "make this node's key pair for ZeroMQ sync (CURVE)" },
    { "token", cmd_token, "make an API token and add it to a token file" },
    { "config", cmd_config, NULL },
};

#define S_COMMAND_COUNT (sizeof s_commands / sizeof s_commands[0])

//  The command list; with `full`, the configuration options too.
static void
s_usage(FILE *out, bool full)
{
    fprintf(out, "usage: pulsedb <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < S_COMMAND_COUNT; i++)
        if (s_commands[i].summary)
            fprintf(out, "  %-11s %s\n", s_commands[i].name, s_commands[i].summary);
    fprintf(out, "\nRun 'pulsedb <command> --help' for a command's options.\n"
                 "Client commands talk to http://HOST:PORT from the configuration "
                 "(default\nhttp://127.0.0.1:7070) or --url URL, and print raw JSON with "
                 "--json.\n"
                 "Exit codes: 0 ok, 1 failed, 2 usage or configuration error, 3 (up) fatal "
                 "child error.\n");
    if (full)
        fprintf(out, "\n%s", cfg_usage());
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        s_usage(stderr, false);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0
        || strcmp(argv[1], "help") == 0) {
        s_usage(stdout, true);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < S_COMMAND_COUNT; i++) {
        if (strcmp(argv[1], s_commands[i].name) != 0)
            continue;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            fprintf(stderr, "error: cannot initialise libcurl\n");
            return CLI_EXIT_FAIL;
        }
        int rc = s_commands[i].run(argc - 1, argv + 1);
        curl_global_cleanup();
        return rc;
    }
    fprintf(stderr, "error: unknown command '%.64s'\n\n", argv[1]);
    s_usage(stderr, false);
    return CLI_EXIT_USAGE;
}
