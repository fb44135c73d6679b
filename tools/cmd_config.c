/*  pulsedb config [--markdown] - prints every configuration option from
    cfg's table: as --help shows them, or as the Markdown table in
    README.md (scripts/gen-config-table.sh writes it there). Not listed in
    `pulsedb --help`, which prints the options already; it reads no
    configuration, so it works whatever the environment holds.
*/
#include "cli.h"
#include "cmd.h"

#include <stdio.h>
#include <string.h>

static const char s_help[] =
    "usage: pulsedb config [--markdown]\n"
    "Prints every configuration option: flag, file key, environment variable,\n"
    "default, accepted values and what it is.\n"
    "  --markdown  as a Markdown table (the one in README.md)\n";

int
cmd_config(int argc, char **argv)
{
    if (cli_wants_help(argc, argv))
        return cli_help(s_help);
    if (argc == 1) {
        fputs(cfg_usage(), stdout);
        return CLI_EXIT_OK;
    }
    if (argc == 2 && strcmp(argv[1], "--markdown") == 0) {
        fputs(cfg_markdown(), stdout);
        return CLI_EXIT_OK;
    }
    const char *bad = strcmp(argv[1], "--markdown") == 0 ? argv[2] : argv[1];
    fprintf(stderr, "error: config takes only --markdown, not '%.64s'\n"
                    "(see: pulsedb config --help)\n", bad);
    return CLI_EXIT_USAGE;
}
