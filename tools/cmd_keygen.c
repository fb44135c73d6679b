/*  pulsedb keygen [--data DIR] [--force] - makes the node's CURVE key pair
    for ZeroMQ sync (common/nodekey.h) and prints its public key, which
    peers put in their configuration.
*/
#include "cli.h"
#include "cmd.h"
#include "nodekey.h"

#include <stdio.h>
#include <string.h>

static const char s_help[] =
    "usage: pulsedb keygen [--data DIR] [--force]\n"
    "Makes this node's CURVE key pair for ZeroMQ sync in DATA/" NODEKEY_FILE " (public)\n"
    "and DATA/" NODEKEY_FILE "_secret (readable by its owner only), and prints the\n"
    "public key. With a key pair the syncer admits only peers whose public key is\n"
    "configured (sync/peers: NAME=tcp://HOST:PORT,key=KEY; pulsedb peer add --key)\n"
    "and encrypts every sync connection. Restart the syncer to take a new pair up.\n"
    "  --force     replace an existing pair (peers must learn the new public key)\n";

int
cmd_keygen(int argc, char **argv)
{
    if (cli_wants_help(argc, argv))
        return cli_help(s_help);
    static const args_opt_t opts[] = { { "--force", false }, CLI_COMMON_OPTS };
    cli_t cli;
    int rc = cli_begin(&cli, "keygen", argc, argv, opts);
    if (rc)
        return rc;
    bool force = false;
    const char *flag, *value;
    while ((rc = cli_next(&cli, &flag, &value)) == 1) {
        if (!flag) {
            rc = cli_usage_error(&cli, "keygen takes no arguments");
            break;
        }
        force = true;
    }
    if (rc == 0) {
        char public_txt[NODEKEY_TEXT_LEN + 1], why[PDB_ERRMSG_MAX] = "";
        int made = nodekey_generate(cli.cfg.data_dir, force, public_txt, why);
        if (made)
            fprintf(stderr, "error: %s\n", why);
        else
            printf("%s\n", public_txt);
        rc = made == 0 ? CLI_EXIT_OK : made == PDB_ECONFLICT ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
    }
    cli_end(&cli);
    return rc;
}
