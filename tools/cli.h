/*  cli.h - what every client subcommand of `pulsedb` shares: configuration
    (for the default URL), the common flags --url/--json/--help, calling
    the gateway and reporting its errors the same way everywhere.

    Exit codes of every subcommand:
      0  success
      1  the operation failed (server error, node not reachable, import with
         failed lines)
      2  usage or configuration error (nothing was sent)
      3  `pulsedb up` only: a child reported a fatal start-up error
*/
#ifndef PDB_CLI_H
#define PDB_CLI_H

#include "args.h"
#include "cfg.h"
#include "client.h"

#include <jansson.h>
#include <stdbool.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_FATAL 3
#define CLI_ARGS_MAX 256
#define CLI_TOKEN_ENV "PULSEDB_TOKEN"   // API token sent with every request

//  Common flags, to end every subcommand's option table.
#define CLI_COMMON_OPTS { "--url", true }, { "--json", false }, { "--help", false }, \
                        { "-h", false }, { NULL, false }

typedef struct {
    const char *cmd;              // "put", "collective create": for messages
    cfg_t cfg;
    char url[CLIENT_URL_MAX];     // --url, or http://HOST:PORT from cfg
    bool json;                    // --json: print the raw reply
    bool help;
    client_t *client;
    int rest[CLI_ARGS_MAX];
    int rest_n;
    args_t args;                  // the subcommand's own arguments
} cli_t;

//  True when argv asks for help (before any "--"): checked before loading
//  the configuration, so help works even with a broken config file.
bool cli_wants_help(int argc, char **argv);

//  Prints a subcommand's help text to stdout; returns CLI_EXIT_OK.
int cli_help(const char *text);

//  Loads the configuration from argv and prepares self->args over what is
//  left, with opts (which must include CLI_COMMON_OPTS). Returns 0 or an
//  exit code, after printing the error.
int cli_begin(cli_t *self, const char *cmd, int argc, char **argv, const args_opt_t *opts);

//  The next subcommand argument, as args_next, with the common flags
//  handled here. Returns 1 (argument in flag/value), 0 at the end, or
//  CLI_EXIT_USAGE having printed the error.
int cli_next(cli_t *self, const char **flag, const char **value);

//  Prints "error: <what>" and a pointer to --help; returns CLI_EXIT_USAGE.
int cli_usage_error(cli_t *self, const char *what);

//  Sends one request (body may be NULL). On 2xx returns 0 with *reply
//  (caller frees with client_reply_release) and *parsed (caller frees with
//  json_decref; NULL when parsed is NULL). Otherwise prints
//  "error: <code>: <message>" (or why the node cannot be reached) and
//  returns CLI_EXIT_FAIL.
int cli_call(cli_t *self, const char *method, const char *path, const json_t *body,
             client_reply_t *reply, json_t **parsed);

//  For a command (named by `what`) that takes no arguments: refuses any
//  left, then GETs path as cli_call does.
int cli_get_bare(cli_t *self, const char *what, const char *path, client_reply_t *reply,
                 json_t **parsed);

//  The id of a collective given as an id or a name (resolved through
//  GET /v1/collectives). Returns 0 or an exit code, after printing why.
int cli_collective(cli_t *self, const char *arg, char id[64]);

//  Prints a reply's raw body to stdout, ending with a newline.
void cli_print_raw(const client_reply_t *reply);

//  Prints an object as aligned "key  value" lines; nested objects as
//  "parent.key", long number arrays abbreviated.
void cli_print_object(const json_t *obj);

//  Help footer shared by the client subcommands (--url, --json, config).
#define CLI_COMMON_HELP \
    "  --url URL             gateway URL [http://HOST:PORT of the configuration,\n" \
    "                        http://127.0.0.1:7070 by default]\n" \
    "  --json                print the server's raw JSON reply\n" \
    "  PULSEDB_TOKEN         API token to send, when the node requires one\n" \
    "  Configuration flags (--config, --host, --port, ...) are accepted too:\n" \
    "  see 'pulsedb up --help'.\n"

void cli_end(cli_t *self);

#endif
