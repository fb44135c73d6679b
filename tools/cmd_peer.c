/*  pulsedb peer add NAME ADDRESS [--direction push|pull|both] [--collective ID]...
    pulsedb peer list
    pulsedb peer remove NAME

    Peers added here are rows of the node's peers database (through the
    gateway: POST/GET/DELETE /v1/sync/peers); the syncer picks them up
    within a second. Peers of the configuration (sync/peers) are listed too
    but changed only in the configuration.
*/
#include "body.h"
#include "cli.h"
#include "cmd.h"
#include "nodekey.h"
#include "syncfmt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define PEER_HELP_COMMON \
    "Peers are other PulseDB-C nodes this node syncs with over ZeroMQ (their\n" \
    "sync/bind address). Added peers are kept in the node's data folder and used by\n" \
    "the running syncer within a second; peers of the configuration (sync/peers)\n" \
    "are listed too but are changed only there.\n"

static const char s_help[] =
    "usage: pulsedb peer add NAME ADDRESS [--direction push|pull|both] [--collective ID]...\n"
    "                        [--key KEY]\n"
    "       pulsedb peer list\n"
    "       pulsedb peer remove NAME\n"
    "  add      adds a sync peer (see: pulsedb peer add --help)\n"
    "  list     shows every peer: name, direction, address, collectives, where defined\n"
    "  remove   forgets an added peer and its sync cursors\n"
    PEER_HELP_COMMON CLI_COMMON_HELP;

static const char s_help_add[] =
    "usage: pulsedb peer add NAME ADDRESS [--direction push|pull|both] [--collective ID]...\n"
    "                        [--key KEY] [--url URL] [--json]\n"
    "Adds a sync peer.\n"
    "  NAME                  1..128 characters of A-Z a-z 0-9 . _ -\n"
    "  ADDRESS               tcp://HOST:PORT (the peer's sync/bind) or\n"
    "                        http(s)://HOST:PORT (the peer's gateway)\n"
    "  --direction D         push (send our changes), pull (take the peer's), or both\n"
    "                        [both]\n"
    "  --collective ID       sync only this collective (repeat for more; at most 256);\n"
    "                        every collective when not given\n"
    "  --key KEY             the peer's CURVE public key (what its 'pulsedb keygen'\n"
    "                        printed); required when this node has a key pair\n"
    PEER_HELP_COMMON CLI_COMMON_HELP;

static const char s_help_list[] =
    "usage: pulsedb peer list [--url URL] [--json]\n"
    "Shows every sync peer: name, direction, address, collectives, and whether it\n"
    "was added (api) or comes from the configuration (config).\n"
    "For their sync state see: pulsedb sync status\n"
    CLI_COMMON_HELP;

static const char s_help_remove[] =
    "usage: pulsedb peer remove NAME [--url URL] [--json]\n"
    "Forgets an added peer and its sync cursors; the syncer stops syncing with it\n"
    "within a second. Adding it again later starts from its current state.\n"
    CLI_COMMON_HELP;

//  The arguments of `peer add`.
typedef struct {
    const char *name, *address, *direction, *key;
    const char *collectives[BODY_PEER_COLLECTIVES_MAX + 1];
    size_t collectives_n;
} s_add_args_t;

static int
s_add_parse(cli_t *cli, s_add_args_t *args)
{
    memset(args, 0, sizeof *args);
    const char *flag, *value;
    int rc;
    while ((rc = cli_next(cli, &flag, &value)) == 1) {
        if (!flag && !args->name)
            args->name = value;
        else if (!flag && !args->address)
            args->address = value;
        else if (!flag)
            return cli_usage_error(cli, "too many arguments (expected NAME ADDRESS)");
        else if (strcmp(flag, "--direction") == 0)
            args->direction = value;
        else if (strcmp(flag, "--key") == 0)
            args->key = value;
        else if (args->collectives_n > BODY_PEER_COLLECTIVES_MAX)
            return cli_usage_error(cli, "--collective: at most 256");
        else
            args->collectives[args->collectives_n++] = value;
    }
    if (rc)
        return rc;
    if (!args->name || !args->address)
        return cli_usage_error(cli, "add needs NAME and ADDRESS (tcp:// or http(s)://HOST:PORT)");
    if (args->key && !nodekey_text_valid(args->key, strlen(args->key)))
        return cli_usage_error(cli, "--key: not a CURVE public key (40 characters of Z85)");
    return 0;
}

static int
s_add(cli_t *cli)
{
    s_add_args_t args;
    int rc = s_add_parse(cli, &args);
    if (rc)
        return rc;
    char why[PDB_ERRMSG_MAX];
    json_t *body;
    rc = body_peer(args.name, args.address, args.direction, args.collectives,
                   args.collectives_n, &body, why);
    if (rc == PDB_EINVAL)
        return cli_usage_error(cli, why);
    if (rc == 0 && args.key && json_object_set_new(body, "public_key", json_string(args.key)))
        rc = -ENOMEM;
    if (rc) {
        json_decref(body);
        fprintf(stderr, "error: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    client_reply_t reply;
    json_t *peer;
    rc = cli_call(cli, "POST", "/v1/sync/peers", body, &reply, &peer);
    json_decref(body);
    if (rc)
        return rc;
    char coll[SYNCFMT_CELL_MAX];
    syncfmt_collectives(coll, sizeof coll, json_object_get(peer, "collectives"));
    if (cli->json)
        cli_print_raw(&reply);
    else
        printf("added peer %s address=%s direction=%s collectives=%s\n", args.name,
               json_string_value(json_object_get(peer, "address")),
               json_string_value(json_object_get(peer, "direction")), coll);
    json_decref(peer);
    client_reply_release(&reply);
    return 0;
}

static void
s_list_print(const json_t *peers)
{
    int width = syncfmt_name_width(peers, "name", 4, 40);
    printf("%-*s  %-9s  %-10s  %-28s  %s\n", width, "NAME", "DIRECTION", "DEFINED BY",
           "ADDRESS", "COLLECTIVES");
    size_t i;
    const json_t *p;
    json_array_foreach(peers, i, p) {
        char coll[SYNCFMT_CELL_MAX];
        syncfmt_collectives(coll, sizeof coll, json_object_get(p, "collectives"));
        const char *dir = json_string_value(json_object_get(p, "direction"));
        const char *by = json_string_value(json_object_get(p, "defined_by"));
        const char *address = json_string_value(json_object_get(p, "address"));
        printf("%-*s  %-9s  %-10s  %-28s  %s\n", width,
               json_string_value(json_object_get(p, "name")), dir ? dir : "-",
               by ? by : "-", address ? address : "-", coll);
    }
}

static int
s_list(cli_t *cli)
{
    client_reply_t reply;
    json_t *list;
    int rc = cli_get_bare(cli, "list", "/v1/sync/peers", &reply, &list);
    if (rc)
        return rc;
    const json_t *peers = json_object_get(list, "peers");
    if (cli->json)
        cli_print_raw(&reply);
    else if (json_array_size(peers) == 0)
        printf("no sync peers (add one with: pulsedb peer add NAME tcp://HOST:PORT)\n");
    else
        s_list_print(peers);
    json_decref(list);
    client_reply_release(&reply);
    return 0;
}

static int
s_remove(cli_t *cli)
{
    const char *flag, *value, *name = NULL;
    int rc;
    while ((rc = cli_next(cli, &flag, &value)) == 1) {
        if (flag || name)
            return cli_usage_error(cli, "remove takes one NAME");
        name = value;
    }
    if (rc)
        return rc;
    if (!name)
        return cli_usage_error(cli, "remove needs the peer's NAME");
    if (!body_peer_name_valid(name))
        return cli_usage_error(cli, "NAME must be 1..128 characters of A-Z a-z 0-9 . _ -");
    char path[64 + BODY_PEER_NAME_MAX];
    snprintf(path, sizeof path, "/v1/sync/peers/%s", name);
    client_reply_t reply;
    rc = cli_call(cli, "DELETE", path, NULL, &reply, NULL);
    if (rc)
        return rc;
    if (cli->json)
        printf("{\"removed\":\"%s\"}\n", name);     // a checked name needs no escaping
    else
        printf("removed peer %s\n", name);
    client_reply_release(&reply);
    return 0;
}

static const struct {
    const char *name;
    int (*run)(cli_t *cli);
    const char *help;
} s_actions[] = {
    { "add", s_add, s_help_add },
    { "list", s_list, s_help_list },
    { "remove", s_remove, s_help_remove },
};

int
cmd_peer(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        if (cli_wants_help(argc, argv))
            return cli_help(s_help);
        fprintf(stderr, "error: expected 'add', 'list' or 'remove'\n(see: pulsedb peer "
                "--help)\n");
        return CLI_EXIT_USAGE;
    }
    for (size_t i = 0; i < sizeof s_actions / sizeof s_actions[0]; i++) {
        if (strcmp(argv[1], s_actions[i].name) != 0)
            continue;
        if (cli_wants_help(argc - 1, argv + 1))
            return cli_help(s_actions[i].help);
        static const args_opt_t opts[] = { { "--direction", true }, { "--collective", true },
                                           { "--key", true }, CLI_COMMON_OPTS };
        char cmd[32];
        snprintf(cmd, sizeof cmd, "peer %s", s_actions[i].name);
        cli_t cli;
        int rc = cli_begin(&cli, cmd, argc - 1, argv + 1, opts);
        if (rc == 0)
            rc = s_actions[i].run(&cli);
        cli_end(&cli);
        return rc;
    }
    fprintf(stderr, "error: unknown peer action '%.32s': expected add, list or remove\n"
            "(see: pulsedb peer --help)\n", argv[1]);
    return CLI_EXIT_USAGE;
}
